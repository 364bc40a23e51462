// `writ eval run` puts every eval case (evals/**/*.json, docs/evals.md) to the current policies
// (real Cedar) and tool registry and fails on a regression, with a readable diff; `writ eval
// capture` writes a case from a recorded run, so an incident becomes a regression case.
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { WritError, describeError, isWritError } from '@writ/errors';
import { createDecisionPoint, loadPolicySet } from '@writ/policy-engine';
import { loadToolRegistry } from '@writ/tools';
import { captureCase } from './eval-capture.ts';
import { budgetAnswerText, evaluateCase, parseEvalCase } from './eval-case.ts';
import type { CaseResult, EvalCase, EvalTarget, ProposalAnswer } from './eval-case.ts';
import { parseFlags } from './ledger-source.ts';
import { Reported } from './policy-folder.ts';
import type { Fetch } from './policy.ts';
import { DEFAULT_BUDGETS_FILE, budgetsOf, readRun, registryOf } from './replay.ts';
import type { RunBudgets } from './run-budget.ts';
import { SOURCE_FLAGS, SOURCE_USAGE, runReader, runSourceOf } from './run-record.ts';
import type { CliIo } from './verify.ts';

export const EVAL_USAGE = `usage: writ eval run [PATH...] [--policies DIR] [--tools DIR] [--budgets FILE] [--json]
       writ eval capture --run RUN_ID --name NAME [--action ACTION_ID]... [--description TEXT] [--out DIR] [--force]
                         [--policies DIR] [--tools DIR] [--budgets FILE] [source flags]
  run: every case under the PATHs (files or folders of *.json; default evals/) put to the policies
       of --policies (default policies/) with real Cedar, the registry of --tools (default tools/)
       and the accountant on the budgets of --budgets (default WRIT_BUDGET_LIMITS_FILE, else
       ${DEFAULT_BUDGETS_FILE}): the tool contract's verdict, the decision, the approvals, the
       budget's answer. A case that misses an expectation is printed with what it expected and what
       it got. Exit 0 all pass, 1 a regression (or an invalid case), 2 usage error.
  capture: writes a case from a recorded run to DIR/NAME.json (--out, default evals/): its actions
       (every one, or each --action) with their recorded context and answers (the run's own budget's
       too), sensitive values masked; then says whether the current policies and budgets still
       answer it so.
${SOURCE_USAGE}`;

const CASE_NAME = /^[a-z0-9][a-z0-9._-]{0,127}$/;

export interface LoadedCase {
  readonly file: string;
  readonly evalCase?: EvalCase;
  /** Why the file is no case (unreadable JSON, a field breaking a rule). */
  readonly error?: string;
}

