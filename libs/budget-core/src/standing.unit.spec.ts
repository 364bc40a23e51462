import { describe, expect, it } from 'vitest';
import { budgetDecider } from './budget.ts';
import type { BudgetCommand } from './commands.ts';
import { initialBudgetState } from './evolve.ts';
import type { BudgetState } from './model.ts';
import { budgetStandings } from './standing.ts';

const T0 = Date.UTC(2026, 4, 1, 12, 0, 0);
const DAY_MS = 86_400_000;

function stateAfter(commands: readonly BudgetCommand[]): BudgetState {
  let state = initialBudgetState();
  for (const command of commands) for (const event of budgetDecider.decide(command, state)) state = budgetDecider.evolve(state, event);
  return state;
}

function setLimits(
  scope: 'run' | 'agent_day' | 'tool_day' | 'tenant_month' | 'agent_window',
  money: number | null,
  calls: number | null,
  subject?: string,
  windowMs?: number,
): BudgetCommand {
  return {
    type: 'SetLimits',
    scope,
    ...(subject === undefined ? {} : { subject }),
    ...(windowMs === undefined ? {} : { window_ms: windowMs }),
    caps: { money_micros: money, tool_calls: calls },
    currency: 'USD',
    now: T0,
  };
}
const reserve = (id: string, agent: string, amount: number, now = T0, tool = 'refunds.issue'): BudgetCommand => ({
  type: 'Reserve',
  reservation_id: id,
  run_id: `run-${agent}`,
  agent_id: agent,
  tool,
  estimated_cost_micros: amount,
  tool_calls: 1,
  currency: 'USD',
  now,
});

describe('budgetStandings', () => {
  it("reports each configured budget's use of its cap in the current period: the tenant's, a subject's own, a default's per subject that used it", () => {
    const state = stateAfter([
      setLimits('run', 1_000_000, null),
      setLimits('agent_day', 100_000, 10),
      setLimits('agent_day', 500_000, null, 'big-bot'),
      setLimits('tenant_month', 2_000_000, null),
      setLimits('tool_day', null, 5, 'refunds.issue'),
      reserve('r1', 'bot-a', 30_000),
      reserve('r2', 'bot-a', 20_000),
      reserve('r3', 'big-bot', 70_000),
      // Yesterday: not in today's counters.
      reserve('r0', 'bot-old', 90_000, T0 - DAY_MS),
    ]);
    const standings = budgetStandings(state, T0 + 1_000);
    const byKey = Object.fromEntries(standings.map((s) => [`${s.scope}|${s.subject}|${s.kind}`, [s.used, s.limit]]));
    expect(byKey).toEqual({
      'agent_day|bot-a|money': [50_000, 100_000],
      'agent_day|bot-a|tool_calls': [2, 10],
      // big-bot has a budget of its own: reported under it, with its own cap (and no call cap).
      'agent_day|big-bot|money': [70_000, 500_000],
      // May's: bot-old's reservation was on April 30th.
      'tenant_month|*|money': [120_000, 2_000_000],
      'tool_day|refunds.issue|tool_calls': [3, 5],
    });
    // Runs' budgets are never reported; bot-old used the default yesterday, not today.
    expect(standings.some((s) => (s.scope as string) === 'run' || s.subject === 'bot-old')).toBe(false);
  });

  it('starts the next day from nothing: no subject of a default budget, the explicit ones at 0', () => {
    const state = stateAfter([setLimits('agent_day', 100_000, null), setLimits('agent_day', 100_000, null, 'named'), reserve('r1', 'bot-a', 30_000)]);
    expect(budgetStandings(state, T0 + DAY_MS)).toEqual([{ scope: 'agent_day', subject: 'named', kind: 'money', used: 0, limit: 100_000 }]);
  });

  it("reports a rolling window's use within the window", () => {
    const hour = 3_600_000;
    const state = stateAfter([
      setLimits('agent_window', 10_000, null, undefined, hour),
      reserve('r1', 'bot-a', 4_000),
      reserve('r2', 'bot-a', 3_000, T0 + hour / 2),
    ]);
    expect(budgetStandings(state, T0 + hour / 2)).toEqual([{ scope: 'agent_window', subject: 'bot-a', kind: 'money', used: 7_000, limit: 10_000 }]);
    // Two windows later, the first reservation is out of it.
    expect(budgetStandings(state, T0 + hour + hour / 4)).toEqual([{ scope: 'agent_window', subject: 'bot-a', kind: 'money', used: 3_000, limit: 10_000 }]);
  });
});
