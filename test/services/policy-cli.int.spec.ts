// `writ policy publish|history|show|diff|rollback` against the real policy service: its
// dist/main.js spawned on the test broker (SASL), each scenario on a policy stream of its own, with
// copies of the repository's policies/ folder validated locally on the real Cedar engine before
// anything is sent, and what the service then holds read back through its doors.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSigningKey } from '@writ/crypto';
import { hashApiKey } from '@writ/directory';
import { loadPolicySet, readPolicyCases, readPolicySetSources } from '@writ/policy-engine';
import { freePort, testKafkaBrokers, testKafkaCredentials, uniqueName, waitFor } from '@writ/testing';
import { runPolicy } from '../../libs/cli/src/policy.ts';
import type { Fetch, PolicySetDetail, PolicySetList } from '../../libs/cli/src/policy.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const POLICIES = join(root, 'policies');
const work = mkdtempSync(join(tmpdir(), 'writ-policy-cli-'));

// API keys of the directory the service follows.
const ADMIN = 'key-admin-ada'; // a platform admin: a user of tenant "*" with the role admin
const OTHER_ADMIN = 'key-admin-bob'; // another platform admin, publishing meanwhile
const TENANT_ADMIN = 'key-admin-adam'; // an admin of one tenant only
const SERVICE = 'key-service-gateway';

const SHADOW_PROBE = `// Would forbid refunds over $50: watched in shadow before it is enforced.
@id("refund-over-50-probe")
@mode("shadow")
forbid (
  principal,
  action == Writ::Action::"invoke",
  resource == Writ::Tool::"refunds.issue"
)
when { context.arguments has amount_cents && context.arguments.amount_cents > 5000 };
`;

interface Service {
  readonly url: string;
  readonly stream: string;
  readonly child: ChildProcess;
}

const started: ChildProcess[] = [];

