// `writ policy publish|history|show|diff|rollback`: the policy sets the policy service serves,
// published through its HTTP doors (`/v1/policy-sets`). A publication is validated here first
// (the set compiles, its cases pass on the real Cedar engine) so nothing invalid is ever sent.
// `writ policy backtest` (policy-backtest.ts) replays recorded decisions against a folder's set.
import { join } from 'node:path';
import { WritError, describeError, isWritError } from '@writ/errors';
import { createDecisionPoint, runPolicyCaseSources } from '@writ/policy-engine';
import type { PolicyCaseReport, PolicyCaseSource } from '@writ/policy-engine';
import { DEFAULT_LEDGER_URL } from './ledger-source.ts';
import { runBacktest } from './policy-backtest.ts';
import { formatPolicySetDiff, modesSummary } from './policy-diff.ts';
import { Reported, caseLines, isDirectory, problemLines, readLocal, readLocalCases, short } from './policy-folder.ts';
import type { FailedCase, LocalPolicySet, Problem } from './policy-folder.ts';
import type { PolicySetView } from './policy-diff.ts';
import type { CliIo } from './verify.ts';

export const DEFAULT_POLICY_URL = 'http://127.0.0.1:26082';

export const POLICY_USAGE = `usage: writ policy <verb> [--url <policy service url>] [--key <api key>]
  publish DIR --message M [--version V] [--dry-run]
      validate the folder (schema, policies, cases/ on the real Cedar engine), then publish it over
      the current head; --dry-run validates and shows the diff against the current head, sends nothing
  history [--json]            every applied publication, oldest first; * marks the current one
  show HASH [--policy ID]     a publication and its policies' modes; --policy prints one policy's text
  diff A B                    what changes from A to B; each is a hash, "current" or a policy folder
  rollback HASH --message M   serve an earlier policy set again (a new publication, origin rollback)
  backtest --policies DIR [--since 30d|12h|DATE] [--tenant T] [--examples N] [--workers N] [--json]
           [--chdb FOLDER | --clickhouse URL [--database DB] | --url LEDGER_URL [--key K]]
      replay the decisions recorded in the window against the folder's set (validated, its cases
      run first) and report what would change; reads the ledger's ClickHouse, or its query door
      (--url: WRIT_LEDGER_URL, else ${DEFAULT_LEDGER_URL}; --key: an analyst's or auditor's key);
      --workers: threads deciding the distinct requests (default one per core)
  HASH is a policy_set_hash, a prefix of at least 8 hex characters, or "current".
  --url defaults to WRIT_POLICY_URL, else ${DEFAULT_POLICY_URL}; --key to WRIT_API_KEY: a platform
  admin's API key to publish and roll back (a platform admin's or a service key to read).
  Exit 0 ok (backtest: a report, changed or not), 1 failure (invalid set, failing case, refused by
  the service), 2 usage error.`;

const stdio: CliIo = { out: (line) => console.log(line), err: (line) => console.error(line) };

export type Fetch = (url: string, init?: RequestInit) => Promise<Response>;

export type PolicyOrigin = 'publish' | 'rollback' | 'bootstrap';

/** One publication of the policy stream. */
export interface PolicySetSummary {
  readonly stream: string;
  readonly sequence: number;
  readonly policy_set_hash: string;
  readonly previous_hash: string | null;
  readonly version: string;
  readonly origin: PolicyOrigin;
  readonly author: string;
  readonly message: string;
  readonly published_at: string;
  readonly policies: number;
  readonly modes: Readonly<Record<string, string>>;
}

export interface PolicySetList {
  readonly stream: string;
  readonly current: PolicySetSummary | null;
  readonly history: readonly PolicySetSummary[];
}

export interface PolicySetDetail extends PolicySetSummary {
  readonly schema: string;
  readonly policies_text: Readonly<Record<string, string>>;
  readonly cases: readonly PolicyCaseSource[];
}

