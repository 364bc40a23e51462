import { describe, expect, it } from 'vitest';
import { deciderSpec } from '@writ/decider/testing';
import { evolveAll } from '@writ/decider';
import { budgetDecider, createBudgetDecider, nextReservationExpiry, usageOf } from './budget.ts';
import type { Reserve, SetLimits, Settle } from './commands.ts';
import type { BudgetEvent, BudgetReserved, BudgetSettled, BudgetThresholdCrossed, LimitsSet } from './events.ts';
import type { BudgetKind, BudgetScope, Caps } from './model.ts';
import { utcDay } from './model.ts';

const T0 = Date.UTC(2026, 4, 1, 12, 0, 0);
const DAY = '2026-05-01';
const HOUR = 60 * 60_000;
const spec = deciderSpec(budgetDecider);

const caps = (money_micros: number | null, tool_calls: number | null = null): Caps => ({ money_micros, tool_calls });
const limitsSet = (scope: BudgetScope, subject: string, c: Caps): LimitsSet => ({
  type: 'LimitsSet',
  scope,
  subject,
  window_ms: null,
  caps: c,
  currency: 'USD',
  set_at: T0,
});
const setLimits = (scope: BudgetScope, c: Caps, subject?: string): SetLimits => ({
  type: 'SetLimits',
  scope,
  ...(subject === undefined ? {} : { subject }),
  caps: c,
  currency: 'USD',
  now: T0,
});
const reserve = (id: string, amount: number, overrides: Partial<Reserve> = {}): Reserve => ({
  type: 'Reserve',
  reservation_id: id,
  run_id: 'run-1',
  agent_id: 'agent-1',
  estimated_cost_micros: amount,
  tool_calls: 1,
  currency: 'USD',
  now: T0,
  ...overrides,
});
const reserved = (id: string, amount: number, overrides: Partial<BudgetReserved> = {}): BudgetReserved => ({
  type: 'BudgetReserved',
  reservation_id: id,
  run_id: 'run-1',
  agent_id: 'agent-1',
  tool: null,
  day: DAY,
  amount_micros: amount,
  tool_calls: 1,
  currency: 'USD',
  reserved_at: T0,
  expires_at: T0 + HOUR,
  approval_step: null,
  ...overrides,
});
const settle = (id: string, actual: number, now = T0 + 1000): Settle => ({
  type: 'Settle',
  reservation_id: id,
  actual_cost_micros: actual,
  currency: 'USD',
  now,
});
const settled = (id: string, reservedAmount: number, actual: number, overrides: Partial<BudgetSettled> = {}): BudgetSettled => ({
  type: 'BudgetSettled',
  reservation_id: id,
  run_id: 'run-1',
  agent_id: 'agent-1',
  day: DAY,
  reserved_micros: reservedAmount,
  actual_cost_micros: actual,
  released_micros: Math.max(0, reservedAmount - actual),
  overrun_micros: Math.max(0, actual - reservedAmount),
  tool_calls: 1,
  currency: 'USD',
  late: false,
  settled_at: T0 + 1000,
  ...overrides,
});
const crossed = (
  scope: BudgetScope,
  kind: BudgetKind,
  percent: number,
  used: number,
  limit: number,
  extra: Partial<BudgetThresholdCrossed> = {},
): BudgetThresholdCrossed => ({
  type: 'BudgetThresholdCrossed',
  scope,
  subject: scope === 'run' ? 'run-1' : scope === 'agent_day' ? 'agent-1' : '*',
  period: scope === 'run' ? 'run' : DAY,
  kind,
  threshold_percent: percent,
  used,
  limit,
  currency: kind === 'money' ? 'USD' : null,
  run_id: 'run-1',
  agent_id: 'agent-1',
  crossed_at: T0,
  ...extra,
});

