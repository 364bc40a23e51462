// The ledger's HTTP door on a real embedded ClickHouse (chDB) with the real analyst session, the
// real directory file and guard: credentials and roles on every route, tenant scope (another
// tenant is a 404, never data), and the hostile-query pack against POST /v1/query: each one
// refused with QUERY_NOT_ALLOWED naming the rule, the door still answering afterwards.
import 'reflect-metadata';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Module } from '@nestjs/common';
import type { DynamicModule } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClickHouse } from '@writ/clickhouse';
import type { ClickHouseClient } from '@writ/clickhouse';
import { hashApiKey } from '@writ/directory';
import { analystUserDdl } from '@writ/ledger-core';
import { BearerGuard, DirectoryCloser, SERVICE_CONFIG, directoryProvider } from '@writ/runtime';
import { waitFor } from '@writ/testing';
import { AnalystDoor } from './analyst-door.ts';
import { applySchema } from './clickhouse-schema.ts';
import { LedgerController } from './ledger.controller.ts';
import { LedgerService } from './ledger.service.ts';

const root = mkdtempSync(join(tmpdir(), 'writ-query-door-'));
const dataPath = join(root, 'chdb');
const directoryFile = join(root, 'directory.json');
const SECRET = 'PRIVATE-KEY-MATERIAL-7f3a9c';
const keyFile = join(root, 'keys', 'private', 'warrant-1.pem');
mkdirSync(join(root, 'keys', 'private'), { recursive: true });
writeFileSync(keyFile, `-----BEGIN PRIVATE KEY-----\n${SECRET}\n-----END PRIVATE KEY-----\n`, { mode: 0o600 });

const KEYS = {
  ana: 'k-ana-analyst',
  audrey: 'k-audrey-auditor',
  adam: 'k-adam-admin',
  dana: 'k-dana-approver',
  gus: 'k-gus-globex',
  root: 'k-root-platform',
  cli: 'k-writ-cli-service',
} as const;
const MAX_ROWS = 100;

function directory(anaKey: string = KEYS.ana): string {
  const user = (id: string, tenant: string, roles: string[], key: string) => ({ id, tenant, role: 'staff', roles, api_key_sha256: hashApiKey(key) });
  return JSON.stringify({
    agents: [],
    users: [
      user('ana', 'acme', ['analyst'], anaKey),
      user('audrey', 'acme', ['auditor'], KEYS.audrey),
      user('adam', 'acme', ['admin'], KEYS.adam),
      user('dana', 'acme', ['approver'], KEYS.dana),
      user('gus', 'globex', ['analyst', 'auditor'], KEYS.gus),
      user('root', '*', ['admin'], KEYS.root),
    ],
    services: [{ id: 'writ-cli', api_key_sha256: hashApiKey(KEYS.cli) }],
  });
}

let clickhouse: ClickHouseClient;
let door: AnalystDoor;
let app: NestFastifyApplication;
let baseUrl = '';

