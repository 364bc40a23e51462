import { describe, expect, it } from 'vitest';
import type { EventPayloads } from '@writ/contracts';
import { sampleEvent } from '@writ/contracts/testing';
import { createToolRegistry } from '@writ/tools';
import type { ToolRegistry } from '@writ/tools';
import { accountantStep } from './accountant.ts';
import { budgetDecider, usageOf } from './budget.ts';
import type { BudgetEvent } from './events.ts';
import { commandFor } from './inputs.ts';
import type { BudgetInput } from './inputs.ts';
import type { BudgetState } from './model.ts';

const T0 = Date.UTC(2026, 4, 1, 12, 0, 0);
const DAY = '2026-05-01';
const HOUR = 60 * 60_000;
const RETENTION = 48 * HOUR;

function tool(version: string, micros: number, currency: string): Record<string, unknown> {
  return {
    name: 'refunds.create',
    version,
    description: 'Refund a charge',
    effect: 'write',
    risk: 'medium',
    arguments: { type: 'object', properties: { amount_cents: { type: 'integer' } } },
    cost: { micros, currency },
    timeout_ms: 1000,
    retry: { max_attempts: 1, initial_backoff_ms: 10, max_backoff_ms: 10 },
    idempotent: true,
    endpoint: { method: 'POST', url: 'http://127.0.0.1:1/refunds' },
  };
}

/** Two versions of the sample's tool with different costs and currencies; 1.10.0 is the highest. */
const registry: ToolRegistry = createToolRegistry([tool('1.2.0', 20_000, 'USD'), tool('1.10.0', 35_000, 'EUR'), tool('1.9.0', 1, 'USD')]);

const meta = (action: string | null, occurredAt = T0, run = 'run-1') => ({
  tenant_id: 'acme',
  run_id: run,
  action_id: action,
  producer: 'gateway@0.1.0',
  occurred_at: occurredAt,
});

function proposed(action: string, overrides: Partial<EventPayloads['ActionProposed']> = {}, occurredAt = T0, run = 'run-1'): BudgetInput {
  return {
    type: 'ActionProposed',
    payload: { ...sampleEvent('ActionProposed', meta(action, occurredAt, run)), agent_id: 'bot', tool_version: '1.2.0', ...overrides },
  };
}

function started(run: string, limits: Partial<EventPayloads['RunStarted']['limits']>): BudgetInput {
  const sample = sampleEvent('RunStarted', meta(null, T0, run));
  return { type: 'RunStarted', payload: { ...sample, agent_id: 'bot', limits: { ...sample.limits, max_cost_micros: null, max_tool_calls: null, ...limits } } };
}

function ended(action: string, status: EventPayloads['ActionCompleted']['status'], reasonCode: string): BudgetInput {
  return {
    type: 'ActionCompleted',
    payload: { ...sampleEvent('ActionCompleted', { ...meta(action), producer: 'planner@0.1.0' }), status, reason_code: reasonCode },
  };
}

function legacyRequest(action: string, cost: number): BudgetInput {
  const payload = {
    ...sampleEvent('BudgetReservationRequested', { ...meta(action), producer: 'planner@0.1.0' }),
    agent_id: 'bot',
    tool: 'refunds.create',
    estimated_cost_micros: cost,
    currency: 'USD',
    run_limits: null,
  };
  return { type: 'BudgetReservationRequested', payload };
}

/** What the service does with one input: resolve a proposal's tool as the planner does, map, decide. */
function handle(state: BudgetState, input: BudgetInput, now = T0): { state: BudgetState; events: readonly BudgetEvent[] } {
  const resolved = input.type === 'ActionProposed' ? registry.get(input.payload.tool, input.payload.tool_version ?? undefined) : undefined;
  const request = commandFor(input, now, state.currency, resolved);
  return request === null ? { state, events: [] } : accountantStep(budgetDecider, state, request.command);
}

function handleAll(inputs: readonly BudgetInput[], state: BudgetState = budgetDecider.initialState()): { state: BudgetState; events: BudgetEvent[] } {
  let current = state;
  const events: BudgetEvent[] = [];
  for (const input of inputs) {
    const step = handle(current, input);
    current = step.state;
    events.push(...step.events);
  }
  return { state: current, events };
}

