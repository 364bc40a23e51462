// The analysts' dataset: a deterministic week and a day of two tenants' actions, as the pipeline's
// events (sample payloads with this file's values), chained in time order, projected by the real
// projection and written by the real writer, then the drift alerts the ledger's check finds on the
// last day. docs/analytics.md's answers are this dataset's (analytics-doc.int.spec.ts checks them):
//
// acme (the analyst's tenant; every time UTC)
//   triage-bot  refunds.issue   2026-11-15..21: 4 a day, each succeeded at 0.50 USD (500000 micros)
//               refunds.issue   2026-11-22: r1, r2 succeeded (0.50 each; their allow warned by
//                 refunds-over-50-warn; shadow policy refunds-new-cap would have denied r1, allowed r2;
//                 proposed with claude-sonnet-4-5, prompt triage-v7, kb/refund-policy version 12);
//                 r3, r4 denied by refunds-over-500-forbidden (r3: refunds-new-cap agreed);
//                 r5 held for approval at 11:00:00, approved, allowed at 11:02:00, succeeded (0.50;
//                 proposed with claude-haiku-4-5, prompt triage-v8, kb/refund-policy 13 and tickets/T-1042);
//                 r6 held at 11:30:00, an approver denied it, denied at 11:35:00 (managers-approve-refunds);
//                 r7 held at 12:00, expired (APPROVAL_TIMEOUT) at 13:00; r8 held at 12:30, still pending
//               notifications.send 2026-11-22: n1 outcome unknown (0.01 USD), unresolved; n2 outcome
//                 unknown (0.01), resolved as succeeded by user-omar at 15:00; n3 failed (nothing charged)
//               refunds.issue in a shadow run 2026-11-22: s1 would execute, s2 denied (refunds-over-500-forbidden)
//   billing-bot customers.delete 2026-11-21: denied by customer-delete-forbidden
//               2026-11-22: e1 customers.export denied by export-over-1000-rows-forbidden; t1 tickets.get
//                 refused by the agent_day money budget; t2 tickets.get succeeded (1000 micros); t3
//                 tickets.get refused by the tenant_day tool_calls budget; d1 customers.delete denied by
//                 no policy permitting it (the default deny)
// globex (another tenant: none of it may show through acme's door)
//   globex-bot  tickets.get 2026-11-21: 5 succeeded; 2026-11-22: 5 failed (a drift); refunds.issue
//               2026-11-22: one succeeded at 9 USD, one denied by globex-only-policy, one approved after
//               10 s; notifications.send: an unknown outcome; a shadow run's action; a budget refusal
// budgets (BudgetsConfigured): acme's of 2026-11-15 (tenant $50 / 20 calls a day, triage-bot $3 a day),
//   replaced on 2026-11-20 (the same, triage-bot $5 / 50 calls, billing-bot $0.001); globex-bot $20 a day
// '*' (the policy service's): a policy set rollback
import { ALL_TENANTS } from '@writ/config';
import type { ClickHouseClient } from '@writ/clickhouse';
import { encodeEvent, newMetadata, topicOf } from '@writ/contracts';
import type { EventPayloads, EventType } from '@writ/contracts';
import { sampleEvent } from '@writ/contracts/testing';
import { driftAlertRow, driftDetectedEvent, projectRecords } from '@writ/ledger-core';
import type { ChainRecord, DriftRule, Redactor } from '@writ/ledger-core';
import { findDrifts } from './drift-query.ts';
import { writeDriftAlerts, writeProjection } from './projection-writer.ts';

/** The last day of the dataset, the one its drift is measured on. */
export const DATASET_DAY = '2026-11-22';
/** The drift check's rule for the dataset (few actions: a lower minimum than the default). */
export const DATASET_DRIFT_RULE: DriftRule = { threshold: 0.1, baselineDays: 7, minActions: 5 };

const keep: Redactor = { arguments: (_tool, _version, json) => json, result: (_tool, _version, json) => json };

interface Timed {
  readonly at: number;
  readonly type: EventType;
  readonly payload: EventPayloads[EventType];
}

/** One step of an action's story: the event, seconds after the proposal, and what differs from the sample payload. */
type Step = readonly [EventType, number, Record<string, unknown>];

const HALF_USD = 500_000;

