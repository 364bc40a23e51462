// The two retention tiers on the real embedded ClickHouse (chDB): rows of operational detail past
// WRIT_LEDGER_DETAIL_TTL_DAYS are dropped at a merge (OPTIMIZE ... FINAL forces one), the chain
// entries and the minimal tables are not; the TTL is set idempotently; an actions table created
// before the provenance columns is given them. Rows are the projection's own, from real events.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClickHouse, sqlStatements } from '@writ/clickhouse';
import type { ClickHouseClient } from '@writ/clickhouse';
import { TOPICS, encodeEvent, topicOf } from '@writ/contracts';
import type { EventPayloads, EventType } from '@writ/contracts';
import { sampleEvent } from '@writ/contracts/testing';
import { ALL_TENANTS } from '@writ/config';
import { projectRecords, toolResultRow } from '@writ/ledger-core';
import type { ChainRecord, ProjectionMemory, Redactor } from '@writ/ledger-core';
import { DEFAULT_SQL_DIR, applySchema } from './clickhouse-schema.ts';
import { applyRetention } from './retention.ts';

const root = mkdtempSync(join(tmpdir(), 'writ-retention-'));
const DAY = 86_400_000;
const NOW = Date.now();
const TENANT = 'acme-retention';
const INLINE = '{"refund_id":"re_8842","status":"succeeded"}';
const keep: Redactor = { arguments: (_tool, _version, json) => json, result: (_tool, _version, json) => json };
const PROVENANCE_COLUMNS = [
  'model_name',
  'model_provider',
  'model_version',
  'prompt_version',
  'retrieved_document_ids',
  'retrieved_document_versions',
  'retrieved_document_sha256',
];

let clickhouse: ClickHouseClient;
let seq = 0;

/** A chained event of action `action` that occurred `daysAgo` days ago, as the ledger writes it. */
function chained<T extends EventType>(type: T, action: string, daysAgo: number, patch: Partial<EventPayloads[T]> = {}): ChainRecord {
  const at = { tenant_id: TENANT, run_id: `run-${action}`, action_id: action, occurred_at: NOW - daysAgo * DAY };
  const payload = { ...sampleEvent(type, at), ...patch } as EventPayloads[T];
  seq += 1;
  return {
    type: 'LedgerEntry',
    payload: {
      ...sampleEvent('LedgerEntry', at),
      chain_id: TENANT,
      seq,
      event_type: type,
      source_event_id: payload.meta.event_id,
      source_topic: topicOf(type),
      event_bytes: encodeEvent(type, payload),
    },
    partition: 0,
    offset: seq,
  };
}

async function project(records: readonly ChainRecord[]): Promise<void> {
  const memory: ProjectionMemory = { agentOfRun: new Map(), actions: new Map() };
  const rows = projectRecords(records, memory, { redactor: keep });
  for (const table of ['events', 'ledger', 'actions'] as const) {
    await clickhouse.insert({ table, format: 'JSONEachRow', values: [...rows[table]] });
  }
}

/** A tool result's body (writ.results.v1, not chained) of `action`, `daysAgo` days ago, as the results projection writes it. */
async function projectBody(action: string, daysAgo: number): Promise<void> {
  const at = { tenant_id: TENANT, run_id: `run-${action}`, action_id: action, occurred_at: NOW - daysAgo * DAY };
  const row = toolResultRow(sampleEvent('ToolResultRecorded', at), { topic: TOPICS.results, partition: 0, offset: 0, schemaVersion: 1 }, keep, ALL_TENANTS);
  await clickhouse.insert({ table: 'events', format: 'JSONEachRow', values: row === undefined ? [] : [row] });
}

async function rows<T>(query: string): Promise<T[]> {
  return (await clickhouse.query({ query, query_params: { t: TENANT }, format: 'JSONEachRow' })).json<T>();
}

async function merged(): Promise<void> {
  for (const table of ['events', 'ledger', 'actions']) await clickhouse.command({ query: `OPTIMIZE TABLE ${table} FINAL` });
}

const eventsLeft = async () =>
  (
    await rows<{ action_id: string; event_type: string }>(
      'SELECT action_id, event_type FROM events WHERE tenant_id = {t:String} ORDER BY action_id, event_type',
    )
  ).map((r) => `${r.action_id} ${r.event_type}`);

beforeAll(async () => {
  clickhouse = createClickHouse({ dataPath: join(root, 'chdb') });
  // An actions table as created before the provenance columns existed.
  const create = sqlStatements(DEFAULT_SQL_DIR).find((s) => s.startsWith('CREATE TABLE IF NOT EXISTS actions ('));
  const before = (create ?? '')
    .split('\n')
    .filter((line) => !PROVENANCE_COLUMNS.some((column) => line.trimStart().startsWith(`${column} `)))
    .join('\n');
  expect(before).toContain('reconciled_at');
  await clickhouse.command({ query: before });
}, 60_000);

afterAll(async () => {
  await clickhouse?.close();
  rmSync(root, { recursive: true, force: true });
});

