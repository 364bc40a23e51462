import { assertNever } from '@writ/decider';
import type { PersistentMap } from '@writ/decider';

/**
 * The accountant's view of one tenant. Budgets nest run ⊂ agent ⊂ tenant, and a tool has budgets
 * of its own across the tenant. Every budget but the run's counts over a period: a calendar day,
 * ISO week (Monday first) or month in the tenant's time zone, or a rolling window. Each counts
 * money (integer micro-units of the tenant's currency) and tool calls. Data only (PersistentMaps
 * serialise as records), so a state snapshots as JSON.
 */

export type BudgetLevel = 'run' | 'agent' | 'tenant' | 'tool';
export type CalendarPeriod = 'day' | 'week' | 'month';
/**
 * `concurrent` is not a period but a moment: what is reserved and not yet settled, released or
 * lapsed (a concurrency limit on calls in flight, an action awaiting approval included).
 */
export type BudgetPeriod = 'run' | CalendarPeriod | 'window' | 'concurrent';

/** A budget's level and period: `run`, or `<level>_<period>` (`agent_day`, `tool_window`, `tenant_concurrent`, ...). */
export type BudgetScope = 'run' | `${Exclude<BudgetLevel, 'run'>}_${Exclude<BudgetPeriod, 'run'>}`;
export type BudgetKind = 'money' | 'tool_calls';

export const BUDGET_SCOPES: readonly BudgetScope[] = [
  'run',
  'agent_day',
  'agent_week',
  'agent_month',
  'agent_window',
  'agent_concurrent',
  'tool_day',
  'tool_week',
  'tool_month',
  'tool_window',
  'tool_concurrent',
  'tenant_day',
  'tenant_week',
  'tenant_month',
  'tenant_window',
  'tenant_concurrent',
];

export function levelOf(scope: BudgetScope): BudgetLevel {
  return scope === 'run' ? 'run' : (scope.slice(0, scope.indexOf('_')) as BudgetLevel);
}

export function periodOf(scope: BudgetScope): BudgetPeriod {
  return scope === 'run' ? 'run' : (scope.slice(scope.indexOf('_') + 1) as BudgetPeriod);
}

/** A budget's hard caps (null: no cap of that kind) and what it does as it fills. */
export interface Caps {
  readonly money_micros: number | null;
  readonly tool_calls: number | null;
  /** Percentages announced once per period (BudgetThresholdCrossed); absent or null: the service's default. */
  readonly thresholds_percent?: readonly number[] | null;
  /**
   * Degradation: from this percentage of a cap on, only tools without side effects (reads) are
   * reserved for; a write is refused with rule reads_only. Absent or null: no degradation.
   */
  readonly reads_only_at_percent?: number | null;
  /**
   * Degradation, the step before: from this percentage of a cap on, a tool with side effects is
   * reserved for but needs a person's approval before it executes (BudgetReserved.approval_step).
   * Below reads_only_at_percent when both are set. Absent or null: no such step.
   */
  readonly approval_at_percent?: number | null;
}

/** What one counter (a scope for one subject and period) has used. */
export interface Usage {
  readonly settled_micros: number;
  readonly reserved_micros: number;
  readonly settled_calls: number;
  readonly reserved_calls: number;
}

export type ReservationStatus = 'reserved' | 'settled' | 'released' | 'expired' | 'refused';

export interface ReservationRecord {
  readonly reservation_id: string;
  readonly status: ReservationStatus;
  /** null only for a release that arrived for a reservation never seen (kept so a late reserve is ignored). */
  readonly run_id: string | null;
  readonly agent_id: string | null;
  /** The tool reserved for (its budgets count it); null in data of before tool budgets. */
  readonly tool: string | null;
  /** When it was reserved: the periods it counts in, whenever it settles. */
  readonly reserved_at: number | null;
  /** The tenant-local day (YYYY-MM-DD) it counts in. */
  readonly day: string | null;
  readonly amount_micros: number;
  readonly tool_calls: number;
  readonly expires_at: number | null;
  readonly actual_cost_micros: number | null;
  /** When it stopped being outstanding; closed records are forgotten after the retention. */
  readonly closed_at: number | null;
}

/** A rolling window's budget: its counters are buckets of 1/60 of the window (see windowCounters). */
export interface WindowBudget {
  readonly scope: BudgetScope;
  readonly subject: string;
  readonly window_ms: number;
}

export interface BudgetState {
  /** The tenant's currency: of its first limits or reservation. */
  readonly currency: string | null;
  /** IANA time zone of the tenant's calendar periods (default UTC). */
  readonly time_zone: string;
  /** limitKey -> caps; subject "*" is the default for every run, agent or tool without its own. */
  readonly limits: PersistentMap<Caps>;
  /** The rolling-window budgets (few: from configuration), which a reservation's window counters follow. */
  readonly windows: readonly WindowBudget[];
  /** Counter key -> usage (see counterKey). */
  readonly usage: PersistentMap<Usage>;
  /**
   * Every reservation, closed ones until the retention forgets them: at 100 actions a second that
   * is millions, so these are PersistentMaps (a change copies a path, not the collection).
   */
  readonly reservations: PersistentMap<ReservationRecord>;
  /** Reservation id -> expires_at of the outstanding ones (status reserved): what a lapse sweep visits. */
  readonly outstanding: PersistentMap<number | null>;
  /** `${counter key}|${kind}` -> highest threshold percent already announced in that period. */
  readonly thresholds: PersistentMap<number>;
}

