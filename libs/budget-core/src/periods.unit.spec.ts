// Budgets beyond the run and the UTC day: calendar periods in the tenant's time zone, per-tool
// budgets, rolling windows, per-budget thresholds and the degradation to reads.
import { describe, expect, it } from 'vitest';
import { accountantStep } from './accountant.ts';
import { budgetDecider, usageOf } from './budget.ts';
import type { BudgetCommand, Reserve } from './commands.ts';
import type { BudgetEvent, BudgetRefused } from './events.ts';
import type { BudgetScope, BudgetState } from './model.ts';
import { counterEnd, isTimeZone, periodId, periodIds } from './model.ts';

const HOUR = 3_600_000;
const DAY_MS = 24 * HOUR;

function apply(state: BudgetState, command: BudgetCommand): { state: BudgetState; events: readonly BudgetEvent[] } {
  return accountantStep(budgetDecider, state, command);
}

function books(...commands: BudgetCommand[]): BudgetState {
  return commands.reduce((state, command) => apply(state, command).state, budgetDecider.initialState());
}

let seq = 0;
function reserve(at: number, amount: number, overrides: Partial<Reserve> = {}): Reserve {
  seq += 1;
  return {
    type: 'Reserve',
    reservation_id: `r${seq}`,
    run_id: `run-${seq}`,
    agent_id: 'bot',
    estimated_cost_micros: amount,
    tool_calls: 1,
    currency: 'USD',
    now: at,
    tool: 'refunds.issue',
    side_effects: true,
    ...overrides,
  };
}

/** Reserves and settles at the same cost (a reservation not settled lapses after its TTL, an hour). */
function spend(state: BudgetState, command: Reserve): { state: BudgetState; events: readonly BudgetEvent[] } {
  const reserved = apply(state, command);
  const settled = apply(reserved.state, {
    type: 'Settle',
    reservation_id: command.reservation_id,
    actual_cost_micros: command.estimated_cost_micros,
    currency: 'USD',
    now: command.now,
  });
  return { state: settled.state, events: [...reserved.events, ...settled.events] };
}

function refusalOf(events: readonly BudgetEvent[]): BudgetRefused | undefined {
  return events.find((event): event is BudgetRefused => event.type === 'BudgetRefused');
}

