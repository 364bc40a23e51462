import { createHash } from 'node:crypto';
import { eventOf } from '../codec.ts';
import type { EventPayloads, EventType, Metadata, Reservation, Warrant, WritEvent } from '../events.generated.ts';
import { EVENT_TYPES } from '../events.generated.ts';
import { newMetadata } from '../metadata.ts';
import type { NewMetadata } from '../metadata.ts';

/** Realistic, valid payloads for tests: one refund action of one run, told event by event. */

const sha256 = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');
const HOUR = 3_600_000;
const SIGNATURE = Buffer.alloc(64, 7).toString('base64');
const ARGUMENTS = '{"amount_micros":25000000,"currency":"USD","ticket_id":"T-1042"}';
const RESULT = '{"refund_id":"re_8842","status":"succeeded"}';

export const SAMPLE_IDS = {
  tenant_id: 'tenant-acme',
  run_id: 'run-0001',
  action_id: 'act-0001',
  agent_id: 'agent-support-bot',
  tool: 'refunds.create',
  tool_version: '1.2.0',
  reservation_id: 'res-0001',
  chain_id: 'chain-0',
} as const;

type Sample<T extends EventType> = (meta: Metadata, now: number) => EventPayloads[T];

function warrant(now: number): Warrant {
  return {
    key_id: 'pdp-2026-01',
    agent_id: SAMPLE_IDS.agent_id,
    tool: SAMPLE_IDS.tool,
    tool_version: SAMPLE_IDS.tool_version,
    args_sha256: sha256(ARGUMENTS),
    policy_set_hash: sha256('policies@1'),
    not_after: now + 5 * 60_000,
    signature: SIGNATURE,
  };
}

function reservation(now: number): Reservation {
  return {
    reservation_id: SAMPLE_IDS.reservation_id,
    amount_micros: 30_000,
    currency: 'USD',
    expires_at: now + 10 * 60_000,
    key_id: 'budget-2026-01',
    signature: SIGNATURE,
  };
}

