// `writ replay`'s core on recorded events (run-fixtures.spec.ts): a run that replays as recorded, and
// each kind of divergence the replay must report (a decision its set would not make, an approval,
// the run's budget books, an end the record does not support), a candidate set's changes, and the
// verb's arguments and printout.
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseBudgetsFile } from '@writ/budget-core';
import type { DecisionPoint } from '@writ/policy-engine';
import { loadToolRegistry } from '@writ/tools';
import { replayRun } from './replay-run.ts';
import type { ReplayOptions, ReplayReport } from './replay-run.ts';
import { formatReplay, runReplay } from './replay.ts';
import { RecordedRun, SET_A, SET_B, demoPoint, requestOf } from './run-fixtures.spec.ts';

const registry = loadToolRegistry(fileURLToPath(new URL('../../../tools', import.meta.url)));
const tool: ReplayOptions['tool'] = (name, version) => registry.get(name, version);
const recordedSets = (points: Record<string, DecisionPoint>) => ({ recorded: (hash: string) => points[hash] });
const replay = (
  run: RecordedRun,
  points: Record<string, DecisionPoint> = { [SET_A]: demoPoint() },
  candidate?: DecisionPoint,
  budgets?: ReplayOptions['budgets'],
): ReplayReport =>
  replayRun(run.runId, run.events, {
    sets: { ...recordedSets(points), ...(candidate === undefined ? {} : { candidate }) },
    tool,
    ...(budgets === undefined ? {} : { budgets }),
  });
const messages = (report: ReplayReport): string[] => report.divergences.flatMap((d) => d.differences);

/** A refund over $100: held, the owner refused, a manager approves, it runs. */
function heldRefund(run: RecordedRun, actionId: string, steps: number): RecordedRun {
  const args = { ticket_id: 'T-2', customer_id: 'C-2', amount_cents: 15_000, ticket_tags: ['refund_approved'], reason: 'x' };
  const requirement = { policy_id: 'refund-over-100-needs-manager-approval', count: 1, roles: ['manager'], expires_in_ms: null, reason: null };
  run.proposed(actionId, 'refunds.issue', args);
  run.decided(actionId, 'approval_required', ['refund-over-100-needs-manager-approval'], requestOf('refunds.issue', args, steps), {
    approval_requirement: requirement,
  });
  run.approval(actionId, 'dana', 'manager', false, ['owner-may-not-approve'], 'submission-1');
  run.approval(actionId, 'maria', 'manager', true, ['managers-approve-in-own-tenant'], 'submission-2');
  run.decided(
    actionId,
    'allow',
    ['refund-over-100-needs-manager-approval'],
    requestOf('refunds.issue', args, steps, [{ approverId: 'maria', role: 'manager' }]),
    {},
    'submission-2',
  );
  run.reserved(actionId, 20_000).executed(actionId, 'refunds.issue', 20_000).settled(actionId, 'settled', 20_000, 0, 20_000);
  return run.completed(actionId, 'completed', 'SUCCEEDED', 20_000);
}

/** The demo's budgets file in miniature: every run's budget degrades to reads at 50 %. */
const DEMO_BUDGETS = JSON.stringify({
  tenants: { acme: { currency: 'USD', budgets: [{ scope: 'run', period: 'run', money: '100.00', reads_only_at: 50 }] } },
}).replace('"reads_only_at":50', '"reads_only_at": 50');

/** Small refunds that ran, each at its reserved cost. */
function refunds(run: RecordedRun, ids: readonly string[]): RecordedRun {
  ids.forEach((id, i) => run.allowedRefund(id, 300 + i, i));
  return run;
}

