import { PersistentMap, assertNever, lookup, withEntry, withoutEntries } from '@writ/decider';
import type { BudgetEvent } from './events.ts';
import { NO_USAGE, counterKey, countersFor, limitKey } from './model.ts';
import type { BudgetState, ReservationRecord, Usage } from './model.ts';

export function initialBudgetState(): BudgetState {
  return {
    currency: null,
    limits: PersistentMap.empty(),
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

/** Applies the same change to the three counters of a reservation. */
function charge(state: BudgetState, record: ReservationRecord, change: UsageChange): BudgetState {
  if (record.run_id === null || record.agent_id === null || record.day === null) return state;
  let usage = state.usage;
  for (const counter of countersFor(record.run_id, record.agent_id, record.day)) {
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
    case 'LimitsSet':
      return { ...state, currency: state.currency ?? event.currency, limits: withEntry(state.limits, limitKey(event.scope, event.subject), event.caps) };
    case 'BudgetReserved': {
      const record: ReservationRecord = {
        reservation_id: event.reservation_id,
        status: 'reserved',
        run_id: event.run_id,
        agent_id: event.agent_id,
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
      };
    default:
      return assertNever(event, 'budget event');
  }
}