const SAMPLES: { readonly [T in EventType]: Sample<T> } = {
  RunStarted: (meta) => ({
    meta,
    agent_id: SAMPLE_IDS.agent_id,
    goal: 'Resolve ticket T-1042: customer asks for a refund of a duplicate charge',
    limits: { max_steps: 20, max_tool_calls: 10, max_cost_micros: 2_000_000, wall_clock_ms: HOUR, currency: 'USD' },
    mode: 'live',
  }),
  RunEnded: (meta) => ({ meta, status: 'completed', reason: 'goal reached: refund issued' }),
  ActionProposed: (meta) => ({
    meta,
    agent_id: SAMPLE_IDS.agent_id,
    tool: SAMPLE_IDS.tool,
    tool_version: null,
    arguments_json: ARGUMENTS,
    args_sha256: sha256(ARGUMENTS),
    reason: 'the charge on 2026-01-03 is a duplicate of the one on 2026-01-02',
    idempotency_key: `${SAMPLE_IDS.run_id}:${SAMPLE_IDS.action_id}`,
    mode: 'live',
    provenance: {
      model: { name: 'claude-sonnet-4-5', provider: 'anthropic', version: '20250929' },
      prompt_version: 'triage-v7',
      retrieved_documents: [{ id: 'kb/refund-policy', version: '12', sha256: sha256('refunds within 30 days of purchase') }],
    },
  }),
  ActionAdmitted: (meta) => ({
    meta,
    agent_id: SAMPLE_IDS.agent_id,
    tool: SAMPLE_IDS.tool,
    tool_version: SAMPLE_IDS.tool_version,
    arguments_json: ARGUMENTS,
    args_sha256: sha256(ARGUMENTS),
    run_stats: { steps: 3, spend_micros: 41_000, currency: 'USD', tool_calls_in_window: 1 },
  }),
  ActionRejected: (meta) => ({
    meta,
    reason_code: 'ARGS_INVALID',
    message: 'amount_micros must not be negative',
    field: 'amount_micros',
  }),
  ActionCompleted: (meta) => ({
    meta,
    status: 'completed',
    reason: 'refund issued',
    reason_code: 'SUCCEEDED',
    result_json: null,
    result_ref: sha256(RESULT),
    cost_micros: 12_000,
    currency: 'USD',
  }),
  PolicyDecided: (meta, now) => ({
    meta,
    decision: 'allow',
    determining_policies: ['refunds-small-amounts'],
    policy_set_hash: sha256('policies@1'),
    warrant: warrant(now),
    errors: [],
    approval_requirement: null,
    approvals: [{ approver_id: 'user-maria', role: 'support_manager' }],
    denied_by: null,
    policy_set_version: '1.0.0',
    run_stats: { steps: 2, spend_micros: 1_500_000, currency: 'USD', tool_calls_in_window: 1 },
    warnings: ['refunds-weekend-warning'],
    shadow_results: [{ policy_id: 'refunds-new-cap', decision: 'deny', determining_policies: ['refunds-new-cap'] }],
    request_json: '{"agent":{"id":"agent-refunds","owner":"user-olivia","role":"support"},"arguments":{"amount_cents":1500},"tenant":"tenant-acme"}',
  }),
  ApprovalSubmitted: (meta) => ({
    meta,
    approver_id: 'user-maria',
    approver_role: 'support_manager',
    verdict: 'approve',
    comment: 'duplicate charge confirmed in the payment log',
  }),
  OutcomeReconciled: (meta) => ({
    meta,
    outcome: 'succeeded',
    note: 'refund R-1042 is in the payment system, settled 2026-12-08',
    resolved_by: 'user-omar',
    resolver_role: 'operator',
    previous_error_code: 'OUTCOME_UNKNOWN',
  }),
  ApprovalRecorded: (meta) => ({
    meta,
    approver_id: 'user-maria',
    verdict: 'approve',
    accepted: true,
    reason: 'support_manager may approve refunds up to 500 USD',
    approver_role: 'support_manager',
    determining_policies: ['support-managers-approve-refunds'],
  }),
  BudgetReservationRequested: (meta) => ({
    meta,
    agent_id: SAMPLE_IDS.agent_id,
    tool: SAMPLE_IDS.tool,
    estimated_cost_micros: 30_000,
    currency: 'USD',
    tool_calls: 1,
    run_limits: { max_steps: 20, max_cost_micros: 5_000_000, max_tool_calls: 20, wall_clock_ms: 600_000, currency: 'USD' },
  }),
  BudgetReserved: (meta, now) => ({
    meta,
    ...reservation(now),
    agent_id: SAMPLE_IDS.agent_id,
    tool: SAMPLE_IDS.tool,
    tool_calls: 1,
    day: new Date(now).toISOString().slice(0, 10),
    approval_step: {
      scope: 'tenant_month',
      subject: '*',
      period: new Date(now).toISOString().slice(0, 7),
      window_ms: null,
      kind: 'money',
      percent: 80,
      limit: 1_000_000_000,
      used: 812_500_000,
      currency: 'USD',
    },
  }),
  BudgetRefused: (meta, now) => ({
    meta,
    agent_id: SAMPLE_IDS.agent_id,
    scope: 'agent_day',
    kind: 'money',
    limit: 50_000_000,
    used: 49_990_000,
    requested: 30_000,
    currency: 'USD',
    subject: SAMPLE_IDS.agent_id,
    rule: 'cap',
    period: new Date(now).toISOString().slice(0, 10),
    window_ms: null,
  }),
  BudgetSettled: (meta) => ({
    meta,
    reservation_id: SAMPLE_IDS.reservation_id,
    actual_cost_micros: 12_000,
    released_micros: 18_000,
    currency: 'USD',
    disposition: 'settled',
    agent_id: SAMPLE_IDS.agent_id,
    day: '2026-01-15',
    reserved_micros: 30_000,
    overrun_micros: 0,
    tool_calls: 1,
    late: false,
  }),
  BudgetThresholdCrossed: (meta) => ({
    meta,
    agent_id: SAMPLE_IDS.agent_id,
    scope: 'tenant_day',
    kind: 'tool_calls',
    threshold_percent: 80,
    used: 800,
    limit: 1_000,
    currency: null,
    subject: '*',
    period: '2026-01-15',
  }),
  BudgetsConfigured: (meta) => ({
    meta,
    config_sha256: 'c'.repeat(64),
    currency: 'USD',
    time_zone: 'UTC',
    budgets: [
      {
        scope: 'agent_day',
        subject: SAMPLE_IDS.agent_id,
        window_ms: null,
        money_micros: 50_000_000,
        tool_calls: 500,
        thresholds_percent: [50, 80, 100],
        approval_at_percent: null,
        reads_only_at_percent: null,
      },
    ],
  }),
  ModelUsage: (meta) => ({
    meta,
    agent_id: SAMPLE_IDS.agent_id,
    model: 'example/model-large@2026-01',
    input_tokens: 1_830,
    output_tokens: 412,
    cost_micros: 9_200,
    currency: 'USD',
  }),
  ExecutionRequested: (meta, now) => ({
    meta,
    agent_id: SAMPLE_IDS.agent_id,
    tool: SAMPLE_IDS.tool,
    tool_version: SAMPLE_IDS.tool_version,
    arguments_json: ARGUMENTS,
    args_sha256: sha256(ARGUMENTS),
    idempotency_key: `${SAMPLE_IDS.run_id}:${SAMPLE_IDS.action_id}`,
    warrant: warrant(now),
    reservation: reservation(now),
    deadline: now + 60_000,
  }),
  ActionExecuted: (meta) => ({
    meta,
    outcome: 'succeeded',
    tool: SAMPLE_IDS.tool,
    reservation_id: SAMPLE_IDS.reservation_id,
    result_json: null,
    result_sha256: sha256(RESULT),
    result_ref: sha256(RESULT),
    cost_micros: 12_000,
    currency: 'USD',
    side_effect_refs: ['refund:re_8842', 'ticket:T-1042'],
    verified: true,
    attempts: 1,
    duration_ms: 184,
  }),
  ToolResultRecorded: (meta) => ({ meta, tool: SAMPLE_IDS.tool, result_json: RESULT, result_ref: sha256(RESULT) }),
  ActionFailed: (meta) => ({
    meta,
    outcome: 'unknown',
    tool: SAMPLE_IDS.tool,
    reservation_id: SAMPLE_IDS.reservation_id,
    error_code: 'TOOL_TIMEOUT',
    message: 'refunds.create did not answer within 10000 ms; the refund may exist',
    retriable: true,
    attempts: 3,
    cost_micros: 0,
    currency: 'USD',
  }),
  ControlChanged: (meta) => ({
    meta,
    control_key: `tool_kill_switch:${SAMPLE_IDS.tool}`,
    kind: 'tool_kill_switch',
    target: SAMPLE_IDS.tool,
    enabled: true,
    value: null,
    reason: 'payment provider incident INC-311',
    set_by: 'user-oncall',
  }),
  PolicySetPublished: (meta) => ({
    meta,
    stream: 'main',
    sequence: 2,
    policy_set_hash: sha256('policies@2'),
    previous_hash: sha256('policies@1'),
    version: '2026-12-06',
    origin: 'publish',
    author: 'root',
    message: 'cap refunds at 500 USD, in shadow mode first',
    schema_text: 'namespace Writ { entity Agent; }',
    policies: [{ policy_id: 'refunds-new-cap', text: '@id("refunds-new-cap")\n@mode("shadow")\nforbid (principal, action, resource);' }],
    cases_json: '[]',
  }),
  LedgerEntry: (meta) => ({
    meta,
    chain_id: SAMPLE_IDS.chain_id,
    seq: 41,
    prev_hash: sha256('entry 40'),
    event_hash: sha256('event 41'),
    chain_hash: sha256('chain 41'),
    source_event_id: meta.causation_id ?? meta.event_id,
    event_type: 'ActionProposed',
    source_topic: 'writ.proposals.v1',
    source_partition: 3,
    source_offset: 1_207,
    event_bytes: Buffer.from('c30100000000000000000000', 'hex'),
    hash_version: 2,
    source_run_id: meta.run_id,
    source_action_id: meta.action_id,
    source_occurred_at: meta.occurred_at,
  }),
  LedgerCheckpoint: (meta) => ({
    meta,
    chain_id: SAMPLE_IDS.chain_id,
    seq: 41,
    chain_hash: sha256('chain 41'),
    key_id: 'ledger-2026-01',
    signature: SIGNATURE,
  }),
  DriftDetected: (meta) => ({
    meta,
    agent_id: SAMPLE_IDS.agent_id,
    tool: SAMPLE_IDS.tool,
    day: '2026-01-15',
    score: 0.3113,
    threshold: 0.1,
    actions: 40,
    baseline_actions: 280,
    baseline_days: 7,
    volume_ratio: 1,
    categories: [
      { category: 'completed:SUCCEEDED', actions: 20, baseline_actions: 280 },
      { category: 'denied:POLICY_DENIED', actions: 20, baseline_actions: 0 },
    ],
  }),
};

/**
 * A valid payload of `type` with fresh metadata (new event_id, occurred_at now). `meta` overrides
 * the metadata defaults (tenant, run, action, producer...).
 */
export function sampleEvent<T extends EventType>(type: T, meta: Partial<NewMetadata> = {}): EventPayloads[T] {
  const metadata = newMetadata({
    tenant_id: SAMPLE_IDS.tenant_id,
    run_id: SAMPLE_IDS.run_id,
    action_id: SAMPLE_IDS.action_id,
    causation_id: null,
    producer: 'sample@0.0.0',
    trace: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', tracestate: null },
    ...meta,
  });
  const sample = SAMPLES[type] as Sample<T>;
  return sample(metadata, metadata.occurred_at);
}

/** One valid payload of every event type, in EVENT_TYPES order. */
export function sampleEvents(meta: Partial<NewMetadata> = {}): WritEvent[] {
  return EVENT_TYPES.map((type) => eventOf(type, sampleEvent(type, meta)));
}