describe('SetLimits', () => {
  it('sets the caps of a scope for a subject or for every subject', () => {
    spec
      .given()
      .when(setLimits('agent_day', caps(10_000, 5), 'agent-1'))
      .then([limitsSet('agent_day', 'agent-1', caps(10_000, 5))]);
    spec
      .given()
      .when(setLimits('run', caps(null, 3)))
      .then([limitsSet('run', '*', caps(null, 3))]);
    spec
      .given()
      .when(setLimits('tenant_day', caps(1_000_000)))
      .then([limitsSet('tenant_day', '*', caps(1_000_000))]);
  });

  it('setting the same caps again changes nothing; other caps replace them', () => {
    spec
      .given([limitsSet('run', '*', caps(5))])
      .when(setLimits('run', caps(5)))
      .thenNothing();
    spec
      .given([limitsSet('run', '*', caps(5))])
      .when(setLimits('run', caps(6)))
      .then([limitsSet('run', '*', caps(6))]);
  });

  it('refuses bad limits with the field and the rule', () => {
    spec
      .given()
      .when(setLimits('run', caps(-1)))
      .thenThrows('BUDGET_INVALID_COMMAND', { field: 'caps.money_micros' });
    spec
      .given()
      .when(setLimits('run', caps(1, 0.5)))
      .thenThrows('BUDGET_INVALID_COMMAND', { field: 'caps.tool_calls' });
    spec
      .given()
      .when(setLimits('tenant_day', caps(1), 'tenant-1'))
      .thenThrows('BUDGET_INVALID_COMMAND', { field: 'subject' });
    spec
      .given()
      .when({ ...setLimits('run', caps(1)), scope: 'month' as BudgetScope })
      .thenThrows('BUDGET_INVALID_COMMAND', { field: 'scope' });
    spec
      .given()
      .when({ ...setLimits('run', caps(1)), currency: 'usd' })
      .thenThrows('BUDGET_INVALID_COMMAND', { field: 'currency' });
    spec
      .given([limitsSet('run', '*', caps(5))])
      .when({ ...setLimits('run', caps(1)), currency: 'EUR' })
      .thenThrows('BUDGET_CURRENCY_MISMATCH', { field: 'currency', rule: 'must be USD' });
  });
});

