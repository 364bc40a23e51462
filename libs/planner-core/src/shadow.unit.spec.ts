import { describe, expect, it } from 'vitest';
import { AGENT, MINUTE, RUN, SECOND, T0, TENANT, admission, completed, planner, reservationFor, runStarted, sha, spec, warrantFor } from './fixtures.spec.ts';
import type { PlannerCommand, RecordBudgetResult, RecordPolicyDecision } from './commands.ts';
import type { PlannerEvent } from './events.ts';

// Shadow runs: decided and budgeted like any other, but the planner never requests an execution;
// each action ends saying what would have happened.
const NOW = T0 + 2 * SECOND;
const shadowStart = { ...runStarted(), mode: 'shadow' as const };
const admitted = [shadowStart, ...admission('a1')];

const allow = (now = NOW): RecordPolicyDecision => ({
  type: 'RecordPolicyDecision',
  run_id: RUN,
  action_id: 'a1',
  verdict: { decision: 'allow', warrant: warrantFor('a1') },
  now,
});
const approvalRequired = (now = NOW): RecordPolicyDecision => ({
  type: 'RecordPolicyDecision',
  run_id: RUN,
  action_id: 'a1',
  verdict: { decision: 'approval_required' },
  now,
});
const deny = (): RecordPolicyDecision => ({
  type: 'RecordPolicyDecision',
  run_id: RUN,
  action_id: 'a1',
  verdict: { decision: 'deny', determining_policies: ['refund-over-500-forbidden'] },
  now: NOW,
});
const reserved = (now = NOW): RecordBudgetResult => ({
  type: 'RecordBudgetResult',
  run_id: RUN,
  action_id: 'a1',
  result: { outcome: 'reserved', reservation: reservationFor('a1') },
  now,
});
const refused = (): RecordBudgetResult => ({
  type: 'RecordBudgetResult',
  run_id: RUN,
  action_id: 'a1',
  result: { outcome: 'refused', scope: 'run', kind: 'money', limit: 1_000, used: 0, requested: 2_000 },
  now: NOW,
});
const warrantRecorded: PlannerEvent = { type: 'WarrantRecorded', run_id: RUN, action_id: 'a1', warrant: warrantFor('a1'), deadline: T0 + 31 * SECOND };
const reservationRecorded: PlannerEvent = { type: 'ReservationRecorded', run_id: RUN, action_id: 'a1', reservation: reservationFor('a1') };
const release = (reasonCode: string): PlannerEvent =>
  ({ type: 'BudgetReleaseRequested', run_id: RUN, action_id: 'a1', reservation_id: 'a1', reason_code: reasonCode }) as PlannerEvent;

/** The events a command decides on the state the given events fold to. */
function decided(given: readonly PlannerEvent[], command: PlannerCommand): readonly PlannerEvent[] {
  return planner.decide(command, given.reduce(planner.evolve, planner.initialState()));
}

const WOULD_EXECUTE = 'shadow run: nothing executed; refunds.create@1.0.0 would have executed, allowed by policy and reserved 2000 USD (released)';
const wouldExecuteResult = JSON.stringify({
  shadow: true,
  would: 'execute',
  tool: 'refunds.create',
  tool_version: '1.0.0',
  args_sha256: sha('a1'),
  idempotency_key: 'key-a1',
  warrant: { key_id: 'pdp-key-1', policy_set_hash: sha('policies'), not_after: T0 + 10 * MINUTE },
  reservation: { reservation_id: 'a1', amount_micros: 2_000, currency: 'USD', expires_at: T0 + 60 * MINUTE },
});
const wouldExecute = completed('a1', 'completed', 'shadow_would_execute', WOULD_EXECUTE, NOW, { result_json: wouldExecuteResult });