const typesOf = (events: readonly BudgetEvent[]) => events.map((e) => `${e.type}${'reservation_id' in e ? ` ${e.reservation_id}` : ''}`);
/** The accountant's answers to the planner, without thresholds. */
const answersOf = (events: readonly BudgetEvent[]) => typesOf(events.filter((e) => e.type === 'BudgetReserved' || e.type === 'BudgetRefused'));

describe('commandFor ActionProposed', () => {
  const lookup = (input: BudgetInput) =>
    input.type === 'ActionProposed' ? registry.get(input.payload.tool, input.payload.tool_version ?? undefined) : undefined;

  it('reserves the declared cost of the version asked for, in its currency, for one call', () => {
    const input = proposed('a1', { tool_version: '1.2.0' }, T0 - 5_000);
    expect(commandFor(input, T0, null, lookup(input))).toEqual({
      command: {
        type: 'Reserve',
        reservation_id: 'a1',
        run_id: 'run-1',
        agent_id: 'bot',
        estimated_cost_micros: 20_000,
        tool_calls: 1,
        currency: 'USD',
        now: T0,
        requested_at: T0 - 5_000,
        tool: 'refunds.create',
        side_effects: true,
      },
      tool: 'refunds.create',
    });
  });

  it("reserves a tool's declared maximum when it declares one, and tells a read from a write", () => {
    const capped = createToolRegistry([
      { ...tool('2.0.0', 20_000, 'USD'), cost: { micros: 20_000, max_micros: 90_000, actual: 'fee_micros', currency: 'USD' } },
      { ...tool('3.0.0', 5_000, 'USD'), effect: 'read' },
    ]);
    const write = proposed('a1', { tool_version: '2.0.0' });
    expect(commandFor(write, T0, 'USD', capped.get('refunds.create', '2.0.0'))?.command).toMatchObject({ estimated_cost_micros: 90_000, side_effects: true });
    const read = proposed('a2', { tool_version: '3.0.0' });
    expect(commandFor(read, T0, 'USD', capped.get('refunds.create', '3.0.0'))?.command).toMatchObject({ estimated_cost_micros: 5_000, side_effects: false });
  });

  it('a null tool_version is the highest version (1.10.0 above 1.9.0 and 1.2.0), with its cost and currency', () => {
    const input = proposed('a1', { tool_version: null });
    expect(commandFor(input, T0, 'USD', lookup(input))?.command).toMatchObject({ type: 'Reserve', estimated_cost_micros: 35_000, currency: 'EUR' });
  });

  it('reserves nothing for a tool or version the registry does not have', () => {
    for (const input of [proposed('a1', { tool: 'refunds.unknown', tool_version: null }), proposed('a1', { tool_version: '9.9.9' })]) {
      expect(lookup(input)).toBeUndefined();
      expect(commandFor(input, T0, 'USD', lookup(input))).toBeNull();
    }
    expect(commandFor(proposed('a1'), T0, 'USD')).toBeNull();
  });

  it('refuses the registry entry of another tool or version, naming the field', () => {
    const other = registry.get('refunds.create', '1.9.0');
    expect(() => commandFor(proposed('a1', { tool: 'refunds.other' }), T0, 'USD', other)).toThrow(
      expect.objectContaining({ code: 'BUDGET_INVALID_COMMAND', field: 'tool' }),
    );
    expect(() => commandFor(proposed('a1', { tool_version: '1.2.0' }), T0, 'USD', other)).toThrow(
      expect.objectContaining({ code: 'BUDGET_INVALID_COMMAND', field: 'tool_version' }),
    );
  });
});

