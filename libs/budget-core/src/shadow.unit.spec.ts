import { describe, expect, it } from 'vitest';
import type { EventPayloads } from '@writ/contracts';
import { newMetadata, verifyReservation } from '@writ/contracts';
import { sampleEvent } from '@writ/contracts/testing';
import { createKeyring, generateSigningKey } from '@writ/crypto';
import { createToolRegistry } from '@writ/tools';
import { accountantStep } from './accountant.ts';
import { createBudgetDecider, usageOf } from './budget.ts';
import type { BudgetEvent } from './events.ts';
import { commandFor } from './inputs.ts';
import type { BudgetInput } from './inputs.ts';
import type { BudgetState } from './model.ts';
import { toWire } from './wire.ts';

// Shadow runs: a proposal of a shadow run is reserved as any other (refused where a live one would
// be), and the reservation is released in the same decision: it never counts as spend, never holds
// room under a cap, and announces no threshold.
const T0 = Date.UTC(2026, 4, 1, 12, 0, 0);
const DAY = '2026-05-01';
const decider = createBudgetDecider({ thresholds_percent: [50, 80, 100] });
const registry = createToolRegistry([
  {
    name: 'refunds.create',
    version: '1.2.0',
    description: 'Refund a charge',
    effect: 'write',
    risk: 'medium',
    arguments: { type: 'object', properties: { amount_cents: { type: 'integer' } } },
    cost: { micros: 40_000, currency: 'USD' },
    timeout_ms: 1000,
    retry: { max_attempts: 1, initial_backoff_ms: 10, max_backoff_ms: 10 },
    idempotent: true,
    endpoint: { method: 'POST', url: 'http://127.0.0.1:1/refunds' },
  },
]);

const meta = (action: string | null, run: string, producer = 'gateway@0.1.0') => ({
  tenant_id: 'acme',
  run_id: run,
  action_id: action,
  producer,
  occurred_at: T0,
});
const started = (run: string, maxCost: number): BudgetInput => {
  const sample = sampleEvent('RunStarted', meta(null, run));
  return {
    type: 'RunStarted',
    payload: { ...sample, agent_id: 'bot', limits: { ...sample.limits, max_cost_micros: maxCost, max_tool_calls: 2, currency: 'USD' } },
  };
};
const proposed = (action: string, run: string, mode: EventPayloads['ActionProposed']['mode']): BudgetInput => ({
  type: 'ActionProposed',
  payload: { ...sampleEvent('ActionProposed', meta(action, run)), agent_id: 'bot', tool: 'refunds.create', tool_version: '1.2.0', mode },
});
const completedShadow = (action: string, run: string): BudgetInput => ({
  type: 'ActionCompleted',
  payload: {
    ...sampleEvent('ActionCompleted', meta(action, run, 'planner@0.1.0')),
    status: 'completed',
    reason_code: 'SHADOW_WOULD_EXECUTE',
    cost_micros: 0,
  },
});

function handle(state: BudgetState, input: BudgetInput): { state: BudgetState; events: readonly BudgetEvent[] } {
  const tool = input.type === 'ActionProposed' ? registry.get(input.payload.tool, input.payload.tool_version ?? undefined) : undefined;
  const request = commandFor(input, T0, state.currency, tool);
  return request === null ? { state, events: [] } : accountantStep(decider, state, request.command);
}
function handleAll(inputs: readonly BudgetInput[], from: BudgetState = decider.initialState()): { state: BudgetState; events: BudgetEvent[] } {
  let state = from;
  const events: BudgetEvent[] = [];
  for (const input of inputs) {
    const step = handle(state, input);
    state = step.state;
    events.push(...step.events);
  }
  return { state, events };
}
const types = (events: readonly BudgetEvent[]) => events.map((e) => e.type);

