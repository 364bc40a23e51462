import { describe, expect, it } from 'vitest';
import {
  MINUTE,
  RUN,
  SECOND,
  T0,
  admission,
  completed,
  executing,
  propose,
  proposalOf,
  reservationFor,
  runStarted,
  spec,
  warrantFor,
} from './fixtures.spec.ts';
import type { BudgetResult, PolicyVerdict, RecordBudgetResult, RecordExecutionOutcome, RecordPolicyDecision } from './commands.ts';
import type { ExecutionRequested, PlannerEvent } from './events.ts';
import type { Reservation, Warrant } from './model.ts';

const NOW = T0 + 2 * SECOND;
const policy = (actionId: string, verdict: PolicyVerdict, now = NOW): RecordPolicyDecision => ({
  type: 'RecordPolicyDecision',
  run_id: RUN,
  action_id: actionId,
  verdict,
  now,
});
const allow = (actionId: string, warrant: Warrant = warrantFor(actionId), now = NOW) => policy(actionId, { decision: 'allow', warrant }, now);
const deny = (actionId: string, determining_policies: string[] = ['forbid-refunds-over-100'], now = NOW) =>
  policy(actionId, { decision: 'deny', determining_policies }, now);
const approvalRequired = (actionId: string, now = NOW) => policy(actionId, { decision: 'approval_required' }, now);
const budget = (actionId: string, result: BudgetResult, now = NOW): RecordBudgetResult => ({
  type: 'RecordBudgetResult',
  run_id: RUN,
  action_id: actionId,
  result,
  now,
});
const reserved = (actionId: string, reservation: Reservation = reservationFor(actionId), now = NOW) =>
  budget(actionId, { outcome: 'reserved', reservation }, now);
const refused = (actionId: string, now = NOW) =>
  budget(actionId, { outcome: 'refused', scope: 'agent_day', kind: 'money', limit: 10_000, used: 9_000, requested: 2_000 }, now);
const outcome = (actionId: string, result: RecordExecutionOutcome['outcome'], extra: Partial<RecordExecutionOutcome> = {}): RecordExecutionOutcome => ({
  type: 'RecordExecutionOutcome',
  run_id: RUN,
  action_id: actionId,
  outcome: result,
  cost_micros: 1_800,
  currency: 'USD',
  result_json: result === 'succeeded' ? '{"refund_id":"r-1"}' : null,
  result_ref: null,
  error_code: result === 'succeeded' ? null : 'UPSTREAM_5XX',
  message: result === 'succeeded' ? 'refund created' : 'refund service failed',
  now: NOW + 5 * SECOND,
  ...extra,
});

const warrantRecorded = (actionId: string, deadline = T0 + 31 * SECOND): PlannerEvent => ({
  type: 'WarrantRecorded',
  run_id: RUN,
  action_id: actionId,
  warrant: warrantFor(actionId),
  deadline,
});
const reservationRecorded = (actionId: string): PlannerEvent => ({
  type: 'ReservationRecorded',
  run_id: RUN,
  action_id: actionId,
  reservation: reservationFor(actionId),
});
const release = (actionId: string, reason_code: string): PlannerEvent =>
  ({ type: 'BudgetReleaseRequested', run_id: RUN, action_id: actionId, reservation_id: actionId, reason_code }) as PlannerEvent;
function executionRequested(actionId: string, at = NOW): ExecutionRequested {
  const command = propose(actionId);
  return {
    type: 'ExecutionRequested',
    run_id: RUN,
    action_id: actionId,
    agent_id: command.agent_id,
    tool: command.tool,
    tool_version: command.tool_version,
    arguments_json: command.arguments_json,
    args_sha256: command.args_sha256,
    idempotency_key: command.idempotency_key,
    warrant: warrantFor(actionId),
    reservation: reservationFor(actionId),
    deadline: at + 10 * SECOND,
    outcome_deadline: at + 10 * SECOND + 5 * MINUTE,
    requested_at: at,
  };
}
const admitted = [runStarted(), ...admission('a1')];
const DENIED = 'denied by policy: forbid-refunds-over-100';

