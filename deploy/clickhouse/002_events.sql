-- Every chained event. payload is the event as JSON with sensitive tool fields redacted.
CREATE TABLE IF NOT EXISTS events (
  event_id String,
  event_type LowCardinality(String),
  schema_version UInt16,
  topic LowCardinality(String),
  partition UInt32,
  offset UInt64,
  tenant_id LowCardinality(String),
  run_id String,
  action_id Nullable(String),
  agent_id String,
  causation_id Nullable(String),
  producer LowCardinality(String),
  occurred_at DateTime64(3, 'UTC'),
  chain_seq UInt64,
  payload String
) ENGINE = ReplacingMergeTree ORDER BY (tenant_id, run_id, event_id);

-- One row per action, its latest state (the row with the highest chain seq wins).
CREATE TABLE IF NOT EXISTS actions (
  tenant_id LowCardinality(String),
  action_id String,
  run_id String,
  agent_id String,
  tool LowCardinality(String),
  tool_version String,
  idempotency_key String,
  reason String,
  arguments String,
  args_sha256 String,
  stage LowCardinality(String),
  decision LowCardinality(String),
  determining_policies Array(String),
  approved_by String,
  reservation_id String,
  status LowCardinality(String),
  status_reason String,
  outcome LowCardinality(String),
  cost_micros Int64,
  currency LowCardinality(String),
  proposed_at DateTime64(3, 'UTC'),
  updated_at DateTime64(3, 'UTC'),
  version UInt64
) ENGINE = ReplacingMergeTree(version) ORDER BY (tenant_id, action_id);

CREATE TABLE IF NOT EXISTS decisions (
  event_id String,
  tenant_id LowCardinality(String),
  run_id String,
  action_id String,
  agent_id String,
  decision LowCardinality(String),
  determining_policies Array(String),
  policy_set_hash String,
  errors Array(String),
  decided_at DateTime64(3, 'UTC')
) ENGINE = ReplacingMergeTree ORDER BY (tenant_id, action_id, event_id);

CREATE TABLE IF NOT EXISTS approvals (
  event_id String,
  tenant_id LowCardinality(String),
  run_id String,
  action_id String,
  agent_id String,
  kind LowCardinality(String),
  approver_id String,
  approver_role LowCardinality(String),
  verdict LowCardinality(String),
  accepted Nullable(UInt8),
  comment String,
  at DateTime64(3, 'UTC')
) ENGINE = ReplacingMergeTree ORDER BY (tenant_id, action_id, event_id);

-- Settled cost, one row per BudgetSettled.
CREATE TABLE IF NOT EXISTS spend (
  event_id String,
  tenant_id LowCardinality(String),
  agent_id String,
  run_id String,
  action_id String,
  reservation_id String,
  cost_micros Int64,
  released_micros Int64,
  currency LowCardinality(String),
  settled_at DateTime64(3, 'UTC')
) ENGINE = ReplacingMergeTree ORDER BY (tenant_id, agent_id, run_id, event_id);
