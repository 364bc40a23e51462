import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ClickHouseClient } from '@clickhouse/client';
import { uniqueName } from '@writ/testing';
import { createClickHouse } from './clickhouse.ts';

// Real embedded engine (chDB) through the factory, a fresh data folder per test. chDB binds one
// folder per process, so each test must close (which waits for the engine) before the next opens.
let dataPath: string;
let client: ClickHouseClient;

beforeEach(() => {
  dataPath = mkdtempSync(join(tmpdir(), 'writ-chdb-'));
  client = createClickHouse({ dataPath, database: 'writ_test' });
});

afterEach(async () => {
  await client.close();
  rmSync(dataPath, { recursive: true, force: true });
});

interface EventRow {
  event_id: string;
  tenant_id: string;
  occurred_at: string;
  cost_micros: string;
}

describe('createClickHouse (embedded chDB)', () => {
  it('creates a table, inserts JSONEachRow and reads it back with typed query parameters', async () => {
    const table = uniqueName('events');
    await client.command({
      query: `CREATE TABLE ${table} (
        event_id String,
        tenant_id LowCardinality(String),
        occurred_at DateTime64(3, 'UTC'),
        cost_micros UInt64
      ) ENGINE = MergeTree ORDER BY (tenant_id, occurred_at)`,
    });
    await client.insert({
      table,
      format: 'JSONEachRow',
      values: [
        { event_id: 'e1', tenant_id: 'acme', occurred_at: '2026-11-22 10:00:00.125', cost_micros: 1500 },
        { event_id: 'e2', tenant_id: 'acme', occurred_at: '2026-11-22 10:00:01.250', cost_micros: 2500 },
        { event_id: 'e3', tenant_id: 'globex', occurred_at: '2026-11-22 10:00:02.375', cost_micros: 9000 },
        { event_id: 'e4', tenant_id: 'acme', occurred_at: '2026-11-21 23:59:59.999', cost_micros: 7 },
      ],
    });

    const result = await client.query({
      query: `SELECT event_id, tenant_id, occurred_at, cost_micros FROM ${table}
              WHERE tenant_id = {tenant:String} AND occurred_at >= {since:DateTime64(3)}
              ORDER BY occurred_at`,
      query_params: { tenant: 'acme', since: '2026-11-22 00:00:00.000' },
      format: 'JSONEachRow',
    });
    const rows = await result.json<EventRow>();
    expect(rows).toEqual([
      { event_id: 'e1', tenant_id: 'acme', occurred_at: '2026-11-22 10:00:00.125', cost_micros: '1500' },
      { event_id: 'e2', tenant_id: 'acme', occurred_at: '2026-11-22 10:00:01.250', cost_micros: '2500' },
    ]);

    const totals = await client.query({
      query: `SELECT tenant_id, sum(cost_micros) AS total FROM ${table} GROUP BY tenant_id ORDER BY tenant_id`,
      format: 'JSONEachRow',
    });
    expect(await totals.json()).toEqual([
      { tenant_id: 'acme', total: '4007' },
      { tenant_id: 'globex', total: '9000' },
    ]);
  });

  it('puts unqualified tables in the requested database, created on first use', async () => {
    const table = uniqueName('approvals');
    await client.command({ query: `CREATE TABLE ${table} (id UInt32) ENGINE = MergeTree ORDER BY id` });
    const where = await client.query({
      query: 'SELECT database, currentDatabase() AS current FROM system.tables WHERE name = {table:String}',
      query_params: { table },
      format: 'JSONEachRow',
    });
    expect(await where.json()).toEqual([{ database: 'writ_test', current: 'writ_test' }]);
  });

  it('keeps data in the folder across a close and a reopen', async () => {
    const table = uniqueName('spend');
    await client.command({ query: `CREATE TABLE ${table} (n UInt32) ENGINE = MergeTree ORDER BY n` });
    await client.insert({ table, format: 'JSONEachRow', values: [{ n: 1 }, { n: 2 }, { n: 3 }] });
    await client.close();

    client = createClickHouse({ dataPath, database: 'writ_test' });
    const count = await client.query({ query: `SELECT count() AS c FROM ${table}`, format: 'JSONEachRow' });
    expect(await count.json()).toEqual([{ c: '3' }]);
  });

  it('reports a bad statement as a ClickHouse error with its code, and stays usable', async () => {
    const failure = await client.command({ query: 'SELECT * FROM no_such_table_here' }).catch((error: unknown) => error);
    expect(failure).toMatchObject({ code: '60', type: 'UNKNOWN_TABLE' });
    expect(await (await client.query({ query: 'SELECT 1 AS one', format: 'JSONEachRow' })).json()).toEqual([{ one: 1 }]);
  });
});