export interface PublishedPolicySet extends PolicySetSummary {
  readonly cases?: { readonly passed: number; readonly total: number };
  readonly uncovered_policies?: readonly string[];
}

export interface PublishBody {
  readonly schema: string;
  readonly policies: Readonly<Record<string, string>>;
  readonly version?: string;
  readonly message: string;
  readonly previous_hash: string | null;
  readonly cases: readonly PolicyCaseSource[];
}

export interface RollbackBody {
  readonly to: string;
  readonly message: string;
  readonly previous_hash: string | null;
}

/** The error body of the policy service's doors. */
interface ServiceErrorBody {
  readonly code?: string;
  readonly message?: string;
  readonly field?: string;
  readonly rule?: string;
  readonly details?: Readonly<Record<string, unknown>>;
}

/** A non-2xx answer of the policy service: its status, code and details. */
export class PolicyServiceError extends WritError<string> {
  readonly status: number;
  readonly url: string;

  constructor(status: number, url: string, body: ServiceErrorBody | undefined, text: string) {
    super(body?.code ?? `HTTP_${status}`, body?.message ?? `${url} answered ${status}: ${text.slice(0, 300)}`, {
      ...(body?.field === undefined ? {} : { field: body.field }),
      ...(body?.rule === undefined ? {} : { rule: body.rule }),
      ...(body?.details === undefined ? {} : { details: body.details }),
    });
    this.status = status;
    this.url = url;
  }
}

/** A client of the policy service's policy-set doors. */
export class PolicyService {
  readonly base: string;
  readonly key: string | undefined;
  readonly #fetch: Fetch;

  constructor(base: string, key: string | undefined, fetchFn: Fetch) {
    this.base = base.replace(/\/+$/, '');
    this.key = key;
    this.#fetch = fetchFn;
  }

  list(): Promise<PolicySetList> {
    return this.#call('GET', '/v1/policy-sets');
  }

  get(hash: string): Promise<PolicySetDetail> {
    return this.#call('GET', `/v1/policy-sets/${encodeURIComponent(hash)}`);
  }

  publish(body: PublishBody): Promise<PublishedPolicySet> {
    return this.#call('POST', '/v1/policy-sets', body);
  }

  rollback(body: RollbackBody): Promise<PolicySetSummary> {
    return this.#call('POST', '/v1/policy-sets/rollback', body);
  }

  async #call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    const url = `${this.base}${path}`;
    let response: Response;
    try {
      response = await this.#fetch(url, {
        method,
        headers: {
          accept: 'application/json',
          ...(this.key === undefined ? {} : { authorization: `Bearer ${this.key}` }),
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    } catch (cause) {
      throw new WritError('POLICY_SERVICE_UNREACHABLE', `cannot reach the policy service at ${this.base} (is it running? --url or WRIT_POLICY_URL)`, {
        field: '--url',
        cause,
        retriable: true,
      });
    }
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (!response.ok) {
      const error = typeof parsed === 'object' && parsed !== null ? (parsed as { error?: ServiceErrorBody }).error : undefined;
      throw new PolicyServiceError(response.status, `${method} ${url}`, error, text);
    }
    if (parsed === undefined) throw new WritError('POLICY_SERVICE_ANSWER_INVALID', `${method} ${url} answered ${response.status} without a JSON body`);
    return parsed as T;
  }
}

// ---- arguments ----

interface VerbSpec {
  readonly positionals: readonly string[];
  readonly values: readonly string[];
  readonly switches: readonly string[];
}

const CONNECTION = ['url', 'key'];

