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
  /** Gauge: actions of a tenant awaiting a person's approval, as the gateway's read model holds them. */
  gatewayApprovalsPending: 'writ.gateway.approvals_pending',
  /** Gauge: how long the tenant's oldest pending approval has waited, in seconds (since the policy asked for it). */
  gatewayApprovalOldestAgeSeconds: 'writ.gateway.approval_oldest_age_seconds',
  /** Gauge: actions of a tenant whose outcome is unknown and not reconciled yet (the operators' queue). */
  gatewayReconciliationPending: 'writ.gateway.reconciliation_pending',
  /** An action ended (ActionCompleted published by the planner), by terminal status and reason code. */
  plannerActionsCompleted: 'writ.planner.actions_completed',
  /** A proposal rejected as a loop (ActionRejected LOOP_DETECTED published). */
  plannerLoopDetections: 'writ.planner.loop_detections',
  /** A decision published (PolicyDecided), by result and determining policies. */
  policyDecisions: 'writ.policy.decisions',
  /** An approval verdict recorded (ApprovalRecorded published), accepted or not. */
  policyApprovalsRecorded: 'writ.policy.approvals_recorded',
  /** A reservation made (BudgetReserved published). */
  budgetReservations: 'writ.budget.reservations',
  /** Money reserved (BudgetReserved.amount_micros), in micro-units of the currency. */
  budgetReservedMicros: 'writ.budget.reserved_micros',
  /** Money charged for executions (BudgetSettled settled: actual_cost_micros), in micro-units of the currency. */
  budgetSpentMicros: 'writ.budget.spent_micros',
  /** Money given back (BudgetSettled: released_micros; released, expired or the rest of a settlement). */
  budgetReleasedMicros: 'writ.budget.released_micros',
  /** Gauge: what a configured budget has used in its current period (settled and reserved), money in micros or tool calls. */
  budgetUsed: 'writ.budget.used',
  /** Gauge: the cap of a configured budget, money in micros or tool calls. */
  budgetLimit: 'writ.budget.limit',
  /** A tool call made (at least one attempt went out), by its outcome. */
  executorCalls: 'writ.executor.calls',
  /** An execution that failed (ActionFailed published), by error code: calls that failed and requests refused before a call. */
  executorErrors: 'writ.executor.errors',
  /** Attempts beyond the first of the tool calls made. */
  executorRetries: 'writ.executor.retries',
  /** Histogram: how long a tool call took, its attempts and backoffs included, in seconds. */
  executorCallDurationSeconds: 'writ.executor.call_duration_seconds',
  /** Gauge: each tool's circuit breaker, 1 for its current state (closed, open, half_open) and 0 for the others. */
  executorBreakerState: 'writ.executor.breaker_state',
  /** A ledger entry chained (LedgerEntry published). */
  ledgerEntries: 'writ.ledger.entries',
  /** Gauge: records of the committed chain not yet in ClickHouse. */
  ledgerProjectionLag: 'writ.ledger.projection_lag',
  /** A drift announced by the ledger's drift check (DriftDetected published): once per tenant, agent, tool and day. */
  ledgerDriftDetected: 'writ.ledger.drift_detected',
  /** Gauge: records of a topic that a service's consumer group has not committed yet (its lag), per group and topic. */
  consumerLag: 'writ.consumer.lag',
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
  /** Whom automatic safe mode switched (agent or tenant); whose budget (an agent's id, a tool's name, or "*": the tenant). */
  subject: 'subject',
  /** What tripped automatic safe mode: error_rate, denial_rate or spend. */
  trigger: 'trigger',
  /** An agent's id. */
  agent: 'agent',
  /** How an action ended: completed, failed, denied, rejected, refused or expired. */
  status: 'status',
  /** A stable code: ActionCompleted.reason_code (SUCCEEDED, POLICY_DENIED, ...). */
  reasonCode: 'reason_code',
  /** A policy decision: allow, deny or approval_required. */
  decision: 'decision',
  /** The policies that determined a decision, their ids joined by "," (usually one; "none" for a default deny). */
  policy: 'policy',
  /** Whether an approval verdict was accepted: true or false. */
  accepted: 'accepted',
  /** An approval verdict: approve or deny. */
  verdict: 'verdict',
  /** How a tool call ended: succeeded, failed or unknown. */
  outcome: 'outcome',
  /** ActionFailed.error_code: a stable code (HTTP_5XX, TIMEOUT, CIRCUIT_OPEN, ...). */
  errorCode: 'error_code',
  /** A circuit breaker's state: closed, open or half_open. */
  state: 'state',
  /** A Kafka consumer group. */
  group: 'group',
  /** A Kafka topic. */
  topic: 'topic',
} as const;
