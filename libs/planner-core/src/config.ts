/** How long an action may wait in each phase before ExpireActions ends it. */
export interface PlannerConfig {
  /** Proposal (or admission) to a policy decision and a budget answer; also the grace for a run to start. */
  readonly decision_timeout_ms: number;
  /** Waiting for an approver. Keep it below the accountant's reservation TTL: the reservation is held meanwhile. */
  readonly approval_timeout_ms: number;
  /** ExecutionRequested to the executor starting the call (ExecutionRequested.deadline). */
  readonly execution_start_timeout_ms: number;
  /** After that, to an outcome: more than the tool's timeout with its retries. */
  readonly execution_timeout_ms: number;
  /** Window of RunStats.tool_calls_in_window. */
  readonly rate_window_ms: number;
  /** loop_threshold when RunStarted does not set one. */
  readonly default_loop_threshold: number;
  /** loop_window when RunStarted does not set one (raised to loop_threshold - 1 when smaller). */
  readonly default_loop_window: number;
}

export const DEFAULT_PLANNER_CONFIG: PlannerConfig = {
  decision_timeout_ms: 30_000,
  approval_timeout_ms: 30 * 60_000,
  execution_start_timeout_ms: 10_000,
  execution_timeout_ms: 5 * 60_000,
  rate_window_ms: 60_000,
  default_loop_threshold: 3,
  default_loop_window: 10,
};
