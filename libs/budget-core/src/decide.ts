import { WritError } from '@writ/errors';
import { accumulator, assertNever, lookup } from '@writ/decider';
import type { Accumulator } from '@writ/decider';
import type { BudgetCommand, ExpireReservations, Release, Reserve, SetLimits, Settle } from './commands.ts';
import type { BudgetConfig } from './config.ts';
import type { BudgetEvent, BudgetRefused } from './events.ts';
import { evolveBudget } from './evolve.ts';
import { DEFAULT_SUBJECT, NO_USAGE, countersFor, limitKey, utcDay } from './model.ts';
import type { BudgetKind, BudgetState, Caps, Counter, ReservationRecord } from './model.ts';
import { invalidCommand, requireCount, requireCurrency, requireSameCurrency, requireText } from './validation.ts';

type BudgetAccumulator = Accumulator<BudgetEvent, BudgetState>;

const NO_CAPS: Caps = { money_micros: null, tool_calls: null };
const KINDS: readonly BudgetKind[] = ['money', 'tool_calls'];

export function decideBudget(command: BudgetCommand, state: BudgetState, config: BudgetConfig): BudgetEvent[] {
  requireCount(command.now, 'now');
  const acc = accumulator(evolveBudget, state);
  switch (command.type) {
    case 'SetLimits':
      setLimits(acc, command);
      break;
    case 'Reserve':
      reserve(acc, command, config);
      break;
    case 'Settle':
      settle(acc, command, config);
      break;
    case 'Release':
      release(acc, command);
      break;
    case 'ExpireReservations':
      expire(acc, command, config);
      break;
    default:
      return assertNever(command, 'budget command');
  }
  return [...acc.events];
}

/** The caps that apply to a counter: its subject's own, else the scope's default. */
export function capsFor(state: BudgetState, counter: Counter): Caps {
  return lookup(state.limits, limitKey(counter.scope, counter.subject)) ?? lookup(state.limits, limitKey(counter.scope, DEFAULT_SUBJECT)) ?? NO_CAPS;
}

function capOf(caps: Caps, kind: BudgetKind): number | null {
  return kind === 'money' ? caps.money_micros : caps.tool_calls;
}

function usedOf(state: BudgetState, counter: Counter, kind: BudgetKind): number {
  const usage = lookup(state.usage, counter.key) ?? NO_USAGE;
  return kind === 'money' ? usage.settled_micros + usage.reserved_micros : usage.settled_calls + usage.reserved_calls;
}

function setLimits(acc: BudgetAccumulator, command: SetLimits): void {
  if (!['run', 'agent_day', 'tenant_day'].includes(command.scope)) throw invalidCommand('scope', 'must be run, agent_day or tenant_day', command.scope);
  const subject = command.subject ?? DEFAULT_SUBJECT;
  requireText(subject, 'subject');
  if (command.scope === 'tenant_day' && subject !== DEFAULT_SUBJECT) {
    throw invalidCommand('subject', 'must be omitted for tenant_day (the tenant is the budget itself)', subject);
  }
  if (command.caps.money_micros !== null) requireCount(command.caps.money_micros, 'caps.money_micros');
  if (command.caps.tool_calls !== null) requireCount(command.caps.tool_calls, 'caps.tool_calls');
  requireCurrency(command.currency, 'currency');
  requireSameCurrency(acc.state.currency, command.currency, 'currency');
  const current = lookup(acc.state.limits, limitKey(command.scope, subject));
  if (current?.money_micros === command.caps.money_micros && current.tool_calls === command.caps.tool_calls) return;
  acc.emit({
    type: 'LimitsSet',
    scope: command.scope,
    subject,
    caps: { money_micros: command.caps.money_micros, tool_calls: command.caps.tool_calls },
    currency: command.currency,
    set_at: command.now,
  });
}

