import type { BudgetApprovalStep } from '@writ/contracts';
import { WritError } from '@writ/errors';
import { accumulator, assertNever, lookup } from '@writ/decider';
import type { Accumulator } from '@writ/decider';
import type { BudgetCommand, ExpireReservations, Release, Reserve, SetLimits, SetTimeZone, Settle } from './commands.ts';
import type { BudgetConfig } from './config.ts';
import type { BudgetEvent, BudgetRefused, RefusalRule } from './events.ts';
import { evolveBudget } from './evolve.ts';
import {
  BUDGET_SCOPES,
  DEFAULT_SUBJECT,
  NO_USAGE,
  WINDOW_BUCKETS,
  counterEnd,
  isWindowCounter,
  countersOf,
  countersOfRecord,
  isTimeZone,
  levelOf,
  limitKey,
  periodId,
  periodOf,
} from './model.ts';
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
    case 'SetTimeZone':
      setTimeZone(acc, command);
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

/**
 * The caps that apply to a counter: its subject's own, else the scope's default. Own caps that set
 * no thresholds or degradation take the default's (a run's limits from its RunStarted degrade as
 * the budgets file says every run does).
 */
export function capsFor(state: BudgetState, counter: Pick<Counter, 'scope' | 'subject' | 'window_ms'>): Caps {
  const fallback = lookup(state.limits, limitKey(counter.scope, DEFAULT_SUBJECT, counter.window_ms));
  const own = counter.subject === DEFAULT_SUBJECT ? undefined : lookup(state.limits, limitKey(counter.scope, counter.subject, counter.window_ms));
  if (own === undefined) return fallback ?? NO_CAPS;
  const thresholds = own.thresholds_percent ?? fallback?.thresholds_percent ?? null;
  const readsOnlyAt = own.reads_only_at_percent ?? fallback?.reads_only_at_percent ?? null;
  const approvalAt = own.approval_at_percent ?? fallback?.approval_at_percent ?? null;
  return {
    money_micros: own.money_micros,
    tool_calls: own.tool_calls,
    ...(thresholds === null ? {} : { thresholds_percent: thresholds }),
    ...(readsOnlyAt === null ? {} : { reads_only_at_percent: readsOnlyAt }),
    ...(approvalAt === null ? {} : { approval_at_percent: approvalAt }),
  };
}

function capOf(caps: Caps, kind: BudgetKind): number | null {
  return kind === 'money' ? caps.money_micros : caps.tool_calls;
}

function usedIn(
  usage: { readonly settled_micros: number; readonly reserved_micros: number; readonly settled_calls: number; readonly reserved_calls: number },
  kind: BudgetKind,
): number {
  return kind === 'money' ? usage.settled_micros + usage.reserved_micros : usage.settled_calls + usage.reserved_calls;
}

/**
 * What a counter has used. A window's counter sums the bucket in progress and the WINDOW_BUCKETS
 * before it: a little more than the window (at most one bucket, 1/60 of it), never less, so spend
 * leaves a rolling budget up to a bucket late and never early.
 */
export function usedOf(state: BudgetState, counter: Counter, kind: BudgetKind): number {
  if (periodOf(counter.scope) === 'concurrent') {
    // In flight: reserved and not closed; what settled is no longer in flight.
    const usage = lookup(state.usage, counter.key) ?? NO_USAGE;
    return kind === 'money' ? usage.reserved_micros : usage.reserved_calls;
  }
  if (counter.window_ms === null) return usedIn(lookup(state.usage, counter.key) ?? NO_USAGE, kind);
  const bucket = Number(counter.period.slice(counter.period.indexOf(':') + 1));
  let used = 0;
  for (let b = bucket - WINDOW_BUCKETS; b <= bucket; b += 1) {
    used += usedIn(lookup(state.usage, `${counter.scope}|${counter.subject}|w${counter.window_ms}:${b}`) ?? NO_USAGE, kind);
  }
  return used;
}

/** The percentages announced for a budget: its own (or the service's default) and its degradation steps. */
function thresholdsOf(caps: Caps, config: BudgetConfig): number[] {
  const steps = [...(caps.thresholds_percent ?? config.thresholds_percent)];
  if (caps.approval_at_percent != null) steps.push(caps.approval_at_percent);
  if (caps.reads_only_at_percent != null) steps.push(caps.reads_only_at_percent);
  return [...new Set(steps)].sort((a, b) => a - b);
}

const MAX_WINDOW_MS = 366 * 86_400_000;

function requirePercent(value: number, field: string, max: number): void {
  if (!Number.isSafeInteger(value) || value < 1 || value > max) throw invalidCommand(field, `must be a whole number from 1 to ${max}`, value);
}

