import { describe, expect, it } from 'vitest';
import {
  AGENT,
  MINUTE,
  RUN,
  SECOND,
  T0,
  TENANT,
  admission,
  completed,
  executing,
  propose,
  proposalOf,
  reservationFor,
  runStarted,
  spec,
} from './fixtures.spec.ts';
import type { StartRun } from './commands.ts';
import type { PlannerEvent } from './events.ts';
import { isPlannerInternalEvent } from './events.ts';
import { nextPlannerDeadline, plannerDecider } from './planner.ts';
import { evolveAll } from '@writ/decider';

const start = (limits: StartRun['limits'] = {}, now = T0): StartRun => ({
  type: 'StartRun',
  run_id: RUN,
  tenant_id: TENANT,
  agent_id: AGENT,
  goal: 'refund ticket 42',
  limits,
  now,
});

describe('StartRun', () => {
  it('starts the run with its limits, defaults filled in', () => {
    const state = spec
      .given()
      .when(start({ max_steps: 5 }))
      .then([runStarted({ max_steps: 5 })]);
    expect(state.phase).toBe('active');
    expect(state.agent_id).toBe(AGENT);
  });

  it('widens the loop window to hold a large threshold', () => {
    spec
      .given()
      .when(start({ loop_threshold: 20 }))
      .then([runStarted({ loop_threshold: 20, loop_window: 19 })]);
  });

  it('is idempotent, and a run that ended stays ended', () => {
    spec.given([runStarted()]).when(start()).thenNothing();
    spec
      .given([runStarted(), { type: 'RunEnded', run_id: RUN, status: 'completed', reason: 'done', ended_at: T0 + 1 }])
      .when(start())
      .thenNothing();
  });

  it('refuses limits that make no sense, naming the field and the rule', () => {
    spec
      .given()
      .when(start({ loop_threshold: 1 }))
      .thenThrows('PLANNER_INVALID_COMMAND', { field: 'limits.loop_threshold', rule: 'must be at least 2' });
    spec
      .given()
      .when(start({ loop_threshold: 5, loop_window: 3 }))
      .thenThrows('PLANNER_INVALID_COMMAND', { field: 'limits.loop_window' });
    spec
      .given()
      .when(start({ max_steps: -1 }))
      .thenThrows('PLANNER_INVALID_COMMAND', { field: 'limits.max_steps' });
    spec
      .given()
      .when(start({ max_steps: 1.5 }))
      .thenThrows('PLANNER_INVALID_COMMAND', { field: 'limits.max_steps' });
    spec
      .given()
      .when(start({ max_cost_micros: 100 }))
      .thenThrows('PLANNER_INVALID_COMMAND', { field: 'limits.currency' });
    spec
      .given()
      .when({ ...start(), tenant_id: ' ' })
      .thenThrows('PLANNER_INVALID_COMMAND', { field: 'tenant_id', rule: 'must be a non-empty string' });
    spec
      .given()
      .when({ ...start(), now: -5 })
      .thenThrows('PLANNER_INVALID_COMMAND', { field: 'now' });
  });

  it('admits the proposals that arrived before it, in arrival order, with the same checks', () => {
    const parked = (id: string, overrides = {}): PlannerEvent => ({
      type: 'ActionParked',
      run_id: RUN,
      action_id: id,
      proposal: proposalOf(propose(id, { now: T0 - SECOND, ...overrides })),
      deadline: T0 + 29 * SECOND,
    });
    const [firstAdmitted] = admission('a1', { now: T0 - SECOND });
    const state = spec
      .given([parked('a1'), parked('a2', { agent_id: 'agent-2' })])
      .when(start({ max_steps: 5 }, T0 + SECOND))
      .then([
        runStarted({ max_steps: 5 }, T0 + SECOND),
        { ...firstAdmitted, admitted_at: T0 + SECOND, deadline: T0 + 31 * SECOND },
        {
          type: 'ActionRejected',
          run_id: RUN,
          action_id: 'a2',
          idempotency_key: 'key-a2',
          reason_code: 'agent_mismatch',
          message: `run ${RUN} belongs to agent ${AGENT}, not agent-2`,
          field: 'agent_id',
          existing_action_id: null,
          rejected_at: T0 + SECOND,
        },
        completed('a2', 'rejected', 'agent_mismatch', `run ${RUN} belongs to agent ${AGENT}, not agent-2`, T0 + SECOND),
      ]);
    expect(state.parked).toEqual([]);
    expect(state.steps).toBe(1);
  });

  it('refuses a command for another run', () => {
    spec
      .given([runStarted()])
      .when({ ...start(), run_id: 'run-2' })
      .thenThrows('PLANNER_WRONG_RUN', { field: 'run_id' });
  });
});

