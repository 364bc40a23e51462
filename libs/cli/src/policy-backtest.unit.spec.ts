// `writ policy backtest`: its arguments and their usage errors, the page query, the mapping of
// PolicyDecided payloads, the merge of the pages' reports, the cache shared by the pages, and the
// report as printed and as JSON (pure functions; the verb on a real chDB folder is in the int spec).
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isWritError } from '@writ/errors';
import { BUDGET_APPROVAL_POLICY, backtest } from '@writ/policy-engine';
import type { BacktestCache, BacktestReport, Decision, DecisionPoint, DecisionRequest } from '@writ/policy-engine';
import { DEFAULT_LEDGER_URL } from './ledger-source.ts';
import { backtestJson, emptyReport, formatBacktest, mergeBacktestReports, table } from './policy-backtest-report.ts';
import type { BacktestRun } from './policy-backtest-report.ts';
import { BACKTEST_USAGE, backtestOptionsOf, decidedPageSql, describeSource, parseSince, recordsOfPage } from './policy-backtest.ts';
import type { BacktestOptions } from './policy-backtest.ts';
import { parsePolicyCommand, runPolicy } from './policy.ts';

const NOW = Date.UTC(2026, 11, 6, 12, 0, 0);
const DAY = 86_400_000;

const parse = (args: readonly string[], env: Record<string, string | undefined> = {}): BacktestOptions =>
  backtestOptionsOf(parsePolicyCommand(['backtest', ...args]), env, NOW);

function usageError(args: readonly string[], env: Record<string, string | undefined> = {}): { message: string; field: string | undefined } {
  try {
    parse(args, env);
  } catch (error) {
    if (isWritError(error, 'USAGE')) return { message: error.message, field: error.field };
    throw error;
  }
  throw new Error(`parsed without error: ${args.join(' ')}`);
}

