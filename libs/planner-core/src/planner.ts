import type { Decider } from '@writ/decider';
import type { PlannerCommand } from './commands.ts';
import { DEFAULT_PLANNER_CONFIG } from './config.ts';
import type { PlannerConfig } from './config.ts';
import { decidePlanner } from './decide.ts';
import type { PlannerEvent } from './events.ts';
import { evolvePlanner, initialPlannerState } from './evolve.ts';
import type { PlannerState } from './model.ts';

export type PlannerDecider = Decider<PlannerCommand, PlannerEvent, PlannerState>;

/**
 * The planner of one run as a decider: the run's limits, loop detection and kill switches, and
 * each action's saga (policy and budget asked at once, execution once both agree, exactly one
 * terminal ActionCompleted). State is keyed by run_id, like the topics.
 */
export function createPlannerDecider(config: Partial<PlannerConfig> = {}): PlannerDecider {
  const resolved: PlannerConfig = { ...DEFAULT_PLANNER_CONFIG, ...config };
  return {
    decide: (command, state) => decidePlanner(command, state, resolved),
    evolve: evolvePlanner,
    initialState: initialPlannerState,
  };
}

export const plannerDecider: PlannerDecider = createPlannerDecider();

/**
 * The next instant at which ExpireActions would change something (an action's deadline or the
 * run's wall clock), or null when nothing is waiting: the service schedules its timer on this.
 */
export function nextPlannerDeadline(state: PlannerState): number | null {
  let next: number | null = null;
  const consider = (instant: number): void => {
    if (next === null || instant < next) next = instant;
  };
  if (state.phase === 'active' && state.limits.wall_clock_ms !== null && state.started_at !== null) {
    consider(state.started_at + state.limits.wall_clock_ms);
  }
  state.open.forEach((deadline) => {
    if (deadline !== null) consider(deadline);
  });
  return next;
}

/**
 * The deadline an event gives an action or the run, or null when it sets none. A timer kept at
 * the earliest of these (and moved only when it fires, by nextPlannerDeadline) never fires after
 * a deadline: every other change can only end an action or move a deadline later. The service
 * keeps its timer that way, so a command costs no scan of the run's open actions.
 */
export function deadlineSetBy(event: PlannerEvent): number | null {
  switch (event.type) {
    case 'RunStarted':
      return event.limits.wall_clock_ms === null ? null : event.started_at + event.limits.wall_clock_ms;
    case 'ActionParked':
    case 'ActionAdmitted':
    case 'WarrantRecorded':
    case 'ActionAwaitingApproval':
      return event.deadline;
    case 'ExecutionRequested':
      return event.outcome_deadline;
    default:
      return null;
  }
}
