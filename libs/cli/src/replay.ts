// `writ replay --run R`: a run rebuilt from the ledger alone (replay-run.ts), each step printed with
// what the replay found, and every divergence; exit 1 on one. With --policies DIR, the run's
// decisions are put to a candidate policy folder instead, and the report is what would have changed.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { parseBudgetsFile } from '@writ/budget-core';
import { createDecisionPoint } from '@writ/policy-engine';
import type { DecisionPoint } from '@writ/policy-engine';
import { WritError, describeError, isWritError } from '@writ/errors';
import { loadToolRegistry } from '@writ/tools';
import type { ToolRegistry } from '@writ/tools';
import { parseFlags } from './ledger-source.ts';
import { Reported, isDirectory, readLocal, short } from './policy-folder.ts';
import type { Fetch } from './policy.ts';
import { policySetHashesOf, replayRun } from './replay-run.ts';
import type { ReplayReport, ReplayStep } from './replay-run.ts';
import type { RunBudgets } from './run-budget.ts';
import { SOURCE_FLAGS, SOURCE_USAGE, runReader, runSourceOf } from './run-record.ts';
import type { RecordedEvent, RunReader, RunSource } from './run-record.ts';
import type { CliIo } from './verify.ts';

/** The accountant's default budgets file (services/budget's WRIT_BUDGET_LIMITS_FILE default). */
export const DEFAULT_BUDGETS_FILE = 'deploy/demo/budgets.json';

export const REPLAY_USAGE = `usage: writ replay --run RUN_ID [--policies DIR] [--tools DIR] [--budgets FILE] [--json]
                   [--chdb FOLDER | --clickhouse URL [--database DB] | --url LEDGER_URL [--key K] [--tenant T]
                    [--policy-url URL] [--policy-key K]]
  Rebuilds the run from the ledger alone: each policy decision put to Cedar again with the policy
  set recorded for it (on the request the PDP recorded), each approval authorized again, the run's
  own budget decided again by the accountant (@writ/budget-core) from the events that asked for
  each reservation, settlement and release (the tools' declared costs from --tools, default tools/;
  the run budget's defaults from the budgets file the accountant ran with, --budgets, default
  WRIT_BUDGET_LIMITS_FILE, else ${DEFAULT_BUDGETS_FILE}), the tools' outcomes taken from the record
  (nothing is called). Prints every step and any divergence. --policies DIR: decide with that
  folder's set instead and show what would have changed.
${SOURCE_USAGE}
  Exit 0 the run replays as recorded (or nothing would change), 1 a divergence (or a change) or a
  failure, 2 usage error.`;

const RUN_ID = /^[A-Za-z0-9._:-]{1,200}$/;
const MARK: Readonly<Record<ReplayStep['verdict'], string>> = { same: '=', differs: '≠', recorded: '·' };

