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
