// The demo's last act: its runs rebuilt from the ledger alone (`writ replay`) and the eval cases put
// to the policies it ends with (`writ eval run`). The ledger projects asynchronously, so a run is
// replayed again until every action has ended and every reservation is closed in its record.
import { join } from 'node:path';
import { WritError } from '@writ/errors';
import { runEval } from './eval.ts';
import { runReplay } from './replay.ts';
import type { ReplayReport } from './replay-run.ts';

export interface ReplayAnswer {
  readonly code: number;
  /** undefined when the replay failed before a report (its lines say why). */
  readonly report: ReplayReport | undefined;
  readonly lines: readonly string[];
}

/** `writ replay --run R --json <args>`, again until the record holds the run to its end (no notes) or `timeoutMs` passed. */
export async function replayToItsEnd(runId: string, args: readonly string[], timeoutMs = 30_000): Promise<ReplayAnswer> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const lines: string[] = [];
    const code = await runReplay(['--run', runId, '--json', ...args], { out: (l) => lines.push(l), err: (l) => lines.push(l) }, {});
    const text = lines.join('\n');
    const report = text.startsWith('{') ? (JSON.parse(text) as ReplayReport) : undefined;
    if ((report !== undefined && report.notes.length === 0) || Date.now() > deadline) return { code, report, lines };
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

export interface DemoReplayOptions {
  readonly root: string;
  readonly ledgerUrl: string;
  readonly policyUrl: string;
  /** An analyst's or auditor's key of the runs' tenant (the ledger's query door). */
  readonly analystKey: string;
  /** A platform admin's or a service key (the policy sets). */
  readonly policyKey: string;
  readonly runs: readonly string[];
  /** The budgets file the stack's accountant ran with (default: the demo's, deploy/demo/budgets.json). The eval cases are judged by the demo's. */
  readonly budgetsFile?: string;
  readonly say: (line: string) => void;
}

/** Replays each run (its summary and any divergence) and runs the eval cases (any failure and the total); throws when either fails. */
export async function replayAndEvaluate(options: DemoReplayOptions): Promise<void> {
  const { say } = options;
  const demoBudgets = join(options.root, 'deploy', 'demo', 'budgets.json');
  const source = [
    ...['--url', options.ledgerUrl, '--key', options.analystKey, '--policy-url', options.policyUrl, '--policy-key', options.policyKey],
    ...['--tools', join(options.root, 'tools'), '--budgets', options.budgetsFile ?? demoBudgets],
  ];
  for (const run of options.runs) {
    const { code, report, lines } = await replayToItsEnd(run, source);
    if (report === undefined) {
      for (const line of lines) say(line);
      throw new WritError('DEMO_INCOMPLETE', `writ replay --run ${run} failed`);
    }
    const { counts } = report;
    say(
      `replay of run ${run}: ${report.actions.length} actions, ${counts.decisionsReplayed} decisions and ${counts.approvalsReplayed} approvals put to their recorded policy sets again, ${counts.reservations} reservations and ${counts.settlements} settlements decided again by the accountant: ${report.divergences.length === 0 ? 'no divergence' : `${report.divergences.length} divergence(s)`}`,
    );
    for (const d of report.divergences) say(`  ${d.actionId ?? 'the run'} ${d.what}: ${d.differences.join('; ')}`);
    if (code !== 0) throw new WritError('DEMO_INCOMPLETE', `writ replay --run ${run} exited ${code}`);
  }
  const lines: string[] = [];
  const code = await runEval(
    ['run', join(options.root, 'evals'), '--policies', join(options.root, 'policies'), '--tools', join(options.root, 'tools'), '--budgets', demoBudgets],
    { out: (l) => lines.push(l), err: (l) => lines.push(l) },
    {},
  );
  for (const line of lines.filter((l) => !l.startsWith('  ok '))) say(line);
  if (code !== 0) throw new WritError('DEMO_INCOMPLETE', `writ eval run exited ${code}`);
}