const VERBS = {
  publish: { positionals: ['DIR'], values: ['message', 'version', ...CONNECTION], switches: ['dry-run'] },
  history: { positionals: [], values: CONNECTION, switches: ['json'] },
  show: { positionals: ['HASH'], values: ['policy', ...CONNECTION], switches: [] },
  diff: { positionals: ['A', 'B'], values: CONNECTION, switches: [] },
  rollback: { positionals: ['HASH'], values: ['message', ...CONNECTION], switches: [] },
  backtest: {
    positionals: [],
    values: ['policies', 'since', 'tenant', 'examples', 'workers', 'chdb', 'clickhouse', 'database', ...CONNECTION],
    switches: ['json'],
  },
} as const satisfies Record<string, VerbSpec>;

export type PolicyVerb = keyof typeof VERBS;

/** A parsed `writ policy` command line. */
export interface PolicyCommand {
  readonly verb: PolicyVerb;
  readonly positionals: readonly string[];
  readonly values: ReadonlyMap<string, string>;
  readonly switches: ReadonlySet<string>;
}

function usage(message: string, field: string, rule: string): WritError {
  return new WritError('USAGE', message, { field, rule });
}

const HASH_ARGUMENT = /^[0-9a-f]{8,64}$/i;

function checkHashArgument(name: string, value: string): void {
  if (value !== 'current' && !HASH_ARGUMENT.test(value)) {
    throw usage(`${name} ${JSON.stringify(value)} is not a policy set hash`, name, '"current", a policy_set_hash or a prefix of at least 8 hex characters');
  }
}

/** Parses `writ policy <verb> ...`; throws USAGE naming the argument or flag at fault. */
export function parsePolicyCommand(args: readonly string[]): PolicyCommand {
  const [verb, ...rest] = args;
  if (verb === undefined || !Object.hasOwn(VERBS, verb)) {
    throw usage(verb === undefined ? 'writ policy needs a verb' : `unknown verb ${JSON.stringify(verb)}`, 'verb', `one of ${Object.keys(VERBS).join(', ')}`);
  }
  const spec: VerbSpec = VERBS[verb as PolicyVerb];
  const positionals: string[] = [];
  const values = new Map<string, string>();
  const switches = new Set<string>();
  const flagList = [...spec.values, ...spec.switches].map((name) => `--${name}`).join(', ');
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i] ?? '';
    if (!arg.startsWith('--')) {
      if (positionals.length >= spec.positionals.length) {
        throw usage(
          `unexpected argument ${JSON.stringify(arg)}`,
          arg,
          `writ policy ${verb} takes ${spec.positionals.length === 0 ? 'no argument' : spec.positionals.join(' ')}`,
        );
      }
      positionals.push(arg);
      continue;
    }
    const name = arg.slice(2);
    if ((spec.switches as readonly string[]).includes(name)) {
      switches.add(name);
      continue;
    }
    if (!spec.values.includes(name)) throw usage(`unknown flag ${arg} for writ policy ${verb}`, arg, `one of ${flagList}`);
    const value = rest[i + 1];
    if (value === undefined || value.startsWith('--')) throw usage(`--${name} needs a value`, `--${name}`, 'a value after the flag');
    if (value.trim() === '') throw usage(`--${name} must not be empty`, `--${name}`, 'a non-empty value');
    if (values.has(name)) throw usage(`--${name} is given twice`, `--${name}`, 'at most once');
    values.set(name, value);
    i++;
  }
  if (positionals.length < spec.positionals.length) {
    const missing = spec.positionals.slice(positionals.length).join(' ');
    throw usage(`writ policy ${verb} needs ${missing}`, spec.positionals[positionals.length] ?? verb, `writ policy ${verb} ${spec.positionals.join(' ')}`);
  }
  if (verb === 'rollback' && !values.has('message')) throw usage('--message is required: say why the policy set changes', '--message', 'a non-empty message');
  if (verb === 'publish' && !values.has('message') && !switches.has('dry-run')) {
    throw usage('--message is required: say why the policy set changes', '--message', 'a non-empty message (optional with --dry-run)');
  }
  if (verb === 'show' || verb === 'rollback') checkHashArgument('HASH', positionals[0] ?? '');
  if (values.has('url')) {
    try {
      new URL(values.get('url') ?? '');
    } catch {
      const example = verb === 'backtest' ? DEFAULT_LEDGER_URL : DEFAULT_POLICY_URL;
      throw usage(`--url ${JSON.stringify(values.get('url'))} is not a URL`, '--url', `an http(s) URL, e.g. ${example}`);
    }
  }
  return { verb: verb as PolicyVerb, positionals, values, switches };
}

