// `writ policy backtest --policies DIR`: what a candidate policy set would have decided on the
// decisions recorded in a window. It reads the PolicyDecided events the ledger projected into
// ClickHouse (a stopped ledger's chDB folder, a server, or the running ledger's query door), maps
// each to the request Cedar saw then (request_json, PolicyDecided v5), and replays them with
// backtest() of @writ/policy-engine, page by page (oldest first), so a long history is never held
// in memory at once: the pages' reports are merged, and a cache shared by the pages decides each
// distinct request once. The candidate folder is validated and its cases run first, as for publish.
// A page large enough is replayed with backtestParallel: its distinct requests are decided by a pool
// of worker threads (--workers, default one per core), with the same report.
import { resolve } from 'node:path';
import { createClickHouse } from '@writ/clickhouse';
import type { ClickHouseClient } from '@writ/clickhouse';
import { WritError, describeError, isWritError } from '@writ/errors';
import { dateTime64 } from '@writ/ledger-core';
import {
  BACKTEST_EVALUATION_CACHE,
  HistoryIndex,
  backtest,
  longestWindowMs,
  createDecisionPoint,
  recordedDecisionOf,
  runPolicyCaseSources,
  withCandidateFacts,
} from '@writ/policy-engine';
import type { BacktestCache, BacktestReport, DecisionPoint, LoadedPolicySet, PolicyDecidedLike, RecordedDecision } from '@writ/policy-engine';
import { backtestParallel, createBacktestPool, defaultBacktestWorkers } from './backtest-pool.ts';
import type { BacktestPool } from './backtest-pool.ts';
import { DEFAULT_LEDGER_URL } from './ledger-source.ts';
import { backtestJson, count, emptyReport, formatBacktest, iso, mergeBacktestReports } from './policy-backtest-report.ts';
import type { BacktestRun, CandidateSummary } from './policy-backtest-report.ts';
import { Reported, caseLines, isDirectory, readLocal, readLocalCases, short } from './policy-folder.ts';
import type { Fetch, PolicyCommand } from './policy.ts';
import type { CliIo } from './verify.ts';

export const BACKTEST_USAGE = `usage: writ policy backtest --policies DIR [--since 30d|12h|DATE] [--tenant T] [--examples N] [--workers N] [--json]
                           [--chdb FOLDER | --clickhouse URL [--database DB] | --url LEDGER_URL [--key K]]
  Replays the decisions recorded since --since (default 30d: <n>d, <n>h, <n>m, or an ISO date or time,
  UTC) against the policy set in DIR (validated, its cases run first, as for publish) and reports
  what would have been decided otherwise: transitions, per policy, per tool, example actions.
  Decisions come from the ledger's ClickHouse: --chdb a stopped ledger's chDB folder, --clickhouse a
  server; else the running ledger's query door at --url (default WRIT_LEDGER_URL, else
  ${DEFAULT_LEDGER_URL}) with --key (else WRIT_API_KEY): an analyst's or auditor's key; there the
  tenant is the key's own (a platform admin names it with --tenant). --tenant: one tenant only.
  --examples N: example actions per transition (default 3). --workers N: threads deciding the
  distinct requests (default: one per core; 1: this thread only). --json: the report as JSON.
  Exit 0 with the report (whether or not anything would change), 1 failure, 2 usage error.`;

const DEFAULT_SINCE = '30d';
const DEFAULT_EXAMPLES = 3;
const MAX_EXAMPLES = 1_000;
const MAX_WORKERS = 64;
/** A page of at least this many decisions is replayed on the worker pool (started for the first such page). */
const POOL_MIN_RECORDS = 2_000;
/** Rows per page: the door answers at most WRIT_LEDGER_QUERY_MAX_ROWS (default 10,000) and 64 MiB. */
const PAGE_SIZE = { clickhouse: 20_000, door: 5_000 } as const;
/** A progress line on stderr every this many decisions read. */
const PROGRESS_EVERY = 50_000;
const TENANT = /^[A-Za-z0-9._:-]{1,200}$/;
const DURATION = /^(\d{1,6})([dhm])$/;
const ISO_DATE = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,3})?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/;
const UNIT_MS: Readonly<Record<string, number>> = { d: 86_400_000, h: 3_600_000, m: 60_000 };

