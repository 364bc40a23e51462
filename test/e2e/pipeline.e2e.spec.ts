// The governed pipeline end to end, one instance of each service (test/e2e/pipeline-cases.ts),
// and the cases that need no second instance.
import { randomUUID } from 'node:crypto';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { captureCase } from '../../libs/cli/src/eval-capture.ts';
import { evaluateCase } from '../../libs/cli/src/eval-case.ts';
import { evalTarget } from '../../libs/cli/src/eval.ts';
import { budgetsOf } from '../../libs/cli/src/replay.ts';
import { replayAndEvaluate, replayToItsEnd } from '../../libs/cli/src/demo-replay.ts';
import type { ReplayAnswer } from '../../libs/cli/src/demo-replay.ts';
import { runReader } from '../../libs/cli/src/run-record.ts';
import { governedPipelineCases } from './pipeline-cases.ts';
import { prometheusCases } from './prometheus-cases.ts';
import { authAs, callsAtTool, helpdeskStats, keyOf, refundArgs, root } from './support.ts';

// When this suite began: the runs it records are those started since (the e2e broker is shared by the suites before it).
let suiteStart = 0;
beforeAll(() => {
  suiteStart = Date.now();
});

const stack = governedPipelineCases(26280);
// The real Prometheus scraping this stack (test/e2e/prometheus-cases.ts): seconds, on the stack that runs anyway.
prometheusCases(stack);

describe('destination allowlists of the tool contract', () => {
  it('executes a note to the listed domain and rejects one to another domain before it runs, naming the argument and the rule', async () => {
    const e2e = stack();
    const { run_id: run } = await e2e.agent.openRun('e2e: escalate a ticket to the team');
    const note = { ticket_id: 'T-1001', subject: 'T-1001 needs a manager', body: 'The customer asks for more than my refund limit.' };

    const allowedKey = randomUUID();
    const allowed = await e2e.agent.propose(run, {
      tool: 'notifications.send',
      arguments: { ...note, to: 'escalations@acme.example', cc: ['lead@eu.acme.example'] },
      reason: 'escalate to a manager',
      idempotency_key: allowedKey,
    });
    expect((await e2e.agent.outcome(allowed.action_id, 30_000)).status).toBe('completed');
    const afterAllowed = await helpdeskStats(e2e.stack);
    expect(callsAtTool(afterAllowed, allowedKey)).toBe(1);
    expect(afterAllowed['notifications']).toContainEqual(expect.objectContaining({ to: 'escalations@acme.example', cc: ['lead@eu.acme.example'] }));

    const refusedKey = randomUUID();
    const refused = await e2e.agent.propose(run, {
      tool: 'notifications.send',
      arguments: { ...note, to: 'escalations@acme.example.evil.example' },
      reason: 'escalate to a manager',
      idempotency_key: refusedKey,
    });
    const outcome = await e2e.agent.outcome(refused.action_id, 30_000);
    expect(outcome).toMatchObject({ status: 'rejected', reason_code: 'DESTINATION_NOT_ALLOWED' });
    const rule =
      'arguments.to: "escalations@acme.example.evil.example" is not an allowed destination: its domain acme.example.evil.example is not listed (email_domain must be one of acme.example, *.acme.example)';
    expect((await e2e.agent.action(refused.action_id))['rejection']).toEqual({ code: 'DESTINATION_NOT_ALLOWED', field: 'to', message: rule });
    expect(callsAtTool(await helpdeskStats(e2e.stack), refusedKey)).toBe(0);
  });
});