/** --url, else WRIT_POLICY_URL, else the local policy service; --key, else WRIT_API_KEY. */
export function policyServiceOf(command: PolicyCommand, env: Readonly<Record<string, string | undefined>>, fetchFn: Fetch): PolicyService {
  const key = command.values.get('key') ?? env['WRIT_API_KEY'];
  const url = command.values.get('url') ?? env['WRIT_POLICY_URL'];
  return new PolicyService(url === undefined || url === '' ? DEFAULT_POLICY_URL : url, key === undefined || key === '' ? undefined : key, fetchFn);
}

// ---- shared helpers ----

/** Lines explaining a failed request; `action` says what was refused ("publish"). */
function serviceErrorLines(error: PolicyServiceError, service: PolicyService, action: string): string[] {
  const details = error.details ?? {};
  switch (error.status) {
    case 401:
      return [
        `${error.url} answered 401 ${error.code}: ${error.message}`,
        service.key === undefined
          ? '  send an API key: --key <key> or WRIT_API_KEY'
          : '  the API key given (--key or WRIT_API_KEY) is not known to the service',
      ];
    case 403:
      return [
        `${error.url} answered 403 ${error.code}: ${error.message}`,
        `  ${action === 'read' ? 'reading policy sets takes a platform admin or a service key' : `to ${action}, use a platform admin's API key`}`,
      ];
    case 409:
      if (error.code === 'POLICY_SET_CONFLICT') {
        const current = details['current_hash'];
        const head = typeof current === 'string' ? `the head is now ${short(current)}` : current === null ? 'the stream is now empty' : 'the head moved';
        return [
          `someone published meanwhile: ${head}; nothing was changed (${error.code}: ${error.message})`,
          '  re-run the command (writ policy history shows what was published)',
        ];
      }
      break;
    case 400:
      if (error.code === 'POLICY_SET_INVALID' && Array.isArray(details['problems'])) {
        return [`the service refused the policy set (${error.code}): ${error.message.split('\n')[0] ?? ''}`, ...problemLines(details['problems'] as Problem[])];
      }
      if (error.code === 'POLICY_CASES_FAILED' && Array.isArray(details['results'])) {
        const failed = (details['results'] as FailedCase[]).filter((r) => (r.problems ?? []).length > 0);
        return [`the service refused the policy set: cases failed (${error.code}): ${error.message.split('\n')[0] ?? ''}`, ...caseLines(failed)];
      }
      break;
  }
  const where = error.field === undefined ? '' : ` (field ${error.field}${error.rule === undefined ? '' : `: ${error.rule}`})`;
  return [`${error.url} answered ${error.status} ${error.code}: ${error.message}${where}`];
}

/** The published list, fetched once per command. */
function lazyList(service: PolicyService): () => Promise<PolicySetList> {
  let list: Promise<PolicySetList> | undefined;
  return () => (list ??= service.list());
}

