// Reads of the projection: chains, a chain's export (JSON lines) and read-only analytics queries.
import type { ClickHouseClient } from '@writ/clickhouse';
import { CHAINS_SQL, CHAIN_CHECKPOINTS_SQL, chainEntriesSql, checkpointLineOf, entryLineOf, exportLine } from '@writ/ledger-core';

type Row = Record<string, unknown>;

export interface ChainSummary {
  readonly chain_id: string;
  readonly entries: number;
  readonly head_seq: number;
}

/** Every chain, or only `tenant`'s. */
export async function listChains(clickhouse: ClickHouseClient, tenant?: string): Promise<ChainSummary[]> {
  const result = await clickhouse.query({ query: CHAINS_SQL, format: 'JSONEachRow' });
  const chains = (await result.json<Row>()).map((r) => ({ chain_id: String(r['chain_id']), entries: Number(r['entries']), head_seq: Number(r['head_seq']) }));
  return tenant === undefined ? chains : chains.filter((chain) => chain.chain_id === tenant);
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