function setLimits(acc: BudgetAccumulator, command: SetLimits): void {
  if (!BUDGET_SCOPES.includes(command.scope)) throw invalidCommand('scope', `must be one of ${BUDGET_SCOPES.join(', ')}`, command.scope);
  const subject = command.subject ?? DEFAULT_SUBJECT;
  requireText(subject, 'subject');
  if (levelOf(command.scope) === 'tenant' && subject !== DEFAULT_SUBJECT) {
    throw invalidCommand('subject', `must be omitted for ${command.scope} (the tenant is the budget itself)`, subject);
  }
  const windowMs = command.window_ms ?? null;
  if (periodOf(command.scope) === 'window') {
    if (windowMs === null || !Number.isSafeInteger(windowMs) || windowMs < 60_000 || windowMs > MAX_WINDOW_MS || windowMs % 60_000 !== 0) {
      throw invalidCommand('window_ms', 'must be whole minutes from 1 minute to 366 days', windowMs);
    }
  } else if (windowMs !== null) {
    throw invalidCommand('window_ms', `must be omitted for ${command.scope} (only the *_window scopes have a window)`, windowMs);
  }
  const { caps } = command;
  if (caps.money_micros !== null) requireCount(caps.money_micros, 'caps.money_micros');
  if (caps.tool_calls !== null) requireCount(caps.tool_calls, 'caps.tool_calls');
  const thresholds = caps.thresholds_percent ?? null;
  if (thresholds !== null) {
    thresholds.forEach((percent, i) => requirePercent(percent, `caps.thresholds_percent[${i}]`, 1000));
    if (new Set(thresholds).size !== thresholds.length) throw invalidCommand('caps.thresholds_percent', 'must not repeat a percentage', thresholds);
  }
  const readsOnlyAt = caps.reads_only_at_percent ?? null;
  if (readsOnlyAt !== null) requirePercent(readsOnlyAt, 'caps.reads_only_at_percent', 100);
  const approvalAt = caps.approval_at_percent ?? null;
  if (approvalAt !== null) {
    requirePercent(approvalAt, 'caps.approval_at_percent', 100);
    if (readsOnlyAt !== null && approvalAt >= readsOnlyAt) {
      throw invalidCommand(
        'caps.approval_at_percent',
        `must be below caps.reads_only_at_percent (${readsOnlyAt}): past that step writes are refused`,
        approvalAt,
      );
    }
  }
  if (periodOf(command.scope) === 'concurrent' && (thresholds !== null || readsOnlyAt !== null || approvalAt !== null)) {
    throw invalidCommand('caps', `must not set thresholds or a degradation step for ${command.scope} (what is in flight has no period to fill)`, caps);
  }
  requireCurrency(command.currency, 'currency');
  requireSameCurrency(acc.state.currency, command.currency, 'currency');
  const normal: Caps = {
    money_micros: caps.money_micros,
    tool_calls: caps.tool_calls,
    ...(thresholds === null ? {} : { thresholds_percent: [...thresholds].sort((a, b) => a - b) }),
    ...(readsOnlyAt === null ? {} : { reads_only_at_percent: readsOnlyAt }),
    ...(approvalAt === null ? {} : { approval_at_percent: approvalAt }),
  };
  const current = lookup(acc.state.limits, limitKey(command.scope, subject, windowMs));
  if (current !== undefined && JSON.stringify(current) === JSON.stringify(normal)) return;
  acc.emit({ type: 'LimitsSet', scope: command.scope, subject, window_ms: windowMs, caps: normal, currency: command.currency, set_at: command.now });
}

function setTimeZone(acc: BudgetAccumulator, command: SetTimeZone): void {
  if (typeof command.time_zone !== 'string' || !isTimeZone(command.time_zone)) {
    throw invalidCommand('time_zone', 'must be an IANA time zone such as "Europe/Berlin"', command.time_zone);
  }
  if (acc.state.time_zone === command.time_zone) return;
  acc.emit({ type: 'TimeZoneSet', time_zone: command.time_zone, set_at: command.now });
}

/**
 * The first budget that refuses the reservation, innermost counter first: a cap it would cross
 * (money before tool calls), or, for a tool with side effects, a budget degraded to reads.
 */
function firstRefusal(
  state: BudgetState,
  counters: readonly Counter[],
  requested: Record<BudgetKind, number>,
  command: Reserve,
  sideEffects: boolean,
): BudgetRefused | null {
  const refusal = (counter: Counter, kind: BudgetKind, limit: number, used: number, rule: RefusalRule): BudgetRefused => ({
    type: 'BudgetRefused',
    reservation_id: command.reservation_id,
    run_id: command.run_id,
    agent_id: command.agent_id,
    scope: counter.scope,
    subject: counter.subject,
    window_ms: counter.window_ms,
    period: counter.period,
    rule,
    kind,
    limit,
    used,
    requested: requested[kind],
    currency: kind === 'money' ? command.currency : null,
    refused_at: command.now,
  });
  for (const counter of counters) {
    const caps = capsFor(state, counter);
    for (const kind of KINDS) {
      const limit = capOf(caps, kind);
      if (limit === null) continue;
      const used = usedOf(state, counter, kind);
      if (used + requested[kind] > limit) return refusal(counter, kind, limit, used, 'cap');
      const degradeAt = caps.reads_only_at_percent ?? null;
      if (sideEffects && degradeAt !== null && limit > 0 && reached(used, limit, degradeAt)) return refusal(counter, kind, limit, used, 'reads_only');
    }
  }
  return null;
}

