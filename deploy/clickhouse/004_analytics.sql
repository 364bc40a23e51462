-- Analytics (docs/analytics.md): how each action ended, per day; the drift alerts. The views over
-- these tables (agent_scorecards, cost_per_success, approval_latency, denials_by_policy,
-- drift_scores) are created after this file by the ledger, from libs/ledger-core/src/analytics-sql.ts,
-- which the analyst door shares.

-- reason_code (ActionCompleted v2): the stable code of how the action ended (SUCCEEDED,
-- POLICY_DENIED, BUDGET_REFUSED, OUTCOME_UNKNOWN, APPROVAL_TIMEOUT, ...); '' until it ended and for
-- completions written before v2. ended_at: its ActionCompleted's time; NULL until then. Added to
-- tables created before they existed.
ALTER TABLE actions ADD COLUMN IF NOT EXISTS reason_code LowCardinality(String) DEFAULT '' AFTER status_reason;
ALTER TABLE actions ADD COLUMN IF NOT EXISTS ended_at Nullable(DateTime64(3, 'UTC')) AFTER reason_code;

-- One row per action that ended: its ActionCompleted, as soon as its proposal is chained too (the
-- two travel on different topics and may be chained in either order), so agent, tool and run mode
-- are known. Inserted once per action (the projection skips action ids already present), so the
-- rollup below counts each action once.
CREATE TABLE IF NOT EXISTS endings (
  tenant_id LowCardinality(String),
  action_id String,
  run_id String,
  agent_id String,
  tool LowCardinality(String),
  run_mode LowCardinality(String),
  status LowCardinality(String),
  reason_code LowCardinality(String),
  cost_micros Int64,
  currency LowCardinality(String),
  proposed_at DateTime64(3, 'UTC'),
  ended_at DateTime64(3, 'UTC')
) ENGINE = ReplacingMergeTree ORDER BY (tenant_id, action_id);

-- How actions ended per tenant, agent, tool and UTC day of ending: the drift check and drift_scores
-- read it (a few rows per agent, tool and day, however many actions). Read with sum() ... GROUP BY.
CREATE TABLE IF NOT EXISTS daily_endings (
  tenant_id LowCardinality(String),
  agent_id String,
  tool LowCardinality(String),
  day Date,
  run_mode LowCardinality(String),
  status LowCardinality(String),
  reason_code LowCardinality(String),
  currency LowCardinality(String),
  actions UInt64,
  cost_micros Int64
) ENGINE = SummingMergeTree ORDER BY (tenant_id, agent_id, tool, day, run_mode, status, reason_code, currency);

CREATE MATERIALIZED VIEW IF NOT EXISTS daily_endings_mv TO daily_endings AS
SELECT tenant_id, agent_id, tool, toDate(ended_at) AS day, run_mode, status, reason_code, currency, count() AS actions, sum(cost_micros) AS cost_micros
FROM endings
GROUP BY tenant_id, agent_id, tool, day, run_mode, status, reason_code, currency;

-- One row per DriftDetected (writ.ledger.v1): the ledger's drift check found that how an agent's
-- actions with one tool ended on a day diverged from the baseline days before it. At most one per
-- tenant, agent, tool and day (the key below; the event id is derived from the same four).
CREATE TABLE IF NOT EXISTS drift_alerts (
  event_id String,
  tenant_id LowCardinality(String),
  agent_id String,
  tool LowCardinality(String),
  day Date,
  score Float64,
  threshold Float64,
  actions UInt64,
  baseline_actions UInt64,
  baseline_days UInt16,
  volume_ratio Nullable(Float64),
  categories Array(String),
  category_actions Array(UInt64),
  category_baseline_actions Array(UInt64),
  detected_at DateTime64(3, 'UTC')
) ENGINE = ReplacingMergeTree ORDER BY (tenant_id, day, agent_id, tool);
