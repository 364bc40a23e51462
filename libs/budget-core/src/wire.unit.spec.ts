import { describe, expect, it } from 'vitest';
import { createKeyring, generateSigningKey } from '@writ/crypto';
import { newMetadata, verifyReservation } from '@writ/contracts';
import { sampleEvent } from '@writ/contracts/testing';
import { accountantStep } from './accountant.ts';
import { createBudgetDecider, usageOf } from './budget.ts';
import type { BudgetCommand, SetLimits } from './commands.ts';
import { initialBudgetState } from './evolve.ts';
import type { BudgetState } from './model.ts';
import { replayWire, toWire } from './wire.ts';
import type { BudgetWireEvent, WireContext } from './wire.ts';

const T0 = Date.UTC(2026, 4, 1, 23, 0, 0);
const key = generateSigningKey('reservation-1');
const keyring = createKeyring({ [key.keyId]: key.publicKey });
const decider = createBudgetDecider({ reservation_ttl_ms: 60_000, thresholds_percent: [50, 80, 100] });

const limits: SetLimits[] = [
  { type: 'SetLimits', scope: 'tenant_day', caps: { money_micros: 10_000, tool_calls: 20 }, currency: 'USD', now: T0 },
  { type: 'SetLimits', scope: 'agent_day', subject: '*', caps: { money_micros: 6_000, tool_calls: 12 }, currency: 'USD', now: T0 },
  { type: 'SetLimits', scope: 'run', caps: { money_micros: 4_000, tool_calls: null }, currency: 'USD', now: T0 },
];

function ctxFor(runId: string, actionId: string | null, tool: string | null): WireContext {
  return {
    tenant: 'acme',
    run_id: runId,
    action_id: actionId,
    tool,
    signingKey: key,
    meta: (fields) => newMetadata({ tenant_id: 'acme', producer: 'budget@0.1.0', ...fields }),
  };
}

function withLimits(state: BudgetState): BudgetState {
  let current = state;
  for (const command of limits) for (const event of decider.decide(command, current)) current = decider.evolve(current, event);
  return current;
}

/** A day of traffic across runs and agents, crossing midnight: reserves, settles (some over), releases, expiries, refusals. */
function traffic(): { live: BudgetState; wire: BudgetWireEvent[] } {
  let live = withLimits(initialBudgetState());
  const wire: BudgetWireEvent[] = [];
  let seed = 7;
  const random = (n: number): number => {
    seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
    return seed % n;
  };
  const open: { id: string; run: string }[] = [];
  for (let i = 0; i < 300; i += 1) {
    const now = T0 + i * 15_000;
    const run = `run-${random(4)}`;
    let command: BudgetCommand;
    let tool: string | null = null;
    let runId = run;
    let actionId: string | null = null;
    const roll = random(10);
    if (roll < 5 || open.length === 0) {
      const id = `act-${i}`;
      command = {
        type: 'Reserve',
        reservation_id: id,
        run_id: run,
        agent_id: `agent-${random(2)}`,
        estimated_cost_micros: 200 + random(900),
        tool_calls: 1,
        currency: 'USD',
        now,
        tool: 'tickets.update',
      };
      tool = 'tickets.update';
      actionId = id;
    } else {
      const [picked] = open.splice(random(open.length), 1);
      if (picked === undefined) throw new Error('unreachable');
      runId = picked.run;
      actionId = picked.id;
      command =
        roll < 8
          ? { type: 'Settle', reservation_id: picked.id, actual_cost_micros: random(1_200), currency: 'USD', now }
          : roll < 9
            ? { type: 'Release', reservation_id: picked.id, now }
            : { type: 'ExpireReservations', now: now + 120_000 };
      if (command.type === 'ExpireReservations') open.push(picked);
    }
    const step = accountantStep(decider, live, command);
    if (command.type === 'Reserve' && step.events.some((e) => e.type === 'BudgetReserved')) open.push({ id: command.reservation_id, run });
    wire.push(...toWire(live, step.events, ctxFor(runId, actionId, tool)));
    live = step.state;
  }
  // A release arriving before its request: remembered, and the late request is ignored.
  const early = accountantStep(decider, live, { type: 'Release', reservation_id: 'act-early', now: T0 + 5_000_000 });
  wire.push(...toWire(live, early.events, ctxFor('run-0', 'act-early', null)));
  live = early.state;
  const late = accountantStep(decider, live, {
    type: 'Reserve',
    reservation_id: 'act-early',
    run_id: 'run-0',
    agent_id: 'agent-0',
    estimated_cost_micros: 1,
    tool_calls: 1,
    currency: 'USD',
    now: T0 + 5_000_001,
  });
  wire.push(...toWire(live, late.events, ctxFor('run-0', 'act-early', 'tickets.update')));
  live = late.state;
  return { live, wire };
}

