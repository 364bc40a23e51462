import type { BudgetScope, Caps } from './model.ts';

/**
 * Sets the caps of a budget. subject: a run id, agent id or tool, or omitted for the default of
 * every run, agent or tool; omitted for the tenant's scopes. window_ms: required for the *_window scopes.
 */
export interface SetLimits {
  readonly type: 'SetLimits';
  readonly scope: BudgetScope;
  readonly subject?: string;
  readonly window_ms?: number;
  readonly caps: Caps;
  readonly currency: string;
  readonly now: number;
}

/** The tenant's calendar periods (day, week, month) follow this IANA time zone. */
export interface SetTimeZone {
  readonly type: 'SetTimeZone';
  readonly time_zone: string;
  readonly now: number;
}

/** Reserve before execution. reservation_id is the action id. */
export interface Reserve {
  readonly type: 'Reserve';
  readonly reservation_id: string;
  readonly run_id: string;
  readonly agent_id: string;
  readonly estimated_cost_micros: number;
  readonly tool_calls: number;
  readonly currency: string;
  readonly now: number;
  /** The tool (its name): its budgets count the reservation. Omitted: no tool budget counts it. */
  readonly tool?: string | null;
  /** The tool may change the world (not a read): a budget degraded to reads refuses it. Omitted: true. */
  readonly side_effects?: boolean;
  /**
   * When the reservation was asked for (the input's meta.occurred_at). A request older than the
   * retention is ignored (see decide.ts); omitted: no age check.
   */
  readonly requested_at?: number;
  /**
   * The action belongs to a shadow run (it never executes): the reservation is decided as any
   * other (refused where a live one would be) and, when granted, released in the same decision, so
   * it never counts as spend, never holds room under a cap and announces no threshold.
   */
  readonly shadow?: boolean;
}

/** Charge the actual cost of an execution (succeeded or failed) and release the rest. */
export interface Settle {
  readonly type: 'Settle';
  readonly reservation_id: string;
  readonly actual_cost_micros: number;
  readonly currency: string;
  readonly now: number;
}

/** Give a reservation back: its action will not execute. */
export interface Release {
  readonly type: 'Release';
  readonly reservation_id: string;
  readonly now: number;
}

/** The timer: lapses reservations past expires_at and forgets old closed ones. */
export interface ExpireReservations {
  readonly type: 'ExpireReservations';
  readonly now: number;
  /**
   * Also forget closed reservations past the retention (default true). The sweep before each
   * reservation passes false: it visits only the outstanding ones, the timer's visits them all.
   */
  readonly forget?: boolean;
}

export type BudgetCommand = SetLimits | SetTimeZone | Reserve | Settle | Release | ExpireReservations;
