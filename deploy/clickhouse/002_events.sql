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
  reason_code LowCardinality(String) DEFAULT '',
  ended_at Nullable(DateTime64(3, 'UTC')),
  outcome LowCardinality(String),
  cost_micros Int64,
  currency LowCardinality(String),
  run_mode LowCardinality(String) DEFAULT 'live',
  reconciled_outcome LowCardinality(String) DEFAULT '',
  reconciled_by String DEFAULT '',
  reconciled_at Nullable(DateTime64(3, 'UTC')),
  model_name LowCardinality(String) DEFAULT '',
  model_provider LowCardinality(String) DEFAULT '',
  model_version LowCardinality(String) DEFAULT '',
  prompt_version LowCardinality(String) DEFAULT '',
  retrieved_document_ids Array(String),
  retrieved_document_versions Array(String),
  retrieved_document_sha256 Array(String),
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
  warnings Array(String),
  decided_at DateTime64(3, 'UTC')
) ENGINE = ReplacingMergeTree ORDER BY (tenant_id, action_id, event_id);

-- warnings (PolicyDecided v4): the warn-mode policies that would have changed the decision, which
-- was enforced without them; [] when none would, and on decisions recorded before v4. Added to a
-- decisions table created before it existed.
ALTER TABLE decisions ADD COLUMN IF NOT EXISTS warnings Array(String) AFTER errors;

-- One row per decision and shadow-mode policy (PolicyDecided v4 shadow_results): what the decision
-- would have been had the shadow policy been enforced too. Recorded on every decision, never
-- enforced. disagrees is 1 when shadow_decision differs from enforced_decision.
CREATE TABLE IF NOT EXISTS shadow_results (
  event_id String,
  tenant_id LowCardinality(String),
  run_id String,
  action_id String,
  agent_id String,
  policy_set_hash String,
  policy_id String,
  enforced_decision LowCardinality(String),
  shadow_decision LowCardinality(String),
  shadow_determining_policies Array(String),
  disagrees UInt8,
  decided_at DateTime64(3, 'UTC')
) ENGINE = ReplacingMergeTree ORDER BY (tenant_id, policy_id, event_id);

-- One row per PolicySetPublished (writ.policysets.v1): a policy set became its stream's current
-- one, by a publication, a rollback (an earlier set published again) or a PDP's bootstrap. The
-- policies are counted and named here, not copied: their texts are in the event's payload (events).
CREATE TABLE IF NOT EXISTS policy_publications (
  event_id String,
  tenant_id LowCardinality(String),
  stream LowCardinality(String),
  sequence UInt32,
  policy_set_hash String,
  previous_hash Nullable(String),
  version String,
  origin LowCardinality(String),
  author String,
  message String,
  policies UInt32,
  policy_ids Array(String),
  published_at DateTime64(3, 'UTC')
) ENGINE = ReplacingMergeTree ORDER BY (tenant_id, stream, sequence, event_id);

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
  run_mode LowCardinality(String) DEFAULT 'live',
  settled_at DateTime64(3, 'UTC')
) ENGINE = ReplacingMergeTree ORDER BY (tenant_id, agent_id, run_id, event_id);

-- run_mode (RunStarted/ActionProposed v2): 'shadow' for an action of a shadow run, which is decided,
-- budgeted and recorded but never executed: its status says what would have happened, its cost is
-- 0, and its only spend row is the release of its reservation (disposition released, cost 0).
-- Count spend and outcomes WHERE run_mode = 'live'. Added to tables created before it existed.
ALTER TABLE actions ADD COLUMN IF NOT EXISTS run_mode LowCardinality(String) DEFAULT 'live' AFTER currency;
ALTER TABLE spend ADD COLUMN IF NOT EXISTS run_mode LowCardinality(String) DEFAULT 'live' AFTER currency;

-- reconciled_outcome, reconciled_by, reconciled_at (OutcomeReconciled, writ.approvals.v1): an
-- action whose outcome was unknown (outcome 'unknown': a crash mid-call, a timeout after sending,
-- a read-back that refuted the tool) resolved by an operator as 'succeeded' or 'failed'; '' and
-- NULL while unresolved. status stays the planner's ('failed'). Unresolved unknowns:
-- WHERE outcome = 'unknown' AND reconciled_outcome = ''. Added to tables created before it existed.
ALTER TABLE actions ADD COLUMN IF NOT EXISTS reconciled_outcome LowCardinality(String) DEFAULT '' AFTER run_mode;
ALTER TABLE actions ADD COLUMN IF NOT EXISTS reconciled_by String DEFAULT '' AFTER reconciled_outcome;
ALTER TABLE actions ADD COLUMN IF NOT EXISTS reconciled_at Nullable(DateTime64(3, 'UTC')) AFTER reconciled_by;

-- Provenance of the proposal (ActionProposed v3 provenance, as the agent gave it): the model
-- (model_name, model_provider, model_version), the prompt version, and the retrieved documents as
-- three parallel arrays (id, version or '', sha256 of the content the agent read; never the content).
-- '' and [] when the agent gave none, and on actions proposed before v3. The documents of one action:
-- ARRAY JOIN retrieved_document_ids AS document_id, retrieved_document_sha256 AS document_sha256.
-- Permanent, like the rest of the row (docs/retention.md). Added to tables created before it existed.
ALTER TABLE actions ADD COLUMN IF NOT EXISTS model_name LowCardinality(String) DEFAULT '' AFTER reconciled_at;
ALTER TABLE actions ADD COLUMN IF NOT EXISTS model_provider LowCardinality(String) DEFAULT '' AFTER model_name;
ALTER TABLE actions ADD COLUMN IF NOT EXISTS model_version LowCardinality(String) DEFAULT '' AFTER model_provider;
ALTER TABLE actions ADD COLUMN IF NOT EXISTS prompt_version LowCardinality(String) DEFAULT '' AFTER model_version;
ALTER TABLE actions ADD COLUMN IF NOT EXISTS retrieved_document_ids Array(String) AFTER prompt_version;
ALTER TABLE actions ADD COLUMN IF NOT EXISTS retrieved_document_versions Array(String) AFTER retrieved_document_ids;
ALTER TABLE actions ADD COLUMN IF NOT EXISTS retrieved_document_sha256 Array(String) AFTER retrieved_document_versions;
