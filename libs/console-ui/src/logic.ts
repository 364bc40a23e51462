// The console's logic without a DOM: what the views sort, compute and format (unit-tested).
import type { ActionJson } from './types.ts';

/** The tool's risk as the registry declares it; unknown risks sort after low. */
const RISK_RANK: Readonly<Record<string, number>> = { critical: 4, high: 3, medium: 2, low: 1 };

const riskRank = (risk: string | null | undefined): number => RISK_RANK[risk ?? ''] ?? 0;
const timeOf = (iso: string | null | undefined): number => (iso === null || iso === undefined ? Number.POSITIVE_INFINITY : Date.parse(iso));

/**
 * The inbox's order: the riskiest tool first; among equals the request that expires first, then
 * the one waiting longest. Returns a new array.
 */
export function sortInbox(approvals: readonly ActionJson[]): ActionJson[] {
  return [...approvals].sort((a, b) => {
    const ra = a.approval_request;
    const rb = b.approval_request;
    return (
      riskRank(rb?.risk) - riskRank(ra?.risk) ||
      timeOf(ra?.expires_at) - timeOf(rb?.expires_at) ||
      timeOf(ra?.requested_at ?? a.proposed_at) - timeOf(rb?.requested_at ?? b.proposed_at)
    );
  });
}

/** How long until `expiresAt` from `now` (ms): "4m 05s", "1h 02m", "expired", or "no deadline". */
export function timeLeft(expiresAt: string | null | undefined, now: number): string {
  if (expiresAt === null || expiresAt === undefined) return 'no deadline';
  const ms = Date.parse(expiresAt) - now;
  if (!Number.isFinite(ms)) return 'no deadline';
  if (ms <= 0) return 'expired';
  const seconds = Math.floor(ms / 1000);
  const hours = Math.floor(seconds / 3600);
  const minutes = Math.floor((seconds % 3600) / 60);
  const rest = seconds % 60;
  return hours > 0 ? `${hours}h ${String(minutes).padStart(2, '0')}m` : `${minutes}m ${String(rest).padStart(2, '0')}s`;
}

/** Quorum progress of a held action: accepted approvals against what the policy needs. */
export function quorum(action: ActionJson): { have: number; need: number; label: string } {
  const request = action.approval_request;
  const need = request?.needs.count ?? action.approval_requirement?.count ?? 1;
  const have = request?.approved_by.length ?? action.approvals.filter((approval) => approval.accepted === true && approval.verdict === 'approve').length;
  const roles = request?.needs.roles ?? action.approval_requirement?.roles ?? [];
  return { have, need, label: `${have} of ${need} approval${need === 1 ? '' : 's'}${roles.length > 0 ? ` (${roles.join(' or ')})` : ''}` };
}

/** Micro-units of a currency as money: 1_250_000 USD → "USD 1.25". */
export function formatMicros(micros: number | null | undefined, currency: string | null | undefined): string {
  if (micros === null || micros === undefined || !Number.isFinite(micros)) return '–';
  return `${currency ?? ''} ${(micros / 1_000_000).toFixed(2)}`.trim();
}

/** What the gateway shows instead of a sensitive argument (the tool registry's redaction). */
export const REDACTED = '[redacted]';

export interface ArgumentLine {
  readonly path: string;
  readonly value: string;
  readonly masked: boolean;
}

/**
 * Arguments as one line per leaf ("customer.email" → value), sensitive ones masked: the gateway
 * already redacted them (the tool's schema says which), and a null (unknown tool) shows nothing.
 */
export function argumentLines(args: unknown, prefix = ''): ArgumentLine[] {
  if (args === null || args === undefined) return prefix === '' ? [] : [{ path: prefix, value: 'null', masked: false }];
  if (typeof args !== 'object') {
    const masked = args === REDACTED;
    return [{ path: prefix || '(value)', value: masked ? '••••••' : typeof args === 'string' ? args : JSON.stringify(args), masked }];
  }
  const entries = Array.isArray(args) ? args.map((item, index) => [String(index), item] as const) : Object.entries(args as Record<string, unknown>);
  if (entries.length === 0) return [{ path: prefix || '(value)', value: Array.isArray(args) ? '[]' : '{}', masked: false }];
  return entries.flatMap(([key, value]) => argumentLines(value, prefix === '' ? key : `${prefix}.${key}`));
}