describe("a shadow run's reservation", () => {
  it('maps a shadow proposal to a shadow Reserve; a live one (and one of before v2) to a plain Reserve', () => {
    const shadow = proposed('a1', 'run-s', 'shadow');
    const live = proposed('a2', 'run-l', 'live');
    expect(commandFor(shadow, T0, 'USD', registry.get('refunds.create'))?.command).toMatchObject({ type: 'Reserve', shadow: true });
    expect(commandFor(live, T0, 'USD', registry.get('refunds.create'))?.command).not.toHaveProperty('shadow');
  });

  it('is granted and released in the same decision: no spend, nothing held, no threshold announced', () => {
    const { state, events } = handleAll([started('run-s', 100_000), proposed('a1', 'run-s', 'shadow'), proposed('a2', 'run-s', 'shadow')]);
    // 40 000 of a 100 000 run cap is past 50 %, 80 000 past 80 %: a live run would announce both.
    expect(types(events)).toEqual(['LimitsSet', 'BudgetReserved', 'BudgetReleased', 'BudgetReserved', 'BudgetReleased']);
    expect(events.find((e) => e.type === 'BudgetReleased')).toMatchObject({ reservation_id: 'a1', released_micros: 40_000 });
    for (const [scope, subject, period] of [
      ['run', 'run-s', 'run'],
      ['agent_day', 'bot', DAY],
      ['tenant_day', '*', DAY],
    ] as const) {
      expect(usageOf(state, scope, subject, period), `${scope} ${subject}`).toEqual({
        settled_micros: 0,
        reserved_micros: 0,
        settled_calls: 0,
        reserved_calls: 0,
      });
    }
    // The planner's ActionCompleted of the shadow action finds nothing held: nothing happens.
    expect(handle(state, completedShadow('a1', 'run-s')).events).toEqual([]);
  });

  it('is refused where a live one would be, and leaves the real caps whole for the live run that follows', () => {
    const shadowRun = handleAll([started('run-s', 30_000), proposed('a1', 'run-s', 'shadow')]);
    expect(shadowRun.events.at(-1)).toMatchObject({ type: 'BudgetRefused', scope: 'run', kind: 'money', limit: 30_000, requested: 40_000 });
    const { events } = handleAll(
      [started('run-t', 80_000), proposed('s1', 'run-t', 'shadow'), proposed('s2', 'run-t', 'shadow'), proposed('s3', 'run-t', 'shadow')],
      shadowRun.state,
    );
    // Two tool calls allowed per run: shadow reservations never use them up.
    expect(types(events).filter((t) => t !== 'LimitsSet')).toEqual(Array(3).fill(['BudgetReserved', 'BudgetReleased']).flat());
    const live = handleAll([started('run-l', 80_000), proposed('l1', 'run-l', 'live'), proposed('l2', 'run-l', 'live')]);
    expect(live.events.filter((e) => e.type === 'BudgetReserved')).toHaveLength(2);
    expect(live.events.some((e) => e.type === 'BudgetThresholdCrossed')).toBe(true);
  });

  it('goes on the wire as a signed reservation and its release (BudgetSettled, disposition released, cost 0)', () => {
    const key = generateSigningKey('reservation-1');
    const before = handleAll([started('run-s', 100_000)]).state;
    const step = handle(before, proposed('a1', 'run-s', 'shadow'));
    const wire = toWire(before, step.events, {
      tenant: 'acme',
      run_id: 'run-s',
      action_id: 'a1',
      tool: 'refunds.create',
      signingKey: key,
      meta: (fields) => newMetadata({ tenant_id: 'acme', producer: 'budget@0.1.0', ...fields }),
    });
    expect(wire.map((w) => w.type)).toEqual(['BudgetReserved', 'BudgetSettled']);
    const [reservedWire, settledWire] = wire;
    if (reservedWire?.type !== 'BudgetReserved' || settledWire?.type !== 'BudgetSettled') throw new Error('unexpected wire events');
    const expected = { action_id: 'a1', tenant: 'acme', run_id: 'run-s', agent: 'bot', tool: 'refunds.create' };
    const keyring = createKeyring({ [key.keyId]: key.publicKey });
    expect(verifyReservation(reservedWire.payload, expected, keyring, T0).ok).toBe(true);
    expect(reservedWire.payload.amount_micros).toBe(40_000);
    expect(settledWire.payload).toMatchObject({ disposition: 'released', actual_cost_micros: 0, released_micros: 40_000, reserved_micros: 40_000 });
  });
});
