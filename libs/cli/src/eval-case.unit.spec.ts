// Eval cases: the format's rules (each problem names the field and the rule), the tool contract as
// the gateway and the planner apply it, the decision and approvals as the PDP takes them (a decision
// point double here; the shipped cases run on real Cedar in eval-cases.int.spec.ts), the budget's
// answer (the accountant's own decider), the diff of a missed expectation, and a case captured from
// a recorded run.
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseBudgetsFile } from '@writ/budget-core';
import { isWritError } from '@writ/errors';
import type { DecisionRequest } from '@writ/policy-engine';
import { loadToolRegistry } from '@writ/tools';
import { captureCase } from './eval-capture.ts';
import { answerProposal, evaluateCase, parseEvalCase, validateProposal } from './eval-case.ts';
import type { EvalTarget } from './eval-case.ts';
import { caseLines } from './eval.ts';
import { AGENT, RecordedRun, demoPoint, requestOf } from './run-fixtures.spec.ts';

const registry = loadToolRegistry(fileURLToPath(new URL('../../../tools', import.meta.url)));
const tool: EvalTarget['tool'] = (name, version) => registry.get(name, version);
const target: EvalTarget = { point: demoPoint(), tool };

/** The demo's budgets in miniature: every run's budget degrades to reads at 50 %; an agent without its own day has $1.00, writes approved from 50 %. */
function budgetsFile(run: Record<string, unknown> = { reads_only_at: 50 }, otherAgents: Record<string, unknown> | null = { money: '1.00', approval_at: 50 }) {
  const agents = { 'triage-bot': { daily: { money: '5.00' } }, ...(otherAgents === null ? {} : { '*': { daily: otherAgents } }) };
  const budgets = [{ scope: 'run', period: 'run', money: '100.00', ...run }];
  return { file: parseBudgetsFile(JSON.stringify({ tenants: { acme: { currency: 'USD', agents, budgets } } })), source: 'budgets.json' };
}
const budgeted: EvalTarget = { ...target, budgets: budgetsFile() };

const refund = (amount: number, extra: Record<string, unknown> = {}) => ({
  ticket_id: 'T-1',
  customer_id: 'C-1',
  amount_cents: amount,
  ticket_tags: ['refund_approved'],
  reason: 'x',
  ...extra,
});

function aCase(proposal: Record<string, unknown>, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { format: 'writ.eval/1', name: 'a-case', description: 'd', tenant: 'acme', agent: AGENT, proposals: [proposal], ...extra };
}

function problemOf(value: unknown): { field: string | undefined; message: string } {
  try {
    parseEvalCase(value);
  } catch (error) {
    if (isWritError(error, 'EVAL_CASE_INVALID')) return { field: error.field, message: error.message };
    throw error;
  }
  throw new Error('parsed without a problem');
}

