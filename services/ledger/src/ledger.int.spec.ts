// The ledger service in-process against the real broker and a real chDB in a temp folder: events
// produced to the real topics (this file's tenants only) are chained once, projected, exported
// over HTTP and verified; a restart and redelivery add nothing twice; a tail shorter than the
// checkpoint count is signed by the checkpoint timer; one flipped byte in the stored chain fails
// verification at that entry.
import 'reflect-metadata';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Module } from '@nestjs/common';
import type { DynamicModule } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventProducer, silentLogger } from '@writ/bus';
import { TOPICS, decodeEvent, encodeEvent, topicOf } from '@writ/contracts';
import type { EventPayloads, EventType, NewMetadata } from '@writ/contracts';
import { sampleEvent } from '@writ/contracts/testing';
import { canonicalJson, createKeyring, generateSigningKey, sha256Canonical, sha256Hex } from '@writ/crypto';
import { hashApiKey } from '@writ/directory';
import { parseExport, verifyExport } from '@writ/ledger-core';
import { readTopicToEnd } from '@writ/bus/testing';
import { SERVICE_CONFIG, loadServiceConfig } from '@writ/runtime';
import { testKafkaBrokers, waitFor, withoutIdentifiers } from '@writ/testing';
import { ledgerConfigSpec } from './config.ts';
import { LedgerModule } from './ledger.module.ts';
import { LedgerService } from './ledger.service.ts';

const brokers = testKafkaBrokers();
const TOOLS_DIR = fileURLToPath(new URL('../../../tools', import.meta.url));
const PREFIX = `t-ledger-${randomUUID().slice(0, 8)}`;
const TENANT = `${PREFIX}-a`;
const GROUP = `writ.ledger.test.${randomUUID().slice(0, 8)}`;
const WAIT = { timeoutMs: 45_000, intervalMs: 100 } as const;
/** WRIT_LEDGER_CHAIN_WAIT_MS of this suite's ledger. */
const CHAIN_WAIT_MS = 300;

const root = mkdtempSync(join(tmpdir(), 'writ-ledger-'));
const chdbPath = join(root, 'chdb');
const key = generateSigningKey('ledger-test-1');
const keyring = createKeyring({ 'ledger-test-1': key.publicKey });
const keyFile = join(root, 'keys', 'ledger-test-1.pem');
mkdirSync(join(root, 'keys'));
writeFileSync(keyFile, key.exportPrivateKeyPem(), { mode: 0o600 });
// The door's callers: an auditor and an analyst of this file's tenant.
const AUDITOR_KEY = `k-auditor-${randomUUID()}`;
const ANALYST_KEY = `k-analyst-${randomUUID()}`;
const directoryFile = join(root, 'directory.json');
writeFileSync(
  directoryFile,
  JSON.stringify({
    agents: [],
    users: [
      { id: 'auditor', tenant: TENANT, role: 'audit', roles: ['auditor'], api_key_sha256: hashApiKey(AUDITOR_KEY) },
      { id: 'analyst', tenant: TENANT, role: 'finance', roles: ['analyst'], api_key_sha256: hashApiKey(ANALYST_KEY) },
    ],
  }),
);

let app: NestFastifyApplication | undefined;
let baseUrl = '';
let producer: EventProducer;

async function boot(): Promise<void> {
  process.env['WRIT_CHDB_PATH'] = chdbPath;
  delete process.env['CLICKHOUSE_URL'];
  delete process.env['CLICKHOUSE_DATABASE'];
  const config = loadServiceConfig(26085, ledgerConfigSpec, {
    WRIT_KAFKA_BROKERS: brokers.join(','),
    WRIT_KAFKA_GROUP_ID: GROUP,
    WRIT_LEDGER_TENANTS: `${PREFIX}*`,
    WRIT_LEDGER_CHECKPOINT_EVERY: '4',
    // Short, so the test sees the timer sign a tail that the count does not reach.
    WRIT_LEDGER_CHECKPOINT_INTERVAL_MS: '1000',
    // Every case here chains with entries waiting for each other (the last case counts the transactions).
    WRIT_LEDGER_CHAIN_WAIT_MS: String(CHAIN_WAIT_MS),
    WRIT_LEDGER_SIGNING_KEY: keyFile,
    WRIT_TOOLS_DIR: TOOLS_DIR,
    WRIT_LEDGER_QUERY_MAX_ROWS: '50',
    WRIT_DIRECTORY_FILE: directoryFile,
  });
  @Module({})
  class TestRoot {}
  const rootModule: DynamicModule = {
    module: TestRoot,
    global: true,
    imports: [LedgerModule],
    providers: [{ provide: SERVICE_CONFIG, useValue: config }],
    exports: [SERVICE_CONFIG],
  };
  const started = await NestFactory.create<NestFastifyApplication>(rootModule, new FastifyAdapter(), { logger: false });
  await started.listen(0, '127.0.0.1');
  app = started;
  baseUrl = await started.getUrl();
  baseUrl = baseUrl.replace('[::1]', '127.0.0.1');
}

