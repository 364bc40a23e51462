import { describe, expect, it } from 'vitest';
import { evolveAll } from '@writ/decider';
import { seededRandom } from '@writ/decider/testing';
import type { SeededRandom } from '@writ/decider/testing';
import { budgetDecider, usageOf } from './budget.ts';
import type { BudgetCommand, Reserve } from './commands.ts';
import { capsFor, usedOf } from './decide.ts';
import type { BudgetEvent } from './events.ts';
import { countersOf } from './model.ts';
import type { BudgetState, Caps, Counter } from './model.ts';

/**
 * Random sequences of limits, reservations, settlements, releases, expiry ticks and redelivered
 * commands, over several runs, agents and UTC days. Honest sequences settle at most what was
 * reserved; the others also overrun and settle after a release or an expiry.
 */
const T0 = Date.UTC(2026, 4, 1, 20, 0, 0); // four hours before midnight: days roll over mid-sequence
const RUNS: Readonly<Record<string, string>> = { 'run-1': 'agent-1', 'run-2': 'agent-1', 'run-3': 'agent-2' };
const TOOLS = ['tickets.get', 'refunds.issue'];
const READS_ONLY_AT = 75;

interface Outcome {
  readonly state: BudgetState;
  readonly log: BudgetEvent[];
  readonly actualById: Map<string, number>;
  readonly counters: Map<string, Counter>;
}

function randomCaps(random: SeededRandom): Caps {
  return { money_micros: random.chance(0.8) ? random.between(2, 40) * 1_000 : null, tool_calls: random.chance(0.6) ? random.between(1, 12) : null };
}

function capped(state: BudgetState, counter: Counter): { money: number | null; calls: number | null } {
  const caps = capsFor(state, counter);
  return { money: caps.money_micros, calls: caps.tool_calls };
}

function committed(state: BudgetState, counter: Counter): { money: number; calls: number } {
  return { money: usedOf(state, counter, 'money'), calls: usedOf(state, counter, 'tool_calls') };
}

/** A plain check (expect() per step and counter would dominate the run time). */
function atMost(value: number, cap: number | null, label: string): void {
  if (cap !== null && value > cap) throw new Error(`${label}: ${value} exceeds the cap of ${cap}`);
}

function withinCaps(state: BudgetState, counter: Counter, when: string): void {
  const cap = capped(state, counter);
  const used = committed(state, counter);
  atMost(used.money, cap.money, `${counter.key} money ${when}`);
  atMost(used.calls, cap.calls, `${counter.key} calls ${when}`);
}

