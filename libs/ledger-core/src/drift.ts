// Drift: whether the way an agent's use of one tool ends has changed. For each agent and tool, the
// day's live actions are counted per category (status:REASON_CODE of their ActionCompleted) and
// compared with the same counts over the trailing baseline days: the score is the Jensen-Shannon
// divergence of the two distributions (base 2, so 0..1), beside a volume ratio. Pure functions: the
// ledger's drift check reads the counts from ClickHouse, decides here, and emits DriftDetected.
// The definition is normative in docs/analytics.md ("Drift"); the analyst view drift_scores
// computes the same score in SQL (analytics-sql.ts).
import { nameBasedUuid } from '@writ/contracts';
import type { DriftDetected, Metadata } from '@writ/contracts';
import { WritError } from '@writ/errors';
import { dateTime64 } from './projection.ts';

/** How many actions ended one way (a category) on the day measured and over its baseline. */
export interface DriftCategoryCount {
  /** `status:REASON_CODE` of the ActionCompleted (just `status` for completions written before reason codes). */
  readonly category: string;
  readonly actions: number;
  readonly baseline_actions: number;
}

/** One agent's use of one tool on one UTC day, per category. */
export interface DriftCounts {
  readonly tenant_id: string;
  readonly agent_id: string;
  readonly tool: string;
  /** YYYY-MM-DD (UTC). */
  readonly day: string;
  readonly categories: readonly DriftCategoryCount[];
}

export interface DriftScore extends DriftCounts {
  /** Live actions that ended on the day, and over the baseline. */
  readonly actions: number;
  readonly baseline_actions: number;
  readonly baseline_days: number;
  /** Jensen-Shannon divergence (base 2); null without an action on the day or in the baseline. */
  readonly score: number | null;
  /** actions / (baseline_actions / baseline_days); null without a baseline. */
  readonly volume_ratio: number | null;
}

/** When a score is a drift (WRIT_LEDGER_DRIFT_*). */
export interface DriftRule {
  /** A score at or above it is a drift (0 < threshold <= 1). */
  readonly threshold: number;
  /** The days before the day measured that make its baseline. */
  readonly baselineDays: number;
  /** Fewer actions than this on the day, or over the baseline, are too few to tell. */
  readonly minActions: number;
}

function invalid(message: string, field: string, rule: string): WritError {
  return new WritError('INVALID_ARGUMENT', message, { field, rule });
}

/**
 * The Jensen-Shannon divergence, base 2, of two distributions given as counts over the same
 * categories (`p[i]` and `q[i]` count category i): JS(P, Q) = ½ KL(P‖M) + ½ KL(Q‖M), M = ½(P + Q),
 * KL(P‖M) = Σ p_i log2(p_i / m_i) over p_i > 0. 0 when the distributions are the same, 1 when they
 * share no category; symmetric, and finite with categories seen on one side only.
 */
export function jensenShannonDivergence(p: readonly number[], q: readonly number[]): number {
  if (p.length !== q.length) throw invalid(`the distributions have ${p.length} and ${q.length} categories`, 'q', 'as many counts as p');
  for (const [field, counts] of [
    ['p', p],
    ['q', q],
  ] as const) {
    if (counts.some((n) => !Number.isFinite(n) || n < 0)) throw invalid(`${field} has a count that is negative or not a number`, field, 'finite counts >= 0');
  }
  const totalP = p.reduce((sum, n) => sum + n, 0);
  const totalQ = q.reduce((sum, n) => sum + n, 0);
  if (totalP === 0 || totalQ === 0) throw invalid('a distribution without any count has no shape to compare', totalP === 0 ? 'p' : 'q', 'a total > 0');
  let divergence = 0;
  for (let i = 0; i < p.length; i += 1) {
    const pi = (p[i] ?? 0) / totalP;
    const qi = (q[i] ?? 0) / totalQ;
    const mi = (pi + qi) / 2;
    if (pi > 0) divergence += (pi * Math.log2(pi / mi)) / 2;
    if (qi > 0) divergence += (qi * Math.log2(qi / mi)) / 2;
  }
  // Rounding can leave a hair below 0 or above 1.
  return Math.min(1, Math.max(0, divergence));
}