async function shutdown(): Promise<void> {
  await app?.close();
  app = undefined;
}

async function sql<T>(query: string, params: Record<string, unknown> = {}): Promise<T[]> {
  const clickhouse = app?.get(LedgerService).clickhouse;
  if (clickhouse === undefined) throw new Error('ledger not running');
  const result = await clickhouse.query({ query, query_params: params, format: 'JSONEachRow' });
  return result.json<T>();
}

async function exported(tenant = TENANT): Promise<string> {
  const response = await fetch(`${baseUrl}/v1/ledger/${tenant}`, { headers: { authorization: `Bearer ${AUDITOR_KEY}` } });
  expect(response.status).toBe(200);
  return response.text();
}

async function ledgerRows(tenant = TENANT): Promise<number> {
  const [row] = await sql<{ n: string }>('SELECT count() AS n FROM ledger FINAL WHERE chain_id = {t:String}', { t: tenant });
  return Number(row?.n ?? 0);
}

type Sent = { type: EventType; bytes: Buffer; id: string };

/** Sends raw Avro bytes (so a redelivery can send exactly the same bytes again). */
async function send(events: readonly Sent[]): Promise<void> {
  await producer.sendRecords(
    events.map((e) => {
      return { topic: topicOf(e.type), key: decodeEvent(e.bytes).payload.meta.run_id, value: e.bytes };
    }),
  );
}

function event<T extends EventType>(type: T, patch: (p: EventPayloads[T]) => EventPayloads[T], meta: Partial<NewMetadata>): Sent {
  const payload = patch(sampleEvent(type, { tenant_id: TENANT, ...meta }));
  return { type, bytes: encodeEvent(type, payload), id: payload.meta.event_id };
}

const RUN = `run-${randomUUID().slice(0, 8)}`;
const ACTION = randomUUID();
const ARGS = { ticket_id: 'T-1', customer_id: 'C-7', amount_cents: 4200, ticket_tags: ['refund_approved'], reason: 'broken', card_last4: '4242' };

function story(): Sent[] {
  const m = { run_id: RUN, action_id: ACTION };
  return [
    event('RunStarted', (p) => ({ ...p, agent_id: 'agent-ledger' }), { run_id: RUN }),
    event(
      'ActionProposed',
      (p) => ({
        ...p,
        agent_id: 'agent-ledger',
        tool: 'refunds.issue',
        tool_version: '1.2.0',
        arguments_json: canonicalJson(ARGS),
        args_sha256: sha256Canonical(ARGS),
      }),
      m,
    ),
    event('PolicyDecided', (p) => ({ ...p, decision: 'allow', determining_policies: ['support-refunds'] }), m),
    event('BudgetReserved', (p) => p, m),
    event('BudgetSettled', (p) => ({ ...p, agent_id: 'agent-ledger', actual_cost_micros: 20_000, released_micros: 0, currency: 'USD' }), m),
    event('ActionCompleted', (p) => ({ ...p, status: 'completed', cost_micros: 20_000, currency: 'USD' }), m),
    event('ControlChanged', (p) => p, { run_id: `control-${RUN}` }),
    event('RunEnded', (p) => p, { run_id: RUN }),
  ];
}

let first: Sent[] = [];

beforeAll(async () => {
  producer = new EventProducer({ brokers, clientId: 'ledger-int', logger: silentLogger });
  await producer.connect();
  await boot();
});

afterAll(async () => {
  await shutdown();
  await producer.disconnect();
  rmSync(root, { recursive: true, force: true });
});

