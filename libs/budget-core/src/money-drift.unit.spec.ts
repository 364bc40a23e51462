// Decimal drift (issue 9; LiteLLM's public bug of a $25 budget pinned at 25.000000000000004):
// money is whole micro-units from the budgets file's decimal string to the refusal, so sums of
// 0.10 land exactly on the cap. The end-to-end version is test/e2e/budget-races.e2e.spec.ts.
import { describe, expect, it } from 'vitest';
import { budgetDecider } from './budget.ts';
import { limitCommandsFor, moneyToMicros, parseBudgetsFile } from './budgets-file.ts';
import type { BudgetCommand } from './commands.ts';
import type { BudgetEvent } from './events.ts';
import type { BudgetState } from './model.ts';

const NOW = Date.UTC(2026, 4, 1, 12);
const DAY = '2026-05-01';

function apply(state: BudgetState, command: BudgetCommand): { state: BudgetState; events: readonly BudgetEvent[] } {
  const events = budgetDecider.decide(command, state);
  return { state: events.reduce(budgetDecider.evolve, state), events };
}

/** The accountant with the agent's daily cap from a budgets file's decimal string. */
function booksWithAgentCap(money: string): BudgetState {
  const file = parseBudgetsFile(JSON.stringify({ tenants: { acme: { currency: 'USD', agents: { bot: { daily: { money } } } } } }));
  return limitCommandsFor(file, 'acme', NOW).reduce((state, command) => apply(state, command).state, budgetDecider.initialState());
}

/** Reserves and settles one call of `micros` for agent bot; returns the events of the reservation. */
function spend(state: BudgetState, id: string, micros: number): { state: BudgetState; events: readonly BudgetEvent[] } {
  const reserved = apply(state, {
    type: 'Reserve',
    reservation_id: id,
    run_id: `run-${id}`,
    agent_id: 'bot',
    estimated_cost_micros: micros,
    tool_calls: 1,
    currency: 'USD',
    now: NOW,
  });
  if (!reserved.events.some((e) => e.type === 'BudgetReserved')) return reserved;
  return {
    state: apply(reserved.state, { type: 'Settle', reservation_id: id, actual_cost_micros: micros, currency: 'USD', now: NOW }).state,
    events: reserved.events,
  };
}

function agentUsage(state: BudgetState): number | undefined {
  const usage = state.usage.get(`agent_day|bot|${DAY}`);
  return usage === undefined ? undefined : usage.settled_micros + usage.reserved_micros;
}

describe('money without float drift', () => {
  it('reads decimal amounts as exact micro-units', () => {
    expect(moneyToMicros('25.00')).toBe(25_000_000);
    expect(moneyToMicros('25')).toBe(25_000_000);
    expect(moneyToMicros('0.10')).toBe(100_000);
    expect(moneyToMicros('0.1')).toBe(100_000);
    expect(moneyToMicros('0.30')).toBe(300_000);
    expect(moneyToMicros('25.000001')).toBe(25_000_001);
    // What a float parse would make of these.
    expect(moneyToMicros('0.29')).toBe(290_000);
    expect(moneyToMicros('1.005')).toBe(1_005_000);
    expect(moneyToMicros('9007199254.740991')).toBe(Number.MAX_SAFE_INTEGER);
    expect(() => moneyToMicros('0.0000001')).toThrow(/up to 6 decimals|decimal amount/);
    expect(() => moneyToMicros('9007199254.740992')).toThrow(/too large/);
  });

  it('after exactly 250 calls of $0.10 a $25.00 budget is used to 25,000,000 micros, not 25.000000000000004, and the next is refused', () => {
    // The float sum a drifting accountant would hold: not 25, so it refuses the 250th call.
    let float = 0;
    for (let i = 0; i < 249; i += 1) float += 0.1;
    expect(float + 0.1 > 25).toBe(true);

    let state = booksWithAgentCap('25.00');
    for (let i = 0; i < 250; i += 1) {
      const step = spend(state, `a${i}`, moneyToMicros('0.10'));
      expect(
        step.events.map((e) => e.type),
        `call ${i + 1}`,
      ).toContain('BudgetReserved');
      state = step.state;
    }
    expect(agentUsage(state)).toBe(25_000_000);
    const next = spend(state, 'a250', moneyToMicros('0.10'));
    expect(next.events).toContainEqual(
      expect.objectContaining({ type: 'BudgetRefused', scope: 'agent_day', subject: 'bot', limit: 25_000_000, used: 25_000_000, requested: 100_000 }),
    );
  });

  it('0.10 + 0.20 fits a budget of "0.30" exactly (in floats 0.30000000000000004 would not), and nothing more does', () => {
    expect(0.1 + 0.2 > 0.3).toBe(true);
    let state = booksWithAgentCap('0.30');
    for (const [id, cost] of [
      ['ten', '0.10'],
      ['twenty', '0.20'],
    ] as const) {
      const step = spend(state, id, moneyToMicros(cost));
      expect(step.events.map((e) => e.type)).toContain('BudgetReserved');
      state = step.state;
    }
    expect(agentUsage(state)).toBe(300_000);
    expect(spend(state, 'one-more', 1).events).toContainEqual(expect.objectContaining({ type: 'BudgetRefused', limit: 300_000, used: 300_000, requested: 1 }));
  });
});
