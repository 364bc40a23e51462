// The operator's budgets (WRIT_BUDGET_LIMITS_FILE): per tenant a currency and a time zone, daily caps
// for the tenant, daily caps per agent ("*" for every agent without its own), default caps per run,
// and a list of budgets of any level (tenant, agent, tool, run) and period (day, week, month in the
// tenant's time zone, or a rolling window). Validated whole at boot; a bad value names its path.
import { parseDurationMs } from '@writ/config';
import { parseMoneyMicros } from '@writ/contracts';
import { WritError } from '@writ/errors';
import type { SetLimits, SetTimeZone } from './commands.ts';
import { BUDGET_SCOPES, isTimeZone } from './model.ts';
import type { BudgetScope, Caps } from './model.ts';

/** One entry of a tenant's `budgets` list. */
export interface BudgetEntry {
  readonly scope: BudgetScope;
  /** An agent id or tool, "*" for every one without its own; "*" for the tenant. */
  readonly subject: string;
  readonly window_ms: number | null;
  readonly caps: Caps;
}

export interface TenantBudgets {
  readonly currency: string;
  /** IANA time zone of the calendar periods; null: UTC. */
  readonly time_zone: string | null;
  /** Caps of the whole tenant per UTC day. */
  readonly daily: Caps | null;
  /** Caps per agent per UTC day; key "*": every agent without its own entry. */
  readonly agents: Readonly<Record<string, Caps>>;
  /** Caps of every run of the tenant (a RunStarted with limits overrides them for its run). */
  readonly run: Caps | null;
  readonly budgets: readonly BudgetEntry[];
}

export interface BudgetsFile {
  readonly tenants: Readonly<Record<string, TenantBudgets>>;
}

const CURRENCY = /^[A-Z]{3}$/;

function invalid(field: string, rule: string, value?: unknown): WritError {
  const got = value === undefined ? '' : `, got ${JSON.stringify(value)}`;
  return new WritError('BUDGETS_FILE_INVALID', `budgets file: ${field} ${rule}${got}`, { field, rule });
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function onlyKeys(value: Record<string, unknown>, allowed: readonly string[], path: string): void {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) throw invalid(`${path}.${key}`, `is not a known field (expected ${allowed.join(', ')})`);
  }
}

/** "12.50" (currency units, up to 6 decimals) -> 12500000 micro-units, exactly. */
export function moneyToMicros(text: string): number {
  const micros = parseMoneyMicros(text);
  if (micros === undefined) throw invalid('money', 'must be a decimal amount such as "12.50" (up to 6 decimals), not too large', text);
  return micros;
}

function parseCaps(value: unknown, path: string): Caps {
  if (!isObject(value)) throw invalid(path, 'must be an object with money and/or tool_calls', value);
  onlyKeys(value, ['money', 'money_micros', 'tool_calls', 'thresholds', 'approval_at', 'reads_only_at'], path);
  if (value['money'] !== undefined && value['money_micros'] !== undefined) throw invalid(path, 'must give money or money_micros, not both');
  let money: number | null = null;
  if (value['money'] !== undefined) {
    if (typeof value['money'] !== 'string') throw invalid(`${path}.money`, 'must be a decimal string such as "5.00"', value['money']);
    try {
      money = moneyToMicros(value['money']);
    } catch {
      throw invalid(`${path}.money`, 'must be a decimal string with up to 6 decimals such as "5.00"', value['money']);
    }
  } else if (value['money_micros'] !== undefined) {
    const micros = value['money_micros'];
    if (typeof micros !== 'number' || !Number.isSafeInteger(micros) || micros < 0)
      throw invalid(`${path}.money_micros`, 'must be a whole number from 0', micros);
    money = micros;
  }
  let calls: number | null = null;
  if (value['tool_calls'] !== undefined) {
    const count = value['tool_calls'];
    if (typeof count !== 'number' || !Number.isSafeInteger(count) || count < 0) throw invalid(`${path}.tool_calls`, 'must be a whole number from 0', count);
    calls = count;
  }
  if (money === null && calls === null) throw invalid(path, 'must set money (or money_micros) or tool_calls');
  const percent = (raw: unknown, field: string, max: number): number => {
    if (typeof raw !== 'number' || !Number.isSafeInteger(raw) || raw < 1 || raw > max) throw invalid(field, `must be a whole percentage from 1 to ${max}`, raw);
    return raw;
  };
  let thresholds: number[] | null = null;
  if (value['thresholds'] !== undefined) {
    const raw = value['thresholds'];
    if (!Array.isArray(raw)) throw invalid(`${path}.thresholds`, 'must be a list of percentages such as [50, 80, 100]', raw);
    thresholds = raw.map((item, i) => percent(item, `${path}.thresholds[${i}]`, 1000));
    if (new Set(thresholds).size !== thresholds.length) throw invalid(`${path}.thresholds`, 'must not repeat a percentage', raw);
  }
  const readsOnlyAt = value['reads_only_at'] === undefined ? null : percent(value['reads_only_at'], `${path}.reads_only_at`, 100);
  const approvalAt = value['approval_at'] === undefined ? null : percent(value['approval_at'], `${path}.approval_at`, 100);
  if (approvalAt !== null && readsOnlyAt !== null && approvalAt >= readsOnlyAt) {
    throw invalid(`${path}.approval_at`, `must be below reads_only_at (${readsOnlyAt}): past that step writes are refused, not approved`, approvalAt);
  }
  return {
    money_micros: money,
    tool_calls: calls,
    ...(thresholds === null ? {} : { thresholds_percent: thresholds }),
    ...(readsOnlyAt === null ? {} : { reads_only_at_percent: readsOnlyAt }),
    ...(approvalAt === null ? {} : { approval_at_percent: approvalAt }),
  };
}