describe('EndRun', () => {
  const end = (status: 'completed' | 'failed' | 'killed', reason = 'goal reached') =>
    ({ type: 'EndRun', run_id: RUN, status, reason, now: T0 + 5 * SECOND }) as const;

  it('ends the run and closes every action not yet executing; executing ones keep going', () => {
    const given: PlannerEvent[] = [
      runStarted(),
      ...admission('pending'),
      ...admission('reserved'),
      { type: 'ReservationRecorded', run_id: RUN, action_id: 'reserved', reservation: reservationFor('reserved') },
      ...admission('approval'),
      { type: 'ActionAwaitingApproval', run_id: RUN, action_id: 'approval', deadline: T0 + 31 * MINUTE },
      ...executing('running'),
    ];
    const why = 'the run ended (completed) before this action ran';
    const at = T0 + 5 * SECOND;
    const state = spec
      .given(given)
      .when(end('completed'))
      .then([
        { type: 'RunEnded', run_id: RUN, status: 'completed', reason: 'goal reached', ended_at: at },
        completed('pending', 'rejected', 'run_closed', why, at),
        { type: 'BudgetReleaseRequested', run_id: RUN, action_id: 'reserved', reservation_id: 'reserved', reason_code: 'run_closed' },
        completed('reserved', 'rejected', 'run_closed', why, at),
        completed('approval', 'rejected', 'run_closed', why, at),
      ]);
    expect(state.actions.get('running')?.status).toBe('executing');
    expect(state.phase).toBe('ended');
  });

  it('a kill switch ends the run as killed, and parked proposals are rejected', () => {
    const parked: PlannerEvent = { type: 'ActionParked', run_id: RUN, action_id: 'early', proposal: proposalOf(propose('early')), deadline: T0 + 31 * SECOND };
    const why = 'the run was killed: operator pulled the agent kill switch';
    const at = T0 + 5 * SECOND;
    spec
      .given([parked])
      .when(end('killed', 'operator pulled the agent kill switch'))
      .then([
        { type: 'RunEnded', run_id: RUN, status: 'killed', reason: 'operator pulled the agent kill switch', ended_at: at },
        {
          type: 'ActionRejected',
          run_id: RUN,
          action_id: 'early',
          idempotency_key: 'key-early',
          reason_code: 'kill_switch',
          message: why,
          field: null,
          existing_action_id: null,
          rejected_at: at,
        },
        completed('early', 'rejected', 'kill_switch', why, at),
      ]);
  });

  it('ending twice changes nothing; a reason is required', () => {
    spec
      .given([runStarted(), { type: 'RunEnded', run_id: RUN, status: 'failed', reason: 'x', ended_at: T0 }])
      .when(end('completed'))
      .thenNothing();
    spec.given([runStarted()]).when(end('completed', '')).thenThrows('PLANNER_INVALID_COMMAND', { field: 'reason' });
  });
});

describe('ExpireActions on the run', () => {
  it('expires the run at its wall clock: pre-execution actions expire, executing ones keep going', () => {
    const at = T0 + 10 * MINUTE;
    const state = spec
      .given([runStarted({ wall_clock_ms: 10 * MINUTE }), ...admission('a1'), ...executing('a2')])
      .when({ type: 'ExpireActions', run_id: RUN, now: at })
      .then([
        { type: 'RunEnded', run_id: RUN, status: 'expired', reason: 'wall-clock limit of 600000 ms reached', ended_at: at },
        completed('a1', 'expired', 'run_wall_clock', 'the run reached its wall-clock limit of 600000 ms', at),
        completed('a2', 'expired', 'execution_timeout', 'no execution outcome in time; the side effect may have happened and needs reconciliation', at),
      ]);
    expect(state.phase).toBe('ended');
  });

  it('does nothing before any deadline', () => {
    spec
      .given([runStarted({ wall_clock_ms: 10 * MINUTE }), ...admission('a1')])
      .when({ type: 'ExpireActions', run_id: RUN, now: T0 + 30 * SECOND })
      .thenNothing();
  });
});

describe('nextPlannerDeadline and event kinds', () => {
  it('is the earliest open deadline or the wall clock', () => {
    expect(nextPlannerDeadline(plannerDecider.initialState())).toBeNull();
    const state = evolveAll(plannerDecider, [runStarted({ wall_clock_ms: 10 * SECOND }), ...admission('a1')]);
    expect(nextPlannerDeadline(state)).toBe(T0 + 10 * SECOND);
    const later = evolveAll(plannerDecider, [runStarted({ wall_clock_ms: 10 * MINUTE }), ...admission('a1')]);
    expect(nextPlannerDeadline(later)).toBe(T0 + 31 * SECOND);
    const done = evolveAll(plannerDecider, [completed('a1', 'denied', 'policy_denied', 'no', T0 + 2 * SECOND)], later);
    expect(nextPlannerDeadline(done)).toBe(T0 + 10 * MINUTE);
  });

  it('tells internal events from published ones', () => {
    const [admitted] = admission('a1');
    expect(isPlannerInternalEvent(admitted)).toBe(false);
    expect(
      isPlannerInternalEvent({
        type: 'AnswerHeld',
        run_id: RUN,
        action_id: 'a1',
        answer: { kind: 'policy', verdict: { decision: 'approval_required' }, at: T0 },
      }),
    ).toBe(true);
    expect(isPlannerInternalEvent({ type: 'ReservationRecorded', run_id: RUN, action_id: 'a1', reservation: reservationFor('a1') })).toBe(true);
  });
});