describe('policy and budget answer in any order', () => {
  it('allow, then reserved: execution is requested with the warrant and the reservation', () => {
    spec
      .given([...admitted, warrantRecorded('a1')])
      .when(reserved('a1'))
      .then([reservationRecorded('a1'), executionRequested('a1')]);
  });

  it('reserved, then allow: the same', () => {
    const state = spec
      .given([...admitted, reservationRecorded('a1')])
      .when(allow('a1'))
      .then([warrantRecorded('a1'), executionRequested('a1')]);
    expect(state.actions.get('a1')?.status).toBe('executing');
    expect(state.actions.get('a1')?.deadline).toBe(NOW + 10 * SECOND + 5 * MINUTE);
  });

  it('allow alone records the warrant and waits for the budget', () => {
    spec
      .given(admitted)
      .when(allow('a1'))
      .then([warrantRecorded('a1')]);
  });

  it('reserved alone records the reservation and waits for policy', () => {
    spec
      .given(admitted)
      .when(reserved('a1'))
      .then([reservationRecorded('a1')]);
  });

  it('the execution deadline never outlives the warrant or the reservation', () => {
    const short = warrantFor('a1', { not_after: NOW + 3 * SECOND });
    const events = spec.given([...admitted, reservationRecorded('a1')]).when(allow('a1', short));
    events.then([
      { type: 'WarrantRecorded', run_id: RUN, action_id: 'a1', warrant: short, deadline: T0 + 31 * SECOND },
      { ...executionRequested('a1'), warrant: short, deadline: NOW + 3 * SECOND, outcome_deadline: NOW + 3 * SECOND + 5 * MINUTE },
    ]);
  });
});

describe('deny', () => {
  it('while the budget is still pending: denied; the reservation that comes later is released once', () => {
    spec
      .given(admitted)
      .when(deny('a1'))
      .then([completed('a1', 'denied', 'policy_denied', DENIED, NOW)]);
    const afterDeny = [...admitted, completed('a1', 'denied', 'policy_denied', DENIED, NOW)];
    spec
      .given(afterDeny)
      .when(reserved('a1'))
      .then([release('a1', 'action_ended')]);
    spec
      .given([...afterDeny, release('a1', 'action_ended')])
      .when(reserved('a1'))
      .thenNothing();
    spec.given(afterDeny).when(refused('a1')).thenNothing();
  });

  it('while reserved: the reservation is released and the action is denied', () => {
    spec
      .given([...admitted, reservationRecorded('a1')])
      .when(deny('a1'))
      .then([release('a1', 'policy_denied'), completed('a1', 'denied', 'policy_denied', DENIED, NOW)]);
  });

  it('with no determining policy says that nothing permits it', () => {
    spec
      .given(admitted)
      .when(deny('a1', []))
      .then([completed('a1', 'denied', 'policy_denied', 'denied by policy (no policy permits it)', NOW)]);
  });

  it('a warrant that does not match the proposal counts as a denial', () => {
    const reason = "the warrant's args_sha256 does not match the proposal";
    spec
      .given([...admitted, reservationRecorded('a1')])
      .when(allow('a1', warrantFor('a1', { args_sha256: 'f'.repeat(64) })))
      .then([release('a1', 'warrant_mismatch'), completed('a1', 'denied', 'warrant_mismatch', reason, NOW)]);
    spec
      .given(admitted)
      .when(allow('a1', warrantFor('a1', { tool_version: '2.0.0' })))
      .then([completed('a1', 'denied', 'warrant_mismatch', "the warrant's tool_version does not match the proposal", NOW)]);
  });

  it('the first decision wins: a deny after an allow, or an allow after a deny, changes nothing', () => {
    spec
      .given([...admitted, warrantRecorded('a1')])
      .when(deny('a1'))
      .thenNothing();
    spec
      .given([...admitted, completed('a1', 'denied', 'policy_denied', DENIED, NOW)])
      .when(allow('a1'))
      .thenNothing();
    spec
      .given([...admitted, warrantRecorded('a1')])
      .when(allow('a1'))
      .thenNothing();
  });
});