/** The score of one agent and tool on one day: divergence, totals and volume ratio; categories most frequent on the day first. */
export function scoreDrift(counts: DriftCounts, baselineDays: number): DriftScore {
  if (!Number.isInteger(baselineDays) || baselineDays < 1)
    throw invalid(`baselineDays must be a whole number of days >= 1, got ${baselineDays}`, 'baselineDays', 'an integer >= 1');
  const categories = [...counts.categories].sort(
    (a, b) => b.actions - a.actions || b.baseline_actions - a.baseline_actions || (a.category < b.category ? -1 : a.category > b.category ? 1 : 0),
  );
  const actions = categories.reduce((sum, c) => sum + c.actions, 0);
  const baseline = categories.reduce((sum, c) => sum + c.baseline_actions, 0);
  const score =
    actions === 0 || baseline === 0
      ? null
      : jensenShannonDivergence(
          categories.map((c) => c.actions),
          categories.map((c) => c.baseline_actions),
        );
  return {
    ...counts,
    categories,
    actions,
    baseline_actions: baseline,
    baseline_days: baselineDays,
    score,
    volume_ratio: baseline === 0 ? null : actions / (baseline / baselineDays),
  };
}

/** A drift: a score at or above the threshold, with enough actions on the day and in the baseline to tell. */
export function isDrift(score: DriftScore, rule: DriftRule): boolean {
  return score.score !== null && score.score >= rule.threshold && score.actions >= rule.minActions && score.baseline_actions >= rule.minActions;
}

/** What is announced at most once: one agent's use of one tool on one day of one tenant. */
export function driftKey(subject: Pick<DriftCounts, 'tenant_id' | 'agent_id' | 'tool' | 'day'>): string {
  return JSON.stringify([subject.tenant_id, subject.agent_id, subject.tool, subject.day]);
}

/** The DriftDetected's event id: the same for one tenant, agent, tool and day wherever and whenever it is emitted. */
export function driftEventId(subject: Pick<DriftCounts, 'tenant_id' | 'agent_id' | 'tool' | 'day'>): string {
  return nameBasedUuid(['writ:drift', subject.tenant_id, subject.agent_id, subject.tool, subject.day]);
}

/** The DriftDetected announcing a drift; `meta` is stamped by the caller (producer, time) and its event id replaced by driftEventId. */
export function driftDetectedEvent(score: DriftScore, rule: DriftRule, meta: Metadata): DriftDetected {
  if (score.score === null) throw invalid('a score without a baseline or without actions is not a drift', 'score', 'a number');
  return {
    meta: { ...meta, event_id: driftEventId(score), tenant_id: score.tenant_id, run_id: driftRunId(score), action_id: null },
    agent_id: score.agent_id,
    tool: score.tool,
    day: score.day,
    score: score.score,
    threshold: rule.threshold,
    actions: score.actions,
    baseline_actions: score.baseline_actions,
    baseline_days: score.baseline_days,
    volume_ratio: score.volume_ratio,
    categories: score.categories.map((c) => ({ category: c.category, actions: c.actions, baseline_actions: c.baseline_actions })),
  };
}

/** The run id a DriftDetected carries: no run caused it, so it names what it is about. */
export function driftRunId(subject: Pick<DriftCounts, 'agent_id' | 'tool' | 'day'>): string {
  return `drift:${subject.agent_id}:${subject.tool}:${subject.day}`;
}

/** One row of ClickHouse drift_alerts (one per DriftDetected). */
export interface DriftAlertRow {
  readonly event_id: string;
  readonly tenant_id: string;
  readonly agent_id: string;
  readonly tool: string;
  readonly day: string;
  readonly score: number;
  readonly threshold: number;
  readonly actions: number;
  readonly baseline_actions: number;
  readonly baseline_days: number;
  readonly volume_ratio: number | null;
  readonly categories: readonly string[];
  readonly category_actions: readonly number[];
  readonly category_baseline_actions: readonly number[];
  readonly detected_at: string;
}

/** The drift_alerts row of a DriftDetected (detected_at: its meta.occurred_at). */
export function driftAlertRow(event: DriftDetected): DriftAlertRow {
  return {
    event_id: event.meta.event_id,
    tenant_id: event.meta.tenant_id,
    agent_id: event.agent_id,
    tool: event.tool,
    day: event.day,
    score: event.score,
    threshold: event.threshold,
    actions: event.actions,
    baseline_actions: event.baseline_actions,
    baseline_days: event.baseline_days,
    volume_ratio: event.volume_ratio,
    categories: event.categories.map((c) => c.category),
    category_actions: event.categories.map((c) => c.actions),
    category_baseline_actions: event.categories.map((c) => c.baseline_actions),
    detected_at: dateTime64(event.meta.occurred_at),
  };
}

/** The UTC day (YYYY-MM-DD) of a time in milliseconds, and the day `days` before it. */
export function utcDay(ms: number, daysBefore = 0): string {
  return new Date(ms - daysBefore * 86_400_000).toISOString().slice(0, 10);
}