/** A report's lines as printed: a header, each action's steps, the run's books, a verdict. */
export function formatReplay(report: ReplayReport, sets: readonly string[]): string[] {
  const candidate = report.candidate;
  const lines = [
    `run ${report.runId}: tenant ${report.tenant || '?'}, agent ${report.agent || '?'}, ${report.mode}; ${report.actions.length} actions, ${report.events} events`,
    candidate === undefined
      ? `  decided again with the policy sets recorded for them: ${sets.length === 0 ? 'none' : sets.join(', ')}`
      : `  decided with the candidate set ${candidate.version} (${short(candidate.hash)}) instead of the recorded ones`,
    `  the run's budget, replayed by the accountant: ${report.budget}`,
  ];
  const changed = candidate === undefined ? 'DIVERGES' : 'WOULD CHANGE';
  const stepLines = (step: ReplayStep): string[] => {
    const detail = step.detail === undefined || step.detail === '' ? '' : `; ${step.detail}`;
    return [
      `  ${MARK[step.verdict]} ${step.what.padEnd(10)} ${step.text}${detail}`,
      ...(step.verdict === 'differs' ? (step.differences ?? []).map((d) => `      ${changed}: ${d}`) : []),
    ];
  };
  report.actions.forEach((action, i) => {
    const end = action.status === undefined ? 'open' : `${action.status}${action.reasonCode ? ` (${action.reasonCode})` : ''}`;
    lines.push(`#${i + 1} ${action.tool}${action.toolVersion === null ? '' : `@${action.toolVersion}`} → ${end}   action ${action.actionId}`);
    for (const step of action.steps) lines.push(...stepLines(step));
    if (action.consequence !== undefined) lines.push(`      would have been: ${action.consequence}`);
  });
  lines.push('the run:');
  for (const step of report.run) lines.push(...stepLines(step));
  for (const note of report.notes) lines.push(`  note: ${note}`);
  const { counts } = report;
  const skipped = counts.decisions - counts.decisionsReplayed;
  const checked = `${counts.decisionsReplayed} of ${counts.decisions} decisions${skipped > 0 ? ` (${skipped} taken from the record: made without Cedar)` : ''}, ${counts.approvalsReplayed} of ${counts.approvals} approvals, ${counts.reservations} reservations, ${counts.settlements} settlements`;
  const n = report.divergences.length;
  if (candidate !== undefined) {
    const transitions = new Map<string, number>();
    for (const action of report.actions) {
      for (const step of action.steps) {
        if (step.change !== undefined)
          transitions.set(`${step.change.from} → ${step.change.to}`, (transitions.get(`${step.change.from} → ${step.change.to}`) ?? 0) + 1);
      }
    }
    const summary = [...transitions].map(([t, k]) => `${t} ×${k}`).join(', ');
    lines.push(
      n === 0
        ? `[replay] the candidate changes nothing in this run: ${checked}`
        : `[replay] the candidate would change ${n} step(s) of this run${summary === '' ? '' : ` (decisions ${summary})`}; ${checked}:`,
    );
  } else {
    lines.push(n === 0 ? `[replay] no divergence: ${checked} replayed as recorded` : `[replay] ${n} step(s) diverge (${checked}):`);
  }
  for (const d of report.divergences) lines.push(`  ${d.actionId === null ? 'the run' : `action ${d.actionId}`}, ${d.what}: ${d.differences.join('; ')}`);
  return lines;
}

export interface ReplayDeps {
  readonly fetch?: Fetch;
}

interface ReplayCommand {
  readonly runId: string;
  readonly source: RunSource;
  readonly policies: string | undefined;
  readonly tools: string | undefined;
  readonly budgets: string | undefined;
  readonly json: boolean;
}

function commandOf(args: readonly string[], env: Readonly<Record<string, string | undefined>>): ReplayCommand {
  const json = args.includes('--json');
  const flags = parseFlags(
    args.filter((a) => a !== '--json'),
    ['run', 'policies', 'tools', 'budgets', ...SOURCE_FLAGS],
  );
  const runId = flags.get('run');
  if (runId === undefined) throw new WritError('USAGE', '--run is required: the run to replay', { field: '--run', rule: 'a run id' });
  if (!RUN_ID.test(runId)) throw new WritError('USAGE', `--run ${JSON.stringify(runId)} is not a run id`, { field: '--run', rule: 'letters, digits, . _ : -' });
  return { runId, source: runSourceOf(flags, env), policies: flags.get('policies'), tools: flags.get('tools'), budgets: flags.get('budgets'), json };
}

/** The run's events (exit 1 with a message when it has none). */
export async function readRun(reader: RunReader, runId: string, io: CliIo, tag: string): Promise<RecordedEvent[] | undefined> {
  const events = await reader.events(runId);
  if (events.length === 0) {
    io.err(`[${tag}] no events of run ${runId} (another tenant's run is not found either; the ledger may not have projected it yet)`);
    return undefined;
  }
  return events;
}