async function seed(): Promise<void> {
  const day = '2026-11-22 10:00:00.000';
  const spend = (tenant: string, i: number, cost: number) => ({
    event_id: `${tenant}-s${i}`,
    tenant_id: tenant,
    agent_id: `${tenant}-bot`,
    run_id: `${tenant}-run`,
    action_id: `${tenant}-a${i}`,
    cost_micros: cost,
    currency: 'USD',
    settled_at: day,
  });
  await clickhouse.insert({ table: 'spend', format: 'JSONEachRow', values: [spend('acme', 1, 1_000), spend('acme', 2, 2_000), spend('globex', 1, 900_000)] });
  const action = (tenant: string, i: number, decision: string) => ({
    tenant_id: tenant,
    action_id: `${tenant}-a${i}`,
    run_id: `${tenant}-run`,
    agent_id: `${tenant}-bot`,
    tool: 'refunds.issue',
    decision,
    status: 'completed',
    proposed_at: day,
    updated_at: day,
    version: 1,
  });
  await clickhouse.insert({
    table: 'actions',
    format: 'JSONEachRow',
    values: [action('acme', 1, 'allow'), action('acme', 2, 'deny'), action('globex', 1, 'allow')],
  });
  const decision = (tenant: string, i: number, value: string) => ({
    event_id: `${tenant}-d${i}`,
    tenant_id: tenant,
    action_id: `${tenant}-a${i}`,
    decision: value,
    decided_at: day,
  });
  await clickhouse.insert({
    table: 'decisions',
    format: 'JSONEachRow',
    values: [decision('acme', 1, 'allow'), decision('acme', 2, 'deny'), decision('globex', 1, 'allow')],
  });
  // Shadow results (the rollup daily_shadow_disagreements fills from them) and policy publications of both tenants.
  const shadow = (tenant: string, i: number, policy: string, enforced: string, shadowDecision: string, at = day) => ({
    event_id: `${tenant}-d${i}`,
    tenant_id: tenant,
    action_id: `${tenant}-a${i}`,
    policy_id: policy,
    enforced_decision: enforced,
    shadow_decision: shadowDecision,
    disagrees: enforced === shadowDecision ? 0 : 1,
    decided_at: at,
  });
  await clickhouse.insert({
    table: 'shadow_results',
    format: 'JSONEachRow',
    values: [
      shadow('acme', 1, 'refunds-new-cap', 'allow', 'deny'),
      shadow('acme', 2, 'refunds-new-cap', 'deny', 'deny'),
      shadow('acme', 3, 'refunds-new-cap', 'allow', 'deny', '2026-11-23 09:00:00.000'),
      shadow('acme', 1, 'refunds-audit', 'allow', 'allow'),
      shadow('globex', 1, 'refunds-new-cap', 'allow', 'deny'),
      shadow('globex', 2, 'globex-only', 'allow', 'deny'),
    ],
  });
  const publication = (tenant: string, sequence: number, origin: string) => ({
    event_id: `${tenant}-p${sequence}`,
    tenant_id: tenant,
    stream: 'main',
    sequence,
    policy_set_hash: String(sequence % 2).repeat(64),
    previous_hash: sequence === 1 ? null : String((sequence - 1) % 2).repeat(64),
    version: `v${sequence}`,
    origin,
    author: `${tenant}-admin`,
    message: `${origin} ${sequence}`,
    policies: 2,
    policy_ids: ['refunds-new-cap', 'refunds-small-amounts'],
    published_at: day,
  });
  await clickhouse.insert({
    table: 'policy_publications',
    format: 'JSONEachRow',
    values: [publication('acme', 1, 'publish'), publication('acme', 2, 'rollback'), publication('globex', 1, 'publish')],
  });
  const entry = (tenant: string, seq: number) => ({
    chain_id: tenant,
    seq,
    prev_hash: '0'.repeat(64),
    event_hash: '1'.repeat(64),
    chain_hash: '2'.repeat(64),
    source_event_id: `${tenant}-e${seq}`,
    event_type: 'RunStarted',
    source_topic: 'writ.proposals.v1',
    run_id: `${tenant}-run`,
    occurred_at: day,
    event_bytes: '',
  });
  await clickhouse.insert({ table: 'ledger', format: 'JSONEachRow', values: [entry('acme', 0), entry('acme', 1), entry('globex', 0)] });
}

beforeAll(async () => {
  writeFileSync(directoryFile, directory());
  clickhouse = createClickHouse({ dataPath });
  await applySchema(clickhouse);
  await seed();
  door = await AnalystDoor.open(clickhouse, { dataPath }, 'writ_analyst', {
    maxRows: MAX_ROWS,
    maxExecutionSeconds: 1,
    maxResultBytes: 8 * 1024 * 1024,
    maxMemoryBytes: 128 * 1024 * 1024,
  });
  @Module({})
  class TestRoot {}
  const rootModule: DynamicModule = {
    module: TestRoot,
    global: true,
    controllers: [LedgerController],
    providers: [
      { provide: SERVICE_CONFIG, useValue: { WRIT_DIRECTORY_FILE: directoryFile } },
      { provide: LedgerService, useValue: { clickhouse, analysts: door } },
      directoryProvider(50),
      DirectoryCloser,
      BearerGuard,
    ],
    exports: [SERVICE_CONFIG],
  };
  app = await NestFactory.create<NestFastifyApplication>(rootModule, new FastifyAdapter(), { logger: false });
  await app.listen(0, '127.0.0.1');
  baseUrl = (await app.getUrl()).replace('[::1]', '127.0.0.1');
}, 60_000);

