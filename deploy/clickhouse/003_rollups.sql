-- Daily rollups, kept up to date by materialized views as rows arrive. The projection inserts a
-- decision, shadow result or settlement only once (it skips event ids already present), so the sums are exact;
-- read them with sum() ... GROUP BY, as SummingMergeTree merges in the background.
CREATE TABLE IF NOT EXISTS daily_spend (
  tenant_id LowCardinality(String),
  agent_id String,
  day Date,
  currency LowCardinality(String),
  cost_micros Int64,
  settlements UInt64
) ENGINE = SummingMergeTree ORDER BY (tenant_id, agent_id, day, currency);

CREATE MATERIALIZED VIEW IF NOT EXISTS daily_spend_mv TO daily_spend AS
SELECT tenant_id, agent_id, toDate(settled_at) AS day, currency, sum(cost_micros) AS cost_micros, count() AS settlements
FROM spend
GROUP BY tenant_id, agent_id, day, currency;

CREATE TABLE IF NOT EXISTS daily_decisions (
  tenant_id LowCardinality(String),
  agent_id String,
  day Date,
  decision LowCardinality(String),
  decisions UInt64
) ENGINE = SummingMergeTree ORDER BY (tenant_id, agent_id, day, decision);

CREATE MATERIALIZED VIEW IF NOT EXISTS daily_decisions_mv TO daily_decisions AS
SELECT tenant_id, agent_id, toDate(decided_at) AS day, decision, count() AS decisions
FROM decisions
GROUP BY tenant_id, agent_id, day, decision;

-- Where shadow-mode policies disagree with what was enforced: per tenant, shadow policy and day,
-- how many decisions it was evaluated on and on how many its decision differed from the enforced one.
CREATE TABLE IF NOT EXISTS daily_shadow_disagreements (
  tenant_id LowCardinality(String),
  policy_id String,
  day Date,
  evaluations UInt64,
  disagreements UInt64
) ENGINE = SummingMergeTree ORDER BY (tenant_id, policy_id, day);

CREATE MATERIALIZED VIEW IF NOT EXISTS daily_shadow_disagreements_mv TO daily_shadow_disagreements AS
SELECT tenant_id, policy_id, toDate(decided_at) AS day, count() AS evaluations, sum(disagrees) AS disagreements
FROM shadow_results
GROUP BY tenant_id, policy_id, day;