describe('a shadow run', () => {
  it('starts in shadow mode; a run started without a mode is live', () => {
    spec
      .given([])
      .when({ type: 'StartRun', run_id: RUN, tenant_id: TENANT, agent_id: AGENT, goal: 'refund ticket 42', mode: 'shadow', now: T0 })
      .then([shadowStart]);
    const live = spec
      .given([])
      .when({ type: 'StartRun', run_id: RUN, tenant_id: TENANT, agent_id: AGENT, goal: 'refund ticket 42', now: T0 })
      .then([runStarted()]);
    expect(live.mode).toBe('live');
  });

  it('allowed and reserved: completes as "would execute", cost 0, and never requests an execution (either order)', () => {
    const state = spec
      .given([...admitted, warrantRecorded])
      .when(reserved())
      .then([reservationRecorded, release('shadow_would_execute'), wouldExecute]);
    expect(state.actions.get('a1')).toMatchObject({ status: 'completed', reason_code: 'shadow_would_execute', cost_micros: 0 });
    expect(state.spend_micros).toBe(0);
    spec
      .given([...admitted, reservationRecorded])
      .when(allow())
      .then([warrantRecorded, release('shadow_would_execute'), wouldExecute]);
  });

  it('the same action in a live run requests the execution (the mode is what differs)', () => {
    const events = decided([runStarted(), ...admission('a1'), warrantRecorded], reserved());
    expect(events.map((e) => e.type)).toEqual(['ReservationRecorded', 'ExecutionRequested']);
  });

  it('denied or refused: ends as a live action would, and nothing executes', () => {
    spec
      .given([...admitted, reservationRecorded])
      .when(deny())
      .then([release('policy_denied'), completed('a1', 'denied', 'policy_denied', 'denied by policy: refund-over-500-forbidden', NOW)]);
    const events = decided([...admitted, warrantRecorded], refused());
    expect(events.map((e) => e.type)).toEqual(['ActionCompleted']);
    expect(events[0]).toMatchObject({ status: 'refused', reason_code: 'budget_refused' });
  });

  it('a budget at its approval step: the allow completes as "would await approval"', () => {
    const why = 'budget run money is at 60% of 1.00 USD (0.60 USD used): its approval step is 50%, so an action with side effects needs an approval';
    const stepped: RecordBudgetResult = { ...reserved(), result: { outcome: 'reserved', reservation: reservationFor('a1'), approval: why } };
    const events = decided([...admitted, { ...reservationRecorded, approval: why } as PlannerEvent], allow());
    expect(events.map((event) => event.type)).toEqual(['ActionAwaitingApproval', 'BudgetReleaseRequested', 'ActionCompleted']);
    expect(events[2]).toMatchObject({ status: 'completed', reason_code: 'shadow_approval_required' });
    expect(decided([...admitted, warrantRecorded], stepped).map((event) => event.type)).toEqual([
      'ReservationRecorded',
      'ActionAwaitingApproval',
      'BudgetReleaseRequested',
      'ActionCompleted',
    ]);
  });

  it('held for approval: once reserved, completes as "would await approval" without waiting for an approver (either order)', () => {
    const awaiting: PlannerEvent = { type: 'ActionAwaitingApproval', run_id: RUN, action_id: 'a1', deadline: NOW + 30 * MINUTE };
    const result = JSON.parse(wouldExecuteResult) as Record<string, unknown>;
    const wouldAwait = completed(
      'a1',
      'completed',
      'shadow_approval_required',
      'shadow run: nothing executed; policy requires an approval, which a live run would wait for (nobody was asked)',
      NOW,
      { result_json: JSON.stringify({ ...result, would: 'await_approval', warrant: null }) },
    );
    spec
      .given([...admitted, reservationRecorded])
      .when(approvalRequired())
      .then([awaiting, release('shadow_approval_required'), wouldAwait]);
    spec
      .given([...admitted, awaiting])
      .when(reserved())
      .then([reservationRecorded, release('shadow_approval_required'), wouldAwait]);
    // Not reserved yet: it waits for the budget's answer, as a refusal would end it as refused.
    spec.given(admitted).when(approvalRequired()).then([awaiting]);
  });

  it('a warrant that lapsed before the reservation expires the action, as in a live run', () => {
    const lapsed = warrantFor('a1', { not_after: NOW - 1 });
    const events = decided([...admitted, { ...warrantRecorded, warrant: lapsed } as PlannerEvent], reserved());
    expect(events.at(-1)).toMatchObject({ type: 'ActionCompleted', status: 'expired', reason_code: 'warrant_expired' });
    expect(events.some((e) => e.type === 'ExecutionRequested')).toBe(false);
  });
});