/** The first cap the reservation would cross: innermost scope first, money before tool calls. */
function firstCrossedCap(state: BudgetState, counters: readonly Counter[], requested: Record<BudgetKind, number>, command: Reserve): BudgetRefused | null {
  for (const counter of counters) {
    const caps = capsFor(state, counter);
    for (const kind of KINDS) {
      const limit = capOf(caps, kind);
      if (limit === null) continue;
      const used = usedOf(state, counter, kind);
      if (used + requested[kind] > limit) {
        return {
          type: 'BudgetRefused',
          reservation_id: command.reservation_id,
          run_id: command.run_id,
          agent_id: command.agent_id,
          scope: counter.scope,
          subject: counter.subject,
          kind,
          limit,
          used,
          requested: requested[kind],
          currency: kind === 'money' ? command.currency : null,
          refused_at: command.now,
        };
      }
    }
  }
  return null;
}

/** used / limit >= percent / 100, exactly (the product can pass 2^53 for large budgets). */
function reached(used: number, limit: number, percent: number): boolean {
  return BigInt(used) * 100n >= BigInt(limit) * BigInt(percent);
}

/** Announces every threshold a reservation's counters have reached and not yet announced in this period. */
function announceThresholds(acc: BudgetAccumulator, record: ReservationRecord, now: number, config: BudgetConfig): void {
  if (record.run_id === null || record.agent_id === null || record.day === null) return;
  for (const counter of countersFor(record.run_id, record.agent_id, record.day)) {
    const caps = capsFor(acc.state, counter);
    for (const kind of KINDS) {
      const limit = capOf(caps, kind);
      if (limit === null || limit === 0) continue;
      const used = usedOf(acc.state, counter, kind);
      const announced = lookup(acc.state.thresholds, `${counter.key}|${kind}`) ?? 0;
      for (const percent of config.thresholds_percent) {
        if (percent <= announced || !reached(used, limit, percent)) continue;
        acc.emit({
          type: 'BudgetThresholdCrossed',
          scope: counter.scope,
          subject: counter.subject,
          period: counter.period,
          kind,
          threshold_percent: percent,
          used,
          limit,
          currency: kind === 'money' ? acc.state.currency : null,
          run_id: record.run_id,
          agent_id: record.agent_id,
          crossed_at: now,
        });
      }
    }
  }
}

function reserve(acc: BudgetAccumulator, command: Reserve, config: BudgetConfig): void {
  requireText(command.reservation_id, 'reservation_id');
  requireText(command.run_id, 'run_id');
  requireText(command.agent_id, 'agent_id');
  requireCount(command.estimated_cost_micros, 'estimated_cost_micros');
  requireCount(command.tool_calls, 'tool_calls');
  requireCurrency(command.currency, 'currency');
  requireSameCurrency(acc.state.currency, command.currency, 'currency');
  if (command.requested_at !== undefined) requireCount(command.requested_at, 'requested_at');
  // Whatever happened to this reservation id before (reserved, refused, settled, released), a replay changes nothing.
  if (lookup(acc.state.reservations, command.reservation_id) !== undefined) return;
  // What happened to an action asked for longer ago than the retention may be forgotten (its
  // settlement, or its end remembered before the request): reserving now could count it twice, or
  // hold room for an action long over. Such requests are read when a consumer starts far back:
  // a new consumer group on writ.proposals.v1 starts at the topic's beginning.
  if (command.requested_at !== undefined && command.now - command.requested_at >= config.retention_ms) return;
  const day = utcDay(command.now);
  const counters = countersFor(command.run_id, command.agent_id, day);
  const refusal = firstCrossedCap(acc.state, counters, { money: command.estimated_cost_micros, tool_calls: command.tool_calls }, command);
  if (refusal !== null) {
    acc.emit(refusal);
    return;
  }
  acc.emit({
    type: 'BudgetReserved',
    reservation_id: command.reservation_id,
    run_id: command.run_id,
    agent_id: command.agent_id,
    day,
    amount_micros: command.estimated_cost_micros,
    tool_calls: command.tool_calls,
    currency: command.currency,
    reserved_at: command.now,
    expires_at: command.now + config.reservation_ttl_ms,
  });
  const record = lookup(acc.state.reservations, command.reservation_id);
  if (record !== undefined) announceThresholds(acc, record, command.now, config);
}