export type InboxCommand = 'next' | 'previous' | 'approve' | 'deny' | 'reason';

/** The inbox's keyboard shortcuts (ignored while typing in a field, except Escape handled by the view). */
export const INBOX_KEYS: Readonly<Record<string, InboxCommand>> = {
  j: 'next',
  ArrowDown: 'next',
  k: 'previous',
  ArrowUp: 'previous',
  a: 'approve',
  d: 'deny',
  r: 'reason',
};

export function inboxCommand(key: string, modifiers: { ctrl: boolean; meta: boolean; alt: boolean }, typing: boolean): InboxCommand | undefined {
  if (typing || modifiers.ctrl || modifiers.meta || modifiers.alt) return undefined;
  return INBOX_KEYS[key];
}

/** The selected row after a command, within `count` rows (stays put at the ends; -1 when empty). */
export function moveSelection(selected: number, command: 'next' | 'previous', count: number): number {
  if (count === 0) return -1;
  const current = Math.min(Math.max(selected, 0), count - 1);
  return command === 'next' ? Math.min(current + 1, count - 1) : Math.max(current - 1, 0);
}

export interface Bar {
  readonly label: string;
  readonly value: number;
  /** 0..1 of the chart's height. */
  readonly ratio: number;
}

/** The top of a chart's axis: the smallest 1, 2 or 5 × 10^n at or above the largest value (1 when all are 0). */
export function niceMax(values: readonly number[]): number {
  const max = Math.max(0, ...values.filter(Number.isFinite));
  if (max === 0) return 1;
  const power = 10 ** Math.floor(Math.log10(max));
  for (const step of [1, 2, 5, 10]) if (step * power >= max) return step * power;
  return 10 * power;
}

/** Bars of a chart scaled to its nice maximum. */
export function bars(points: readonly { label: string; value: number }[]): { bars: Bar[]; max: number } {
  const max = niceMax(points.map((point) => point.value));
  return { max, bars: points.map((point) => ({ ...point, ratio: Number.isFinite(point.value) ? Math.max(0, point.value) / max : 0 })) };
}

/**
 * Rows of a daily query (day, series, value) as one stack per day: for "actions and denials over
 * time" (series = decision) and spend per day (series = currency). Days in order, series sorted.
 */
export function pivotDaily(
  rows: readonly Record<string, unknown>[],
  day: string,
  series: string,
  value: string,
): { days: string[]; series: string[]; values: Record<string, Record<string, number>> } {
  const values: Record<string, Record<string, number>> = {};
  const names = new Set<string>();
  for (const row of rows) {
    const d = String(row[day] ?? '');
    const s = String(row[series] ?? '');
    const v = Number(row[value] ?? 0);
    names.add(s);
    const byDay = (values[d] ??= {});
    byDay[s] = (byDay[s] ?? 0) + (Number.isFinite(v) ? v : 0);
  }
  return { days: Object.keys(values).sort(), series: [...names].sort(), values };
}

/** The message to show for a failed API call: the gateway's `{ error: { message, field, rule } }`, else the status. */
export function errorMessage(status: number, body: unknown): string {
  const error = (body as { error?: { message?: unknown; field?: unknown; rule?: unknown } } | null)?.error;
  if (error !== undefined && typeof error.message === 'string') {
    const where = typeof error.field === 'string' ? ` (${error.field}${typeof error.rule === 'string' ? `: ${error.rule}` : ''})` : '';
    return `${error.message}${where}`;
  }
  if (status === 401) return 'that key is not known (or was revoked)';
  if (status === 403) return 'this key may not do that';
  return `the request failed (HTTP ${status})`;
}

/** A row of current_budget_limits (the budgets the budget service announced last, docs/budgets.md). */
export interface BudgetLimit {
  readonly scope: string;
  readonly level: string;
  readonly period: string;
  readonly subject: string;
  readonly window_ms: number | null;
  readonly kind: 'money' | 'tool_calls';
  readonly limit: number;
  readonly thresholds: readonly number[];
  readonly currency: string;
  readonly time_zone: string;
}

/** One budget where it stands in its current period: used against its limit. */
export interface BudgetStanding extends BudgetLimit {
  /** For a default budget ("*"), the agent or tool it is reported for; else the subject. */
  readonly who: string;
  readonly used: number;
  /** used / limit in percent (0 for a limit of 0 with nothing used). */
  readonly percent: number;
}

