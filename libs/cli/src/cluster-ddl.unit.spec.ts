import { describe, expect, it } from 'vitest';
import { clusterDdl, runClusterDdl } from './cluster-ddl.ts';

const options = { cluster: 'writ', database: 'writ' };
const SPEND = `CREATE TABLE IF NOT EXISTS spend (
  event_id String,
  tenant_id LowCardinality(String),
  settled_at DateTime64(3, 'UTC'),
  cost_micros Int64
) ENGINE = ReplacingMergeTree ORDER BY (tenant_id, event_id)`;
const DAILY = `CREATE TABLE IF NOT EXISTS daily_spend (
  tenant_id LowCardinality(String),
  day Date,
  cost_micros Int64
) ENGINE = SummingMergeTree ORDER BY (tenant_id, day)`;

describe('writ clickhouse-cluster-ddl', () => {
  it('makes each table a Replicated local table on every node and a Distributed table over it, sharded by tenant', () => {
    const { statements, tables } = clusterDdl([SPEND], options);
    expect(statements).toHaveLength(2);
    expect(statements[0]).toMatch(/^CREATE TABLE IF NOT EXISTS writ\.spend_local ON CLUSTER 'writ' \(\n {2}event_id String,/);
    expect(statements[0]).toMatch(
      /\) ENGINE = ReplicatedReplacingMergeTree\('\/clickhouse\/tables\/\{shard\}\/\{database\}\/\{table\}', '\{replica\}'\) ORDER BY \(tenant_id, event_id\)$/,
    );
    expect(statements[1]).toBe(
      "CREATE TABLE IF NOT EXISTS writ.spend ON CLUSTER 'writ' AS writ.spend_local ENGINE = Distributed('writ', 'writ', 'spend_local', cityHash64(tenant_id))",
    );
    expect(tables).toEqual([{ table: 'spend', engine: 'ReplicatedReplacingMergeTree', shardingKey: 'cityHash64(tenant_id)' }]);
  });

  it("keeps an engine's own arguments after the replication path, and shards a table without tenant by its first key", () => {
    const offsets = `CREATE TABLE IF NOT EXISTS projection_offsets (
  topic LowCardinality(String),
  partition UInt32,
  next_offset UInt64
) ENGINE = ReplacingMergeTree(next_offset) ORDER BY (topic, partition)`;
    const [local, distributed] = clusterDdl([offsets], options).statements;
    expect(local).toContain("ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}', next_offset) ORDER BY");
    expect(distributed).toContain("'projection_offsets_local', cityHash64(topic))");
  });

  it('points materialized views from local table to local table, alters both tables, and creates views on every node', () => {
    const { statements } = clusterDdl(
      [
        SPEND,
        DAILY,
        'CREATE MATERIALIZED VIEW IF NOT EXISTS daily_spend_mv TO daily_spend AS\nSELECT tenant_id, toDate(settled_at) AS day, sum(cost_micros) AS cost_micros\nFROM spend\nGROUP BY tenant_id, day',
        "ALTER TABLE spend ADD COLUMN IF NOT EXISTS run_mode LowCardinality(String) DEFAULT 'live' AFTER cost_micros",
        'CREATE OR REPLACE VIEW spend_by_day SQL SECURITY INVOKER AS\nSELECT tenant_id, day, sum(cost_micros) FROM daily_spend GROUP BY tenant_id, day',
      ],
      options,
    );
    expect(statements.slice(4)).toEqual([
      "CREATE MATERIALIZED VIEW IF NOT EXISTS writ.daily_spend_mv ON CLUSTER 'writ' TO writ.daily_spend_local AS SELECT tenant_id, toDate(settled_at) AS day, sum(cost_micros) AS cost_micros\nFROM writ.spend_local\nGROUP BY tenant_id, day",
      "ALTER TABLE writ.spend_local ON CLUSTER 'writ' ADD COLUMN IF NOT EXISTS run_mode LowCardinality(String) DEFAULT 'live' AFTER cost_micros",
      "ALTER TABLE writ.spend ON CLUSTER 'writ' ADD COLUMN IF NOT EXISTS run_mode LowCardinality(String) DEFAULT 'live' AFTER cost_micros",
      "CREATE OR REPLACE VIEW writ.spend_by_day ON CLUSTER 'writ' SQL SECURITY INVOKER AS\nSELECT tenant_id, day, sum(cost_micros) FROM daily_spend GROUP BY tenant_id, day",
    ]);
  });

  it('refuses what it has no cluster form for, naming the statement and the rule', () => {
    expect(() => clusterDdl(['CREATE VIEW plain AS SELECT 1'], options)).toThrow(/no cluster form for: CREATE VIEW plain AS SELECT 1/);
    expect(() => clusterDdl(['ALTER TABLE spend ADD COLUMN x UInt8'], options)).toThrow('ALTER TABLE names table spend, not created before it');
    expect(() => clusterDdl([SPEND.replace('ReplacingMergeTree', 'Log')], options)).toThrow('table spend: engine Log has no Replicated form here');
    expect(() => clusterDdl([SPEND.replace('(tenant_id, event_id)', '(event_id)')], options)).toThrow(
      'table spend has tenant_id but not in its ORDER BY: its duplicates could land on different shards',
    );
    expect(() => clusterDdl([SPEND], { cluster: "writ'; DROP", database: 'writ' })).toThrow(`cluster "writ'; DROP" is not a valid name`);
  });

  it('prints the statements of a folder, and its usage when --sql-dir is missing', () => {
    const out: string[] = [];
    const err: string[] = [];
    const io = { out: (line: string) => out.push(line), err: (line: string) => err.push(line) };
    expect(runClusterDdl([], io)).toBe(2);
    expect(err.join('\n')).toContain('--sql-dir is required');
    expect(err.join('\n')).toContain('usage: writ clickhouse-cluster-ddl');
    expect(runClusterDdl(['--sql-dir', new URL('../../../deploy/clickhouse/', import.meta.url).pathname], io)).toBe(0);
    expect(out.length).toBeGreaterThan(20);
    for (const line of out) expect(line).toMatch(/ON CLUSTER 'writ'[\s\S]*;$/);
  });
});
