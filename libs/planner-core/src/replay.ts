import { evolveAll } from '@writ/decider';
import type { PlannerCommand, StartRun } from './commands.ts';
import type { PlannerEvent, PlannerPublishedEvent } from './events.ts';
import { isPlannerInternalEvent } from './events.ts';
import type { PlannerState } from './model.ts';
import type { PlannerDecider } from './planner.ts';

/** What a restarted planner knows about one run from the topics. */
export interface RunHistory {
  /** The run's StartRun commands (from RunStarted events it had consumed). */
  readonly starts: readonly StartRun[];
  /** What the planner published for the run, in the order it published it (ties: any order). */
  readonly published: readonly PlannerPublishedEvent[];
  /** Every other command the planner had consumed for the run (committed offsets), in each topic's order. */
  readonly inputs: readonly PlannerCommand[];
}

export interface ReplayResult {
  readonly state: PlannerState;
  /** Inputs the decider refused (they went to the dead-letter queue when they first came). */
  readonly refused: number;
  /** Published events whose action was never admitted or rejected in the history (left out). */
  readonly orphans: number;
}

/** Events about an action that only make sense once the action is known. */
function needsKnownAction(event: PlannerPublishedEvent): boolean {
  return event.type === 'ExecutionRequested' || event.type === 'ActionCompleted' || event.type === 'BudgetReleaseRequested';
}

function known(state: PlannerState, event: PlannerPublishedEvent): boolean {
  return !('action_id' in event) || state.actions.has(event.action_id);
}

/**
 * Rebuilds a run's state after a restart without publishing anything:
 *
 * 1. the run's start (the RunStarted its StartRun decides; the gateway published it, not the planner);
 * 2. everything the planner published, folded as it is: the published events are the record of
 *    every transition, so a restart neither repeats nor loses one, and timer expiries need no
 *    clock (their ActionCompleted is in the record);
 * 3. the consumed inputs, decided again only for the planner's internal events (a warrant or a
 *    reservation that waits for its partner, an approval wait, a proposal parked before its run
 *    started). What those decisions would publish is already in step 2 and is dropped.
 *
 * Published events come from several topics, so their interleaving is approximate: an event about
 * an action not yet known waits until the admission arrives, and evolve never moves an action back.
 */
export function replayRun(decider: PlannerDecider, history: RunHistory): ReplayResult {
  let state = decider.initialState();
  let refused = 0;
  for (const start of history.starts) {
    try {
      const started = decider.decide(start, state).filter((event) => event.type === 'RunStarted');
      state = evolveAll(decider, started, state);
    } catch {
      refused += 1;
    }
  }

  let waiting: PlannerPublishedEvent[] = [];
  const apply = (event: PlannerEvent): void => {
    state = decider.evolve(state, event);
  };
  /** Applies the held events whose action is now known; returns the others. */
  const drain = (held: readonly PlannerPublishedEvent[]): PlannerPublishedEvent[] => {
    const still: PlannerPublishedEvent[] = [];
    for (const event of held) {
      if (known(state, event)) apply(event);
      else still.push(event);
    }
    return still;
  };
  for (const event of history.published) {
    if (event.type === 'RunStarted') continue;
    if (needsKnownAction(event) && !known(state, event)) {
      waiting.push(event);
      continue;
    }
    apply(event);
    if (waiting.length > 0 && (event.type === 'ActionAdmitted' || event.type === 'ActionRejected')) waiting = drain(waiting);
  }

  for (const command of history.inputs) {
    if (command.type === 'StartRun') continue;
    // An action with published events but no admission or rejection was parked before its run
    // started (and ended there): park it again, whatever the run did later, then apply them.
    const parkedLive =
      command.type === 'ProposeAction' &&
      !state.actions.has(command.action_id) &&
      waiting.some((held) => 'action_id' in held && held.action_id === command.action_id);
    let events: readonly PlannerEvent[];
    try {
      events = decider.decide(command, parkedLive ? { ...state, phase: 'not_started' } : state);
    } catch {
      refused += 1;
      continue;
    }
    state = evolveAll(decider, events.filter(isPlannerInternalEvent), state);
    if (parkedLive) waiting = drain(waiting);
  }
  return { state, refused, orphans: waiting.length };
}
