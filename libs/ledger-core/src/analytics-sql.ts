// The analytics views (docs/analytics.md): one SQL text per view over the analyst tables, written
// once and used twice. The ledger creates each as a ClickHouse view over its real tables, read
// deduplicated (FINAL), SQL SECURITY INVOKER so that a server analyst's row policies on those tables
// apply inside it; the analyst door inlines the same text as a WITH subquery over the tenant-scoped
// tables it already defines, so a view never sees another tenant's rows through the door either.

/** A table a view reads, as the view's SQL names it: `actions FINAL` in the DDL, the door's scoped `actions`. */
export type TableRef = (table: 'actions' | 'decisions' | 'budget_limits') => string;

/** The DDL's reading: the real table, one row per key. */
export const FINAL_TABLES: TableRef = (table) => `${table} FINAL`;
/** The door's reading: its WITH subquery of the same name, already one row per key and one tenant. */
export const SCOPED_TABLES: TableRef = (table) => table;

/** A view over the analyst tables; every one has a tenant_id column (of the rows it was made from). */
export interface AnalystView {
  readonly name: string;
  readonly sql: (from: TableRef) => string;
}

/** The baseline of the analyst view drift_scores, in days (the drift check's is WRIT_LEDGER_DRIFT_BASELINE_DAYS). */
export const DRIFT_VIEW_BASELINE_DAYS = 7;

/** An action's drift category: status:REASON_CODE of its ActionCompleted (just the status for completions before reason codes). */
export const DRIFT_CATEGORY_SQL = "if(reason_code = '', status, concat(status, ':', reason_code))";

/**
 * Per tenant, agent, tool, day and category: the live actions that ended that way on the day
 * (`actions`) and over the `baselineDays` days before it (`baseline_actions`), from the rollup
 * daily_endings. Each rollup row counts for its own day (offset 0) and as baseline for the
 * `baselineDays` days after it. `baselineDays` and `day` are SQL (a literal or a query parameter);
 * with `day`, only that day is measured (and only the rows it needs are read).
 */
export function driftCategoriesSql(baselineDays: string, day?: string): string {
  const window = day === undefined ? '' : ` AND day >= ${day} - ${baselineDays} AND day <= ${day}`;
  const only = day === undefined ? '' : `\nWHERE target_day = ${day}`;
  return `SELECT tenant_id, agent_id, tool, target_day AS day, category,
  sumIf(n, offset = 0) AS actions, sumIf(n, offset > 0) AS baseline_actions
FROM (
  SELECT tenant_id, agent_id, tool, ${DRIFT_CATEGORY_SQL} AS category, actions AS n,
    arrayJoin(range(0, toUInt32(${baselineDays}) + 1)) AS offset, day + offset AS target_day
  FROM daily_endings
  WHERE run_mode = 'live'${window}
)${only}
GROUP BY tenant_id, agent_id, tool, target_day, category`;
}

/** One half of the Jensen-Shannon sum for the categories array `c` of (category, day count, baseline count), totals `t` and `b`. */
function jsTerm(count: string, total: string, other: string, otherTotal: string): string {
  return `if(${count} = 0, 0, (${count} / ${total}) * log2((${count} / ${total}) / ((${count} / ${total} + ${other} / ${otherTotal}) / 2)))`;
}

const DRIFT_SCORES_SQL = `SELECT tenant_id, agent_id, tool, day,
  sum(actions) AS day_actions, sum(baseline_actions) AS baseline_total,
  arraySort(c -> (-c.2, -c.3, c.1), groupArray((category, actions, baseline_actions))) AS distribution
FROM (${driftCategoriesSql(String(DRIFT_VIEW_BASELINE_DAYS))})
GROUP BY tenant_id, agent_id, tool, day
HAVING day_actions > 0`;