describe('refused', () => {
  const REFUSED = 'budget agent_day money: 9000 used + 2000 requested would exceed the limit of 10000';

  it('ends the action as refused, and nothing executes even if policy allows later', () => {
    spec
      .given(admitted)
      .when(refused('a1'))
      .then([completed('a1', 'refused', 'budget_refused', REFUSED, NOW)]);
    spec
      .given([...admitted, warrantRecorded('a1')])
      .when(refused('a1'))
      .then([completed('a1', 'refused', 'budget_refused', REFUSED, NOW)]);
    spec
      .given([...admitted, completed('a1', 'refused', 'budget_refused', REFUSED, NOW)])
      .when(allow('a1'))
      .thenNothing();
  });

  it('tells the agent which period of which budget refused, and a budget degraded to reads from a crossed cap', () => {
    const weekly = budget('a1', {
      outcome: 'refused',
      scope: 'tool_week',
      kind: 'money',
      limit: 10_000,
      used: 9_000,
      requested: 2_000,
      rule: 'cap',
      period: '2026-W18',
    });
    spec
      .given(admitted)
      .when(weekly)
      .then([
        completed('a1', 'refused', 'budget_refused', 'budget tool_week (2026-W18) money: 9000 used + 2000 requested would exceed the limit of 10000', NOW),
      ]);
    const rolling = budget('a1', {
      outcome: 'refused',
      scope: 'tool_window',
      kind: 'tool_calls',
      limit: 3,
      used: 3,
      requested: 1,
      rule: 'cap',
      period: 'w5400000:123',
    });
    spec
      .given(admitted)
      .when(rolling)
      .then([
        completed('a1', 'refused', 'budget_refused', 'budget tool_window (rolling 90m) tool_calls: 3 used + 1 requested would exceed the limit of 3', NOW),
      ]);
    const inFlight = budget('a1', {
      outcome: 'refused',
      scope: 'agent_concurrent',
      kind: 'tool_calls',
      limit: 2,
      used: 2,
      requested: 1,
      rule: 'cap',
      period: 'now',
    });
    spec
      .given(admitted)
      .when(inFlight)
      .then([
        completed('a1', 'refused', 'budget_refused', 'budget agent_concurrent (in flight) tool_calls: 2 used + 1 requested would exceed the limit of 2', NOW),
      ]);
    const degraded = budget('a1', {
      outcome: 'refused',
      scope: 'tenant_month',
      kind: 'money',
      limit: 10_000,
      used: 8_500,
      requested: 500,
      rule: 'reads_only',
      period: '2026-05',
    });
    spec
      .given(admitted)
      .when(degraded)
      .then([
        completed(
          'a1',
          'refused',
          'budget_refused',
          'budget tenant_month (2026-05) money is at 85% of its limit of 10000 (8500 used) and has degraded to reads: a tool with side effects is refused',
          NOW,
        ),
      ]);
  });

  it('a refusal after a reservation (a contradicting duplicate) changes nothing', () => {
    spec
      .given([...admitted, reservationRecorded('a1')])
      .when(refused('a1'))
      .thenNothing();
    spec
      .given([...admitted, reservationRecorded('a1')])
      .when(reserved('a1'))
      .thenNothing();
  });
});