/** The question for the current budgets (view current_budget_limits), as the ledger's door takes it. */
export const BUDGET_LIMITS_SQL =
  'SELECT scope, level, period, subject, window_ms, kind, limit_value, thresholds_percent, currency, time_zone FROM current_budget_limits ORDER BY position, kind';

const TIME_ZONE = /^[A-Za-z][A-Za-z0-9_+/-]{0,63}$/;

export function budgetLimitOf(row: Record<string, unknown>): BudgetLimit {
  const windowMs = row['window_ms'];
  return {
    scope: String(row['scope'] ?? ''),
    level: String(row['level'] ?? ''),
    period: String(row['period'] ?? ''),
    subject: String(row['subject'] ?? ''),
    window_ms: windowMs === null || windowMs === undefined ? null : Number(windowMs),
    kind: row['kind'] === 'tool_calls' ? 'tool_calls' : 'money',
    limit: Number(row['limit_value'] ?? 0),
    thresholds: Array.isArray(row['thresholds_percent']) ? row['thresholds_percent'].map(Number) : [],
    currency: String(row['currency'] ?? ''),
    time_zone: String(row['time_zone'] ?? 'UTC'),
  };
}

/**
 * The spend of live actions that ended in each budget period now open (the tenant's day, ISO week
 * and month in its time zone, and each rolling window), per agent and tool: money is their settled
 * cost, tool calls the actions that executed (completed or failed). Reservations in flight are not
 * in it (the accountant's writ_budget_used counts them too). Null when the time zone is no zone name.
 */
export function budgetUsageSql(timeZone: string, windowsMs: readonly number[]): string | null {
  if (!TIME_ZONE.test(timeZone)) return null;
  const tz = `'${timeZone}'`;
  const starts: [string, string][] = [
    ['day', `toStartOfDay(now(${tz}))`],
    ['week', `toDateTime(toMonday(now(${tz})), ${tz})`],
    ['month', `toDateTime(toStartOfMonth(now(${tz})), ${tz})`],
    ...[...new Set(windowsMs)]
      .filter((ms) => Number.isSafeInteger(ms) && ms > 0)
      .map((ms): [string, string] => [`w${ms}`, `now() - toIntervalSecond(${Math.ceil(ms / 1000)})`]),
  ];
  const columns = starts.flatMap(([name, start]) => [
    `sumIf(cost_micros, ended_at >= ${start}) AS money_${name}`,
    `countIf(status IN ('completed', 'failed') AND ended_at >= ${start}) AS calls_${name}`,
  ]);
  return `SELECT agent_id, tool, ${columns.join(', ')} FROM endings WHERE run_mode = 'live' AND ended_at >= now() - INTERVAL 32 DAY GROUP BY agent_id, tool`;
}

/**
 * The budgets against their use (rows of budgetUsageSql): a tenant budget sums every row, an agent's
 * or tool's its own; a default ("*") is reported for each agent or tool that used it this period
 * and has no budget of its own of that scope (once, at 0, when none did). Run and concurrent budgets
 * are per run or in flight: left out.
 */
export function budgetStandings(limits: readonly BudgetLimit[], usage: readonly Record<string, unknown>[]): BudgetStanding[] {
  const column = (limit: BudgetLimit): string =>
    `${limit.kind === 'money' ? 'money' : 'calls'}_${limit.period === 'window' ? `w${limit.window_ms ?? 0}` : limit.period}`;
  const standing = (limit: BudgetLimit, who: string, used: number): BudgetStanding => ({
    ...limit,
    who,
    used,
    percent: limit.limit > 0 ? (used / limit.limit) * 100 : used > 0 ? 100 : 0,
  });
  const sum = (rows: readonly Record<string, unknown>[], name: string): number => rows.reduce((total, row) => total + (Number(row[name]) || 0), 0);
  const result: BudgetStanding[] = [];
  for (const limit of limits) {
    if (!['day', 'week', 'month', 'window'].includes(limit.period)) continue;
    const name = column(limit);
    if (limit.level === 'tenant') {
      result.push(standing(limit, '*', sum(usage, name)));
      continue;
    }
    const by = limit.level === 'agent' ? 'agent_id' : limit.level === 'tool' ? 'tool' : undefined;
    if (by === undefined) continue;
    if (limit.subject !== '*') {
      result.push(
        standing(
          limit,
          limit.subject,
          sum(
            usage.filter((row) => row[by] === limit.subject),
            name,
          ),
        ),
      );
      continue;
    }
    const own = new Set(limits.filter((other) => other.scope === limit.scope && other.subject !== '*').map((other) => other.subject));
    const used = new Map<string, number>();
    for (const row of usage) {
      const who = String(row[by] ?? '');
      if (own.has(who)) continue;
      used.set(who, (used.get(who) ?? 0) + (Number(row[name]) || 0));
    }
    const users = [...used].filter(([, value]) => value > 0).sort(([a], [b]) => a.localeCompare(b));
    if (users.length === 0) result.push(standing(limit, '*', 0));
    for (const [who, value] of users) result.push(standing(limit, who, value));
  }
  return result;
}