function simulate(random: SeededRandom, honest: boolean): Outcome {
  let state = budgetDecider.initialState();
  let now = T0;
  const log: BudgetEvent[] = [];
  const delivered: BudgetCommand[] = [];
  const issued = new Map<string, Reserve>();
  const actualById = new Map<string, number>();
  const counters = new Map<string, Counter>();

  const apply = (command: BudgetCommand, redelivery: boolean): void => {
    const before = state;
    const events = budgetDecider.decide(command, state);
    state = evolveAll(budgetDecider, events, state);
    log.push(...events);
    if (redelivery && command.type !== 'ExpireReservations' && command.type !== 'SetLimits' && events.length > 0) {
      throw new Error(`redelivered ${command.type} ${'reservation_id' in command ? command.reservation_id : ''} had an effect: ${JSON.stringify(events)}`);
    }
    if (!redelivery) delivered.push(command);
    for (const event of events) {
      if (event.type === 'BudgetSettled') actualById.set(event.reservation_id, event.actual_cost_micros);
      if (event.type === 'BudgetReserved') {
        // A reservation never takes a capped counter over its cap.
        for (const counter of countersOf(state, { run_id: event.run_id, agent_id: event.agent_id, tool: event.tool, at: event.reserved_at })) {
          counters.set(counter.key, counter);
          withinCaps(state, counter, 'after reserving');
        }
      }
      const uncaused =
        event.type === 'BudgetRefused' &&
        (before.reservations.has(event.reservation_id) ||
          (event.rule === 'cap' && event.used + event.requested <= event.limit) ||
          (event.rule === 'reads_only' && (issued.get(event.reservation_id)?.side_effects === false || event.used * 100 < event.limit * READS_ONLY_AT)));
      if (uncaused) throw new Error(`refusal without cause: ${JSON.stringify(event)}`);
    }
  };

  apply({ type: 'SetLimits', scope: 'tenant_day', caps: randomCaps(random), currency: 'USD', now }, false);
  apply({ type: 'SetLimits', scope: 'agent_day', caps: randomCaps(random), currency: 'USD', now }, false);
  apply({ type: 'SetLimits', scope: 'agent_day', subject: 'agent-2', caps: randomCaps(random), currency: 'USD', now }, false);
  apply({ type: 'SetLimits', scope: 'run', caps: randomCaps(random), currency: 'USD', now }, false);
  // Periods in a zone whose days do not start at UTC midnight, per-tool weekly and monthly caps, a
  // rolling hour per agent, and a tenant month that degrades to reads.
  if (random.chance(0.5)) apply({ type: 'SetTimeZone', time_zone: 'America/Los_Angeles', now }, false);
  apply({ type: 'SetLimits', scope: 'tool_week', caps: randomCaps(random), currency: 'USD', now }, false);
  apply({ type: 'SetLimits', scope: 'tool_month', subject: 'tickets.get', caps: randomCaps(random), currency: 'USD', now }, false);
  apply({ type: 'SetLimits', scope: 'agent_window', window_ms: 60 * 60_000, caps: randomCaps(random), currency: 'USD', now }, false);
  apply({ type: 'SetLimits', scope: 'agent_concurrent', caps: { money_micros: null, tool_calls: random.between(1, 4) }, currency: 'USD', now }, false);
  apply({ type: 'SetLimits', scope: 'tenant_month', caps: { ...randomCaps(random), reads_only_at_percent: READS_ONLY_AT }, currency: 'USD', now }, false);

  for (let step = 0; step < 250; step += 1) {
    now += random.int(12 * 60_000);
    const roll = random.next();
    if (roll < 0.4) {
      const run = random.pick(Object.keys(RUNS));
      const command: Reserve = {
        type: 'Reserve',
        reservation_id: `r${step}`,
        run_id: run,
        agent_id: RUNS[run] ?? 'agent-1',
        estimated_cost_micros: random.int(4_000),
        tool_calls: 1,
        currency: 'USD',
        now,
        tool: random.pick(TOOLS),
        side_effects: random.chance(0.7),
      };
      issued.set(command.reservation_id, command);
      apply(command, false);
    } else if (roll < 0.62) {
      const granted = [...issued.keys()].filter((id) => {
        const status = state.reservations.get(id)?.status;
        return status === 'reserved' || (!honest && (status === 'released' || status === 'expired'));
      });
      if (granted.length === 0) continue;
      const id = random.pick(granted);
      const estimate = issued.get(id)?.estimated_cost_micros ?? 0;
      const actual = honest ? random.int(estimate + 1) : random.int(Math.floor(estimate * 1.5) + 1);
      apply({ type: 'Settle', reservation_id: id, actual_cost_micros: actual, currency: 'USD', now }, false);
    } else if (roll < 0.72) {
      if (issued.size === 0) continue;
      apply({ type: 'Release', reservation_id: random.pick([...issued.keys()]), now }, false);
    } else if (roll < 0.8) {
      apply({ type: 'ExpireReservations', now }, false);
    } else if (delivered.length > 0) {
      apply(random.pick(delivered), true);
    }
    if (honest) {
      // (A window's counters are checked as each reservation is made: summing their buckets at every step is slow.)
      for (const counter of counters.values()) if (counter.window_ms === null) withinCaps(state, counter, `at step ${step}`);
    }
  }
  return { state, log, actualById, counters };
}

