// `writ policy`: argument parsing and its usage errors, and history/show/diff/rollback against an
// in-memory double of the policy service's doors (injected fetch; publish, which runs the real
// Cedar engine on a folder, is in test/services/policy-cli.int.spec.ts (against the real policy service)).
import { beforeEach, describe, expect, it } from 'vitest';
import { isWritError } from '@writ/errors';
import { policySetHash } from '@writ/policy-engine';
import { ADMIN_KEY, PolicyServiceDouble, SERVICE_KEY, capture } from './policy-service-double.spec.ts';
import { DEFAULT_POLICY_URL, POLICY_USAGE, parsePolicyCommand, runPolicy } from './policy.ts';
import type { Fetch } from './policy.ts';

function usageError(args: readonly string[]): { message: string; field: string | undefined } {
  try {
    parsePolicyCommand(args);
  } catch (error) {
    if (isWritError(error, 'USAGE')) return { message: error.message, field: error.field };
    throw error;
  }
  throw new Error(`parsed without error: ${args.join(' ')}`);
}

describe('parsePolicyCommand', () => {
  it('parses each verb with its positionals, flags and switches', () => {
    const publish = parsePolicyCommand([
      'publish',
      'policies',
      '--message',
      'tighten refunds',
      '--version',
      '1.1.0',
      '--dry-run',
      '--url',
      'http://h:1',
      '--key',
      'k',
    ]);
    expect(publish.verb).toBe('publish');
    expect(publish.positionals).toEqual(['policies']);
    expect(Object.fromEntries(publish.values)).toEqual({ message: 'tighten refunds', version: '1.1.0', url: 'http://h:1', key: 'k' });
    expect([...publish.switches]).toEqual(['dry-run']);
    expect(parsePolicyCommand(['history', '--json']).switches.has('json')).toBe(true);
    expect(parsePolicyCommand(['show', 'ABCDEF12', '--policy', 'p']).values.get('policy')).toBe('p');
    expect(parsePolicyCommand(['diff', 'current', 'policies']).positionals).toEqual(['current', 'policies']);
    expect(parsePolicyCommand(['rollback', 'current', '--message', 'undo']).positionals).toEqual(['current']);
    expect(parsePolicyCommand(['publish', 'policies', '--dry-run']).values.has('message')).toBe(false);
  });

  it('names the argument or flag at fault', () => {
    expect(usageError([])).toMatchObject({ message: 'writ policy needs a verb', field: 'verb' });
    expect(usageError(['publsh'])).toMatchObject({ message: 'unknown verb "publsh"', field: 'verb' });
    expect(usageError(['publish', '--message', 'm'])).toMatchObject({ message: 'writ policy publish needs DIR', field: 'DIR' });
    expect(usageError(['publish', 'policies'])).toMatchObject({ message: '--message is required: say why the policy set changes', field: '--message' });
    expect(usageError(['publish', 'policies', '--message'])).toMatchObject({ message: '--message needs a value', field: '--message' });
    expect(usageError(['publish', 'policies', '--message', '--dry-run'])).toMatchObject({ message: '--message needs a value', field: '--message' });
    expect(usageError(['publish', 'policies', '--message', '  '])).toMatchObject({ message: '--message must not be empty', field: '--message' });
    expect(usageError(['publish', 'policies', '--message', 'a', '--message', 'b'])).toMatchObject({ field: '--message' });
    expect(usageError(['publish', 'policies', '--message', 'm', '--force'])).toMatchObject({
      message: 'unknown flag --force for writ policy publish',
      field: '--force',
    });
    expect(usageError(['history', '--dry-run'])).toMatchObject({ field: '--dry-run' });
    expect(usageError(['history', 'extra'])).toMatchObject({ message: 'unexpected argument "extra"', field: 'extra' });
    expect(usageError(['show'])).toMatchObject({ field: 'HASH' });
    expect(usageError(['show', 'abc1234'])).toMatchObject({ message: 'HASH "abc1234" is not a policy set hash', field: 'HASH' });
    expect(usageError(['show', 'zzzzzzzzzz'])).toMatchObject({ field: 'HASH' });
    expect(usageError(['diff', 'current'])).toMatchObject({ message: 'writ policy diff needs B', field: 'B' });
    expect(usageError(['rollback', 'abcdef12'])).toMatchObject({ message: '--message is required: say why the policy set changes', field: '--message' });
    expect(usageError(['history', '--url', 'not a url'])).toMatchObject({ field: '--url' });
  });
});

