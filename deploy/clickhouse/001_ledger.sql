-- The ledger's ClickHouse projection, applied by the ledger service at boot, in file order, each
-- statement idempotent (IF NOT EXISTS). The hash chain in Kafka (writ.ledger.v1) is authoritative;
-- everything here is rebuilt from it. Tables are ReplacingMergeTree keyed by something fixed per
-- event, so a batch projected twice (at-least-once) leaves one row: read with FINAL.

-- The chain entries, with the original event bytes (base64) so verification can recheck them.
-- event_bytes is '' and event_bytes_withheld 1 where the event holds sensitive tool values.
CREATE TABLE IF NOT EXISTS ledger (
  chain_id LowCardinality(String),
  seq UInt64,
  prev_hash String,
  event_hash String,
  chain_hash String,
  source_event_id String,
  event_type LowCardinality(String),
  source_topic LowCardinality(String),
  source_partition UInt32,
  source_offset UInt64,
  run_id String,
  action_id Nullable(String),
  occurred_at DateTime64(3, 'UTC'),
  event_bytes String,
  event_bytes_withheld UInt8,
  ledger_partition UInt32,
  ledger_offset UInt64,
  hash_version UInt8 DEFAULT 1
) ENGINE = ReplacingMergeTree ORDER BY (chain_id, seq);
-- The rule chain_hash follows (libs/ledger-core/README.md): 1 before LedgerEntry v3, 2 every field bound.
ALTER TABLE ledger ADD COLUMN IF NOT EXISTS hash_version UInt8 DEFAULT 1 AFTER ledger_offset;

-- Signed chain heads (LedgerCheckpoint): the signature covers canonicalJson({chain_id, seq, chain_hash}).
CREATE TABLE IF NOT EXISTS checkpoints (
  chain_id LowCardinality(String),
  seq UInt64,
  chain_hash String,
  key_id String,
  signature String,
  signed_at DateTime64(3, 'UTC'),
  ledger_partition UInt32,
  ledger_offset UInt64
) ENGINE = ReplacingMergeTree ORDER BY (chain_id, seq);

-- Where the projection has read writ.ledger.v1 up to (next offset per partition).
CREATE TABLE IF NOT EXISTS projection_offsets (
  topic LowCardinality(String),
  partition UInt32,
  next_offset UInt64,
  updated_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = ReplacingMergeTree(next_offset) ORDER BY (topic, partition);
