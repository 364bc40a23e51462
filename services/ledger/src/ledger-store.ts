// Reads of the projection: a chain's export (JSON lines) and read-only analytics queries.
import type { ClickHouseClient } from '@writ/clickhouse';
import { WritError } from '@writ/errors';
import { exportLine, readOnlySql } from '@writ/ledger-core';
import type { ExportLine } from '@writ/ledger-core';

interface LedgerTableRow {
  chain_id: string;
  seq: string;
  prev_hash: string;
  event_hash: string;
  chain_hash: string;
  source_event_id: string;
  event_type: string;
  source_topic: string;
  source_partition: number;
  source_offset: string;
  run_id: string;
  action_id: string | null;
  occurred_at: string;
  event_bytes: string;
  event_bytes_withheld: number;
}

interface CheckpointTableRow {
  chain_id: string;
  seq: string;
  chain_hash: string;
  key_id: string;
  signature: string;
}

/**
 * The whole chain of a tenant, in seq order, then its checkpoints: the lines a verifier needs.
 * With `runId`, only that run's entries (an excerpt: it verifies each event's bytes and hash,
 * not the links, which need the whole chain).
 */
export async function exportChain(clickhouse: ClickHouseClient, tenant: string, options: { runId?: string } = {}): Promise<string[]> {
  const runFilter = options.runId === undefined ? '' : 'AND run_id = {run:String}';
  const entries = await clickhouse.query({
    query: `SELECT chain_id, seq, prev_hash, event_hash, chain_hash, source_event_id, event_type, source_topic, source_partition,
                   source_offset, run_id, action_id, occurred_at, event_bytes, event_bytes_withheld
            FROM ledger FINAL WHERE chain_id = {tenant:String} ${runFilter} ORDER BY seq`,
    query_params: { tenant, ...(options.runId === undefined ? {} : { run: options.runId }) },
    format: 'JSONEachRow',
  });
  const lines: string[] = [];
  for (const row of await entries.json<LedgerTableRow>()) {
    const line: ExportLine = {
      kind: 'entry',
      chain_id: row.chain_id,
      seq: Number(row.seq),
      prev_hash: row.prev_hash,
      event_hash: row.event_hash,
      chain_hash: row.chain_hash,
      source_event_id: row.source_event_id,
      event_type: row.event_type,
      source_topic: row.source_topic,
      source_partition: Number(row.source_partition),
      source_offset: Number(row.source_offset),
      run_id: row.run_id,
      action_id: row.action_id,
      occurred_at: row.occurred_at,
      event_bytes: row.event_bytes,
      event_bytes_withheld: Number(row.event_bytes_withheld),
    };
    lines.push(exportLine(line));
  }
  if (options.runId !== undefined) return lines;
  const checkpoints = await clickhouse.query({
    query: `SELECT chain_id, seq, chain_hash, key_id, signature FROM checkpoints FINAL WHERE chain_id = {tenant:String} ORDER BY seq`,
    query_params: { tenant },
    format: 'JSONEachRow',
  });
  for (const row of await checkpoints.json<CheckpointTableRow>()) {
    lines.push(exportLine({ kind: 'checkpoint', chain_id: row.chain_id, seq: Number(row.seq), chain_hash: row.chain_hash, key_id: row.key_id, signature: row.signature }));
  }
  return lines;
}

export interface QueryAnswer {
  readonly rows: unknown[];
  readonly truncated: boolean;
}

/** Runs one SELECT (refused otherwise), at most `maxRows` rows, with typed parameters ({name:Type}). */
export async function runReadOnlyQuery(clickhouse: ClickHouseClient, sql: unknown, params: unknown, maxRows: number): Promise<QueryAnswer> {
  const text = readOnlySql(sql);
  if (params !== undefined && (typeof params !== 'object' || params === null || Array.isArray(params))) {
    throw new WritError('QUERY_NOT_ALLOWED', 'params must be an object of named values', { field: 'params', rule: 'an object: {"name": value}' });
  }
  try {
    const result = await clickhouse.query({
      query: `SELECT * FROM (${text}) LIMIT ${maxRows + 1}`,
      query_params: (params ?? {}) as Record<string, unknown>,
      format: 'JSONEachRow',
    });
    const rows = await result.json<unknown>();
    return { rows: rows.slice(0, maxRows), truncated: rows.length > maxRows };
  } catch (error) {
    throw new WritError('QUERY_FAILED', `the query failed: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`, {
      field: 'sql',
      rule: 'a valid ClickHouse SELECT over the ledger tables',
      cause: error,
    });
  }
}
