import { describe, expect, it } from 'vitest';
import { encodeEvent, topicOf } from '@writ/contracts';
import type { EventPayloads, EventType, NewMetadata } from '@writ/contracts';
import { parseTenantFilter } from '@writ/config';
import { sampleEvent } from '@writ/contracts/testing';
import { actionKey, projectRecords } from './projection.ts';
import type { ChainRecord, ProjectOptions, ProjectionMemory, Redactor } from './projection.ts';

const TENANT = 'acme-projection';
const RUN = 'run-projection';
const ACTION = 'action-projection';
const keep: Redactor = { arguments: (_tool, _version, json) => json, result: (_tool, _version, json) => json };

let seq = 0;
/** One chain record holding `type` (this file's tenant, run and action unless `meta` says otherwise), as the ledger writes it. */
function chained<T extends EventType>(type: T, patch: Partial<EventPayloads[T]> = {}, meta: Partial<NewMetadata> = {}): ChainRecord {
  const payload = { ...sampleEvent(type, { tenant_id: TENANT, run_id: RUN, action_id: ACTION, ...meta }), ...patch } as EventPayloads[T];
  const entry = sampleEvent('LedgerEntry', { tenant_id: TENANT, run_id: RUN, action_id: ACTION });
  seq += 1;
  return {
    type: 'LedgerEntry',
    payload: {
      ...entry,
      chain_id: payload.meta.tenant_id,
      seq,
      event_type: type,
      source_event_id: payload.meta.event_id,
      source_topic: topicOf(type),
      event_bytes: encodeEvent(type, payload),
    },
    partition: 0,
    offset: seq,
  };
}

function rowAfter(records: readonly ChainRecord[]) {
  const memory: ProjectionMemory = { agentOfRun: new Map(), actions: new Map() };
  projectRecords(records, memory, { redactor: keep });
  return memory.actions.get(actionKey(TENANT, ACTION));
}