describe('calendar periods in the tenant time zone', () => {
  it('names the day, ISO week and month of an instant in a zone', () => {
    // 2026-12-07 03:00 UTC is still the 6th in Los Angeles (UTC-8).
    const instant = Date.UTC(2026, 11, 7, 3, 0);
    expect(periodIds(instant)).toEqual({ day: '2026-12-07', week: '2026-W50', month: '2026-12' });
    expect(periodIds(instant, 'America/Los_Angeles')).toEqual({ day: '2026-12-06', week: '2026-W49', month: '2026-12' });
    // ISO weeks at the turn of the year: 2026-12-31 (Thursday) and 2027-01-03 (Sunday) are in 2026-W53; 2027-01-04 starts 2027-W01.
    expect(periodId('week', Date.UTC(2026, 11, 31, 12))).toBe('2026-W53');
    expect(periodId('week', Date.UTC(2027, 0, 3, 12))).toBe('2026-W53');
    expect(periodId('week', Date.UTC(2027, 0, 4, 12))).toBe('2027-W01');
    // 2024-12-30 (Monday) is in 2025-W01.
    expect(periodId('week', Date.UTC(2024, 11, 30, 12))).toBe('2025-W01');
    // Month end in Tokyo (UTC+9) comes nine hours before UTC's.
    expect(periodId('month', Date.UTC(2026, 0, 31, 16), 'Asia/Tokyo')).toBe('2026-02');
    expect(isTimeZone('Europe/Berlin')).toBe(true);
    expect(isTimeZone('Mars/Olympus')).toBe(false);
  });

  it("an agent's day cap starts again at the tenant's midnight, not UTC's", () => {
    const state = books(
      { type: 'SetTimeZone', time_zone: 'America/Los_Angeles', now: 0 },
      { type: 'SetLimits', scope: 'agent_day', caps: { money_micros: 100, tool_calls: null }, currency: 'USD', now: 0 },
    );
    // 23:00 and 23:30 UTC on Dec 6 are 15:00 and 15:30 in Los Angeles; 07:30 UTC on Dec 7 is 23:30 there: still Dec 6.
    const first = spend(state, reserve(Date.UTC(2026, 11, 6, 23), 60));
    expect(first.events[0]).toMatchObject({ type: 'BudgetReserved', day: '2026-12-06' });
    const sameLocalDay = apply(first.state, reserve(Date.UTC(2026, 11, 7, 7, 30), 60));
    expect(refusalOf(sameLocalDay.events)).toMatchObject({ scope: 'agent_day', subject: 'bot', period: '2026-12-06', rule: 'cap', used: 60, limit: 100 });
    // 08:00 UTC is midnight in Los Angeles: a new day.
    const nextLocalDay = apply(first.state, reserve(Date.UTC(2026, 11, 7, 8), 60));
    expect(nextLocalDay.events[0]).toMatchObject({ type: 'BudgetReserved', day: '2026-12-07' });
  });

  it('week and month budgets of the tenant count across days, and refuse when crossed', () => {
    let state = books(
      { type: 'SetLimits', scope: 'tenant_week', caps: { money_micros: 250, tool_calls: null }, currency: 'USD', now: 0 },
      { type: 'SetLimits', scope: 'tenant_month', caps: { money_micros: null, tool_calls: 4 }, currency: 'USD', now: 0 },
    );
    const monday = Date.UTC(2026, 11, 7, 12);
    for (const day of [0, 1, 2]) state = spend(state, reserve(monday + day * DAY_MS, 80, { agent_id: `agent-${day}` })).state;
    expect(usageOf(state, 'tenant_week', '*', '2026-W50').settled_micros).toBe(240);
    expect(refusalOf(apply(state, reserve(monday + 3 * DAY_MS, 20)).events)).toMatchObject({ scope: 'tenant_week', period: '2026-W50', used: 240, limit: 250 });
    // The next Monday is a new week; the month still counts every call.
    state = spend(state, reserve(monday + 7 * DAY_MS, 20)).state;
    expect(refusalOf(apply(state, reserve(monday + 8 * DAY_MS, 1)).events)).toMatchObject({
      scope: 'tenant_month',
      kind: 'tool_calls',
      period: '2026-12',
      used: 4,
      limit: 4,
    });
  });
});

describe('tool budgets', () => {
  it("a tool's own budget overrides the default of every tool, and counts every agent's calls", () => {
    let state = books(
      { type: 'SetLimits', scope: 'tool_day', caps: { money_micros: null, tool_calls: 10 }, currency: 'USD', now: 0 },
      { type: 'SetLimits', scope: 'tool_day', subject: 'refunds.issue', caps: { money_micros: null, tool_calls: 2 }, currency: 'USD', now: 0 },
    );
    const at = Date.UTC(2026, 11, 7, 12);
    state = apply(state, reserve(at, 1, { agent_id: 'a' })).state;
    state = apply(state, reserve(at, 1, { agent_id: 'b' })).state;
    expect(refusalOf(apply(state, reserve(at, 1, { agent_id: 'c' })).events)).toMatchObject({ scope: 'tool_day', subject: 'refunds.issue', used: 2, limit: 2 });
    // Another tool falls under the default of ten.
    expect(apply(state, reserve(at, 1, { tool: 'tickets.get' })).events[0]).toMatchObject({ type: 'BudgetReserved', tool: 'tickets.get' });
  });
});

