// `writ who-can` on the repository's policies, tool registry and demo directory, through the real Cedar engine.
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runWhoCan } from './who-can.ts';
import type { ApproveAnswer, InvokeAnswer } from './who-can.ts';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const paths = ['--policies', join(root, 'policies'), '--tools', join(root, 'tools'), '--directory', join(root, 'deploy/demo/directory.json')];

async function whoCan(args: readonly string[], extra: readonly string[] = paths) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runWhoCan([...args, ...extra], { out: (l) => out.push(l), err: (l) => err.push(l) }, {});
  return { code, out: out.join('\n'), err: err.join('\n') };
}

describe('writ who-can', () => {
  it('which agents can delete customers? none: the forbid denies every agent, and names itself', async () => {
    const answer = await whoCan(['invoke', 'customers.delete', '--json']);
    expect(answer.code).toBe(0);
    const answers = JSON.parse(answer.out) as InvokeAnswer[];
    expect(answers.map((a) => a.agent).sort()).toEqual(['globex-bot', 'triage-bot']);
    for (const a of answers) expect(a).toMatchObject({ decision: 'deny', determiningPolicies: ['customer-delete-forbidden'] });
    expect((await whoCan(['invoke', 'customers.delete'])).out).toContain('0 allowed, 0 with an approval, 2 denied, of 2 agents');
  });

  it('a small refund is allowed, a large one needs approval, with the arguments given', async () => {
    const small = JSON.parse(
      (await whoCan(['invoke', 'refunds.issue', '--tenant', 'acme', '--json', '--args', '{"amount_cents":2500,"ticket_tags":["refund_approved"]}'])).out,
    ) as InvokeAnswer[];
    expect(small).toEqual([{ agent: 'triage-bot', tenant: 'acme', role: 'support', decision: 'allow', determiningPolicies: ['refund-up-to-100-support'] }]);
    const large = JSON.parse(
      (await whoCan(['invoke', 'refunds.issue', '--tenant', 'acme', '--json', '--args', '{"amount_cents":60000,"ticket_tags":["refund_approved"]}'])).out,
    ) as InvokeAnswer[];
    expect(large[0]).toMatchObject({ decision: 'approval_required', approval: { count: 2, roles: ['manager'] } });
  });

  it('who may approve a refund over $100 in acme? the managers, not the agent owner (a manager too), nor other roles', async () => {
    const answer = await whoCan([
      'approve',
      'refunds.issue',
      '--tenant',
      'acme',
      '--json',
      '--args',
      '{"amount_cents":10001,"ticket_tags":["refund_approved"]}',
    ]);
    const [triage] = JSON.parse(answer.out) as ApproveAnswer[];
    expect(triage?.needs).toEqual({
      count: 1,
      roles: ['manager'],
      policy: 'refund-over-100-needs-manager-approval',
      escalation: { afterMs: 30 * 60_000, roles: ['director'] },
    });
    expect(triage?.approvers.map((a) => [a.user, a.counts, a.countsOnceEscalated])).toEqual([
      ['maria', true, false],
      ['mike', true, false],
      ['diane', false, true],
    ]);
    const lines = (await whoCan(['approve', 'refunds.issue', '--tenant', 'acme', '--args', '{"amount_cents":10001,"ticket_tags":["refund_approved"]}'])).out;
    expect(lines).toContain('once escalated (unanswered 30 min, to director): diane (director)');
    expect(triage?.refused).toContainEqual({ user: 'dana', role: 'manager', why: 'forbidden by owner-may-not-approve' });
    expect(triage?.refused.map((r) => r.user)).toEqual(expect.arrayContaining(['oscar', 'ana', 'audrey', 'adam']));
    const text = (await whoCan(['approve', 'refunds.issue', '--tenant', 'acme', '--args', '{"amount_cents":500,"ticket_tags":["refund_approved"]}'])).out;
    expect(text).toContain('needs no approval with these arguments');
  });

  it('answers from the policy folder given: a candidate that lets operators approve shows them counting', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'writ-who-can-'));
    cpSync(join(root, 'policies'), join(dir, 'policies'), { recursive: true });
    const refund = join(dir, 'policies', 'refund-over-100-needs-manager-approval.cedar');
    writeFileSync(
      refund,
      readFileSync(refund, 'utf8')
        .replace('@approval_roles("manager")', '@approval_roles("operator")')
        .replace('context.approval.roles.contains("manager")', 'context.approval.roles.contains("operator")'),
    );
    writeFileSync(
      join(dir, 'policies', 'operators-approve.cedar'),
      '@id("operators-approve")\npermit (principal, action == Writ::Action::"approve", resource) when { principal.role == "operator" && resource in principal.tenant };\n',
    );
    const answer = await whoCan(
      ['approve', 'refunds.issue', '--tenant', 'acme', '--json', '--args', '{"amount_cents":10001,"ticket_tags":["refund_approved"]}'],
      ['--policies', join(dir, 'policies'), '--tools', join(root, 'tools'), '--directory', join(root, 'deploy/demo/directory.json')],
    );
    expect(answer.err).toBe('');
    const [triage] = JSON.parse(answer.out) as ApproveAnswer[];
    expect(triage?.approvers.filter((a) => a.counts).map((a) => a.user)).toEqual(['oscar']);
    expect(triage?.approvers.filter((a) => !a.counts).map((a) => a.user)).toEqual(['maria', 'mike', 'diane']);
  });

  it('usage errors exit 2 naming what is wrong; an unknown tool or agent exits 1', async () => {
    expect(await whoCan(['delete', 'x'])).toMatchObject({ code: 2, err: expect.stringContaining('invoke or approve') });
    expect(await whoCan(['invoke'])).toMatchObject({ code: 2, err: expect.stringContaining('TOOL is required') });
    expect(await whoCan(['invoke', 'refunds.issue', '--args', '[1]'])).toMatchObject({ code: 2, err: expect.stringContaining('--args must be a JSON object') });
    expect(await whoCan(['invoke', 'refunds.issue', '--bogus', 'x'])).toMatchObject({ code: 2, err: expect.stringContaining('unknown argument "--bogus"') });
    expect(await whoCan(['invoke', 'no.such.tool'])).toMatchObject({ code: 1, err: expect.stringContaining('no tool no.such.tool') });
    expect(await whoCan(['invoke', 'refunds.issue', '--agent', 'nobody'])).toMatchObject({ code: 1, err: expect.stringContaining('no agent nobody') });
  });
});