describe('toWire / replayWire', () => {
  it('rebuilds the books exactly from the published events, whatever the interleaving of runs (partitions)', () => {
    const { live, wire } = traffic();
    const types = new Set(wire.map((w) => w.type));
    expect(types).toEqual(new Set(['BudgetReserved', 'BudgetRefused', 'BudgetSettled', 'BudgetThresholdCrossed']));
    const dispositions = new Set(wire.flatMap((w) => (w.type === 'BudgetSettled' ? [w.payload.disposition] : [])));
    expect(dispositions).toEqual(new Set(['settled', 'released', 'expired']));

    const inOrder = wire.reduce(replayWire, withLimits(initialBudgetState()));
    expect(inOrder).toEqual(live);
    // Kafka keeps order per run (partition) only: replay run by run.
    const byRun = [...wire].sort((a, b) => a.payload.meta.run_id.localeCompare(b.payload.meta.run_id));
    expect(byRun.reduce(replayWire, withLimits(initialBudgetState()))).toEqual(live);
    // The topic's other events (the limits announced) move no books, wherever they fall.
    const announced = { type: 'BudgetsConfigured', payload: sampleEvent('BudgetsConfigured') } as unknown as BudgetWireEvent;
    expect([announced, ...wire, announced].reduce(replayWire, withLimits(initialBudgetState()))).toEqual(live);
  });

  it('signs each BudgetReserved so that the executor can verify it', () => {
    const { wire } = traffic();
    const reserved = wire.flatMap((w) => (w.type === 'BudgetReserved' ? [w.payload] : []));
    expect(reserved.length).toBeGreaterThan(10);
    for (const r of reserved) {
      const expected = { action_id: r.meta.action_id ?? '', tenant: 'acme', run_id: r.meta.run_id, agent: r.agent_id ?? '', tool: r.tool ?? '' };
      expect(verifyReservation(r, expected, keyring, r.meta.occurred_at).ok).toBe(true);
      expect(r.day).toBe(new Date(r.meta.occurred_at).toISOString().slice(0, 10));
    }
    // Another run's reservation does not pass for this one.
    const [first] = reserved;
    if (first === undefined) throw new Error('no reservation');
    const forOtherRun = verifyReservation(
      first,
      { action_id: first.meta.action_id ?? '', tenant: 'acme', run_id: 'run-x', agent: first.agent_id ?? '', tool: 'tickets.update' },
      keyring,
      first.meta.occurred_at,
    );
    expect(forOtherRun.ok).toBe(false);
  });

  it('publishes a release and an expiry as BudgetSettled with nothing charged, naming what was held', () => {
    let state = withLimits(initialBudgetState());
    const step = accountantStep(decider, state, {
      type: 'Reserve',
      reservation_id: 'a1',
      run_id: 'r1',
      agent_id: 'g1',
      estimated_cost_micros: 700,
      tool_calls: 1,
      currency: 'USD',
      now: T0,
    });
    state = step.state;
    const released = accountantStep(decider, state, { type: 'Release', reservation_id: 'a1', now: T0 + 1 });
    const [wire] = toWire(state, released.events, ctxFor('r1', 'a1', null));
    expect(wire).toMatchObject({
      type: 'BudgetSettled',
      payload: {
        reservation_id: 'a1',
        disposition: 'released',
        actual_cost_micros: 0,
        released_micros: 700,
        reserved_micros: 700,
        agent_id: 'g1',
        day: '2026-05-01',
        tool_calls: 1,
        late: false,
        currency: 'USD',
      },
    });
    expect(usageOf(released.state, 'agent_day', 'g1', '2026-05-01')).toEqual({ settled_micros: 0, reserved_micros: 0, settled_calls: 0, reserved_calls: 0 });
  });
});

describe('accountantStep', () => {
  it('lapses stale reservations before reserving, so their room is free', () => {
    let state = withLimits(initialBudgetState());
    state = accountantStep(decider, state, {
      type: 'Reserve',
      reservation_id: 'a1',
      run_id: 'r1',
      agent_id: 'g1',
      estimated_cost_micros: 4_000,
      tool_calls: 1,
      currency: 'USD',
      now: T0,
    }).state;
    const refused = accountantStep(decider, state, {
      type: 'Reserve',
      reservation_id: 'a2',
      run_id: 'r1',
      agent_id: 'g1',
      estimated_cost_micros: 1,
      tool_calls: 1,
      currency: 'USD',
      now: T0 + 1,
    });
    expect(refused.events.map((e) => e.type)).toEqual(['BudgetRefused']);
    const after = accountantStep(decider, state, {
      type: 'Reserve',
      reservation_id: 'a3',
      run_id: 'r1',
      agent_id: 'g1',
      estimated_cost_micros: 1,
      tool_calls: 1,
      currency: 'USD',
      now: T0 + 60_001,
    });
    expect(after.events.map((e) => e.type)).toEqual(['BudgetReservationExpired', 'BudgetReserved']);
  });

  it('ignores a cost-0 settlement of a reservation never granted, and refuses a charged one', () => {
    const state = withLimits(initialBudgetState());
    expect(accountantStep(decider, state, { type: 'Settle', reservation_id: 'nope', actual_cost_micros: 0, currency: 'USD', now: T0 }).events).toEqual([]);
    expect(() => accountantStep(decider, state, { type: 'Settle', reservation_id: 'nope', actual_cost_micros: 5, currency: 'USD', now: T0 })).toThrow(
      expect.objectContaining({ code: 'BUDGET_UNKNOWN_RESERVATION' }),
    );
  });
});