/** What r1 and r2 (sonnet), and r5 (haiku), say they came from; no other action gives a provenance. */
const PROVENANCE = {
  sonnet: {
    model: { name: 'claude-sonnet-4-5', provider: 'anthropic', version: '20250929' },
    prompt_version: 'triage-v7',
    retrieved_documents: [{ id: 'kb/refund-policy', version: '12', sha256: 'ab'.repeat(32) }],
  },
  haiku: {
    model: { name: 'claude-haiku-4-5', provider: 'anthropic', version: null },
    prompt_version: 'triage-v8',
    retrieved_documents: [
      { id: 'kb/refund-policy', version: '13', sha256: 'cd'.repeat(32) },
      { id: 'tickets/T-1042', version: null, sha256: 'ef'.repeat(32) },
    ],
  },
};

function at(day: string, time: string, seconds = 0): number {
  return Date.parse(`${day}T${time}:00.000Z`) + seconds * 1000;
}

function event(type: EventType, tenant: string, run: string, action: string | null, ms: number, patch: Record<string, unknown>): Timed {
  const payload = { ...sampleEvent(type, { tenant_id: tenant, run_id: run, action_id: action, occurred_at: ms }), ...patch } as EventPayloads[EventType];
  return { at: ms, type, payload };
}

const decided = (decision: string, policies: readonly string[], extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  decision,
  determining_policies: [...policies],
  warnings: [],
  shadow_results: [],
  approvals: [],
  approval_requirement: null,
  denied_by: null,
  ...extra,
});
const completion = (status: string, reason_code: string, cost_micros = 0) => ({
  status,
  reason_code,
  reason: reason_code.toLowerCase(),
  cost_micros,
  currency: 'USD',
  result_json: null,
});
const settled = (agent: string, day: string, action: string, cost: number, reserved: number, disposition = 'settled') => ({
  reservation_id: `res-${action}`,
  actual_cost_micros: cost,
  released_micros: reserved - cost,
  reserved_micros: reserved,
  currency: 'USD',
  disposition,
  agent_id: agent,
  day,
});

/** The steps of a live action that ran and succeeded at `cost`, after the allow (with `allow` patched in). */
function ran(agent: string, day: string, action: string, cost: number, from: number, allow: Record<string, unknown> = {}): Step[] {
  return [
    ['PolicyDecided', from, decided('allow', ['refunds-small-amounts'], allow)],
    ['BudgetReserved', from + 1, { agent_id: agent, reservation_id: `res-${action}`, approval_step: null }],
    ['ExecutionRequested', from + 2, { agent_id: agent, idempotency_key: action }],
    ['ActionExecuted', from + 3, { outcome: 'succeeded', cost_micros: cost, currency: 'USD', reservation_id: `res-${action}` }],
    ['ActionCompleted', from + 4, completion('completed', 'SUCCEEDED', cost)],
    ['BudgetSettled', from + 5, settled(agent, day, action, cost, cost)],
  ];
}

