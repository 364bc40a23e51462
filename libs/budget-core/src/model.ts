import { assertNever } from '@writ/decider';
import type { PersistentMap } from '@writ/decider';

/**
 * The accountant's view of one tenant. Limits nest run ⊂ agent ⊂ tenant; the run scope counts
 * over the whole run, the agent and tenant scopes over a UTC day. Each scope counts money
 * (integer micro-units of the tenant's currency) and tool calls. Data only (PersistentMaps
 * serialise as records), so a state snapshots as JSON.
 */

export type BudgetScope = 'run' | 'agent_day' | 'tenant_day';
export type BudgetKind = 'money' | 'tool_calls';

/** Hard caps of one scope; null: no cap of that kind. */
export interface Caps {
  readonly money_micros: number | null;
  readonly tool_calls: number | null;
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
  /** UTC day (YYYY-MM-DD) the reservation counts in, whenever it settles. */
  readonly day: string | null;
  readonly amount_micros: number;
  readonly tool_calls: number;
  readonly expires_at: number | null;
  readonly actual_cost_micros: number | null;
  /** When it stopped being outstanding; closed records are forgotten after the retention. */
  readonly closed_at: number | null;
}

export interface BudgetState {
  /** The tenant's currency: of its first limits or reservation. */
  readonly currency: string | null;
  /** `${scope}|${subject}` -> caps; subject "*" is the default for every run or agent. */
  readonly limits: PersistentMap<Caps>;
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
  /** The run id, the agent id, or "*" for the tenant. */
  readonly subject: string;
  /** "run" for the run scope, the UTC day otherwise. */
  readonly period: string;
  readonly key: string;
}

export const DEFAULT_SUBJECT = '*';
export const NO_USAGE: Usage = { settled_micros: 0, reserved_micros: 0, settled_calls: 0, reserved_calls: 0 };

/** The UTC calendar day of an instant (ms since the epoch), as YYYY-MM-DD. */
export function utcDay(instant: number): string {
  return new Date(instant).toISOString().slice(0, 10);
}

export function limitKey(scope: BudgetScope, subject: string): string {
  return `${scope}|${subject}`;
}

/** Key of the counter of a scope for a subject in a period. */
export function counterKey(scope: BudgetScope, subject: string, period: string): string {
  switch (scope) {
    case 'run':
      return `run|${subject}`;
    case 'agent_day':
      return `agent_day|${subject}|${period}`;
    case 'tenant_day':
      return `tenant_day|${period}`;
    default:
      return assertNever(scope, 'budget scope');
  }
}

function counter(scope: BudgetScope, subject: string, period: string): Counter {
  return { scope, subject, period, key: counterKey(scope, subject, period) };
}

/** The three nested counters of a reservation, innermost first. */
export function countersFor(runId: string, agentId: string, day: string): readonly [Counter, Counter, Counter] {
  return [counter('run', runId, 'run'), counter('agent_day', agentId, day), counter('tenant_day', DEFAULT_SUBJECT, day)];
}