/** A full hash for "current", a hash, or a prefix of at least 8 hex characters (resolved against the history). */
async function resolveHash(argument: string, list: () => Promise<PolicySetList>): Promise<string> {
  const value = argument.toLowerCase();
  if (value === 'current') {
    const { current } = await list();
    if (current === null) throw new WritError('NOT_FOUND', 'no policy set is published yet, so there is no "current"', { field: argument });
    return current.policy_set_hash;
  }
  if (/^[0-9a-f]{64}$/.test(value)) return value;
  if (!HASH_ARGUMENT.test(value)) {
    throw usage(`${JSON.stringify(argument)} is not a policy set hash`, argument, '"current", a policy_set_hash or a prefix of at least 8 hex characters');
  }
  const { current, history } = await list();
  const hashes = [...new Set([...history, ...(current === null ? [] : [current])].map((s) => s.policy_set_hash))];
  const candidates = hashes.filter((hash) => hash.startsWith(value));
  if (candidates.length === 0) throw new WritError('NOT_FOUND', `no published policy set hash starts with ${value}`, { field: argument });
  if (candidates.length > 1) {
    throw new WritError(
      'POLICY_SET_HASH_AMBIGUOUS',
      `${value} is ambiguous: ${candidates.length} published hashes start with it (${candidates.join(', ')}); give more characters`,
      {
        field: argument,
        details: { candidates },
      },
    );
  }
  return candidates[0] ?? value;
}

function viewOfDetail(label: string, detail: PolicySetDetail): PolicySetView {
  return { label, hash: detail.policy_set_hash, version: detail.version, schema: detail.schema, policies: detail.policies_text, modes: detail.modes };
}

function viewOfLocal(label: string, local: LocalPolicySet): PolicySetView {
  return {
    label,
    hash: local.compiled.hash,
    version: local.compiled.version,
    schema: local.compiled.schemaText,
    policies: local.compiled.policies,
    modes: Object.fromEntries(Object.values(local.compiled.metadata).map((m) => [m.id, m.mode])),
  };
}

// ---- verbs ----

interface Context {
  readonly command: PolicyCommand;
  readonly io: CliIo;
  readonly service: PolicyService;
  readonly list: () => Promise<PolicySetList>;
}

async function publish({ command, io, service, list }: Context): Promise<number> {
  const dir = command.positionals[0] ?? '';
  const version = command.values.get('version');
  const local = await readLocal(dir, io, version);
  const cases = await readLocalCases(dir);
  const report: PolicyCaseReport = runPolicyCaseSources(cases, createDecisionPoint(local.compiled), Object.keys(local.compiled.policies));
  const failed = report.results.filter((r) => !r.passed);
  const { compiled } = local;
  const modes = Object.fromEntries(Object.values(compiled.metadata).map((m) => [m.id, m.mode]));
  if (failed.length > 0) {
    io.err(`[policy] ${failed.length} of ${report.results.length} cases in ${join(dir, 'cases')} failed; nothing was published:`);
    for (const line of caseLines(failed)) io.err(line);
    return 1;
  }
  if (cases.length === 0) {
    io.err(
      `[policy] ${dir} has no cases: a policy set is published with the decision cases it passes (cases/allow|deny|approval/*.json); nothing was published`,
    );
    return 1;
  }
  const policyCount = Object.keys(compiled.policies).length;
  io.out(
    `[policy] ${dir}: valid, ${policyCount} policies (${modesSummary(modes)}), ${report.results.length}/${report.results.length} cases pass; hash ${short(compiled.hash)}, version ${compiled.version}`,
  );

  const { current } = await list();
  if (current?.policy_set_hash === compiled.hash) {
    io.err(`[policy] nothing to publish: the current policy set already is ${short(compiled.hash)} (sequence ${current.sequence}, version ${current.version})`);
    return 1;
  }
  if (command.switches.has('dry-run')) {
    io.out(
      `[policy] dry run: would publish ${short(compiled.hash)} (version ${compiled.version}) over ${current === null ? 'no publication' : `${short(current.policy_set_hash)} (sequence ${current.sequence})`}`,
    );
    if (report.uncoveredPolicies.length > 0) io.err(`[policy] warning: no case is decided by ${report.uncoveredPolicies.join(', ')} (rules without a test)`);
    if (current === null) {
      io.out('no policy set is published yet; every policy would be new:');
      for (const id of Object.keys(compiled.policies).sort()) io.out(`  + ${id} (${modes[id] ?? 'enforce'})`);
    } else {
      const head = await service.get(current.policy_set_hash);
      for (const line of formatPolicySetDiff(viewOfDetail('current', head), viewOfLocal(dir.replace(/\/+$/, '') || dir, local))) io.out(line);
    }
    io.out('[policy] nothing was published (--dry-run)');
    return 0;
  }

  const label = version ?? local.sources.version?.trim();
  const published = await service.publish({
    schema: local.sources.schemaText,
    policies: local.sources.policies,
    ...(label === undefined || label === '' ? {} : { version: label }),
    message: command.values.get('message') ?? '',
    previous_hash: current?.policy_set_hash ?? null,
    cases,
  });
  io.out(
    `[policy] published sequence ${published.sequence}: hash ${short(published.policy_set_hash)}, version ${published.version}, ${published.policies} policies (${modesSummary(published.modes)}), by ${published.author}`,
  );
  if (published.cases !== undefined) io.out(`[policy] cases: ${published.cases.passed}/${published.cases.total} passed on the service`);
  const uncovered = published.uncovered_policies ?? [];
  if (uncovered.length > 0) io.err(`[policy] warning: no case is decided by ${uncovered.join(', ')} (rules without a test)`);
  return 0;
}