describe('the actions projection', () => {
  it('follows an action in pipeline order', () => {
    const row = rowAfter([
      chained('ActionProposed'),
      chained('ActionAdmitted'),
      chained('PolicyDecided', { decision: 'allow' }),
      chained('BudgetReserved'),
      chained('ExecutionRequested'),
      chained('ActionExecuted', { outcome: 'succeeded', cost_micros: 1_500 }),
      chained('ActionCompleted', { status: 'completed', cost_micros: 1_500 }),
    ]);
    expect(row).toMatchObject({ stage: 'completed', status: 'completed', decision: 'allow', outcome: 'succeeded', cost_micros: 1_500 });
  });

  it("tells a shadow run's action from a live one: run_mode on its row and on the release of its reservation", () => {
    const memory: ProjectionMemory = { agentOfRun: new Map(), actions: new Map() };
    const rows = projectRecords(
      [
        chained('ActionProposed', { mode: 'shadow' }),
        chained('PolicyDecided', { decision: 'allow' }),
        chained('BudgetReserved'),
        chained('BudgetSettled', { disposition: 'released', actual_cost_micros: 0, released_micros: 30_000 }),
        chained('ActionCompleted', { status: 'completed', reason_code: 'SHADOW_WOULD_EXECUTE', cost_micros: 0 }),
      ],
      memory,
      { redactor: keep },
    );
    expect(memory.actions.get(actionKey(TENANT, ACTION))).toMatchObject({ run_mode: 'shadow', status: 'completed', cost_micros: 0 });
    expect(rows.spend).toMatchObject([{ run_mode: 'shadow', cost_micros: 0, released_micros: 30_000 }]);
    // A live run's proposal, and its spend, are live.
    const live = projectRecords([chained('ActionProposed'), chained('BudgetSettled')], { agentOfRun: new Map(), actions: new Map() }, { redactor: keep });
    expect(live.actions[0]?.run_mode).toBe('live');
    expect(live.spend[0]?.run_mode).toBe('live');
  });

  it("keeps the proposal's provenance on the action's row, through the later steps; '' and [] without one", () => {
    const digest = 'cd'.repeat(32);
    const row = rowAfter([
      chained('ActionProposed', {
        provenance: {
          model: { name: 'claude-sonnet-4-5', provider: 'anthropic', version: null },
          prompt_version: 'triage-v7',
          retrieved_documents: [
            { id: 'kb/refund-policy', version: '12', sha256: digest },
            { id: 'tickets/T-1001', version: null, sha256: 'ef'.repeat(32) },
          ],
        },
      }),
      chained('PolicyDecided', { decision: 'allow' }),
      chained('ActionCompleted', { status: 'completed' }),
    ]);
    expect(row).toMatchObject({
      status: 'completed',
      model_name: 'claude-sonnet-4-5',
      model_provider: 'anthropic',
      model_version: '',
      prompt_version: 'triage-v7',
      retrieved_document_ids: ['kb/refund-policy', 'tickets/T-1001'],
      retrieved_document_versions: ['12', ''],
      retrieved_document_sha256: [digest, 'ef'.repeat(32)],
    });
    expect(rowAfter([chained('ActionProposed', { provenance: null })])).toMatchObject({
      model_name: '',
      prompt_version: '',
      retrieved_document_ids: [],
      retrieved_document_sha256: [],
    });
  });

  it("shows an operator's resolution of an unknown outcome beside the planner's status; the first resolution counts", () => {
    const row = rowAfter([
      chained('ActionProposed'),
      chained('ExecutionRequested'),
      chained('ActionFailed', { outcome: 'unknown', error_code: 'VERIFICATION_REFUTED', cost_micros: 20_000 }),
      chained('ActionCompleted', { status: 'failed', reason_code: 'OUTCOME_UNKNOWN', cost_micros: 20_000 }),
      chained('OutcomeReconciled', { outcome: 'failed', resolved_by: 'user-omar' }, { occurred_at: Date.UTC(2026, 11, 8, 10, 0, 0) }),
      chained('OutcomeReconciled', { outcome: 'succeeded', resolved_by: 'user-other' }),
    ]);
    expect(row).toMatchObject({
      stage: 'completed',
      status: 'failed',
      outcome: 'unknown',
      cost_micros: 20_000,
      reconciled_outcome: 'failed',
      reconciled_by: 'user-omar',
      reconciled_at: '2026-12-08 10:00:00.000',
    });
    // Never reconciled: empty, and NULL in ClickHouse.
    expect(rowAfter([chained('ActionProposed'), chained('ActionCompleted', { status: 'completed' })])).toMatchObject({
      reconciled_outcome: '',
      reconciled_by: '',
      reconciled_at: null,
    });
  });

  it('never moves back when topics are chained out of order: outcome before request, end before proposal and decision', () => {
    // writ.outcomes.v1 read before writ.executions.v1, writ.actions.v1 before writ.proposals.v1 and writ.policy.v1.
    const row = rowAfter([
      chained('ActionAdmitted'),
      chained('ActionExecuted', { outcome: 'succeeded', cost_micros: 900 }),
      chained('ExecutionRequested'),
      chained('ActionCompleted', { status: 'completed', cost_micros: 900 }),
      chained('ActionProposed', { idempotency_key: 'k-late' }),
      chained('PolicyDecided', { decision: 'allow' }),
    ]);
    expect(row).toMatchObject({ stage: 'completed', status: 'completed', decision: 'allow', outcome: 'succeeded', idempotency_key: 'k-late' });
    const executed = rowAfter([chained('ActionExecuted', { outcome: 'succeeded' }), chained('ExecutionRequested')]);
    expect(executed?.stage).toBe('executed');
  });

  it('keeps the decision and the reservation when the admission is read after them (policy and budget answer the proposal itself)', () => {
    const decided = rowAfter([
      chained('ActionProposed'),
      chained('PolicyDecided', { decision: 'allow' }),
      chained('BudgetReserved'),
      chained('ActionAdmitted'),
    ]);
    expect(decided).toMatchObject({ stage: 'reserved', decision: 'allow' });
    // A proposal the planner rejected stays rejected when the PDP's decision on it is read afterwards.
    const rejected = rowAfter([chained('ActionProposed'), chained('ActionRejected'), chained('PolicyDecided', { decision: 'allow' })]);
    expect(rejected?.stage).toBe('rejected');
  });
});

/** The rows a batch projects, from fresh memory. */
function project(records: readonly ChainRecord[], tenants?: ProjectOptions['tenants']) {
  const memory: ProjectionMemory = { agentOfRun: new Map(), actions: new Map() };
  return projectRecords(records, memory, { redactor: keep, ...(tenants === undefined ? {} : { tenants }) });
}