const STORIES = {
  succeeded: (agent: string, day: string, action: string, cost: number, allow: Record<string, unknown> = {}): Step[] => ran(agent, day, action, cost, 1, allow),
  denied: (policies: readonly string[], shadow: Record<string, unknown> = {}): Step[] => [
    ['PolicyDecided', 1, decided('deny', policies, shadow)],
    ['ActionCompleted', 2, completion('denied', 'POLICY_DENIED')],
  ],
  refused: (agent: string, scope: string, kind: string): Step[] => [
    ['PolicyDecided', 1, decided('allow', ['tickets-read'])],
    ['BudgetRefused', 1, { agent_id: agent, scope, kind, rule: 'cap', subject: scope.startsWith('agent') ? agent : '*' }],
    ['ActionCompleted', 2, completion('refused', 'BUDGET_REFUSED')],
  ],
  approved: (agent: string, day: string, action: string, after: number, cost: number): Step[] => [
    ['PolicyDecided', 0, decided('approval_required', ['managers-approve-refunds'])],
    ['ApprovalSubmitted', after - 20, { approver_id: 'user-maria', verdict: 'approve' }],
    ['ApprovalRecorded', after - 19, { approver_id: 'user-maria', verdict: 'approve', accepted: true }],
    ...ran(agent, day, action, cost, after, { approvals: [{ approver_id: 'user-maria', role: 'support_manager' }] }),
  ],
  approverDenied: (after: number): Step[] => [
    ['PolicyDecided', 0, decided('approval_required', ['managers-approve-refunds'])],
    ['ApprovalSubmitted', after - 20, { approver_id: 'user-maria', verdict: 'deny' }],
    ['ApprovalRecorded', after - 19, { approver_id: 'user-maria', verdict: 'deny', accepted: true }],
    ['PolicyDecided', after, decided('deny', ['managers-approve-refunds'])],
    ['ActionCompleted', after + 1, completion('denied', 'POLICY_DENIED')],
  ],
  expired: (after: number): Step[] => [
    ['PolicyDecided', 0, decided('approval_required', ['managers-approve-refunds'])],
    ['ActionCompleted', after, completion('expired', 'APPROVAL_TIMEOUT')],
  ],
  pending: (): Step[] => [['PolicyDecided', 0, decided('approval_required', ['managers-approve-refunds'])]],
  unknown: (agent: string, day: string, action: string, cost: number): Step[] => [
    ['PolicyDecided', 1, decided('allow', ['notifications-allowed'])],
    ['BudgetReserved', 2, { agent_id: agent, reservation_id: `res-${action}`, approval_step: null }],
    ['ExecutionRequested', 3, { agent_id: agent, idempotency_key: action }],
    ['ActionFailed', 4, { outcome: 'unknown', error_code: 'TOOL_TIMEOUT', cost_micros: cost, currency: 'USD', reservation_id: `res-${action}` }],
    ['ActionCompleted', 5, completion('failed', 'OUTCOME_UNKNOWN', cost)],
    ['BudgetSettled', 6, settled(agent, day, action, cost, cost)],
  ],
  failed: (agent: string, day: string, action: string, reserved: number): Step[] => [
    ['PolicyDecided', 1, decided('allow', ['notifications-allowed'])],
    ['BudgetReserved', 2, { agent_id: agent, reservation_id: `res-${action}`, approval_step: null }],
    ['ExecutionRequested', 3, { agent_id: agent, idempotency_key: action }],
    ['ActionFailed', 4, { outcome: 'failed', error_code: 'HTTP_5XX', retriable: false, cost_micros: 0, currency: 'USD', reservation_id: `res-${action}` }],
    ['ActionCompleted', 5, completion('failed', 'EXECUTION_FAILED')],
    ['BudgetSettled', 6, settled(agent, day, action, 0, reserved)],
  ],
  shadowWouldExecute: (agent: string, day: string, action: string, reserved: number): Step[] => [
    ['PolicyDecided', 1, decided('allow', ['refunds-small-amounts'])],
    ['BudgetReserved', 2, { agent_id: agent, reservation_id: `res-${action}`, approval_step: null }],
    ['BudgetSettled', 3, settled(agent, day, action, 0, reserved, 'released')],
    ['ActionCompleted', 4, completion('completed', 'SHADOW_WOULD_EXECUTE')],
  ],
};