describe('Reserve', () => {
  it('reserves within every cap, for the UTC day of now, until the TTL', () => {
    const state = spec
      .given([limitsSet('agent_day', '*', caps(10_000, 5))])
      .when(reserve('r1', 2_000))
      .then([reserved('r1', 2_000)]);
    expect(usageOf(state, 'agent_day', 'agent-1', DAY)).toEqual({ settled_micros: 0, reserved_micros: 2_000, settled_calls: 0, reserved_calls: 1 });
    expect(usageOf(state, 'run', 'run-1')).toEqual({ settled_micros: 0, reserved_micros: 2_000, settled_calls: 0, reserved_calls: 1 });
    expect(usageOf(state, 'tenant_day', '*', DAY).reserved_micros).toBe(2_000);
  });

  it('without any limits, reserves everything', () => {
    spec
      .given()
      .when(reserve('r1', 2_000))
      .then([reserved('r1', 2_000)]);
  });

  it('refuses when the run money cap would be crossed, counting outstanding reservations', () => {
    spec
      .given([limitsSet('run', '*', caps(5_000)), reserved('r1', 3_000)])
      .when(reserve('r2', 2_001))
      .then([
        {
          type: 'BudgetRefused',
          reservation_id: 'r2',
          run_id: 'run-1',
          agent_id: 'agent-1',
          scope: 'run',
          subject: 'run-1',
          window_ms: null,
          period: 'run',
          rule: 'cap',
          kind: 'money',
          limit: 5_000,
          used: 3_000,
          requested: 2_001,
          currency: 'USD',
          refused_at: T0,
        },
      ]);
    // Exactly up to the cap is allowed.
    spec
      .given([limitsSet('run', '*', caps(5_000)), reserved('r1', 3_000), crossed('run', 'money', 50, 3_000, 5_000)])
      .when(reserve('r2', 2_000))
      .then([reserved('r2', 2_000), crossed('run', 'money', 80, 5_000, 5_000), crossed('run', 'money', 100, 5_000, 5_000)]);
  });

  it('refuses on the agent tool-call cap of the day, counting settled calls', () => {
    spec
      .given([limitsSet('agent_day', 'agent-1', caps(null, 2)), reserved('r1', 10), settled('r1', 10, 10), reserved('r2', 10, { run_id: 'run-2' })])
      .when(reserve('r3', 10))
      .then([
        {
          type: 'BudgetRefused',
          reservation_id: 'r3',
          run_id: 'run-1',
          agent_id: 'agent-1',
          scope: 'agent_day',
          subject: 'agent-1',
          window_ms: null,
          period: DAY,
          rule: 'cap',
          kind: 'tool_calls',
          limit: 2,
          used: 2,
          requested: 1,
          currency: null,
          refused_at: T0,
        },
      ]);
  });

  it('refuses on the tenant cap of the day across agents and runs; names the innermost crossed scope first', () => {
    const given = [
      limitsSet('tenant_day', '*', caps(10_000)),
      limitsSet('run', '*', caps(4_000)),
      reserved('r1', 8_000, { run_id: 'run-9', agent_id: 'agent-9' }),
    ];
    spec
      .given(given)
      .when(reserve('r2', 3_000))
      .then([
        {
          type: 'BudgetRefused',
          reservation_id: 'r2',
          run_id: 'run-1',
          agent_id: 'agent-1',
          scope: 'tenant_day',
          subject: '*',
          window_ms: null,
          period: DAY,
          rule: 'cap',
          kind: 'money',
          limit: 10_000,
          used: 8_000,
          requested: 3_000,
          currency: 'USD',
          refused_at: T0,
        },
      ]);
    spec
      .given(given)
      .when(reserve('r2', 5_000))
      .then([
        {
          type: 'BudgetRefused',
          reservation_id: 'r2',
          run_id: 'run-1',
          agent_id: 'agent-1',
          scope: 'run',
          subject: 'run-1',
          window_ms: null,
          period: 'run',
          rule: 'cap',
          kind: 'money',
          limit: 4_000,
          used: 0,
          requested: 5_000,
          currency: 'USD',
          refused_at: T0,
        },
      ]);
  });

  it('a subject of its own overrides the default caps', () => {
    const given = [limitsSet('agent_day', '*', caps(1_000)), limitsSet('agent_day', 'agent-1', caps(50_000))];
    spec
      .given(given)
      .when(reserve('r1', 20_000))
      .then([reserved('r1', 20_000)]);
    spec
      .given(given)
      .when(reserve('r1', 20_000, { agent_id: 'agent-2' }))
      .then([
        {
          type: 'BudgetRefused',
          reservation_id: 'r1',
          run_id: 'run-1',
          agent_id: 'agent-2',
          scope: 'agent_day',
          subject: 'agent-2',
          window_ms: null,
          period: DAY,
          rule: 'cap',
          kind: 'money',
          limit: 1_000,
          used: 0,
          requested: 20_000,
          currency: 'USD',
          refused_at: T0,
        },
      ]);
  });

  it('day caps start again on the next UTC day; the run cap does not', () => {
    const tomorrow = Date.UTC(2026, 4, 2, 0, 0, 0);
    const given = [
      limitsSet('agent_day', '*', caps(5_000)),
      limitsSet('run', '*', caps(8_000)),
      reserved('r1', 5_000),
      crossed('run', 'money', 50, 5_000, 8_000),
      ...[50, 80, 100].map((percent) => crossed('agent_day', 'money', percent, 5_000, 5_000)),
    ];
    spec
      .given(given)
      .when(reserve('r2', 3_000, { now: tomorrow }))
      .then([
        reserved('r2', 3_000, { day: '2026-05-02', reserved_at: tomorrow, expires_at: tomorrow + HOUR }),
        crossed('run', 'money', 80, 8_000, 8_000, { crossed_at: tomorrow }),
        crossed('run', 'money', 100, 8_000, 8_000, { crossed_at: tomorrow }),
        crossed('agent_day', 'money', 50, 3_000, 5_000, { period: '2026-05-02', crossed_at: tomorrow }),
      ]);
    spec
      .given(given)
      .when(reserve('r2', 3_001, { now: tomorrow }))
      .then([
        {
          type: 'BudgetRefused',
          reservation_id: 'r2',
          run_id: 'run-1',
          agent_id: 'agent-1',
          scope: 'run',
          subject: 'run-1',
          window_ms: null,
          period: 'run',
          rule: 'cap',
          kind: 'money',
          limit: 8_000,
          used: 5_000,
          requested: 3_001,
          currency: 'USD',
          refused_at: tomorrow,
        },
      ]);
  });

  it('is idempotent per reservation_id, whatever happened to it', () => {
    spec
      .given([reserved('r1', 100)])
      .when(reserve('r1', 100))
      .thenNothing();
    spec
      .given([reserved('r1', 100), settled('r1', 100, 50)])
      .when(reserve('r1', 100))
      .thenNothing();
    spec
      .given([
        limitsSet('run', '*', caps(0)),
        {
          type: 'BudgetRefused',
          reservation_id: 'r1',
          run_id: 'run-1',
          agent_id: 'agent-1',
          scope: 'run',
          subject: 'run-1',
          window_ms: null,
          period: 'run',
          rule: 'cap',
          kind: 'money',
          limit: 0,
          used: 0,
          requested: 1,
          currency: 'USD',
          refused_at: T0,
        },
      ])
      .when(reserve('r1', 1))
      .thenNothing();
    spec
      .given([{ type: 'BudgetReleased', reservation_id: 'r1', run_id: null, agent_id: null, released_micros: 0, released_at: T0 }])
      .when(reserve('r1', 1))
      .thenNothing();
  });

  it('ignores a request older than the retention: what became of its action may be forgotten', () => {
    const retention = 48 * HOUR;
    // Just inside the retention: reserved as usual.
    spec
      .given()
      .when(reserve('r1', 100, { requested_at: T0 - retention + 1 }))
      .then([reserved('r1', 100)]);
    // At the retention and beyond: nothing, not even a refusal (the action is long over).
    spec
      .given()
      .when(reserve('r1', 100, { requested_at: T0 - retention }))
      .thenNothing();
    spec
      .given([limitsSet('run', '*', caps(0))])
      .when(reserve('r1', 100, { requested_at: T0 - 3 * retention }))
      .thenNothing();
    // The retention is the decider's.
    const shortRetention = deciderSpec(createBudgetDecider({ retention_ms: HOUR }));
    shortRetention
      .given()
      .when(reserve('r1', 100, { requested_at: T0 - HOUR }))
      .thenNothing();
    shortRetention
      .given()
      .when(reserve('r1', 100, { requested_at: T0 - HOUR + 1 }))
      .then([reserved('r1', 100)]);
  });

  it('refuses bad input with the field and the rule', () => {
    spec
      .given()
      .when(reserve('r1', 5, { requested_at: -1 }))
      .thenThrows('BUDGET_INVALID_COMMAND', { field: 'requested_at' });
    spec.given().when(reserve('r1', -5)).thenThrows('BUDGET_INVALID_COMMAND', { field: 'estimated_cost_micros' });
    spec
      .given()
      .when(reserve('r1', 2 ** 53))
      .thenThrows('BUDGET_INVALID_COMMAND', { field: 'estimated_cost_micros' });
    spec.given().when(reserve('', 5)).thenThrows('BUDGET_INVALID_COMMAND', { field: 'reservation_id' });
    spec
      .given()
      .when(reserve('r1', 5, { tool_calls: -1 }))
      .thenThrows('BUDGET_INVALID_COMMAND', { field: 'tool_calls' });
    spec
      .given([reserved('r0', 1)])
      .when(reserve('r1', 5, { currency: 'EUR' }))
      .thenThrows('BUDGET_CURRENCY_MISMATCH', { field: 'currency' });
  });
});

