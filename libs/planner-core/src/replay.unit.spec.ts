import { describe, expect, it } from 'vitest';
import { evolveAll } from '@writ/decider';
import { seededRandom } from '@writ/decider/testing';
import { RUN, SECOND, T0, TENANT, AGENT, admission, completed, executing, planner, propose, reservationFor, runStarted, warrantFor } from './fixtures.spec.ts';
import type { PlannerCommand, StartRun } from './commands.ts';
import type { PlannerEvent, PlannerPublishedEvent } from './events.ts';
import { isPlannerInternalEvent } from './events.ts';
import { isTerminalStatus } from './model.ts';
import type { PlannerState } from './model.ts';
import { replayRun } from './replay.ts';
import { simulate } from './simulation.spec.ts';

/** What a restarted planner reads back after handling `commands`: its published events and the inputs. */
function historyOf(commands: readonly PlannerCommand[]): { state: PlannerState; log: PlannerEvent[] } {
  let state = planner.initialState();
  const log: PlannerEvent[] = [];
  for (const command of commands) {
    const events = planner.decide(command, state);
    state = evolveAll(planner, events, state);
    log.push(...events);
  }
  return { state, log };
}

function replayOf(commands: readonly PlannerCommand[], log: readonly PlannerEvent[]) {
  return replayRun(planner, {
    starts: commands.filter((command): command is StartRun => command.type === 'StartRun'),
    published: log.filter((event): event is PlannerPublishedEvent => !isPlannerInternalEvent(event)),
    // The timer's ExpireActions is no input: its outcome is in the published events.
    inputs: commands.filter((command) => command.type !== 'StartRun' && command.type !== 'ExpireActions'),
  });
}

/** What must survive a restart: every action's step, and what a waiting action holds. */
function essence(state: PlannerState) {
  return {
    phase: state.phase,
    steps: state.steps,
    spend: state.spend_micros,
    recent: state.recent_calls,
    parked: state.parked,
    held: state.held,
    keys: state.idempotency_keys,
    open: state.open,
    admissions: state.admissions,
    actions: Object.fromEntries(
      [...state.actions.values()].map((action) => [
        action.action_id,
        isTerminalStatus(action.status)
          ? { status: action.status }
          : action.status === 'executing'
            ? { status: action.status, deadline: action.deadline }
            : { status: action.status, deadline: action.deadline, warrant: action.warrant, reservation: action.reservation },
      ]),
    ),
  };
}

describe('replayRun: a restarted planner rebuilds the run from what it published and consumed', () => {
  it('rebuilds the same run at any crash point of 150 seeded sagas', () => {
    let points = 0;
    for (let seed = 1; seed <= 150; seed += 1) {
      const random = seededRandom(seed);
      const { delivered } = simulate(random);
      for (const cut of [1, 3, Math.floor(delivered.length / 3), Math.floor(delivered.length / 2), delivered.length - 1, delivered.length]) {
        const commands = delivered.slice(0, Math.max(0, cut));
        const live = historyOf(commands);
        const replayed = replayOf(commands, live.log);
        expect(essence(replayed.state), `seed ${seed}, after ${cut} commands`).toEqual(essence(live.state));
        // And from there, the next command decides exactly what it would have decided live.
        const next = delivered[cut];
        if (next !== undefined && next.type !== 'ExpireActions') {
          const liveNext = planner.decide(next, live.state).filter((event) => !isPlannerInternalEvent(event));
          const replayNext = planner.decide(next, replayed.state).filter((event) => !isPlannerInternalEvent(event));
          expect(
            replayNext.map((event) => event.type),
            `seed ${seed}, command ${cut}`,
          ).toEqual(liveNext.map((event) => event.type));
        }
        points += 1;
      }
    }
    expect(points).toBeGreaterThan(800);
  });

  it('takes published events in any topic interleaving: an execution seen before its admission waits for it', () => {
    const events = [...executing('a1'), completed('a1', 'completed', 'succeeded', 'ok', T0 + 9 * SECOND, { cost_micros: 1_500 })];
    const published = events.filter((event): event is PlannerPublishedEvent => !isPlannerInternalEvent(event));
    const [admitted, execution, done] = published;
    if (admitted === undefined || execution === undefined || done === undefined) throw new Error('fixture');
    const start: StartRun = { type: 'StartRun', run_id: RUN, tenant_id: TENANT, agent_id: AGENT, goal: 'refund ticket 42', now: T0 };
    const result = replayRun(planner, { starts: [start], published: [execution, done, admitted], inputs: [] });
    expect(result.state.actions.get('a1')?.status).toBe('completed');
    expect(result.state.spend_micros).toBe(1_500);
    expect(result.state.steps).toBe(1);
    expect(result.orphans).toBe(0);
  });

  it('keeps a warrant that waits for its reservation, an answer held for a proposal not consumed yet, and counts inputs the decider refused', () => {
    const start: StartRun = { type: 'StartRun', run_id: RUN, tenant_id: TENANT, agent_id: AGENT, goal: 'refund ticket 42', now: T0 };
    const result = replayRun(planner, {
      starts: [start],
      published: admission('a1'),
      inputs: [
        propose('a1'),
        { type: 'RecordPolicyDecision', run_id: RUN, action_id: 'a1', verdict: { decision: 'allow', warrant: warrantFor('a1') }, now: T0 + 2 * SECOND },
        {
          type: 'RecordBudgetResult',
          run_id: RUN,
          action_id: 'next',
          result: { outcome: 'reserved', reservation: reservationFor('next') },
          now: T0 + 2 * SECOND,
        },
        {
          type: 'RecordExecutionOutcome',
          run_id: RUN,
          action_id: 'ghost',
          outcome: 'succeeded',
          cost_micros: 1,
          currency: 'USD',
          result_json: null,
          result_ref: null,
          error_code: null,
          message: 'ok',
          now: T0 + 3 * SECOND,
        },
      ],
    });
    expect(result.state.actions.get('a1')?.warrant).toEqual(warrantFor('a1'));
    expect(result.state.actions.get('a1')?.status).toBe('pending');
    expect(result.state.held.get('next')).toEqual([
      { kind: 'budget', result: { outcome: 'reserved', reservation: reservationFor('next') }, at: T0 + 2 * SECOND },
    ]);
    expect(result.refused).toBe(1);
    expect(evolveAll(planner, [runStarted()]).phase).toBe(result.state.phase);
  });
});