function checkBooks({ state, log, actualById, counters }: Outcome): void {
  const expectedSettled = [...actualById.values()].reduce((sum, value) => sum + value, 0);
  const byScope: Record<string, number> = {};
  let reservedInCounters = 0;
  let inFlight = 0;
  for (const counter of counters.values()) {
    // A window's old buckets are forgotten: only the calendar counters keep every settlement.
    if (counter.window_ms !== null) continue;
    const usage = usageOf(state, counter.scope, counter.subject, counter.period);
    byScope[counter.scope] = (byScope[counter.scope] ?? 0) + usage.settled_micros;
    if (counter.scope === 'tenant_day') reservedInCounters += usage.reserved_micros;
    if (counter.scope === 'tenant_concurrent') inFlight += usage.reserved_micros;
    for (const value of Object.values(usage)) expect(value).toBeGreaterThanOrEqual(0);
  }
  // Settled totals equal the sum of actual costs exactly, at every level of nesting and every period.
  const scopes = [
    'run',
    'agent_day',
    'agent_week',
    'agent_month',
    'agent_concurrent',
    'tool_day',
    'tool_week',
    'tool_month',
    'tool_concurrent',
    'tenant_day',
    'tenant_week',
    'tenant_month',
    'tenant_concurrent',
  ];
  expect(byScope).toEqual(expectedSettled === 0 && counters.size === 0 ? {} : Object.fromEntries(scopes.map((scope) => [scope, expectedSettled])));
  expect(log.filter((event) => event.type === 'BudgetSettled')).toHaveLength(actualById.size);
  // What the counters hold as reserved is exactly what the outstanding reservations hold.
  const outstanding = [...state.reservations.values()].filter((record) => record.status === 'reserved');
  expect(reservedInCounters).toBe(outstanding.reduce((sum, record) => sum + record.amount_micros, 0));
  expect(inFlight).toBe(reservedInCounters);
  // The index the lapse sweep visits holds exactly the outstanding reservations, with their expiry.
  expect([...state.outstanding.entries()].sort()).toEqual(outstanding.map((record) => [record.reservation_id, record.expires_at] as const).sort());
  // And the state is a pure fold of the events.
  expect(evolveAll(budgetDecider, log)).toEqual(state);
}

// Hundreds of random sequences: seconds, more on a loaded machine.
describe('budget properties over random sequences', { timeout: 30_000 }, () => {
  it('honest sequences never exceed any cap, and the books balance', () => {
    const seen = new Set<string>();
    const refusedBy = new Set<string>();
    for (let seed = 1; seed <= 150; seed += 1) {
      try {
        const outcome = simulate(seededRandom(seed), true);
        checkBooks(outcome);
        for (const event of outcome.log) {
          seen.add(event.type);
          if (event.type === 'BudgetRefused') refusedBy.add(`${event.scope}:${event.rule}`);
        }
      } catch (error) {
        throw new Error(`seed ${seed}: ${(error as Error).message}`, { cause: error });
      }
    }
    expect([...seen].sort()).toEqual(
      [
        'BudgetRefused',
        'BudgetReleased',
        'BudgetReservationExpired',
        'BudgetReserved',
        'BudgetSettled',
        'BudgetThresholdCrossed',
        'LimitsSet',
        'ReservationsForgotten',
        'TimeZoneSet',
      ].sort(),
    );
    // Every kind of budget refused something in these sequences: the checks above covered them all.
    expect([...refusedBy].sort()).toEqual(
      expect.arrayContaining([
        'run:cap',
        'agent_day:cap',
        'agent_window:cap',
        'agent_concurrent:cap',
        'tool_week:cap',
        'tool_month:cap',
        'tenant_month:reads_only',
      ]),
    );
  });

  it('with overruns and late settlements, reservations still never cross a cap, and the books balance', () => {
    let overruns = 0;
    let late = 0;
    for (let seed = 1; seed <= 150; seed += 1) {
      try {
        const outcome = simulate(seededRandom(10_000 + seed), false);
        checkBooks(outcome);
        for (const event of outcome.log) {
          if (event.type === 'BudgetSettled' && event.overrun_micros > 0) overruns += 1;
          if (event.type === 'BudgetSettled' && event.late) late += 1;
        }
      } catch (error) {
        throw new Error(`seed ${10_000 + seed}: ${(error as Error).message}`, { cause: error });
      }
    }
    expect(overruns).toBeGreaterThan(50);
    expect(late).toBeGreaterThan(10);
  });
});