/** The registry: --tools, else tools/ when there is one (without it the reservations' costs are not checked). */
export async function registryOf(dir: string | undefined): Promise<ToolRegistry | undefined> {
  if (dir === undefined && (await isDirectory('tools')) !== true) return undefined;
  return loadToolRegistry(dir ?? 'tools');
}

/**
 * The budgets file the accountant ran with: --budgets, else WRIT_BUDGET_LIMITS_FILE, else
 * deploy/demo/budgets.json when there is one (without any, a run has only its RunStarted caps).
 * A file that is named and missing or invalid is an error naming it.
 */
export async function budgetsOf(flag: string | undefined, env: Readonly<Record<string, string | undefined>>): Promise<RunBudgets | undefined> {
  const fromEnv = env['WRIT_BUDGET_LIMITS_FILE']?.trim();
  const path = flag ?? (fromEnv === undefined || fromEnv === '' ? undefined : fromEnv);
  if (path === undefined && !existsSync(DEFAULT_BUDGETS_FILE)) return undefined;
  const file = path ?? DEFAULT_BUDGETS_FILE;
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new WritError('USAGE', `${flag === undefined ? 'WRIT_BUDGET_LIMITS_FILE' : '--budgets'} ${file} cannot be read: ${describeError(error)}`, {
      field: flag === undefined ? 'WRIT_BUDGET_LIMITS_FILE' : '--budgets',
      rule: 'the budgets file the accountant ran with',
    });
  }
  return { file: parseBudgetsFile(text), source: file };
}

/** Runs `writ replay <args>`; returns the exit code (0 as recorded, 1 divergence or failure, 2 usage). */
export async function runReplay(
  args: readonly string[],
  io: CliIo = { out: (l) => console.log(l), err: (l) => console.error(l) },
  env: Readonly<Record<string, string | undefined>> = process.env,
  deps: ReplayDeps = {},
): Promise<number> {
  let command: ReplayCommand;
  try {
    command = commandOf(args, env);
  } catch (error) {
    const rule = isWritError(error) && error.rule !== undefined ? ` (${error.rule})` : '';
    io.err(`${describeError(error)}${rule}`);
    io.err(REPLAY_USAGE);
    return 2;
  }
  const reader = runReader(command.source, deps.fetch);
  try {
    const events = await readRun(reader, command.runId, io, 'replay');
    if (events === undefined) return 1;
    let candidate: DecisionPoint | undefined;
    if (command.policies !== undefined) {
      if ((await isDirectory(command.policies)) !== true) {
        io.err(`[replay] --policies ${command.policies} is not a folder: a policy folder`);
        return 2;
      }
      candidate = createDecisionPoint((await readLocal(command.policies, io)).compiled);
    }
    const recorded = new Map<string, DecisionPoint>();
    const labels: string[] = [];
    if (candidate === undefined) {
      for (const hash of policySetHashesOf(events)) {
        const set = await reader.policySet(hash);
        if (set === undefined) continue;
        recorded.set(hash, createDecisionPoint(set));
        labels.push(`${set.version} (${short(hash)})`);
      }
    }
    const registry = await registryOf(command.tools);
    const budgets = await budgetsOf(command.budgets, env);
    const report = replayRun(command.runId, events, {
      sets: { recorded: (hash) => recorded.get(hash), ...(candidate === undefined ? {} : { candidate }) },
      ...(registry === undefined ? {} : { tool: (name: string, version: string | undefined) => registry.get(name, version) }),
      ...(budgets === undefined ? {} : { budgets }),
    });
    if (command.json) io.out(JSON.stringify(report, null, 2));
    else for (const line of formatReplay(report, labels)) io.out(line);
    return report.divergences.length === 0 ? 0 : 1;
  } catch (error) {
    if (error instanceof Reported) return 1;
    const where = isWritError(error) && error.field !== undefined ? ` (${error.field}${error.rule === undefined ? '' : `: ${error.rule}`})` : '';
    io.err(`[replay] ${describeError(error)}${where}`);
    return 1;
  } finally {
    await reader.close();
  }
}