function readTicket(run: RecordedRun, actionId: string, steps: number): RecordedRun {
  run.proposed(actionId, 'tickets.get', { ticket_id: 'T-1' });
  run.decided(actionId, 'allow', ['read-tools-allowed'], requestOf('tickets.get', { ticket_id: 'T-1' }, steps));
  run.reserved(actionId, 1_000).executed(actionId, 'tickets.get', 1_000).settled(actionId, 'settled', 1_000, 0, 1_000);
  return run.completed(actionId, 'completed', 'SUCCEEDED', 1_000);
}

describe('writ replay: a run rebuilt from its record', () => {
  it('replays the demo’s kinds of action as recorded: each decision and approval put to its set again, the books and the ends as recorded', () => {
    const run = new RecordedRun().started({ max_cost_micros: 1_000_000 }).allowedRefund('a1', 2_500, 0).deniedDelete('a2', 1);
    heldRefund(run, 'a3', 2);
    const report = replay(run);
    expect(report.divergences).toEqual([]);
    expect(report.counts).toEqual({ decisions: 4, decisionsReplayed: 4, approvals: 2, approvalsReplayed: 2, reservations: 3, settlements: 3 });
    expect(report.spend).toEqual({ settledMicros: 40_000, executedMicros: 40_000, completedMicros: 40_000, currency: 'USD' });
    expect(report.actions.map((a) => [a.tool, a.status])).toEqual([
      ['refunds.issue', 'completed'],
      ['customers.delete', 'denied'],
      ['refunds.issue', 'completed'],
    ]);
    const held = report.actions[2]?.steps.map((s) => [s.what, s.verdict]);
    expect(held).toEqual([
      ['proposed', 'recorded'],
      ['admitted', 'recorded'],
      ['policy', 'same'],
      ['approval', 'same'],
      ['approval', 'same'],
      ['policy', 'same'],
      ['budget', 'same'],
      ['execution', 'same'],
      ['execution', 'recorded'],
      ['budget', 'same'],
      ['end', 'same'],
    ]);
    expect(report.notes).toEqual([]);
  });

  it('reports a decision its recorded set does not make, naming both answers and policies', () => {
    const run = new RecordedRun().started();
    const args = { customer_id: 'C-9' };
    run.proposed('a1', 'customers.delete', args);
    run.decided('a1', 'allow', ['someone-permitted-it'], requestOf('customers.delete', args, 0));
    run
      .reserved('a1', 2_000)
      .executed('a1', 'customers.delete', 2_000)
      .settled('a1', 'settled', 2_000, 0, 2_000)
      .completed('a1', 'completed', 'SUCCEEDED', 2_000);
    const report = replay(run);
    expect(messages(report)).toEqual([
      'decision: recorded allow, replayed deny',
      'determining policies: recorded someone-permitted-it, replayed customer-delete-forbidden',
    ]);
    expect(report.divergences[0]).toMatchObject({ actionId: 'a1', what: 'policy' });
  });

  it('puts each decision to the set recorded for it, and reports one whose set is not on the log', () => {
    const run = new RecordedRun().started().allowedRefund('a1', 2_500, 0);
    const args = { ticket_id: 'T-1', customer_id: 'C-1', amount_cents: 2_600, ticket_tags: ['refund_approved'], reason: 'x' };
    run.proposed('a2', 'refunds.issue', args);
    run.decided('a2', 'deny', ['refunds-frozen'], requestOf('refunds.issue', args, 1), { policy_set_hash: SET_B });
    run.reserved('a2', 20_000).settled('a2', 'released', 0, 20_000, 20_000).completed('a2', 'denied', 'POLICY_DENIED');
    expect(replay(run, { [SET_A]: demoPoint(), [SET_B]: demoPoint(SET_B, { frozen: true }) }).divergences).toEqual([]);
    expect(messages(replay(run, { [SET_A]: demoPoint() }))).toEqual([`policy set ${SET_B} is not on the log: the decision cannot be replayed`]);
  });

  it('reports an approval its set would have answered otherwise', () => {
    const run = new RecordedRun().started();
    heldRefund(run, 'a1', 0);
    // The owner's approval recorded as accepted: the policies forbid it.
    const owner = run.events.find((e) => e.type === 'ApprovalRecorded' && e.payload['approver_id'] === 'dana');
    Object.assign(owner?.payload ?? {}, {
      accepted: true,
      reason: 'permitted by managers-approve-in-own-tenant',
      determining_policies: ['managers-approve-in-own-tenant'],
    });
    expect(messages(replay(run))).toEqual([
      'authorization: recorded allow, replayed deny',
      'determining policies: recorded managers-approve-in-own-tenant, replayed owner-may-not-approve',
    ]);
  });

  it('takes a decision made without Cedar from the record, and checks the run statistics a decision saw', () => {
    const run = new RecordedRun().started();
    run.proposed('a1', 'refunds.issue', { amount_cents: 1 });
    run.decided('a1', 'deny', [], undefined, { errors: ['agent "x" is not in the directory'] });
    run.completed('a1', 'denied', 'POLICY_DENIED');
    const args = { ticket_id: 'T-1', customer_id: 'C-1', amount_cents: 2_500, ticket_tags: ['refund_approved'], reason: 'x' };
    run.proposed('a2', 'refunds.issue', args);
    run.decided('a2', 'allow', ['refund-up-to-100-support'], requestOf('refunds.issue', args, 7));
    run.completed('a2', 'expired', 'DECISION_TIMEOUT');
    const report = replay(run);
    expect(report.actions[0]?.steps.find((s) => s.what === 'policy')).toMatchObject({
      verdict: 'recorded',
      detail: 'decided without Cedar (agent "x" is not in the directory)',
    });
    expect(messages(report)).toEqual(['run statistics: the decision saw 7 steps, the run had proposed 1 actions before it']);
    expect(report.counts).toMatchObject({ decisions: 2, decisionsReplayed: 1 });
  });

  it('decides the run’s budget again with the accountant: a settlement charges the outcome’s cost, a refusal it would not make and a reservation off the tool’s declared cost diverge', () => {
    const run = new RecordedRun().started({ max_cost_micros: 50_000 }).allowedRefund('a1', 2_500, 0, 15_000);
    const settlement = run.events.find((e) => e.type === 'BudgetSettled');
    Object.assign(settlement?.payload ?? {}, { actual_cost_micros: 12_000, released_micros: 8_000 });
    const args = { ticket_id: 'T-1', customer_id: 'C-1', amount_cents: 2_600, ticket_tags: ['refund_approved'], reason: 'x' };
    run.proposed('a2', 'refunds.issue', args);
    run.decided('a2', 'allow', ['refund-up-to-100-support'], requestOf('refunds.issue', args, 1));
    run.refused('a2', { scope: 'run', kind: 'money', limit: 50_000, used: 30_000, requested: 20_000 });
    run.completed('a2', 'refused', 'BUDGET_REFUSED');
    run.proposed('a3', 'tickets.get', { ticket_id: 'T-1' });
    run.decided('a3', 'allow', ['read-tools-allowed'], requestOf('tickets.get', { ticket_id: 'T-1' }, 2));
    run.reserved('a3', 45_000).settled('a3', 'released', 0, 45_000, 45_000).completed('a3', 'expired', 'DECISION_TIMEOUT');
    const report = replay(run);
    expect(messages(report)).toEqual([
      'charged 12000, the outcome reported 15000',
      'released 8000 of 20000 reserved at a cost of 15000, replayed 5000',
      // After a divergence the books follow the record: the run had used the 12000 charged.
      "refused by the run's budget, but the accountant reserves it: the run had used 12000 of 50000 micros and 1 tool calls",
      "reserved 45000 USD, the tool's declared maximum is 1000 USD",
      "settled 12000 micros, the tools' outcomes report 15000",
    ]);
    expect(report.divergences.map((d) => [d.actionId, d.what])).toEqual([
      ['a1', 'budget'],
      ['a2', 'budget'],
      ['a3', 'budget'],
      [null, 'run'],
    ]);
  });

  it('compares the run’s refusals with the accountant’s: one it would make is no divergence, one it would not is (the budgets file’s run defaults count)', () => {
    const budgets = { file: parseBudgetsFile(DEMO_BUDGETS), source: 'budgets.json' };
    // The demo's second run: $0.10 of its own, the run budget degrading to reads at 50 %.
    const run = new RecordedRun().started({ max_cost_micros: 100_000 });
    refunds(run, ['a1', 'a2', 'a3']);
    const args = { ticket_id: 'T-1', customer_id: 'C-1', amount_cents: 304, ticket_tags: ['refund_approved'], reason: 'x' };
    run.proposed('a4', 'refunds.issue', args);
    run.decided('a4', 'allow', ['refund-up-to-100-support'], requestOf('refunds.issue', args, 3));
    run.refused('a4', { scope: 'run', kind: 'money', limit: 100_000, used: 60_000, requested: 20_000, rule: 'reads_only' });
    run.completed('a4', 'refused', 'BUDGET_REFUSED');
    readTicket(run, 'a5', 4);
    const report = replay(run, undefined, undefined, budgets);
    expect(report.divergences).toEqual([]);
    expect(report.budget).toBe(
      '100000 micros, no tool-call cap; reads only from 50 % (the run’s own caps from its RunStarted, else the run budget of budgets.json)',
    );
    expect(report.actions[3]?.steps.find((s) => s.what === 'budget')).toEqual({
      what: 'budget',
      text: 'refused (degraded to reads): run money limit 100000, used 60000, asked 20000',
      verdict: 'same',
      detail: 'replayed: refused: run money limit 100000, used 60000, asked 20000 (reads_only)',
    });
    expect(report.actions[4]?.steps.find((s) => s.what === 'budget')?.verdict).toBe('same');

    // Without the file's run budget the run never degrades: the recorded refusal is one the accountant would not make.
    expect(messages(replay(run))).toEqual([
      "refused by the run's budget, but the accountant reserves it: the run had used 60000 of 100000 micros and 3 tool calls",
    ]);

    // A refusal recorded one step early: at 40 % the run is below its reads-only step.
    const early = new RecordedRun().started({ max_cost_micros: 100_000 });
    refunds(early, ['a1', 'a2']);
    early.proposed('a3', 'refunds.issue', args);
    early.decided('a3', 'allow', ['refund-up-to-100-support'], requestOf('refunds.issue', args, 2));
    early.refused('a3', { scope: 'run', kind: 'money', limit: 100_000, used: 40_000, requested: 20_000, rule: 'reads_only' });
    early.completed('a3', 'refused', 'BUDGET_REFUSED');
    const diverging = replay(early, undefined, undefined, budgets);
    expect(diverging.divergences).toEqual([
      {
        actionId: 'a3',
        what: 'budget',
        differences: ["refused by the run's budget, but the accountant reserves it: the run had used 40000 of 100000 micros and 2 tool calls"],
      },
    ]);
    expect(formatReplay(diverging, [])).toContain(
      "      DIVERGES: refused by the run's budget, but the accountant reserves it: the run had used 40000 of 100000 micros and 2 tool calls",
    );

    // A refusal that names other numbers than the accountant's.
    const misnamed = new RecordedRun().started({ max_cost_micros: 100_000 });
    refunds(misnamed, ['a1', 'a2', 'a3']);
    misnamed.proposed('a4', 'refunds.issue', args);
    misnamed.decided('a4', 'allow', ['refund-up-to-100-support'], requestOf('refunds.issue', args, 3));
    misnamed.refused('a4', { scope: 'run', kind: 'money', limit: 90_000, used: 70_000, requested: 20_000, rule: 'cap' });
    misnamed.completed('a4', 'refused', 'BUDGET_REFUSED');
    expect(messages(replay(misnamed, undefined, undefined, budgets))).toEqual([
      'rule: recorded cap, replayed reads_only',
      'limit: recorded 90000, replayed 100000',
      'used: recorded 70000, replayed 60000 (the run had used 60000 of 100000 micros and 3 tool calls)',
    ]);
  });

  it('takes a refusal of a budget that counts other runs from the record, unless the run’s own budget refuses first', () => {
    const run = new RecordedRun().started({ max_tool_calls: 1 });
    refunds(run, ['a1']);
    const args = { ticket_id: 'T-1', customer_id: 'C-1', amount_cents: 305, ticket_tags: ['refund_approved'], reason: 'x' };
    run.proposed('a2', 'refunds.issue', args);
    run.decided('a2', 'allow', ['refund-up-to-100-support'], requestOf('refunds.issue', args, 1));
    run.refused('a2', { scope: 'agent_day', kind: 'money', limit: 5_000_000, used: 4_990_000, requested: 20_000 });
    run.completed('a2', 'refused', 'BUDGET_REFUSED');
    // The run had 1 tool call of 1 left: its own budget refuses a2 before the agent's day is asked.
    expect(messages(replay(run))).toEqual([
      "refused by the agent_day budget, but the run's own budget refuses it first: run tool_calls limit 1, used 1, asked 1 (cap)",
    ]);
    const roomy = new RecordedRun().started({ max_tool_calls: 10 });
    refunds(roomy, ['a1']);
    roomy.proposed('a2', 'refunds.issue', args);
    roomy.decided('a2', 'allow', ['refund-up-to-100-support'], requestOf('refunds.issue', args, 1));
    roomy.refused('a2', { scope: 'agent_day', kind: 'money', limit: 5_000_000, used: 4_990_000, requested: 20_000 });
    roomy.completed('a2', 'refused', 'BUDGET_REFUSED');
    const report = replay(roomy);
    expect(report.divergences).toEqual([]);
    expect(report.actions[1]?.steps.find((s) => s.what === 'budget')).toMatchObject({
      verdict: 'recorded',
      detail:
        "the run's budget grants it (the run had used 20000 micros and 1 of 10 tool calls); the agent_day budget counts other runs too: taken from the record",
    });
  });

  it('checks the run budget’s approval step, and a lapse against the reservation’s expiry', () => {
    const budgets = { file: parseBudgetsFile(DEMO_BUDGETS.replace('"reads_only_at": 50', '"approval_at": 30, "reads_only_at": 50')), source: 'budgets.json' };
    const step = { scope: 'run', subject: 'run-1', period: 'run', window_ms: null, kind: 'money', percent: 30, limit: 100_000, used: 40_000, currency: 'USD' };
    const atStep = (approvalStep: Record<string, unknown> | null) => {
      const run = new RecordedRun().started({ max_cost_micros: 100_000 });
      refunds(run, ['a1', 'a2']);
      const args = { ticket_id: 'T-1', customer_id: 'C-1', amount_cents: 303, ticket_tags: ['refund_approved'], reason: 'x' };
      run.proposed('a3', 'refunds.issue', args);
      run.decided('a3', 'allow', ['refund-up-to-100-support'], requestOf('refunds.issue', args, 2));
      run.reserved('a3', 20_000, { approval_step: approvalStep });
      // The PDP asks for the budget's approval (one, by any approver the policies permit); none comes.
      run.decided('a3', 'approval_required', ['refund-up-to-100-support'], requestOf('refunds.issue', args, 2), {
        approval_requirement: { policy_id: 'writ:budget-approval-step', count: 1, roles: [], expires_in_ms: null, reason: 'the run budget is at 40 %' },
      });
      run.settled('a3', 'expired', 0, 20_000, 20_000).completed('a3', 'expired', 'APPROVAL_TIMEOUT');
      return run;
    };
    const expiresAt = (run: RecordedRun) =>
      Number(run.events.find((e) => e.type === 'BudgetReserved' && e.payload['reservation_id'] === 'a3')?.payload['expires_at']);
    const early = atStep(step);
    // The lapse is recorded moments after the reservation: the accountant's runs an hour (its TTL, as the record shows it).
    expect(messages(replay(early, undefined, undefined, budgets))).toEqual([
      `expired, but the accountant decides nothing: its reservation runs until ${new Date(expiresAt(early)).toISOString()}`,
    ]);
    const lapsed = atStep(step);
    const expiry = lapsed.events.find((e) => e.type === 'BudgetSettled' && e.payload['disposition'] === 'expired');
    Object.assign((expiry?.payload['meta'] ?? {}) as object, { occurred_at: expiresAt(lapsed) });
    expect(replay(lapsed, undefined, undefined, budgets).divergences).toEqual([]);
    expect(messages(replay(atStep(null), undefined, undefined, budgets))).toContain(
      'approval step: recorded none, replayed the run money budget at 30 % (used 40000 of 100000)',
    );
  });

  it('checks that each recorded end follows from the record', () => {
    const run = new RecordedRun().started();
    const args = { ticket_id: 'T-1', customer_id: 'C-1', amount_cents: 2_500, ticket_tags: ['refund_approved'], reason: 'x' };
    run.proposed('a1', 'refunds.issue', args);
    run.decided('a1', 'allow', ['refund-up-to-100-support'], requestOf('refunds.issue', args, 0));
    run.completed('a1', 'completed', 'SUCCEEDED', 0);
    run.proposed('a2', 'tickets.get', { ticket_id: 'T-1' });
    run.decided('a2', 'allow', ['read-tools-allowed'], requestOf('tickets.get', { ticket_id: 'T-1' }, 1));
    run.completed('a2', 'denied', 'POLICY_DENIED');
    run.proposed('a3', 'tickets.get', { ticket_id: 'T-2' });
    const report = replay(run);
    expect(messages(report)).toEqual(['completed as succeeded without an ActionExecuted', 'denied, but no decision denied it']);
    expect(report.notes).toEqual(['action a3 (tickets.get): not ended in the record (yet)']);
  });

  it('flags an execution requested for an action of a shadow run, which the planner never asks for (a forged request the executor refused)', () => {
    const run = new RecordedRun().started({}, 'shadow');
    const args = { ticket_id: 'T-1', customer_id: 'C-1', amount_cents: 2_500, ticket_tags: ['refund_approved'], reason: 'x' };
    run.proposed('a1', 'refunds.issue', args);
    run.decided('a1', 'allow', ['refund-up-to-100-support'], requestOf('refunds.issue', args, 0));
    run.reserved('a1', 20_000).settled('a1', 'released', 0, 20_000, 20_000).completed('a1', 'completed', 'SHADOW_WOULD_EXECUTE');
    expect(replay(run).divergences).toEqual([]);
    run.add('ExecutionRequested', 'a1', { agent_id: 'triage-bot', tool: 'refunds.issue' });
    run.add('ActionFailed', 'a1', {
      outcome: 'failed',
      tool: 'refunds.issue',
      reservation_id: 'a1',
      error_code: 'WARRANT_FORGED',
      message: 'a shadow warrant',
      retriable: false,
      attempts: 0,
      cost_micros: 0,
      currency: 'USD',
    });
    run.add('BudgetSettled', 'a1', {
      reservation_id: 'a1',
      actual_cost_micros: 0,
      released_micros: 0,
      currency: 'USD',
      disposition: 'settled',
      reserved_micros: 0,
      tool_calls: 1,
      late: true,
    });
    expect(messages(replay(run))).toEqual([
      'an action of a shadow run has an execution outcome (failed: WARRANT_FORGED): the planner never asks to execute one',
    ]);
  });

  it('with a candidate set, reports what would change and what would have become of the action', () => {
    const run = new RecordedRun().started().allowedRefund('a1', 2_500, 0).deniedDelete('a2', 1);
    const report = replay(run, { [SET_A]: demoPoint() }, demoPoint(SET_B, { frozen: true }));
    expect(report.candidate).toEqual({ hash: SET_B, version: 'frozen' });
    expect(report.divergences).toEqual([
      {
        actionId: 'a1',
        what: 'policy',
        differences: ['decision: recorded allow, candidate deny', 'determining policies: recorded refund-up-to-100-support, candidate refunds-frozen'],
      },
    ]);
    expect(report.actions[0]?.consequence).toBe('allow → deny: the tool would not have been called (it was, at a cost of 20000 micros)');
    const lines = formatReplay(report, []);
    expect(lines).toContain('  decided with the candidate set frozen (bbbbbbbbbbbb) instead of the recorded ones');
    expect(lines).toContain('      WOULD CHANGE: decision: recorded allow, candidate deny');
    expect(lines.find((l) => l.startsWith('[replay]'))).toBe(
      '[replay] the candidate would change 1 step(s) of this run (decisions allow → deny ×1); 2 of 2 decisions, 0 of 0 approvals, 2 reservations, 2 settlements:',
    );
  });

  it('prints every step with its verdict, and a last line that says the run replays as recorded', () => {
    const run = new RecordedRun().started().deniedDelete('a1', 0);
    const lines = formatReplay(replay(run), ['1.0.0 (aaaaaaaaaaaa)']);
    expect(lines).toEqual([
      'run run-1: tenant acme, agent triage-bot, live; 1 actions, 7 events',
      '  decided again with the policy sets recorded for them: 1.0.0 (aaaaaaaaaaaa)',
      "  the run's budget, replayed by the accountant: no money cap, no tool-call cap (the run’s own caps from its RunStarted; no budgets file (--budgets), so no run defaults)",
      '#1 customers.delete@1.0.0 → denied (POLICY_DENIED)   action a1',
      '  · proposed   by triage-bot: {"customer_id":"C-9"} ("because"); 0 actions before it',
      '  · admitted   admitted as customers.delete@1.0.0',
      '  = policy     deny by customer-delete-forbidden (set 1.0.0 aaaaaaaaaaaa); replayed: deny by customer-delete-forbidden',
      '  = budget     reserved 2000 micros USD; replayed: reserved 2000 micros; the run had used 0 micros and 0 tool calls',
      '  = budget     released: 0 micros charged, 2000 released; replayed: released 2000 micros (nothing executed on it)',
      '  = end        denied (POLICY_DENIED): denied; follows from a deny',
      'the run:',
      "  = run        spend 0 micros USD settled; = the outcomes' costs (0); the actions' ends carry 0; 0 micros still held",
      '[replay] no divergence: 1 of 1 decisions, 0 of 0 approvals, 1 reservations, 1 settlements replayed as recorded',
    ]);
  });

  it('refuses bad arguments with the flag and the rule, exit 2', async () => {
    const lines: string[] = [];
    const io = { out: (l: string) => lines.push(l), err: (l: string) => lines.push(l) };
    expect(await runReplay([], io, {})).toBe(2);
    expect(lines[0]).toBe('USAGE: --run is required: the run to replay (a run id)');
    lines.length = 0;
    expect(await runReplay(['--run', 'r', '--chdb', 'x', '--url', 'http://h'], io, {})).toBe(2);
    expect(lines[0]).toBe('USAGE: --chdb and --url are two sources: give one (one of --chdb, --clickhouse, --url)');
    lines.length = 0;
    expect(await runReplay(['--run', 'r', '--chdb', 'x', '--policy-key', 'k'], io, {})).toBe(2);
    expect(lines[0]).toContain("--policy-key is for the ledger's query door (--url)");
  });
});
