// `writ policy backtest` on a real chDB folder: the tables created with the ledger's own DDL
// (every statement of deploy/clickhouse/*.sql, as the ledger applies them at boot), PolicyDecided
// events whose decisions and request_json come from the real decision point on the repository's
// policies. The repository's set changes nothing; a copy with one added enforced forbid shows its
// transitions, tallies and example actions; the window, the tenant, deduplication (FINAL) and
// paging are checked. --url is checked against a double of the ledger's query door that applies
// the door's own rules from @writ/ledger-core (ClickHouse's formatter, EXPLAIN AST checked by
// checkAnalystAst, the tenant-scoped wrapper scopedAnalystSql, a readonly session with a row limit)
// and answers its errors; the door itself (services/ledger) is an app the CLI may not import.
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClickHouse } from '@writ/clickhouse';
import type { ClickHouseClient } from '@writ/clickhouse';
import type { PolicyDecided } from '@writ/contracts';
import { sampleEvent } from '@writ/contracts/testing';
import { canonicalJson } from '@writ/crypto';
import { TENANT_PARAMETER, checkAnalystAst, dateTime64, parseExplainAst, scopedAnalystSql } from '@writ/ledger-core';
import { backtest, createDecisionPoint, loadPolicySet, recordedDecisionOf } from '@writ/policy-engine';
import type { DecisionRequest, RecordedDecision } from '@writ/policy-engine';
import { parsePolicyCommand, runPolicy } from './policy.ts';
import type { Fetch } from './policy.ts';
import { runBacktest } from './policy-backtest.ts';

const POLICIES = fileURLToPath(new URL('../../../policies/', import.meta.url));
const SQL_DIR = fileURLToPath(new URL('../../../deploy/clickhouse/', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'writ-backtest-'));
const dataPath = join(root, 'chdb');
const NOW = Date.now();
const DAY = 86_400_000;
const RULE = 'refund-blocked-customer';
const BLOCKED_RULE = `// Refunds to a customer under investigation are refused.
@id("${RULE}")
forbid (
  principal,
  action == Writ::Action::"invoke",
  resource == Writ::Tool::"refunds.issue"
)
when { context.arguments has customer_id && context.arguments.customer_id == "C-BLOCKED" };
`;

/** A copy of the repository's policies/ with extra files (a policy, or a broken one). */
function candidate(name: string, files: Record<string, string>, withCases = true): string {
  const dir = join(root, name);
  cpSync(POLICIES, dir, { recursive: true });
  if (!withCases) rmSync(join(dir, 'cases'), { recursive: true, force: true });
  for (const [file, text] of Object.entries(files)) writeFileSync(join(dir, file), text);
  return dir;
}

const support = { id: 'support-bot-1', role: 'support', owner: 'olivia' };
const refundTool = { name: 'refunds.issue', version: '1.2.0', effect: 'write', risk: 'medium' } as const;
const runStats = { steps: 3, spendMicros: 12_000, callsInWindow: 1 };
const refund = (tenant: string, customer: string, cents: number, extra: Partial<DecisionRequest> = {}): DecisionRequest => ({
  tenant,
  agent: support,
  tool: refundTool,
  arguments: { ticket_id: 'T-1042', amount_cents: cents, currency: 'USD', ticket_tags: ['refund_approved'], customer_id: customer },
  runStats,
  ...extra,
});

interface Seeded {
  readonly label: string;
  readonly payload: PolicyDecided;
  readonly row: Record<string, unknown>;
}

const seeded: Seeded[] = [];
const runOf = (label: string): string => seeded.find((s) => s.label === label)?.payload.meta.run_id ?? '';
const actionOf = (label: string): string => seeded.find((s) => s.label === label)?.payload.meta.action_id ?? '';

/** The ledger's DDL: every statement of deploy/clickhouse/*.sql in file order (`--` lines dropped, split at a `;` ending a line). */
async function applyLedgerDdl(clickhouse: ClickHouseClient): Promise<void> {
  for (const file of readdirSync(SQL_DIR)
    .filter((f) => f.endsWith('.sql'))
    .sort()) {
    const text = readFileSync(join(SQL_DIR, file), 'utf8')
      .split('\n')
      .filter((line) => !line.trimStart().startsWith('--'))
      .join('\n');
    for (const query of text
      .split(/;\s*$/m)
      .map((statement) => statement.trim())
      .filter((statement) => statement !== ''))
      await clickhouse.command({ query });
  }
}