/** One server-sent event: its name (`message` when none) and its data lines joined. */
export interface StreamEvent {
  readonly event: string;
  readonly data: string;
}

/**
 * Server-sent events out of the text read so far: the complete events (comments, such as the
 * heartbeat, and `retry` lines skipped) and the unfinished rest to prepend to the next chunk.
 */
export function parseSse(text: string): { events: StreamEvent[]; rest: string } {
  const normalized = text.replace(/\r\n?/g, '\n');
  const blocks = normalized.split('\n\n');
  const rest = blocks.pop() ?? '';
  const events: StreamEvent[] = [];
  for (const block of blocks) {
    let event = 'message';
    const data: string[] = [];
    let fields = 0;
    for (const line of block.split('\n')) {
      if (line === '' || line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const name = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (name === 'event') event = value;
      else if (name === 'data') data.push(value);
      else continue;
      fields += 1;
    }
    if (fields > 0 && data.length > 0) events.push({ event, data: data.join('\n') });
  }
  return { events, rest };
}

/** The run id of a `run` event's data; undefined when it is not one. */
export function runOfStreamEvent(event: StreamEvent): string | undefined {
  if (event.event !== 'run') return undefined;
  try {
    const parsed = JSON.parse(event.data) as { run_id?: unknown };
    return typeof parsed.run_id === 'string' ? parsed.run_id : undefined;
  } catch {
    return undefined;
  }
}

/** A trace as the timeline shows it: a link when the gateway has a trace URL template, else the id to copy. */
export function traceDisplay(
  traceId: string | null | undefined,
  traceUrl: string | null | undefined,
): { kind: 'link'; href: string; id: string } | { kind: 'text'; id: string } | { kind: 'none' } {
  if (traceId === null || traceId === undefined || traceId === '') return { kind: 'none' };
  if (traceUrl !== null && traceUrl !== undefined && /^https?:\/\//i.test(traceUrl)) return { kind: 'link', href: traceUrl, id: traceId };
  return { kind: 'text', id: traceId };
}

/** The part of a timeline action the shadow lines read. */
export interface ShadowedAction {
  readonly shadow: boolean;
  readonly status: string;
  readonly decision: string | null;
  readonly reason_code: string | null;
  readonly shadow_results: readonly { readonly policy_id: string; readonly decision: string; readonly determining_policies: readonly string[] }[];
}

/**
 * What the timeline shows apart from the live result: each shadow-mode policy's decision against
 * the enforced one, and for an action of a shadow run, that nothing ran and its outcome is what
 * would have happened.
 */
export function shadowOutcome(action: ShadowedAction): { key: string; text: string; disagrees: boolean }[] {
  const lines = action.shadow_results.map((result) => {
    const disagrees = action.decision !== null && result.decision !== action.decision;
    const by = result.determining_policies.length === 0 ? '' : ` by ${result.determining_policies.join(', ')}`;
    return {
      key: `policy:${result.policy_id}`,
      text: `shadow policy ${result.policy_id} would have decided ${result.decision}${by}${
        action.decision === null ? '' : disagrees ? ` (enforced: ${action.decision})` : ' (agrees)'
      }`,
      disagrees,
    };
  });
  if (action.shadow) {
    lines.unshift({
      key: 'run',
      text: `shadow run: nothing was executed; would have ended ${action.status}${action.reason_code === null ? '' : ` (${action.reason_code})`}`,
      disagrees: false,
    });
  }
  return lines;
}
