// Reads of the projection: chains, a chain's export (JSON lines) and read-only analytics queries.
import type { ClickHouseClient } from '@writ/clickhouse';
import { WritError } from '@writ/errors';
import { CHAINS_SQL, CHAIN_CHECKPOINTS_SQL, chainEntriesSql, checkpointLineOf, entryLineOf, exportLine, readOnlySql } from '@writ/ledger-core';

type Row = Record<string, unknown>;

export interface ChainSummary {
  readonly chain_id: string;
  readonly entries: number;
  readonly head_seq: number;
}

export async function listChains(clickhouse: ClickHouseClient): Promise<ChainSummary[]> {
  const result = await clickhouse.query({ query: CHAINS_SQL, format: 'JSONEachRow' });
  return (await result.json<Row>()).map((r) => ({ chain_id: String(r['chain_id']), entries: Number(r['entries']), head_seq: Number(r['head_seq']) }));
}

/**
 * The whole chain of a tenant, in seq order, then its checkpoints: the lines a verifier needs.
 * With `runId`, only that run's entries (an excerpt: each event's bytes can be checked against
 * its entry and the entries' own hashes recomputed, while the links need the whole chain).
 */
export async function exportChain(clickhouse: ClickHouseClient, tenant: string, options: { runId?: string } = {}): Promise<string[]> {
  const byRun = options.runId !== undefined;
  const entries = await clickhouse.query({
    query: chainEntriesSql(byRun),
    query_params: { tenant, ...(byRun ? { run: options.runId } : {}) },
    format: 'JSONEachRow',
  });
  const lines = (await entries.json<Row>()).map((row) => exportLine(entryLineOf(row)));
  if (byRun) return lines;
  const checkpoints = await clickhouse.query({ query: CHAIN_CHECKPOINTS_SQL, query_params: { tenant }, format: 'JSONEachRow' });
  return [...lines, ...(await checkpoints.json<Row>()).map((row) => exportLine(checkpointLineOf(row)))];
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
    throw new WritError('QUERY_FAILED', `the query failed: ${error instanceof Error ? (error.message.split('\n')[0] ?? '') : String(error)}`, {
      field: 'sql',
      rule: 'a valid ClickHouse SELECT over the ledger tables',
      cause: error,
    });
  }
}