describe('the agent of an event row', () => {
  it("is the event's own when it names one (a settlement chained before its run's start), else its run's", () => {
    const rows = project([
      chained('BudgetSettled', { agent_id: 'agent-settled' }),
      chained('PolicyDecided'),
      chained('RunStarted', { agent_id: 'agent-run' }),
      chained('ActionCompleted'),
    ]);
    expect(rows.events.map((row) => [row.event_type, row.agent_id])).toEqual([
      ['BudgetSettled', 'agent-settled'],
      ['PolicyDecided', ''],
      ['RunStarted', 'agent-run'],
      ['ActionCompleted', 'agent-run'],
    ]);
  });
});

describe('the policy-mode projection (PolicyDecided v4)', () => {
  it('gives one shadow_results row per shadow policy, with the enforced decision beside it and whether they disagree', () => {
    const decided = chained('PolicyDecided', {
      decision: 'allow',
      policy_set_hash: 'f'.repeat(64),
      warnings: ['refunds-weekend-warning'],
      shadow_results: [
        { policy_id: 'refunds-new-cap', decision: 'deny', determining_policies: ['refunds-new-cap'] },
        { policy_id: 'refunds-audit', decision: 'allow', determining_policies: ['refunds-small-amounts'] },
      ],
    });
    const rows = project([chained('RunStarted', { agent_id: 'agent-modes' }), decided]);
    const eventId = rows.events.find((e) => e.event_type === 'PolicyDecided')?.event_id;
    expect(eventId).toBeDefined();
    const common = {
      event_id: eventId,
      tenant_id: TENANT,
      run_id: RUN,
      action_id: ACTION,
      agent_id: 'agent-modes',
      policy_set_hash: 'f'.repeat(64),
      enforced_decision: 'allow',
      decided_at: rows.decisions[0]?.decided_at,
    };
    expect(rows.shadow_results).toEqual([
      { ...common, policy_id: 'refunds-new-cap', shadow_decision: 'deny', shadow_determining_policies: ['refunds-new-cap'], disagrees: 1 },
      { ...common, policy_id: 'refunds-audit', shadow_decision: 'allow', shadow_determining_policies: ['refunds-small-amounts'], disagrees: 0 },
    ]);
    expect(rows.decisions).toHaveLength(1);
    expect(rows.decisions[0]).toMatchObject({ event_id: eventId, decision: 'allow', warnings: ['refunds-weekend-warning'] });
  });

  it('takes the decided time from the event, and counts approval_required against a shadow deny as a disagreement', () => {
    const decided = chained(
      'PolicyDecided',
      { decision: 'approval_required', shadow_results: [{ policy_id: 'refunds-new-cap', decision: 'deny', determining_policies: ['refunds-new-cap'] }] },
      { occurred_at: Date.UTC(2026, 11, 6, 23, 59, 58, 123) },
    );
    const rows = project([decided]);
    expect(rows.shadow_results).toMatchObject([
      { enforced_decision: 'approval_required', shadow_decision: 'deny', disagrees: 1, decided_at: '2026-12-06 23:59:58.123' },
    ]);
  });

  it('gives no shadow row and no warnings for a decision without shadow or warn policies', () => {
    const rows = project([chained('PolicyDecided', { decision: 'deny', warnings: [], shadow_results: [] })]);
    expect(rows.decisions).toHaveLength(1);
    expect(rows.decisions[0]?.warnings).toEqual([]);
    expect(rows.shadow_results).toEqual([]);
  });

  it('projects nothing of a tenant the ledger does not serve', () => {
    const decided = chained('PolicyDecided', {
      shadow_results: [{ policy_id: 'refunds-new-cap', decision: 'deny', determining_policies: ['refunds-new-cap'] }],
    });
    const rows = project([decided, chained('PolicySetPublished')], parseTenantFilter('someone-else'));
    expect(rows.shadow_results).toEqual([]);
    expect(rows.policy_publications).toEqual([]);
  });
});