/** The events of the dataset, in time order. */
function datasetEvents(): Timed[] {
  const events: Timed[] = [];
  const runs = new Set<string>();
  const action = (
    tenant: string,
    agent: string,
    tool: string,
    day: string,
    time: string,
    label: string,
    steps: readonly Step[],
    mode = 'live',
    provenance: Record<string, unknown> | null = null,
  ) => {
    const run = `${tenant}-${agent}-${day}${mode === 'shadow' ? '-shadow' : ''}`;
    if (!runs.has(run)) {
      runs.add(run);
      events.push(event('RunStarted', tenant, run, null, at(day, '08:00'), { agent_id: agent, mode }));
    }
    const id = `${tenant}-${day.slice(5).replace('-', '')}-${label}`;
    const start = at(day, time);
    events.push(event('ActionProposed', tenant, run, id, start, { agent_id: agent, tool, tool_version: null, idempotency_key: id, mode, provenance }));
    for (const [type, seconds, patch] of steps) {
      const extra = type === 'ActionExecuted' || type === 'ActionFailed' ? { tool } : {};
      events.push(event(type, tenant, run, id, start + seconds * 1000, { ...patch, ...extra }));
    }
    return id;
  };

  // acme: the baseline week, then the day.
  for (let d = 15; d <= 21; d += 1) {
    const day = `2026-11-${d}`;
    for (const [i, time] of ['09:00', '10:00', '11:00', '12:00'].entries()) {
      const id = `acme-${day.slice(5).replace('-', '')}-b${i + 1}`;
      action('acme', 'triage-bot', 'refunds.issue', day, time, `b${i + 1}`, STORIES.succeeded('triage-bot', day, id, HALF_USD));
    }
  }
  action('acme', 'billing-bot', 'customers.delete', '2026-11-21', '14:00', 'd0', STORIES.denied(['customer-delete-forbidden']));

  const day = '2026-11-22';
  const warned = (disagrees: boolean) => ({
    warnings: ['refunds-over-50-warn'],
    shadow_results: [{ policy_id: 'refunds-new-cap', decision: disagrees ? 'deny' : 'allow', determining_policies: disagrees ? ['refunds-new-cap'] : [] }],
  });
  const sonnet = PROVENANCE.sonnet;
  action(
    'acme',
    'triage-bot',
    'refunds.issue',
    day,
    '09:00',
    'r1',
    STORIES.succeeded('triage-bot', day, 'acme-1122-r1', HALF_USD, warned(true)),
    'live',
    sonnet,
  );
  action(
    'acme',
    'triage-bot',
    'refunds.issue',
    day,
    '09:30',
    'r2',
    STORIES.succeeded('triage-bot', day, 'acme-1122-r2', HALF_USD, warned(false)),
    'live',
    sonnet,
  );
  action(
    'acme',
    'triage-bot',
    'refunds.issue',
    day,
    '10:00',
    'r3',
    STORIES.denied(['refunds-over-500-forbidden'], {
      shadow_results: [{ policy_id: 'refunds-new-cap', decision: 'deny', determining_policies: ['refunds-over-500-forbidden', 'refunds-new-cap'] }],
    }),
  );
  action('acme', 'triage-bot', 'refunds.issue', day, '10:30', 'r4', STORIES.denied(['refunds-over-500-forbidden']));
  action(
    'acme',
    'triage-bot',
    'refunds.issue',
    day,
    '11:00',
    'r5',
    STORIES.approved('triage-bot', day, 'acme-1122-r5', 120, HALF_USD),
    'live',
    PROVENANCE.haiku,
  );
  action('acme', 'triage-bot', 'refunds.issue', day, '11:30', 'r6', STORIES.approverDenied(300));
  action('acme', 'triage-bot', 'refunds.issue', day, '12:00', 'r7', STORIES.expired(3600));
  action('acme', 'triage-bot', 'refunds.issue', day, '12:30', 'r8', STORIES.pending());
  action('acme', 'triage-bot', 'notifications.send', day, '13:00', 'n1', STORIES.unknown('triage-bot', day, 'acme-1122-n1', 10_000));
  const n2 = action('acme', 'triage-bot', 'notifications.send', day, '13:10', 'n2', STORIES.unknown('triage-bot', day, 'acme-1122-n2', 10_000));
  events.push(
    event('OutcomeReconciled', 'acme', `acme-triage-bot-${day}`, n2, at(day, '15:00'), {
      outcome: 'succeeded',
      resolved_by: 'user-omar',
      previous_error_code: 'OUTCOME_UNKNOWN',
    }),
  );
  action('acme', 'triage-bot', 'notifications.send', day, '13:20', 'n3', STORIES.failed('triage-bot', day, 'acme-1122-n3', 10_000));
  action('acme', 'triage-bot', 'refunds.issue', day, '15:00', 's1', STORIES.shadowWouldExecute('triage-bot', day, 'acme-1122-s1', HALF_USD), 'shadow');
  action('acme', 'triage-bot', 'refunds.issue', day, '15:10', 's2', STORIES.denied(['refunds-over-500-forbidden']), 'shadow');
  action('acme', 'billing-bot', 'customers.export', day, '14:00', 'e1', STORIES.denied(['export-over-1000-rows-forbidden']));
  action('acme', 'billing-bot', 'tickets.get', day, '14:10', 't1', STORIES.refused('billing-bot', 'agent_day', 'money'));
  action('acme', 'billing-bot', 'tickets.get', day, '14:20', 't2', STORIES.succeeded('billing-bot', day, 'acme-1122-t2', 1_000));
  action('acme', 'billing-bot', 'tickets.get', day, '14:40', 't3', STORIES.refused('billing-bot', 'tenant_day', 'tool_calls'));
  action('acme', 'billing-bot', 'customers.delete', day, '14:30', 'd1', STORIES.denied([]));

  // globex: never visible to acme's analyst.
  for (let i = 1; i <= 5; i += 1) {
    action('globex', 'globex-bot', 'tickets.get', '2026-11-21', `1${i}:00`, `g${i}`, STORIES.succeeded('globex-bot', '2026-11-21', `globex-1121-g${i}`, 100));
    action('globex', 'globex-bot', 'tickets.get', day, `1${i}:00`, `g${i}`, STORIES.failed('globex-bot', day, `globex-1122-g${i}`, 100));
  }
  action('globex', 'globex-bot', 'refunds.issue', day, '09:00', 'x1', STORIES.succeeded('globex-bot', day, 'globex-1122-x1', 9_000_000));
  action('globex', 'globex-bot', 'refunds.issue', day, '09:10', 'x2', STORIES.denied(['globex-only-policy']));
  action('globex', 'globex-bot', 'refunds.issue', day, '09:20', 'x3', STORIES.approved('globex-bot', day, 'globex-1122-x3', 30, 7_000));
  action('globex', 'globex-bot', 'notifications.send', day, '09:30', 'x4', STORIES.unknown('globex-bot', day, 'globex-1122-x4', 50));
  action('globex', 'globex-bot', 'refunds.issue', day, '09:40', 'x5', STORIES.shadowWouldExecute('globex-bot', day, 'globex-1122-x5', 7_000), 'shadow');
  action('globex', 'globex-bot', 'tickets.get', day, '09:50', 'x6', STORIES.refused('globex-bot', 'run', 'tool_calls'));

  // The budget service's announcements (BudgetsConfigured): acme's daily caps, changed on 2026-11-20
  // (triage-bot $3.00 -> $5.00, billing-bot's $0.001 added); globex's own.
  const cap = (scope: string, subject: string, money: number | null, calls: number | null = null) => ({
    scope,
    subject,
    window_ms: null,
    money_micros: money,
    tool_calls: calls,
    thresholds_percent: [50, 80, 100],
    approval_at_percent: null,
    reads_only_at_percent: null,
  });
  const configured = (tenant: string, ms: number, digest: string, budgets: readonly ReturnType<typeof cap>[]) =>
    event('BudgetsConfigured', tenant, `budgets:${digest}`, null, ms, { config_sha256: digest, currency: 'USD', time_zone: 'UTC', budgets });
  events.push(
    configured('acme', at('2026-11-15', '06:00'), 'a'.repeat(64), [cap('tenant_day', '*', 50_000_000, 20), cap('agent_day', 'triage-bot', 3_000_000)]),
    configured('acme', at('2026-11-20', '06:00'), 'b'.repeat(64), [
      cap('tenant_day', '*', 50_000_000, 20),
      cap('agent_day', 'triage-bot', 5_000_000, 50),
      cap('agent_day', 'billing-bot', 1_000),
    ]),
    configured('globex', at('2026-11-15', '06:00'), 'c'.repeat(64), [cap('agent_day', 'globex-bot', 20_000_000)]),
  );

  // The platform's policy stream: a rollback, under the platform tenant '*'.
  events.push(event('PolicySetPublished', '*', 'policy-set:main', null, at(day, '07:00'), { origin: 'rollback', sequence: 3 }));
  return events.sort((a, b) => a.at - b.at);
}

