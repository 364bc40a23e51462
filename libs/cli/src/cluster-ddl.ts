// `writ clickhouse-cluster-ddl`: the ledger's ClickHouse DDL (deploy/clickhouse/*.sql, then the
// analytics views) in the form a cluster of several shards and replicas needs, for the chart's DDL
// job (deploy/helm/writ, clickhouse.shards or clickhouse.replicas above 1). Each table T becomes
//   T_local: the same columns and ORDER BY on the Replicated form of its engine, on every node
//            (ON CLUSTER), its replication path in Keeper by shard, database and table;
//   T:       a Distributed table over T_local, sharded by cityHash64(tenant_id) (a tenant's rows on
//            one shard: its queries, row policies and FINAL merges stay local to it), or by the
//            first column of the ORDER BY where a table has no tenant_id (the ledger's chain_id is
//            its tenant; the projection's offsets by topic).
// Materialized views read and write the local tables (each shard sums its own tenants), ALTERs
// apply to both, views are created on every node. The names the ledger and analysts use stay those
// of the Distributed tables, so the ledger's own DDL at boot finds every object present (IF NOT
// EXISTS) and its queries read the whole cluster. Anything else in the files is refused by name.
import { sqlStatements } from '@writ/clickhouse';
import { describeError, WritError } from '@writ/errors';
import { analystViewStatements } from '@writ/ledger-core';
import { parseFlags } from './ledger-source.ts';
import type { CliIo } from './verify.ts';

export const CLUSTER_DDL_USAGE = `usage: writ clickhouse-cluster-ddl --sql-dir <dir> [--cluster <name>] [--database <name>]
  Prints the ledger's DDL (the *.sql files of --sql-dir, then the analytics views) for a ClickHouse
  cluster of shards and replicas: ReplicatedMergeTree tables <table>_local and Distributed tables
  <table> over them sharded by cityHash64(tenant_id), every statement ON CLUSTER. Run it once as an
  admin (the chart's DDL job does). Defaults: --cluster writ, --database writ.`;

export interface ClusterDdlOptions {
  /** The cluster of the ClickHouse configuration (remote_servers) the statements run ON. */
  readonly cluster: string;
  /** The database that holds the ledger's tables (CLICKHOUSE_DATABASE). */
  readonly database: string;
}