describe('a budget at its approval step', () => {
  const WHY =
    'budget tenant_month (2026-12) money is at 80% of 1000.00 USD (800.00 USD used): its approval step is 80%, so an action with side effects needs an approval';
  const stepped = (actionId: string, now = NOW) => budget(actionId, { outcome: 'reserved', reservation: reservationFor(actionId), approval: WHY }, now);
  const steppedRecorded: PlannerEvent = { type: 'ReservationRecorded', run_id: RUN, action_id: 'a1', reservation: reservationFor('a1'), approval: WHY };
  const waiting: PlannerEvent = { type: 'ActionAwaitingApproval', run_id: RUN, action_id: 'a1', deadline: NOW + 30 * MINUTE };
  const approvedAllow = (at: number) => policy('a1', { decision: 'allow', warrant: warrantFor('a1', { not_after: at + MINUTE }), approved: true }, at);

  it('an allow without an approval waits for one, whichever answer came first; nothing executes', () => {
    // The reservation first: the allow that follows waits.
    const first = spec
      .given([...admitted, steppedRecorded])
      .when(allow('a1'))
      .then([waiting]);
    expect(first.actions.get('a1')).toMatchObject({ status: 'awaiting_approval', warrant: null });
    // The allow first: its warrant is set aside when the reservation says a budget wants an approval.
    const second = spec
      .given([...admitted, warrantRecorded('a1')])
      .when(stepped('a1'))
      .then([steppedRecorded, waiting]);
    expect(second.actions.get('a1')).toMatchObject({ status: 'awaiting_approval', warrant: null, budget_approval: WHY });
  });

  it("the policy's own approval_required while waiting changes nothing; a later unapproved allow neither", () => {
    spec
      .given([...admitted, steppedRecorded, waiting])
      .when(approvalRequired('a1', NOW + SECOND))
      .thenNothing();
    spec
      .given([...admitted, steppedRecorded, waiting])
      .when(allow('a1', warrantFor('a1'), NOW + SECOND))
      .thenNothing();
  });

  it('the allow decided after an approval executes on the held reservation', () => {
    const later = NOW + 10 * MINUTE;
    const warrant = warrantFor('a1', { not_after: later + MINUTE });
    spec
      .given([...admitted, steppedRecorded, waiting])
      .when(approvedAllow(later))
      .then([
        { type: 'WarrantRecorded', run_id: RUN, action_id: 'a1', warrant, deadline: later + 30 * SECOND, approved: true },
        { ...executionRequested('a1', later), warrant },
      ]);
    // Approved before the reservation came: the reservation's approval step is then met already.
    spec
      .given([...admitted, { type: 'WarrantRecorded', run_id: RUN, action_id: 'a1', warrant, deadline: later + 30 * SECOND, approved: true }])
      .when(stepped('a1', later))
      .then([{ ...steppedRecorded }, { ...executionRequested('a1', later), warrant }]);
  });

  it("an approver's deny denies; nobody answering expires it as approval_timeout and releases the reservation", () => {
    spec
      .given([...admitted, steppedRecorded, waiting])
      .when(deny('a1', ['managers-approve-in-own-tenant'], NOW + MINUTE))
      .then([release('a1', 'policy_denied'), completed('a1', 'denied', 'policy_denied', 'denied by policy: managers-approve-in-own-tenant', NOW + MINUTE)]);
    spec
      .given([...admitted, steppedRecorded, waiting])
      .when({ type: 'ExpireActions', run_id: RUN, now: NOW + 30 * MINUTE })
      .then([release('a1', 'approval_timeout'), completed('a1', 'expired', 'approval_timeout', 'no approval in time', NOW + 30 * MINUTE)]);
  });
});