describe('writ policy backtest: arguments', () => {
  it('defaults: the last 30 days of the local ledger’s query door, the key from WRIT_API_KEY, 3 examples, text', () => {
    expect(parse(['--policies', 'policies'], { WRIT_API_KEY: 'k-ana' })).toEqual({
      policies: 'policies',
      since: NOW - 30 * DAY,
      sinceLabel: '30d',
      until: NOW,
      tenant: undefined,
      source: { kind: 'door', url: DEFAULT_LEDGER_URL, key: 'k-ana' },
      examples: 3,
      workers: undefined,
      json: false,
    });
    expect(parse(['--policies', 'p'], { WRIT_LEDGER_URL: 'http://ledger:9/', WRIT_API_KEY: '' }).source).toEqual({ kind: 'door', url: 'http://ledger:9' });
    expect(parse(['--policies', 'p', '--url', 'http://h:1', '--key', 'k', '--tenant', 'acme'], { WRIT_API_KEY: 'other' })).toMatchObject({
      source: { kind: 'door', url: 'http://h:1', key: 'k' },
      tenant: 'acme',
    });
  });

  it('the sources: --chdb (a folder, resolved), --clickhouse (a server) with --database', () => {
    expect(parse(['--policies', 'p', '--chdb', '.local/chdb/data', '--examples', '0', '--json']).source).toEqual({
      kind: 'chdb',
      dataPath: resolve('.local/chdb/data'),
    });
    expect(parse(['--policies', 'p', '--chdb', 'x', '--examples', '0', '--json'])).toMatchObject({ examples: 0, json: true });
    expect(parse(['--policies', 'p', '--chdb', 'x', '--workers', '1']).workers).toBe(1);
    expect(parse(['--policies', 'p', '--chdb', 'x', '--workers', '4']).workers).toBe(4);
    const server = parse(['--policies', 'p', '--clickhouse', 'http://u:secret@ch:8123', '--database', 'writ']).source;
    expect(server).toMatchObject({ kind: 'clickhouse', database: 'writ' });
    expect(describeSource(server)).toBe('ClickHouse server http://ch:8123/, database writ');
    expect(describeSource({ kind: 'door', url: 'http://h:1' })).toBe("the ledger's query door http://h:1/v1/query");
  });

  it('--since: days, hours, minutes, an ISO date (UTC midnight) or time', () => {
    expect(parseSince('12h', NOW)).toBe(NOW - 12 * 3_600_000);
    expect(parseSince('90m', NOW)).toBe(NOW - 90 * 60_000);
    expect(parseSince('7d', NOW)).toBe(NOW - 7 * DAY);
    expect(parseSince('2026-11-01', NOW)).toBe(Date.UTC(2026, 10, 1));
    expect(parseSince('2026-11-01T08:30', NOW)).toBe(Date.UTC(2026, 10, 1, 8, 30));
    expect(parseSince('2026-11-01 08:30:15.250Z', NOW)).toBe(Date.UTC(2026, 10, 1, 8, 30, 15, 250));
    expect(parseSince('2026-11-01T08:30:00+02:00', NOW)).toBe(Date.UTC(2026, 10, 1, 6, 30));
    expect(parse(['--policies', 'p', '--since', '2026-11-01'])).toMatchObject({ since: Date.UTC(2026, 10, 1), sinceLabel: '2026-11-01' });
  });

  it('names the flag at fault', () => {
    expect(usageError([])).toMatchObject({ field: '--policies', message: expect.stringContaining('--policies is required') });
    expect(usageError(['--policies', 'p', '--since', '30'])).toMatchObject({ field: '--since', message: '--since "30" is neither a duration nor a date' });
    expect(usageError(['--policies', 'p', '--since', '0d'])).toMatchObject({ field: '--since', message: '--since 0d is an empty window' });
    expect(usageError(['--policies', 'p', '--since', '2026-13-45'])).toMatchObject({ field: '--since', message: '--since "2026-13-45" is not a valid date' });
    expect(usageError(['--policies', 'p', '--since', '2027-01-01'])).toMatchObject({ field: '--since', message: '--since 2027-01-01 is not in the past' });
    expect(usageError(['--policies', 'p', '--tenant', 'a b'])).toMatchObject({ field: '--tenant' });
    expect(usageError(['--policies', 'p', '--examples', '-1'])).toMatchObject({ field: '--examples' });
    expect(usageError(['--policies', 'p', '--examples', '1001'])).toMatchObject({ field: '--examples' });
    expect(usageError(['--policies', 'p', '--examples', '2.5'])).toMatchObject({ field: '--examples' });
    for (const workers of ['0', '65', '-1', '1.5', 'two']) {
      expect(usageError(['--policies', 'p', '--workers', workers])).toMatchObject({
        field: '--workers',
        message: `--workers "${workers}" is not a thread count`,
      });
    }
    expect(usageError(['--policies', 'p', '--chdb', 'x', '--clickhouse', 'http://c:1'])).toMatchObject({
      field: '--clickhouse',
      message: '--chdb and --clickhouse are two sources: give one',
    });
    expect(usageError(['--policies', 'p', '--chdb', 'x', '--url', 'http://l:1'])).toMatchObject({ field: '--url' });
    expect(usageError(['--policies', 'p', '--chdb', 'x', '--key', 'k'])).toMatchObject({ field: '--key' });
    expect(usageError(['--policies', 'p', '--database', 'writ'])).toMatchObject({ field: '--database' });
    expect(usageError(['--policies', 'p', '--clickhouse', 'not a url'])).toMatchObject({ field: '--clickhouse' });
    expect(usageError(['--policies', 'p', '--clickhouse', 'ftp://c:1'])).toMatchObject({ field: '--clickhouse' });
    // parsePolicyCommand's own checks apply to the verb too.
    expect(() => parse(['--policies', 'p', '--url', 'nope'])).toThrow(expect.objectContaining({ field: '--url' }));
    expect(() => parse(['--policies', 'p', '--message', 'm'])).toThrow(expect.objectContaining({ field: '--message' }));
    expect(() => parse(['policies'])).toThrow(expect.objectContaining({ field: 'policies' }));
    expect(() => parse(['--policies', 'p', '--policies', 'q'])).toThrow(expect.objectContaining({ field: '--policies' }));
  });

  it('runPolicy: exit 2 with the message and the verb’s usage, before anything is read', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const fetched: string[] = [];
    const code = await runPolicy(['backtest', '--policies', 'p', '--since', 'soon'], { out: (l) => out.push(l), err: (l) => err.push(l) }, {}, (url) => {
      fetched.push(url);
      return Promise.reject(new Error('no HTTP expected'));
    });
    expect(code).toBe(2);
    expect(err).toEqual([
      'USAGE: --since "soon" is neither a duration nor a date (<n>d, <n>h or <n>m (e.g. 30d, 12h), or an ISO date or time (2026-11-01, 2026-11-01T08:00Z))',
      BACKTEST_USAGE,
    ]);
    expect(out).toEqual([]);
    expect(fetched).toEqual([]);
  });
});

