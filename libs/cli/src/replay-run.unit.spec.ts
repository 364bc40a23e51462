// `writ replay`'s core on recorded events (run-fixtures.spec.ts): a run that replays as recorded, and
// each kind of divergence the replay must report (a decision its set would not make, an approval,
// the run's budget books, an end the record does not support), a candidate set's changes, and the
// verb's arguments and printout.
import { describe, expect, it } from 'vitest';
import type { DecisionPoint } from '@writ/policy-engine';
import { replayRun } from './replay-run.ts';
import type { ReplayReport } from './replay-run.ts';
import { formatReplay, runReplay } from './replay.ts';
import { RecordedRun, SET_A, SET_B, demoPoint, requestOf } from './run-fixtures.spec.ts';

const recordedSets = (points: Record<string, DecisionPoint>) => ({ recorded: (hash: string) => points[hash] });
const replay = (run: RecordedRun, points: Record<string, DecisionPoint> = { [SET_A]: demoPoint() }, candidate?: DecisionPoint): ReplayReport =>
  replayRun(run.runId, run.events, { sets: { ...recordedSets(points), ...(candidate === undefined ? {} : { candidate }) } });
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

  it('recomputes the run’s budget: a settlement must charge the outcome’s cost, the run’s refusals name what the run had used, no reservation crosses its cap', () => {
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
      'names 30000 used, the run had used 12000 micros and 1 tool calls',
      'refused, but 30000 used + 20000 asked fits under 50000',
      "crosses the run's cap: 57000 of 50000 micros",
      "settled 12000 micros, the tools' outcomes report 15000",
    ]);
    expect(report.divergences.map((d) => [d.actionId, d.what])).toEqual([
      ['a1', 'budget'],
      ['a2', 'budget'],
      ['a3', 'budget'],
      [null, 'run'],
    ]);
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
      tool_calls: 0,
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
      '#1 customers.delete@1.0.0 → denied (POLICY_DENIED)   action a1',
      '  · proposed   by triage-bot: {"customer_id":"C-9"} ("because"); 0 actions before it',
      '  · admitted   admitted as customers.delete@1.0.0',
      '  = policy     deny by customer-delete-forbidden (set 1.0.0 aaaaaaaaaaaa); replayed: deny by customer-delete-forbidden',
      '  = budget     reserved 2000 micros USD',
      '  = budget     released: 0 micros charged, 2000 released; nothing executed on it (denied)',
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