describe('rolling windows', () => {
  const at = Date.UTC(2026, 11, 7, 12);
  const hourly = books({ type: 'SetLimits', scope: 'agent_window', window_ms: HOUR, caps: { money_micros: 100, tool_calls: null }, currency: 'USD', now: 0 });

  it('counts the last window, and frees spend once the window has passed it (at most one bucket late, never early)', () => {
    const spent = spend(hourly, reserve(at, 100)).state;
    const refused = refusalOf(apply(spent, reserve(at + 59 * 60_000, 1)).events);
    expect(refused).toMatchObject({ scope: 'agent_window', subject: 'bot', window_ms: HOUR, rule: 'cap', used: 100 });
    // Exactly one hour later the spend is still counted (the bucket of one minute it sits in is read whole)...
    expect(refusalOf(apply(spent, reserve(at + HOUR, 1)).events)).toBeDefined();
    // ...and one bucket (a minute) after that it is not.
    expect(apply(spent, reserve(at + HOUR + 60_000, 1)).events[0]).toMatchObject({ type: 'BudgetReserved' });
  });

  it("a settled cost counts in the window of its reservation's instant; old buckets are forgotten by the timer", () => {
    let state = apply(hourly, reserve(at, 40)).state;
    const id = `r${seq}`;
    state = apply(state, { type: 'Settle', reservation_id: id, actual_cost_micros: 90, currency: 'USD', now: at + 30 * 60_000 }).state;
    expect(refusalOf(apply(state, reserve(at + 40 * 60_000, 20)).events)).toMatchObject({ used: 90 });
    const bucketsBefore = [...state.usage.keys()].filter((key) => key.includes('|w3600000:'));
    expect(bucketsBefore).toHaveLength(1);
    const swept = apply(state, { type: 'ExpireReservations', now: at + 2 * HOUR + 60_000 });
    expect(swept.events).toContainEqual(expect.objectContaining({ type: 'ReservationsForgotten', counter_keys: bucketsBefore }));
    expect([...swept.state.usage.keys()].filter((key) => key.includes('|w3600000:'))).toEqual([]);
  });

  it('refuses a window that is not whole minutes, or a window on a calendar scope', () => {
    const bad = (command: BudgetCommand) => () => apply(budgetDecider.initialState(), command);
    expect(bad({ type: 'SetLimits', scope: 'agent_window', window_ms: 90_500, caps: { money_micros: 1, tool_calls: null }, currency: 'USD', now: 0 })).toThrow(
      /window_ms must be whole minutes/,
    );
    expect(bad({ type: 'SetLimits', scope: 'agent_window', caps: { money_micros: 1, tool_calls: null }, currency: 'USD', now: 0 })).toThrow(/window_ms/);
    expect(bad({ type: 'SetLimits', scope: 'agent_day', window_ms: HOUR, caps: { money_micros: 1, tool_calls: null }, currency: 'USD', now: 0 })).toThrow(
      /window_ms must be omitted for agent_day/,
    );
    expect(bad({ type: 'SetTimeZone', time_zone: 'Mars/Olympus', now: 0 })).toThrow(/time_zone must be an IANA time zone/);
  });
});

