// How a chain export is read from the ClickHouse projection: the statements (run by whoever holds
// a client: the ledger service, or `writ verify` on a stopped ledger's data folder) and the
// mapping of their rows to export lines.
import type { ExportedCheckpoint, ExportedEntry } from './export.ts';

/** Parameters: {tenant:String}; with `byRun`, also {run:String}. Read with FINAL: one row per seq. */
export function chainEntriesSql(byRun = false): string {
  return `SELECT hash_version, chain_id, seq, prev_hash, event_hash, chain_hash, source_event_id, event_type, source_topic, source_partition,
                 source_offset, run_id, action_id, occurred_at, event_bytes, event_bytes_withheld
          FROM ledger FINAL WHERE chain_id = {tenant:String}${byRun ? ' AND run_id = {run:String}' : ''} ORDER BY seq`;
}

/** Parameters: {tenant:String}. */
export const CHAIN_CHECKPOINTS_SQL = `SELECT chain_id, seq, chain_hash, key_id, signature, signed_at FROM checkpoints FINAL WHERE chain_id = {tenant:String} ORDER BY seq`;

/** Every chain with its length and head. */
export const CHAINS_SQL = `SELECT chain_id, count() AS entries, max(seq) AS head_seq FROM ledger FINAL GROUP BY chain_id ORDER BY chain_id`;

type Row = Readonly<Record<string, unknown>>;
const num = (value: unknown): number => Number(value);

export function entryLineOf(row: Row): ExportedEntry {
  return {
    kind: 'entry',
    hash_version: num(row['hash_version'] ?? 1),
    chain_id: String(row['chain_id']),
    seq: num(row['seq']),
    prev_hash: String(row['prev_hash']),
    event_hash: String(row['event_hash']),
    chain_hash: String(row['chain_hash']),
    source_event_id: String(row['source_event_id']),
    event_type: String(row['event_type']),
    source_topic: String(row['source_topic']),
    source_partition: num(row['source_partition']),
    source_offset: num(row['source_offset']),
    run_id: String(row['run_id']),
    action_id: row['action_id'] === null || row['action_id'] === undefined ? null : String(row['action_id']),
    occurred_at: String(row['occurred_at']),
    event_bytes: String(row['event_bytes'] ?? ''),
    event_bytes_withheld: num(row['event_bytes_withheld'] ?? 0),
  };
}

export function checkpointLineOf(row: Row): ExportedCheckpoint {
  return {
    kind: 'checkpoint',
    chain_id: String(row['chain_id']),
    seq: num(row['seq']),
    chain_hash: String(row['chain_hash']),
    key_id: String(row['key_id']),
    signature: String(row['signature']),
    ...(row['signed_at'] === undefined || row['signed_at'] === null ? {} : { signed_at: String(row['signed_at']) }),
  };
}