export type BacktestSource =
  | { readonly kind: 'chdb'; readonly dataPath: string; readonly database?: string }
  | { readonly kind: 'clickhouse'; readonly url: URL; readonly database?: string }
  | { readonly kind: 'door'; readonly url: string; readonly key?: string };

export interface BacktestOptions {
  readonly policies: string;
  /** Start of the window (ms since the epoch, inclusive). */
  readonly since: number;
  /** As given: "30d", "2026-11-01". */
  readonly sinceLabel: string;
  /** End of the window: when the command started. */
  readonly until: number;
  readonly tenant: string | undefined;
  readonly source: BacktestSource;
  readonly examples: number;
  /** Worker threads deciding the distinct requests; undefined: one per core (defaultBacktestWorkers). */
  readonly workers: number | undefined;
  readonly json: boolean;
}

function usage(message: string, field: string, rule: string): WritError {
  return new WritError('USAGE', message, { field, rule });
}

/** --since as the window's start: <n>d|h|m before `now`, or an ISO date (UTC midnight) or time. */
export function parseSince(value: string, now: number): number {
  const rule = '<n>d, <n>h or <n>m (e.g. 30d, 12h), or an ISO date or time (2026-11-01, 2026-11-01T08:00Z)';
  const duration = DURATION.exec(value);
  if (duration !== null) {
    const amount = Number(duration[1]);
    if (amount === 0) throw usage(`--since ${value} is an empty window`, '--since', rule);
    return now - amount * (UNIT_MS[duration[2] ?? 'd'] ?? 0);
  }
  if (!ISO_DATE.test(value)) throw usage(`--since ${JSON.stringify(value)} is neither a duration nor a date`, '--since', rule);
  const dateOnly = value.length === 10;
  const text = dateOnly ? `${value}T00:00:00Z` : /(?:Z|[+-]\d{2}:?\d{2})$/.test(value) ? value : `${value}Z`;
  const at = Date.parse(text.replace(' ', 'T'));
  if (Number.isNaN(at)) throw usage(`--since ${JSON.stringify(value)} is not a valid date`, '--since', rule);
  if (at >= now) throw usage(`--since ${value} is not in the past`, '--since', rule);
  return at;
}

