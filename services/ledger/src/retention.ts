// The two retention tiers in ClickHouse (docs/retention.md). The permanent minimal ledger (the chain
// entries, checkpoints, one row per action, decision, approval, settlement and publication, the
// rollups) has no TTL. Operational detail, the rows of `events` that hold a tool's raw report, is
// dropped WRIT_LEDGER_DETAIL_TTL_DAYS after the event: ClickHouse deletes expired rows when it
// merges a table's parts (in the background; OPTIMIZE TABLE ... FINAL forces it).
import type { ClickHouseClient } from '@writ/clickhouse';

/**
 * The rows of `events` that are operational detail: a tool's result body (ToolResultRecorded, from
 * writ.results.v1), a tool's error (ActionFailed), and an ActionExecuted or ActionCompleted that
 * carries a result inline (written before results travelled by reference, or a shadow action's
 * would-be call). The chain keeps every chained event's bytes for good (the `ledger` table,
 * writ.ledger.v1), a result's digest among them; `actions` keeps each action's outcome, status,
 * cost and provenance.
 */
export const DETAIL_EVENTS_WHERE =
  "(event_type IN ('ActionFailed', 'ToolResultRecorded')) OR ((event_type IN ('ActionExecuted', 'ActionCompleted')) AND (JSONType(payload, 'result_json') = 'String'))";

/** One table's detail TTL: which rows (where), counted from which time column. */
export interface DetailTable {
  readonly table: string;
  readonly at: string;
  readonly where: string;
}

export const DETAIL_TABLES: readonly DetailTable[] = [{ table: 'events', at: 'occurred_at', where: DETAIL_EVENTS_WHERE }];

/** The TTL clause of a detail table kept `days` days (ClickHouse's own formatting, so it compares with engine_full); undefined for 0, kept forever. */
export function detailTtl(detail: DetailTable, days: number): string | undefined {
  if (!Number.isInteger(days) || days < 0) throw new RangeError(`detail retention must be a whole number of days >= 0, got ${days}`);
  return days === 0 ? undefined : `toDateTime(${detail.at}) + toIntervalDay(${days}) WHERE ${detail.where}`;
}

/**
 * Where a detail table's rows are: the table itself, or on a cluster (`writ clickhouse-cluster-ddl`)
 * its `<table>_local` on every node, because the Distributed `<table>` holds no rows and takes no TTL.
 */
export function retentionTarget(detail: DetailTable, cluster?: string): { readonly table: string; readonly onCluster: string } {
  if (cluster === undefined) return { table: detail.table, onCluster: '' };
  if (!/^[A-Za-z0-9_-]+$/.test(cluster)) throw new RangeError(`a ClickHouse cluster name is letters, digits, _ and -, got ${JSON.stringify(cluster)}`);
  return { table: `${detail.table}_local`, onCluster: ` ON CLUSTER '${cluster}'` };
}

/** The statement that gives `detail` the TTL of `days` (REMOVE TTL for 0), on every node of `cluster` when given. */
export function retentionStatement(detail: DetailTable, days: number, cluster?: string): string {
  const ttl = detailTtl(detail, days);
  const { table, onCluster } = retentionTarget(detail, cluster);
  return ttl === undefined ? `ALTER TABLE ${table}${onCluster} REMOVE TTL` : `ALTER TABLE ${table}${onCluster} MODIFY TTL ${ttl}`;
}

/** The table TTL in a system.tables engine_full (undefined: none). */
export function ttlOfEngine(engineFull: string): string | undefined {
  const match = / TTL (.+?)(?: SETTINGS .*)?$/s.exec(engineFull);
  return match?.[1];
}

const same = (a: string | undefined, b: string | undefined): boolean => (a ?? '').replace(/\s+/g, '') === (b ?? '').replace(/\s+/g, '');

export interface RetentionApplied {
  readonly table: string;
  /** The TTL now in force (undefined: the table keeps its rows forever). */
  readonly ttl: string | undefined;
  /** Whether this call changed it (false: it was already so; nothing rewritten). */
  readonly changed: boolean;
}

/**
 * Sets each detail table's TTL to `days` (0: no TTL). Idempotent and cheap when nothing changed:
 * the TTL in force is read from system.tables and altered only when it differs, because MODIFY TTL
 * recomputes the TTL of every part of the table. Run after the DDL, at every boot, on chDB or a
 * server; with `cluster` (WRIT_LEDGER_CLICKHOUSE_CLUSTER), on the local tables of every node of it.
 */
export async function applyRetention(clickhouse: ClickHouseClient, days: number, cluster?: string): Promise<RetentionApplied[]> {
  const applied: RetentionApplied[] = [];
  for (const detail of DETAIL_TABLES) {
    const { table } = retentionTarget(detail, cluster);
    const result = await clickhouse.query({
      query: 'SELECT engine_full FROM system.tables WHERE database = currentDatabase() AND name = {table:String}',
      query_params: { table },
      format: 'JSONEachRow',
    });
    const [row] = await result.json<{ engine_full: string }>();
    if (row === undefined)
      throw new Error(`table ${table} does not exist: apply the DDL (deploy/clickhouse${cluster === undefined ? '' : ', writ clickhouse-cluster-ddl'}) first`);
    const current = ttlOfEngine(row.engine_full);
    const wanted = detailTtl(detail, days);
    const changed = !same(current, wanted);
    if (changed) await clickhouse.command({ query: retentionStatement(detail, days, cluster) });
    applied.push({ table, ttl: wanted, changed });
  }
  return applied;
}