function pad(cells: readonly string[], widths: readonly number[]): string {
  return cells.map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  ');
}

async function history({ command, io, list }: Context): Promise<number> {
  const published = await list();
  if (command.switches.has('json')) {
    io.out(JSON.stringify(published, null, 2));
    return 0;
  }
  if (published.history.length === 0) {
    io.out(`[policy] stream ${published.stream}: nothing published yet`);
    return 0;
  }
  const header = ['', 'seq', 'published_at', 'origin', 'author', 'hash', 'version', 'message'];
  const rows = published.history.map((s) => [
    s.sequence === published.current?.sequence ? '*' : '',
    String(s.sequence),
    s.published_at,
    s.origin,
    s.author,
    short(s.policy_set_hash),
    s.version,
    s.message.replace(/\s*\n\s*/g, ' '),
  ]);
  const widths = header.map((cell, i) => Math.max(cell.length, ...rows.map((row) => (row[i] ?? '').length)));
  io.out(pad(header, widths));
  for (const row of rows) io.out(pad(row, widths));
  io.out(`* current (stream ${published.stream})`);
  return 0;
}

async function show({ command, io, service, list }: Context): Promise<number> {
  const hash = await resolveHash(command.positionals[0] ?? '', list);
  const detail = await service.get(hash);
  const policyId = command.values.get('policy');
  if (policyId !== undefined) {
    const text = detail.policies_text[policyId];
    if (text === undefined) {
      io.err(`[policy] ${short(hash)} has no policy ${JSON.stringify(policyId)}; its policies: ${Object.keys(detail.policies_text).sort().join(', ')}`);
      return 1;
    }
    io.out(text.replace(/\n$/, ''));
    return 0;
  }
  const { current } = await list();
  io.out(`policy set ${detail.policy_set_hash}${current?.policy_set_hash === detail.policy_set_hash ? ' (current)' : ''}`);
  io.out(`  version ${detail.version}, stream ${detail.stream}, sequence ${detail.sequence} (${detail.origin})`);
  io.out(`  published ${detail.published_at} by ${detail.author}: ${detail.message}`);
  io.out(`  previous ${detail.previous_hash ?? 'none'}`);
  io.out(`  ${detail.policies} policies (${modesSummary(detail.modes)}), ${detail.cases.length} cases`);
  const ids = Object.keys(detail.modes).sort();
  const width = Math.max(0, ...ids.map((id) => id.length));
  io.out('policies:');
  for (const id of ids) io.out(`  ${id.padEnd(width)}  ${detail.modes[id] ?? ''}`);
  return 0;
}