/** Columns of drift_scores from the aggregation above: the score is docs/analytics.md's, as jensenShannonDivergence computes it. */
const DRIFT_SCORES_VIEW = `SELECT tenant_id, agent_id, tool, day,
  day_actions AS actions, baseline_total AS baseline_actions, toUInt16(${DRIFT_VIEW_BASELINE_DAYS}) AS baseline_days,
  if(baseline_total = 0, NULL, round(arraySum(c -> (${jsTerm('c.2', 'day_actions', 'c.3', 'baseline_total')} + ${jsTerm('c.3', 'baseline_total', 'c.2', 'day_actions')}) / 2, distribution), 6)) AS score,
  if(baseline_total = 0, NULL, round(day_actions / (baseline_total / ${DRIFT_VIEW_BASELINE_DAYS}), 4)) AS volume_ratio,
  arrayMap(c -> c.1, distribution) AS categories,
  arrayMap(c -> c.2, distribution) AS category_actions,
  arrayMap(c -> c.3, distribution) AS category_baseline_actions
FROM (${DRIFT_SCORES_SQL})`;

/**
 * The analytics views, in the order they are defined (a view may read the ones before it).
 * Live runs only (run_mode = 'live'): a shadow run's actions are rehearsals (the shadow tables and
 * `actions WHERE run_mode = 'shadow'` answer for them).
 */