describe('degradation and thresholds per budget', () => {
  const at = Date.UTC(2026, 11, 7, 12);
  const degrading = books({
    type: 'SetLimits',
    scope: 'tenant_month',
    caps: { money_micros: 1_000, tool_calls: null, thresholds_percent: [25], reads_only_at_percent: 80 },
    currency: 'USD',
    now: 0,
  });

  it('announces its own thresholds and its degradation step, once per period', () => {
    const first = apply(degrading, reserve(at, 300));
    expect(first.events.filter((e) => e.type === 'BudgetThresholdCrossed').map((e) => e.type === 'BudgetThresholdCrossed' && e.threshold_percent)).toEqual([
      25,
    ]);
    const second = apply(first.state, reserve(at, 500));
    expect(second.events.filter((e) => e.type === 'BudgetThresholdCrossed').map((e) => e.type === 'BudgetThresholdCrossed' && e.threshold_percent)).toEqual([
      80,
    ]);
    expect(second.events.filter((e) => e.type === 'BudgetThresholdCrossed')[0]).toMatchObject({ scope: 'tenant_month', period: '2026-12' });
  });

  it('from its step on, refuses tools with side effects and still reserves reads, up to the cap', () => {
    const full = apply(degrading, reserve(at, 800)).state;
    expect(refusalOf(apply(full, reserve(at, 10)).events)).toMatchObject({ scope: 'tenant_month', rule: 'reads_only', used: 800, limit: 1_000, requested: 10 });
    expect(apply(full, reserve(at, 10, { side_effects: false, tool: 'tickets.get' })).events[0]).toMatchObject({ type: 'BudgetReserved' });
    expect(refusalOf(apply(full, reserve(at, 201, { side_effects: false })).events)).toMatchObject({ rule: 'cap' });
    // Below the step, a write is reserved.
    expect(apply(apply(degrading, reserve(at, 790)).state, reserve(at, 5)).events[0]).toMatchObject({ type: 'BudgetReserved' });
  });

  it('refuses nonsense percentages, naming the field', () => {
    const set = (caps: object) => () =>
      apply(budgetDecider.initialState(), {
        type: 'SetLimits',
        scope: 'tenant_day',
        caps: { money_micros: 1, tool_calls: null, ...caps },
        currency: 'USD',
        now: 0,
      });
    expect(set({ reads_only_at_percent: 0 })).toThrow(/caps.reads_only_at_percent must be a whole number from 1 to 100/);
    expect(set({ thresholds_percent: [50, 50] })).toThrow(/caps.thresholds_percent must not repeat/);
    expect(set({ thresholds_percent: [1.5] })).toThrow(/caps.thresholds_percent\[0\]/);
  });
});

describe('the approval step (degradation: writes need an approval)', () => {
  const at = Date.UTC(2026, 11, 7, 12);
  const stepped = books(
    {
      type: 'SetLimits',
      scope: 'tenant_month',
      caps: { money_micros: 1_000, tool_calls: null, thresholds_percent: [25], approval_at_percent: 50, reads_only_at_percent: 80 },
      currency: 'USD',
      now: 0,
    },
    { type: 'SetLimits', scope: 'agent_day', subject: 'bot', caps: { money_micros: null, tool_calls: 4, approval_at_percent: 75 }, currency: 'USD', now: 0 },
  );
  const reservedOf = (events: readonly BudgetEvent[]) => events.find((event) => event.type === 'BudgetReserved');

  it('below the step a write is reserved with no approval step; from it on, reserved naming the budget that wants an approval', () => {
    // Another agent than the one with its own daily step.
    const writer = { agent_id: 'writer' };
    const below = apply(stepped, reserve(at, 490, writer));
    expect(reservedOf(below.events)).toMatchObject({ type: 'BudgetReserved', approval_step: null });
    const atStep = apply(below.state, reserve(at, 10, writer));
    // The step counts what was used before this reservation (490 of 1000): not yet.
    expect(reservedOf(atStep.events)).toMatchObject({ approval_step: null });
    const past = apply(atStep.state, reserve(at, 10, writer));
    expect(reservedOf(past.events)).toMatchObject({
      type: 'BudgetReserved',
      approval_step: {
        scope: 'tenant_month',
        subject: '*',
        period: '2026-12',
        window_ms: null,
        kind: 'money',
        percent: 50,
        limit: 1_000,
        used: 500,
        currency: 'USD',
      },
    });
    // A read is never held for an approval; past the reads-only step a write is refused, not held.
    expect(reservedOf(apply(atStep.state, reserve(at, 10, { ...writer, side_effects: false, tool: 'tickets.get' })).events)).toMatchObject({
      approval_step: null,
    });
    const degraded = apply(past.state, reserve(at, 290, writer)).state;
    expect(refusalOf(apply(degraded, reserve(at, 10, writer)).events)).toMatchObject({ rule: 'reads_only', used: 800 });
  });

  it('names the innermost budget whose step is reached, counting tool calls too, and announces the step as a threshold', () => {
    let state = stepped;
    const crossed: number[] = [];
    for (let i = 0; i < 3; i += 1) {
      const step = spend(state, reserve(at, 1, { agent_id: 'bot' }));
      state = step.state;
      for (const event of step.events) if (event.type === 'BudgetThresholdCrossed' && event.scope === 'agent_day') crossed.push(event.threshold_percent);
    }
    // 2 of 4: the service's default 50 %; 3 of 4: the agent's day at its approval step, announced once like any threshold.
    expect(crossed).toEqual([50, 75]);
    expect(reservedOf(apply(state, reserve(at, 1, { agent_id: 'bot' })).events)).toMatchObject({
      approval_step: { scope: 'agent_day', subject: 'bot', period: '2026-12-07', kind: 'tool_calls', percent: 75, limit: 4, used: 3, currency: null },
    });
  });

  it('refuses a step at or above the reads-only step, or on a concurrent budget, naming the field', () => {
    const set = (scope: BudgetScope, caps: object) => () =>
      apply(budgetDecider.initialState(), { type: 'SetLimits', scope, caps: { money_micros: 1, tool_calls: null, ...caps }, currency: 'USD', now: 0 });
    expect(set('tenant_day', { approval_at_percent: 80, reads_only_at_percent: 80 })).toThrow(
      /caps.approval_at_percent must be below caps.reads_only_at_percent \(80\)/,
    );
    expect(set('tenant_day', { approval_at_percent: 101 })).toThrow(/caps.approval_at_percent must be a whole number from 1 to 100/);
    expect(set('tenant_concurrent', { approval_at_percent: 50 })).toThrow(/must not set thresholds or a degradation step for tenant_concurrent/);
  });
});

