import { describe, expect, it } from 'vitest';
import { loadConfig } from '@writ/config';
import { sqlStatements } from '@writ/clickhouse';
import { DEFAULT_SQL_DIR } from './clickhouse-schema.ts';
import { ledgerConfigSpec } from './config.ts';
import { DETAIL_TABLES, detailTtl, retentionStatement, retentionTarget, ttlOfEngine } from './retention.ts';

const [events] = DETAIL_TABLES;
if (events === undefined) throw new Error('no detail table');

describe('the retention tiers in ClickHouse', () => {
  it('drops only the rows of events that hold a tool report, after the configured days, counted from the event', () => {
    expect(DETAIL_TABLES.map((detail) => detail.table)).toEqual(['events']);
    expect(retentionStatement(events, 30)).toBe(
      'ALTER TABLE events MODIFY TTL toDateTime(occurred_at) + toIntervalDay(30) WHERE ' +
        "(event_type IN ('ActionFailed', 'ToolResultRecorded')) OR ((event_type IN ('ActionExecuted', 'ActionCompleted')) AND (JSONType(payload, 'result_json') = 'String'))",
    );
    expect(retentionStatement(events, 7)).toContain('+ toIntervalDay(7) WHERE');
  });

  it("on a cluster, alters every node's local table (the Distributed one holds no rows), and refuses a hostile cluster name", () => {
    expect(retentionStatement(events, 30, 'writ')).toMatch(
      /^ALTER TABLE events_local ON CLUSTER 'writ' MODIFY TTL toDateTime\(occurred_at\) \+ toIntervalDay\(30\) WHERE /,
    );
    expect(retentionStatement(events, 0, 'writ')).toBe("ALTER TABLE events_local ON CLUSTER 'writ' REMOVE TTL");
    expect(retentionTarget(events)).toEqual({ table: 'events', onCluster: '' });
    expect(() => retentionStatement(events, 30, "writ' SETTINGS x=1 --")).toThrow('cluster name');
  });

  it('keeps operational detail forever with 0 (REMOVE TTL), and refuses a nonsense number of days', () => {
    expect(detailTtl(events, 0)).toBeUndefined();
    expect(retentionStatement(events, 0)).toBe('ALTER TABLE events REMOVE TTL');
    expect(() => detailTtl(events, -1)).toThrow('whole number of days');
    expect(() => detailTtl(events, 1.5)).toThrow('whole number of days');
  });

  it('gives the permanent minimal ledger no TTL: no statement of the DDL sets one', () => {
    const statements = sqlStatements(DEFAULT_SQL_DIR);
    expect(statements.length).toBeGreaterThan(10);
    for (const statement of statements) expect(statement, statement).not.toMatch(/\bTTL\b/);
  });

  it('reads the TTL in force from system.tables.engine_full', () => {
    const ttl = detailTtl(events, 30) ?? '';
    expect(ttlOfEngine(`ReplacingMergeTree ORDER BY (tenant_id, run_id, event_id) TTL ${ttl} SETTINGS index_granularity = 8192`)).toBe(ttl);
    expect(ttlOfEngine(`ReplacingMergeTree ORDER BY (a) TTL ${ttl}`)).toBe(ttl);
    expect(ttlOfEngine('ReplacingMergeTree ORDER BY (tenant_id, run_id, event_id) SETTINGS index_granularity = 8192')).toBeUndefined();
  });

  it('takes its days from WRIT_LEDGER_DETAIL_TTL_DAYS: 30 by default, and a bad value names the variable', () => {
    const base = { WRIT_DIRECTORY_FILE: 'directory.json' };
    expect(loadConfig(ledgerConfigSpec, base).WRIT_LEDGER_DETAIL_TTL_DAYS).toBe(30);
    expect(loadConfig(ledgerConfigSpec, { ...base, WRIT_LEDGER_DETAIL_TTL_DAYS: '0' }).WRIT_LEDGER_DETAIL_TTL_DAYS).toBe(0);
    expect(() => loadConfig(ledgerConfigSpec, { ...base, WRIT_LEDGER_DETAIL_TTL_DAYS: '-1' })).toThrow('WRIT_LEDGER_DETAIL_TTL_DAYS');
    expect(() => loadConfig(ledgerConfigSpec, { ...base, WRIT_LEDGER_DETAIL_TTL_DAYS: 'a month' })).toThrow('WRIT_LEDGER_DETAIL_TTL_DAYS');
  });
});
