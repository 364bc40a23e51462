// Where each configured budget of a tenant stands now: what its counter of the current period has
// used against its cap (the accountant's gauges, writ_budget_used and writ_budget_limit). Run
// budgets are left out (one per run: too many to report), as are budgets without a cap of a kind.
import { capsFor, usedOf } from './decide.ts';
import { DEFAULT_SUBJECT, NOW_PERIOD, WINDOW_BUCKETS, bucketWidth, counterKey, levelOf, periodIds, periodOf, windowCounter } from './model.ts';
import type { BudgetKind, BudgetScope, BudgetState, Counter } from './model.ts';

export interface BudgetStanding {
  readonly scope: Exclude<BudgetScope, 'run'>;
  /** The agent's id, the tool's name, or "*" for the tenant. */
  readonly subject: string;
  readonly kind: BudgetKind;
  /** Settled and reserved in the current period (money in micro-units, or tool calls); in flight for a concurrent budget. */
  readonly used: number;
  readonly limit: number;
}

interface Budget {
  readonly scope: Exclude<BudgetScope, 'run'>;
  readonly subject: string;
  readonly window_ms: number | null;
}

/** A limit's key (`scope|subject` or `scope|subject|window ms`, see limitKey) read back; null for a run's. */
function budgetOfLimitKey(key: string): Budget | null {
  const [scope, subject, windowMs] = key.split('|');
  if (scope === undefined || subject === undefined || scope === 'run') return null;
  return { scope: scope as Exclude<BudgetScope, 'run'>, subject, window_ms: windowMs === undefined ? null : Number(windowMs) };
}

/** The counter of a budget's subject that `now` falls in. */
function counterNow(state: BudgetState, budget: Budget, subject: string, now: number): Counter {
  const period = periodOf(budget.scope);
  if (period === 'window') return windowCounter(budget.scope, subject, budget.window_ms ?? 0, now);
  const id = period === 'concurrent' ? NOW_PERIOD : periodIds(now, state.time_zone)[period as 'day' | 'week' | 'month'];
  return { scope: budget.scope, subject, period: id, key: counterKey(budget.scope, subject, id), window_ms: null };
}

/**
 * The subjects that used a default budget ("*" of an agent or tool scope) in the period `now` falls
 * in: those whose counter of the scope has a key of that period (a window's: a bucket still in
 * the window). One pass over the usage, for every default budget at once.
 */
function subjectsInUse(state: BudgetState, defaults: readonly Budget[], now: number): Map<Budget, Set<string>> {
  const found = new Map<Budget, Set<string>>(defaults.map((budget) => [budget, new Set<string>()]));
  if (defaults.length === 0) return found;
  const periods = periodIds(now, state.time_zone);
  const wanted = new Map<string, { readonly budget: Budget; readonly current: (period: string) => boolean }[]>();
  for (const budget of defaults) {
    const period = periodOf(budget.scope);
    let current: (period: string) => boolean;
    if (period === 'window') {
      const prefix = `w${budget.window_ms}:`;
      const bucket = Math.floor(now / bucketWidth(budget.window_ms ?? 1));
      current = (p) => p.startsWith(prefix) && Number(p.slice(prefix.length)) >= bucket - WINDOW_BUCKETS;
    } else {
      const id = period === 'concurrent' ? NOW_PERIOD : periods[period as 'day' | 'week' | 'month'];
      current = (p) => p === id;
    }
    wanted.set(budget.scope, [...(wanted.get(budget.scope) ?? []), { budget, current }]);
  }
  state.usage.forEach((_usage, key) => {
    const first = key.indexOf('|');
    const last = key.lastIndexOf('|');
    if (first < 0 || last <= first) return;
    const candidates = wanted.get(key.slice(0, first));
    if (candidates === undefined) return;
    const subject = key.slice(first + 1, last);
    const period = key.slice(last + 1);
    for (const { budget, current } of candidates) if (current(period)) found.get(budget)?.add(subject);
  });
  return found;
}

/**
 * Every configured budget of the tenant with a cap, where it stands at `now`: a subject's own
 * budget, the tenant's, and a default agent or tool budget ("*") for each subject that used it in
 * the current period (and has no budget of its own). Two rolling windows of one scope and subject
 * report the fuller one.
 */
export function budgetStandings(state: BudgetState, now: number): BudgetStanding[] {
  const budgets: Budget[] = [];
  state.limits.forEach((_caps, key) => {
    const budget = budgetOfLimitKey(key);
    if (budget !== null) budgets.push(budget);
  });
  const defaults = budgets.filter((b) => b.subject === DEFAULT_SUBJECT && levelOf(b.scope) !== 'tenant');
  const inUse = subjectsInUse(state, defaults, now);
  const standings = new Map<string, BudgetStanding>();
  for (const budget of budgets) {
    const subjects = budget.subject === DEFAULT_SUBJECT && levelOf(budget.scope) !== 'tenant' ? [...(inUse.get(budget) ?? [])] : [budget.subject];
    for (const subject of subjects) {
      const counter = counterNow(state, budget, subject, now);
      const caps = capsFor(state, counter);
      // A subject with a budget of its own is reported under it, not under the default.
      if (budget.subject === DEFAULT_SUBJECT && subject !== DEFAULT_SUBJECT && capsFor(state, { ...counter, subject: DEFAULT_SUBJECT }) !== caps) continue;
      for (const kind of ['money', 'tool_calls'] as const) {
        const limit = kind === 'money' ? caps.money_micros : caps.tool_calls;
        if (limit === null) continue;
        const standing: BudgetStanding = { scope: budget.scope, subject, kind, used: usedOf(state, counter, kind), limit };
        const key = `${budget.scope}|${subject}|${kind}`;
        const before = standings.get(key);
        if (before === undefined || standing.used / standing.limit > before.used / before.limit) standings.set(key, standing);
      }
    }
  }
  return [...standings.values()];
}