describe('writ policy backtest: reading', () => {
  it('pages PolicyDecided by (occurred_at, event_id), deduplicated (FINAL) when read directly, one tenant when asked', () => {
    const direct = decidedPageSql({ final: true, tenant: true, limit: 20_000 });
    expect(direct).toBe(
      [
        'SELECT event_id, toString(occurred_at) AS at, payload',
        'FROM events FINAL',
        "WHERE event_type = 'PolicyDecided'",
        "  AND occurred_at >= {since:DateTime64(3, 'UTC')}",
        '  AND tenant_id = {tenant:String}',
        "  AND (occurred_at > {after_at:DateTime64(3, 'UTC')} OR (occurred_at = {after_at:DateTime64(3, 'UTC')} AND event_id > {after_id:String}))",
        'ORDER BY occurred_at, event_id',
        'LIMIT 20000',
      ].join('\n'),
    );
    const door = decidedPageSql({ final: false, tenant: false, limit: 5_000 });
    expect(door).not.toContain('FINAL');
    expect(door).not.toContain('tenant_id');
    expect(door.endsWith('LIMIT 5000')).toBe(true);
  });

  const payload = (i: number, extra: Record<string, unknown> = {}) =>
    JSON.stringify({
      meta: { tenant_id: 'acme', run_id: `run-${i}`, action_id: `action-${i}`, occurred_at: 1_000 + i },
      decision: 'allow',
      determining_policies: ['p'],
      policy_set_hash: 'h',
      request_json: JSON.stringify({
        tenant: 'acme',
        agent: { id: 'a', role: 'support', owner: 'o' },
        tool: { name: 'tickets.get', version: '1', effect: 'read', risk: 'low' },
        arguments: {},
        runStats: { steps: 1, spendMicros: 0, callsInWindow: 1 },
      }),
      ...extra,
    });
  const row = (i: number, text: string) => ({ event_id: `e${i}`, at: '2026-12-01 10:00:00.000', payload: text });

  it('maps payloads with recordedDecisionOf and counts why the others cannot be replayed', () => {
    const page = recordsOfPage([
      row(1, payload(1)),
      row(2, payload(2, { request_json: undefined })),
      row(3, payload(3, { request_json: '', decision: 'deny' })),
      row(4, payload(4, { meta: { tenant_id: 'acme', run_id: 'run-4', action_id: null, occurred_at: 1_004 } })),
    ]);
    expect(page).toMatchObject({ beforeV5: 1, withoutRequest: 1, aboutNoAction: 1 });
    expect(page.records.map((r) => [r.actionId, r.runId, r.tool, r.request === undefined])).toEqual([
      ['action-1', 'run-1', 'tickets.get', false],
      ['action-2', 'run-2', '', true],
      ['action-3', 'run-3', '', true],
    ]);
  });

  it("a budget's approval step is no policy's answer: its decision is recorded as the allow the policies gave", () => {
    const budgetAsked = payload(5, { decision: 'approval_required', approval_requirement: { policy_id: BUDGET_APPROVAL_POLICY } });
    const policyAsked = payload(6, { decision: 'approval_required', approval_requirement: { policy_id: 'refund-over-100-needs-manager-approval' } });
    expect(recordsOfPage([row(5, budgetAsked), row(6, policyAsked)]).records.map((r) => r.decision)).toEqual(['allow', 'approval_required']);
  });

  it('a payload that is no PolicyDecided fails naming its event', () => {
    expect(() => recordsOfPage([row(7, '{"meta": ')])).toThrow(/^event e7 \(2026-12-01 10:00:00.000\): /);
    expect(() => recordsOfPage([row(8, '{"decision":"allow"}')])).toThrow('event e8 (2026-12-01 10:00:00.000): not a PolicyDecided payload (meta, decision)');
  });

  it('a cache shared by the pages puts each distinct request (by its canonical JSON) to the decision point once', () => {
    const asked: DecisionRequest[] = [];
    const inner: DecisionPoint = {
      policySetHash: 'hash-1',
      version: '2.0.0',
      history: [],
      escalations: {},
      decide: (request) => {
        asked.push(request);
        return { decision: 'allow', determiningPolicies: ['p'], errors: [], policySetHash: 'hash-1', warnings: [], shadowResults: [] } satisfies Decision;
      },
      authorizeApproval: () => ({ decision: 'deny', determiningPolicies: [], errors: [], policySetHash: 'hash-1' }),
    };
    const base = {
      tenant: 'acme',
      agent: { id: 'a', role: 'support', owner: 'o' },
      tool: { name: 't', version: '1', effect: 'read', risk: 'low' },
      runStats: { steps: 1, spendMicros: 0, callsInWindow: 1 },
    } as const;
    const record = (n: number, args: Record<string, number>) => ({
      actionId: `a-${n}`,
      runId: 'r',
      tenant: 'acme',
      tool: 't',
      occurredAt: n,
      decision: 'allow' as const,
      determiningPolicies: ['p'],
      policySetHash: 'hash-0',
      request: { ...base, arguments: args },
    });
    const cache: BacktestCache = new Map();
    backtest([record(1, { a: 1, b: 2 })], inner, { cache });
    const second = backtest([record(2, { b: 2, a: 1 }), record(3, { a: 1, b: 3 })], inner, { cache }); // the same request, keys in another order; a new one
    expect(asked).toHaveLength(2);
    expect(cache.size).toBe(2);
    expect(second.distinctRequests).toBe(2);
  });
});