const LEVELS = ['tenant', 'agent', 'tool', 'run'] as const;
const PERIODS = ['day', 'week', 'month', 'concurrent'] as const;

/** "90m", "1h", "7d" -> milliseconds (whole minutes, up to 366 days). */
export function windowToMs(text: unknown, path: string): number {
  const ms = parseDurationMs(text, 'mhd');
  if (ms === undefined || ms > 366 * 86_400_000) throw invalid(path, 'must be a length such as "90m", "1h" or "7d" (at most 366 days)', text);
  return ms;
}

function parseEntry(value: unknown, path: string): BudgetEntry {
  if (!isObject(value)) throw invalid(path, 'must be an object with scope, period or window, and caps', value);
  const { scope: level, subject: rawSubject, period, window, ...caps } = value;
  if (typeof level !== 'string' || !(LEVELS as readonly string[]).includes(level)) throw invalid(`${path}.scope`, `must be one of ${LEVELS.join(', ')}`, level);
  if (rawSubject !== undefined && (typeof rawSubject !== 'string' || rawSubject.trim() === ''))
    throw invalid(`${path}.subject`, 'must be a non-empty string', rawSubject);
  const subject = rawSubject ?? '*';
  if (level === 'tenant' && subject !== '*') throw invalid(`${path}.subject`, 'must be omitted for the tenant (the tenant is the budget itself)', subject);
  if ((period === undefined) === (window === undefined)) throw invalid(path, 'must set exactly one of period and window');
  let scope: BudgetScope;
  let windowMs: number | null = null;
  if (level === 'run') {
    if (period !== 'run') throw invalid(`${path}.period`, 'must be "run" for the run scope (a run counts over its whole life)', period);
    scope = 'run';
  } else if (window !== undefined) {
    windowMs = windowToMs(window, `${path}.window`);
    scope = `${level}_window` as BudgetScope;
  } else {
    if (typeof period !== 'string' || !(PERIODS as readonly string[]).includes(period))
      throw invalid(`${path}.period`, `must be one of ${PERIODS.join(', ')}`, period);
    scope = `${level}_${period}` as BudgetScope;
  }
  if (!BUDGET_SCOPES.includes(scope)) throw invalid(path, 'is not a known budget', scope);
  if (period === 'concurrent' && (caps['thresholds'] !== undefined || caps['reads_only_at'] !== undefined || caps['approval_at'] !== undefined)) {
    throw invalid(path, 'must not set thresholds, approval_at or reads_only_at for a concurrent budget (what is in flight has no period to fill)');
  }
  return { scope, subject, window_ms: windowMs, caps: parseCaps(caps, path) };
}

