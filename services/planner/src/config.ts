import { env } from '@writ/config';
import type { ConfigOf } from '@writ/config';
import type { BaseConfig } from '@writ/runtime';
import { DEFAULT_PLANNER_CONFIG } from '@writ/planner-core';

/** The planner's variables, on top of the common ones (WRIT_KAFKA_BROKERS, WRIT_HTTP_PORT, ...). */
export const plannerConfigSpec = {
  WRIT_KAFKA_GROUP_ID: env.string({ default: 'writ.planner' }),
  WRIT_TOOLS_DIR: env.string({ default: 'tools' }),
  WRIT_PLANNER_DECISION_TIMEOUT_MS: env.int({ default: DEFAULT_PLANNER_CONFIG.decision_timeout_ms, min: 10, max: 86_400_000 }),
  WRIT_PLANNER_APPROVAL_TIMEOUT_MS: env.int({ default: DEFAULT_PLANNER_CONFIG.approval_timeout_ms, min: 10, max: 30 * 86_400_000 }),
  WRIT_PLANNER_EXECUTION_START_TIMEOUT_MS: env.int({ default: DEFAULT_PLANNER_CONFIG.execution_start_timeout_ms, min: 10, max: 86_400_000 }),
  WRIT_PLANNER_EXECUTION_TIMEOUT_MS: env.int({ default: DEFAULT_PLANNER_CONFIG.execution_timeout_ms, min: 10, max: 86_400_000 }),
  WRIT_PLANNER_LOOP_THRESHOLD: env.int({ default: DEFAULT_PLANNER_CONFIG.default_loop_threshold, min: 2, max: 1000 }),
  WRIT_PLANNER_LOOP_WINDOW: env.int({ default: DEFAULT_PLANNER_CONFIG.default_loop_window, min: 1, max: 10_000 }),
  WRIT_PLANNER_DEFAULT_CURRENCY: env.string({ default: 'USD' }),
  /** The tenants this instance serves (ids, or prefixes ending in `*`; unset: all): TenantFilter in @writ/config. */
  WRIT_PLANNER_TENANTS: env.tenants(),
  WRIT_PLANNER_LINGER_MS: env.int({ default: 0, min: 0, max: 1000 }),
  /**
   * How long an admission (ActionAdmitted, which nobody waits on) waits for the planner's next
   * output, to share its transaction: the policy's and the budget's answers follow within
   * milliseconds, and their ExecutionRequested then does not queue behind a transaction of the
   * admission's own (docs/benchmarks.md, "Pipeline"). 0: admissions commit at once.
   */
  WRIT_PLANNER_ADMISSION_WAIT_MS: env.int({ default: 50, min: 0, max: 1000 }),
  WRIT_PLANNER_REPLAY_TIMEOUT_MS: env.int({ default: 120_000, min: 1000, max: 3_600_000 }),
};

export type PlannerServiceConfig = BaseConfig & ConfigOf<typeof plannerConfigSpec>;