describe('approval_required', () => {
  const waiting: PlannerEvent = { type: 'ActionAwaitingApproval', run_id: RUN, action_id: 'a1', deadline: NOW + 30 * MINUTE };

  it('makes the action wait with the longer approval deadline', () => {
    const state = spec.given(admitted).when(approvalRequired('a1')).then([waiting]);
    expect(state.actions.get('a1')?.status).toBe('awaiting_approval');
    spec
      .given([...admitted, waiting])
      .when(approvalRequired('a1'))
      .thenNothing();
  });

  it("waits as long as the policy's @approval_expires_in says, else the planner's default; past it, approval_timeout", () => {
    const policyWait: PlannerEvent = { type: 'ActionAwaitingApproval', run_id: RUN, action_id: 'a1', deadline: NOW + 2 * MINUTE };
    spec
      .given(admitted)
      .when(policy('a1', { decision: 'approval_required', expires_in_ms: 2 * MINUTE }))
      .then([policyWait]);
    spec
      .given(admitted)
      .when(policy('a1', { decision: 'approval_required', expires_in_ms: null }))
      .then([waiting]);
    spec
      .given([...admitted, reservationRecorded('a1'), policyWait])
      .when({ type: 'ExpireActions', run_id: RUN, now: NOW + 2 * MINUTE })
      .then([release('a1', 'approval_timeout'), completed('a1', 'expired', 'approval_timeout', 'no approval in time', NOW + 2 * MINUTE)]);
  });

  it('approved: allow after the approval executes on the held reservation', () => {
    const later = NOW + 10 * MINUTE;
    spec
      .given([...admitted, reservationRecorded('a1'), waiting])
      .when(allow('a1', warrantFor('a1', { not_after: later + MINUTE }), later))
      .then([
        { type: 'WarrantRecorded', run_id: RUN, action_id: 'a1', warrant: warrantFor('a1', { not_after: later + MINUTE }), deadline: later + 30 * SECOND },
        { ...executionRequested('a1', later), warrant: warrantFor('a1', { not_after: later + MINUTE }) },
      ]);
  });

  it('approved before the budget answered: waits for it with the ordinary deadline', () => {
    const later = NOW + MINUTE;
    const state = spec
      .given([...admitted, waiting])
      .when(allow('a1', warrantFor('a1'), later))
      .then([warrantRecorded('a1', later + 30 * SECOND)]);
    expect(state.actions.get('a1')?.status).toBe('pending');
  });

  it('denied by the approver: denied, and the held reservation is released', () => {
    spec
      .given([...admitted, reservationRecorded('a1'), waiting])
      .when(deny('a1'))
      .then([release('a1', 'policy_denied'), completed('a1', 'denied', 'policy_denied', DENIED, NOW)]);
  });

  it('the budget answer while waiting is recorded without executing', () => {
    spec
      .given([...admitted, waiting])
      .when(reserved('a1'))
      .then([reservationRecorded('a1')]);
  });
});

describe('lapsed warrant or reservation', () => {
  it('a warrant already expired when both are in: expired, reservation released', () => {
    spec
      .given([...admitted, { ...warrantRecorded('a1'), warrant: warrantFor('a1', { not_after: NOW }) } as PlannerEvent])
      .when(reserved('a1'))
      .then([
        reservationRecorded('a1'),
        release('a1', 'warrant_expired'),
        completed('a1', 'expired', 'warrant_expired', `the warrant expired at ${NOW} before the budget was reserved`, NOW),
      ]);
  });

  it('a reservation already expired when both are in: expired, reservation released', () => {
    const lapsed = reservationFor('a1', { expires_at: NOW - 1 });
    spec
      .given([...admitted, { type: 'ReservationRecorded', run_id: RUN, action_id: 'a1', reservation: lapsed }])
      .when(allow('a1'))
      .then([
        warrantRecorded('a1'),
        release('a1', 'reservation_expired'),
        completed('a1', 'expired', 'reservation_expired', `the budget reservation expired at ${NOW - 1} before policy allowed`, NOW),
      ]);
  });
});

describe('execution outcome', () => {
  const running = [runStarted(), ...executing('a1')];
  const at = NOW + 5 * SECOND;

  it('succeeded: completed with the actual cost and the result; the run spend grows', () => {
    const state = spec
      .given(running)
      .when(outcome('a1', 'succeeded'))
      .then([completed('a1', 'completed', 'succeeded', 'refund created', at, { cost_micros: 1_800, result_json: '{"refund_id":"r-1"}' })]);
    expect(state.spend_micros).toBe(1_800);
  });

  it('failed: failed with the error code, the cost incurred anyway is kept', () => {
    spec
      .given(running)
      .when(outcome('a1', 'failed'))
      .then([completed('a1', 'failed', 'execution_failed', 'UPSTREAM_5XX: refund service failed', at, { cost_micros: 1_800 })]);
  });

  it('unknown: failed with outcome_unknown, for reconciliation', () => {
    spec
      .given(running)
      .when(outcome('a1', 'unknown'))
      .then([
        completed('a1', 'failed', 'outcome_unknown', 'outcome unknown, needs reconciliation (UPSTREAM_5XX: refund service failed)', at, { cost_micros: 1_800 }),
      ]);
  });

  it('a second outcome, or any late message, after the end changes nothing', () => {
    const done = [...running, completed('a1', 'completed', 'succeeded', 'refund created', at, { cost_micros: 1_800 })];
    spec.given(done).when(outcome('a1', 'failed')).thenNothing();
    spec.given(done).when(allow('a1')).thenNothing();
    spec.given(done).when(deny('a1')).thenNothing();
    spec.given(done).when(reserved('a1')).thenNothing();
    spec.given(done).when(refused('a1')).thenNothing();
    spec
      .given(done)
      .when({ type: 'ExpireActions', run_id: RUN, now: T0 + MINUTE * 60 })
      .thenNothing();
  });

  it('duplicates while executing change nothing', () => {
    spec.given(running).when(allow('a1')).thenNothing();
    spec.given(running).when(deny('a1')).thenNothing();
    spec.given(running).when(reserved('a1')).thenNothing();
    spec.given(running).when(refused('a1')).thenNothing();
  });

  it('a negative cost is bad input', () => {
    spec
      .given(running)
      .when(outcome('a1', 'succeeded', { cost_micros: -1 }))
      .thenThrows('PLANNER_INVALID_COMMAND', { field: 'cost_micros' });
  });
});

