import type { Decider } from '@writ/decider';
import { lookup } from '@writ/decider';
import { WritError } from '@writ/errors';
import type { BudgetCommand } from './commands.ts';
import { DEFAULT_BUDGET_CONFIG } from './config.ts';
import type { BudgetConfig } from './config.ts';
import { decideBudget } from './decide.ts';
import type { BudgetEvent } from './events.ts';
import { evolveBudget, initialBudgetState } from './evolve.ts';
import { NO_USAGE, counterKey } from './model.ts';
import type { BudgetScope, BudgetState, Usage } from './model.ts';

export type BudgetDecider = Decider<BudgetCommand, BudgetEvent, BudgetState>;

function validConfig(config: BudgetConfig): BudgetConfig {
  const bad = (field: string, rule: string): WritError => new WritError('BUDGET_CONFIG_INVALID', `${field} ${rule}`, { field, rule });
  if (!Number.isSafeInteger(config.reservation_ttl_ms) || config.reservation_ttl_ms <= 0) throw bad('reservation_ttl_ms', 'must be a positive whole number');
  if (!Number.isSafeInteger(config.retention_ms) || config.retention_ms < 0) throw bad('retention_ms', 'must be a whole number from 0');
  const sorted = [...config.thresholds_percent].sort((a, b) => a - b);
  if (sorted.some((p, i) => !Number.isSafeInteger(p) || p <= 0 || (i > 0 && p === sorted[i - 1]))) {
    throw bad('thresholds_percent', 'must be distinct positive whole numbers');
  }
  return { ...config, thresholds_percent: sorted };
}

/**
 * The accountant of one tenant as a decider: nested run ⊂ agent ⊂ tenant caps in money and tool
 * calls, reserve before execution (never crossing a hard cap, reservations included), settle the
 * actual cost, release the rest, idempotent per reservation_id, thresholds announced once per period.
 */
export function createBudgetDecider(config: Partial<BudgetConfig> = {}): BudgetDecider {
  const resolved = validConfig({ ...DEFAULT_BUDGET_CONFIG, ...config });
  return {
    decide: (command, state) => decideBudget(command, state, resolved),
    evolve: evolveBudget,
    initialState: initialBudgetState,
  };
}

export const budgetDecider: BudgetDecider = createBudgetDecider();

/** Usage of one counter: `subject` is the run id (scope run) or agent id (agent_day); `day` (YYYY-MM-DD) for the day scopes. */
export function usageOf(state: BudgetState, scope: BudgetScope, subject: string, day = 'run'): Usage {
  return lookup(state.usage, counterKey(scope, subject, day)) ?? NO_USAGE;
}

/** The earliest expires_at of an outstanding reservation, for the service's ExpireReservations timer. */
export function nextReservationExpiry(state: BudgetState): number | null {
  let next: number | null = null;
  state.outstanding.forEach((expiresAt) => {
    if (expiresAt !== null && (next === null || expiresAt < next)) next = expiresAt;
  });
  return next;
}