describe('eval cases: the format', () => {
  it('reads a case, with the run’s defaults', () => {
    const parsed = parseEvalCase(
      aCase({
        tool: 'tickets.get',
        arguments: { ticket_id: 'T-1' },
        expect: { validation: 'valid', decision: { decision: 'allow', determining_policies: ['read-tools-allowed'] } },
      }),
    );
    expect(parsed.run).toEqual({ mode: 'live', steps: 0, spend_micros: 0, calls_in_window: 0 });
    expect(parsed.proposals[0]?.expect.decision).toEqual({ decision: 'allow', determining_policies: ['read-tools-allowed'] });
  });

  it('names the field and the rule of every problem', () => {
    const valid = { tool: 'tickets.get', arguments: {}, expect: { validation: 'valid', decision: { decision: 'allow', determining_policies: [] } } };
    expect(problemOf({ ...aCase(valid), format: 'writ.eval/0' })).toEqual({ field: 'format', message: 'format must be "writ.eval/1" (got "writ.eval/0")' });
    expect(problemOf(aCase(valid, { owner: 'x' })).field).toBe('owner');
    expect(problemOf(aCase({ ...valid, tool: '' })).field).toBe('proposals[0].tool');
    expect(problemOf(aCase({ ...valid, expect: { validation: 'valid' } }))).toEqual({
      field: 'proposals[0].expect.decision',
      message: 'proposals[0].expect.decision is required for a valid proposal',
    });
    expect(
      problemOf(aCase({ ...valid, expect: { validation: { code: 'TOOL_UNKNOWN', field: 'tool' }, decision: { decision: 'deny', determining_policies: [] } } }))
        .message,
    ).toBe('proposals[0].expect.decision must be absent: an invalid proposal is never decided');
    expect(problemOf(aCase({ ...valid, expect: { validation: 'valid', decision: { decision: 'approval_required', determining_policies: [] } } })).field).toBe(
      'proposals[0].expect.decision.approval',
    );
    expect(problemOf(aCase({ ...valid, expect: { validation: { code: 'NOPE', field: 'x' } } })).field).toBe('proposals[0].expect.validation.code');
    const approvals = [{ approver: { id: 'maria', role: 'manager' }, verdict: 'approve', expect: { accepted: true, determining_policies: [] } }];
    expect(problemOf(aCase({ ...valid, approvals })).field).toBe('proposals[0].expect.after_approvals');
    expect(problemOf(aCase({ ...valid, run_stats: { steps: -1 } })).field).toBe('proposals[0].run_stats.steps');
    expect(problemOf({ ...aCase(valid), name: 'Not A Name' }).field).toBe('name');
  });
});

describe('eval cases: the tool contract', () => {
  it('names an unknown tool or version, the first schema problem as the gateway does, and a refused destination as the planner does', () => {
    expect(validateProposal({ tool: 'payments.wire', arguments: {} }, target).validation).toEqual({
      code: 'TOOL_UNKNOWN',
      field: 'tool',
      rule: 'must name a registered tool',
    });
    expect(validateProposal({ tool: 'refunds.issue', version: '9.9.9', arguments: refund(1) }, target).validation).toMatchObject({ field: 'tool_version' });
    expect(validateProposal({ tool: 'refunds.issue', arguments: refund(1, { amount_cents: '1' }) }, target).validation).toEqual({
      code: 'ARGUMENTS_INVALID',
      field: 'arguments.amount_cents',
      rule: 'type',
    });
    const note = { ticket_id: 'T-1', subject: 's', body: 'b', to: 'a@acme.example', cc: ['x@evil.example'] };
    expect(validateProposal({ tool: 'notifications.send', arguments: note }, target).validation).toEqual({
      code: 'DESTINATION_NOT_ALLOWED',
      field: 'cc[0]',
      rule: 'email_domain',
    });
  });

  it('never checks a masked sensitive value, checks a clear one, and keeps both from Cedar', () => {
    expect(validateProposal({ tool: 'refunds.issue', arguments: refund(1, { card_last4: '[redacted]' }) }, target).validation).toBe('valid');
    expect(validateProposal({ tool: 'refunds.issue', arguments: refund(1, { card_last4: '12ab' }) }, target).validation).toEqual({
      code: 'ARGUMENTS_INVALID',
      field: 'arguments.card_last4',
      rule: 'pattern',
    });
    const seen: DecisionRequest[] = [];
    const point = demoPoint();
    const spy = { ...point, decide: (request: DecisionRequest) => (seen.push(request), point.decide(request)) };
    const evalCase = parseEvalCase(
      aCase({
        tool: 'refunds.issue',
        arguments: refund(2_500, { card_last4: '4242' }),
        expect: { validation: 'valid', decision: { decision: 'allow', determining_policies: [] } },
      }),
    );
    answerProposal(evalCase, 0, { point: spy, tool });
    expect(seen[0]?.arguments).toEqual(refund(2_500));
    expect(seen[0]?.tool).toEqual({ name: 'refunds.issue', version: '1.2.0', effect: 'write', risk: 'medium' });
  });
});

