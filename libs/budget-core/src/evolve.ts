import { PersistentMap, assertNever, lookup, withEntry, withoutEntries } from '@writ/decider';
import type { BudgetEvent } from './events.ts';
import { DEFAULT_TIME_ZONE, NO_USAGE, counterKey, countersOfRecord, limitKey, periodOf } from './model.ts';
import type { BudgetState, ReservationRecord, Usage } from './model.ts';

export function initialBudgetState(): BudgetState {
  return {
    currency: null,
    time_zone: DEFAULT_TIME_ZONE,
    limits: PersistentMap.empty(),
    windows: [],
    usage: PersistentMap.empty(),
    reservations: PersistentMap.empty(),
    outstanding: PersistentMap.empty(),
    thresholds: PersistentMap.empty(),
  };
}

interface UsageChange {
  readonly settled_micros?: number;
  readonly reserved_micros?: number;
  readonly settled_calls?: number;
  readonly reserved_calls?: number;
}

/** Applies the same change to every counter of a reservation. */
function charge(state: BudgetState, record: ReservationRecord, change: UsageChange): BudgetState {
  let usage = state.usage;
  for (const counter of countersOfRecord(state, record)) {
    const current: Usage = lookup(usage, counter.key) ?? NO_USAGE;
    usage = withEntry(usage, counter.key, {
      settled_micros: current.settled_micros + (change.settled_micros ?? 0),
      reserved_micros: current.reserved_micros + (change.reserved_micros ?? 0),
      settled_calls: current.settled_calls + (change.settled_calls ?? 0),
      reserved_calls: current.reserved_calls + (change.reserved_calls ?? 0),
    });
  }
  return { ...state, usage };
}

function setRecord(state: BudgetState, record: ReservationRecord): BudgetState {
  const id = record.reservation_id;
  const outstanding = record.status === 'reserved' ? withEntry(state.outstanding, id, record.expires_at) : withoutEntries(state.outstanding, [id]);
  return { ...state, reservations: withEntry(state.reservations, id, record), outstanding };
}

/** Gives back what an outstanding reservation holds and closes it with the given status. */
function unreserve(state: BudgetState, reservationId: string, status: 'released' | 'expired', at: number): BudgetState {
  const record = lookup(state.reservations, reservationId);
  if (record?.status !== 'reserved') return state;
  const released = charge(state, record, { reserved_micros: -record.amount_micros, reserved_calls: -record.tool_calls });
  return setRecord(released, { ...record, status, closed_at: at });
}

export function evolveBudget(state: BudgetState, event: BudgetEvent): BudgetState {
  switch (event.type) {
    case 'LimitsSet': {
      const window = event.window_ms === null ? null : { scope: event.scope, subject: event.subject, window_ms: event.window_ms };
      const known = window !== null && state.windows.some((w) => w.scope === window.scope && w.subject === window.subject && w.window_ms === window.window_ms);
      return {
        ...state,
        currency: state.currency ?? event.currency,
        limits: withEntry(state.limits, limitKey(event.scope, event.subject, event.window_ms), event.caps),
        windows: window === null || known || periodOf(event.scope) !== 'window' ? state.windows : [...state.windows, window],
      };
    }
    case 'TimeZoneSet':
      return { ...state, time_zone: event.time_zone };
    case 'BudgetReserved': {
      const record: ReservationRecord = {
        reservation_id: event.reservation_id,
        status: 'reserved',
        run_id: event.run_id,
        agent_id: event.agent_id,
        tool: event.tool,
        reserved_at: event.reserved_at,
        day: event.day,
        amount_micros: event.amount_micros,
        tool_calls: event.tool_calls,
        expires_at: event.expires_at,
        actual_cost_micros: null,
        closed_at: null,
      };
      const charged = charge({ ...state, currency: state.currency ?? event.currency }, record, {
        reserved_micros: event.amount_micros,
        reserved_calls: event.tool_calls,
      });
      return setRecord(charged, record);
    }
    case 'BudgetRefused':
      return setRecord(state, {
        reservation_id: event.reservation_id,
        status: 'refused',
        run_id: event.run_id,
        agent_id: event.agent_id,
        tool: null,
        reserved_at: null,
        day: null,
        amount_micros: 0,
        tool_calls: 0,
        expires_at: null,
        actual_cost_micros: null,
        closed_at: event.refused_at,
      });
    case 'BudgetSettled': {
      const record = lookup(state.reservations, event.reservation_id);
      if (record === undefined) return state;
      const change: UsageChange = event.late
        ? { settled_micros: event.actual_cost_micros, settled_calls: event.tool_calls }
        : {
            settled_micros: event.actual_cost_micros,
            settled_calls: event.tool_calls,
            reserved_micros: -record.amount_micros,
            reserved_calls: -record.tool_calls,
          };
      const charged = charge(state, record, change);
      return setRecord(charged, { ...record, status: 'settled', actual_cost_micros: event.actual_cost_micros, closed_at: event.settled_at });
    }
    case 'BudgetReleased': {
      if (lookup(state.reservations, event.reservation_id) !== undefined) return unreserve(state, event.reservation_id, 'released', event.released_at);
      return setRecord(state, {
        reservation_id: event.reservation_id,
        status: 'released',
        run_id: null,
        agent_id: null,
        tool: null,
        reserved_at: null,
        day: null,
        amount_micros: 0,
        tool_calls: 0,
        expires_at: null,
        actual_cost_micros: null,
        closed_at: event.released_at,
      });
    }
    case 'BudgetReservationExpired':
      return unreserve(state, event.reservation_id, 'expired', event.expired_at);
    case 'BudgetThresholdCrossed': {
      const key = `${counterKey(event.scope, event.subject, event.period)}|${event.kind}`;
      const previous = lookup(state.thresholds, key) ?? 0;
      return event.threshold_percent > previous ? { ...state, thresholds: withEntry(state.thresholds, key, event.threshold_percent) } : state;
    }
    case 'ReservationsForgotten':
      return {
        ...state,
        reservations: withoutEntries(state.reservations, event.reservation_ids),
        outstanding: withoutEntries(state.outstanding, event.reservation_ids),
        usage: withoutEntries(state.usage, event.counter_keys ?? []),
        thresholds: withoutEntries(
          state.thresholds,
          (event.counter_keys ?? []).flatMap((key) => [`${key}|money`, `${key}|tool_calls`]),
        ),
      };
    default:
      return assertNever(event, 'budget event');
  }
}