export const ANALYST_VIEWS: readonly AnalystView[] = Object.freeze([
  {
    // Per agent and UTC day of proposal: how its actions went.
    name: 'agent_scorecards',
    sql: (from) => `SELECT a.tenant_id AS tenant_id, a.agent_id AS agent_id, toDate(a.proposed_at) AS day,
  count() AS actions,
  countIf(a.status != '') AS ended,
  countIf(a.status = 'completed' OR a.reconciled_outcome = 'succeeded') AS succeeded,
  if(ended = 0, NULL, round(succeeded / ended, 4)) AS success_rate,
  countIf(a.status = 'failed') AS failed,
  countIf(a.status = 'denied') AS denied,
  countIf(a.status = 'rejected') AS rejected,
  countIf(a.status = 'refused') AS refused,
  countIf(a.status = 'expired') AS expired,
  countIf(a.outcome = 'unknown') AS unknown_outcomes,
  countIf(a.outcome = 'unknown' AND a.reconciled_outcome = '') AS unresolved_unknowns,
  countIf(h.held = 1) AS approvals_requested,
  countIf(h.held = 1 AND a.decision = 'allow') AS approvals_granted,
  if(approvals_requested = 0, NULL, round(approvals_granted / approvals_requested, 4)) AS approval_rate,
  sumMapIf(map(a.currency, a.cost_micros), a.currency != '') AS spend_micros
FROM (
  SELECT tenant_id, action_id, agent_id, proposed_at, status, reconciled_outcome, outcome, decision, currency, cost_micros
  FROM ${from('actions')} WHERE run_mode = 'live'
) AS a
LEFT JOIN (
  SELECT tenant_id, action_id, toUInt8(1) AS held FROM ${from('decisions')} WHERE decision = 'approval_required' GROUP BY tenant_id, action_id
) AS h ON a.tenant_id = h.tenant_id AND a.action_id = h.action_id
GROUP BY tenant_id, agent_id, day`,
  },
  {
    // Per agent, tool, UTC day of proposal and currency: what the ended actions cost per success.
    name: 'cost_per_success',
    sql: (from) => `SELECT tenant_id, agent_id, tool, toDate(proposed_at) AS day, currency,
  count() AS ended,
  countIf(status = 'completed' OR reconciled_outcome = 'succeeded') AS successes,
  sum(cost_micros) AS spent_micros,
  if(successes = 0, NULL, toInt64(round(spent_micros / successes))) AS cost_per_success_micros
FROM ${from('actions')}
WHERE run_mode = 'live' AND status != ''
GROUP BY tenant_id, agent_id, tool, day, currency`,
  },
  {
    // Per tool and UTC day of the request: approvals asked for, how they were answered, and how long it took.
    name: 'approval_latency',
    sql: (from) => `SELECT r.tenant_id AS tenant_id, a.tool AS tool, toDate(r.requested_at) AS day,
  count() AS requests,
  countIf(r.verdict = 'allow') AS approved,
  countIf(r.verdict = 'deny') AS denied,
  countIf(r.verdict = '' AND a.status = 'expired') AS expired,
  countIf(r.verdict = '' AND a.status = '') AS pending,
  countIf(r.verdict != '') AS answered,
  if(answered = 0, NULL, quantileExactInclusiveIf(0.5)(r.latency_seconds, r.verdict != '')) AS p50_seconds,
  if(answered = 0, NULL, quantileExactInclusiveIf(0.9)(r.latency_seconds, r.verdict != '')) AS p90_seconds,
  if(answered = 0, NULL, maxIf(r.latency_seconds, r.verdict != '')) AS max_seconds
FROM (
  SELECT tenant_id, action_id, requested.1 AS requested_at, answer.2 AS verdict,
    if(verdict = '', 0, dateDiff('millisecond', requested_at, answer.1) / 1000) AS latency_seconds
  FROM (
    SELECT tenant_id, action_id, arraySort(groupArray((decided_at, decision))) AS history,
      arrayFirstIndex(x -> x.2 = 'approval_required', history) AS held,
      history[held] AS requested,
      arrayFirst((x, i) -> i > held AND x.2 != 'approval_required', history, arrayEnumerate(history)) AS answer
    FROM ${from('decisions')}
    GROUP BY tenant_id, action_id
    HAVING held > 0
  )
) AS r
INNER JOIN (
  SELECT tenant_id, action_id, tool, status FROM ${from('actions')} WHERE run_mode = 'live'
) AS a ON a.tenant_id = r.tenant_id AND a.action_id = r.action_id
GROUP BY tenant_id, tool, day`,
  },
  {
    // Per UTC day, policy and tool: the denials each policy determined ('' : no policy permitted the action, the default deny).
    name: 'denials_by_policy',
    sql: (from) => `SELECT d.tenant_id AS tenant_id, toDate(d.decided_at) AS day, d.policy_id AS policy_id, a.tool AS tool,
  count() AS denials, uniqExact(d.action_id) AS actions, uniqExact(d.agent_id) AS agents
FROM (
  SELECT tenant_id, action_id, agent_id, decided_at, arrayJoin(if(empty(determining_policies), [''], determining_policies)) AS policy_id
  FROM ${from('decisions')} WHERE decision = 'deny'
) AS d
INNER JOIN (
  SELECT tenant_id, action_id, tool FROM ${from('actions')} WHERE run_mode = 'live'
) AS a ON a.tenant_id = d.tenant_id AND a.action_id = d.action_id
GROUP BY tenant_id, day, policy_id, tool`,
  },
  {
    // Each tenant's budgets as last announced (BudgetsConfigured): the rows of its latest configuration.
    name: 'current_budget_limits',
    sql: (from) => `SELECT tenant_id, config_sha256, configured_at, currency, time_zone, position, scope, level, period, subject, window_ms, kind,
  limit_value, thresholds_percent, approval_at_percent, reads_only_at_percent
FROM ${from('budget_limits')}
WHERE (tenant_id, event_id) IN (SELECT tenant_id, argMax(event_id, configured_at) FROM ${from('budget_limits')} GROUP BY tenant_id)`,
  },
  {
    // Per agent, tool and UTC day of ending: the drift score against the 7 days before (docs/analytics.md, "Drift").
    name: 'drift_scores',
    sql: () => DRIFT_SCORES_VIEW,
  },
]);

/** The view names an analyst may read (beside ANALYST_TABLES). */
export const ANALYST_VIEW_NAMES: readonly string[] = Object.freeze(ANALYST_VIEWS.map((view) => view.name));

/**
 * The DDL of the views (after the tables they read): CREATE OR REPLACE, so a boot brings a changed
 * definition in; SQL SECURITY INVOKER, so a server analyst's row policies on the tables apply.
 */
export function analystViewStatements(): string[] {
  return ANALYST_VIEWS.map((view) => `CREATE OR REPLACE VIEW ${view.name} SQL SECURITY INVOKER AS\n${view.sql(FINAL_TABLES)}`);
}
