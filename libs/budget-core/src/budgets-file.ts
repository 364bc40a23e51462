// The operator's budgets (WRIT_BUDGET_LIMITS_FILE): per tenant a currency, daily caps for the tenant,
// daily caps per agent ("*" for every agent without its own) and default caps per run. Validated
// whole at boot; a bad value names its path.
import { WritError } from '@writ/errors';
import type { SetLimits } from './commands.ts';
import type { BudgetScope, Caps } from './model.ts';

export interface TenantBudgets {
  readonly currency: string;
  /** Caps of the whole tenant per UTC day. */
  readonly daily: Caps | null;
  /** Caps per agent per UTC day; key "*": every agent without its own entry. */
  readonly agents: Readonly<Record<string, Caps>>;
  /** Caps of every run of the tenant (a RunStarted with limits overrides them for its run). */
  readonly run: Caps | null;
}

export interface BudgetsFile {
  readonly tenants: Readonly<Record<string, TenantBudgets>>;
}

const CURRENCY = /^[A-Z]{3}$/;
const MONEY = /^(0|[1-9][0-9]*)(\.[0-9]{1,6})?$/;

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
  const match = MONEY.exec(text);
  if (match === null) throw invalid('money', 'must be a decimal amount such as "12.50"', text);
  const whole = BigInt(match[1] ?? '0');
  const fraction = BigInt((match[2] ?? '.').slice(1).padEnd(6, '0'));
  const micros = whole * 1_000_000n + fraction;
  if (micros > BigInt(Number.MAX_SAFE_INTEGER)) throw invalid('money', 'is too large', text);
  return Number(micros);
}

function parseCaps(value: unknown, path: string): Caps {
  if (!isObject(value)) throw invalid(path, 'must be an object with money and/or tool_calls', value);
  onlyKeys(value, ['money', 'money_micros', 'tool_calls'], path);
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
  return { money_micros: money, tool_calls: calls };
}

function parseTenant(value: unknown, path: string): TenantBudgets {
  if (!isObject(value)) throw invalid(path, 'must be an object', value);
  onlyKeys(value, ['currency', 'daily', 'agents', 'run'], path);
  const currency = value['currency'];
  if (typeof currency !== 'string' || !CURRENCY.test(currency)) throw invalid(`${path}.currency`, 'must be an ISO 4217 code such as "USD"', currency);
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
  return {
    currency,
    daily: value['daily'] === undefined ? null : parseCaps(value['daily'], `${path}.daily`),
    agents,
    run: value['run'] === undefined ? null : parseCaps(value['run'], `${path}.run`),
  };
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

/** The SetLimits commands that give a tenant the file's caps (none for a tenant not in the file). */
export function limitCommandsFor(file: BudgetsFile, tenant: string, now: number): SetLimits[] {
  if (!Object.hasOwn(file.tenants, tenant)) return [];
  const budgets = file.tenants[tenant];
  if (budgets === undefined) return [];
  const command = (scope: BudgetScope, caps: Caps, subject?: string): SetLimits => ({
    type: 'SetLimits',
    scope,
    ...(subject === undefined ? {} : { subject }),
    caps,
    currency: budgets.currency,
    now,
  });
  const commands: SetLimits[] = [];
  if (budgets.daily !== null) commands.push(command('tenant_day', budgets.daily));
  for (const [agent, caps] of Object.entries(budgets.agents)) commands.push(command('agent_day', caps, agent));
  if (budgets.run !== null) commands.push(command('run', budgets.run));
  return commands;
}