/** The verb's options from a parsed `writ policy backtest` command line; throws USAGE naming the flag. */
export function backtestOptionsOf(command: PolicyCommand, env: Readonly<Record<string, string | undefined>>, now: number): BacktestOptions {
  const { values } = command;
  const policies = values.get('policies');
  if (policies === undefined)
    throw usage('--policies is required: the candidate policy folder to replay the recorded decisions against', '--policies', 'a policy folder');
  const sinceLabel = values.get('since') ?? DEFAULT_SINCE;
  const since = parseSince(sinceLabel, now);
  const tenant = values.get('tenant');
  if (tenant !== undefined && !TENANT.test(tenant))
    throw usage(`--tenant ${JSON.stringify(tenant)} is not a tenant id`, '--tenant', 'letters, digits, . _ : -');
  let examples = DEFAULT_EXAMPLES;
  const examplesText = values.get('examples');
  if (examplesText !== undefined) {
    examples = /^\d{1,4}$/.test(examplesText) ? Number(examplesText) : Number.NaN;
    if (!(examples <= MAX_EXAMPLES))
      throw usage(`--examples ${JSON.stringify(examplesText)} is not a count`, '--examples', `an integer from 0 to ${MAX_EXAMPLES}`);
  }

  let workers: number | undefined;
  const workersText = values.get('workers');
  if (workersText !== undefined) {
    workers = /^\d{1,3}$/.test(workersText) ? Number(workersText) : Number.NaN;
    if (!(workers >= 1 && workers <= MAX_WORKERS))
      throw usage(`--workers ${JSON.stringify(workersText)} is not a thread count`, '--workers', `an integer from 1 to ${MAX_WORKERS}`);
  }

  const given = ['chdb', 'clickhouse', 'url'].filter((name) => values.has(name));
  if (given.length > 1) {
    throw usage(`--${given[0]} and --${given[1]} are two sources: give one`, `--${given[1]}`, 'one of --chdb FOLDER, --clickhouse URL, --url LEDGER_URL');
  }
  const database = values.get('database');
  let source: BacktestSource;
  const chdb = values.get('chdb');
  const server = values.get('clickhouse');
  if (chdb !== undefined || server !== undefined) {
    if (values.has('key')) throw usage('--key is for the ledger\u2019s query door (--url), not for ClickHouse read directly', '--key', 'with --url only');
    if (chdb !== undefined) source = { kind: 'chdb', dataPath: resolve(chdb), ...(database === undefined ? {} : { database }) };
    else {
      let url: URL;
      try {
        url = new URL(server ?? '');
      } catch {
        throw usage(`--clickhouse ${JSON.stringify(server)} is not a URL`, '--clickhouse', 'a ClickHouse server URL, e.g. http://127.0.0.1:8123');
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw usage(`--clickhouse ${server} is not http(s)`, '--clickhouse', 'an http(s) URL');
      source = { kind: 'clickhouse', url, ...(database === undefined ? {} : { database }) };
    }
  } else {
    if (database !== undefined)
      throw usage('--database is for ClickHouse read directly (--chdb, --clickhouse)', '--database', 'with --chdb or --clickhouse only');
    const key = values.get('key') ?? env['WRIT_API_KEY'];
    const url = values.get('url') ?? env['WRIT_LEDGER_URL'];
    source = {
      kind: 'door',
      url: (url === undefined || url === '' ? DEFAULT_LEDGER_URL : url).replace(/\/+$/, ''),
      ...(key === undefined || key === '' ? {} : { key }),
    };
  }
  return { policies, since, sinceLabel, until: now, tenant, source, examples, workers, json: command.switches.has('json') };
}

export function describeSource(source: BacktestSource): string {
  switch (source.kind) {
    case 'chdb':
      return `embedded chDB at ${source.dataPath}${source.database === undefined ? '' : `, database ${source.database}`}`;
    case 'clickhouse': {
      const shown = new URL(source.url.toString());
      shown.username = '';
      shown.password = '';
      shown.search = '';
      return `ClickHouse server ${shown.toString()}${source.database === undefined ? '' : `, database ${source.database}`}`;
    }
    case 'door':
      return `the ledger's query door ${source.url}/v1/query`;
  }
}

// ---- reading PolicyDecided events, oldest first, a page at a time ----

/** One row of the events table: a PolicyDecided event (its payload: the event's JSON). */
export interface DecidedRow {
  readonly event_id: string;
  /** occurred_at as ClickHouse prints it: "2026-11-06 10:00:00.000" (UTC). */
  readonly at: string;
  readonly payload: string;
}

/** Where the next page starts: after this (occurred_at, event_id). */
export interface PageCursor {
  readonly at: string;
  readonly eventId: string;
}

/**
 * One page of PolicyDecided events after the cursor, in (occurred_at, event_id) order (keyset
 * paging: every page costs the same, and events with one timestamp are never lost between pages).
 * `final`: read the ReplacingMergeTree deduplicated (the door's tables are already).
 */
export function decidedPageSql(options: { readonly final: boolean; readonly tenant: boolean; readonly limit: number }): string {
  return [
    'SELECT event_id, toString(occurred_at) AS at, payload',
    `FROM events${options.final ? ' FINAL' : ''}`,
    "WHERE event_type = 'PolicyDecided'",
    "  AND occurred_at >= {since:DateTime64(3, 'UTC')}",
    ...(options.tenant ? ['  AND tenant_id = {tenant:String}'] : []),
    "  AND (occurred_at > {after_at:DateTime64(3, 'UTC')} OR (occurred_at = {after_at:DateTime64(3, 'UTC')} AND event_id > {after_id:String}))",
    'ORDER BY occurred_at, event_id',
    `LIMIT ${Math.max(1, Math.floor(options.limit))}`,
  ].join('\n');
}

interface Page {
  readonly rows: readonly DecidedRow[];
  /** The source cut the answer short (the door's row limit): ask again for fewer. */
  readonly truncated: boolean;
}

interface DecidedReader {
  readonly pageSize: number;
  page(cursor: PageCursor, limit: number): Promise<Page>;
  close(): Promise<void>;
}

function pageParams(options: BacktestOptions, cursor: PageCursor): Record<string, string> {
  return {
    since: dateTime64(options.since),
    after_at: cursor.at,
    after_id: cursor.eventId,
    ...(options.tenant === undefined ? {} : { tenant: options.tenant }),
  };
}

function clickHouseReader(options: BacktestOptions, source: Extract<BacktestSource, { kind: 'chdb' | 'clickhouse' }>, pageSize: number): DecidedReader {
  const client: ClickHouseClient = createClickHouse({
    ...(source.kind === 'clickhouse' ? { url: source.url } : { dataPath: source.dataPath }),
    ...(source.database === undefined ? {} : { database: source.database }),
    application: 'writ-cli',
  });
  return {
    pageSize,
    async page(cursor, limit) {
      let rows: DecidedRow[];
      try {
        const result = await client.query({
          query: decidedPageSql({ final: true, tenant: options.tenant !== undefined, limit }),
          query_params: pageParams(options, cursor),
          format: 'JSONEachRow',
        });
        rows = await result.json<DecidedRow>();
      } catch (error) {
        const hint =
          source.kind === 'chdb'
            ? ' (is this a ledger\u2019s chDB folder, WRIT_CHDB_PATH, with its events table? A running ledger holds its folder: stop it, or use --url)'
            : ' (is this the ledger\u2019s ClickHouse and database, CLICKHOUSE_DATABASE?)';
        throw new WritError('BACKTEST_READ_FAILED', `reading PolicyDecided events from ${describeSource(source)} failed: ${describeError(error)}${hint}`, {
          cause: error,
        });
      }
      return { rows, truncated: false };
    },
    close: () => client.close(),
  };
}

interface DoorErrorBody {
  readonly code?: string;
  readonly message?: string;
  readonly field?: string;
  readonly rule?: string;
}

function doorError(
  status: number,
  url: string,
  body: DoorErrorBody | undefined,
  text: string,
  source: Extract<BacktestSource, { kind: 'door' }>,
): WritError<string> {
  const code = body?.code ?? `HTTP_${status}`;
  const said = `${url} answered ${status} ${code}: ${body?.message ?? text.slice(0, 300)}`;
  switch (status) {
    case 401:
      return new WritError('LEDGER_UNAUTHENTICATED', `${said}; ${source.key === undefined ? 'send an API key' : 'the API key given is not known'}`, {
        field: '--key',
        rule: 'an analyst\u2019s or auditor\u2019s API key of the tenant: --key <key> or WRIT_API_KEY',
      });
    case 403:
      return new WritError('FORBIDDEN', `${said}; the query door takes an analyst or an auditor (an admin holds both)`, {
        field: '--key',
        rule: 'an analyst\u2019s or auditor\u2019s API key',
      });
    case 404:
      return new WritError('NOT_FOUND', `${said}; the query door reads the key\u2019s own tenant (a platform admin may name any)`, {
        field: '--tenant',
        rule: 'the caller\u2019s own tenant',
      });
    default:
      if (status === 400 && body?.field === 'tenant') {
        return new WritError('USAGE', `${said}; a platform admin names the tenant to read: --tenant T`, {
          field: '--tenant',
          rule: body.rule ?? 'a tenant id',
        });
      }
      return new WritError<string>(code, said, {
        ...(body?.field === undefined ? {} : { field: body.field }),
        ...(body?.rule === undefined ? {} : { rule: body.rule }),
      });
  }
}

function doorReader(options: BacktestOptions, source: Extract<BacktestSource, { kind: 'door' }>, fetchFn: Fetch, pageSize: number): DecidedReader {
  const url = `${source.url}/v1/query`;
  return {
    pageSize,
    async page(cursor, limit) {
      const body = {
        sql: decidedPageSql({ final: false, tenant: false, limit }),
        params: { since: dateTime64(options.since), after_at: cursor.at, after_id: cursor.eventId },
        ...(options.tenant === undefined ? {} : { tenant: options.tenant }),
      };
      let response: Response;
      try {
        response = await fetchFn(url, {
          method: 'POST',
          headers: {
            accept: 'application/json',
            'content-type': 'application/json',
            ...(source.key === undefined ? {} : { authorization: `Bearer ${source.key}` }),
          },
          body: JSON.stringify(body),
        });
      } catch (cause) {
        throw new WritError(
          'LEDGER_UNREACHABLE',
          `cannot reach the ledger at ${source.url} (is it running? --url or WRIT_LEDGER_URL; or --chdb <folder> when it is stopped)`,
          { field: '--url', cause, retriable: true },
        );
      }
      const text = await response.text();
      let parsed: unknown;
      try {
        parsed = text === '' ? undefined : JSON.parse(text);
      } catch {
        parsed = undefined;
      }
      if (!response.ok) {
        const error = typeof parsed === 'object' && parsed !== null ? (parsed as { error?: DoorErrorBody }).error : undefined;
        throw doorError(response.status, `POST ${url}`, error, text, source);
      }
      const answer = parsed as { rows?: unknown; truncated?: unknown } | undefined;
      if (answer === undefined || !Array.isArray(answer.rows)) {
        throw new WritError('LEDGER_ANSWER_INVALID', `POST ${url} answered ${response.status} without {rows}: ${text.slice(0, 200)}`);
      }
      return { rows: answer.rows as DecidedRow[], truncated: answer.truncated === true };
    },
    close: async () => undefined,
  };
}

// ---- replaying ----

/** The recorded decisions of a page, and why the others cannot be replayed. */
export interface PageRecords {
  readonly records: RecordedDecision[];
  /** Recorded before PolicyDecided v5: no request_json, the request Cedar saw is not known. */
  readonly beforeV5: number;
  /** request_json "": refused before Cedar (the request could not be built, e.g. an unknown tool). */
  readonly withoutRequest: number;
  /** A PolicyDecided about no action (none is expected); not counted as a decision. */
  readonly aboutNoAction: number;
}

type DecidedPayload = PolicyDecidedLike & { readonly request_json?: string };

/** Maps a page's rows to recorded decisions (recordedDecisionOf); a payload that is no PolicyDecided fails naming its event. */
export function recordsOfPage(rows: readonly DecidedRow[]): PageRecords {
  const records: RecordedDecision[] = [];
  let beforeV5 = 0;
  let withoutRequest = 0;
  let aboutNoAction = 0;
  for (const row of rows) {
    let payload: DecidedPayload;
    let record: RecordedDecision | undefined;
    try {
      payload = JSON.parse(row.payload) as DecidedPayload;
      if (
        typeof payload !== 'object' ||
        payload === null ||
        typeof payload.meta !== 'object' ||
        payload.meta === null ||
        typeof payload.decision !== 'string'
      ) {
        throw new Error('not a PolicyDecided payload (meta, decision)');
      }
      record = recordedDecisionOf(payload);
    } catch (error) {
      throw new WritError('BACKTEST_PAYLOAD_INVALID', `event ${row.event_id} (${row.at}): ${describeError(error)}`, { cause: error });
    }
    if (record === undefined) {
      aboutNoAction++;
      continue;
    }
    if (payload.request_json === undefined) beforeV5++;
    else if (payload.request_json === '') withoutRequest++;
    records.push(record);
  }
  return { records, beforeV5, withoutRequest, aboutNoAction };
}

// ---- the verb ----

export interface BacktestDeps {
  /** The clock of the window's end (ms). */
  readonly now?: () => number;
  /** Rows per page (default: 20,000 from ClickHouse, 5,000 through the door). */
  readonly pageSize?: number;
  /** Decisions in a page from which the worker pool replays it (default 2,000). */
  readonly poolMinRecords?: number;
}

/** Validates the candidate folder as publish does (compiles, its cases pass on the real engine); prints why not and throws Reported. */
async function loadCandidate(dir: string, io: CliIo): Promise<{ point: DecisionPoint; policySet: LoadedPolicySet; summary: CandidateSummary }> {
  const local = await readLocal(dir, io);
  const cases = await readLocalCases(dir);
  // Also the decision point of the replay in this thread: it remembers Cedar's evaluations.
  const point = createDecisionPoint(local.compiled, { evaluationCache: BACKTEST_EVALUATION_CACHE });
  const report = runPolicyCaseSources(cases, point, Object.keys(local.compiled.policies));
  const failed = report.results.filter((r) => !r.passed);
  if (failed.length > 0) {
    io.err(`[policy] ${failed.length} of ${report.results.length} cases of the candidate in ${dir} failed; nothing was replayed:`);
    for (const line of caseLines(failed)) io.err(line);
    throw new Reported();
  }
  if (cases.length === 0) {
    io.err(
      `[policy] ${dir} has no cases: a candidate is backtested as it would be published, with the decision cases it passes (cases/allow|deny|approval/*.json)`,
    );
    throw new Reported();
  }
  const { compiled } = local;
  return {
    point,
    policySet: compiled,
    summary: {
      dir: dir.replace(/\/+$/, '') || dir,
      hash: compiled.hash,
      version: compiled.version,
      policies: Object.keys(compiled.policies).length,
      modes: Object.fromEntries(Object.values(compiled.metadata).map((m) => [m.id, m.mode])),
      cases: report.results.length,
    },
  };
}

/** Replays one page's records with the cache shared by the pages (backtest(), or backtestParallel on the worker pool). */
type PageReplayer = (records: RecordedDecision[], cache: BacktestCache) => Promise<BacktestReport>;

/**
 * backtest() for a page too small for the pool, or with one worker; else backtestParallel on a pool
 * started for the first page worth it (its workers build the candidate from its set; if they
 * cannot start, this thread replays alone, as with --workers 1). close() ends the pool.
 */
function pageReplayer(candidate: DecisionPoint, policySet: LoadedPolicySet, options: BacktestOptions, poolMinRecords: number, io: CliIo) {
  const workers = options.workers ?? defaultBacktestWorkers();
  let pool: Promise<BacktestPool | undefined> | undefined;
  // One history for all pages: a fact computed on a page counts the decisions of the pages before.
  const history = new HistoryIndex(Math.max(1, longestWindowMs(candidate.history)));
  const replayPage: PageReplayer = async (page, cache) => {
    // The candidate's history facts are computed here, in order (the pool decides requests, not
    // histories); the warm-up before --since only feeds them.
    const records = [...withCandidateFacts(page, candidate, { history, reportFrom: options.since })];
    const settings = { examplesPerTransition: options.examples, cache };
    if (pool === undefined && (workers <= 1 || records.length < poolMinRecords)) return backtest(records, candidate, settings);
    pool ??= createBacktestPool(policySet, { workers }).catch((error: unknown) => {
      io.err(`[policy] backtest: ${workers} worker threads could not start (${describeError(error)}); replaying in one thread`);
      return undefined;
    });
    const started = await pool;
    return started === undefined
      ? backtest(records, candidate, settings)
      : backtestParallel(records, candidate, started, { ...settings, minRecords: poolMinRecords });
  };
  const close = async () => {
    const started = await pool;
    pool = undefined;
    await started?.close();
  };
  return { replayPage, close };
}

/** Reads the window (from readFrom: its start, or earlier to warm up history facts) page by page and replays each page; progress on stderr. */
async function replay(
  options: BacktestOptions,
  readFrom: number,
  reader: DecidedReader,
  candidate: DecisionPoint,
  io: CliIo,
  clock: () => number,
  replayPage: PageReplayer,
) {
  const cache: BacktestCache = new Map();
  let report = emptyReport(candidate.policySetHash, candidate.version);
  const skipped = { beforeV5: 0, withoutRequest: 0 };
  let aboutNoAction = 0;
  let readMs = 0;
  let replayMs = 0;
  let read = 0;
  let limit = reader.pageSize;
  let cursor: PageCursor = { at: dateTime64(readFrom), eventId: '' };
  for (;;) {
    const t0 = clock();
    const page = await reader.page(cursor, limit);
    readMs += clock() - t0;
    if (page.truncated && page.rows.length > 0 && page.rows.length < limit) {
      // The source answers fewer rows than asked: ask for that many from now on, this page again.
      limit = page.rows.length;
      continue;
    }
    if (page.rows.length === 0) break;
    // Keyset order: the page's greatest (occurred_at, event_id) is where the next one starts.
    const rows = [...page.rows].sort((x, y) => (x.at === y.at ? (x.event_id < y.event_id ? -1 : x.event_id > y.event_id ? 1 : 0) : x.at < y.at ? -1 : 1));
    const last = rows[rows.length - 1] as DecidedRow;
    cursor = { at: last.at, eventId: last.event_id };
    const mapped = recordsOfPage(rows);
    skipped.beforeV5 += mapped.beforeV5;
    skipped.withoutRequest += mapped.withoutRequest;
    aboutNoAction += mapped.aboutNoAction;
    const t1 = clock();
    const pageReport = await replayPage(mapped.records, cache);
    report = mergeBacktestReports(report, pageReport, options.examples, cache.size);
    replayMs += clock() - t1;
    const before = read;
    read += rows.length;
    if (Math.floor(read / PROGRESS_EVERY) > Math.floor(before / PROGRESS_EVERY)) {
      io.err(
        `[policy] backtest: ${count(read)} decisions read (up to ${last.at} UTC), ${count(report.changed)} would change so far, ${count(cache.size)} distinct requests`,
      );
    }
  }
  return { report: { ...report, distinctRequests: cache.size }, skipped, aboutNoAction, readMs, replayMs };
}

/** A usage error: the message and the rule, then the verb's usage; exit 2. */
function usageFailure(error: unknown, io: CliIo): number {
  if (!isWritError(error)) throw error;
  io.err(`${describeError(error)}${error.rule === undefined ? '' : ` (${error.rule})`}`);
  io.err(BACKTEST_USAGE);
  return 2;
}

/** Runs `writ policy backtest` (parsed by parsePolicyCommand); returns the exit code (0 report, 1 failure, 2 usage). */
export async function runBacktest(
  command: PolicyCommand,
  io: CliIo,
  env: Readonly<Record<string, string | undefined>>,
  fetchFn: Fetch,
  deps: BacktestDeps = {},
): Promise<number> {
  const clock = () => performance.now();
  let options: BacktestOptions;
  try {
    options = backtestOptionsOf(command, env, (deps.now ?? Date.now)());
  } catch (error) {
    return usageFailure(error, io);
  }
  try {
    const folder = await isDirectory(options.policies);
    if (folder !== true) {
      throw usage(`--policies ${options.policies} is ${folder === false ? 'a file' : 'not there'}: a policy folder`, '--policies', 'a policy folder');
    }
    if (options.source.kind === 'chdb' && (await isDirectory(options.source.dataPath)) !== true) {
      throw usage(
        `--chdb ${options.source.dataPath} is no folder: a ledger\u2019s chDB data folder`,
        '--chdb',
        'a chDB data folder (WRIT_CHDB_PATH of the ledger)',
      );
    }
    const candidate = await loadCandidate(options.policies, io);
    const source = options.source;
    io.err(
      `[policy] candidate ${candidate.summary.dir} valid (hash ${short(candidate.summary.hash)}, ${candidate.summary.cases} cases pass); reading PolicyDecided since ${iso(options.since)} from ${describeSource(source)}`,
    );
    // The candidate's history facts see the decisions of their longest window before --since too.
    const lookBack = longestWindowMs(candidate.point.history);
    if (lookBack > 0) {
      io.err(
        `[policy] history facts ${candidate.point.history.map((f) => f.name).join(', ')}: reading from ${iso(options.since - lookBack)} to warm them up (not replayed)`,
      );
    }
    const readOptions = { ...options, since: options.since - lookBack };
    const reader =
      source.kind === 'door'
        ? doorReader(readOptions, source, fetchFn, deps.pageSize ?? PAGE_SIZE.door)
        : clickHouseReader(readOptions, source, deps.pageSize ?? PAGE_SIZE.clickhouse);
    const replayer = pageReplayer(candidate.point, candidate.policySet, options, deps.poolMinRecords ?? POOL_MIN_RECORDS, io);
    let replayed: Awaited<ReturnType<typeof replay>>;
    let elapsedMs: number;
    try {
      const start = clock();
      replayed = await replay(options, readOptions.since, reader, candidate.point, io, clock, replayer.replayPage);
      elapsedMs = clock() - start;
    } finally {
      await replayer.close();
      await reader.close();
    }
    const run: BacktestRun = {
      ...replayed,
      candidate: candidate.summary,
      source: describeSource(source),
      since: options.since,
      sinceLabel: options.sinceLabel,
      until: options.until,
      tenant: options.tenant,
      door: source.kind === 'door',
      elapsedMs,
    };
    if (options.json) io.out(JSON.stringify(backtestJson(run), null, 2));
    else for (const line of formatBacktest(run)) io.out(line);
    return 0;
  } catch (error) {
    if (error instanceof Reported) return 1;
    if (isWritError(error, 'USAGE')) return usageFailure(error, io);
    const where = isWritError(error) && error.field !== undefined ? ` (${error.field}${error.rule === undefined ? '' : `: ${error.rule}`})` : '';
    io.err(`[policy] backtest failed: ${describeError(error)}${where}`);
    return 1;
  }
}