const tally = (replayed: number, changed: number, transitions: Record<string, number>) => ({ replayed, changed, transitions });
const example = (n: number, recorded: 'allow' | 'approval_required', candidate: 'deny' | 'allow' = 'deny') => ({
  actionId: `action-${n}`,
  runId: `run-${n}`,
  tenant: 'acme',
  tool: 'refunds.issue',
  occurredAt: Date.UTC(2026, 11, 1, 10, 0, n),
  recorded,
  candidate,
  recordedPolicies: recorded === 'allow' ? ['refund-up-to-100-support'] : ['refund-over-100-needs-manager-approval'],
  candidatePolicies: candidate === 'deny' ? ['refund-blocked-customer'] : ['p'],
});

const REPORT: BacktestReport = {
  candidateHash: 'c0ffee00112233445566778899aabbccddeeff00112233445566778899aabbcc',
  candidateVersion: '1.2.0',
  total: 1_234,
  replayed: 1_200,
  skipped: 34,
  unchanged: 1_150,
  changed: 50,
  reasonChanged: 12,
  transitions: { 'approval_required->deny': 10, 'allow->deny': 40 },
  byPolicy: {
    'refund-blocked-customer': tally(0, 50, { 'allow->deny': 40, 'approval_required->deny': 10 }),
    'refund-up-to-100-support': tally(0, 40, { 'allow->deny': 40 }),
  },
  byTool: { 'refunds.issue': tally(1_000, 50, { 'allow->deny': 40, 'approval_required->deny': 10 }), 'tickets.get': tally(200, 0, {}) },
  examples: [example(1, 'allow'), example(2, 'approval_required')],
  distinctRequests: 321,
};

const RUN: BacktestRun = {
  report: REPORT,
  candidate: { dir: 'candidate', hash: REPORT.candidateHash, version: '1.2.0', policies: 9, modes: { a: 'enforce', b: 'enforce', c: 'shadow' }, cases: 28 },
  source: 'embedded chDB at /data/chdb',
  since: Date.UTC(2026, 10, 6, 12),
  sinceLabel: '30d',
  until: NOW,
  tenant: undefined,
  door: false,
  skipped: { beforeV5: 30, withoutRequest: 4 },
  aboutNoAction: 0,
  readMs: 1_900,
  replayMs: 400,
  elapsedMs: 2_468,
};