describe('messages that do not fit go to the DLQ', () => {
  it('an outcome about an action the run never had', () => {
    spec.given(admitted).when(outcome('constructor', 'succeeded')).thenThrows('PLANNER_UNKNOWN_ACTION', { field: 'action_id' });
  });

  it('out of order: an outcome for an action never sent to execution', () => {
    spec.given(admitted).when(outcome('a1', 'succeeded')).thenThrows('PLANNER_OUT_OF_ORDER', { rule: 'must name an action sent to execution' });
  });

  it('a reservation for another action', () => {
    spec
      .given(admitted)
      .when(reserved('a1', reservationFor('a2')))
      .thenThrows('PLANNER_INVALID_COMMAND', { field: 'result.reservation.reservation_id' });
  });
});

describe('answers read before the admission (the PDP and the accountant react to the same proposal)', () => {
  const started = [runStarted()];
  const heldAllow: PlannerEvent = {
    type: 'AnswerHeld',
    run_id: RUN,
    action_id: 'a1',
    answer: { kind: 'policy', verdict: { decision: 'allow', warrant: warrantFor('a1') }, at: NOW },
  };
  const heldReserved: PlannerEvent = {
    type: 'AnswerHeld',
    run_id: RUN,
    action_id: 'a1',
    answer: { kind: 'budget', result: { outcome: 'reserved', reservation: reservationFor('a1') }, at: NOW },
  };
  const [admittedNow] = admission('a1', { now: NOW });

  it('an answer about an action not proposed yet is held, not refused', () => {
    const state = spec.given(started).when(allow('a1')).then([heldAllow]);
    expect(state.held.get('a1')).toHaveLength(1);
    spec
      .given([...started, heldAllow])
      .when(reserved('a1'))
      .then([heldReserved]);
    // A proposal parked before its run started holds its answers too.
    const parked: PlannerEvent = { type: 'ActionParked', run_id: RUN, action_id: 'a1', proposal: proposalOf(propose('a1')), deadline: T0 + 31 * SECOND };
    spec.given([parked]).when(allow('a1')).then([heldAllow]);
  });

  it('allowed and reserved before the proposal: admitted and sent to execution in one decision', () => {
    const state = spec
      .given([...started, heldAllow, heldReserved])
      .when(propose('a1', { now: NOW }))
      .then([admittedNow, warrantRecorded('a1', NOW + 30 * SECOND), reservationRecorded('a1'), executionRequested('a1')]);
    expect(state.actions.get('a1')?.status).toBe('executing');
    expect(state.held.has('a1')).toBe(false);
  });

  it('one answer before, the other after: the held one is applied at admission and the action waits for the other', () => {
    const state = spec
      .given([...started, heldReserved])
      .when(propose('a1', { now: NOW }))
      .then([admittedNow, reservationRecorded('a1')]);
    expect(state.actions.get('a1')?.reservation?.reservation_id).toBe('a1');
  });

  it('denied or awaiting approval before the proposal: decided right after the admission', () => {
    const heldDeny: PlannerEvent = {
      type: 'AnswerHeld',
      run_id: RUN,
      action_id: 'a1',
      answer: { kind: 'policy', verdict: { decision: 'deny', determining_policies: ['forbid-refunds-over-100'] }, at: NOW },
    };
    spec
      .given([...started, heldDeny])
      .when(propose('a1', { now: NOW }))
      .then([admittedNow, completed('a1', 'denied', 'policy_denied', DENIED, NOW)]);
    const heldApproval: PlannerEvent = {
      type: 'AnswerHeld',
      run_id: RUN,
      action_id: 'a1',
      answer: { kind: 'policy', verdict: { decision: 'approval_required' }, at: NOW },
    };
    spec
      .given([...started, heldApproval])
      .when(propose('a1', { now: NOW }))
      .then([admittedNow, { type: 'ActionAwaitingApproval', run_id: RUN, action_id: 'a1', deadline: NOW + 30 * MINUTE }]);
  });

  it('a proposal rejected at admission drops what was held (the accountant releases on the ActionCompleted)', () => {
    const why = 'the kill switch of tool refunds.create is pulled';
    const state = spec
      .given([...started, heldAllow, heldReserved])
      .when(propose('a1', { now: NOW, tool_killed: true }))
      .then([
        {
          type: 'ActionRejected',
          run_id: RUN,
          action_id: 'a1',
          idempotency_key: 'key-a1',
          reason_code: 'kill_switch',
          message: why,
          field: 'tool',
          existing_action_id: null,
          rejected_at: NOW,
        },
        completed('a1', 'rejected', 'kill_switch', why, NOW),
      ]);
    expect(state.actions.get('a1')?.status).toBe('rejected');
    expect(state.held.has('a1')).toBe(false);
  });
});