async function jsonFiles(path: string): Promise<string[]> {
  const info = await stat(path);
  if (!info.isDirectory()) return [path];
  const files: string[] = [];
  for (const entry of (await readdir(path, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
    const child = join(path, entry.name);
    if (entry.isDirectory()) files.push(...(await jsonFiles(child)));
    else if (entry.name.endsWith('.json')) files.push(child);
  }
  return files;
}

/** The cases under the paths (files or folders, recursively), each parsed or with why it is invalid; names must be unique. */
export async function loadEvalCases(paths: readonly string[]): Promise<LoadedCase[]> {
  const loaded: LoadedCase[] = [];
  const byName = new Map<string, string>();
  for (const path of paths) {
    for (const file of await jsonFiles(path)) {
      try {
        const evalCase = parseEvalCase(JSON.parse(await readFile(file, 'utf8')));
        const other = byName.get(evalCase.name);
        if (other !== undefined)
          throw new WritError('EVAL_CASE_INVALID', `name "${evalCase.name}" is the name of ${other} too`, { field: 'name', rule: 'unique' });
        byName.set(evalCase.name, file);
        loaded.push({ file, evalCase });
      } catch (error) {
        loaded.push({ file, error: describeError(error) });
      }
    }
  }
  return loaded;
}

/** The current policies (compiled, real Cedar), tool registry and budgets file (the budget expectations' judge). */
export async function evalTarget(
  policies: string,
  tools: string,
  budgets?: RunBudgets,
): Promise<EvalTarget & { readonly hash: string; readonly version: string }> {
  const set = await loadPolicySet(policies);
  const registry = loadToolRegistry(tools);
  return {
    point: createDecisionPoint(set),
    tool: (name, version) => registry.get(name, version),
    ...(budgets === undefined ? {} : { budgets }),
    hash: set.hash,
    version: set.version,
  };
}

function answerText(answer: ProposalAnswer): string {
  if (answer.validation !== 'valid') return `${answer.validation.code} at ${answer.validation.field}`;
  const d = answer.after_approvals ?? answer.decision;
  const budget = answer.budget === undefined ? '' : `; budget: ${budgetAnswerText(answer.budget)}`;
  return d === undefined ? `valid${budget}` : `${d.decision} by [${d.determining_policies.join(', ')}]${budget}`;
}

/** A case's lines: ok, or FAIL with each proposal's missed expectations under it. */
export function caseLines(file: string, evalCase: EvalCase, result: CaseResult): string[] {
  if (result.passed) return [`  ok    ${evalCase.name}  (${file})`];
  const lines = [`  FAIL  ${evalCase.name}  (${file})`, `        ${evalCase.description}`];
  for (const proposal of result.proposals) {
    if (proposal.problems.length === 0) continue;
    const p = evalCase.proposals[proposal.index];
    lines.push(`        proposals[${proposal.index}] ${proposal.tool}${p?.version === undefined ? '' : `@${p.version}`} ${JSON.stringify(p?.arguments ?? {})}`);
    for (const problem of proposal.problems) lines.push(`          ${problem}`);
    lines.push(`          (the current policies answer: ${answerText(proposal.answer)})`);
  }
  return lines;
}

async function runCases(args: readonly string[], io: CliIo, env: Readonly<Record<string, string | undefined>>): Promise<number> {
  const json = args.includes('--json');
  const rest = args.filter((a) => a !== '--json');
  const paths: string[] = [];
  while (rest[0] !== undefined && !rest[0].startsWith('--')) paths.push(rest.shift() as string);
  const flags = parseFlags(rest, ['policies', 'tools', 'budgets']);
  if (paths.length === 0) paths.push('evals');
  for (const path of paths) {
    if (!existsSync(path)) throw new WritError('USAGE', `${path} does not exist`, { field: 'PATH', rule: 'a case file or a folder of cases' });
  }
  const target = await evalTarget(flags.get('policies') ?? 'policies', flags.get('tools') ?? 'tools', await budgetsOf(flags.get('budgets'), env));
  const cases = await loadEvalCases(paths);
  let failed = 0;
  const results: { file: string; name?: string; passed: boolean; error?: string; result?: CaseResult }[] = [];
  const lines: string[] = [
    `[eval] ${cases.length} case(s) from ${paths.join(', ')} against the policies ${target.version} (${target.hash.slice(0, 12)}), the tools of ${flags.get('tools') ?? 'tools'} and the budgets of ${target.budgets?.source ?? '(no budgets file)'}`,
  ];
  for (const loaded of cases) {
    const file = relative('.', loaded.file) || loaded.file;
    if (loaded.evalCase === undefined) {
      failed++;
      lines.push(`  FAIL  ${file}: not a valid case: ${loaded.error ?? ''}`);
      results.push({ file, passed: false, error: loaded.error ?? '' });
      continue;
    }
    const result = evaluateCase(loaded.evalCase, target);
    if (!result.passed) failed++;
    lines.push(...caseLines(file, loaded.evalCase, result));
    results.push({ file, name: loaded.evalCase.name, passed: result.passed, result });
  }
  lines.push(`[eval] ${cases.length - failed} passed, ${failed} failed`);
  if (json) io.out(JSON.stringify({ policy_set_hash: target.hash, passed: cases.length - failed, failed, cases: results }, null, 2));
  else for (const line of lines) io.out(line);
  return failed === 0 ? 0 : 1;
}

async function capture(args: readonly string[], io: CliIo, env: Readonly<Record<string, string | undefined>>, fetchFn: Fetch | undefined): Promise<number> {
  const force = args.includes('--force');
  const actions: string[] = [];
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (arg === '--force') continue;
    if (arg === '--action') {
      const value = args[i + 1];
      if (value === undefined || value.startsWith('--'))
        throw new WritError('USAGE', '--action needs a value', { field: '--action', rule: 'an action id of the run' });
      actions.push(value);
      i++;
    } else rest.push(arg);
  }
  const flags = parseFlags(rest, ['run', 'name', 'description', 'out', 'policies', 'tools', 'budgets', ...SOURCE_FLAGS]);
  const runId = flags.get('run');
  const name = flags.get('name');
  if (runId === undefined) throw new WritError('USAGE', '--run is required: the recorded run to capture', { field: '--run', rule: 'a run id' });
  if (name === undefined || !CASE_NAME.test(name)) {
    throw new WritError('USAGE', `--name ${name === undefined ? 'is required' : `${JSON.stringify(name)} is not a case name`}`, {
      field: '--name',
      rule: '1-128 lower-case letters, digits, ".", "_" or "-" (the file is DIR/NAME.json)',
    });
  }
  const source = runSourceOf(flags, env);
  const file = join(flags.get('out') ?? 'evals', `${name}.json`);
  if (existsSync(file) && !force) {
    io.err(`[eval] ${file} exists: give another --name, or --force to replace it`);
    return 1;
  }
  const reader = runReader(source, fetchFn);
  let captured: ReturnType<typeof captureCase>;
  try {
    const events = await readRun(reader, runId, io, 'eval');
    if (events === undefined) return 1;
    const registry = await registryOf(flags.get('tools'));
    captured = captureCase(events, {
      runId,
      name,
      description: flags.get('description') ?? `captured from run ${runId}`,
      ...(actions.length === 0 ? {} : { actions }),
      ...(registry === undefined ? {} : { tool: (tool: string, version: string | undefined) => registry.get(tool, version) }),
    });
  } finally {
    await reader.close();
  }
  for (const line of captured.skipped) io.err(`[eval] left out: ${line}`);
  await mkdir(flags.get('out') ?? 'evals', { recursive: true });
  await writeFile(file, `${JSON.stringify(captured.evalCase, null, 2)}\n`);
  io.out(`[eval] wrote ${file}: ${captured.evalCase.proposals.length} proposal(s) of run ${runId}`);
  const target = await evalTarget(flags.get('policies') ?? 'policies', flags.get('tools') ?? 'tools', await budgetsOf(flags.get('budgets'), env));
  const result = evaluateCase(captured.evalCase, target);
  if (result.passed) io.out(`[eval] the current policies (${target.version}, ${target.hash.slice(0, 12)}) and budgets answer it as recorded`);
  else {
    io.out('[eval] the current policies or budgets answer it otherwise than recorded (writ eval run will fail on it until they agree, or the case is edited):');
    for (const line of caseLines(file, captured.evalCase, result).slice(1)) io.out(line);
  }
  return 0;
}

/** Runs `writ eval run|capture <args>`; returns the exit code. */
export async function runEval(
  args: readonly string[],
  io: CliIo = { out: (l) => console.log(l), err: (l) => console.error(l) },
  env: Readonly<Record<string, string | undefined>> = process.env,
  deps: { readonly fetch?: Fetch } = {},
): Promise<number> {
  const [verb, ...rest] = args;
  try {
    if (verb === 'run') return await runCases(rest, io, env);
    if (verb === 'capture') return await capture(rest, io, env, deps.fetch);
    throw new WritError('USAGE', `unknown eval verb ${JSON.stringify(verb ?? '')}`, { field: 'VERB', rule: 'run or capture' });
  } catch (error) {
    if (error instanceof Reported) return 1;
    if (isWritError(error, 'USAGE')) {
      io.err(`${describeError(error)}${error.rule === undefined ? '' : ` (${error.rule})`}`);
      io.err(EVAL_USAGE);
      return 2;
    }
    const where = isWritError(error) && error.field !== undefined ? ` (${error.field}${error.rule === undefined ? '' : `: ${error.rule}`})` : '';
    io.err(`[eval] ${describeError(error)}${where}`);
    return 1;
  }
}
