/**
 * Span attribute names of Writ's own spans, in one place. Messaging attributes of Kafka hops are
 * set by @writ/bus. Values never include tool arguments or results: they may carry secrets.
 */
export const WRIT_ATTR = {
  tenantId: 'writ.tenant_id',
  runId: 'writ.run_id',
  actionId: 'writ.action_id',
  agentId: 'writ.agent_id',
  tool: 'writ.tool',
  decision: 'writ.policy.decision',
  determiningPolicies: 'writ.policy.determining_policies',
  budgetResult: 'writ.budget.result',
  budgetScope: 'writ.budget.scope',
  toolOutcome: 'writ.tool.outcome',
  terminalStatus: 'writ.action.status',
} as const;

/**
 * Names of Writ's metrics (OpenTelemetry instrument names, on the meter `writ`: see metrics.ts).
 * The Prometheus exporter turns each `.` into `_` and adds `_total` to a counter, so
 * `writ.budget.refusals` is scraped as `writ_budget_refusals_total`: never end a name with `_total`.
 */
export const WRIT_METRIC = {
  /** A budget threshold announced (BudgetThresholdCrossed published): once per threshold, budget and period. */
  budgetThresholdsCrossed: 'writ.budget.thresholds_crossed',
  /** A reservation refused (BudgetRefused published). */
  budgetRefusals: 'writ.budget.refusals',
  /** A call whose result broke its tool's declared cost: above `cost.max_micros`, or no usable cost reported. */
  executorCostBreaches: 'writ.executor.cost_breaches',
  /** By how much reported costs exceeded `cost.max_micros`, in micro-units of the tool's currency. */
  executorCostBreachExcessMicros: 'writ.executor.cost_breach_excess_micros',
  /** An agent or a tenant switched to safe mode by the gateway itself (its ControlChanged published). */
  gatewaySafeModeTrips: 'writ.gateway.safe_mode_trips',
} as const;

/**
 * Attribute names of Writ's metrics (Prometheus labels). Short, as a scrape shows them; values are
 * ids, names and enumerations with few values only: never arguments, results, reasons or secrets.
 */
export const WRIT_METRIC_ATTR = {
  tenant: 'tenant',
  /** A budget's scope: run, agent_day, tenant_month, tool_window, ... */
  scope: 'scope',
  /** What a budget counts: money or tool_calls. */
  kind: 'kind',
  thresholdPercent: 'threshold_percent',
  /** Why a budget refused: cap or reads_only. */
  rule: 'rule',
  /** A tool's name (without its version). */
  tool: 'tool',
  /** How a tool broke its cost contract: over_max or unreported. */
  breach: 'breach',
  currency: 'currency',
  /** Whom automatic safe mode switched: agent or tenant. */
  subject: 'subject',
  /** What tripped automatic safe mode: error_rate, denial_rate or spend. */
  trigger: 'trigger',
} as const;
