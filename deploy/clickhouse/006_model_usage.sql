-- Model calls through the model proxy (docs/model-proxy.md): one row per ModelUsage, the executor's
-- record of a completed call's tokens (the provider's own usage) and its cost at the model's
-- price table (what the budget settled). Per run, agent and model:
--   SELECT model, sum(input_tokens), sum(output_tokens), sum(cost_micros) FROM model_usage WHERE run_id = ... GROUP BY model
-- An event read twice (a batch projected again) has the same event id: one row per key.
CREATE TABLE IF NOT EXISTS model_usage (
  event_id String,
  tenant_id LowCardinality(String),
  run_id String,
  agent_id String,
  action_id String,
  model LowCardinality(String),
  input_tokens Int64,
  output_tokens Int64,
  cost_micros Int64,
  currency LowCardinality(String),
  used_at DateTime64(3, 'UTC')
) ENGINE = ReplacingMergeTree ORDER BY (tenant_id, run_id, agent_id, model, event_id);