/** The policy service (dist/main.js) on a stream of its own, answering on a free port. */
async function boot(name: string, env: Record<string, string>): Promise<Service> {
  const entry = join(root, 'services', 'policy', 'dist', 'main.js');
  if (!existsSync(entry)) throw new Error(`${entry} is missing: build first (./dev build)`);
  const port = await freePort();
  const stream = uniqueName('stream');
  const child = spawn(process.execPath, [entry], {
    env: {
      PATH: process.env['PATH'] ?? '',
      ...testKafkaCredentials(),
      WRIT_KAFKA_BROKERS: testKafkaBrokers().join(','),
      WRIT_HTTP_PORT: String(port),
      WRIT_LOG_FORMAT: 'text',
      WRIT_KAFKA_GROUP_ID: uniqueName('policy_cli'),
      WRIT_POLICY_STREAM: stream,
      WRIT_TOOLS_DIR: join(root, 'tools'),
      WRIT_DIRECTORY_FILE: join(work, 'directory.json'),
      WRIT_POLICY_SIGNING_KEY: join(work, 'warrant-cli.pem'),
      // No tenant's proposals: the broker is shared, other tests' actions are not this one's to decide.
      WRIT_POLICY_TENANTS: uniqueName('nobody'),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.push(child);
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const url = `http://127.0.0.1:${port}`;
  await waitFor(
    async () => {
      if (child.exitCode !== null) throw new Error(`the policy service (${name}) exited with code ${child.exitCode}:\n${output}`);
      return (await fetch(`${url}/health`).catch(() => undefined))?.ok === true ? true : undefined;
    },
    { timeoutMs: 90_000, what: () => `the policy service (${name}) health; output so far:\n${output}` },
  );
  return { url, stream, child };
}

let folder = 0;

/** A fresh copy of the repository's policies/ folder. */
function policiesCopy(): string {
  const dir = join(work, `policies-${++folder}`);
  cpSync(POLICIES, dir, { recursive: true });
  return dir;
}

/** Rewrites a file of a policy folder. */
function edit(path: string, change: (text: string) => string): void {
  const text = readFileSync(path, 'utf8');
  const changed = change(text);
  if (changed === text) throw new Error(`the edit changed nothing in ${path}`);
  writeFileSync(path, changed);
}

/** A copy of policies/ whose customer-delete-forbidden says `label` in its first comment (another hash, same decisions). */
function reworded(label: string): string {
  const dir = policiesCopy();
  edit(join(dir, 'customer-delete-forbidden.cedar'), (text) => text.replace('// No agent deletes customers (v1)', `// No agent deletes customers (${label})`));
  return dir;
}

interface Run {
  readonly code: number;
  readonly out: string[];
  readonly err: string[];
  /** Every request the CLI sent: method and path. */
  readonly requests: string[];
}

/**
 * Runs `writ policy <args> --url <service> [--key <key>]` (null: no key, and no WRIT_API_KEY) over
 * the real fetch; `through` may stand between the CLI and the service (it must call the service).
 */
async function writ(service: Service, args: readonly string[], key: string | null = ADMIN, through: Fetch = (url, init) => fetch(url, init)): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const requests: string[] = [];
  const recording: Fetch = (url, init) => {
    requests.push(`${init?.method ?? 'GET'} ${new URL(url).pathname}`);
    return through(url, init);
  };
  const io = { out: (line: string) => out.push(line), err: (line: string) => err.push(line) };
  const code = await runPolicy([...args, '--url', service.url, ...(key === null ? [] : ['--key', key])], io, {}, recording);
  return { code, out, err, requests };
}

/** A door of the service, called directly. */
async function door<T>(service: Service, method: 'GET' | 'POST', path: string, body?: unknown, key = ADMIN): Promise<{ status: number; body: T }> {
  const response = await fetch(`${service.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, body: (await response.json()) as T };
}

/** The stream as the service holds it (GET /v1/policy-sets). */
async function published(service: Service): Promise<PolicySetList> {
  const { status, body } = await door<PolicySetList>(service, 'GET', '/v1/policy-sets');
  expect(status).toBe(200);
  return body;
}

/** One set in full (GET /v1/policy-sets/{hash}). */
async function detail(service: Service, hash: string): Promise<PolicySetDetail> {
  const { status, body } = await door<PolicySetDetail>(service, 'GET', `/v1/policy-sets/${hash}`);
  expect(status).toBe(200);
  return body;
}

/** Another platform admin publishes a folder through the door, over the current head. */
async function publishDirectly(service: Service, dir: string, message: string): Promise<string> {
  const sources = await readPolicySetSources(dir);
  const { current } = await published(service);
  const answer = await door<{ policy_set_hash: string }>(
    service,
    'POST',
    '/v1/policy-sets',
    {
      schema: sources.schemaText,
      policies: sources.policies,
      message,
      previous_hash: current?.policy_set_hash ?? null,
      cases: await readPolicyCases(join(dir, 'cases')),
    },
    OTHER_ADMIN,
  );
  expect(answer.status).toBe(201);
  return answer.body.policy_set_hash;
}

/** Calls `before` once, ahead of the CLI's first POST: someone publishing between its read of the head and its write. */
function publishingMeanwhile(before: () => Promise<unknown>): Fetch {
  let done = false;
  return async (url, init) => {
    if (init?.method === 'POST' && !done) {
      done = true;
      await before();
    }
    return fetch(url, init);
  };
}

/** Changes the body of the CLI's POST on its way (a client whose own checks let through what the service refuses). */
function rewritingPosts(change: (body: { policies: Record<string, string>; cases: { file: string; text: string }[] }) => unknown): Fetch {
  return (url, init) => {
    if (init?.method !== 'POST' || typeof init.body !== 'string') return fetch(url, init);
    return fetch(url, { ...init, body: JSON.stringify(change(JSON.parse(init.body) as Parameters<typeof change>[0])) });
  };
}

const services: Record<'cycle' | 'quiet' | 'booted' | 'race', Service> = {} as never;
let bootedDir: string;
let policyCount: number;
let caseCount: number;

beforeAll(async () => {
  writeFileSync(join(work, 'warrant-cli.pem'), generateSigningKey('warrant-cli').exportPrivateKeyPem(), { mode: 0o600 });
  const tenant = uniqueName('tenant');
  writeFileSync(
    join(work, 'directory.json'),
    JSON.stringify({
      agents: [],
      users: [
        { id: 'ada', tenant: '*', role: 'admin', roles: ['admin'], api_key_sha256: hashApiKey(ADMIN) },
        { id: 'bob', tenant: '*', role: 'admin', roles: ['admin'], api_key_sha256: hashApiKey(OTHER_ADMIN) },
        { id: 'adam', tenant, role: 'it', roles: ['admin'], api_key_sha256: hashApiKey(TENANT_ADMIN) },
      ],
      services: [{ id: 'writ-gateway', api_key_sha256: hashApiKey(SERVICE) }],
    }),
  );
  const loaded = await loadPolicySet(POLICIES);
  policyCount = Object.keys(loaded.policies).length;
  caseCount = (await readPolicyCases(join(POLICIES, 'cases'))).length;
  bootedDir = policiesCopy();
  const [cycle, quiet, booted, race] = await Promise.all([
    // Empty streams: nothing published until the CLI publishes.
    boot('cycle', { WRIT_POLICY_BOOTSTRAP: 'never' }),
    boot('quiet', { WRIT_POLICY_BOOTSTRAP: 'never' }),
    // A stream whose first set the service published at boot from its folder.
    boot('booted', { WRIT_POLICY_BOOTSTRAP: 'empty', WRIT_POLICY_DIR: bootedDir }),
    boot('race', { WRIT_POLICY_BOOTSTRAP: 'never' }),
  ]);
  Object.assign(services, { cycle, quiet, booted, race });
}, 180_000);

afterAll(async () => {
  await Promise.all(
    started.map(async (child) => {
      const pid = child.pid;
      if (pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      process.kill(pid, 'SIGTERM');
      const timer = setTimeout(() => {
        if (child.exitCode === null && child.signalCode === null) process.kill(pid, 'SIGKILL');
      }, 10_000);
      await exited;
      clearTimeout(timer);
    }),
  );
  rmSync(work, { recursive: true, force: true });
}, 30_000);

const posts = (run: Run) => run.requests.filter((r) => r.startsWith('POST'));

describe('writ policy against the policy service', () => {
  it('publishes, lists, shows, diffs and rolls back a policy set', async () => {
    const service = services.cycle;
    const dir = policiesCopy();
    const hash1 = (await loadPolicySet(dir)).hash;

    const empty = await writ(service, ['history']);
    expect(empty).toMatchObject({ code: 0, out: [`[policy] stream ${service.stream}: nothing published yet`], err: [] });

    // A dry run on an empty stream: validated, every policy new, nothing sent.
    const dry = await writ(service, ['publish', dir, '--dry-run']);
    expect(dry.err).toEqual([]);
    expect(dry.code).toBe(0);
    expect(dry.out[0]).toBe(
      `[policy] ${dir}: valid, ${policyCount} policies (${policyCount} enforce), ${caseCount}/${caseCount} cases pass; hash ${hash1.slice(0, 12)}, version 1.2.0`,
    );
    expect(dry.out[1]).toBe(`[policy] dry run: would publish ${hash1.slice(0, 12)} (version 1.2.0) over no publication`);
    expect(dry.out).toContain('  + customer-delete-forbidden (enforce)');
    expect(dry.out.at(-1)).toBe('[policy] nothing was published (--dry-run)');
    expect(posts(dry)).toEqual([]);
    expect(await published(service)).toMatchObject({ stream: service.stream, current: null, history: [] });

    // The first publication: the folder as it is, with its cases, over no head.
    const first = await writ(service, ['publish', dir, '--message', 'the helpdesk rules']);
    expect(first.err).toEqual([]);
    expect(first.code).toBe(0);
    expect(first.out.at(-2)).toBe(
      `[policy] published sequence 1: hash ${hash1.slice(0, 12)}, version 1.2.0, ${policyCount} policies (${policyCount} enforce), by ada`,
    );
    expect(first.out.at(-1)).toBe(`[policy] cases: ${caseCount}/${caseCount} passed on the service`);
    // What the service now serves: the folder's schema, policy texts and cases, as sent.
    const sources = await readPolicySetSources(dir);
    const held1 = await detail(service, hash1);
    expect(held1).toMatchObject({
      stream: service.stream,
      sequence: 1,
      previous_hash: null,
      origin: 'publish',
      author: 'ada',
      message: 'the helpdesk rules',
      version: '1.2.0',
      schema: sources.schemaText,
      policies_text: sources.policies,
    });
    expect(held1.cases).toHaveLength(caseCount);
    expect(held1.cases).toContainEqual({ file: 'deny/delete-customer.json', text: readFileSync(join(dir, 'cases/deny/delete-customer.json'), 'utf8') });

    // A second version: one policy reworded, one added in shadow mode (no case decides it).
    writeFileSync(join(dir, 'refund-over-50-probe.cedar'), SHADOW_PROBE);
    edit(join(dir, 'customer-delete-forbidden.cedar'), (text) => text.replace('// No agent deletes customers (v1)', '// No agent deletes customers (v2)'));
    const hash2 = (await loadPolicySet(dir)).hash;
    const preview = await writ(service, ['publish', dir, '--dry-run', '--version', '1.3.0']);
    expect(preview.code).toBe(0);
    expect(preview.out[1]).toBe(`[policy] dry run: would publish ${hash2.slice(0, 12)} (version 1.3.0) over ${hash1.slice(0, 12)} (sequence 1)`);
    expect(preview.out).toEqual(
      expect.arrayContaining([
        'version: 1.2.0 -> 1.3.0',
        'schema changed: no',
        'added (1):',
        '  + refund-over-50-probe (shadow)',
        'removed (0)',
        'mode changes (0)',
        'changed (1):',
        '  ~ customer-delete-forbidden',
        '    -// No agent deletes customers (v1): an explicit forbid, so no approval can override it.',
        '    +// No agent deletes customers (v2): an explicit forbid, so no approval can override it.',
      ]),
    );
    expect(preview.err).toEqual(['[policy] warning: no case is decided by refund-over-50-probe (rules without a test)']);
    expect(posts(preview)).toEqual([]);
    expect((await published(service)).history).toHaveLength(1);

    const second = await writ(service, ['publish', dir, '--message', 'probe refunds over $50', '--version', '1.3.0']);
    expect(second.code).toBe(0);
    expect(second.out).toContain(
      `[policy] published sequence 2: hash ${hash2.slice(0, 12)}, version 1.3.0, ${policyCount + 1} policies (${policyCount} enforce, 1 shadow), by ada`,
    );
    // The warning is the service's (uncovered_policies of its own run of the cases).
    expect(second.err).toEqual(['[policy] warning: no case is decided by refund-over-50-probe (rules without a test)']);
    expect(await detail(service, hash2)).toMatchObject({
      sequence: 2,
      previous_hash: hash1,
      version: '1.3.0',
      message: 'probe refunds over $50',
      modes: { 'refund-over-50-probe': 'shadow', 'customer-delete-forbidden': 'enforce' },
      policies_text: { 'refund-over-50-probe': SHADOW_PROBE },
    });

    const history = await writ(service, ['history']);
    expect(history.code).toBe(0);
    expect(history.out).toHaveLength(4);
    expect(history.out[0]).toMatch(/^ +seq +published_at +origin +author +hash +version +message$/);
    expect(history.out[1]).toMatch(new RegExp(`^ +1 .* publish +ada +${hash1.slice(0, 12)} +1\\.2\\.0 +the helpdesk rules$`));
    expect(history.out[2]).toMatch(new RegExp(`^\\* +2 .* publish +ada +${hash2.slice(0, 12)} +1\\.3\\.0 +probe refunds over \\$50$`));
    expect(history.out[3]).toBe(`* current (stream ${service.stream})`);
    const json = await writ(service, ['history', '--json']);
    expect(JSON.parse(json.out.join('\n'))).toEqual(await published(service));

    // A service key reads.
    const shown = await writ(service, ['show', hash2.slice(0, 8)], SERVICE);
    expect(shown.err).toEqual([]);
    expect(shown.code).toBe(0);
    expect(shown.out[0]).toBe(`policy set ${hash2} (current)`);
    expect(shown.out[1]).toBe(`  version 1.3.0, stream ${service.stream}, sequence 2 (publish)`);
    expect(shown.out).toContain(`  previous ${hash1}`);
    expect(shown.out).toContain(`  ${policyCount + 1} policies (${policyCount} enforce, 1 shadow), ${caseCount} cases`);
    expect(shown.out).toEqual(expect.arrayContaining([expect.stringMatching(/^ {2}refund-over-50-probe +shadow$/)]));
    const text = await writ(service, ['show', 'current', '--policy', 'refund-over-50-probe']);
    expect(text).toMatchObject({ code: 0, out: [SHADOW_PROBE.trimEnd()] });
    const older = await writ(service, ['show', hash1.slice(0, 8)]);
    expect(older.out[0]).toBe(`policy set ${hash1}`);

    const between = await writ(service, ['diff', hash1.slice(0, 8), 'current']);
    expect(between.code).toBe(0);
    expect(between.out).toContain('  + refund-over-50-probe (shadow)');
    expect(between.out).toContain('  ~ customer-delete-forbidden');
    const local = await writ(service, ['diff', 'current', dir]);
    expect(local.code).toBe(0);
    expect(local.out).toContain('identical: same policy_set_hash (schema and every policy text equal)');

    // Roll back to the first set: a third publication serving hash1.
    const back = await writ(service, ['rollback', hash1.slice(0, 10), '--message', 'the probe is noisy']);
    expect(back.err).toEqual([]);
    expect(back.code).toBe(0);
    expect(back.out).toEqual([
      `[policy] rolled back: sequence 3 serves ${hash1.slice(0, 12)} (version 1.2.0, ${policyCount} policies: ${policyCount} enforce), origin rollback, by ada; previous head ${hash2.slice(0, 12)}`,
    ]);
    const after = await published(service);
    expect(after.current).toMatchObject({
      sequence: 3,
      origin: 'rollback',
      policy_set_hash: hash1,
      previous_hash: hash2,
      author: 'ada',
      message: 'the probe is noisy',
    });
    expect(after.history.map((p) => [p.sequence, p.origin, p.policy_set_hash])).toEqual([
      [1, 'publish', hash1],
      [2, 'publish', hash2],
      [3, 'rollback', hash1],
    ]);
    const listed = await writ(service, ['history']);
    expect(listed.out[3]).toMatch(new RegExp(`^\\* +3 .* rollback +ada +${hash1.slice(0, 12)} +1\\.2\\.0 +the probe is noisy$`));
    const drift = await writ(service, ['diff', 'current', dir]);
    expect(drift.out).toContain('  + refund-over-50-probe (shadow)');
  });

  it('refuses an invalid folder locally, naming file and policy, and sends nothing', async () => {
    const service = services.quiet;
    const dir = policiesCopy();
    writeFileSync(
      join(dir, 'customer-delete-forbidden.cedar'),
      '@id("customer-delete-forbidden")\nforbid (principal, action == Writ::Action::"invoke", resource) when { principal.nickname == "x" };\n',
    );
    const run = await writ(service, ['publish', dir, '--message', 'broken']);
    expect(run.code).toBe(1);
    expect(run.err[0]).toBe(`[policy] the policy set in ${dir} is invalid:`);
    expect(run.err.some((line) => line.startsWith('  customer-delete-forbidden.cedar (policy "customer-delete-forbidden"): '))).toBe(true);
    expect(run.requests).toEqual([]);
    expect(await published(service)).toMatchObject({ current: null, history: [] });
  });

  it('refuses a case failing on the real engine locally, naming the case file, and sends nothing', async () => {
    const service = services.quiet;
    const dir = policiesCopy();
    // Another tool: the default deny decides it, not the forbid the case expects.
    edit(join(dir, 'cases/deny/delete-customer.json'), (text) => text.replace('"name": "customers.delete"', '"name": "customers.remove"'));
    const run = await writ(service, ['publish', dir, '--message', 'bad case']);
    expect(run.code).toBe(1);
    expect(run.err[0]).toBe(`[policy] 1 of ${caseCount} cases in ${join(dir, 'cases')} failed; nothing was published:`);
    expect(run.err[1]).toBe(
      '  deny/delete-customer.json (Deleting a customer is forbidden outright): determining policies: expected [customer-delete-forbidden], got []',
    );
    expect(run.requests).toEqual([]);
    expect(await published(service)).toMatchObject({ current: null, history: [] });
  });

  it('refuses a folder without cases/ locally (the service publishes a set with the cases it passes)', async () => {
    const service = services.quiet;
    const dir = policiesCopy();
    rmSync(join(dir, 'cases'), { recursive: true });
    for (const args of [
      ['publish', dir, '--message', 'no cases yet'],
      ['publish', dir, '--dry-run'],
    ]) {
      const run = await writ(service, args);
      expect(run.code).toBe(1);
      expect(run.err).toEqual([
        `[policy] ${dir} has no cases: a policy set is published with the decision cases it passes (cases/allow|deny|approval/*.json); nothing was published`,
      ]);
      expect(run.requests).toEqual([]);
    }
    expect(await published(service)).toMatchObject({ current: null, history: [] });
  });

  it('refuses to publish the set already current (here the one the service published at boot), and to roll back to it', async () => {
    const service = services.booted;
    const { current } = await published(service);
    const hash = (await loadPolicySet(bootedDir)).hash;
    expect(current).toMatchObject({ sequence: 1, origin: 'bootstrap', policy_set_hash: hash, version: '1.2.0' });
    const dir = policiesCopy();
    for (const args of [
      ['publish', dir, '--message', 'again'],
      ['publish', dir, '--dry-run'],
    ]) {
      const again = await writ(service, args);
      expect(again.code).toBe(1);
      expect(again.err).toEqual([`[policy] nothing to publish: the current policy set already is ${hash.slice(0, 12)} (sequence 1, version 1.2.0)`]);
      expect(posts(again)).toEqual([]);
    }
    const back = await writ(service, ['rollback', hash, '--message', 'again']);
    expect(back.code).toBe(1);
    expect(back.err).toEqual([`[policy] nothing to roll back: the current policy set already is ${hash.slice(0, 12)} (sequence 1, version 1.2.0)`]);
    expect(posts(back)).toEqual([]);
    const history = await writ(service, ['history']);
    expect(history.out).toHaveLength(3);
    expect(history.out[1]).toMatch(new RegExp(`^\\* +1 .* bootstrap +\\S+ +${hash.slice(0, 12)} +1\\.2\\.0 +first set of the stream, from ${bootedDir}$`));
    expect((await published(service)).history).toHaveLength(1);
  });

  it('someone publishing between the read of the head and the write: 409, told to re-run, and the re-run publishes', async () => {
    const service = services.race;
    const base = POLICIES;
    const mine = reworded('mine');
    let theirs = '';
    const run = await writ(
      service,
      ['publish', mine, '--message', 'mine'],
      ADMIN,
      publishingMeanwhile(async () => (theirs = await publishDirectly(service, base, 'meanwhile'))),
    );
    expect(run.code).toBe(1);
    expect(run.requests).toEqual(['GET /v1/policy-sets', 'POST /v1/policy-sets']);
    expect(run.err[0]).toMatch(
      new RegExp(`^\\[policy\\] someone published meanwhile: the head is now ${theirs.slice(0, 12)}; nothing was changed \\(POLICY_SET_CONFLICT: `),
    );
    expect(run.err[1]).toBe('  re-run the command (writ policy history shows what was published)');
    expect(run.err).toHaveLength(2);
    let stream = await published(service);
    expect(stream.history.map((p) => [p.author, p.message, p.policy_set_hash])).toEqual([['bob', 'meanwhile', theirs]]);

    // As told: the re-run publishes over the new head.
    const rerun = await writ(service, ['publish', mine, '--message', 'mine']);
    expect(rerun.code).toBe(0);
    const mineHash = (await loadPolicySet(mine)).hash;
    expect(rerun.out).toContain(
      `[policy] published sequence 2: hash ${mineHash.slice(0, 12)}, version 1.2.0, ${policyCount} policies (${policyCount} enforce), by ada`,
    );
    expect((await published(service)).current).toMatchObject({ sequence: 2, previous_hash: theirs, policy_set_hash: mineHash });

    // A rollback racing another publication is refused the same way.
    let third = '';
    const back = await writ(
      service,
      ['rollback', theirs, '--message', 'back to base'],
      ADMIN,
      publishingMeanwhile(async () => (third = await publishDirectly(service, reworded('third'), 'meanwhile again'))),
    );
    expect(back.code).toBe(1);
    expect(back.err[0]).toMatch(new RegExp(`^\\[policy\\] someone published meanwhile: the head is now ${third.slice(0, 12)}; nothing was changed`));
    expect(back.err[1]).toBe('  re-run the command (writ policy history shows what was published)');
    stream = await published(service);
    expect(stream.history.map((p) => [p.sequence, p.author, p.policy_set_hash])).toEqual([
      [1, 'bob', theirs],
      [2, 'ada', mineHash],
      [3, 'bob', third],
    ]);
  });

  it("prints the service's own refusals: per file, per case, and the rule a request broke", async () => {
    const service = services.quiet;
    const dir = policiesCopy();
    const url = `${service.url}/v1/policy-sets`;

    // What the CLI checked locally, the service checks again whatever the client did (an older
    // client, another tool): a set it cannot compile, a failing case, no case at all.
    const invalid = await writ(
      service,
      ['publish', dir, '--message', 'm'],
      ADMIN,
      rewritingPosts((body) => ({
        ...body,
        policies: {
          ...body.policies,
          'customer-delete-forbidden':
            '@id("customer-delete-forbidden")\nforbid (principal, action == Writ::Action::"invoke", resource) when { principal.nickname == "x" };\n',
        },
      })),
    );
    expect(invalid.code).toBe(1);
    expect(invalid.err[0]).toBe('[policy] the service refused the policy set (POLICY_SET_INVALID): invalid policy set:');
    expect(invalid.err.slice(1).length).toBeGreaterThan(0);
    expect(invalid.err.slice(1).every((line) => line.startsWith('  customer-delete-forbidden.cedar (policy "customer-delete-forbidden"): '))).toBe(true);

    const cases = await writ(
      service,
      ['publish', dir, '--message', 'm'],
      ADMIN,
      rewritingPosts((body) => ({
        ...body,
        cases: body.cases.map((c) =>
          c.file === 'deny/delete-customer.json' ? { ...c, text: c.text.replace('"name": "customers.delete"', '"name": "customers.remove"') } : c,
        ),
      })),
    );
    expect(cases.code).toBe(1);
    expect(cases.err).toEqual([
      `[policy] the service refused the policy set: cases failed (POLICY_CASES_FAILED): 1 of ${caseCount} decision cases fail:`,
      '  deny/delete-customer.json (Deleting a customer is forbidden outright): determining policies: expected [customer-delete-forbidden], got []',
    ]);

    const untested = await writ(
      service,
      ['publish', dir, '--message', 'm'],
      ADMIN,
      rewritingPosts((body) => ({ ...body, cases: [] })),
    );
    expect(untested.code).toBe(1);
    expect(untested.err).toEqual([
      '[policy] the service refused the policy set: cases failed (POLICY_CASES_FAILED): the set has no decision cases: a set is published with the cases it passes',
    ]);

    // A request the CLI sends as given: a message longer than the door takes.
    const long = await writ(service, ['publish', dir, '--message', 'x'.repeat(2_001)]);
    expect(long.code).toBe(1);
    expect(long.err).toEqual([`[policy] POST ${url} answered 400 REQUEST_INVALID: message has 2001 characters (field message: at most 2000 characters)`]);

    // A hash the stream never had.
    const unknown = 'e'.repeat(64);
    const rollback = await writ(service, ['rollback', unknown, '--message', 'm']);
    expect(rollback.code).toBe(1);
    expect(rollback.err).toEqual([
      `[policy] POST ${url}/rollback answered 404 NOT_FOUND: no policy set ${unknown} was ever in force on the stream ${service.stream} (field to: the hash of an earlier set of this stream)`,
    ]);
    const show = await writ(service, ['show', unknown]);
    expect(show.code).toBe(1);
    expect(show.err).toEqual([
      `[policy] GET ${url}/${unknown} answered 404 NOT_FOUND: no policy set ${unknown} on the stream ${service.stream} (field hash: the hash of a set of this stream)`,
    ]);

    // Every refusal reached the service, and none published anything.
    for (const run of [invalid, cases, untested, long, rollback]) expect(posts(run)).toHaveLength(1);
    expect(await published(service)).toMatchObject({ current: null, history: [] });
  });

  it('a service key may read but not publish or roll back; a tenant admin may not read; no key or an unknown key is a 401', async () => {
    const service = services.quiet;
    const dir = policiesCopy();
    const url = `${service.url}/v1/policy-sets`;

    const reads = await writ(service, ['history'], SERVICE);
    expect(reads).toMatchObject({ code: 0, out: [`[policy] stream ${service.stream}: nothing published yet`], err: [] });

    const publish = await writ(service, ['publish', dir, '--message', 'm'], SERVICE);
    expect(publish.code).toBe(1);
    expect(publish.requests).toEqual(['GET /v1/policy-sets', 'POST /v1/policy-sets']);
    expect(publish.err).toHaveLength(2);
    expect(publish.err[0]).toMatch(new RegExp(`^\\[policy\\] POST ${url} answered 403 FORBIDDEN: `));
    expect(publish.err[1]).toBe("  to publish, use a platform admin's API key");

    const rollback = await writ(service, ['rollback', 'e'.repeat(64), '--message', 'm'], SERVICE);
    expect(rollback.code).toBe(1);
    expect(rollback.err[0]).toMatch(new RegExp(`^\\[policy\\] POST ${url}/rollback answered 403 FORBIDDEN: `));
    expect(rollback.err[1]).toBe("  to roll back, use a platform admin's API key");

    const tenantAdmin = await writ(service, ['history'], TENANT_ADMIN);
    expect(tenantAdmin.code).toBe(1);
    expect(tenantAdmin.err[0]).toMatch(new RegExp(`^\\[policy\\] GET ${url} answered 403 FORBIDDEN: `));
    expect(tenantAdmin.err[1]).toBe('  reading policy sets takes a platform admin or a service key');

    const anonymous = await writ(service, ['history'], null);
    expect(anonymous.code).toBe(1);
    expect(anonymous.err).toEqual([
      `[policy] GET ${url} answered 401 UNAUTHENTICATED: send your API key as "Authorization: Bearer <key>"`,
      '  send an API key: --key <key> or WRIT_API_KEY',
    ]);
    const stranger = await writ(service, ['history'], 'key-nobody-knows');
    expect(stranger.code).toBe(1);
    expect(stranger.err).toEqual([
      `[policy] GET ${url} answered 401 UNAUTHENTICATED: the API key is not known`,
      '  the API key given (--key or WRIT_API_KEY) is not known to the service',
    ]);

    // WRIT_POLICY_URL and WRIT_API_KEY stand for --url and --key.
    const out: string[] = [];
    const code = await runPolicy(
      ['history'],
      { out: (line) => out.push(line), err: (line) => out.push(line) },
      { WRIT_POLICY_URL: service.url, WRIT_API_KEY: SERVICE },
    );
    expect({ code, out }).toEqual({ code: 0, out: [`[policy] stream ${service.stream}: nothing published yet`] });

    expect(await published(service)).toMatchObject({ current: null, history: [] });
  });
});