/** How a table of the source DDL is laid out on the cluster. */
export interface ClusterTable {
  readonly table: string;
  readonly engine: string;
  readonly shardingKey: string;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
const ENGINES = new Set(['MergeTree', 'ReplacingMergeTree', 'SummingMergeTree', 'AggregatingMergeTree', 'CollapsingMergeTree', 'VersionedCollapsingMergeTree']);
const CREATE_TABLE = /^CREATE TABLE IF NOT EXISTS (\w+) \(([\s\S]*)\) ENGINE = (\w+)(?:\(([^()]*)\))? ORDER BY (\([^()]*\)|\w+)\s*$/;
const ALTER_TABLE = /^ALTER TABLE (\w+) (ADD COLUMN [\s\S]+)$/;
const CREATE_MV = /^CREATE MATERIALIZED VIEW IF NOT EXISTS (\w+) TO (\w+) AS\s+([\s\S]*\bFROM )(\w+)(\b[\s\S]*)$/;
const CREATE_VIEW = /^CREATE OR REPLACE VIEW (\w+) (SQL SECURITY \w+ AS[\s\S]*)$/;

function columnsOf(body: string): Set<string> {
  return new Set(
    body
      .split('\n')
      .map((line) => /^\s*(\w+)\s/.exec(line)?.[1])
      .filter((name): name is string => name !== undefined),
  );
}

/** The sharding key of a table: its tenant where it has one in its ORDER BY, else its first ORDER BY column. */
function shardingKeyOf(table: string, columns: Set<string>, orderBy: string): string {
  const keys = orderBy
    .replace(/^\(|\)$/g, '')
    .split(',')
    .map((k) => k.trim());
  if (columns.has('tenant_id') && !keys.includes('tenant_id')) {
    throw new WritError('REQUEST_INVALID', `table ${table} has tenant_id but not in its ORDER BY: its duplicates could land on different shards`, {
      field: table,
      rule: 'tenant_id in the ORDER BY of a tenant table',
    });
  }
  const column = keys.includes('tenant_id') ? 'tenant_id' : keys[0];
  if (column === undefined || !columns.has(column)) {
    throw new WritError('REQUEST_INVALID', `table ${table}: no column to shard by in ORDER BY ${orderBy}`, { field: table, rule: 'an ORDER BY column' });
  }
  return `cityHash64(${column})`;
}

const quote = (value: string): string => `'${value}'`;

/**
 * The cluster form of the ledger's DDL (see the head of this file), and how each table is laid
 * out. `statements` is the source DDL (sqlStatements), then the views (analystViewStatements).
 */
export function clusterDdl(statements: readonly string[], options: ClusterDdlOptions): { statements: string[]; tables: ClusterTable[] } {
  for (const [field, value] of [
    ['cluster', options.cluster],
    ['database', options.database],
  ] as const) {
    if (!NAME.test(value))
      throw new WritError('REQUEST_INVALID', `${field} ${JSON.stringify(value)} is not a valid name`, { field, rule: 'letters, digits, _ (1-128)' });
  }
  const on = `ON CLUSTER ${quote(options.cluster)}`;
  const db = options.database;
  const tables = new Map<string, ClusterTable>();
  const out: string[] = [];
  const known = (table: string, what: string): void => {
    if (!tables.has(table))
      throw new WritError('REQUEST_INVALID', `${what} names table ${table}, not created before it`, { field: table, rule: 'tables first' });
  };
  for (const statement of statements) {
    let m: RegExpExecArray | null;
    if ((m = CREATE_TABLE.exec(statement)) !== null) {
      const [, table = '', body = '', engine = '', args, orderBy = ''] = m;
      if (!ENGINES.has(engine)) {
        throw new WritError('REQUEST_INVALID', `table ${table}: engine ${engine} has no Replicated form here`, { field: table, rule: [...ENGINES].join(', ') });
      }
      const shardingKey = shardingKeyOf(table, columnsOf(body), orderBy);
      const replicated = ["'/clickhouse/tables/{shard}/{database}/{table}'", "'{replica}'", ...(args === undefined || args.trim() === '' ? [] : [args.trim()])];
      out.push(`CREATE TABLE IF NOT EXISTS ${db}.${table}_local ${on} (${body}) ENGINE = Replicated${engine}(${replicated.join(', ')}) ORDER BY ${orderBy}`);
      out.push(
        `CREATE TABLE IF NOT EXISTS ${db}.${table} ${on} AS ${db}.${table}_local ENGINE = Distributed(${quote(options.cluster)}, ${quote(db)}, ${quote(`${table}_local`)}, ${shardingKey})`,
      );
      tables.set(table, { table, engine: `Replicated${engine}`, shardingKey });
    } else if ((m = ALTER_TABLE.exec(statement)) !== null) {
      const [, table = '', change = ''] = m;
      known(table, 'ALTER TABLE');
      out.push(`ALTER TABLE ${db}.${table}_local ${on} ${change}`);
      out.push(`ALTER TABLE ${db}.${table} ${on} ${change}`);
    } else if ((m = CREATE_MV.exec(statement)) !== null) {
      const [, view = '', target = '', select = '', source = '', rest = ''] = m;
      known(target, `materialized view ${view}`);
      known(source, `materialized view ${view}`);
      out.push(`CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.${view} ${on} TO ${db}.${target}_local AS ${select}${db}.${source}_local${rest}`);
    } else if ((m = CREATE_VIEW.exec(statement)) !== null) {
      const [, view = '', rest = ''] = m;
      out.push(`CREATE OR REPLACE VIEW ${db}.${view} ${on} ${rest}`);
    } else {
      throw new WritError('REQUEST_INVALID', `no cluster form for: ${statement.slice(0, 80)}...`, {
        field: 'statement',
        rule: 'CREATE TABLE IF NOT EXISTS ... ENGINE = *MergeTree ORDER BY ..., ALTER TABLE ... ADD COLUMN, CREATE MATERIALIZED VIEW IF NOT EXISTS ... TO, CREATE OR REPLACE VIEW',
      });
    }
  }
  return { statements: out, tables: [...tables.values()] };
}

export function runClusterDdl(args: readonly string[], io: CliIo = { out: (l) => console.log(l), err: (l) => console.error(l) }): number {
  let flags: Map<string, string>;
  try {
    flags = parseFlags(args, ['sql-dir', 'cluster', 'database']);
    if (flags.get('sql-dir') === undefined) throw new Error('--sql-dir is required');
  } catch (error) {
    io.err(describeError(error));
    io.err(CLUSTER_DDL_USAGE);
    return 2;
  }
  try {
    const source = [...sqlStatements(flags.get('sql-dir') ?? ''), ...analystViewStatements()];
    const { statements } = clusterDdl(source, { cluster: flags.get('cluster') ?? 'writ', database: flags.get('database') ?? 'writ' });
    for (const statement of statements) io.out(`${statement};`);
    return 0;
  } catch (error) {
    io.err(`[clickhouse-cluster-ddl] ${describeError(error)}`);
    return 2;
  }
}