afterAll(async () => {
  await app?.close();
  await door?.close();
  await clickhouse?.close();
  rmSync(root, { recursive: true, force: true });
});

const auth = (key: string | null | undefined): Record<string, string> => (key === undefined || key === null ? {} : { authorization: `Bearer ${key}` });
const get = (path: string, key?: string) => fetch(`${baseUrl}${path}`, { headers: auth(key) });
const query = (body: unknown, key: string | null = KEYS.ana) =>
  fetch(`${baseUrl}/v1/query`, { method: 'POST', headers: { 'content-type': 'application/json', ...auth(key) }, body: JSON.stringify(body) });

async function rows<T>(body: unknown, key?: string): Promise<T[]> {
  const response = await query(body, key);
  const text = await response.text();
  expect(response.status, text).toBe(200);
  return (JSON.parse(text) as { rows: T[] }).rows;
}

describe('ledger door: credentials, roles and tenant scope', () => {
  it('answers 401 with www-authenticate without a key or with an unknown key, on every route', async () => {
    for (const call of [() => get('/v1/ledger'), () => get('/v1/ledger/acme'), () => query({ sql: 'SELECT 1' }, null)]) {
      const response = await call();
      expect(response.status, `${response.url} ${await response.clone().text()}`).toBe(401);
      expect(response.headers.get('www-authenticate')).toBe('Bearer');
      expect(await response.json()).toMatchObject({ error: { code: 'UNAUTHENTICATED', field: 'authorization' } });
    }
    expect((await get('/v1/ledger', 'k-nobody')).status).toBe(401);
    expect((await query({ sql: 'SELECT 1' }, 'k-nobody')).status).toBe(401);
  });

  it('answers 403 to a principal without the route role', async () => {
    expect((await get('/v1/ledger', KEYS.dana)).status).toBe(403);
    expect((await get('/v1/ledger/acme', KEYS.dana)).status).toBe(403);
    expect((await get('/v1/ledger/acme', KEYS.ana)).status).toBe(403); // export: auditors only
    const refused = await query({ sql: 'SELECT 1' }, KEYS.dana);
    expect(refused.status).toBe(403);
    expect(await refused.json()).toMatchObject({ error: { code: 'FORBIDDEN', rule: 'the caller must be analyst or auditor' } });
    expect((await query({ sql: 'SELECT 1' }, KEYS.cli)).status).toBe(403); // a service does not run analyst SQL
  });

  it("lists only the caller's chains; services and platform admins see every chain", async () => {
    const ids = async (key: string) => ((await (await get('/v1/ledger', key)).json()) as { chains: { chain_id: string }[] }).chains.map((c) => c.chain_id);
    expect(await ids(KEYS.ana)).toEqual(['acme']);
    expect(await ids(KEYS.audrey)).toEqual(['acme']);
    expect(await ids(KEYS.gus)).toEqual(['globex']);
    expect(await ids(KEYS.root)).toEqual(['acme', 'globex']);
    expect(await ids(KEYS.cli)).toEqual(['acme', 'globex']);
  });

  it("exports a chain to its tenant's auditor; another tenant's chain is a 404 exactly like an unknown one", async () => {
    const own = await get('/v1/ledger/acme', KEYS.audrey);
    expect(own.status).toBe(200);
    expect((await own.text()).trim().split('\n')).toHaveLength(2);
    const other = await get('/v1/ledger/globex', KEYS.audrey);
    const unknown = await get('/v1/ledger/initech', KEYS.audrey);
    expect(other.status).toBe(404);
    expect(unknown.status).toBe(404);
    const [otherBody, unknownBody] = [await other.text(), await unknown.text()];
    expect(otherBody.replace('globex', 'T')).toBe(unknownBody.replace('initech', 'T'));
    expect(otherBody).not.toContain('globex-e0');
    expect((await get('/v1/ledger/globex', KEYS.gus)).status).toBe(200);
    expect((await get('/v1/ledger/globex', KEYS.cli)).status).toBe(200);
    expect((await get('/v1/ledger/globex', KEYS.root)).status).toBe(200);
  });

  it("scopes queries to the caller's tenant; naming another tenant is a 404", async () => {
    expect(await rows({ sql: 'SELECT tenant_id, sum(cost_micros) AS cost FROM spend GROUP BY tenant_id' })).toEqual([{ tenant_id: 'acme', cost: '3000' }]);
    expect(await rows({ sql: 'SELECT tenant_id, sum(cost_micros) AS cost FROM spend GROUP BY tenant_id' }, KEYS.gus)).toEqual([
      { tenant_id: 'globex', cost: '900000' },
    ]);
    expect(await rows({ sql: 'SELECT count() AS n FROM spend' }, KEYS.audrey)).toEqual([{ n: '2' }]);
    expect(await rows({ sql: 'SELECT count() AS n FROM spend' }, KEYS.adam)).toEqual([{ n: '2' }]);
    const other = await query({ sql: 'SELECT count() FROM spend', tenant: 'globex' });
    expect(other.status).toBe(404);
    expect(await other.json()).toMatchObject({ error: { code: 'NOT_FOUND', field: 'tenant' } });
    expect((await query({ sql: 'SELECT 1' }, KEYS.root)).status).toBe(400); // a platform admin names the tenant
    expect(await rows({ sql: 'SELECT count() AS n FROM spend', tenant: 'globex' }, KEYS.root)).toEqual([{ n: '1' }]);
  });

  it('follows the directory file: a rotated key works and the old one is refused, without a restart', async () => {
    writeFileSync(directoryFile, directory('k-ana-rotated'));
    await waitFor(async () => (await query({ sql: 'SELECT 1 AS one' }, 'k-ana-rotated')).status === 200, {
      timeoutMs: 10_000,
      intervalMs: 50,
      what: 'the new key accepted',
    });
    expect((await query({ sql: 'SELECT 1 AS one' }, KEYS.ana)).status).toBe(401);
    writeFileSync(directoryFile, directory());
    await waitFor(async () => (await query({ sql: 'SELECT 1 AS one' }, KEYS.ana)).status === 200, {
      timeoutMs: 10_000,
      intervalMs: 50,
      what: 'the old key back',
    });
  });
});