describe('ClickHouse retention (real chDB)', () => {
  it('gives an actions table created before them the provenance columns, and applies again without a change', async () => {
    const columnsOfActions = async () =>
      (await rows<{ name: string }>("SELECT name FROM system.columns WHERE database = currentDatabase() AND table = 'actions' ORDER BY position")).map(
        (c) => c.name,
      );
    expect(await columnsOfActions()).not.toContain('model_name');
    await applySchema(clickhouse);
    const columns = await columnsOfActions();
    expect(columns).toEqual(expect.arrayContaining(PROVENANCE_COLUMNS));
    await applySchema(clickhouse);
    expect(await columnsOfActions()).toEqual(columns);
  });

  it('sets the detail TTL once: a second boot with the same days changes nothing, other days change it, 0 removes it', async () => {
    const ttlInForce = async () =>
      (await rows<{ engine_full: string }>("SELECT engine_full FROM system.tables WHERE database = currentDatabase() AND name = 'events'"))[0]?.engine_full ??
      '';
    expect(await applyRetention(clickhouse, 30)).toMatchObject([{ table: 'events', changed: true }]);
    expect(await ttlInForce()).toContain('TTL toDateTime(occurred_at) + toIntervalDay(30) WHERE');
    expect(await applyRetention(clickhouse, 30)).toMatchObject([{ table: 'events', changed: false }]);
    expect(await applyRetention(clickhouse, 7)).toMatchObject([{ table: 'events', changed: true }]);
    expect(await ttlInForce()).toContain('+ toIntervalDay(7) WHERE');
    expect(await applyRetention(clickhouse, 0)).toMatchObject([{ table: 'events', changed: true, ttl: undefined }]);
    expect(await ttlInForce()).not.toContain('TTL');
    expect(await applyRetention(clickhouse, 0)).toMatchObject([{ table: 'events', changed: false }]);
  });

  it('drops the tool reports past the TTL at a merge; keeps the chain entries, the action rows, the rest of the events and recent reports', async () => {
    await applyRetention(clickhouse, 30);
    await project([
      // An action of 40 days ago, from before results travelled by reference: proposed with
      // provenance, executed and completed with the tool's result inline.
      chained('ActionProposed', 'old-refund', 40),
      chained('PolicyDecided', 'old-refund', 40, { decision: 'allow' }),
      chained('ActionExecuted', 'old-refund', 40, { result_json: INLINE, result_ref: null }),
      chained('ActionCompleted', 'old-refund', 40, { status: 'completed', result_json: INLINE, result_ref: null }),
      // One that failed at the tool, and one denied (its end carries no result): 40 days ago too.
      chained('ActionFailed', 'old-failure', 40),
      chained('ActionCompleted', 'old-denial', 40, { status: 'denied', result_json: null, result_ref: null }),
      // Yesterday's report is within the 30 days.
      chained('ActionExecuted', 'new-refund', 1, { result_json: INLINE, result_ref: null }),
      // Results by reference: the chained events keep only the body's digest, so they stay.
      chained('ActionExecuted', 'old-byref', 40),
      chained('ActionCompleted', 'old-byref', 40, { status: 'completed' }),
    ]);
    // The bodies (writ.results.v1): the old one goes, yesterday's stays.
    await projectBody('old-byref', 40);
    await projectBody('new-byref', 1);
    const all = [
      'new-refund ActionExecuted',
      'old-byref ActionCompleted',
      'old-byref ActionExecuted',
      'old-denial ActionCompleted',
      'old-failure ActionFailed',
      'old-refund ActionCompleted',
      'old-refund ActionExecuted',
      'old-refund ActionProposed',
      'old-refund PolicyDecided',
    ];
    // Expired rows may go at the insert already, or at any merge: force one.
    await merged();

    expect(await eventsLeft()).toEqual([
      'new-byref ToolResultRecorded',
      'new-refund ActionExecuted',
      'old-byref ActionCompleted',
      'old-byref ActionExecuted',
      'old-denial ActionCompleted',
      'old-refund ActionProposed',
      'old-refund PolicyDecided',
    ]);
    // The permanent minimal ledger: every chain entry, bytes included, and the action's row with its outcome and provenance.
    const ledger = await rows<{ seq: string; event_type: string; event_bytes: string }>(
      'SELECT seq, event_type, event_bytes FROM ledger FINAL WHERE chain_id = {t:String} ORDER BY seq',
    );
    expect(ledger.map((entry) => entry.event_type).sort()).toEqual(all.map((row) => row.split(' ')[1]).sort());
    expect(ledger.every((entry) => entry.event_bytes !== '')).toBe(true);
    const [action] = await rows<Record<string, unknown>>(
      "SELECT status, outcome, model_name, prompt_version, retrieved_document_ids FROM actions FINAL WHERE tenant_id = {t:String} AND action_id = 'old-refund'",
    );
    expect(action).toEqual({
      status: 'completed',
      outcome: 'succeeded',
      model_name: 'claude-sonnet-4-5',
      prompt_version: 'triage-v7',
      retrieved_document_ids: ['kb/refund-policy'],
    });
  });

  it('keeps every report with WRIT_LEDGER_DETAIL_TTL_DAYS=0', async () => {
    await applyRetention(clickhouse, 0);
    await project([
      chained('ActionExecuted', 'kept-forever', 400, { result_json: INLINE, result_ref: null }),
      chained('ActionCompleted', 'kept-forever', 400, { status: 'completed', result_json: INLINE, result_ref: null }),
    ]);
    await projectBody('kept-forever', 400);
    await merged();
    expect(await eventsLeft()).toEqual(
      expect.arrayContaining(['kept-forever ActionCompleted', 'kept-forever ActionExecuted', 'kept-forever ToolResultRecorded']),
    );
  });
});