describe('ledger service', () => {
  it('chains every event once (a duplicate delivery too), projects it and verifies', async () => {
    first = story();
    await send(first);
    await send([first[2] as Sent]); // the same bytes again: not chained twice
    await waitFor(async () => (await ledgerRows()) >= first.length, { ...WAIT, what: 'every event projected into the ledger table' });

    const chain = (await readTopicToEnd(brokers, TOPICS.ledger, { readCommitted: true }))
      .map((r) => decodeEvent(r.value ?? Buffer.alloc(0)))
      .flatMap((d) => (d.type === 'LedgerEntry' && d.payload.chain_id === TENANT ? [d.payload] : []));
    expect(chain.map((e) => e.seq)).toEqual(first.map((_, i) => i));
    expect(chain.map((e) => e.source_event_id).sort()).toEqual(first.map((e) => e.id).sort());
    expect(chain.every((e) => first.some((s) => s.id === e.source_event_id && s.bytes.equals(e.event_bytes)))).toBe(true);
    // Hash version 2: each entry carries, and its hash binds, the run, action and time of its event.
    for (const entry of chain) {
      const { meta } = decodeEvent(entry.event_bytes).payload;
      expect(entry).toMatchObject({ hash_version: 2, source_run_id: meta.run_id, source_action_id: meta.action_id, source_occurred_at: meta.occurred_at });
    }

    const counts = await sql<{ event_id: string; n: string }>(
      'SELECT event_id, count() AS n FROM events FINAL WHERE tenant_id = {t:String} GROUP BY event_id',
      { t: TENANT },
    );
    expect(counts.map((c) => c.event_id).sort()).toEqual(first.map((e) => e.id).sort());
    expect(counts.every((c) => c.n === '1')).toBe(true);

    // Sensitive argument redacted in the projection; that event's bytes withheld from ClickHouse.
    const proposed = await sql<{ payload: string; agent_id: string }>(
      "SELECT payload, agent_id FROM events FINAL WHERE tenant_id = {t:String} AND event_type = 'ActionProposed'",
      { t: TENANT },
    );
    expect(proposed[0]?.payload).toContain('[redacted]');
    expect(withoutIdentifiers(proposed[0]?.payload ?? '')).not.toContain('4242');
    expect(proposed[0]?.agent_id).toBe('agent-ledger');
    const withheld = await sql<{ event_type: string }>('SELECT event_type FROM ledger FINAL WHERE chain_id = {t:String} AND event_bytes_withheld = 1', {
      t: TENANT,
    });
    expect(withheld.map((r) => r.event_type)).toEqual(['ActionProposed']);

    const [action] = await sql<{ stage: string; status: string; decision: string; agent_id: string; tool: string }>(
      'SELECT stage, status, decision, agent_id, tool FROM actions FINAL WHERE tenant_id = {t:String} AND action_id = {a:String}',
      { t: TENANT, a: ACTION },
    );
    expect(action).toEqual({ stage: 'completed', status: 'completed', decision: 'allow', agent_id: 'agent-ledger', tool: 'refunds.issue' });
    const [spend] = await sql<{ cost: string; settlements: string }>(
      'SELECT sum(cost_micros) AS cost, sum(settlements) AS settlements FROM daily_spend WHERE tenant_id = {t:String} AND agent_id = {a:String}',
      { t: TENANT, a: 'agent-ledger' },
    );
    expect(spend).toEqual({ cost: '20000', settlements: '1' });
    const [decisions] = await sql<{ n: string }>("SELECT sum(decisions) AS n FROM daily_decisions WHERE tenant_id = {t:String} AND decision = 'allow'", {
      t: TENANT,
    });
    expect(decisions?.n).toBe('1');

    // Every 4 entries: seq 3 and 7 (the timer may sign one more in between on a slow day).
    const head = first.length - 1;
    await waitFor(async () => parseExport(await exported()).checkpoints.some((c) => c.seq === head), { ...WAIT, what: 'checkpoints projected' });
    const verification = verifyExport(parseExport(await exported()), keyring);
    expect(verification.result).toMatchObject({ ok: true, entries: first.length, events_checked: first.length - 1, anchored_through: head, unanchored: null });
    expect(verification.result.ok && verification.result.heads_checked).toBeGreaterThanOrEqual(2);
    expect(verification.withheld).toBe(1);
  });

  it("keeps a tool result's body out of the chain, with its digest in its stead, and gives analysts a readable copy", async () => {
    // A tenant of its own: the other cases count this tenant's entries and rows.
    const tenant = `${PREFIX}results`;
    const action = randomUUID();
    const m = { tenant_id: tenant, run_id: RUN, action_id: action };
    const body = canonicalJson({ refund_id: `RF-${action}`, status: 'issued' });
    const executed = event('ActionExecuted', (p) => ({ ...p, result_json: null, result_ref: sha256Hex(body) }), m);
    const recorded = event('ToolResultRecorded', (p) => ({ ...p, tool: 'refunds.issue', result_json: body, result_ref: sha256Hex(body) }), m);
    await send([recorded, executed]);
    const [row] = await waitFor(
      async () => {
        const found = await sql<{ payload: string; chain_seq: string; topic: string }>(
          "SELECT payload, chain_seq, topic FROM events FINAL WHERE tenant_id = {t:String} AND action_id = {a:String} AND event_type = 'ToolResultRecorded'",
          { t: tenant, a: action },
        );
        return found.length > 0 ? found : undefined;
      },
      { ...WAIT, what: 'the result body projected into events' },
    );
    expect(row).toMatchObject({ chain_seq: '0', topic: TOPICS.results });
    expect(JSON.parse(row?.payload ?? '{}')).toMatchObject({ result_json: body, result_ref: sha256Hex(body) });
    await waitFor(async () => (await sql('SELECT 1 FROM ledger FINAL WHERE source_event_id = {e:String}', { e: executed.id })).length === 1, {
      ...WAIT,
      what: 'the ActionExecuted chained',
    });
    const entries = (await readTopicToEnd(brokers, TOPICS.ledger, { readCommitted: true }))
      .map((r) => decodeEvent(r.value ?? Buffer.alloc(0)))
      .flatMap((d) => (d.type === 'LedgerEntry' && d.payload.chain_id === tenant && d.payload.source_action_id === action ? [d.payload] : []));
    expect(entries.map((e) => e.event_type)).toEqual(['ActionExecuted']);
    expect(entries[0]?.event_bytes.includes(`RF-${action}`)).toBe(false);
    expect(entries[0]?.event_bytes.includes(sha256Hex(body))).toBe(true);
  });

  it("reports how far the chain and ClickHouse are behind, to a reader's key only", async () => {
    const lag = async (key?: string) => fetch(`${baseUrl}/v1/lag`, key === undefined ? {} : { headers: { authorization: `Bearer ${key}` } });
    expect((await lag()).status).toBe(401);
    expect((await lag('k-nobody')).status).toBe(401);
    interface Lag {
      measured_at: number;
      chain: { behind: number; partitions: { topic: string; behind: number; committed: number | null }[]; last_event_at: number | null };
      projection: { behind: number; partitions: { partition: number; behind: number }[]; last_event_at: number | null } | null;
    }
    const caughtUp = await waitFor(
      async () => {
        const response = await lag(ANALYST_KEY);
        expect(response.status).toBe(200);
        const body = (await response.json()) as Lag;
        return body.projection?.behind === 0 ? body : undefined;
      },
      { ...WAIT, what: 'ClickHouse caught up with the chain' },
    );
    // Every input topic's partitions are counted; the chain took the story's events, ClickHouse their entries.
    expect(new Set(caughtUp.chain.partitions.map((p) => p.topic))).toEqual(
      new Set(Object.values(TOPICS).filter((t) => t !== TOPICS.ledger && t !== TOPICS.results)),
    );
    expect(caughtUp.chain.partitions.every((p) => p.behind >= 0 && (p.committed === null || p.committed >= 0))).toBe(true);
    expect(caughtUp.chain.last_event_at).toBeGreaterThan(Date.parse('2026-01-01'));
    expect(caughtUp.projection?.last_event_at).toBeGreaterThan(Date.parse('2026-01-01'));
    expect(caughtUp.measured_at).toBeLessThanOrEqual(Date.now());
  });

  it('adds nothing twice across a restart and a redelivery, and continues the chain', async () => {
    await shutdown();
    await boot();
    const more = [event('RunStarted', (p) => p, { run_id: `${RUN}-2` }), event('RunEnded', (p) => p, { run_id: `${RUN}-2` })];
    await send([first[0] as Sent, ...more, first[5] as Sent]);
    const total = first.length + more.length;
    await waitFor(async () => (await ledgerRows()) >= total, { ...WAIT, what: 'the new events projected' });
    const lines = parseExport(await exported());
    expect(lines.entries.map((e) => e.seq)).toEqual(Array.from({ length: total }, (_, i) => i));
    expect(new Set(lines.entries.map((e) => e.source_event_id)).size).toBe(total);
    expect(verifyExport(lines, keyring).result.ok).toBe(true);
    // Two entries after the checkpoint of seq 7, fewer than the 4 the count waits for: the timer signs them.
    expect(total % 4).not.toBe(0);
    const signed = await waitFor(
      async () => {
        const text = await exported();
        return parseExport(text).checkpoints.some((c) => c.seq === total - 1) ? parseExport(text) : undefined;
      },
      { ...WAIT, what: 'the checkpoint timer signed the tail' },
    );
    expect(verifyExport(signed, keyring).result).toMatchObject({ ok: true, anchored_through: total - 1, unanchored: null });
    const [events] = await sql<{ n: string }>('SELECT count() AS n FROM events FINAL WHERE tenant_id = {t:String}', { t: TENANT });
    expect(events?.n).toBe(String(total));
  });

  it('fails verification at the entry whose stored bytes or hash had one byte flipped', async () => {
    const clickhouse = app?.get(LedgerService).clickhouse;
    if (clickhouse === undefined) throw new Error('ledger not running');
    // An entry whose bytes the ledger keeps (a sensitive event's are withheld, and then only the
    // links are checked). Which event is which seq depends on the order the topics were read in.
    const [row] = await sql<{ seq: string | number; event_bytes: string; chain_hash: string; source_event_id: string }>(
      "SELECT seq, event_bytes, chain_hash, source_event_id FROM ledger FINAL WHERE chain_id = {t:String} AND seq >= 1 AND event_bytes != '' ORDER BY seq LIMIT 1",
      { t: TENANT },
    );
    if (row === undefined) throw new Error('no entry with its event bytes kept');
    const seq = Number(row.seq);
    const bytes = Buffer.from(row.event_bytes, 'base64');
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] ?? 0) ^ 0x01;
    const update = (set: string, params: Record<string, unknown>) =>
      clickhouse.command({
        query: `ALTER TABLE ledger UPDATE ${set} WHERE chain_id = {t:String} AND seq = {seq:UInt64}`,
        query_params: { t: TENANT, seq, ...params },
        clickhouse_settings: { mutations_sync: '2' },
      });

    // A mutation may apply after the statement returns: wait until the stored chain shows it.
    const verifyWhen = async (changed: (text: string) => boolean) => {
      let text = '';
      await waitFor(async () => changed((text = await exported())), { ...WAIT, what: 'the mutation applied' });
      return verifyExport(parseExport(text), keyring).result;
    };
    await update('event_bytes = {b:String}', { b: bytes.toString('base64') });
    expect(await verifyWhen((t) => t.includes(bytes.toString('base64')))).toMatchObject({
      ok: false,
      seq,
      event_id: row.source_event_id,
      kind: 'event-changed',
    });

    await update('event_bytes = {b:String}', { b: row.event_bytes });
    const flipped = (row.chain_hash[0] === 'a' ? 'b' : 'a') + row.chain_hash.slice(1);
    await update('chain_hash = {h:String}', { h: flipped });
    expect(await verifyWhen((t) => t.includes(flipped) && t.includes(row.event_bytes))).toMatchObject({ ok: false, seq, kind: 'entry-changed' });
    await update('chain_hash = {h:String}', { h: row.chain_hash });
    expect((await verifyWhen((t) => !t.includes(flipped))).ok).toBe(true);
  });

  it('serves read-only analytics and refuses anything else', async () => {
    const post = (body: unknown, key = ANALYST_KEY) =>
      fetch(`${baseUrl}/v1/query`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
        body: JSON.stringify(body),
      });
    expect((await post({ sql: 'SELECT 1' }, 'k-unknown')).status).toBe(401);
    const ok = await post({ sql: 'SELECT event_type, count() AS n FROM events GROUP BY event_type ORDER BY event_type' });
    expect(ok.status).toBe(200);
    const answer = (await ok.json()) as { rows: { event_type: string }[]; truncated: boolean };
    expect(answer.rows.map((r) => r.event_type)).toContain('ActionProposed');
    expect(answer.truncated).toBe(false);

    const refused = await post({ sql: 'ALTER TABLE ledger DELETE WHERE 1' });
    expect(refused.status).toBe(400);
    expect(await refused.json()).toMatchObject({ error: { code: 'QUERY_NOT_ALLOWED', field: 'sql' } });
    expect(await ledgerRows()).toBeGreaterThan(0);
    const bad = await post({ sql: 'SELECT nope FROM events' });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: { code: 'QUERY_FAILED' } });
  });
  it('projects the announced budgets into budget_limits; the analyst reads the latest of their tenant’s only, and spend against it', async () => {
    const other = `${PREFIX}-b`;
    const agent = `agent-budget-${randomUUID().slice(0, 8)}`;
    const budget = (money: number) => ({
      scope: 'agent_day' as const,
      subject: agent,
      window_ms: null,
      money_micros: money,
      tool_calls: 50,
      thresholds_percent: [50, 80, 100],
      approval_at_percent: null,
      reads_only_at_percent: 90,
    });
    const configured = (tenant: string, digest: string, money: number, occurredAt: number): Sent =>
      event('BudgetsConfigured', (p) => ({ ...p, config_sha256: digest, currency: 'USD', time_zone: 'UTC', budgets: [budget(money)] }), {
        tenant_id: tenant,
        run_id: `budgets:${digest}`,
        action_id: null,
        occurred_at: occurredAt,
      });
    const now = Date.now();
    const older = configured(TENANT, '1'.repeat(64), 3_000_000, now - 60_000);
    const newer = configured(TENANT, '2'.repeat(64), 5_000_000, now - 30_000);
    const foreign = configured(other, '3'.repeat(64), 9_000_000, now - 10_000);
    // One live action of the agent that cost $1.25 today.
    const run = `run-budget-${randomUUID().slice(0, 8)}`;
    const action = randomUUID();
    const m = { run_id: run, action_id: action };
    const spent = [
      event('ActionProposed', (p) => ({ ...p, agent_id: agent, tool: 'tickets.get', tool_version: '1.0.0', mode: 'live' }), m),
      event('ActionCompleted', (p) => ({ ...p, status: 'completed', reason_code: 'SUCCEEDED', cost_micros: 1_250_000, currency: 'USD' }), m),
    ];
    await send([older, newer, foreign, ...spent]);
    await send([newer]); // the same bytes again: one row per cap
    const limits = async (tenant: string) =>
      sql<{ event_id: string; config_sha256: string; scope: string; level: string; period: string; subject: string; kind: string; limit_value: string }>(
        'SELECT event_id, config_sha256, scope, level, period, subject, kind, limit_value FROM budget_limits FINAL WHERE tenant_id = {t:String} AND subject = {s:String} ORDER BY configured_at, kind',
        { t: tenant, s: agent },
      );
    await waitFor(async () => (await limits(TENANT)).length === 4 && (await limits(other)).length === 2, { ...WAIT, what: 'the announcements projected' });
    await waitFor(async () => (await sql('SELECT 1 FROM endings FINAL WHERE action_id = {a:String}', { a: action })).length === 1, {
      ...WAIT,
      what: 'the action’s ending projected',
    });
    expect((await limits(TENANT)).map((r) => [r.event_id, r.config_sha256.slice(0, 1), r.level, r.period, r.kind, r.limit_value])).toEqual([
      [older.id, '1', 'agent', 'day', 'money', '3000000'],
      [older.id, '1', 'agent', 'day', 'tool_calls', '50'],
      [newer.id, '2', 'agent', 'day', 'money', '5000000'],
      [newer.id, '2', 'agent', 'day', 'tool_calls', '50'],
    ]);
    // Chained like every audited event: the record of the budget change.
    const [chained] = await sql<{ n: string }>(
      "SELECT count() AS n FROM ledger FINAL WHERE chain_id = {t:String} AND event_type = 'BudgetsConfigured' AND source_event_id IN {ids:Array(String)}",
      { t: TENANT, ids: [older.id, newer.id] },
    );
    expect(chained?.n).toBe('2');

    const door = async (query: string) => {
      const response = await fetch(`${baseUrl}/v1/query`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${ANALYST_KEY}` },
        body: JSON.stringify({ sql: query }),
      });
      expect(response.status, await response.clone().text()).toBe(200);
      return ((await response.json()) as { rows: Record<string, unknown>[] }).rows;
    };
    // The current budgets are the latest announcement's, of the analyst's tenant only.
    expect(await door(`SELECT DISTINCT tenant_id, config_sha256 FROM current_budget_limits`)).toEqual([{ tenant_id: TENANT, config_sha256: '2'.repeat(64) }]);
    expect(await door(`SELECT count() AS n FROM budget_limits WHERE tenant_id = '${other}'`)).toEqual([{ n: '0' }]);
    // Spend against it today, as the console asks (the tenant's zone written in, its day open now).
    expect(
      await door(
        `SELECT l.subject AS agent, l.limit_value AS limit_micros, sum(e.cost_micros) AS spent FROM current_budget_limits AS l
         LEFT JOIN (SELECT agent_id, cost_micros FROM endings WHERE run_mode = 'live' AND ended_at >= toStartOfDay(now('UTC'))) AS e ON e.agent_id = l.subject
         WHERE l.kind = 'money' AND l.subject = '${agent}' GROUP BY agent, limit_micros`,
      ),
    ).toEqual([{ agent, limit_micros: '5000000', spent: '1250000' }]);
  });

  it('projects shadow results, warnings and policy publications (a rollback too), per tenant, with the disagreement rollup counting each once', async () => {
    const other = `${PREFIX}-b`;
    const run = `run-modes-${randomUUID().slice(0, 8)}`;
    const day1 = Date.UTC(2026, 11, 7, 10, 0, 0);
    const day2 = Date.UTC(2026, 11, 8, 10, 0, 0);
    // Policy ids of this test only (the story's sample decision has a shadow result of its own).
    const cap = `modes-cap-${run}`;
    const audit = `modes-audit-${run}`;
    const policies = { p: [cap, audit] };
    const decided = (
      tenant: string,
      decision: 'allow' | 'deny',
      shadows: readonly [string, 'allow' | 'deny'][],
      occurredAt: number,
      warnings: readonly string[] = [],
    ): Sent =>
      event(
        'PolicyDecided',
        (p) => ({
          ...p,
          decision,
          warrant: null,
          warnings,
          shadow_results: shadows.map(([policy_id, shadow]) => ({ policy_id, decision: shadow, determining_policies: [policy_id] })),
        }),
        { tenant_id: tenant, run_id: run, action_id: randomUUID(), occurred_at: occurredAt },
      );
    const hash = (n: number) => String(n).repeat(64);
    const published = (sequence: number, setHash: string, previous: string | null, origin: 'publish' | 'rollback'): Sent =>
      event(
        'PolicySetPublished',
        (p) => ({
          ...p,
          stream: 'main',
          sequence,
          policy_set_hash: setHash,
          previous_hash: previous,
          version: `v${sequence}`,
          origin,
          author: 'root',
          message: `${origin} ${sequence}`,
          policies: [
            { policy_id: cap, text: `@id("${cap}")\n@mode("shadow")\nforbid (principal, action, resource);` },
            { policy_id: 'refunds-small-amounts', text: 'permit (principal, action, resource);' },
          ],
        }),
        { run_id: `publish-${run}-${sequence}`, action_id: null, occurred_at: day1 },
      );
    const warned = decided(
      TENANT,
      'allow',
      [
        [cap, 'deny'],
        [audit, 'allow'],
      ],
      day1,
      ['refunds-weekend-warning'],
    );
    const sent = [
      warned,
      decided(TENANT, 'deny', [[cap, 'deny']], day1),
      decided(TENANT, 'allow', [[cap, 'deny']], day2),
      decided(TENANT, 'allow', [], day2),
      decided(other, 'allow', [[cap, 'deny']], day1),
      published(1, hash(1), null, 'publish'),
      published(2, hash(2), hash(1), 'publish'),
      published(3, hash(1), hash(2), 'rollback'),
    ];
    await send(sent);
    await send([warned]); // the same bytes again: chained once, counted once
    const count = async (table: string, tenant: string) =>
      Number(
        (
          await sql<{ n: string }>(
            `SELECT count() AS n FROM ${table} FINAL WHERE tenant_id = {t:String} AND ${table === 'shadow_results' ? 'policy_id IN {p:Array(String)}' : '1'}`,
            { t: tenant, ...policies },
          )
        )[0]?.n ?? 0,
      );
    await waitFor(
      async () =>
        (await count('shadow_results', TENANT)) >= 4 && (await count('shadow_results', other)) >= 1 && (await count('policy_publications', TENANT)) >= 3,
      { ...WAIT, what: 'the shadow results and publications projected' },
    );
    const decisionIds = new Set(sent.slice(0, 5).map((e) => e.id));
    await waitFor(
      async () =>
        (await sql<{ event_id: string }>('SELECT event_id FROM decisions FINAL WHERE run_id = {r:String}', { r: run })).filter((r) =>
          decisionIds.has(r.event_id),
        ).length === 5,
      { ...WAIT, what: 'the decisions projected' },
    );

    const shadows = await sql<{ event_id: string; policy_id: string; enforced_decision: string; shadow_decision: string; disagrees: number }>(
      'SELECT event_id, policy_id, enforced_decision, shadow_decision, disagrees FROM shadow_results FINAL WHERE tenant_id = {t:String} AND policy_id IN {p:Array(String)} ORDER BY decided_at, policy_id, enforced_decision',
      { t: TENANT, ...policies },
    );
    expect(shadows).toEqual([
      { event_id: warned.id, policy_id: audit, enforced_decision: 'allow', shadow_decision: 'allow', disagrees: 0 },
      { event_id: warned.id, policy_id: cap, enforced_decision: 'allow', shadow_decision: 'deny', disagrees: 1 },
      { event_id: sent[1]?.id, policy_id: cap, enforced_decision: 'deny', shadow_decision: 'deny', disagrees: 0 },
      { event_id: sent[2]?.id, policy_id: cap, enforced_decision: 'allow', shadow_decision: 'deny', disagrees: 1 },
    ]);
    const [warnings] = await sql<{ warnings: string[] }>('SELECT warnings FROM decisions FINAL WHERE event_id = {e:String}', { e: warned.id });
    expect(warnings?.warnings).toEqual(['refunds-weekend-warning']);

    // The rollup counts every shadow row once (raw, without FINAL: a row inserted twice would count twice).
    const daily = await sql<{ policy_id: string; day: string; evaluations: string; disagreements: string }>(
      'SELECT policy_id, day, sum(evaluations) AS evaluations, sum(disagreements) AS disagreements FROM daily_shadow_disagreements WHERE tenant_id = {t:String} AND policy_id IN {p:Array(String)} GROUP BY policy_id, day ORDER BY policy_id, day',
      { t: TENANT, ...policies },
    );
    expect(daily).toEqual([
      { policy_id: audit, day: '2026-12-07', evaluations: '1', disagreements: '0' },
      { policy_id: cap, day: '2026-12-07', evaluations: '2', disagreements: '1' },
      { policy_id: cap, day: '2026-12-08', evaluations: '1', disagreements: '1' },
    ]);

    const publications = await sql<{
      sequence: number;
      policy_set_hash: string;
      previous_hash: string | null;
      origin: string;
      policies: number;
      author: string;
    }>(
      'SELECT sequence, policy_set_hash, previous_hash, origin, policies, author FROM policy_publications FINAL WHERE tenant_id = {t:String} ORDER BY sequence',
      { t: TENANT },
    );
    expect(publications).toEqual([
      { sequence: 1, policy_set_hash: hash(1), previous_hash: null, origin: 'publish', policies: 2, author: 'root' },
      { sequence: 2, policy_set_hash: hash(2), previous_hash: hash(1), origin: 'publish', policies: 2, author: 'root' },
      { sequence: 3, policy_set_hash: hash(1), previous_hash: hash(2), origin: 'rollback', policies: 2, author: 'root' },
    ]);
    // Publishing and rolling back are on the chain too.
    const chained = await sql<{ n: string }>(
      "SELECT count() AS n FROM ledger FINAL WHERE chain_id = {t:String} AND event_type = 'PolicySetPublished' AND source_topic = {topic:String}",
      { t: TENANT, topic: TOPICS.policysets },
    );
    expect(chained[0]?.n).toBe('3');

    // The tenant's analyst sees its own rows of each new table, never the other tenant's.
    const analyst = async (query: string) => {
      const response = await fetch(`${baseUrl}/v1/query`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${ANALYST_KEY}` },
        body: JSON.stringify({ sql: query }),
      });
      expect(response.status).toBe(200);
      return ((await response.json()) as { rows: Record<string, unknown>[] }).rows;
    };
    expect(
      await analyst(
        `SELECT policy_id, sum(evaluations) AS evaluations, sum(disagreements) AS disagreements FROM daily_shadow_disagreements WHERE policy_id IN ('${cap}', '${audit}') GROUP BY policy_id ORDER BY policy_id`,
      ),
    ).toEqual([
      { policy_id: audit, evaluations: '1', disagreements: '0' },
      { policy_id: cap, evaluations: '3', disagreements: '2' },
    ]);
    expect(await analyst('SELECT DISTINCT tenant_id FROM shadow_results')).toEqual([{ tenant_id: TENANT }]);
    expect(await analyst("SELECT origin FROM policy_publications WHERE origin = 'rollback'")).toEqual([{ origin: 'rollback' }]);
    expect(await count('shadow_results', other)).toBe(1);
  });

  it('chains events that come one by one within WRIT_LEDGER_CHAIN_WAIT_MS in one transaction', async () => {
    const tenant = `${PREFIX}batched`;
    const events = Array.from({ length: 5 }, () => event('RunStarted', (p) => p, { tenant_id: tenant, run_id: `run-${randomUUID().slice(0, 8)}` }));
    const writer = (app as NestFastifyApplication).get(LedgerService).writer;
    const before = writer.stats;
    for (const one of events) {
      await send([one]);
      await new Promise((resolve) => setTimeout(resolve, 30));
    }
    await waitFor(async () => (await ledgerRows(tenant)) === events.length, { ...WAIT, what: 'the five events chained and projected' });
    const after = writer.stats;
    // Each came in a batch of its own; without the wait, each batch is a transaction.
    expect(after.batches - before.batches).toBeGreaterThanOrEqual(3);
    expect(after.transactions - before.transactions).toBeLessThanOrEqual(2);
    const chain = (await readTopicToEnd(brokers, TOPICS.ledger, { readCommitted: true }))
      .map((r) => decodeEvent(r.value ?? Buffer.alloc(0)))
      .flatMap((d) => (d.type === 'LedgerEntry' && d.payload.chain_id === tenant ? [d.payload] : []));
    expect(chain.map((e) => e.seq)).toEqual([0, 1, 2, 3, 4]);
    expect(chain.map((e) => e.source_event_id).sort()).toEqual(events.map((e) => e.id).sort());
  });
});