describe('ExpireActions on actions', () => {
  const expire = (now: number) => ({ type: 'ExpireActions', run_id: RUN, now }) as const;

  it('pending past its deadline: expired, its reservation released', () => {
    const at = T0 + 31 * SECOND;
    spec
      .given(admitted)
      .when(expire(at - 1))
      .thenNothing();
    spec
      .given(admitted)
      .when(expire(at))
      .then([completed('a1', 'expired', 'decision_timeout', 'no policy decision and budget answer in time', at)]);
    spec
      .given([...admitted, reservationRecorded('a1')])
      .when(expire(at))
      .then([release('a1', 'decision_timeout'), completed('a1', 'expired', 'decision_timeout', 'no policy decision and budget answer in time', at)]);
  });

  it('awaiting approval past its deadline: expired as approval_timeout', () => {
    const at = NOW + 30 * MINUTE;
    const given = [...admitted, reservationRecorded('a1'), { type: 'ActionAwaitingApproval', run_id: RUN, action_id: 'a1', deadline: at } as PlannerEvent];
    spec
      .given(given)
      .when(expire(T0 + 31 * SECOND))
      .thenNothing();
    spec
      .given(given)
      .when(expire(at))
      .then([release('a1', 'approval_timeout'), completed('a1', 'expired', 'approval_timeout', 'no approval in time', at)]);
  });

  it('executing past its outcome deadline: expired, the reservation is left for the settlement', () => {
    const at = T0 + 2 * SECOND + 10 * SECOND + 5 * MINUTE;
    spec
      .given([runStarted(), ...executing('a1')])
      .when(expire(at))
      .then([completed('a1', 'expired', 'execution_timeout', 'no execution outcome in time; the side effect may have happened and needs reconciliation', at)]);
  });

  it('a proposal whose run never started: expired as run_not_started', () => {
    const parked: PlannerEvent = { type: 'ActionParked', run_id: RUN, action_id: 'a1', proposal: proposalOf(propose('a1')), deadline: T0 + 31 * SECOND };
    const state = spec
      .given([parked])
      .when(expire(T0 + 31 * SECOND))
      .then([completed('a1', 'expired', 'run_not_started', 'the run did not start in time for this proposal', T0 + 31 * SECOND)]);
    expect(state.parked).toEqual([]);
  });
});
