// `writ policy publish|history|show|diff|rollback` over real HTTP (an in-process node:http server
// implementing the policy service's /v1/policy-sets contract) with a copy of the real policies/
// folder, validated locally on the real Cedar engine before anything is sent.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadPolicySet } from '@writ/policy-engine';
import { ADMIN_KEY, PolicyServiceDouble, SERVICE_KEY, capture } from './policy-service-double.spec.ts';
import { runPolicy } from './policy.ts';

const POLICIES = fileURLToPath(new URL('../../../policies/', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'writ-policy-cli-'));

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

let service: PolicyServiceDouble;
let server: Server;
let url: string;
let folder = 0;

/** A fresh copy of the real policies/ folder. */
function policiesCopy(): string {
  const dir = join(root, `policies-${++folder}`);
  cpSync(POLICIES, dir, { recursive: true });
  return dir;
}

/** Runs `writ policy <args> --url <the server> [--key <key>]` (null: no key, and no WRIT_API_KEY). */
async function writ(args: readonly string[], key: string | null = ADMIN_KEY) {
  const output = capture();
  const code = await runPolicy([...args, '--url', url, ...(key === null ? [] : ['--key', key])], output.io, {});
  return { code, ...output };
}

const posts = () => service.requests.filter((r) => r.method === 'POST');