describe('thresholds', () => {
  it('announces 50, 80 and 100 % of each capped scope once per period', () => {
    const given: BudgetEvent[] = [limitsSet('agent_day', '*', caps(10_000, 4))];
    spec
      .given(given)
      .when(reserve('r1', 4_000))
      .then([reserved('r1', 4_000)]);
    spec
      .given(given)
      .when(reserve('r1', 5_000))
      .then([reserved('r1', 5_000), crossed('agent_day', 'money', 50, 5_000, 10_000)]);
    // Several at once.
    spec
      .given(given)
      .when(reserve('r1', 9_000))
      .then([reserved('r1', 9_000), crossed('agent_day', 'money', 50, 9_000, 10_000), crossed('agent_day', 'money', 80, 9_000, 10_000)]);
    // Not twice in the same day, even after a release brings usage back down.
    const after = [
      ...given,
      reserved('r1', 6_000),
      crossed('agent_day', 'money', 50, 6_000, 10_000),
      { type: 'BudgetReleased', reservation_id: 'r1', run_id: 'run-1', agent_id: 'agent-1', released_micros: 6_000, released_at: T0 } as BudgetEvent,
    ];
    spec
      .given(after)
      .when(reserve('r2', 7_000))
      .then([reserved('r2', 7_000)]);
    // Tool calls too: the second call of four is 50 %.
    spec
      .given([...given, reserved('r1', 1)])
      .when(reserve('r2', 1))
      .then([reserved('r2', 1), crossed('agent_day', 'tool_calls', 50, 2, 4)]);
  });

  it('announces an overrun that a settlement causes', () => {
    spec
      .given([limitsSet('run', '*', caps(10_000)), reserved('r1', 4_000)])
      .when(settle('r1', 9_000))
      .then([
        settled('r1', 4_000, 9_000),
        crossed('run', 'money', 50, 9_000, 10_000, { crossed_at: T0 + 1000 }),
        crossed('run', 'money', 80, 9_000, 10_000, { crossed_at: T0 + 1000 }),
      ]);
  });

  it('stays exact for budgets beyond 2^53 / 100 micro-units', () => {
    const huge = 9_000_000_000_000_000; // $9 billion
    spec
      .given([limitsSet('tenant_day', '*', caps(huge))])
      .when(reserve('r1', huge / 2))
      .then([reserved('r1', huge / 2), crossed('tenant_day', 'money', 50, huge / 2, huge)]);
    spec
      .given([limitsSet('tenant_day', '*', caps(huge))])
      .when(reserve('r1', huge / 2 - 1))
      .then([reserved('r1', huge / 2 - 1)]);
  });

  it('a cap of zero announces nothing (and refuses everything above zero)', () => {
    spec
      .given([limitsSet('run', '*', caps(0, null))])
      .when(reserve('r1', 0))
      .then([reserved('r1', 0, { amount_micros: 0 })]);
  });
});