function unknownReservation(reservationId: string): WritError {
  return new WritError('BUDGET_UNKNOWN_RESERVATION', `no reservation ${reservationId} to settle`, {
    field: 'reservation_id',
    rule: 'must name a reservation this accountant made',
  });
}

function settle(acc: BudgetAccumulator, command: Settle, config: BudgetConfig): void {
  requireText(command.reservation_id, 'reservation_id');
  requireCount(command.actual_cost_micros, 'actual_cost_micros');
  requireCurrency(command.currency, 'currency');
  requireSameCurrency(acc.state.currency, command.currency, 'currency');
  const record = lookup(acc.state.reservations, command.reservation_id);
  if (record === undefined) throw unknownReservation(command.reservation_id);
  if (record.status === 'refused') {
    throw new WritError('BUDGET_NOT_RESERVED', `reservation ${record.reservation_id} was refused; nothing may have run on it`, {
      field: 'reservation_id',
      rule: 'must name a reservation that was granted',
    });
  }
  // A release remembered for a reservation never seen has nothing to charge against.
  if (record.run_id === null || record.agent_id === null || record.day === null) throw unknownReservation(command.reservation_id);
  const actual = command.actual_cost_micros;
  const base = {
    type: 'BudgetSettled',
    reservation_id: record.reservation_id,
    run_id: record.run_id,
    agent_id: record.agent_id,
    day: record.day,
    reserved_micros: record.amount_micros,
    actual_cost_micros: actual,
    tool_calls: record.tool_calls,
    currency: command.currency,
    settled_at: command.now,
  } as const;
  switch (record.status) {
    case 'settled':
      return;
    case 'reserved':
      acc.emit({
        ...base,
        released_micros: Math.max(0, record.amount_micros - actual),
        overrun_micros: Math.max(0, actual - record.amount_micros),
        late: false,
      });
      break;
    case 'released':
    case 'expired':
      // The call ran after all (a slow executor, a lapsed reservation): the cost is real, charge it.
      acc.emit({ ...base, released_micros: 0, overrun_micros: actual, late: true });
      break;
    default:
      assertNever(record.status, 'reservation status');
  }
  const settled = lookup(acc.state.reservations, record.reservation_id);
  if (settled !== undefined) announceThresholds(acc, settled, command.now, config);
}

function release(acc: BudgetAccumulator, command: Release): void {
  requireText(command.reservation_id, 'reservation_id');
  const record = lookup(acc.state.reservations, command.reservation_id);
  if (record !== undefined && record.status !== 'reserved') return;
  // A release for a reservation never seen is remembered, so that a reserve arriving late is ignored.
  acc.emit({
    type: 'BudgetReleased',
    reservation_id: command.reservation_id,
    run_id: record?.run_id ?? null,
    agent_id: record?.agent_id ?? null,
    released_micros: record?.amount_micros ?? 0,
    released_at: command.now,
  });
}

function expire(acc: BudgetAccumulator, command: ExpireReservations, config: BudgetConfig): void {
  // Only the outstanding ones can lapse: the sweep before every reservation visits those alone.
  const lapsed: string[] = [];
  acc.state.outstanding.forEach((expiresAt, id) => {
    if (expiresAt !== null && command.now >= expiresAt) lapsed.push(id);
  });
  for (const id of lapsed) {
    const record = lookup(acc.state.reservations, id);
    if (record === undefined || record.run_id === null || record.agent_id === null) continue;
    acc.emit({
      type: 'BudgetReservationExpired',
      reservation_id: record.reservation_id,
      run_id: record.run_id,
      agent_id: record.agent_id,
      released_micros: record.amount_micros,
      expired_at: command.now,
    });
  }
  if (command.forget === false) return;
  const forgotten: string[] = [];
  acc.state.reservations.forEach((record) => {
    if (record.status !== 'reserved' && record.closed_at !== null && command.now >= record.closed_at + config.retention_ms)
      forgotten.push(record.reservation_id);
  });
  if (forgotten.length > 0) acc.emit({ type: 'ReservationsForgotten', reservation_ids: forgotten, forgotten_at: command.now });
}