/** A PolicyDecided event of the real decision point, as the ledger projects it into events. */
async function seed(): Promise<void> {
  const pdp = createDecisionPoint(await loadPolicySet(POLICIES));
  const base = NOW - 5 * DAY;
  const decided = (label: string, tenant: string, at: number, request: DecisionRequest | undefined, how: 'v5' | 'before-v5' | 'refused' = 'v5'): void => {
    const meta = { tenant_id: tenant, run_id: `run-${label}`, action_id: `action-${label}`, occurred_at: at, producer: 'policy@0.1.0' };
    const sample = sampleEvent('PolicyDecided', meta);
    const decision = request === undefined ? undefined : pdp.decide(request);
    const payload: PolicyDecided = {
      ...sample,
      decision: decision?.decision ?? 'deny',
      determining_policies: [...(decision?.determiningPolicies ?? [])],
      policy_set_hash: pdp.policySetHash,
      errors: [...(decision?.errors ?? ['POLICY_REQUEST_INVALID: unknown tool'])],
      warnings: [],
      shadow_results: [],
      request_json: how === 'v5' && request !== undefined ? canonicalJson(request) : '',
    };
    const stored: Record<string, unknown> = { ...payload };
    if (how === 'before-v5') delete stored['request_json'];
    seeded.push({
      label,
      payload,
      row: {
        event_id: payload.meta.event_id,
        event_type: 'PolicyDecided',
        schema_version: how === 'before-v5' ? 4 : 5,
        topic: 'writ.decisions.v1',
        partition: 0,
        offset: seeded.length,
        tenant_id: tenant,
        run_id: meta.run_id,
        action_id: meta.action_id,
        agent_id: support.id,
        causation_id: null,
        producer: meta.producer,
        occurred_at: dateTime64(at),
        chain_seq: seeded.length,
        payload: JSON.stringify(stored),
      },
    });
  };
  const same = base + 1_000; // three decisions in one millisecond: paging must not lose or repeat one
  decided('ok', 'acme', base, refund('acme', 'C-1', 2_500)); // allow
  decided('blocked-small', 'acme', same, refund('acme', 'C-BLOCKED', 2_500)); // allow -> deny
  decided('blocked-40', 'acme', same, refund('acme', 'C-BLOCKED', 4_000)); // allow -> deny
  decided('blocked-held', 'acme', same, refund('acme', 'C-BLOCKED', 15_000)); // approval_required -> deny
  decided('blocked-approved', 'acme', base + 2_000, refund('acme', 'C-BLOCKED', 15_000, { approvals: [{ approverId: 'maria', role: 'manager' }] })); // allow -> deny
  decided('read', 'acme', base + 3_000, {
    tenant: 'acme',
    agent: support,
    tool: { name: 'tickets.get', version: '1.0.0', effect: 'read', risk: 'low' },
    arguments: { ticket_id: 'T-1' },
    runStats,
  }); // allow
  decided('delete', 'acme', base + 4_000, {
    tenant: 'acme',
    agent: support,
    tool: { name: 'customers.delete', version: '1.0.0', effect: 'destructive', risk: 'high' },
    arguments: { customer_id: 'C-1' },
    runStats,
  }); // deny by customer-delete-forbidden
  decided('sales', 'acme', base + 5_000, refund('acme', 'C-BLOCKED', 2_500, { agent: { id: 'sales-bot', role: 'sales', owner: 'sam' } })); // deny, by the forbid now
  decided('blocked-again', 'acme', base + 6_000, refund('acme', 'C-BLOCKED', 2_500)); // the same request as blocked-small: decided once
  decided('old-event', 'acme', base + 7_000, refund('acme', 'C-BLOCKED', 2_500), 'before-v5'); // skipped: no request_json
  decided('refused', 'acme', base + 8_000, undefined, 'refused'); // skipped: request_json ""
  decided('globex', 'globex', base + 9_000, refund('globex', 'C-BLOCKED', 2_500)); // allow -> deny
  decided('long-ago', 'acme', NOW - 40 * DAY, refund('acme', 'C-BLOCKED', 3_000)); // outside the default 30 days

  const clickhouse = createClickHouse({ dataPath });
  try {
    await applyLedgerDdl(clickhouse);
    await clickhouse.insert({ table: 'events', format: 'JSONEachRow', values: seeded.map((s) => s.row) });
    // The same event projected twice (a replayed projection): FINAL reads it once.
    await clickhouse.insert({ table: 'events', format: 'JSONEachRow', values: seeded.filter((s) => s.label === 'blocked-40').map((s) => s.row) });
    // Another event type in the same table is not read.
    const proposed = sampleEvent('ActionProposed', { tenant_id: 'acme', run_id: 'run-other', action_id: 'action-other', occurred_at: base + 10_000 });
    await clickhouse.insert({
      table: 'events',
      format: 'JSONEachRow',
      values: [{ ...(seeded[0]?.row ?? {}), event_id: proposed.meta.event_id, event_type: 'ActionProposed', payload: JSON.stringify(proposed) }],
    });
  } finally {
    await clickhouse.close();
  }
}

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l) }, out, err };
}