describe('Settle', () => {
  it('charges the actual cost and releases the rest', () => {
    const state = spec
      .given([reserved('r1', 5_000)])
      .when(settle('r1', 3_200))
      .then([settled('r1', 5_000, 3_200)]);
    expect(usageOf(state, 'agent_day', 'agent-1', DAY)).toEqual({ settled_micros: 3_200, reserved_micros: 0, settled_calls: 1, reserved_calls: 0 });
    expect(state.reservations.get('r1')?.status).toBe('settled');
  });

  it('charges an actual cost above the reservation and records the overrun', () => {
    const state = spec
      .given([reserved('r1', 5_000)])
      .when(settle('r1', 6_500))
      .then([settled('r1', 5_000, 6_500)]);
    expect(usageOf(state, 'run', 'run-1').settled_micros).toBe(6_500);
  });

  it('counts in the day of the reservation, even when settled after midnight', () => {
    const afterMidnight = Date.UTC(2026, 4, 2, 0, 5);
    const state = spec
      .given([reserved('r1', 5_000)])
      .when(settle('r1', 5_000, afterMidnight))
      .then([settled('r1', 5_000, 5_000, { settled_at: afterMidnight })]);
    expect(usageOf(state, 'tenant_day', '*', DAY).settled_micros).toBe(5_000);
    expect(usageOf(state, 'tenant_day', '*', '2026-05-02').settled_micros).toBe(0);
  });

  it('is idempotent: a replayed settlement is not charged twice', () => {
    spec
      .given([reserved('r1', 5_000), settled('r1', 5_000, 3_200)])
      .when(settle('r1', 3_200))
      .thenNothing();
    spec
      .given([reserved('r1', 5_000), settled('r1', 5_000, 3_200)])
      .when(settle('r1', 4_000))
      .thenNothing();
  });

  it('after a release or an expiry, charges the whole actual cost as a late overrun', () => {
    const released: BudgetEvent = {
      type: 'BudgetReleased',
      reservation_id: 'r1',
      run_id: 'run-1',
      agent_id: 'agent-1',
      released_micros: 5_000,
      released_at: T0,
    };
    const state = spec
      .given([reserved('r1', 5_000), released])
      .when(settle('r1', 1_000))
      .then([settled('r1', 5_000, 1_000, { released_micros: 0, overrun_micros: 1_000, late: true })]);
    expect(usageOf(state, 'run', 'run-1')).toEqual({ settled_micros: 1_000, reserved_micros: 0, settled_calls: 1, reserved_calls: 0 });
    const lapsed: BudgetEvent = {
      type: 'BudgetReservationExpired',
      reservation_id: 'r1',
      run_id: 'run-1',
      agent_id: 'agent-1',
      released_micros: 5_000,
      expired_at: T0 + HOUR,
    };
    spec
      .given([reserved('r1', 5_000), lapsed])
      .when(settle('r1', 700))
      .then([settled('r1', 5_000, 700, { released_micros: 0, overrun_micros: 700, late: true })]);
  });

  it('refuses what cannot be settled', () => {
    spec.given().when(settle('nope', 1)).thenThrows('BUDGET_UNKNOWN_RESERVATION', { field: 'reservation_id' });
    spec.given().when(settle('__proto__', 1)).thenThrows('BUDGET_UNKNOWN_RESERVATION');
    spec
      .given([{ type: 'BudgetReleased', reservation_id: 'r1', run_id: null, agent_id: null, released_micros: 0, released_at: T0 }])
      .when(settle('r1', 1))
      .thenThrows('BUDGET_UNKNOWN_RESERVATION');
    spec
      .given([
        {
          type: 'BudgetRefused',
          reservation_id: 'r1',
          run_id: 'run-1',
          agent_id: 'agent-1',
          scope: 'run',
          subject: 'run-1',
          window_ms: null,
          period: 'run',
          rule: 'cap',
          kind: 'money',
          limit: 0,
          used: 0,
          requested: 1,
          currency: 'USD',
          refused_at: T0,
        },
      ])
      .when(settle('r1', 1))
      .thenThrows('BUDGET_NOT_RESERVED');
    spec
      .given([reserved('r1', 5)])
      .when(settle('r1', -1))
      .thenThrows('BUDGET_INVALID_COMMAND', { field: 'actual_cost_micros' });
    spec
      .given([reserved('r1', 5)])
      .when({ ...settle('r1', 1), currency: 'EUR' })
      .thenThrows('BUDGET_CURRENCY_MISMATCH');
  });
});