describe('writ replay and writ eval capture on the runs this suite recorded', () => {
  const ledgerUrl = () => stack().stack.service('ledger').url;
  // The budgets file this stack's accountant runs with: the run budgets' defaults the replay decides with.
  const budgetsFile = () => stack().stack.env['WRIT_BUDGET_LIMITS_FILE'] ?? '';
  // The ledger's query door as acme's analyst; the policy sets from the policy service as the platform admin.
  const source = () => [
    ...['--url', ledgerUrl(), '--key', keyOf('ana'), '--policy-url', stack().stack.service('policy').url, '--policy-key', keyOf('root')],
    ...['--budgets', budgetsFile()],
  ];

  /** The run replayed once the ledger has projected it to its end (every action ended, every reservation closed): no divergence. */
  async function replayedToItsEnd(run: string, extra: string[] = []): Promise<ReplayAnswer> {
    const answer = await replayToItsEnd(run, [...source(), ...extra]);
    expect(answer.report?.notes, `run ${run}: ${answer.lines.join('\n').slice(0, 4_000)}`).toEqual([]);
    return answer;
  }

  async function runsSince(since: number, eventType: string): Promise<string[]> {
    const response = await fetch(`${ledgerUrl()}/v1/query`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...authAs('ana') },
      body: JSON.stringify({
        sql: "SELECT DISTINCT run_id FROM events WHERE event_type = {type:String} AND occurred_at >= {since:DateTime64(3, 'UTC')} ORDER BY run_id",
        params: { type: eventType, since: new Date(since).toISOString().replace('T', ' ').replace('Z', '') },
      }),
    });
    expect(response.status).toBe(200);
    return ((await response.json()) as { rows: { run_id: string }[] }).rows.map((row) => row.run_id);
  }

  it('rebuilds every acme run of the suite from the ledger alone with no divergence, and passes the eval cases (the demo’s last act)', async () => {
    const runs = await runsSince(suiteStart, 'RunStarted');
    expect(runs.length).toBeGreaterThanOrEqual(8);
    const said: string[] = [];
    await replayAndEvaluate({
      root,
      ledgerUrl: ledgerUrl(),
      policyUrl: stack().stack.service('policy').url,
      analystKey: keyOf('ana'),
      policyKey: keyOf('root'),
      runs,
      budgetsFile: budgetsFile(),
      say: (line) => said.push(line),
    });
    const replays = said.filter((line) => line.startsWith('replay of run '));
    expect(replays).toHaveLength(runs.length);
    expect(replays.filter((line) => !line.endsWith(': no divergence'))).toEqual([]);
    // The held refund's approvals (the owner refused, a manager accepted) and the decisions around them were put to Cedar again.
    const counted = (pattern: RegExp) => replays.reduce((sum, line) => sum + Number(pattern.exec(line)?.[1] ?? 0), 0);
    expect(counted(/ (\d+) approvals put/)).toBeGreaterThanOrEqual(2);
    expect(counted(/ (\d+) decisions and/)).toBeGreaterThanOrEqual(runs.length);
    expect(said.at(-1)).toMatch(/^\[eval\] \d+ passed, 0 failed$/);
  });

  it('replays a run against a changed candidate folder: the changed decisions are reported, exit 1', async () => {
    const e2e = stack();
    const { run_id: run } = await e2e.agent.openRun('e2e: replay against a candidate');
    const refund = await e2e.agent.propose(run, {
      tool: 'refunds.issue',
      arguments: refundArgs(2500),
      reason: 'duplicate charge',
      idempotency_key: randomUUID(),
    });
    expect((await e2e.agent.outcome(refund.action_id, 30_000)).status).toBe('completed');
    const replayed = (await replayedToItsEnd(run)).report;
    expect(replayed?.divergences).toEqual([]);
    // Its reservation and settlement were decided again by the accountant, not taken from the record.
    expect(replayed?.actions[0]?.steps.filter((s) => s.what === 'budget').map((s) => [s.verdict, s.detail?.split(':')[0]])).toEqual([
      ['same', 'replayed'],
      ['same', 'replayed'],
    ]);

    const candidate = await mkdtemp(join(tmpdir(), 'writ-replay-candidate-'));
    try {
      await cp(join(root, 'policies'), candidate, { recursive: true });
      await writeFile(
        join(candidate, 'refunds-frozen.cedar'),
        '@id("refunds-frozen")\nforbid (principal, action == Writ::Action::"invoke", resource == Writ::Tool::"refunds.issue");\n',
      );
      const changed = await replayedToItsEnd(run, ['--policies', candidate]);
      expect(changed.report?.counts.decisionsReplayed).toBe(1);
      expect(changed.report?.divergences).toEqual([
        {
          actionId: refund.action_id,
          what: 'policy',
          differences: ['decision: recorded allow, candidate deny', 'determining policies: recorded refund-up-to-100-support, candidate refunds-frozen'],
        },
      ]);
      expect(changed.code).toBe(1);
      expect(changed.report?.actions[0]?.consequence).toMatch(/^allow → deny: the tool would not have been called/);
    } finally {
      await rm(candidate, { recursive: true, force: true });
    }
  });

  it('captures the suite’s held refunds as eval cases that the current policies answer as recorded', async () => {
    const runs = await runsSince(suiteStart, 'ApprovalRecorded');
    expect(runs.length).toBeGreaterThanOrEqual(1);
    // The captured budget answers are this stack's accountant's: judged with its budgets file.
    const target = await evalTarget(join(root, 'policies'), join(root, 'tools'), await budgetsOf(budgetsFile(), {}));
    const reader = runReader({ kind: 'door', url: ledgerUrl(), key: keyOf('ana'), policyUrl: stack().stack.service('policy').url, policyKey: keyOf('root') });
    for (const run of runs) {
      const { evalCase } = captureCase(await reader.events(run), { runId: run, name: 'e2e-capture', description: 'captured', tool: target.tool });
      const approvals = evalCase.proposals.flatMap((p) => p.approvals ?? []);
      expect(approvals.length).toBeGreaterThanOrEqual(1);
      // The run's own budget answered each proposal (reserved, as recorded): the case carries it.
      expect(evalCase.proposals.filter((p) => p.expect.budget !== undefined).length).toBeGreaterThanOrEqual(1);
      const result = evaluateCase(evalCase, target);
      expect(
        result.proposals.flatMap((p) => p.problems),
        `run ${run}`,
      ).toEqual([]);
    }
  });
});