beforeAll(async () => {
  server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const answer = service.handle(request.method ?? 'GET', request.url ?? '/', request.headers.authorization, Buffer.concat(chunks).toString('utf8'));
      response.writeHead(answer.status, { 'content-type': 'application/json' }).end(JSON.stringify(answer.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  url = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  rmSync(root, { recursive: true, force: true });
});

beforeEach(() => {
  service = new PolicyServiceDouble();
});

afterEach(() => {
  service.beforeNextWrite = undefined;
});

describe('writ policy over HTTP', () => {
  it('publishes, lists, shows, diffs and rolls back a policy set', async () => {
    const dir = policiesCopy();
    const loaded = await loadPolicySet(dir);
    const hash1 = loaded.hash;

    const empty = await writ(['history']);
    expect(empty).toMatchObject({ code: 0, out: ['[policy] stream default: nothing published yet'] });

    // A dry run on an empty stream: validated, every policy new, nothing sent.
    const dry = await writ(['publish', dir, '--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.out[0]).toBe(`[policy] ${dir}: valid, 7 policies (7 enforce), 23/23 cases pass; hash ${hash1.slice(0, 12)}, version 1.0.0`);
    expect(dry.out).toContain('  + customer-delete-forbidden (enforce)');
    expect(dry.out.at(-1)).toBe('[policy] nothing was published (--dry-run)');
    expect(posts()).toEqual([]);

    // The first publication: the folder as it is, with its cases, over no head.
    const first = await writ(['publish', dir, '--message', 'the helpdesk rules']);
    expect(first.err).toEqual([]);
    expect(first.code).toBe(0);
    expect(first.out.at(-2)).toBe(`[policy] published sequence 1: hash ${hash1.slice(0, 12)}, version 1.0.0, 7 policies (7 enforce), by ada`);
    expect(first.out.at(-1)).toBe('[policy] cases: 23/23 passed on the service');
    const sent = posts()[0]?.body as Record<string, unknown>;
    expect(sent).toMatchObject({ message: 'the helpdesk rules', version: '1.0.0', previous_hash: null, schema: loaded.schemaText, policies: loaded.policies });
    expect((sent['cases'] as { file: string; text: string }[]).map((c) => c.file)).toContain('deny/delete-customer.json');
    expect((sent['cases'] as { file: string; text: string }[]).find((c) => c.file === 'deny/delete-customer.json')?.text).toBe(
      readFileSync(join(dir, 'cases/deny/delete-customer.json'), 'utf8'),
    );

    // A second version: one policy reworded, one added in shadow mode (no case decides it).
    writeFileSync(join(dir, 'refund-over-50-probe.cedar'), SHADOW_PROBE);
    const deletePath = join(dir, 'customer-delete-forbidden.cedar');
    writeFileSync(deletePath, readFileSync(deletePath, 'utf8').replace('// No agent deletes customers (v1)', '// No agent deletes customers (v2)'));
    const preview = await writ(['publish', dir, '--dry-run', '--version', '1.1.0']);
    expect(preview.code).toBe(0);
    expect(preview.out).toEqual(
      expect.arrayContaining([
        'version: 1.0.0 -> 1.1.0',
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
    expect(preview.err).toContain('[policy] warning: no case is decided by refund-over-50-probe (rules without a test)');
    expect(posts()).toHaveLength(1);

    const second = await writ(['publish', dir, '--message', 'probe refunds over $50', '--version', '1.1.0']);
    expect(second.code).toBe(0);
    const hash2 = service.head?.policy_set_hash ?? '';
    expect(second.out).toContain(`[policy] published sequence 2: hash ${hash2.slice(0, 12)}, version 1.1.0, 8 policies (7 enforce, 1 shadow), by ada`);
    expect(second.err).toEqual(['[policy] warning: no case is decided by refund-over-50-probe (rules without a test)']);
    expect(posts()[1]?.body).toMatchObject({ previous_hash: hash1, version: '1.1.0' });

    const history = await writ(['history']);
    expect(history.code).toBe(0);
    expect(history.out).toHaveLength(4);
    expect(history.out[1]).toMatch(new RegExp(`^ +1 .* publish +ada +${hash1.slice(0, 12)} +1\\.0\\.0 +the helpdesk rules$`));
    expect(history.out[2]).toMatch(new RegExp(`^\\* +2 .* publish +ada +${hash2.slice(0, 12)} +1\\.1\\.0 +probe refunds over \\$50$`));

    const shown = await writ(['show', hash2.slice(0, 8)], SERVICE_KEY);
    expect(shown.code).toBe(0);
    expect(shown.out[0]).toBe(`policy set ${hash2} (current)`);
    expect(shown.out).toContain('  8 policies (7 enforce, 1 shadow), 23 cases');
    expect(shown.out).toContain('  refund-over-50-probe                    shadow');
    const text = await writ(['show', 'current', '--policy', 'refund-over-50-probe']);
    expect(text.out).toEqual([SHADOW_PROBE.trimEnd()]);

    const between = await writ(['diff', hash1.slice(0, 8), 'current']);
    expect(between.code).toBe(0);
    expect(between.out).toContain('  + refund-over-50-probe (shadow)');
    expect(between.out).toContain('  ~ customer-delete-forbidden');
    const local = await writ(['diff', 'current', dir]);
    expect(local.out).toContain('identical: same policy_set_hash (schema and every policy text equal)');

    // Roll back to the first set: a third publication serving hash1.
    const back = await writ(['rollback', hash1.slice(0, 10), '--message', 'the probe is noisy']);
    expect(back.code).toBe(0);
    expect(back.out).toEqual([
      `[policy] rolled back: sequence 3 serves ${hash1.slice(0, 12)} (version 1.0.0, 7 policies: 7 enforce), origin rollback, by ada; previous head ${hash2.slice(0, 12)}`,
    ]);
    expect(posts()[2]).toMatchObject({ path: '/v1/policy-sets/rollback', body: { to: hash1, message: 'the probe is noisy', previous_hash: hash2 } });
    const after = await writ(['history']);
    expect(after.out[3]).toMatch(new RegExp(`^\\* +3 .* rollback +ada +${hash1.slice(0, 12)} +1\\.0\\.0 +the probe is noisy$`));
    const drift = await writ(['diff', 'current', dir]);
    expect(drift.out).toContain('  + refund-over-50-probe (shadow)');
  });

  it('refuses an invalid folder locally, naming file and policy, and sends nothing', async () => {
    const dir = policiesCopy();
    writeFileSync(
      join(dir, 'customer-delete-forbidden.cedar'),
      '@id("customer-delete-forbidden")\nforbid (principal, action == Writ::Action::"invoke", resource) when { principal.nickname == "x" };\n',
    );
    const { code, err } = await writ(['publish', dir, '--message', 'broken']);
    expect(code).toBe(1);
    expect(err[0]).toBe(`[policy] the policy set in ${dir} is invalid:`);
    expect(err.some((line) => line.startsWith('  customer-delete-forbidden.cedar (policy "customer-delete-forbidden"): '))).toBe(true);
    expect(service.requests).toEqual([]);
  });

  it('refuses a failing case locally, naming the case file, and sends nothing', async () => {
    const dir = policiesCopy();
    const casePath = join(dir, 'cases/deny/delete-customer.json');
    // Another tool: the default deny decides it, not the forbid the case expects.
    writeFileSync(casePath, readFileSync(casePath, 'utf8').replace('"name": "customers.delete"', '"name": "customers.remove"'));
    const { code, err } = await writ(['publish', dir, '--message', 'bad case']);
    expect(code).toBe(1);
    expect(err[0]).toBe(`[policy] 1 of 23 cases in ${join(dir, 'cases')} failed; nothing was published:`);
    expect(err[1]).toBe(
      '  deny/delete-customer.json (Deleting a customer is forbidden outright): determining policies: expected [customer-delete-forbidden], got []',
    );
    expect(service.requests).toEqual([]);
  });

  it('refuses a folder without cases/ locally (the service publishes a set with the cases it passes)', async () => {
    const dir = policiesCopy();
    rmSync(join(dir, 'cases'), { recursive: true });
    for (const args of [
      ['publish', dir, '--message', 'no cases yet'],
      ['publish', dir, '--dry-run'],
    ]) {
      const { code, err } = await writ(args);
      expect(code).toBe(1);
      expect(err).toEqual([
        `[policy] ${dir} has no cases: a policy set is published with the decision cases it passes (cases/allow|deny|approval/*.json); nothing was published`,
      ]);
    }
    expect(service.requests).toEqual([]);
  });

  it('refuses to publish the set already current, and to roll back to it', async () => {
    const dir = policiesCopy();
    expect((await writ(['publish', dir, '--message', 'first'])).code).toBe(0);
    const hash = service.head?.policy_set_hash ?? '';
    for (const args of [
      ['publish', dir, '--message', 'again'],
      ['publish', dir, '--dry-run'],
    ]) {
      const again = await writ(args);
      expect(again.code).toBe(1);
      expect(again.err).toEqual([`[policy] nothing to publish: the current policy set already is ${hash.slice(0, 12)} (sequence 1, version 1.0.0)`]);
    }
    const back = await writ(['rollback', hash, '--message', 'again']);
    expect(back.code).toBe(1);
    expect(back.err).toEqual([`[policy] nothing to roll back: the current policy set already is ${hash.slice(0, 12)} (sequence 1, version 1.0.0)`]);
    expect(posts()).toHaveLength(1);
  });

  it('someone publishing between the read of the head and the write: 409, told to re-run', async () => {
    const dir = policiesCopy();
    const loaded = await loadPolicySet(dir);
    service.beforeNextWrite = () =>
      service.append('publish', 'bob', 'meanwhile', { schema: loaded.schemaText, policies_text: { only: '@id("only")' }, cases: [] });
    const { code, err } = await writ(['publish', dir, '--message', 'mine']);
    expect(code).toBe(1);
    expect(err[0]).toMatch(
      new RegExp(`^\\[policy\\] someone published meanwhile: the head is now ${service.head?.policy_set_hash.slice(0, 12)}; nothing was changed`),
    );
    expect(err[1]).toBe('  re-run the command (writ policy history shows what was published)');
    expect(service.publications.map((p) => p.author)).toEqual(['bob']);
  });

  it("prints the service's refusal per file and per case", async () => {
    const dir = policiesCopy();
    service.failNext(400, 'POLICY_SET_INVALID', 'invalid policy set:\n  x.cedar: nope', {
      details: { problems: [{ file: 'x.cedar', policyId: 'x', message: 'nope' }] },
    });
    const invalid = await writ(['publish', dir, '--message', 'm']);
    expect(invalid.code).toBe(1);
    expect(invalid.err).toEqual(['[policy] the service refused the policy set (POLICY_SET_INVALID): invalid policy set:', '  x.cedar (policy "x"): nope']);

    service.failNext(400, 'POLICY_CASES_FAILED', '1 case failed', {
      details: { results: [{ file: 'deny/a.json', description: 'a', problems: ['decision: expected deny, got allow'] }] },
    });
    const cases = await writ(['publish', dir, '--message', 'm']);
    expect(cases.err).toEqual([
      '[policy] the service refused the policy set: cases failed (POLICY_CASES_FAILED): 1 case failed',
      '  deny/a.json (a): decision: expected deny, got allow',
    ]);
  });

  it('a service key may read but not publish; no key is a 401', async () => {
    const dir = policiesCopy();
    const reader = await writ(['publish', dir, '--message', 'm'], SERVICE_KEY);
    expect(reader.code).toBe(1);
    expect(reader.err[1]).toBe("  to publish, use a platform admin's API key");
    const anonymous = await writ(['history'], null);
    expect(anonymous.code).toBe(1);
    expect(anonymous.err[1]).toBe('  send an API key: --key <key> or WRIT_API_KEY');
    expect(service.publications).toEqual([]);
  });
});