describe('the policy publications projection (PolicySetPublished)', () => {
  it('gives one row per publication and rollback: hashes, origin, author, the count and ids of the policies, never their texts', () => {
    const hash = (n: number) => String(n).repeat(64);
    const published = chained(
      'PolicySetPublished',
      {
        stream: 'main',
        sequence: 1,
        policy_set_hash: hash(1),
        previous_hash: null,
        version: '1.0.0',
        origin: 'publish',
        author: 'root',
        message: 'first set',
        policies: [
          { policy_id: 'refunds-new-cap', text: 'forbid (principal, action, resource);' },
          { policy_id: 'refunds-small-amounts', text: 'permit (principal, action, resource);' },
        ],
      },
      { run_id: 'publish-op-1', action_id: null },
    );
    const rolledBack = chained(
      'PolicySetPublished',
      {
        stream: 'main',
        sequence: 3,
        policy_set_hash: hash(1),
        previous_hash: hash(2),
        version: '1.0.0',
        origin: 'rollback',
        author: 'root',
        message: 'back to 1.0.0',
        policies: [{ policy_id: 'refunds-small-amounts', text: 'permit (principal, action, resource);' }],
      },
      { run_id: 'publish-op-2', action_id: null, occurred_at: Date.UTC(2026, 11, 7, 8, 0, 0, 5) },
    );
    const rows = project([published, rolledBack]);
    const ids = rows.events.filter((e) => e.event_type === 'PolicySetPublished').map((e) => e.event_id);
    expect(ids).toHaveLength(2);
    expect(rows.policy_publications).toEqual([
      {
        event_id: ids[0],
        tenant_id: TENANT,
        stream: 'main',
        sequence: 1,
        policy_set_hash: hash(1),
        previous_hash: null,
        version: '1.0.0',
        origin: 'publish',
        author: 'root',
        message: 'first set',
        policies: 2,
        policy_ids: ['refunds-new-cap', 'refunds-small-amounts'],
        published_at: rows.events[0]?.occurred_at,
      },
      {
        event_id: ids[1],
        tenant_id: TENANT,
        stream: 'main',
        sequence: 3,
        policy_set_hash: hash(1),
        previous_hash: hash(2),
        version: '1.0.0',
        origin: 'rollback',
        author: 'root',
        message: 'back to 1.0.0',
        policies: 1,
        policy_ids: ['refunds-small-amounts'],
        published_at: '2026-12-07 08:00:00.005',
      },
    ]);
    expect(JSON.stringify(rows.policy_publications)).not.toContain('permit (principal');
    expect(rows.decisions).toEqual([]);
    expect(rows.shadow_results).toEqual([]);
    expect(rows.actions).toEqual([]);
  });

  it("keeps a publication of the platform tenant ('*', the policy service's) under that tenant, never a customer's", () => {
    const rows = project([
      chained('PolicySetPublished', { origin: 'bootstrap', previous_hash: null, sequence: 1 }, { tenant_id: '*', run_id: 'policy-set:main', action_id: null }),
    ]);
    expect(rows.policy_publications).toMatchObject([{ tenant_id: '*', origin: 'bootstrap', sequence: 1, previous_hash: null, policies: 1 }]);
    expect(rows.ledger).toMatchObject([{ chain_id: '*', event_type: 'PolicySetPublished' }]);
  });
});