describe('analyst query door: the hostile-query pack', () => {
  // [what, sql, the rule the refusal names (a fragment), params?]
  const hostile: readonly (readonly [string, string, string, Record<string, unknown>?])[] = [
    ['the warrant key through file()', `SELECT * FROM file('${keyFile}', 'LineAsString')`, 'no table functions'],
    ['file() as a scalar', `SELECT file('${keyFile}') AS k`, 'no functions that read files'],
    [
      'file() in a subquery of an allowed table',
      `SELECT count() FROM spend WHERE agent_id IN (SELECT * FROM file('${keyFile}', 'LineAsString'))`,
      'no table functions',
    ],
    ['url()', "SELECT * FROM url('http://127.0.0.1:9/x', 'CSV', 'a String')", 'no table functions'],
    ['s3()', "SELECT * FROM s3('http://127.0.0.1:9/bucket/x.csv', 'CSV', 'a String')", 'no table functions'],
    ['remote()', "SELECT * FROM remote('127.0.0.1', 'system', 'tables')", 'no table functions'],
    ['filesystem()', "SELECT * FROM filesystem('/')", 'no table functions'],
    ['numbers()', 'SELECT * FROM numbers(10)', 'no table functions'],
    ['merge()', "SELECT * FROM merge('default', '.*')", 'no table functions'],
    ['system.tables', 'SELECT name FROM system.tables', 'no database names'],
    ['SYSTEM.tables', 'SELECT name FROM SYSTEM.tables', 'no database names'],
    ['"system"."tables"', 'SELECT name FROM "system"."tables"', 'no database names'],
    ['`system`.`tables`', 'SELECT name FROM `system`.`tables`', 'no database names'],
    ['system.numbers', 'SELECT * FROM system.numbers LIMIT 1', 'no database names'],
    ['information_schema', 'SELECT * FROM information_schema.tables', 'no database names'],
    ['INFORMATION_SCHEMA', 'SELECT * FROM INFORMATION_SCHEMA.TABLES', 'no database names'],
    ['the real database, qualified', 'SELECT * FROM default.spend', 'no database names'],
    ['the real table in a join', 'SELECT count() FROM spend AS a JOIN default.spend AS b ON a.event_id = b.event_id', 'no database names'],
    ['a table that is not an analyst table', 'SELECT * FROM projection_offsets', 'only the analyst tables'],
    ['IN <real table>', 'SELECT count() FROM spend WHERE tenant_id IN default.spend', 'IN takes a list or a subquery'],
    ['a table named through an Identifier parameter', 'SELECT * FROM {t:Identifier}', 'no database names', { t: 'system.tables' }],
    ['SETTINGS readonly = 0', 'SELECT count() FROM spend SETTINGS readonly = 0', 'no SETTINGS'],
    ['SETTINGS in a subquery', 'SELECT * FROM (SELECT count() FROM spend SETTINGS max_execution_time = 1000)', 'no SETTINGS'],
    ['SET', 'SET readonly = 0', 'exactly one ClickHouse SELECT'],
    ['two statements', 'SELECT 1; SELECT 2', 'exactly one ClickHouse SELECT'],
    ['a statement after a line comment', 'SELECT 1 -- harmless\n; DROP TABLE spend', 'exactly one ClickHouse SELECT'],
    ['a keyword split by a comment', 'SEL/**/ECT * FROM spend', 'exactly one ClickHouse SELECT'],
    ['INSERT', "INSERT INTO spend (event_id, tenant_id) VALUES ('x', 'acme')", 'exactly one ClickHouse SELECT'],
    ['INSERT ... SELECT', 'INSERT INTO spend SELECT * FROM spend', 'exactly one ClickHouse SELECT'],
    ['ALTER', 'ALTER TABLE spend DELETE WHERE 1', 'exactly one ClickHouse SELECT'],
    ['DROP', 'DROP TABLE spend', 'exactly one ClickHouse SELECT'],
    ['CREATE', 'CREATE TABLE x (a Int8) ENGINE = Memory', 'exactly one ClickHouse SELECT'],
    ['KILL', 'KILL QUERY WHERE 1', 'exactly one ClickHouse SELECT'],
    ['OPTIMIZE', 'OPTIMIZE TABLE spend FINAL', 'exactly one ClickHouse SELECT'],
    ['ATTACH', 'ATTACH TABLE x', 'exactly one ClickHouse SELECT'],
    ['TRUNCATE', 'TRUNCATE TABLE spend', 'exactly one ClickHouse SELECT'],
    ['SYSTEM', 'SYSTEM FLUSH LOGS', 'exactly one ClickHouse SELECT'],
    ['INTO OUTFILE', `SELECT * FROM spend INTO OUTFILE '${join(root, 'out.csv')}'`, 'no FORMAT or INTO OUTFILE'],
    ['FORMAT', 'SELECT * FROM spend FORMAT JSON', 'no FORMAT or INTO OUTFILE'],
    ['dictGet', "SELECT dictGet('writ_dict', 'a', toUInt64(1))", 'no functions that read'],
    ['joinGet', "SELECT joinGet('default.spend', 'cost_micros', 'acme')", 'no functions that read'],
    ['getSetting', "SELECT getSetting('readonly')", 'no functions that read'],
    ['sleep', 'SELECT sleep(3)', 'no functions that read'],
    ['hostName', 'SELECT hostName()', 'no functions that read'],
    [
      'a reserved parameter',
      'SELECT count() FROM spend WHERE tenant_id = {writ_tenant:String}',
      'no parameter names starting with writ_',
      { writ_tenant: 'globex' },
    ],
    [
      'a query longer than max_execution_time',
      // A sum over every one of the 5e9 rows (a count() of the same join can be answered without reading them).
      'SELECT sum(a * b + c) FROM (SELECT arrayJoin(range(1000)) AS a) AS x CROSS JOIN (SELECT arrayJoin(range(1000)) AS b) AS y CROSS JOIN (SELECT arrayJoin(range(5000)) AS c) AS z',
      'max_execution_time',
    ],
    [
      'a query that needs more than max_memory_usage',
      "SELECT length(groupArray(repeat('x', 100000))) FROM (SELECT arrayJoin(range(10000)))",
      'max_memory_usage',
    ],
  ];

  it.each(hostile)('refuses %s with QUERY_NOT_ALLOWED naming the rule', async (_, sql, rule, params) => {
    const response = await query(params === undefined ? { sql } : { sql, params });
    const text = await response.text();
    expect(response.status, text).toBe(400);
    const body = JSON.parse(text) as { error: { code: string; rule?: string; message: string } };
    expect(body.error.code, text).toBe('QUERY_NOT_ALLOWED');
    expect(body.error.rule, text).toContain(rule);
    expect(text).not.toContain(SECRET);
    // ... and the door still answers, with the caller's rows only.
    expect(await rows({ sql: 'SELECT count() AS n FROM spend' })).toEqual([{ n: '2' }]);
  });

  it('left every table and setting as it was', async () => {
    const [count] = await (await clickhouse.query({ query: 'SELECT count() AS n FROM spend', format: 'JSONEachRow' })).json<{ n: string }>();
    expect(count?.n).toBe('3');
    const [tables] = await (
      await clickhouse.query({ query: "SELECT count() AS n FROM system.tables WHERE database = 'writ_analyst'", format: 'JSONEachRow' })
    ).json<{ n: string }>();
    expect(tables?.n).toBe('0');
  });

  it('cuts a very large result at the row limit instead of running out of memory', async () => {
    const response = await query({ sql: 'SELECT arrayJoin(range(1000000)) AS n' });
    expect(response.status).toBe(200);
    const answer = (await response.json()) as { rows: unknown[]; truncated: boolean };
    expect(answer.rows).toHaveLength(MAX_ROWS);
    expect(answer.truncated).toBe(true);
  });

  it("never returns another tenant's rows: joins, unions, subqueries, IN, own WITH, explicit filters", async () => {
    const none = [
      "SELECT * FROM spend WHERE tenant_id = 'globex'",
      "SELECT a.event_id FROM spend AS a JOIN actions AS b ON a.action_id = b.action_id WHERE b.tenant_id = 'globex'",
      "SELECT tenant_id FROM (SELECT tenant_id FROM spend UNION ALL SELECT tenant_id FROM actions UNION ALL SELECT chain_id FROM ledger) WHERE tenant_id != 'acme'",
      "SELECT count() AS n FROM spend WHERE action_id IN (SELECT action_id FROM actions WHERE tenant_id = 'globex') HAVING n > 0",
      "WITH spend AS (SELECT * FROM spend) SELECT * FROM spend WHERE tenant_id = 'globex'",
      "WITH x AS (SELECT * FROM decisions) SELECT * FROM x WHERE tenant_id = 'globex'",
      "SELECT (SELECT sum(cost_micros) FROM spend WHERE tenant_id = 'globex') AS s WHERE s > 0",
      "SELECT * FROM ledger WHERE chain_id = 'globex'",
      "SELECT * FROM daily_spend WHERE tenant_id = 'globex'",
      "SELECT * FROM shadow_results WHERE tenant_id = 'globex'",
      "SELECT * FROM daily_shadow_disagreements WHERE tenant_id = 'globex' OR policy_id = 'globex-only'",
      "SELECT * FROM policy_publications WHERE tenant_id = 'globex'",
      "SELECT s.policy_id FROM shadow_results AS s JOIN policy_publications AS p ON has(p.policy_ids, s.policy_id) WHERE p.tenant_id = 'globex' OR s.tenant_id = 'globex'",
      'SELECT * FROM spend WHERE tenant_id = {t:String}',
    ];
    for (const sql of none) expect(await rows({ sql, params: { t: 'globex' } }), sql).toEqual([]);
    const viaOwnWith = await query({ sql: 'WITH x AS (SELECT 1) SELECT * FROM projection_offsets' });
    expect(viaOwnWith.status).toBe(400);
    expect(await viaOwnWith.json()).toMatchObject({ error: { code: 'QUERY_NOT_ALLOWED' } });
  });

  it("answers the analyst's spend and decision queries over their tenant", async () => {
    expect(
      await rows({
        sql: 'SELECT agent_id, sum(cost_micros) AS cost FROM spend WHERE settled_at >= {since:DateTime64(3)} GROUP BY agent_id ORDER BY agent_id',
        params: { since: '2026-11-01 00:00:00.000' },
      }),
    ).toEqual([{ agent_id: 'acme-bot', cost: '3000' }]);
    expect(await rows({ sql: 'SELECT decision, count() AS n FROM decisions GROUP BY decision ORDER BY decision' })).toEqual([
      { decision: 'allow', n: '1' },
      { decision: 'deny', n: '1' },
    ]);
    expect(await rows({ sql: '/* DROP TABLE spend */ SELECT status, count() AS n FROM actions -- by status\nGROUP BY status' })).toEqual([
      { status: 'completed', n: '2' },
    ]);
    expect(
      await rows({
        sql: 'SELECT d.decision, sum(s.cost_micros) AS cost FROM spend AS s JOIN decisions AS d ON s.action_id = d.action_id GROUP BY d.decision ORDER BY d.decision',
      }),
    ).toEqual([
      { decision: 'allow', cost: '1000' },
      { decision: 'deny', cost: '2000' },
    ]);
    // Where shadow policies disagree with what was enforced, per policy and day (the documented query).
    expect(
      await rows({
        sql: 'SELECT policy_id, day, sum(evaluations) AS evaluations, sum(disagreements) AS disagreements FROM daily_shadow_disagreements GROUP BY policy_id, day ORDER BY policy_id, day',
      }),
    ).toEqual([
      { policy_id: 'refunds-audit', day: '2026-11-22', evaluations: '1', disagreements: '0' },
      { policy_id: 'refunds-new-cap', day: '2026-11-22', evaluations: '2', disagreements: '1' },
      { policy_id: 'refunds-new-cap', day: '2026-11-23', evaluations: '1', disagreements: '1' },
    ]);
    expect(await rows({ sql: 'SELECT origin, count() AS n FROM policy_publications GROUP BY origin ORDER BY origin' })).toEqual([
      { origin: 'publish', n: '1' },
      { origin: 'rollback', n: '1' },
    ]);
    expect(await rows({ sql: 'SELECT count() AS n FROM shadow_results WHERE disagrees = 1' }, KEYS.gus)).toEqual([{ n: '2' }]);
    const final = await query({ sql: 'SELECT count() FROM actions FINAL' });
    expect(final.status).toBe(400);
    expect(await final.json()).toMatchObject({ error: { code: 'QUERY_FAILED', rule: 'no FINAL on analyst tables' } });
  });

  it("server mode: every statement of a tenant's analyst-user DDL parses in ClickHouse", async () => {
    const statements = analystUserDdl({ database: 'writ', tenant: 'acme', ledgerUser: 'writ_ledger', passwordSha256: 'a'.repeat(64) });
    for (const statement of statements) {
      const result = await clickhouse.query({ query: 'SELECT formatQuerySingleLine({s:String}) AS f', query_params: { s: statement }, format: 'JSONEachRow' });
      const [row] = await result.json<{ f: string }>();
      expect(row?.f, statement).toBeTruthy();
    }
  });
});
