// The report of `writ policy backtest`, pure: the pages' reports merged into one, and the report
// rendered for a terminal (tables, transitions, example actions) or as JSON.
import type { BacktestExample, BacktestReport, BacktestTally } from '@writ/policy-engine';
import { modesSummary } from './policy-diff.ts';
import { short } from './policy-folder.ts';

function addTally(into: Map<string, BacktestTally>, key: string, tally: BacktestTally): void {
  const was = into.get(key);
  if (was === undefined) {
    into.set(key, { replayed: tally.replayed, changed: tally.changed, transitions: { ...tally.transitions } });
    return;
  }
  const transitions: Record<string, number> = { ...was.transitions };
  for (const [transition, n] of Object.entries(tally.transitions)) transitions[transition] = (transitions[transition] ?? 0) + n;
  into.set(key, { replayed: was.replayed + tally.replayed, changed: was.changed + tally.changed, transitions });
}

const sortedRecord = <T>(entries: Map<string, T>): Record<string, T> => Object.fromEntries([...entries].sort(([a], [b]) => a.localeCompare(b)));

/**
 * The report of `a`'s records followed by `b`'s (b: the next page, so later): counts and tallies
 * add up; examples keep the oldest, at most `examplesPerTransition` per transition.
 * `distinctRequests` is the caller's (a cache shared by the pages knows it; the pages do not).
 */
export function mergeBacktestReports(a: BacktestReport, b: BacktestReport, examplesPerTransition: number, distinctRequests: number): BacktestReport {
  const transitions: Record<string, number> = { ...a.transitions };
  for (const [transition, n] of Object.entries(b.transitions)) transitions[transition] = (transitions[transition] ?? 0) + n;
  const byPolicy = new Map(Object.entries(a.byPolicy));
  for (const [id, tally] of Object.entries(b.byPolicy)) addTally(byPolicy, id, tally);
  const byTool = new Map(Object.entries(a.byTool));
  for (const [tool, tally] of Object.entries(b.byTool)) addTally(byTool, tool, tally);
  const shown = new Map<string, number>();
  const examples: BacktestExample[] = [];
  for (const example of [...a.examples, ...b.examples]) {
    const transition = `${example.recorded}->${example.candidate}`;
    const n = shown.get(transition) ?? 0;
    if (n >= examplesPerTransition) continue;
    shown.set(transition, n + 1);
    examples.push(example);
  }
  return {
    candidateHash: b.candidateHash,
    candidateVersion: b.candidateVersion,
    total: a.total + b.total,
    replayed: a.replayed + b.replayed,
    skipped: a.skipped + b.skipped,
    unchanged: a.unchanged + b.unchanged,
    changed: a.changed + b.changed,
    reasonChanged: a.reasonChanged + b.reasonChanged,
    transitions,
    byPolicy: sortedRecord(byPolicy),
    byTool: sortedRecord(byTool),
    examples,
    distinctRequests,
  };
}

/** The report of no decision. */
export function emptyReport(candidateHash: string, candidateVersion: string): BacktestReport {
  return {
    candidateHash,
    candidateVersion,
    total: 0,
    replayed: 0,
    skipped: 0,
    unchanged: 0,
    changed: 0,
    reasonChanged: 0,
    transitions: {},
    byPolicy: {},
    byTool: {},
    examples: [],
    distinctRequests: 0,
  };
}

export interface CandidateSummary {
  readonly dir: string;
  readonly hash: string;
  readonly version: string;
  readonly policies: number;
  readonly modes: Readonly<Record<string, string>>;
  readonly cases: number;
}

/** A backtest's outcome: the report, and what it was run on. */
export interface BacktestRun {
  readonly report: BacktestReport;
  readonly candidate: CandidateSummary;
  readonly source: string;
  readonly since: number;
  readonly sinceLabel: string;
  readonly until: number;
  /** undefined: every tenant (ClickHouse) or the key's own (the query door). */
  readonly tenant: string | undefined;
  readonly door: boolean;
  readonly skipped: { readonly beforeV5: number; readonly withoutRequest: number };
  readonly aboutNoAction: number;
  readonly readMs: number;
  readonly replayMs: number;
  /** From the first page asked for to the last decision replayed (the candidate's validation before it is not counted). */
  readonly elapsedMs: number;
}

// ---- the report, for people ----

