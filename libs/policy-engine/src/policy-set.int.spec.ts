import { cp, mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isWritError } from '@writ/errors';
import type { WritError } from '@writ/errors';
import { compilePolicySet, loadPolicySet } from './policy-set.ts';
import type { PolicySetProblem } from './policy-set.ts';

const POLICIES = fileURLToPath(new URL('../../../policies', import.meta.url));
const FIXTURES = fileURLToPath(new URL('./__fixtures__', import.meta.url));

async function rejection(run: () => Promise<unknown> | unknown): Promise<WritError & { problems: PolicySetProblem[] }> {
  try {
    await run();
  } catch (error) {
    if (isWritError(error, 'POLICY_SET_INVALID')) {
      return Object.assign(error, { problems: (error.details?.['problems'] ?? []) as PolicySetProblem[] });
    }
    throw error;
  }
  throw new Error('expected POLICY_SET_INVALID');
}

describe('loadPolicySet', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'writ-policies-'));
    await cp(POLICIES, dir, { recursive: true });
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('loads the real policy set: ids from @id, schema, version, a content hash and metadata', async () => {
    const set = await loadPolicySet(POLICIES);
    expect(Object.keys(set.policies).sort()).toEqual([
      'customer-delete-forbidden',
      'directors-approve-in-own-tenant',
      'export-over-1000-rows-forbidden',
      'managers-approve-in-own-tenant',
      'notifications-by-support',
      'owner-may-not-approve',
      'read-tools-allowed',
      'refund-over-100-needs-manager-approval',
      'refund-over-500-needs-two-managers',
      'refund-up-to-100-support',
    ]);
    expect(set.version).toBe('1.2.0');
    expect(set.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(set.schemaText).toContain('namespace Writ');
    expect(set.metadata['refund-over-100-needs-manager-approval']).toEqual({
      id: 'refund-over-100-needs-manager-approval',
      file: 'refund-over-100-needs-manager-approval.cedar',
      effect: 'permit',
      mode: 'enforce',
      approval: { count: 1, roles: ['manager'], expiresInMs: 4 * 3_600_000, escalation: { afterMs: 30 * 60_000, roles: ['director'] } },
      reason: "Refunds over $100 need a manager who is not the agent's owner.",
    });
    expect(set.metadata['customer-delete-forbidden']?.effect).toBe('forbid');
  });

  it('hashes content only: a copy elsewhere hashes the same, any edit changes it', async () => {
    const original = await loadPolicySet(POLICIES);
    expect((await loadPolicySet(dir)).hash).toBe(original.hash);
    await writeFile(join(dir, 'VERSION'), '9.9.9\n');
    expect((await loadPolicySet(dir)).hash).toBe(original.hash);
    const file = join(dir, 'refund-up-to-100-support.cedar');
    await writeFile(file, (await readFile(file, 'utf8')).replace('<= 10000', '<= 10001'));
    expect((await loadPolicySet(dir)).hash).not.toBe(original.hash);
  });

  it('names the file, the policy id and Cedar’s message for an invalid policy, and only that file', async () => {
    await cp(join(FIXTURES, 'invalid', 'refund-typo.cedar'), join(dir, 'refund-typo.cedar'));
    const error = await rejection(() => loadPolicySet(dir));
    expect(error.field).toBe('refund-typo.cedar');
    expect(error.problems).toHaveLength(1);
    expect(error.problems[0]).toMatchObject({ file: 'refund-typo.cedar', policyId: 'refund-typo' });
    expect(error.problems[0]?.message).toContain('attribute `arguments.amount` in context for Writ::Action::"invoke" not found');
    expect(error.message).toContain('refund-typo.cedar (policy "refund-typo"): ');
  });

  it('names a policy that does not parse', async () => {
    await writeFile(join(dir, 'broken.cedar'), '@id("broken")\npermit (principal, action, resource) when { ');
    const error = await rejection(() => loadPolicySet(dir));
    expect(error.problems[0]).toMatchObject({ file: 'broken.cedar', policyId: 'broken' });
    expect(error.problems[0]?.message).toContain('unexpected end of input');
  });

  it('requires one policy per file, named after its @id, with unique ids', async () => {
    await writeFile(join(dir, 'wrong-name.cedar'), '@id("right-name") permit (principal, action == Writ::Action::"invoke", resource);');
    await writeFile(join(dir, 'no-id.cedar'), 'permit (principal, action == Writ::Action::"invoke", resource);');
    const error = await rejection(() => loadPolicySet(dir));
    expect(error.problems.map((p) => p.file).sort()).toEqual(['no-id.cedar', 'wrong-name.cedar']);
    expect(error.message).toContain('rename it to right-name.cedar');

    const two = await rejection(() =>
      compilePolicySet({
        schemaText: 'namespace Writ { entity A; action go appliesTo { principal: A, resource: A }; }',
        policies: { two: '@id("two") permit (principal, action, resource); permit (principal, action, resource);' },
      }),
    );
    expect(two.problems[0]?.message).toBe('must hold exactly one policy, found 2');
  });

  it('rejects a policy Cedar’s validator calls impossible (it could never apply)', async () => {
    await writeFile(join(dir, 'never.cedar'), '@id("never")\npermit (principal is Writ::User, action == Writ::Action::"invoke", resource);');
    const error = await rejection(() => loadPolicySet(dir));
    expect(error.problems.every((p) => p.policyId === 'never')).toBe(true);
    expect(error.message).toContain('policy is impossible');
  });

  it('rejects an unconditional forbid that shadows every permit of an action', async () => {
    await writeFile(join(dir, 'stop-everything.cedar'), '@id("stop-everything")\nforbid (principal, action == Writ::Action::"invoke", resource);');
    const error = await rejection(() => loadPolicySet(dir));
    expect(error.problems).toEqual([
      {
        file: 'stop-everything.cedar',
        policyId: 'stop-everything',
        message: 'forbids every request for Writ::Action::"invoke" without a condition, so no permit can ever apply',
      },
    ]);
  });

  it('rejects a policy set in which an action can never be allowed', async () => {
    await unlink(join(dir, 'managers-approve-in-own-tenant.cedar'));
    await unlink(join(dir, 'directors-approve-in-own-tenant.cedar'));
    const error = await rejection(() => loadPolicySet(dir));
    expect(error.problems).toEqual([
      { file: 'writ.cedarschema', message: 'no enforced permit policy applies to Writ::Action::"approve", so it can never be allowed' },
    ]);
  });

  it('requires approval annotations exactly where a permit reads context.approval', async () => {
    const file = join(dir, 'refund-over-100-needs-manager-approval.cedar');
    const text = await readFile(file, 'utf8');
    await writeFile(file, text.replace(/@approval_\w+\("[^"]*"\)\n/g, ''));
    let error = await rejection(() => loadPolicySet(dir));
    expect(error.problems[0]?.message).toContain('reads context.approval but declares no @approval_count/@approval_roles');

    await writeFile(file, text.replace('@approval_count("1")', '@approval_count("zero")'));
    error = await rejection(() => loadPolicySet(dir));
    expect(error.problems[0]?.message).toBe('@approval_count("zero") must be a whole number from 1 to 10');

    await writeFile(
      join(dir, 'read-tools-allowed.cedar'),
      (await readFile(join(dir, 'read-tools-allowed.cedar'), 'utf8')).replace('@id', '@approval_roles("manager")\n@id'),
    );
    await writeFile(file, text);
    error = await rejection(() => loadPolicySet(dir));
    expect(error.problems[0]).toMatchObject({ policyId: 'read-tools-allowed' });
    expect(error.problems[0]?.message).toContain('never read context.approval');
  });

  it('names the schema when it does not parse, and a folder that cannot be read', async () => {
    await writeFile(join(dir, 'writ.cedarschema'), 'namespace Writ { entity ; }');
    const error = await rejection(() => loadPolicySet(dir));
    expect(error.field).toBe('writ.cedarschema');
    const missing = await rejection(() => loadPolicySet(join(dir, 'absent')));
    expect(missing.message).toContain('cannot read the policy folder');
  });
});