describe('eval cases: decisions and approvals', () => {
  const held = (approvals: unknown[]) =>
    parseEvalCase(
      aCase({
        tool: 'refunds.issue',
        arguments: refund(15_000),
        approvals,
        expect: {
          validation: 'valid',
          decision: {
            decision: 'approval_required',
            determining_policies: ['refund-over-100-needs-manager-approval'],
            approval: { policy: 'refund-over-100-needs-manager-approval', count: 1, roles: ['manager'] },
          },
          after_approvals: { decision: 'allow', determining_policies: ['refund-over-100-needs-manager-approval'] },
        },
      }),
    );
  const by = (id: string, accepted: boolean, policies: string[]) => ({
    approver: { id, role: 'manager' },
    verdict: 'approve',
    expect: { accepted, determining_policies: policies },
  });

  it('takes the approvals in order as the PDP does: the owner refused, a manager accepted, then decided again', () => {
    const evalCase = held([by('dana', false, ['owner-may-not-approve']), by('maria', true, ['managers-approve-in-own-tenant'])]);
    const result = evaluateCase(evalCase, target);
    expect(result.passed).toBe(true);
    expect(result.proposals[0]?.answer.approvals?.map((a) => a.why)).toEqual([
      'forbidden by owner-may-not-approve',
      'permitted by managers-approve-in-own-tenant',
    ]);
  });

  it('lists each missed expectation readably', () => {
    const evalCase = held([by('dana', true, ['managers-approve-in-own-tenant'])]);
    expect(evaluateCase(evalCase, target).proposals[0]?.problems).toEqual([
      'approval 1 (approve of dana, manager): expected accepted, got refused (forbidden by owner-may-not-approve)',
      'approval 1 (approve of dana, manager) determining policies: expected [managers-approve-in-own-tenant], got [owner-may-not-approve]',
      'after the approvals: expected allow, got approval_required',
    ]);
    const frozen = evaluateCase(held([by('maria', true, ['managers-approve-in-own-tenant'])]), { point: demoPoint(undefined, { frozen: true }), tool });
    expect(frozen.proposals[0]?.problems).toEqual([
      'decision: expected approval_required, got deny',
      'decision determining policies: expected [refund-over-100-needs-manager-approval], got [refunds-frozen]',
      'approval 1 (approve of maria, manager): expected accepted, got refused (not awaiting approval (deny))',
      'approval 1 (approve of maria, manager) determining policies: expected [managers-approve-in-own-tenant], got []',
      'after the approvals: expected allow, got deny',
      'after the approvals determining policies: expected [refund-over-100-needs-manager-approval], got [refunds-frozen]',
    ]);
  });
});