const noFetch = () => Promise.reject(new Error('no HTTP expected'));

async function run(args: readonly string[], env: Record<string, string | undefined> = {}) {
  const output = capture();
  const code = await runPolicy(['backtest', ...args], output.io, env, noFetch);
  return { code, ...output };
}

async function json(args: readonly string[]) {
  const result = await run([...args, '--json']);
  expect(result.err.filter((l) => !l.startsWith('[policy] candidate') && !l.startsWith('[policy] history facts'))).toEqual([]);
  expect(result.code).toBe(0);
  return JSON.parse(result.out.join('\n')) as Record<string, unknown> & { examples: { actionId: string; runId: string }[] };
}

let blocked = '';

beforeAll(async () => {
  blocked = candidate('blocked', { [`${RULE}.cedar`]: BLOCKED_RULE });
  await seed();
}, 120_000);

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

describe('writ policy backtest --chdb', () => {
  it('the repository’s own policies reproduce every recorded decision', async () => {
    const report = await json(['--policies', POLICIES, '--chdb', dataPath]);
    expect(report).toMatchObject({
      total: 12,
      replayed: 10,
      skipped: 2,
      unchanged: 10,
      changed: 0,
      reasonChanged: 0,
      transitions: {},
      byPolicy: {},
      examples: [],
      distinctRequests: 9,
      skippedBecause: { beforeV5: 1, withoutRequest: 1 },
      tenant: null,
    });
    expect(report['byTool']).toEqual({
      'customers.delete': { replayed: 1, changed: 0, transitions: {} },
      'refunds.issue': { replayed: 8, changed: 0, transitions: {} },
      'tickets.get': { replayed: 1, changed: 0, transitions: {} },
    });

    const text = await run(['--policies', POLICIES, '--chdb', dataPath]);
    expect(text.code).toBe(0);
    expect(text.out).toContain('no recorded decision would change under this policy set');
    expect(text.out.join('\n')).toMatch(/^decisions read\s+12$/m);
  });

  it('a candidate with one added enforced forbid: its transitions, per policy and tool, and example actions', async () => {
    const report = await json(['--policies', blocked, '--chdb', dataPath]);
    expect(report).toMatchObject({
      total: 12,
      replayed: 10,
      skipped: 2,
      unchanged: 4,
      changed: 6,
      reasonChanged: 1, // the sales agent's refund: denied by default before, by the forbid now
      transitions: { 'allow->deny': 5, 'approval_required->deny': 1 },
      distinctRequests: 9,
    });
    expect(report['byPolicy']).toEqual({
      [RULE]: { replayed: 0, changed: 6, transitions: { 'allow->deny': 5, 'approval_required->deny': 1 } },
      'refund-over-100-needs-manager-approval': { replayed: 0, changed: 2, transitions: { 'allow->deny': 1, 'approval_required->deny': 1 } },
      'refund-up-to-100-support': { replayed: 0, changed: 4, transitions: { 'allow->deny': 4 } },
    });
    expect(report['byTool']).toMatchObject({
      'refunds.issue': { replayed: 8, changed: 6, transitions: { 'allow->deny': 5, 'approval_required->deny': 1 } },
      'tickets.get': { replayed: 1, changed: 0 },
    });
    // The oldest three of each transition, in the order they were recorded.
    expect(report.examples.map((e) => e.actionId)).toEqual(['blocked-small', 'blocked-40', 'blocked-held', 'blocked-approved'].map(actionOf));
    expect(report.examples.find((e) => e.actionId === actionOf('blocked-held'))).toMatchObject({
      recorded: 'approval_required',
      candidate: 'deny',
      runId: runOf('blocked-held'),
      tenant: 'acme',
      tool: 'refunds.issue',
      recordedPolicies: ['refund-over-100-needs-manager-approval'],
      candidatePolicies: [RULE],
    });

    const text = await run(['--policies', blocked, '--chdb', dataPath]);
    expect(text.code).toBe(0);
    const out = text.out.join('\n');
    expect(out).toMatch(/^ {2}allow → deny\s+5$/m);
    expect(out).toMatch(/^ {2}approval_required → deny\s+1$/m);
    expect(out).toMatch(/^ {2}skipped\s+2 {2}\(1 recorded before PolicyDecided v5.*; 1 refused before Cedar/m);
    expect(out).toMatch(new RegExp(`^ {2}${RULE}\\s+6\\s+5\\s+1$`, 'm'));
    expect(out).toMatch(/^ {2}refunds\.issue\s+8\s+6\s+5\s+1$/m);
    const held = runOf('blocked-held');
    expect(out).toContain(`action ${actionOf('blocked-held')}  run ${held}  /v1/runs/${held}`);
    expect(out).toContain(`recorded approval_required by refund-over-100-needs-manager-approval; candidate deny by ${RULE}`);
  });

  it('the window (--since) and the tenant (--tenant) choose what is read; --examples caps the examples', async () => {
    expect(await json(['--policies', blocked, '--chdb', dataPath, '--tenant', 'acme'])).toMatchObject({
      total: 11,
      changed: 5,
      tenant: 'acme',
      transitions: { 'allow->deny': 4, 'approval_required->deny': 1 },
    });
    expect(await json(['--policies', blocked, '--chdb', dataPath, '--tenant', 'globex'])).toMatchObject({ total: 1, changed: 1 });
    const longer = await json(['--policies', blocked, '--chdb', dataPath, '--since', '60d', '--examples', '1']);
    expect(longer).toMatchObject({ total: 13, changed: 7, transitions: { 'allow->deny': 6, 'approval_required->deny': 1 } });
    expect(longer.examples.map((e) => e.actionId)).toEqual([actionOf('long-ago'), actionOf('blocked-held')]);
    const since = new Date(NOW - 5 * DAY + 5_000).toISOString();
    expect(await json(['--policies', blocked, '--chdb', dataPath, '--since', since])).toMatchObject({ total: 5, replayed: 3, changed: 2 });
    const empty = await run(['--policies', blocked, '--chdb', dataPath, '--since', '1h']);
    expect(empty.code).toBe(0);
    expect(empty.out).toContain('no PolicyDecided was recorded in the window: nothing to replay (a longer --since? another --tenant?)');
  });

  it('a candidate with a rule over history: its facts are computed from the recorded decisions, those before --since included', async () => {
    const quota = candidate('quota', {
      'at-most-3-refunds-per-customer-per-day.cedar': readFileSync(
        new URL('../../../deploy/demo/policies/at-most-3-refunds-per-customer-per-day.cedar', import.meta.url),
        'utf8',
      ),
    });
    // acme's refunds to C-BLOCKED, allowed or pending: small, 40, held; the fourth (approved) and a later one are over the limit.
    const all = await json(['--policies', quota, '--chdb', dataPath]);
    expect(all).toMatchObject({ changed: 2, transitions: { 'allow->deny': 2 } });
    expect(all.examples.map((e) => e.actionId)).toEqual([actionOf('blocked-approved'), actionOf('blocked-again')]);
    // From just before the fourth: the three before --since are read to warm the count up, and not replayed.
    const since = new Date(NOW - 5 * DAY + 1_500).toISOString();
    const windowed = await run(['--policies', quota, '--chdb', dataPath, '--since', since, '--json']);
    expect(windowed.err.join('\n')).toContain('history facts refunds_to_customer_today: reading from');
    expect(JSON.parse(windowed.out.join('\n'))).toMatchObject({ total: 8, changed: 2, transitions: { 'allow->deny': 2 } });
  });

  it('pages of two give the report of one backtest() over every record', async () => {
    const output = capture();
    expect(
      await runBacktest(parsePolicyCommand(['backtest', '--policies', blocked, '--chdb', dataPath, '--json']), output.io, {}, noFetch, { pageSize: 2 }),
    ).toBe(0);
    const paged = JSON.parse(output.out.join('\n')) as Record<string, unknown>;
    const records = seeded
      .filter((s) => s.label !== 'long-ago')
      .sort((a, b) => a.payload.meta.occurred_at - b.payload.meta.occurred_at || (a.payload.meta.event_id < b.payload.meta.event_id ? -1 : 1))
      .map((s) => recordedDecisionOf(s.payload))
      .filter((r): r is RecordedDecision => r !== undefined);
    const whole = backtest(records, createDecisionPoint(await loadPolicySet(blocked)));
    const { candidate: _c, source: _s, tenant: _t, window: _w, skippedBecause: _k, aboutNoAction: _a, timing: _m, ...report } = paged;
    expect(report).toEqual(JSON.parse(JSON.stringify(whole)));
  });

  it('replayed by worker threads (--workers 2, every page on the pool), the report of one thread (--workers 1)', async () => {
    const report = async (workers: string) => {
      const output = capture();
      const args = ['backtest', '--policies', blocked, '--chdb', dataPath, '--workers', workers, '--json'];
      expect(await runBacktest(parsePolicyCommand(args), output.io, {}, noFetch, { now: () => NOW, pageSize: 3, poolMinRecords: 1 })).toBe(0);
      expect(output.err.filter((l) => !l.startsWith('[policy] candidate'))).toEqual([]);
      const { timing: _m, ...rest } = JSON.parse(output.out.join('\n')) as Record<string, unknown>;
      return rest;
    };
    const one = await report('1');
    expect(one).toMatchObject({ total: 12, replayed: 10, changed: 6, distinctRequests: 9 });
    expect(await report('2')).toEqual(one);
  });

  it('an invalid candidate, failing cases or no cases: exit 1 naming why, nothing read', async () => {
    const broken = candidate('broken', { 'broken.cedar': '@id("broken")\nforbid (principal, action, resource) when { context.nope };\n' });
    const invalid = await run(['--policies', broken, '--chdb', join(root, 'no-such-folder-is-read')]);
    expect(invalid.code).toBe(2); // the missing chDB folder is a usage error before anything is read
    expect(invalid.err[0]).toMatch(/^USAGE: --chdb .*no-such-folder-is-read is no folder/);
    const invalidSet = await run(['--policies', broken, '--chdb', dataPath]);
    expect(invalidSet.code).toBe(1);
    expect(invalidSet.err.join('\n')).toMatch(/the policy set in .*broken is invalid:\n {2}broken\.cedar \(policy "broken"\)/);

    const tooStrict = candidate('too-strict', {
      'no-refunds.cedar': '@id("no-refunds")\nforbid (principal, action == Writ::Action::"invoke", resource == Writ::Tool::"refunds.issue");\n',
    });
    const failing = await run(['--policies', tooStrict, '--chdb', dataPath]);
    expect(failing.code).toBe(1);
    expect(failing.err[0]).toMatch(/^\[policy\] \d+ of \d+ cases of the candidate in .*too-strict failed; nothing was replayed:$/);
    expect(failing.err.join('\n')).toContain('refund-25-dollars.json');
    expect(failing.out).toEqual([]);

    const untested = await run(['--policies', candidate('untested', {}, false), '--chdb', dataPath]);
    expect(untested.code).toBe(1);
    expect(untested.err.join('\n')).toContain('has no cases');
  });

  it('usage errors exit 2 naming the flag', async () => {
    const cases: [string[], string][] = [
      [['--chdb', dataPath], '--policies'],
      [['--policies', join(root, 'nothing-here'), '--chdb', dataPath], '--policies'],
      [['--policies', blocked, '--chdb', dataPath, '--since', 'yesterday'], '--since'],
      [['--policies', blocked, '--chdb', dataPath, '--clickhouse', 'http://127.0.0.1:8123'], '--clickhouse'],
      [['--policies', blocked, '--chdb', dataPath, '--key', 'k'], '--key'],
      [['--policies', blocked, '--chdb', dataPath, '--examples', 'all'], '--examples'],
      [['--policies', blocked, '--dry-run'], '--dry-run'],
    ];
    for (const [args, flag] of cases) {
      const result = await run(args);
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.err[0], args.join(' ')).toContain(flag);
      expect(result.out).toEqual([]);
    }
  });
});

