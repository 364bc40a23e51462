import type { BudgetApprovalStep } from '@writ/contracts';
import type { BudgetKind, BudgetScope, Caps } from './model.ts';

export interface LimitsSet {
  readonly type: 'LimitsSet';
  readonly scope: BudgetScope;
  /** A run id, an agent id, a tool, or "*" (every run / agent / tool; always "*" for the tenant's scopes). */
  readonly subject: string;
  /** A rolling window's length (the *_window scopes); null for the others. */
  readonly window_ms: number | null;
  readonly caps: Caps;
  readonly currency: string;
  readonly set_at: number;
}

/** The tenant's calendar periods follow this IANA time zone from now on (configuration, like limits). */
export interface TimeZoneSet {
  readonly type: 'TimeZoneSet';
  readonly time_zone: string;
  readonly set_at: number;
}

/** Signed by the budget service at the edge (key_id, signature) before it is published. */
export interface BudgetReserved {
  readonly type: 'BudgetReserved';
  readonly reservation_id: string;
  readonly run_id: string;
  readonly agent_id: string;
  /** The tool reserved for; null only when the request named none (its tool budgets do not count it). */
  readonly tool: string | null;
  /** The tenant-local day it counts in. */
  readonly day: string;
  readonly amount_micros: number;
  readonly tool_calls: number;
  readonly currency: string;
  readonly reserved_at: number;
  readonly expires_at: number;
  /** The budget whose approval step the reservation reached (a tool with side effects): the action needs an approval. */
  readonly approval_step: BudgetApprovalStep | null;
}

/**
 * Why a reservation was refused: `cap`, it would cross a hard cap; `reads_only`, a budget it counts
 * in has degraded to reads (Caps.reads_only_at_percent) and the tool has side effects.
 */
export type RefusalRule = 'cap' | 'reads_only';

/** The reservation was refused: by the first budget found, innermost scope first, money before tool calls. */
export interface BudgetRefused {
  readonly type: 'BudgetRefused';
  readonly reservation_id: string;
  readonly run_id: string;
  readonly agent_id: string;
  readonly scope: BudgetScope;
  readonly subject: string;
  /** The refusing budget's window (the *_window scopes), else null. */
  readonly window_ms: number | null;
  /** The period the refusing counter counts: "run", "2026-12-07", "2026-W49", "2026-12", or a window's bucket. */
  readonly period: string;
  readonly rule: RefusalRule;
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
  /** Counters no budget reads any more (rolling windows' buckets older than their window). */
  readonly counter_keys?: readonly string[];
  readonly forgotten_at: number;
}

export type BudgetEvent =
  | LimitsSet
  | TimeZoneSet
  | BudgetReserved
  | BudgetRefused
  | BudgetSettled
  | BudgetReleased
  | BudgetReservationExpired
  | BudgetThresholdCrossed
  | ReservationsForgotten;