async function sideOf(argument: string, io: CliIo, service: PolicyService, list: () => Promise<PolicySetList>): Promise<PolicySetView> {
  if (argument !== 'current') {
    const directory = await isDirectory(argument);
    if (directory === true) return viewOfLocal(argument.replace(/\/+$/, '') || argument, await readLocal(argument, io));
    if (!HASH_ARGUMENT.test(argument)) {
      throw usage(
        directory === false ? `${argument} is a file, not a policy folder` : `${JSON.stringify(argument)} is no folder and no policy set hash`,
        argument,
        'a policy folder, "current", a policy_set_hash or a prefix of at least 8 hex characters',
      );
    }
  }
  const hash = await resolveHash(argument, list);
  return viewOfDetail(argument === 'current' ? 'current' : short(hash), await service.get(hash));
}

async function diff({ command, io, service, list }: Context): Promise<number> {
  const [a = '', b = ''] = command.positionals;
  const before = await sideOf(a, io, service, list);
  const after = await sideOf(b, io, service, list);
  for (const line of formatPolicySetDiff(before, after)) io.out(line);
  return 0;
}

async function rollback({ command, io, service, list }: Context): Promise<number> {
  const to = await resolveHash(command.positionals[0] ?? '', list);
  const { current } = await list();
  if (current?.policy_set_hash === to) {
    io.err(`[policy] nothing to roll back: the current policy set already is ${short(to)} (sequence ${current.sequence}, version ${current.version})`);
    return 1;
  }
  const result = await service.rollback({ to, message: command.values.get('message') ?? '', previous_hash: current?.policy_set_hash ?? null });
  io.out(
    `[policy] rolled back: sequence ${result.sequence} serves ${short(result.policy_set_hash)} (version ${result.version}, ${result.policies} policies: ${modesSummary(result.modes)}), origin ${result.origin}, by ${result.author}; previous head ${short(result.previous_hash)}`,
  );
  return 0;
}

type ServiceVerb = Exclude<PolicyVerb, 'backtest'>;

const RUN: Record<ServiceVerb, (context: Context) => Promise<number>> = { publish, history, show, diff, rollback };

/** What a verb asks of the service, for a refusal's hint. */
const ACTION: Record<ServiceVerb, string> = { publish: 'publish', rollback: 'roll back', history: 'read', show: 'read', diff: 'read' };

/** Runs `writ policy <args>`; returns the exit code (0 ok, 1 failure, 2 usage). */
export async function runPolicy(
  args: readonly string[],
  io: CliIo = stdio,
  env: Readonly<Record<string, string | undefined>> = process.env,
  fetchFn: Fetch = (url, init) => fetch(url, init),
): Promise<number> {
  if (args.length === 1 && (args[0] === 'help' || args[0] === '--help' || args[0] === '-h')) {
    io.out(POLICY_USAGE);
    return 0;
  }
  let command: PolicyCommand;
  try {
    command = parsePolicyCommand(args);
  } catch (error) {
    io.err(describeError(error));
    io.err(POLICY_USAGE);
    return 2;
  }
  // backtest reads the ledger, not the policy service.
  if (command.verb === 'backtest') return runBacktest(command, io, env, fetchFn);
  const verb: ServiceVerb = command.verb;
  const service = policyServiceOf(command, env, fetchFn);
  try {
    return await RUN[verb]({ command, io, service, list: lazyList(service) });
  } catch (error) {
    if (error instanceof Reported) return 1;
    if (error instanceof PolicyServiceError) {
      serviceErrorLines(error, service, ACTION[verb]).forEach((line, i) => io.err(i === 0 ? `[policy] ${line}` : line));
      return 1;
    }
    if (isWritError(error, 'USAGE')) {
      io.err(describeError(error));
      io.err(POLICY_USAGE);
      return 2;
    }
    io.err(`[policy] ${describeError(error)}`);
    return 1;
  }
}