describe('writ policy backtest: the report', () => {
  it('prints counts, transitions, the per policy and per tool tables, examples with their runs, and the rate', () => {
    expect(formatBacktest(RUN)).toEqual([
      'backtest of candidate: hash c0ffee001122, version 1.2.0, 9 policies (2 enforce, 1 shadow), 28/28 cases pass',
      'recorded decisions of every tenant from 2026-11-06T12:00:00.000Z (--since 30d) to 2026-12-06T12:00:00.000Z, read from embedded chDB at /data/chdb',
      '',
      'decisions read  1,234',
      '  skipped          34  (30 recorded before PolicyDecided v5, which carries the request Cedar saw (request_json); 4 refused before Cedar: no request could be built (e.g. an unknown tool))',
      '  replayed      1,200',
      '    unchanged   1,150  (12 of them with other determining policies)',
      '    changed        50  (4.17 % of those replayed)',
      '',
      'transitions (recorded \u2192 candidate):',
      '  allow \u2192 deny              40',
      '  approval_required \u2192 deny  10',
      '',
      'by policy (the policies determining a changed decision, recorded or candidate):',
      '  policy                    changed  allow\u2192deny  approval_required\u2192deny',
      '  refund-blocked-customer        50          40                      10',
      '  refund-up-to-100-support       40          40                       0',
      '',
      'by tool:',
      '  tool           replayed  changed  allow\u2192deny  approval_required\u2192deny',
      '  refunds.issue     1,000       50          40                      10',
      '  tickets.get         200        0           0                       0',
      '',
      'examples (oldest first, per transition; GET /v1/runs/<run id> on the gateway shows the run):',
      '  allow \u2192 deny  2026-12-01T10:00:01.000Z  tenant acme  refunds.issue  action action-1  run run-1  /v1/runs/run-1',
      '      recorded allow by refund-up-to-100-support; candidate deny by refund-blocked-customer',
      '  approval_required \u2192 deny  2026-12-01T10:00:02.000Z  tenant acme  refunds.issue  action action-2  run run-2  /v1/runs/run-2',
      '      recorded approval_required by refund-over-100-needs-manager-approval; candidate deny by refund-blocked-customer',
      '',
      'elapsed 2.47 s (reading 1.90 s, replaying 0.40 s): 500 decisions/s overall, 3,000/s replayed; 321 distinct requests put to Cedar',
    ]);
  });

  it('nothing changed: says so and still tallies the tools; an empty window says what to try', () => {
    const same: BacktestReport = {
      ...REPORT,
      total: 10,
      replayed: 10,
      skipped: 0,
      unchanged: 10,
      changed: 0,
      reasonChanged: 0,
      transitions: {},
      byPolicy: {},
      byTool: { 'tickets.get': tally(10, 0, {}) },
      examples: [],
      distinctRequests: 4,
    };
    const lines = formatBacktest({ ...RUN, report: same, tenant: 'acme', skipped: { beforeV5: 0, withoutRequest: 0 } });
    expect(lines[1]).toMatch(/^recorded decisions of tenant acme from /);
    expect(lines.slice(3)).toEqual([
      'decisions read  10',
      '  skipped        0',
      '  replayed      10',
      '    unchanged   10',
      '    changed      0  (0 % of those replayed)',
      '',
      'no recorded decision would change under this policy set',
      '',
      'by tool:',
      '  tool         replayed  changed',
      '  tickets.get        10        0',
      '',
      'elapsed 2.47 s (reading 1.90 s, replaying 0.40 s): 4 decisions/s overall, 25/s replayed; 4 distinct requests put to Cedar',
    ]);
    const empty = formatBacktest({ ...RUN, door: true, report: emptyReport('h', 'v'), skipped: { beforeV5: 0, withoutRequest: 0 }, elapsedMs: 5, replayMs: 0 });
    expect(empty[1]).toMatch(/^recorded decisions of the key’s tenant from /);
    expect(empty.slice(3)).toEqual([
      'no PolicyDecided was recorded in the window: nothing to replay (a longer --since? another --tenant?)',
      '',
      'elapsed 0.01 s (reading 1.90 s, replaying 0.00 s): 0 decisions/s overall, \u2014/s replayed; 0 distinct requests put to Cedar',
    ]);
  });

  it('--json: the report’s fields at the top, with the candidate, window, skip reasons and timings', () => {
    expect(backtestJson(RUN)).toEqual({
      ...REPORT,
      candidate: RUN.candidate,
      source: 'embedded chDB at /data/chdb',
      tenant: null,
      window: { since: '2026-11-06T12:00:00.000Z', until: '2026-12-06T12:00:00.000Z', since_flag: '30d' },
      skippedBecause: { beforeV5: 30, withoutRequest: 4 },
      aboutNoAction: 0,
      timing: { elapsedMs: 2_468, readMs: 1_900, replayMs: 400, decisionsPerSecond: 500, replayedPerSecond: 3_000 },
    });
  });

  it('merges the pages’ reports: counts and tallies add up, the oldest examples per transition are kept', () => {
    const first: BacktestReport = {
      ...emptyReport('h', 'v'),
      total: 5,
      replayed: 4,
      skipped: 1,
      unchanged: 2,
      changed: 2,
      reasonChanged: 1,
      transitions: { 'allow->deny': 2 },
      byPolicy: { zeta: tally(0, 2, { 'allow->deny': 2 }) },
      byTool: { 'refunds.issue': tally(4, 2, { 'allow->deny': 2 }) },
      examples: [example(1, 'allow'), example(2, 'allow')],
      distinctRequests: 3,
    };
    const second: BacktestReport = {
      ...emptyReport('h', 'v'),
      total: 3,
      replayed: 3,
      unchanged: 1,
      changed: 2,
      transitions: { 'allow->deny': 1, 'approval_required->deny': 1 },
      byPolicy: { alpha: tally(0, 1, { 'approval_required->deny': 1 }), zeta: tally(0, 2, { 'allow->deny': 1, 'approval_required->deny': 1 }) },
      byTool: { 'refunds.issue': tally(2, 2, { 'allow->deny': 1, 'approval_required->deny': 1 }), 'tickets.get': tally(1, 0, {}) },
      examples: [example(3, 'allow'), example(4, 'approval_required')],
      distinctRequests: 2,
    };
    const merged = mergeBacktestReports(first, second, 2, 4);
    expect(merged).toEqual({
      candidateHash: 'h',
      candidateVersion: 'v',
      total: 8,
      replayed: 7,
      skipped: 1,
      unchanged: 3,
      changed: 4,
      reasonChanged: 1,
      transitions: { 'allow->deny': 3, 'approval_required->deny': 1 },
      byPolicy: { alpha: tally(0, 1, { 'approval_required->deny': 1 }), zeta: tally(0, 4, { 'allow->deny': 3, 'approval_required->deny': 1 }) },
      byTool: { 'refunds.issue': tally(6, 4, { 'allow->deny': 3, 'approval_required->deny': 1 }), 'tickets.get': tally(1, 0, {}) },
      examples: [example(1, 'allow'), example(2, 'allow'), example(4, 'approval_required')],
      distinctRequests: 4,
    });
    expect(Object.keys(merged.byPolicy)).toEqual(['alpha', 'zeta']);
    // The inputs are left as they were.
    expect(first.byPolicy['zeta']).toEqual(tally(0, 2, { 'allow->deny': 2 }));
    expect(mergeBacktestReports(emptyReport('h', 'v'), first, 1, 3).examples).toEqual([example(1, 'allow')]);
  });

  it('tables: the first column left-aligned, the others right-aligned', () => {
    expect(
      table(
        ['tool', 'n'],
        [
          ['a', '1,000'],
          ['longer', '2'],
        ],
      ),
    ).toEqual(['tool        n', 'a       1,000', 'longer      2']);
  });
});