describe('eval cases: the budget’s answer, from the accountant’s decider', () => {
  const read = { tool: 'tickets.get', arguments: { ticket_id: 'T-1' } };
  const allowRead = { decision: 'allow', determining_policies: ['read-tools-allowed'] };
  const allowRefund = { decision: 'allow', determining_policies: ['refund-up-to-100-support'] };
  /** A small run ($0.10 and four calls of its own) at $0.06 and three calls, and a second agent at $0.60 of its day. */
  const budgetCase = () =>
    parseEvalCase(
      aCase(
        {
          tool: 'refunds.issue',
          arguments: refund(304),
          run_budget: { used_micros: 60_000, used_calls: 3 },
          expect: {
            validation: 'valid',
            decision: allowRefund,
            budget: { answer: 'refused', scope: 'run', kind: 'money', rule: 'reads_only', limit: 100_000, used: 60_000, requested: 20_000 },
          },
        },
        { run: { mode: 'live', spend_micros: 60_000, limits: { max_cost_micros: 100_000, max_tool_calls: 4 } } },
      ),
    );

  it('answers as the accountant: a run degraded to reads refuses a write and reserves a read, its call cap refuses a fifth call, an agent at its approval step', () => {
    const evalCase = budgetCase();
    const degraded = evaluateCase(evalCase, budgeted);
    expect(degraded.proposals[0]?.problems).toEqual([]);
    expect(degraded.proposals[0]?.answer.budget).toEqual({
      answer: 'refused',
      scope: 'run',
      subject: 'eval-a-case',
      kind: 'money',
      rule: 'reads_only',
      limit: 100_000,
      used: 60_000,
      requested: 20_000,
    });
    const others = parseEvalCase({
      ...JSON.parse(JSON.stringify(evalCase)),
      proposals: [
        { ...read, run_budget: { used_micros: 60_000, used_calls: 3 }, expect: { validation: 'valid', decision: allowRead, budget: { answer: 'reserved' } } },
        {
          ...read,
          run_budget: { used_micros: 61_000, used_calls: 4 },
          expect: { validation: 'valid', decision: allowRead, budget: { answer: 'refused', scope: 'run', kind: 'tool_calls', rule: 'cap', limit: 4, used: 4 } },
        },
      ],
    });
    expect(evaluateCase(others, budgeted).passed).toBe(true);
    const second = parseEvalCase(
      aCase(
        {
          tool: 'refunds.issue',
          arguments: refund(2_500),
          run_budget: { used_micros: 600_000, used_calls: 12 },
          expect: {
            validation: 'valid',
            decision: allowRefund,
            budget: { answer: 'reserved', approval_step: { scope: 'agent_day', kind: 'money', percent: 50 } },
          },
        },
        { agent: { id: 'intake-bot', role: 'support', owner: 'dana' } },
      ),
    );
    const stepped = evaluateCase(second, budgeted);
    expect(stepped.passed).toBe(true);
    expect(stepped.proposals[0]?.answer.budget).toMatchObject({
      answer: 'reserved',
      approval_step: { scope: 'agent_day', subject: 'intake-bot', used: 600_000, limit: 1_000_000 },
    });
  });

  it('shows a regression of the budgets as a readable diff, and says when there is no budgets file to judge by', () => {
    const evalCase = budgetCase();
    const moved = evaluateCase(evalCase, { ...target, budgets: budgetsFile({ reads_only_at: 80 }) });
    expect(moved.proposals[0]?.problems).toEqual(['budget: expected refused by the run money budget (reads_only), got reserved at no approval step']);
    expect(caseLines('a-case.json', evalCase, moved)).toEqual([
      '  FAIL  a-case  (a-case.json)',
      '        d',
      `        proposals[0] refunds.issue ${JSON.stringify(refund(304))}`,
      '          budget: expected refused by the run money budget (reads_only), got reserved at no approval step',
      '          (the current policies answer: allow by [refund-up-to-100-support]; budget: reserved at no approval step)',
    ]);
    const tighter = parseEvalCase({ ...JSON.parse(JSON.stringify(evalCase)), run: { mode: 'live', limits: { max_cost_micros: 70_000 } } });
    expect(evaluateCase(tighter, budgeted).proposals[0]?.problems).toEqual([
      'budget: expected refused by the run money budget (reads_only), got refused by the run money budget (cap): limit 70000, used 60000, asked 20000',
    ]);
    const numbers = parseEvalCase(JSON.parse(JSON.stringify(evalCase).replace('"limit":100000,"used":60000', '"limit":100000,"used":50000')));
    expect(evaluateCase(numbers, budgeted).proposals[0]?.problems).toEqual(['budget refusal used: expected 50000, got 60000']);
    expect(evaluateCase(evalCase, target).proposals[0]?.problems).toEqual([
      'budget: expected refused by the run money budget (reads_only), got no answer: no budgets file to judge it against (--budgets FILE)',
    ]);
  });

  it('names the field and the rule of a bad budget expectation or run context', () => {
    const valid = { tool: 'tickets.get', arguments: {}, expect: { validation: 'valid', decision: { decision: 'allow', determining_policies: [] } } };
    const withBudget = (budget: unknown, extra: Record<string, unknown> = {}) => aCase({ ...valid, ...extra, expect: { ...valid.expect, budget } });
    expect(problemOf(withBudget({ answer: 'granted' }))).toEqual({
      field: 'proposals[0].expect.budget.answer',
      message: 'proposals[0].expect.budget.answer must be one of reserved, refused (got "granted")',
    });
    expect(problemOf(withBudget({ answer: 'refused', scope: 'run', kind: 'money', rule: 'soft' })).field).toBe('proposals[0].expect.budget.rule');
    expect(problemOf(withBudget({ answer: 'refused', scope: 'agent', kind: 'money', rule: 'cap' })).field).toBe('proposals[0].expect.budget.scope');
    expect(problemOf(withBudget({ answer: 'reserved', limit: 3 })).field).toBe('proposals[0].expect.budget.limit');
    expect(problemOf(withBudget({ answer: 'reserved', approval_step: { scope: 'run', kind: 'money', percent: 150 } })).message).toBe(
      'proposals[0].expect.budget.approval_step.percent must be a whole percentage from 1 to 100 (got 150)',
    );
    expect(problemOf(withBudget({ answer: 'reserved' }, { run_budget: { used_micros: -1 } })).field).toBe('proposals[0].run_budget.used_micros');
    expect(problemOf(aCase({ ...valid, run_budget: { used_micros: 1 } })).message).toBe('proposals[0].run_budget is only for a proposal with expect.budget');
    expect(problemOf(aCase(valid, { run: { limits: {} } })).message).toBe('run.limits must set max_cost_micros or max_tool_calls (or be left out)');
    expect(
      problemOf(aCase({ tool: 'x', arguments: {}, expect: { validation: { code: 'TOOL_UNKNOWN', field: 'tool' }, budget: { answer: 'reserved' } } })).message,
    ).toBe('proposals[0].expect.budget must be absent: an invalid proposal is never decided');
  });
});