/** The dataset as the ledger chains it: one chain record per event, in time order. */
export function datasetRecords(): ChainRecord[] {
  return datasetEvents().map((timed, index) => {
    const meta = timed.payload.meta;
    const entry = sampleEvent('LedgerEntry', { tenant_id: meta.tenant_id, run_id: meta.run_id, action_id: meta.action_id, occurred_at: timed.at });
    return {
      type: 'LedgerEntry',
      payload: {
        ...entry,
        chain_id: meta.tenant_id,
        seq: index,
        event_type: timed.type,
        source_event_id: meta.event_id,
        source_topic: topicOf(timed.type),
        event_bytes: encodeEvent(timed.type, timed.payload),
      },
      partition: 0,
      offset: index,
    };
  });
}

/**
 * Projects the dataset into ClickHouse (tables from applySchema) as the ledger would, then writes
 * the drift alerts its drift check finds on DATASET_DAY (the event → row path of the projection).
 */
export async function seedAnalyticsDataset(clickhouse: ClickHouseClient): Promise<void> {
  const rows = projectRecords(datasetRecords(), { agentOfRun: new Map(), actions: new Map() }, { redactor: keep });
  await writeProjection(clickhouse, rows);
  const drifts = await findDrifts(clickhouse, DATASET_DAY, DATASET_DRIFT_RULE, ALL_TENANTS);
  const detectedAt = at(DATASET_DAY, '23:00');
  await writeDriftAlerts(
    clickhouse,
    drifts.map((score) =>
      driftAlertRow(
        driftDetectedEvent(
          score,
          DATASET_DRIFT_RULE,
          newMetadata({ tenant_id: score.tenant_id, run_id: 'drift', producer: 'ledger@0.0.0', occurred_at: detectedAt }),
        ),
      ),
    ),
  );
}