export const count = (n: number): string => n.toLocaleString('en-US');
export const iso = (ms: number): string => new Date(ms).toISOString();
const arrow = (transition: string): string => transition.replace('->', ' \u2192 ');
const perSecond = (n: number, ms: number): string => (ms > 0 ? count(Math.round((n * 1000) / ms)) : '\u2014');
const seconds = (ms: number): string => `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;

/** Columns: the first left-aligned, the others right-aligned; two spaces between. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const widths = header.map((cell, i) => Math.max(cell.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

/** Transitions, most frequent first (then by name). */
function transitionOrder(transitions: Readonly<Record<string, number>>): string[] {
  return Object.entries(transitions)
    .sort(([a, m], [b, n]) => n - m || a.localeCompare(b))
    .map(([transition]) => transition);
}

function tallyTable(first: string, tallies: Readonly<Record<string, BacktestTally>>, columns: readonly string[], withReplayed: boolean): string[] {
  const entries = Object.entries(tallies).sort(([a, x], [b, y]) => y.changed - x.changed || (withReplayed ? y.replayed - x.replayed : 0) || a.localeCompare(b));
  return table(
    [first, ...(withReplayed ? ['replayed'] : []), 'changed', ...columns.map((t) => t.replace('->', '\u2192'))],
    entries.map(([name, tally]) => [
      name === '' ? '(unknown)' : name,
      ...(withReplayed ? [count(tally.replayed)] : []),
      count(tally.changed),
      ...columns.map((t) => count(tally.transitions[t] ?? 0)),
    ]),
  ).map((line) => `  ${line}`);
}

const policiesText = (ids: readonly string[]): string => (ids.length === 0 ? 'no policy: default deny or a refusal' : ids.join(', '));

/** The report as lines for a terminal. */
export function formatBacktest(run: BacktestRun): string[] {
  const { report, candidate } = run;
  const lines: string[] = [];
  lines.push(
    `backtest of ${candidate.dir}: hash ${short(candidate.hash)}, version ${candidate.version}, ${candidate.policies} policies (${modesSummary(candidate.modes)}), ${candidate.cases}/${candidate.cases} cases pass`,
  );
  const tenant = run.tenant !== undefined ? `tenant ${run.tenant}` : run.door ? 'the key\u2019s tenant' : 'every tenant';
  lines.push(`recorded decisions of ${tenant} from ${iso(run.since)} (--since ${run.sinceLabel}) to ${iso(run.until)}, read from ${run.source}`);
  lines.push('');
  if (report.total === 0) {
    lines.push('no PolicyDecided was recorded in the window: nothing to replay (a longer --since? another --tenant?)');
  } else {
    const skippedWhy: string[] = [];
    if (run.skipped.beforeV5 > 0)
      skippedWhy.push(`${count(run.skipped.beforeV5)} recorded before PolicyDecided v5, which carries the request Cedar saw (request_json)`);
    if (run.skipped.withoutRequest > 0)
      skippedWhy.push(`${count(run.skipped.withoutRequest)} refused before Cedar: no request could be built (e.g. an unknown tool)`);
    const share = report.replayed === 0 ? '' : `${((report.changed * 100) / report.replayed).toFixed(report.changed === 0 ? 0 : 2)} % of those replayed`;
    const counts: [string, number, string][] = [
      ['decisions read', report.total, ''],
      ['  skipped', report.skipped, skippedWhy.join('; ')],
      ['  replayed', report.replayed, ''],
      ['    unchanged', report.unchanged, report.reasonChanged === 0 ? '' : `${count(report.reasonChanged)} of them with other determining policies`],
      ['    changed', report.changed, share],
    ];
    const width = Math.max(...counts.map(([, n]) => count(n).length));
    for (const [label, n, why] of counts) lines.push(`${label.padEnd(16)}${count(n).padStart(width)}${why === '' ? '' : `  (${why})`}`);
    if (run.aboutNoAction > 0) lines.push(`(${count(run.aboutNoAction)} PolicyDecided about no action left out)`);
    const transitions = transitionOrder(report.transitions);
    lines.push('');
    if (report.changed === 0) {
      lines.push('no recorded decision would change under this policy set');
    } else {
      lines.push('transitions (recorded \u2192 candidate):');
      const width = Math.max(...transitions.map((t) => arrow(t).length));
      for (const t of transitions) lines.push(`  ${arrow(t).padEnd(width)}  ${count(report.transitions[t] ?? 0)}`);
      lines.push('');
      lines.push('by policy (the policies determining a changed decision, recorded or candidate):');
      lines.push(...tallyTable('policy', report.byPolicy, transitions, false));
    }
    lines.push('');
    lines.push('by tool:');
    lines.push(...tallyTable('tool', report.byTool, transitions, true));
    if (report.examples.length > 0) {
      lines.push('');
      lines.push('examples (oldest first, per transition; GET /v1/runs/<run id> on the gateway shows the run):');
      for (const t of transitions) {
        for (const example of report.examples.filter((e) => `${e.recorded}->${e.candidate}` === t)) {
          lines.push(
            `  ${arrow(t)}  ${iso(example.occurredAt)}  tenant ${example.tenant}  ${example.tool}  action ${example.actionId}  run ${example.runId}  /v1/runs/${encodeURIComponent(example.runId)}`,
          );
          lines.push(
            `      recorded ${example.recorded} by ${policiesText(example.recordedPolicies)}; candidate ${example.candidate} by ${policiesText(example.candidatePolicies)}`,
          );
        }
      }
    }
  }
  lines.push('');
  lines.push(
    `elapsed ${seconds(run.elapsedMs)} (reading ${seconds(run.readMs)}, replaying ${seconds(run.replayMs)}): ${perSecond(report.total, run.elapsedMs)} decisions/s overall, ${perSecond(report.replayed, run.replayMs)}/s replayed; ${count(report.distinctRequests)} distinct requests put to Cedar`,
  );
  return lines;
}

/** The report as JSON: backtest()'s fields at the top, with what it was run on and the timings. */
export function backtestJson(run: BacktestRun): Record<string, unknown> {
  return {
    ...run.report,
    candidate: run.candidate,
    source: run.source,
    tenant: run.tenant ?? null,
    window: { since: iso(run.since), until: iso(run.until), since_flag: run.sinceLabel },
    skippedBecause: { beforeV5: run.skipped.beforeV5, withoutRequest: run.skipped.withoutRequest },
    aboutNoAction: run.aboutNoAction,
    timing: {
      elapsedMs: Math.round(run.elapsedMs),
      readMs: Math.round(run.readMs),
      replayMs: Math.round(run.replayMs),
      decisionsPerSecond: run.elapsedMs > 0 ? Math.round((run.report.total * 1000) / run.elapsedMs) : null,
      replayedPerSecond: run.replayMs > 0 ? Math.round((run.report.replayed * 1000) / run.replayMs) : null,
    },
  };
}
