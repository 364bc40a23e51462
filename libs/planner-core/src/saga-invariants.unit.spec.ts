import { describe, expect, it } from 'vitest';
import { evolveAll } from '@writ/decider';
import { seededRandom } from '@writ/decider/testing';
import type { SeededRandom } from '@writ/decider/testing';
import { planner } from './fixtures.spec.ts';
import { deadlineSetBy, nextPlannerDeadline } from './planner.ts';
import type { PlannerEvent } from './events.ts';
import { simulate } from './simulation.spec.ts';
import type { World } from './simulation.spec.ts';

function checkInvariants(world: World, random: SeededRandom): void {
  const { log, proposed, reservedDelivered, state } = world;
  const about = (id: string): PlannerEvent[] => log.filter((event) => 'action_id' in event && event.action_id === id);
  for (const id of proposed) {
    const events = about(id);
    const terminals = events.filter((event) => event.type === 'ActionCompleted');
    expect(terminals, `action ${id}: exactly one terminal event`).toHaveLength(1);
    const terminal = terminals[0];
    if (terminal?.type !== 'ActionCompleted') throw new Error('unreachable');
    const after = events.slice(events.indexOf(terminal) + 1);
    expect(
      after.every((event) => event.type === 'BudgetReleaseRequested' && event.reason_code === 'action_ended'),
      `action ${id}: after its end only the release of a late reservation`,
    ).toBe(true);

    const executions = events.filter((event) => event.type === 'ExecutionRequested');
    expect(executions.length, `action ${id}: executes at most once`).toBeLessThanOrEqual(1);
    const execution = executions[0];
    if (execution?.type === 'ExecutionRequested') {
      const index = events.indexOf(execution);
      const before = events.slice(0, index);
      const admitted = before.find((event) => event.type === 'ActionAdmitted');
      expect(
        before.some((event) => event.type === 'WarrantRecorded'),
        `action ${id}: warrant before execution`,
      ).toBe(true);
      expect(
        before.some((event) => event.type === 'ReservationRecorded'),
        `action ${id}: reservation before execution`,
      ).toBe(true);
      expect(admitted?.type === 'ActionAdmitted' && admitted.proposal.args_sha256).toBe(execution.warrant.args_sha256);
      expect(execution.reservation.reservation_id).toBe(id);
      expect(['completed', 'failed', 'expired']).toContain(terminal.status);
    } else {
      expect(['completed', 'failed'], `action ${id}: no outcome without execution`).not.toContain(terminal.status);
    }

    const releases = events.filter((event) => event.type === 'BudgetReleaseRequested');
    expect(releases.length, `action ${id}: released at most once`).toBeLessThanOrEqual(1);
    if (reservedDelivered.has(id) && executions.length === 0) {
      // Released by the planner when it held the reservation, by the accountant on the
      // ActionCompleted when the action ended before the reservation was recorded.
      expect(['denied', 'rejected', 'refused', 'expired'], `action ${id}: a reservation not spent is released`).toContain(terminal.status);
    } else if (!reservedDelivered.has(id)) {
      expect(releases, `action ${id}: nothing to release without a reservation`).toHaveLength(0);
    }
    expect(state.actions.get(id)?.status).toBe(terminal.status);
  }
  if (world.maxSteps !== null) expect(state.steps).toBeLessThanOrEqual(world.maxSteps);
  expect(log.filter((event) => event.type === 'RunEnded').length).toBeLessThanOrEqual(1);

  // The state is a pure fold of the events: replaying the log rebuilds it exactly.
  expect(evolveAll(planner, log)).toEqual(state);

  // Redelivering anything, in any order, after the end changes nothing.
  for (const command of random.shuffle(world.delivered).slice(0, 40)) {
    expect(planner.decide(command, state), `late ${command.type}`).toEqual([]);
  }
}

describe('saga invariants over random delivery orders and redeliveries', () => {
  it('holds for 300 seeded runs', () => {
    let executed = 0;
    let approvals = 0;
    for (let seed = 1; seed <= 300; seed += 1) {
      const random = seededRandom(seed);
      const world = simulate(random);
      try {
        checkInvariants(world, random);
      } catch (error) {
        throw new Error(`seed ${seed}: ${(error as Error).message}`, { cause: error });
      }
      executed += world.log.filter((event) => event.type === 'ExecutionRequested').length;
      approvals += world.log.filter((event) => event.type === 'ActionAwaitingApproval').length;
    }
    // The generator reaches the interesting paths, not only rejections.
    expect(executed).toBeGreaterThan(300);
    expect(approvals).toBeGreaterThan(50);
  });

  it('covers every terminal status and many reasons across the seeds', () => {
    const statuses = new Set<string>();
    const reasons = new Set<string>();
    let lateReleases = 0;
    for (let seed = 1; seed <= 300; seed += 1) {
      for (const event of simulate(seededRandom(seed)).log) {
        if (event.type === 'ActionCompleted') {
          statuses.add(event.status);
          reasons.add(event.reason_code);
        }
        if (event.type === 'BudgetReleaseRequested' && event.reason_code === 'action_ended') lateReleases += 1;
      }
    }
    expect([...statuses].sort()).toEqual(['completed', 'denied', 'expired', 'failed', 'refused', 'rejected']);
    // Every completion reason but tool_unknown (the generator only makes args_invalid proposals).
    expect([...reasons].sort()).toEqual([
      'agent_mismatch',
      'approval_timeout',
      'args_invalid',
      'budget_refused',
      'decision_timeout',
      'duplicate',
      'execution_failed',
      'execution_timeout',
      'kill_switch',
      'loop_detected',
      'outcome_unknown',
      'policy_denied',
      'reservation_expired',
      'run_closed',
      'run_not_started',
      'run_wall_clock',
      'step_limit',
      'succeeded',
      'wall_clock_exceeded',
      'warrant_expired',
      'warrant_mismatch',
    ]);
    expect(lateReleases, 'reservations that arrived after their action ended were released').toBeGreaterThan(0);
  });

  // The service's timer is kept at or before the run's next deadline by taking the earliest of it
  // and what each event sets (and recomputed from the state only when it fires). By induction that
  // holds if one event never brings a deadline earlier than both.
  it('never sets a deadline the timer would miss: the next deadline after an event is no earlier than the one before or the one it set', () => {
    let checked = 0;
    for (let seed = 1; seed <= 300; seed += 1) {
      let state = planner.initialState();
      for (const event of simulate(seededRandom(seed)).log) {
        const before = nextPlannerDeadline(state);
        state = planner.evolve(state, event);
        const after = nextPlannerDeadline(state);
        if (after === null) continue;
        const set = deadlineSetBy(event);
        const timer = Math.min(before ?? Number.POSITIVE_INFINITY, set ?? Number.POSITIVE_INFINITY);
        expect(timer, `seed ${seed}, after ${event.type}`).toBeLessThanOrEqual(after);
        checked += 1;
      }
    }
    expect(checked).toBeGreaterThan(1_000);
  });
});
