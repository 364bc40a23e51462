import type { BudgetKind, BudgetScope, Caps } from './model.ts';

export interface LimitsSet {
  readonly type: 'LimitsSet';
  readonly scope: BudgetScope;
  /** A run id, an agent id, or "*" (every run / agent; always "*" for tenant_day). */
  readonly subject: string;
  readonly caps: Caps;
  readonly currency: string;
  readonly set_at: number;
}

/** Signed by the budget service at the edge (key_id, signature) before it is published. */
export interface BudgetReserved {
  readonly type: 'BudgetReserved';
  readonly reservation_id: string;
  readonly run_id: string;
  readonly agent_id: string;
  readonly day: string;
  readonly amount_micros: number;
  readonly tool_calls: number;
  readonly currency: string;
  readonly reserved_at: number;
  readonly expires_at: number;
}

/** The reservation would cross a hard cap: the first one found, innermost scope first, money before tool calls. */
export interface BudgetRefused {
  readonly type: 'BudgetRefused';
  readonly reservation_id: string;
  readonly run_id: string;
  readonly agent_id: string;
  readonly scope: BudgetScope;
  readonly subject: string;
  readonly kind: BudgetKind;
  readonly limit: number;
  /** Settled plus outstanding reservations, in the unit of limit. */
  readonly used: number;
  readonly requested: number;
  /** Set when kind is money. */
  readonly currency: string | null;
  readonly refused_at: number;
}

export interface BudgetSettled {
  readonly type: 'BudgetSettled';
  readonly reservation_id: string;
  readonly run_id: string;
  readonly agent_id: string;
  readonly day: string;
  readonly reserved_micros: number;
  readonly actual_cost_micros: number;
  /** Reserved but not spent, given back. */
  readonly released_micros: number;
  /** Spent beyond what was reserved (charged anyway: the call happened). */
  readonly overrun_micros: number;
  readonly tool_calls: number;
  readonly currency: string;
  /** The reservation had already been released or had lapsed: the whole actual cost is an overrun. */
  readonly late: boolean;
  readonly settled_at: number;
}

export interface BudgetReleased {
  readonly type: 'BudgetReleased';
  readonly reservation_id: string;
  /** null when the release came for a reservation never seen. */
  readonly run_id: string | null;
  readonly agent_id: string | null;
  readonly released_micros: number;
  readonly released_at: number;
}

export interface BudgetReservationExpired {
  readonly type: 'BudgetReservationExpired';
  readonly reservation_id: string;
  readonly run_id: string;
  readonly agent_id: string;
  readonly released_micros: number;
  readonly expired_at: number;
}

export interface BudgetThresholdCrossed {
  readonly type: 'BudgetThresholdCrossed';
  readonly scope: BudgetScope;
  readonly subject: string;
  /** "run" or the UTC day. */
  readonly period: string;
  readonly kind: BudgetKind;
  readonly threshold_percent: number;
  /** Settled plus outstanding reservations. */
  readonly used: number;
  readonly limit: number;
  readonly currency: string | null;
  /** The reservation whose reserve or settlement crossed it. */
  readonly run_id: string;
  readonly agent_id: string;
  readonly crossed_at: number;
}

/** Internal: closed reservations past the retention are dropped from the state. */
export interface ReservationsForgotten {
  readonly type: 'ReservationsForgotten';
  readonly reservation_ids: readonly string[];
  readonly forgotten_at: number;
}

export type BudgetEvent =
  LimitsSet | BudgetReserved | BudgetRefused | BudgetSettled | BudgetReleased | BudgetReservationExpired | BudgetThresholdCrossed | ReservationsForgotten;
