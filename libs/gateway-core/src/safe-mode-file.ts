// The automatic safe mode's thresholds (WRIT_GATEWAY_SAFE_MODE_FILE): per tenant, a trigger for
// each agent ("agent"), triggers of named agents ("agents", instead of "agent" for them) and one
// for the tenant as a whole ("tenant"). Validated whole at boot; a bad value names its path and rule.
//
//   {"tenants": {"acme": {
//     "currency": "USD",
//     "agent":  {"window": "5m", "min_actions": 10, "error_rate_percent": 50, "denial_rate_percent": 80, "spend": "20.00"},
//     "agents": {"canary-bot": {"window": "10m", "min_actions": 3, "error_rate_percent": 100}},
//     "tenant": {"window": "1h", "min_actions": 50, "error_rate_percent": 30, "spend": "200.00"}}}}
import { parseDurationMs } from '@writ/config';
import { parseMoneyMicros } from '@writ/contracts';
import { WritError } from '@writ/errors';

/** When one subject (an agent, or a tenant as a whole) is switched to read-only. */
export interface SafeModeTrigger {
  /** The window as written ("5m"), for messages. */
  readonly window: string;
  readonly window_ms: number;
  /** The rates are judged only once the window holds at least this many counted actions. */
  readonly min_actions: number;
  /** Failed actions, in percent of the counted ones, at which it trips; null: never on errors. */
  readonly error_rate_percent: number | null;
  /** Denied actions, in percent of the counted ones, at which it trips; null: never on denials. */
  readonly denial_rate_percent: number | null;
  /** Money spent in the window (micro-units of the tenant's currency) at which it trips; null: never on spend. */
  readonly spend_micros: number | null;
}

export interface TenantSafeMode {
  /** ISO 4217 code of `spend`; costs in another currency are not counted. */
  readonly currency: string;
  /** The trigger of every agent without its own entry in `agents`; null: none. */
  readonly agent: SafeModeTrigger | null;
  /** Agents with a trigger of their own. */
  readonly agents: ReadonlyMap<string, SafeModeTrigger>;
  /** The trigger of the tenant as a whole (all its agents together); null: none. */
  readonly tenant: SafeModeTrigger | null;
}

export interface SafeModeFile {
  readonly tenants: ReadonlyMap<string, TenantSafeMode>;
}

const CURRENCY = /^[A-Z]{3}$/;
/** Windows from 10 s to 7 days: shorter ones judge noise, longer ones keep a tenant's whole week in memory. */
const MIN_WINDOW_MS = 10_000;
const MAX_WINDOW_MS = 7 * 86_400_000;
const TRIGGER_FIELDS = ['window', 'min_actions', 'error_rate_percent', 'denial_rate_percent', 'spend'] as const;

function invalid(field: string, rule: string, value?: unknown): WritError {
  const got = value === undefined ? '' : `, got ${JSON.stringify(value)}`;
  return new WritError('CONFIG_INVALID', `safe-mode file: ${field} ${rule}${got}`, { field, rule });
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function onlyKeys(value: Record<string, unknown>, allowed: readonly string[], path: string): void {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) throw invalid(`${path}.${key}`, `is not a known field (expected ${allowed.join(', ')})`);
  }
}

function windowMs(value: unknown, path: string): number {
  const ms = parseDurationMs(value);
  if (ms === undefined || ms < MIN_WINDOW_MS || ms > MAX_WINDOW_MS)
    throw invalid(path, 'must be a length such as "30s", "5m" or "1h", from 10 seconds to 7 days', value);
  return ms;
}

function percent(value: unknown, path: string): number | null {
  if (value === undefined) return null;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1 || value > 100)
    throw invalid(path, 'must be a whole percentage from 1 to 100', value);
  return value;
}