/**
 * The first budget, innermost counter first, whose approval step a reservation for a tool with side
 * effects reaches (what it used before this reservation, like the reads-only step): the action
 * then needs an approval. null when none does, or the tool has no side effects.
 */
function firstApprovalStep(state: BudgetState, counters: readonly Counter[], sideEffects: boolean): BudgetApprovalStep | null {
  if (!sideEffects) return null;
  for (const counter of counters) {
    const caps = capsFor(state, counter);
    const percent = caps.approval_at_percent ?? null;
    if (percent === null) continue;
    for (const kind of KINDS) {
      const limit = capOf(caps, kind);
      if (limit === null || limit === 0) continue;
      const used = usedOf(state, counter, kind);
      if (!reached(used, limit, percent)) continue;
      return {
        scope: counter.scope,
        subject: counter.subject,
        period: counter.period,
        window_ms: counter.window_ms,
        kind,
        percent,
        limit,
        used,
        currency: kind === 'money' ? state.currency : null,
      };
    }
  }
  return null;
}

/** used / limit >= percent / 100, exactly (the product can pass 2^53 for large budgets). */
function reached(used: number, limit: number, percent: number): boolean {
  return BigInt(used) * 100n >= BigInt(limit) * BigInt(percent);
}

/**
 * Announces every threshold a reservation's counters have reached and not yet announced in this
 * period (a rolling window has no period to announce once in: its budgets announce nothing).
 */
function announceThresholds(acc: BudgetAccumulator, record: ReservationRecord, now: number, config: BudgetConfig): void {
  if (record.run_id === null || record.agent_id === null) return;
  for (const counter of countersOfRecord(acc.state, record)) {
    if (counter.window_ms !== null || periodOf(counter.scope) === 'concurrent') continue;
    const caps = capsFor(acc.state, counter);
    for (const kind of KINDS) {
      const limit = capOf(caps, kind);
      if (limit === null || limit === 0) continue;
      const used = usedOf(acc.state, counter, kind);
      const announced = lookup(acc.state.thresholds, `${counter.key}|${kind}`) ?? 0;
      for (const percent of thresholdsOf(caps, config)) {
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
  const tool = command.tool ?? null;
  if (tool !== null) requireText(tool, 'tool');
  const counters = countersOf(acc.state, { run_id: command.run_id, agent_id: command.agent_id, tool, at: command.now });
  const requested = { money: command.estimated_cost_micros, tool_calls: command.tool_calls };
  const sideEffects = command.side_effects ?? true;
  const refusal = firstRefusal(acc.state, counters, requested, command, sideEffects);
  if (refusal !== null) {
    acc.emit(refusal);
    return;
  }
  acc.emit({
    type: 'BudgetReserved',
    reservation_id: command.reservation_id,
    run_id: command.run_id,
    agent_id: command.agent_id,
    tool,
    day: periodId('day', command.now, acc.state.time_zone),
    amount_micros: command.estimated_cost_micros,
    tool_calls: command.tool_calls,
    currency: command.currency,
    reserved_at: command.now,
    expires_at: command.now + config.reservation_ttl_ms,
    approval_step: firstApprovalStep(acc.state, counters, sideEffects),
  });
  if (command.shadow === true) {
    // A shadow run's action never executes: the signed reservation says what it would have got,
    // and the books give it back at once (its ActionCompleted's release then finds nothing held).
    acc.emit({
      type: 'BudgetReleased',
      reservation_id: command.reservation_id,
      run_id: command.run_id,
      agent_id: command.agent_id,
      released_micros: command.estimated_cost_micros,
      released_at: command.now,
    });
    return;
  }
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
  // Counters of periods that are over: a window's bucket once its window has passed it (usedOf); a
  // calendar period once no reservation made in it can still settle or lapse (its TTL) and its
  // records are forgotten (the retention). A late write would only make it again, for the next sweep.
  const counters: string[] = [];
  acc.state.usage.forEach((_usage, key) => {
    const end = counterEnd(key);
    if (end === null) return;
    const over = isWindowCounter(key) ? command.now : command.now - config.reservation_ttl_ms - config.retention_ms;
    if (end < over) counters.push(key);
  });
  if (forgotten.length > 0 || counters.length > 0) {
    acc.emit({
      type: 'ReservationsForgotten',
      reservation_ids: forgotten,
      ...(counters.length > 0 ? { counter_keys: counters } : {}),
      forgotten_at: command.now,
    });
  }
}