describe('Release', () => {
  const released = (amount: number, run: string | null = 'run-1', agent: string | null = 'agent-1'): BudgetEvent => ({
    type: 'BudgetReleased',
    reservation_id: 'r1',
    run_id: run,
    agent_id: agent,
    released_micros: amount,
    released_at: T0 + 1000,
  });
  const release = { type: 'Release', reservation_id: 'r1', now: T0 + 1000 } as const;

  it('gives an outstanding reservation back', () => {
    const state = spec
      .given([reserved('r1', 5_000)])
      .when(release)
      .then([released(5_000)]);
    expect(usageOf(state, 'agent_day', 'agent-1', DAY)).toEqual({ settled_micros: 0, reserved_micros: 0, settled_calls: 0, reserved_calls: 0 });
  });

  it('is idempotent, and cannot undo a settlement', () => {
    spec
      .given([reserved('r1', 5_000), released(5_000)])
      .when(release)
      .thenNothing();
    spec
      .given([reserved('r1', 5_000), settled('r1', 5_000, 1)])
      .when(release)
      .thenNothing();
  });

  it('remembers a release for a reservation never seen, so a late reserve is ignored', () => {
    const state = spec
      .given()
      .when(release)
      .then([released(0, null, null)]);
    expect(state.reservations.get('r1')?.status).toBe('released');
    spec
      .given([released(0, null, null)])
      .when(reserve('r1', 10))
      .thenNothing();
  });
});