/** One counter a reservation counts against. */
export interface Counter {
  readonly scope: BudgetScope;
  /** The run id, the agent id, the tool, or "*" for the tenant. */
  readonly subject: string;
  /** "run", the period's id ("2026-12-07", "2026-W49", "2026-12"), "w<window ms>:<bucket>", or "now" (concurrent). */
  readonly period: string;
  readonly key: string;
  /** For a window's counter: its window; null for the others. */
  readonly window_ms: number | null;
}

export const DEFAULT_SUBJECT = '*';
export const NO_USAGE: Usage = { settled_micros: 0, reserved_micros: 0, settled_calls: 0, reserved_calls: 0 };
export const DEFAULT_TIME_ZONE = 'UTC';
/** A rolling window is counted in this many buckets; the one in progress and this many before it are summed. */
export const WINDOW_BUCKETS = 60;

/** The UTC calendar day of an instant (ms since the epoch), as YYYY-MM-DD. */
export function utcDay(instant: number): string {
  return new Date(instant).toISOString().slice(0, 10);
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/** Whether an IANA time zone name is known to this runtime. */
export function isTimeZone(name: string): boolean {
  try {
    localDate(0, name);
    return true;
  } catch {
    return false;
  }
}

/** The calendar date of an instant in a time zone. Throws RangeError for an unknown zone. */
function localDate(instant: number, timeZone: string): { readonly year: number; readonly month: number; readonly day: number } {
  if (timeZone === DEFAULT_TIME_ZONE) {
    const date = new Date(instant);
    return { year: date.getUTCFullYear(), month: date.getUTCMonth() + 1, day: date.getUTCDate() };
  }
  let format = formatters.get(timeZone);
  if (format === undefined) {
    format = new Intl.DateTimeFormat('en-US', { timeZone, year: 'numeric', month: 'numeric', day: 'numeric' });
    formatters.set(timeZone, format);
  }
  const parts: Record<string, number> = {};
  for (const part of format.formatToParts(instant)) if (part.type !== 'literal') parts[part.type] = Number(part.value);
  return { year: parts['year'] ?? 1970, month: parts['month'] ?? 1, day: parts['day'] ?? 1 };
}

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');

/** The ids of the calendar periods of a local date: "2026-12-07", "2026-W49" (ISO week) and "2026-12". */
function periodIdsOf(year: number, month: number, day: number): Record<CalendarPeriod, string> {
  // ISO 8601: the week with the year's first Thursday is week 1; weeks start on Monday.
  const date = new Date(Date.UTC(year, month - 1, day));
  const weekday = date.getUTCDay() === 0 ? 7 : date.getUTCDay();
  date.setUTCDate(date.getUTCDate() + 4 - weekday);
  const weekYear = date.getUTCFullYear();
  const week = Math.ceil(((date.getTime() - Date.UTC(weekYear, 0, 1)) / 86_400_000 + 1) / 7);
  return { day: `${year}-${pad(month)}-${pad(day)}`, week: `${weekYear}-W${pad(week)}`, month: `${year}-${pad(month)}` };
}

/** Per time zone, the periods of the last minute asked for (zones change offset on whole minutes at most). */
const lastMinute = new Map<string, { readonly minute: number; readonly ids: Record<CalendarPeriod, string> }>();

/** The calendar periods an instant falls in, in a time zone. */
export function periodIds(instant: number, timeZone: string = DEFAULT_TIME_ZONE): Record<CalendarPeriod, string> {
  const minute = Math.floor(instant / 60_000);
  const cached = lastMinute.get(timeZone);
  if (cached?.minute === minute) return cached.ids;
  const { year, month, day } = localDate(instant, timeZone);
  const ids = periodIdsOf(year, month, day);
  lastMinute.set(timeZone, { minute, ids });
  return ids;
}

/** The id of the calendar period an instant falls in, in a time zone. */
export function periodId(period: CalendarPeriod, instant: number, timeZone: string = DEFAULT_TIME_ZONE): string {
  return periodIds(instant, timeZone)[period];
}

export function limitKey(scope: BudgetScope, subject: string, windowMs: number | null = null): string {
  return windowMs === null ? `${scope}|${subject}` : `${scope}|${subject}|${windowMs}`;
}

/** Key of the counter of a scope for a subject in a period (see Counter.period). */
export function counterKey(scope: BudgetScope, subject: string, period: string): string {
  return scope === 'run' ? `run|${subject}` : `${scope}|${subject}|${period}`;
}

function counter(scope: BudgetScope, subject: string, period: string, windowMs: number | null = null): Counter {
  return { scope, subject, period, key: counterKey(scope, subject, period), window_ms: windowMs };
}

const DAY_MS = 86_400_000;
const WINDOW_BUCKET = /\|w(\d+):(-?\d+)$/;

/** Whether a counter key is a rolling window's bucket. */
export function isWindowCounter(key: string): boolean {
  return WINDOW_BUCKET.test(key);
}
/** The most a zone is ahead of UTC (Kiritimati, UTC+14): a local period ends at most this long after its UTC date does. */
const MAX_ZONE_OFFSET_MS = 14 * 3_600_000;

/**
 * When a counter's period is over, in any time zone: the instant after which no reservation is made
 * in it (null for the run's and the concurrent counters, which have no end). A window's bucket is
 * read until its window has passed it (usedOf).
 */
export function counterEnd(key: string): number | null {
  const bucket = WINDOW_BUCKET.exec(key);
  if (bucket !== null) {
    const windowMs = Number(bucket[1]);
    return (Number(bucket[2]) + 1) * bucketWidth(windowMs) + windowMs;
  }
  const day = /_day\|.*\|(\d{4})-(\d{2})-(\d{2})$/.exec(key);
  if (day !== null) return Date.UTC(Number(day[1]), Number(day[2]) - 1, Number(day[3])) + DAY_MS + MAX_ZONE_OFFSET_MS;
  const week = /_week\|.*\|(\d{4})-W(\d{2})$/.exec(key);
  if (week !== null) {
    // ISO week 1 holds January 4th; its Monday starts the week year.
    const jan4 = new Date(Date.UTC(Number(week[1]), 0, 4));
    const monday = jan4.getTime() - ((jan4.getUTCDay() + 6) % 7) * DAY_MS;
    return monday + Number(week[2]) * 7 * DAY_MS + MAX_ZONE_OFFSET_MS;
  }
  const month = /_month\|.*\|(\d{4})-(\d{2})$/.exec(key);
  if (month !== null) return Date.UTC(Number(month[1]), Number(month[2]), 1) + MAX_ZONE_OFFSET_MS;
  return null;
}

/** The width of a window's buckets. */
export function bucketWidth(windowMs: number): number {
  return windowMs / WINDOW_BUCKETS;
}

/** The counter of a window's bucket that an instant falls in. */
export function windowCounter(scope: BudgetScope, subject: string, windowMs: number, instant: number): Counter {
  return counter(scope, subject, `w${windowMs}:${Math.floor(instant / bucketWidth(windowMs))}`, windowMs);
}

/** What a reservation is counted by: who reserved, for what, when. */
export interface Reserver {
  readonly run_id: string;
  readonly agent_id: string;
  readonly tool: string | null;
  readonly at: number;
}

function subjectAt(level: BudgetLevel, who: Reserver): string | null {
  switch (level) {
    case 'run':
      return who.run_id;
    case 'agent':
      return who.agent_id;
    case 'tool':
      return who.tool;
    case 'tenant':
      return DEFAULT_SUBJECT;
    default:
      return assertNever(level, 'budget level');
  }
}

/** The period of a concurrent counter: always the present. */
export const NOW_PERIOD = 'now';

/**
 * Every counter a reservation counts against, innermost first: its run, its agent's day, week,
 * month and calls in flight, its tool's, the tenant's, and the bucket of each rolling-window budget
 * that applies to it (a window of "*" applies to every agent or tool). Calendar and concurrent
 * counters are kept whether or not a budget caps them, so a budget added later counts what was
 * spent (or is in flight) before it.
 */
export function countersOf(state: Pick<BudgetState, 'time_zone' | 'windows'>, who: Reserver): Counter[] {
  const out: Counter[] = [counter('run', who.run_id, 'run')];
  const periods = periodIds(who.at, state.time_zone);
  const seen = new Set<string>();
  for (const level of ['agent', 'tool', 'tenant'] as const) {
    const subject = subjectAt(level, who);
    if (subject === null) continue;
    for (const period of ['day', 'week', 'month'] as const) out.push(counter(`${level}_${period}`, subject, periods[period]));
    out.push(counter(`${level}_concurrent`, subject, NOW_PERIOD));
    for (const window of state.windows) {
      if (window.scope !== `${level}_window` || (window.subject !== DEFAULT_SUBJECT && window.subject !== subject)) continue;
      const bucket = windowCounter(window.scope, subject, window.window_ms, who.at);
      if (!seen.has(bucket.key)) out.push(bucket);
      seen.add(bucket.key);
    }
  }
  return out;
}

/** The counters of a reservation record; none for a record that names no run, agent or instant (a remembered early release). */
export function countersOfRecord(state: Pick<BudgetState, 'time_zone' | 'windows'>, record: ReservationRecord): Counter[] {
  if (record.run_id === null || record.agent_id === null || record.reserved_at === null) return [];
  return countersOf(state, { run_id: record.run_id, agent_id: record.agent_id, tool: record.tool, at: record.reserved_at });
}