const SCHEMA = 'namespace Writ { entity Agent; }\n';
const p = (id: string, mode?: string) => `@id("${id}")\n${mode === undefined ? '' : `@mode("${mode}")\n`}permit(principal, action, resource);\n`;
const SET_1 = { schema: SCHEMA, policies_text: { alpha: p('alpha'), beta: p('beta') }, cases: [], version: '1.0.0' };
const SET_2 = { schema: SCHEMA, policies_text: { alpha: p('alpha', 'shadow'), gamma: p('gamma', 'warn') }, cases: [], version: '1.1.0' };
const HASH_1 = policySetHash(SET_1.schema, SET_1.policies_text);
const HASH_2 = policySetHash(SET_2.schema, SET_2.policies_text);

describe('writ policy against the service (double)', () => {
  let service: PolicyServiceDouble;
  const env = { WRIT_API_KEY: ADMIN_KEY };
  const run = async (args: readonly string[], environment: Record<string, string | undefined> = env, fetchFn?: Fetch) => {
    const output = capture();
    const code = await runPolicy(args, output.io, environment, fetchFn ?? service.fetch);
    return { code, ...output };
  };

  beforeEach(() => {
    service = new PolicyServiceDouble();
    service.append('bootstrap', 'policy-service', 'boot folder', SET_1);
    service.append('publish', 'ada', 'shadow alpha,\nadd gamma', SET_2);
  });

  it('exits 2 with the usage on a usage error, 0 with it on help, and sends nothing', async () => {
    const bad = await run(['rollback', HASH_1]);
    expect(bad.code).toBe(2);
    expect(bad.err).toEqual(['USAGE: --message is required: say why the policy set changes', POLICY_USAGE]);
    const help = await run(['--help']);
    expect(help.code).toBe(0);
    expect(help.out).toEqual([POLICY_USAGE]);
    expect(service.requests).toEqual([]);
  });

  it('history: a row per publication, oldest first, the current one marked, with the key sent', async () => {
    const { code, out } = await run(['history']);
    expect(code).toBe(0);
    expect(out[0]).toMatch(/^\s+seq\s+published_at\s+origin\s+author\s+hash\s+version\s+message$/);
    expect(out[1]).toMatch(new RegExp(`^\\s+1\\s+2027-01-04T09:01:00.000Z\\s+bootstrap\\s+policy-service\\s+${HASH_1.slice(0, 12)}\\s+1.0.0\\s+boot folder$`));
    expect(out[2]).toMatch(
      new RegExp(`^\\*\\s+2\\s+2027-01-04T09:02:00.000Z\\s+publish\\s+ada\\s+${HASH_2.slice(0, 12)}\\s+1.1.0\\s+shadow alpha, add gamma$`),
    );
    expect(out[3]).toBe('* current (stream default)');
    expect(service.requests).toEqual([{ method: 'GET', path: '/v1/policy-sets', authorization: `Bearer ${ADMIN_KEY}`, body: undefined }]);
  });

  it('history --json: the service answer as JSON', async () => {
    const { code, out } = await run(['history', '--json']);
    expect(code).toBe(0);
    const parsed = JSON.parse(out.join('\n')) as { current: { sequence: number }; history: unknown[] };
    expect(parsed.current.sequence).toBe(2);
    expect(parsed.history).toHaveLength(2);
  });

  it('show: resolves an 8-character prefix and lists the policies with their modes', async () => {
    const { code, out } = await run(['show', HASH_2.slice(0, 8).toUpperCase()]);
    expect(code).toBe(0);
    expect(out).toEqual([
      `policy set ${HASH_2} (current)`,
      '  version 1.1.0, stream default, sequence 2 (publish)',
      '  published 2027-01-04T09:02:00.000Z by ada: shadow alpha,\nadd gamma',
      `  previous ${HASH_1}`,
      '  2 policies (1 warn, 1 shadow), 0 cases',
      'policies:',
      '  alpha  shadow',
      '  gamma  warn',
    ]);
    expect(service.requests.map((r) => r.path)).toEqual(['/v1/policy-sets', `/v1/policy-sets/${HASH_2}`]);
  });

  it('show --policy: one policy text; an unknown id names the policies', async () => {
    const one = await run(['show', HASH_1, '--policy', 'beta']);
    expect(one.code).toBe(0);
    expect(one.out).toEqual(['@id("beta")\npermit(principal, action, resource);']);
    const none = await run(['show', 'current', '--policy', 'delta']);
    expect(none.code).toBe(1);
    expect(none.err).toEqual([`[policy] ${HASH_2.slice(0, 12)} has no policy "delta"; its policies: alpha, gamma`]);
  });

  it('show: an unknown prefix, an ambiguous prefix and an unknown full hash fail naming them', async () => {
    const unknownPrefix = 'f'.repeat(10) === HASH_1.slice(0, 10) ? '0'.repeat(10) : 'f'.repeat(10);
    const missing = await run(['show', unknownPrefix]);
    expect(missing.code).toBe(1);
    expect(missing.err).toEqual([`[policy] NOT_FOUND: no published policy set hash starts with ${unknownPrefix}`]);

    // Two hashes sharing a prefix: the double's history is edited so they do.
    const twin = `${HASH_1.slice(0, 10)}${'0'.repeat(54)}`;
    service.publications.push({ ...service.publications[0]!, sequence: 3, policy_set_hash: twin });
    const ambiguous = await run(['show', HASH_1.slice(0, 10)]);
    expect(ambiguous.code).toBe(1);
    expect(ambiguous.err[0]).toContain(`${HASH_1.slice(0, 10)} is ambiguous: 2 published hashes start with it`);
    expect(ambiguous.err[0]).toContain(HASH_1);
    expect(ambiguous.err[0]).toContain(twin);

    const unknown = await run(['show', 'e'.repeat(64)]);
    expect(unknown.code).toBe(1);
    expect(unknown.err[0]).toMatch(/answered 404 NOT_FOUND: no policy set e{64}$/);
  });

  it('diff: two published sets by hash and "current"', async () => {
    const { code, out } = await run(['diff', HASH_1.slice(0, 12), 'current']);
    expect(code).toBe(0);
    expect(out.slice(0, 10)).toEqual([
      `diff ${HASH_1.slice(0, 12)} (${HASH_1.slice(0, 12)}) -> current (${HASH_2.slice(0, 12)})`,
      'version: 1.0.0 -> 1.1.0',
      'schema changed: no',
      'added (1):',
      '  + gamma (warn)',
      'removed (1):',
      '  - beta (enforce)',
      'mode changes (1):',
      '  ~ alpha: enforce -> shadow',
      'changed (1):',
    ]);
    expect(out).toContain('    +@mode("shadow")');
    const same = await run(['diff', 'current', HASH_2]);
    expect(same.code).toBe(0);
    expect(same.out).toContain('identical: same policy_set_hash (schema and every policy text equal)');
  });

  it('diff: an argument that is neither a folder nor a hash is a usage error', async () => {
    const { code, err } = await run(['diff', 'current', 'no-such-folder']);
    expect(code).toBe(2);
    expect(err[0]).toBe('USAGE: "no-such-folder" is no folder and no policy set hash');
  });

  it('rollback: posts the target with the head as previous_hash and prints the new publication', async () => {
    const { code, out } = await run(['rollback', HASH_1.slice(0, 8), '--message', 'gamma misfires']);
    expect(code).toBe(0);
    expect(service.requests.at(-1)).toEqual({
      method: 'POST',
      path: '/v1/policy-sets/rollback',
      authorization: `Bearer ${ADMIN_KEY}`,
      body: { to: HASH_1, message: 'gamma misfires', previous_hash: HASH_2 },
    });
    expect(out).toEqual([
      `[policy] rolled back: sequence 3 serves ${HASH_1.slice(0, 12)} (version 1.0.0, 2 policies: 2 enforce), origin rollback, by ada; previous head ${HASH_2.slice(0, 12)}`,
    ]);
    expect(service.head).toMatchObject({ sequence: 3, origin: 'rollback', policy_set_hash: HASH_1 });
  });

  it('rollback: someone publishing meanwhile is a 409 that says to re-run', async () => {
    service.beforeNextWrite = () => service.append('publish', 'bob', 'meanwhile', { ...SET_1, policies_text: { alpha: p('alpha', 'warn') } });
    const { code, err } = await run(['rollback', HASH_1, '--message', 'undo']);
    expect(code).toBe(1);
    expect(err[0]).toBe(
      `[policy] someone published meanwhile: the head is now ${service.head?.policy_set_hash.slice(0, 12)}; nothing was changed (POLICY_SET_CONFLICT: the head is ${service.head?.policy_set_hash}, not ${HASH_2})`,
    );
    expect(err[1]).toBe('  re-run the command (writ policy history shows what was published)');
    expect(service.head?.author).toBe('bob');
  });

  it('401 without a key or with an unknown one, 403 for a key that may not publish', async () => {
    const none = await run(['history'], {});
    expect(none.code).toBe(1);
    expect(none.err).toEqual([
      `[policy] GET ${DEFAULT_POLICY_URL}/v1/policy-sets answered 401 UNAUTHENTICATED: send Authorization: Bearer <api key>`,
      '  send an API key: --key <key> or WRIT_API_KEY',
    ]);
    expect(service.requests[0]?.authorization).toBeUndefined();
    const wrong = await run(['history', '--key', 'nope']);
    expect(wrong.err[1]).toBe('  the API key given (--key or WRIT_API_KEY) is not known to the service');
    const reader = await run(['rollback', HASH_1, '--message', 'undo'], { WRIT_API_KEY: SERVICE_KEY });
    expect(reader.code).toBe(1);
    expect(reader.err).toEqual([
      `[policy] POST ${DEFAULT_POLICY_URL}/v1/policy-sets/rollback answered 403 FORBIDDEN: publishing policy sets takes a platform admin`,
      "  to roll back, use a platform admin's API key",
    ]);
  });

  it('--url and --key win over WRIT_POLICY_URL and WRIT_API_KEY, which win over the defaults', async () => {
    const seen: { url: string; auth: string | null }[] = [];
    const spy: Fetch = (url, init) => {
      seen.push({ url, auth: new Headers(init?.headers).get('authorization') });
      return service.fetch(url, init);
    };
    await run(['history'], { WRIT_POLICY_URL: 'http://policy.internal:9000/', WRIT_API_KEY: ADMIN_KEY }, spy);
    await run(['history', '--url', 'http://other:1', '--key', SERVICE_KEY], { WRIT_POLICY_URL: 'http://policy.internal:9000', WRIT_API_KEY: ADMIN_KEY }, spy);
    await run(['history'], {}, spy);
    expect(seen).toEqual([
      { url: 'http://policy.internal:9000/v1/policy-sets', auth: `Bearer ${ADMIN_KEY}` },
      { url: 'http://other:1/v1/policy-sets', auth: `Bearer ${SERVICE_KEY}` },
      { url: `${DEFAULT_POLICY_URL}/v1/policy-sets`, auth: null },
    ]);
  });

  it('an unreachable service is a one-line error naming the URL', async () => {
    const refused: Fetch = () => Promise.reject(new TypeError('fetch failed'));
    const { code, err } = await run(['history', '--url', 'http://127.0.0.1:9'], env, refused);
    expect(code).toBe(1);
    expect(err).toEqual([
      '[policy] POLICY_SERVICE_UNREACHABLE: cannot reach the policy service at http://127.0.0.1:9 (is it running? --url or WRIT_POLICY_URL)',
    ]);
  });
});