describe('own caps and the default', () => {
  it("a run's own caps keep the default run budget's degradation and thresholds unless they set their own", () => {
    const at = Date.UTC(2026, 11, 7, 12);
    let state = books(
      {
        type: 'SetLimits',
        scope: 'run',
        caps: { money_micros: 1_000_000, tool_calls: null, reads_only_at_percent: 50, thresholds_percent: [50] },
        currency: 'USD',
        now: 0,
      },
      { type: 'SetLimits', scope: 'run', subject: 'run-own', caps: { money_micros: 100, tool_calls: null }, currency: 'USD', now: 0 },
    );
    const first = spend(state, reserve(at, 60, { run_id: 'run-own' }));
    expect(first.events).toContainEqual(
      expect.objectContaining({ type: 'BudgetThresholdCrossed', scope: 'run', subject: 'run-own', threshold_percent: 50, limit: 100 }),
    );
    state = first.state;
    expect(refusalOf(apply(state, reserve(at, 10, { run_id: 'run-own' })).events)).toMatchObject({ rule: 'reads_only', limit: 100, used: 60 });
    expect(apply(state, reserve(at, 10, { run_id: 'run-own', side_effects: false })).events[0]).toMatchObject({ type: 'BudgetReserved' });
  });
});

describe('concurrency limits', () => {
  it('count what is reserved and not yet closed; a settlement or a release frees a place', () => {
    const at = Date.UTC(2026, 11, 7, 12);
    let state = books(
      { type: 'SetLimits', scope: 'agent_concurrent', caps: { money_micros: null, tool_calls: 2 }, currency: 'USD', now: 0 },
      { type: 'SetLimits', scope: 'tool_concurrent', subject: 'customers.export', caps: { money_micros: 50, tool_calls: null }, currency: 'USD', now: 0 },
    );
    const first = reserve(at, 10);
    const second = reserve(at, 10);
    state = apply(apply(state, first).state, second).state;
    expect(refusalOf(apply(state, reserve(at, 10)).events)).toMatchObject({
      scope: 'agent_concurrent',
      subject: 'bot',
      period: 'now',
      kind: 'tool_calls',
      used: 2,
      limit: 2,
    });
    // Another agent has places of its own.
    expect(apply(state, reserve(at, 10, { agent_id: 'other' })).events[0]).toMatchObject({ type: 'BudgetReserved' });
    state = apply(state, { type: 'Settle', reservation_id: first.reservation_id, actual_cost_micros: 10, currency: 'USD', now: at }).state;
    state = apply(state, { type: 'Release', reservation_id: second.reservation_id, now: at }).state;
    const third = reserve(at, 10);
    state = apply(state, third).state;
    expect(state.reservations.get(third.reservation_id)?.status).toBe('reserved');
    // Money held in flight, for one tool across agents.
    const held = apply(state, reserve(at, 40, { tool: 'customers.export', agent_id: 'a' })).state;
    expect(refusalOf(apply(held, reserve(at, 20, { tool: 'customers.export', agent_id: 'b' })).events)).toMatchObject({
      scope: 'tool_concurrent',
      kind: 'money',
      used: 40,
      limit: 50,
    });
  });

  it('refuses thresholds or a degradation step on a concurrent budget', () => {
    expect(() =>
      apply(budgetDecider.initialState(), {
        type: 'SetLimits',
        scope: 'tenant_concurrent',
        caps: { money_micros: null, tool_calls: 5, reads_only_at_percent: 50 },
        currency: 'USD',
        now: 0,
      }),
    ).toThrow(/caps must not set thresholds or a degradation step for tenant_concurrent/);
  });
});

