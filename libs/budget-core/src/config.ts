export interface BudgetConfig {
  /** A reservation lapses this long after it was made. Longer than the planner's approval wait plus execution. */
  readonly reservation_ttl_ms: number;
  /** Percentages of a cap at which BudgetThresholdCrossed is announced, once per counter and period. */
  readonly thresholds_percent: readonly number[];
  /** Closed reservations are remembered this long (redelivered commands stay no-ops), then forgotten. */
  readonly retention_ms: number;
}

export const DEFAULT_BUDGET_CONFIG: BudgetConfig = {
  reservation_ttl_ms: 60 * 60_000,
  thresholds_percent: [50, 80, 100],
  retention_ms: 48 * 60 * 60_000,
};