function parseTenant(value: unknown, path: string): TenantBudgets {
  if (!isObject(value)) throw invalid(path, 'must be an object', value);
  onlyKeys(value, ['currency', 'time_zone', 'daily', 'agents', 'run', 'budgets'], path);
  const currency = value['currency'];
  if (typeof currency !== 'string' || !CURRENCY.test(currency)) throw invalid(`${path}.currency`, 'must be an ISO 4217 code such as "USD"', currency);
  const timeZone = value['time_zone'];
  if (timeZone !== undefined && (typeof timeZone !== 'string' || !isTimeZone(timeZone))) {
    throw invalid(`${path}.time_zone`, 'must be an IANA time zone such as "Europe/Berlin"', timeZone);
  }
  const budgets: BudgetEntry[] = [];
  if (value['budgets'] !== undefined) {
    const raw = value['budgets'];
    if (!Array.isArray(raw)) throw invalid(`${path}.budgets`, 'must be a list of budgets', raw);
    raw.forEach((entry, i) => budgets.push(parseEntry(entry, `${path}.budgets[${i}]`)));
  }
  const agents: Record<string, Caps> = {};
  if (value['agents'] !== undefined) {
    const raw = value['agents'];
    if (!isObject(raw)) throw invalid(`${path}.agents`, 'must be an object of agent id -> { daily }', raw);
    for (const [agent, entry] of Object.entries(raw)) {
      const agentPath = `${path}.agents.${agent}`;
      if (agent.trim() === '') throw invalid(`${path}.agents`, 'must not have an empty agent id');
      if (!isObject(entry)) throw invalid(agentPath, 'must be an object with daily', entry);
      onlyKeys(entry, ['daily'], agentPath);
      Object.defineProperty(agents, agent, { value: parseCaps(entry['daily'], `${agentPath}.daily`), enumerable: true });
    }
  }
  const tenant: TenantBudgets = {
    currency,
    time_zone: timeZone ?? null,
    daily: value['daily'] === undefined ? null : parseCaps(value['daily'], `${path}.daily`),
    agents,
    run: value['run'] === undefined ? null : parseCaps(value['run'], `${path}.run`),
    budgets,
  };
  // One budget per scope, subject and window, whichever way it was written.
  const seen = new Map<string, string>();
  for (const [i, command] of limitCommandsOf(tenant, 0).entries()) {
    if (command.type !== 'SetLimits') continue;
    const id = `${command.scope}|${command.subject ?? '*'}|${command.window_ms ?? ''}`;
    const where = seen.get(id);
    if (where !== undefined)
      throw invalid(`${path}.budgets`, `must not set the ${command.scope} budget of ${command.subject ?? '*'} twice (also set by entry ${where})`);
    seen.set(id, String(i));
  }
  return tenant;
}

/** Parses and validates a budgets file; throws BUDGETS_FILE_INVALID naming the field. */
export function parseBudgetsFile(text: string): BudgetsFile {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw invalid('(file)', `must be JSON (${error instanceof Error ? error.message : String(error)})`);
  }
  if (!isObject(raw)) throw invalid('(file)', 'must be an object with tenants');
  onlyKeys(raw, ['$comment', 'tenants'], '(file)');
  const tenantsRaw = raw['tenants'];
  if (!isObject(tenantsRaw)) throw invalid('tenants', 'must be an object of tenant id -> budgets', tenantsRaw);
  const tenants: Record<string, TenantBudgets> = {};
  for (const [tenant, entry] of Object.entries(tenantsRaw)) {
    if (tenant.trim() === '') throw invalid('tenants', 'must not have an empty tenant id');
    Object.defineProperty(tenants, tenant, { value: parseTenant(entry, `tenants.${tenant}`), enumerable: true });
  }
  return { tenants };
}

/** The commands that give a tenant its budgets: its time zone first, then every budget. */
function limitCommandsOf(budgets: TenantBudgets, now: number): (SetTimeZone | SetLimits)[] {
  const command = (scope: BudgetScope, caps: Caps, subject?: string, windowMs?: number | null): SetLimits => ({
    type: 'SetLimits',
    scope,
    ...(subject === undefined ? {} : { subject }),
    ...(windowMs == null ? {} : { window_ms: windowMs }),
    caps,
    currency: budgets.currency,
    now,
  });
  const commands: (SetTimeZone | SetLimits)[] = [];
  if (budgets.time_zone !== null) commands.push({ type: 'SetTimeZone', time_zone: budgets.time_zone, now });
  if (budgets.daily !== null) commands.push(command('tenant_day', budgets.daily));
  for (const [agent, caps] of Object.entries(budgets.agents)) commands.push(command('agent_day', caps, agent));
  if (budgets.run !== null) commands.push(command('run', budgets.run));
  for (const entry of budgets.budgets) commands.push(command(entry.scope, entry.caps, entry.subject, entry.window_ms));
  return commands;
}

/** The commands that give a tenant the file's budgets (none for a tenant not in the file). */
export function limitCommandsFor(file: BudgetsFile, tenant: string, now: number): (SetTimeZone | SetLimits)[] {
  if (!Object.hasOwn(file.tenants, tenant)) return [];
  const budgets = file.tenants[tenant];
  return budgets === undefined ? [] : limitCommandsOf(budgets, now);
}