describe('writ eval capture: a case from a recorded run', () => {
  it('captures each action with its recorded context and answers, sensitive values masked, and the case reads back and passes', () => {
    const run = new RecordedRun().started().deniedDelete('a1', 0);
    const args = refund(15_000, { card_last4: { $sealed: 'v1.0123456789abcdef.xyz', hmac: 'f'.repeat(64) } });
    const visible = refund(15_000);
    const requirement = { policy_id: 'refund-over-100-needs-manager-approval', count: 1, roles: ['manager'], expires_in_ms: null, reason: null };
    run.proposed('a2', 'refunds.issue', args);
    run.decided('a2', 'approval_required', ['refund-over-100-needs-manager-approval'], requestOf('refunds.issue', visible, 1), {
      approval_requirement: requirement,
    });
    run.approval('a2', 'dana', 'manager', false, ['owner-may-not-approve'], 's1');
    run.add(
      'ApprovalRecorded',
      'a2',
      {
        approver_id: 'zed',
        verdict: 'approve',
        accepted: false,
        reason: 'approver "zed" is not in the directory',
        approver_role: '',
        determining_policies: [],
      },
      's2',
    );
    run.approval('a2', 'maria', 'manager', true, ['managers-approve-in-own-tenant'], 's3');
    run.decided(
      'a2',
      'allow',
      ['refund-over-100-needs-manager-approval'],
      requestOf('refunds.issue', visible, 1, [{ approverId: 'maria', role: 'manager' }]),
      {},
      's3',
    );
    run.add('ActionProposed', 'a3', { agent_id: 'triage-bot', tool: 'tickets.get', tool_version: null, arguments_json: '{}', mode: 'live' });
    run.add('ActionRejected', 'a3', { reason_code: 'KILL_SWITCH', message: 'killed', field: null });

    const { evalCase, skipped } = captureCase(run.events, { runId: 'run-1', name: 'incident', description: 'what happened', tool });
    expect(skipped).toEqual(['action a3 (tickets.get): rejected KILL_SWITCH by the planner, a matter of the run, not of the tool contract']);
    expect(evalCase.agent).toEqual(AGENT);
    const [deleted, refunded] = evalCase.proposals;
    // The delete's reservation is its budget answer; the held refund never reached the accountant in this record.
    expect(deleted?.expect).toEqual({
      validation: 'valid',
      decision: { decision: 'deny', determining_policies: ['customer-delete-forbidden'] },
      budget: { answer: 'reserved' },
    });
    expect(deleted?.run_budget).toEqual({ used_micros: 0, used_calls: 0 });
    expect(refunded?.arguments['card_last4']).toBe('[redacted]');
    expect(refunded?.run_stats).toEqual({ steps: 1, spend_micros: 0, calls_in_window: 0 });
    expect(refunded?.approvals?.map((a) => [a.approver.id, a.expect.accepted])).toEqual([
      ['dana', false],
      ['maria', true],
    ]);
    expect(refunded?.expect.after_approvals).toEqual({ decision: 'allow', determining_policies: ['refund-over-100-needs-manager-approval'] });
    expect(JSON.stringify(evalCase)).not.toContain('$sealed');
    expect(evaluateCase(evalCase, budgeted).passed).toBe(true);
  });

  it('captures the run’s own budget answers with what the run had used, and leaves out one of a budget that counts other runs', () => {
    const run = new RecordedRun().started({ max_cost_micros: 100_000 });
    for (const [i, id] of ['a1', 'a2', 'a3'].entries()) run.allowedRefund(id, 300 + i, i);
    const args = refund(304);
    run.proposed('a4', 'refunds.issue', args);
    run.decided('a4', 'allow', ['refund-up-to-100-support'], requestOf('refunds.issue', args, 3));
    run.refused('a4', { scope: 'run', kind: 'money', limit: 100_000, used: 60_000, requested: 20_000, rule: 'reads_only' });
    run.completed('a4', 'refused', 'BUDGET_REFUSED');
    run.proposed('a5', 'tickets.get', { ticket_id: 'T-1' });
    run.decided('a5', 'allow', ['read-tools-allowed'], requestOf('tickets.get', { ticket_id: 'T-1' }, 4));
    run.refused('a5', { scope: 'agent_day', kind: 'tool_calls', limit: 500, used: 500, requested: 1 });
    run.completed('a5', 'refused', 'BUDGET_REFUSED');
    const { evalCase, skipped } = captureCase(run.events, { runId: 'run-1', name: 'small-run', description: 'the demo’s small run', tool });
    expect(skipped).toEqual(['action a5 (tickets.get): its budget answer (refused by the agent_day budget, which counts other runs)']);
    expect(evalCase.run.limits).toEqual({ max_cost_micros: 100_000, max_tool_calls: null });
    expect(evalCase.proposals.map((p) => [p.run_budget, p.expect.budget])).toEqual([
      [{ used_micros: 0, used_calls: 0 }, { answer: 'reserved' }],
      [{ used_micros: 20_000, used_calls: 1 }, { answer: 'reserved' }],
      [{ used_micros: 40_000, used_calls: 2 }, { answer: 'reserved' }],
      [
        { used_micros: 60_000, used_calls: 3 },
        { answer: 'refused', scope: 'run', kind: 'money', rule: 'reads_only', limit: 100_000, used: 60_000, requested: 20_000 },
      ],
      [undefined, undefined],
    ]);
    expect(evaluateCase(evalCase, budgeted).passed).toBe(true);
    // Put to budgets whose runs never degrade, the captured refusal is a regression.
    expect(evaluateCase(evalCase, { ...target, budgets: budgetsFile({}) }).proposals[3]?.problems).toEqual([
      'budget: expected refused by the run money budget (reads_only), got reserved at no approval step',
    ]);
  });
});