describe('writ policy backtest --url (the query door)', () => {
  const DOOR = 'http://ledger.test:26085';
  const MAX_ROWS = 4; // the CLI asks for 5,000 a page and must follow the door's cut
  const KEYS: Readonly<Record<string, { tenant: string; roles: readonly string[] }>> = {
    'k-ana': { tenant: 'acme', roles: ['analyst'] },
    'k-dana': { tenant: 'acme', roles: ['approver'] },
    'k-root': { tenant: '*', roles: ['admin'] },
  };
  let ledger: ClickHouseClient;
  let analyst: ClickHouseClient;
  let ledgerDatabase = '';
  const sent: { sql: string; params: Record<string, unknown> }[] = [];

  beforeAll(async () => {
    ledger = createClickHouse({ dataPath });
    const [row] = await (await ledger.query({ query: 'SELECT currentDatabase() AS db', format: 'JSONEachRow' })).json<{ db: string }>();
    ledgerDatabase = row?.db ?? 'default';
    await ledger.command({ query: 'CREATE DATABASE IF NOT EXISTS writ_backtest_analyst' });
    analyst = createClickHouse({
      dataPath,
      database: 'writ_backtest_analyst',
      settings: { max_result_rows: MAX_ROWS + 1, result_overflow_mode: 'break', max_execution_time: 30, readonly: 1 },
    });
  });

  afterAll(async () => {
    await analyst?.close();
    await ledger?.close();
  });

  const failure = (status: number, code: string, message: string, field?: string, rule?: string) =>
    new Response(JSON.stringify({ error: { code, message, ...(field === undefined ? {} : { field }), ...(rule === undefined ? {} : { rule }) } }), {
      status,
      headers: { 'content-type': 'application/json' },
    });

  /** POST /v1/query as the ledger answers it: the caller's tenant, the door's SQL rules, its row limit. */
  const door: Fetch = async (url, init) => {
    if (url !== `${DOOR}/v1/query` || init?.method !== 'POST') return failure(404, 'NOT_FOUND', `no route ${url}`);
    const key = new Headers(init.headers).get('authorization')?.replace(/^Bearer /, '');
    const caller = key === undefined ? undefined : KEYS[key];
    if (caller === undefined) return failure(401, 'UNAUTHENTICATED', 'a known API key is required');
    if (!caller.roles.some((r) => ['analyst', 'auditor', 'admin'].includes(r))) return failure(403, 'FORBIDDEN', 'requires one of the roles analyst, auditor');
    const body = JSON.parse(String(init.body)) as { sql: string; params: Record<string, unknown>; tenant?: string };
    if (body.tenant === undefined && caller.tenant === '*')
      return failure(400, 'REQUEST_INVALID', 'a platform principal names the tenant it queries', 'tenant', 'required for platform admins');
    if (body.tenant !== undefined && caller.tenant !== '*' && body.tenant !== caller.tenant)
      return failure(404, 'NOT_FOUND', `no tenant ${body.tenant}`, 'tenant');
    const tenant = body.tenant ?? caller.tenant;
    sent.push({ sql: body.sql, params: body.params });
    const params = { ...body.params, [TENANT_PARAMETER]: tenant };
    const [formatted] = await (
      await analyst.query({ query: 'SELECT formatQuerySingleLine({sql:String}) AS q', query_params: { sql: body.sql }, format: 'JSONEachRow' })
    ).json<{ q: string }>();
    const explained = await (await analyst.query({ query: `EXPLAIN AST ${formatted?.q ?? ''}`, query_params: params, format: 'CSV' })).text();
    const lines = explained
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => (line.length >= 2 && line.startsWith('"') && line.endsWith('"') ? line.slice(1, -1).replaceAll('""', '"') : line));
    try {
      checkAnalystAst(parseExplainAst(lines), 'CSV');
    } catch (error) {
      return failure(400, 'QUERY_NOT_ALLOWED', String(error), 'sql');
    }
    const rows = await (
      await analyst.query({ query: scopedAnalystSql(formatted?.q ?? '', ledgerDatabase, MAX_ROWS + 1), query_params: params, format: 'JSONEachRow' })
    ).json<unknown>();
    return new Response(JSON.stringify({ rows: rows.slice(0, MAX_ROWS), truncated: rows.length > MAX_ROWS }), { status: 200 });
  };

  const overDoor = async (args: readonly string[], env: Record<string, string | undefined> = {}, fetchFn: Fetch = door) => {
    const output = capture();
    const code = await runPolicy(['backtest', '--policies', blocked, ...args], output.io, env, fetchFn);
    return { code, ...output };
  };

  it('an analyst reads their tenant’s decisions, page by page within the door’s row limit', async () => {
    sent.length = 0;
    const result = await overDoor(['--json'], { WRIT_LEDGER_URL: DOOR, WRIT_API_KEY: 'k-ana' });
    expect(result.err.filter((l) => !l.startsWith('[policy] candidate') && !l.startsWith('[policy] history facts'))).toEqual([]);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.out.join('\n'))).toMatchObject({
      total: 11,
      replayed: 9,
      changed: 5,
      reasonChanged: 1,
      transitions: { 'allow->deny': 4, 'approval_required->deny': 1 },
      source: `the ledger's query door ${DOOR}/v1/query`,
    });
    // Cut at 4 rows: asked again for 4, then 11 rows in pages of 4, 4, 3 and an empty one.
    expect(sent.map((q) => /LIMIT (\d+)$/.exec(q.sql)?.[1])).toEqual(['5000', '4', '4', '4', '4']);
    expect(sent[0]?.sql).not.toContain('FINAL');
  });

  it('a platform admin names the tenant; without it, another role or no key the door refuses, named', async () => {
    const globex = await overDoor(['--url', DOOR, '--key', 'k-root', '--tenant', 'globex', '--json']);
    expect(globex.code).toBe(0);
    expect(JSON.parse(globex.out.join('\n'))).toMatchObject({ total: 1, changed: 1 });

    const unnamed = await overDoor(['--url', DOOR, '--key', 'k-root']);
    expect(unnamed.code).toBe(2);
    expect(unnamed.err[1]).toMatch(/^USAGE: .*a platform admin names the tenant to read: --tenant T/);

    const elsewhere = await overDoor(['--url', DOOR, '--key', 'k-ana', '--tenant', 'globex']);
    expect(elsewhere.code).toBe(1);
    expect(elsewhere.err.at(-1)).toMatch(/answered 404 NOT_FOUND.*the query door reads the key’s own tenant/);

    const approver = await overDoor(['--url', DOOR, '--key', 'k-dana']);
    expect(approver.code).toBe(1);
    expect(approver.err.at(-1)).toMatch(/answered 403 FORBIDDEN.*the query door takes an analyst or an auditor/);

    const anonymous = await overDoor(['--url', DOOR]);
    expect(anonymous.code).toBe(1);
    expect(anonymous.err.at(-1)).toMatch(/answered 401 UNAUTHENTICATED.*send an API key \(--key/);

    const away = await overDoor(['--url', DOOR, '--key', 'k-ana'], {}, () => Promise.reject(new TypeError('fetch failed')));
    expect(away.code).toBe(1);
    expect(away.err.at(-1)).toContain(`cannot reach the ledger at ${DOOR}`);
  });
});