describe('ExpireReservations', () => {
  it('lapses outstanding reservations at expires_at, giving the amount back', () => {
    spec
      .given([reserved('r1', 5_000)])
      .when({ type: 'ExpireReservations', now: T0 + HOUR - 1 })
      .thenNothing();
    const state = spec
      .given([reserved('r1', 5_000), reserved('r2', 1_000, { expires_at: T0 + 2 * HOUR })])
      .when({ type: 'ExpireReservations', now: T0 + HOUR })
      .then([{ type: 'BudgetReservationExpired', reservation_id: 'r1', run_id: 'run-1', agent_id: 'agent-1', released_micros: 5_000, expired_at: T0 + HOUR }]);
    expect(usageOf(state, 'run', 'run-1').reserved_micros).toBe(1_000);
    expect(nextReservationExpiry(state)).toBe(T0 + 2 * HOUR);
  });

  it('forgets closed reservations after the retention', () => {
    const given = [reserved('r1', 5_000), settled('r1', 5_000, 5_000), reserved('r2', 5)];
    spec
      .given(given)
      .when({ type: 'ExpireReservations', now: T0 + 1000 + 48 * HOUR - 1 })
      .then([
        {
          type: 'BudgetReservationExpired',
          reservation_id: 'r2',
          run_id: 'run-1',
          agent_id: 'agent-1',
          released_micros: 5,
          expired_at: T0 + 1000 + 48 * HOUR - 1,
        },
      ]);
    const state = spec
      .given([reserved('r1', 5_000), settled('r1', 5_000, 5_000)])
      .when({ type: 'ExpireReservations', now: T0 + 1000 + 48 * HOUR })
      .then([{ type: 'ReservationsForgotten', reservation_ids: ['r1'], forgotten_at: T0 + 1000 + 48 * HOUR }]);
    expect(state.reservations.size).toBe(0);
    expect(usageOf(state, 'run', 'run-1').settled_micros).toBe(5_000);
  });
});

describe('configuration and helpers', () => {
  it('applies a custom TTL and thresholds; refuses nonsense', () => {
    const custom = createBudgetDecider({ reservation_ttl_ms: 1000, thresholds_percent: [90, 25] });
    const events = custom.decide(reserve('r1', 30), evolveAll(custom, [limitsSet('run', '*', caps(100))]));
    expect(events).toEqual([reserved('r1', 30, { expires_at: T0 + 1000 }), crossed('run', 'money', 25, 30, 100)]);
    expect(() => createBudgetDecider({ reservation_ttl_ms: 0 })).toThrow(/reservation_ttl_ms/);
    expect(() => createBudgetDecider({ thresholds_percent: [50, 50] })).toThrow(/thresholds_percent/);
  });

  it('utcDay uses UTC whatever the local zone', () => {
    expect(utcDay(Date.UTC(2026, 11, 31, 23, 59, 59, 999))).toBe('2026-12-31');
    expect(utcDay(Date.UTC(2027, 0, 1))).toBe('2027-01-01');
  });
});
