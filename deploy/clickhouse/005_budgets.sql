-- The budgets the budget service enforces (docs/budgets.md, "Budgets on the record"): one row per
-- budget and kind of cap (money, tool_calls) of each BudgetsConfigured, the announcement the budget
-- service makes at boot when a tenant's configuration changed. Every announcement stays (the
-- record of budget changes); the current one of a tenant is its latest (view current_budget_limits).
-- limit_value is micro-units of currency for money, a count for tool calls. An announcement read
-- twice (a restart, two replicas) has the same event id and digest: one row per key.
CREATE TABLE IF NOT EXISTS budget_limits (
  event_id String,
  tenant_id LowCardinality(String),
  config_sha256 String,
  configured_at DateTime64(3, 'UTC'),
  currency LowCardinality(String),
  time_zone LowCardinality(String),
  position UInt16,
  scope LowCardinality(String),
  level LowCardinality(String),
  period LowCardinality(String),
  subject String,
  window_ms Nullable(Int64),
  kind LowCardinality(String),
  limit_value Int64,
  thresholds_percent Array(UInt16),
  approval_at_percent Nullable(UInt16),
  reads_only_at_percent Nullable(UInt16)
) ENGINE = ReplacingMergeTree ORDER BY (tenant_id, event_id, position, kind);