describe('the endings projection (how each action ended, once)', () => {
  const project = (records: readonly ChainRecord[], memory: ProjectionMemory = { agentOfRun: new Map(), actions: new Map() }) =>
    projectRecords(records, memory, { redactor: keep });
  const completed = (reason_code: string, cost_micros = 12_000) =>
    chained('ActionCompleted', { status: 'completed', reason_code, cost_micros, currency: 'USD' }, { occurred_at: Date.UTC(2026, 10, 22, 9, 30) });

  it('makes one ending at the completion of an action proposed before: agent, tool, run mode, status and reason code', () => {
    const rows = project([chained('ActionProposed', { agent_id: 'triage-bot', tool: 'refunds.issue' }), chained('PolicyDecided'), completed('SUCCEEDED')]);
    expect(rows.endings).toEqual([
      expect.objectContaining({
        tenant_id: TENANT,
        action_id: ACTION,
        agent_id: 'triage-bot',
        tool: 'refunds.issue',
        run_mode: 'live',
        status: 'completed',
        reason_code: 'SUCCEEDED',
        cost_micros: 12_000,
        currency: 'USD',
        ended_at: '2026-11-22 09:30:00.000',
      }),
    ]);
    expect(rows.actions.at(-1)).toMatchObject({ reason_code: 'SUCCEEDED', ended_at: '2026-11-22 09:30:00.000' });
  });

  it('waits for the proposal when the completion is chained first, in a later batch too', () => {
    const memory: ProjectionMemory = { agentOfRun: new Map(), actions: new Map() };
    expect(project([completed('POLICY_DENIED', 0)], memory).endings).toEqual([]);
    const rows = project([chained('ActionProposed', { agent_id: 'triage-bot', tool: 'customers.delete', mode: 'live' })], memory);
    expect(rows.endings).toMatchObject([
      { agent_id: 'triage-bot', tool: 'customers.delete', reason_code: 'POLICY_DENIED', ended_at: '2026-11-22 09:30:00.000' },
    ]);
  });

  it('tells a shadow action by its proposal: an admission chained first does not make it live', () => {
    const memory: ProjectionMemory = { agentOfRun: new Map(), actions: new Map() };
    expect(project([chained('ActionAdmitted'), completed('SHADOW_WOULD_EXECUTE', 0)], memory).endings).toEqual([]);
    expect(project([chained('ActionProposed', { mode: 'shadow' })], memory).endings).toMatchObject([
      { run_mode: 'shadow', reason_code: 'SHADOW_WOULD_EXECUTE' },
    ]);
  });

  it('makes none for an action that has not ended, and again (the writer keeps the first) when a batch is projected again', () => {
    expect(project([chained('ActionProposed'), chained('PolicyDecided'), chained('BudgetReserved')]).endings).toEqual([]);
    const memory: ProjectionMemory = { agentOfRun: new Map(), actions: new Map() };
    const batch = [chained('ActionProposed'), completed('SUCCEEDED')];
    expect(project(batch, memory).endings).toHaveLength(1);
    expect(project(batch, memory).endings).toHaveLength(2); // the proposal and the completion both find it ended: insert skips present ids
  });
});

describe('the budget_limits projection', () => {
  it('gives one row per budget and kind of cap of a BudgetsConfigured, with its level and period', () => {
    const record = chained(
      'BudgetsConfigured',
      {
        config_sha256: 'd'.repeat(64),
        currency: 'USD',
        time_zone: 'Europe/Berlin',
        budgets: [
          {
            scope: 'agent_day',
            subject: 'triage-bot',
            window_ms: null,
            money_micros: 5_000_000,
            tool_calls: 500,
            thresholds_percent: [50, 80],
            approval_at_percent: null,
            reads_only_at_percent: 90,
          },
          {
            scope: 'run',
            subject: '*',
            window_ms: null,
            money_micros: 100_000_000,
            tool_calls: null,
            thresholds_percent: [],
            approval_at_percent: null,
            reads_only_at_percent: null,
          },
          {
            scope: 'tool_window',
            subject: 'refunds.issue',
            window_ms: 3_600_000,
            money_micros: null,
            tool_calls: 1000,
            thresholds_percent: [],
            approval_at_percent: 40,
            reads_only_at_percent: null,
          },
        ],
      },
      { run_id: 'budgets:d', action_id: null, occurred_at: Date.UTC(2026, 11, 7, 10) },
    );
    const rows = projectRecords([record], { agentOfRun: new Map(), actions: new Map() }, { redactor: keep });
    expect(rows.budget_limits.map((r) => [r.position, r.scope, r.level, r.period, r.subject, r.kind, r.limit_value, r.window_ms])).toEqual([
      [0, 'agent_day', 'agent', 'day', 'triage-bot', 'money', 5_000_000, null],
      [0, 'agent_day', 'agent', 'day', 'triage-bot', 'tool_calls', 500, null],
      [1, 'run', 'run', 'run', '*', 'money', 100_000_000, null],
      [2, 'tool_window', 'tool', 'window', 'refunds.issue', 'tool_calls', 1000, 3_600_000],
    ]);
    expect(rows.budget_limits[0]).toMatchObject({
      tenant_id: TENANT,
      config_sha256: 'd'.repeat(64),
      configured_at: '2026-12-07 10:00:00.000',
      currency: 'USD',
      time_zone: 'Europe/Berlin',
      thresholds_percent: [50, 80],
      reads_only_at_percent: 90,
    });
    // Chained like every event: its row in events too.
    expect(rows.events.map((e) => e.event_type)).toEqual(['BudgetsConfigured']);
  });
});