describe('counters of periods that are over', () => {
  it('end when their period ends in the zone furthest ahead of UTC', () => {
    expect(counterEnd('agent_day|bot|2026-12-07')).toBe(Date.UTC(2026, 11, 8) + 14 * HOUR);
    // ISO week 2026-W50 runs from Monday 7 to Sunday 13 December.
    expect(counterEnd('tool_week|refunds.issue|2026-W50')).toBe(Date.UTC(2026, 11, 14) + 14 * HOUR);
    expect(counterEnd('tenant_week|*|2027-W01')).toBe(Date.UTC(2027, 0, 11) + 14 * HOUR);
    expect(counterEnd('tenant_month|*|2026-12')).toBe(Date.UTC(2027, 0, 1) + 14 * HOUR);
    expect(counterEnd('agent_window|bot|w3600000:10')).toBe(11 * 60_000 + HOUR);
    expect(counterEnd('run|run-1')).toBeNull();
    expect(counterEnd('agent_concurrent|bot|now')).toBeNull();
  });

  it('are forgotten once nothing made in them can settle any more (TTL and retention later); the current ones stay', () => {
    const at = Date.UTC(2026, 11, 7, 12);
    let state = books({ type: 'SetLimits', scope: 'tenant_week', caps: { money_micros: 1_000, tool_calls: null }, currency: 'USD', now: 0 });
    state = spend(state, reserve(at, 600)).state;
    const old = [...state.usage.keys()].filter((key) => counterEnd(key) !== null);
    expect(old.length).toBeGreaterThan(0);
    // Two days later (TTL 1 h, retention 48 h): the day of Dec 7 is not forgotten yet.
    const early = apply(state, { type: 'ExpireReservations', now: at + 2 * DAY_MS });
    expect([...early.state.usage.keys()].filter((key) => key.endsWith('|2026-12-07'))).not.toEqual([]);
    // Forty days later every calendar counter of December 7 (its day, week and month) is gone, with its thresholds; the run's stays.
    const late = apply(state, { type: 'ExpireReservations', now: at + 40 * DAY_MS });
    expect([...late.state.usage.keys()].filter((key) => counterEnd(key) !== null)).toEqual([]);
    expect([...late.state.usage.keys()].some((key) => key.startsWith('run|'))).toBe(true);
    expect([...late.state.thresholds.keys()]).toEqual([]);
    // A reservation then counts in the new week from zero.
    expect(apply(late.state, reserve(at + 40 * DAY_MS, 900)).events[0]).toMatchObject({ type: 'BudgetReserved' });
  });
});