describe('the accountant on proposals', () => {
  it('enforces the run caps of a RunStarted read before the run’s proposals', () => {
    const { events, state } = handleAll([started('run-1', { max_tool_calls: 1 }), proposed('a1'), proposed('a2')]);
    expect(answersOf(events)).toEqual(['BudgetReserved a1', 'BudgetRefused a2']);
    expect(events.find((e) => e.type === 'BudgetRefused')).toMatchObject({
      scope: 'run',
      subject: 'run-1',
      kind: 'tool_calls',
      limit: 1,
      used: 1,
      requested: 1,
    });
    expect(usageOf(state, 'run', 'run-1')).toEqual({ settled_micros: 0, reserved_micros: 20_000, settled_calls: 0, reserved_calls: 1 });
  });

  it('a money cap of the run too, in the currency of RunStarted', () => {
    const { events } = handleAll([started('run-1', { max_cost_micros: 30_000, currency: 'USD' }), proposed('a1'), proposed('a2')]);
    expect(answersOf(events)).toEqual(['BudgetReserved a1', 'BudgetRefused a2']);
    expect(events.find((e) => e.type === 'BudgetRefused')).toMatchObject({ scope: 'run', kind: 'money', limit: 30_000, used: 20_000, requested: 20_000 });
  });

  it('a run whose RunStarted was never seen is held to the tenant and agent caps only', () => {
    const agentCap = {
      type: 'SetLimits',
      scope: 'agent_day',
      subject: 'bot',
      caps: { money_micros: 50_000, tool_calls: null },
      currency: 'USD',
      now: T0,
    } as const;
    const books = accountantStep(budgetDecider, budgetDecider.initialState(), agentCap).state;
    const { events, state } = handleAll(
      [proposed('a1', {}, T0, 'legacy-run'), proposed('a2', {}, T0, 'legacy-run'), proposed('a3', {}, T0, 'legacy-run')],
      books,
    );
    expect(answersOf(events)).toEqual(['BudgetReserved a1', 'BudgetReserved a2', 'BudgetRefused a3']);
    expect(events.find((e) => e.type === 'BudgetRefused')).toMatchObject({ scope: 'agent_day', subject: 'bot' });
    expect(usageOf(state, 'run', 'legacy-run').reserved_calls).toBe(2);
  });

  it('an action that ended before its proposal was read is never reserved', () => {
    for (const [status, reason] of [
      ['rejected', 'LOOP_DETECTED'],
      ['rejected', 'TOOL_KILLED'],
      ['denied', 'POLICY_DENIED'],
      ['expired', 'DECISION_TIMEOUT'],
    ] as const) {
      const { events, state } = handleAll([ended('a1', status, reason), proposed('a1')]);
      expect(typesOf(events)).toEqual(['BudgetReleased a1']);
      expect(events[0]).toMatchObject({ run_id: null, released_micros: 0 });
      expect(usageOf(state, 'agent_day', 'bot', DAY)).toEqual({ settled_micros: 0, reserved_micros: 0, settled_calls: 0, reserved_calls: 0 });
    }
  });

  it('releases the reservation of an action the planner rejects after the proposal was read', () => {
    const { events, state } = handleAll([proposed('a1'), ended('a1', 'rejected', 'ARGS_INVALID')]);
    expect(typesOf(events)).toEqual(['BudgetReserved a1', 'BudgetReleased a1']);
    expect(events[1]).toMatchObject({ run_id: 'run-1', agent_id: 'bot', released_micros: 20_000 });
    expect(usageOf(state, 'run', 'run-1')).toEqual({ settled_micros: 0, reserved_micros: 0, settled_calls: 0, reserved_calls: 0 });
  });

  it('a legacy reservation request and the proposal of the same action reserve once, in either order', () => {
    for (const inputs of [
      [legacyRequest('a1', 20_000), proposed('a1')],
      [proposed('a1'), legacyRequest('a1', 20_000)],
    ]) {
      const { events, state } = handleAll(inputs);
      expect(typesOf(events)).toEqual(['BudgetReserved a1']);
      expect(usageOf(state, 'agent_day', 'bot', DAY)).toMatchObject({ reserved_micros: 20_000, reserved_calls: 1 });
    }
  });

  it('what it remembers of an early end is forgotten after the retention, and a proposal that old is ignored', () => {
    const early = handleAll([ended('a1', 'rejected', 'LOOP_DETECTED')]);
    const later = T0 + RETENTION;
    const swept = accountantStep(budgetDecider, early.state, { type: 'ExpireReservations', now: later });
    expect(typesOf(swept.events)).toEqual(['ReservationsForgotten']);
    expect(swept.state.reservations.size).toBe(0);
    // The proposal arrives after the sweep (a consumer that starts far back): still not reserved.
    const step = handle(swept.state, proposed('a1', {}, T0 - 1), later);
    expect(step.events).toEqual([]);
    // Within the retention, the remembered end answers it.
    expect(handle(early.state, proposed('a1', {}, T0 - 1), later - 1).events).toEqual([]);
  });
});