function parseTrigger(value: unknown, path: string): SafeModeTrigger {
  if (!isObject(value)) throw invalid(path, 'must be an object with window, min_actions and at least one threshold', value);
  onlyKeys(value, TRIGGER_FIELDS, path);
  const window = value['window'];
  const ms = windowMs(window, `${path}.window`);
  const minActions = value['min_actions'];
  if (typeof minActions !== 'number' || !Number.isSafeInteger(minActions) || minActions < 1 || minActions > 1_000_000)
    throw invalid(`${path}.min_actions`, 'must be a whole number from 1 to 1000000', minActions);
  let spend: number | null = null;
  if (value['spend'] !== undefined) {
    const raw = value['spend'];
    spend = typeof raw === 'string' ? (parseMoneyMicros(raw) ?? null) : null;
    if (spend === null || spend === 0) throw invalid(`${path}.spend`, 'must be a positive decimal amount such as "20.00" (up to 6 decimals)', raw);
  }
  const trigger: SafeModeTrigger = {
    window: String(window),
    window_ms: ms,
    min_actions: minActions,
    error_rate_percent: percent(value['error_rate_percent'], `${path}.error_rate_percent`),
    denial_rate_percent: percent(value['denial_rate_percent'], `${path}.denial_rate_percent`),
    spend_micros: spend,
  };
  if (trigger.error_rate_percent === null && trigger.denial_rate_percent === null && trigger.spend_micros === null)
    throw invalid(path, 'must set at least one of error_rate_percent, denial_rate_percent and spend');
  return trigger;
}

function parseTenant(value: unknown, path: string): TenantSafeMode {
  if (!isObject(value)) throw invalid(path, 'must be an object with agent, agents and/or tenant', value);
  onlyKeys(value, ['currency', 'agent', 'agents', 'tenant'], path);
  const currency = value['currency'] ?? 'USD';
  if (typeof currency !== 'string' || !CURRENCY.test(currency)) throw invalid(`${path}.currency`, 'must be an ISO 4217 code such as "USD"', currency);
  const agents = new Map<string, SafeModeTrigger>();
  if (value['agents'] !== undefined) {
    const raw = value['agents'];
    if (!isObject(raw)) throw invalid(`${path}.agents`, 'must be an object of agent id -> trigger', raw);
    for (const [agent, trigger] of Object.entries(raw)) {
      if (agent.trim() === '' || agent === '*') throw invalid(`${path}.agents`, 'must name agents by id (the trigger of every agent is "agent")', agent);
      agents.set(agent, parseTrigger(trigger, `${path}.agents.${agent}`));
    }
  }
  const tenant: TenantSafeMode = {
    currency,
    agent: value['agent'] === undefined ? null : parseTrigger(value['agent'], `${path}.agent`),
    agents,
    tenant: value['tenant'] === undefined ? null : parseTrigger(value['tenant'], `${path}.tenant`),
  };
  if (tenant.agent === null && tenant.agents.size === 0 && tenant.tenant === null) throw invalid(path, 'must set agent, agents or tenant');
  return tenant;
}

/** Parses and validates a safe-mode file; throws CONFIG_INVALID naming the field and the rule. */
export function parseSafeModeFile(text: string): SafeModeFile {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw invalid('file', `must be JSON (${error instanceof Error ? error.message : String(error)})`);
  }
  if (!isObject(raw)) throw invalid('file', 'must be an object with tenants', raw);
  onlyKeys(raw, ['tenants'], '(root)');
  const tenantsRaw = raw['tenants'];
  if (!isObject(tenantsRaw)) throw invalid('tenants', 'must be an object of tenant id -> thresholds', tenantsRaw);
  const tenants = new Map<string, TenantSafeMode>();
  for (const [tenant, value] of Object.entries(tenantsRaw)) {
    if (tenant.trim() === '' || tenant === '*') throw invalid('tenants', 'must name tenants by id (not "*" or an empty one)', tenant);
    tenants.set(tenant, parseTenant(value, `tenants.${tenant}`));
  }
  return { tenants };
}

/** The trigger of one agent of a tenant (its own, else the tenant's trigger of every agent), or undefined. */
export function agentTrigger(file: SafeModeFile, tenant: string, agent: string): SafeModeTrigger | undefined {
  const config = file.tenants.get(tenant);
  return config?.agents.get(agent) ?? config?.agent ?? undefined;
}
