import { describe, expect, it } from 'vitest';
import { sampleEvent } from '@writ/contracts/testing';
import { limitCommandsFor, moneyToMicros, parseBudgetsFile } from './budgets-file.ts';
import { commandFor } from './inputs.ts';

const NOW = Date.UTC(2026, 4, 1);

function fieldOf(text: string): string | undefined {
  try {
    parseBudgetsFile(text);
  } catch (error) {
    return (error as { field?: string }).field;
  }
  return 'valid';
}

describe('parseBudgetsFile', () => {
  it('reads tenant, agent and run caps into SetLimits commands', () => {
    const file = parseBudgetsFile(
      JSON.stringify({
        tenants: {
          acme: {
            currency: 'USD',
            daily: { money: '50.00', tool_calls: 200 },
            agents: { 'triage-bot': { daily: { money: '5', tool_calls: 50 } }, '*': { daily: { money_micros: 1_000_000 } } },
            run: { tool_calls: 30 },
          },
        },
      }),
    );
    expect(limitCommandsFor(file, 'acme', NOW)).toEqual([
      { type: 'SetLimits', scope: 'tenant_day', caps: { money_micros: 50_000_000, tool_calls: 200 }, currency: 'USD', now: NOW },
      { type: 'SetLimits', scope: 'agent_day', subject: 'triage-bot', caps: { money_micros: 5_000_000, tool_calls: 50 }, currency: 'USD', now: NOW },
      { type: 'SetLimits', scope: 'agent_day', subject: '*', caps: { money_micros: 1_000_000, tool_calls: null }, currency: 'USD', now: NOW },
      { type: 'SetLimits', scope: 'run', caps: { money_micros: null, tool_calls: 30 }, currency: 'USD', now: NOW },
    ]);
    expect(limitCommandsFor(file, 'globex', NOW)).toEqual([]);
    expect(limitCommandsFor(file, '__proto__', NOW)).toEqual([]);
  });

  it('names the field and the rule of a bad value', () => {
    expect(fieldOf('not json')).toBe('(file)');
    expect(fieldOf('{"tenants": {"acme": {"currency": "usd"}}}')).toBe('tenants.acme.currency');
    expect(fieldOf('{"tenants": {"acme": {"currency": "USD", "daily": {"money": "1.1234567"}}}}')).toBe('tenants.acme.daily.money');
    expect(fieldOf('{"tenants": {"acme": {"currency": "USD", "daily": {"money": 5}}}}')).toBe('tenants.acme.daily.money');
    expect(fieldOf('{"tenants": {"acme": {"currency": "USD", "daily": {"tool_calls": -1}}}}')).toBe('tenants.acme.daily.tool_calls');
    expect(fieldOf('{"tenants": {"acme": {"currency": "USD", "daily": {}}}}')).toBe('tenants.acme.daily');
    expect(fieldOf('{"tenants": {"acme": {"currency": "USD", "agents": {"bot": {"weekly": {}}}}}}')).toBe('tenants.acme.agents.bot.weekly');
    expect(fieldOf('{"tenants": {"acme": {"currency": "USD", "dialy": {}}}}')).toBe('tenants.acme.dialy');
    expect(fieldOf('{"tenants": []}')).toBe('tenants');
  });

  it('reads a time zone and a list of budgets of any level and period, with thresholds and a degradation step', () => {
    const file = parseBudgetsFile(
      JSON.stringify({
        tenants: {
          acme: {
            currency: 'EUR',
            time_zone: 'Europe/Berlin',
            budgets: [
              { scope: 'tenant', period: 'month', money: '1000.00', thresholds: [50, 90], approval_at: 60, reads_only_at: 80 },
              { scope: 'agent', period: 'week', tool_calls: 500 },
              { scope: 'tool', subject: 'refunds.issue', period: 'day', money: '200' },
              { scope: 'agent', subject: 'triage-bot', window: '90m', money_micros: 2_000_000 },
              { scope: 'run', period: 'run', tool_calls: 40 },
              { scope: 'tool', subject: 'customers.export', period: 'concurrent', tool_calls: 1 },
            ],
          },
        },
      }),
    );
    const common = { type: 'SetLimits', currency: 'EUR', now: NOW } as const;
    expect(limitCommandsFor(file, 'acme', NOW)).toEqual([
      { type: 'SetTimeZone', time_zone: 'Europe/Berlin', now: NOW },
      {
        ...common,
        scope: 'tenant_month',
        subject: '*',
        caps: { money_micros: 1_000_000_000, tool_calls: null, thresholds_percent: [50, 90], reads_only_at_percent: 80, approval_at_percent: 60 },
      },
      { ...common, scope: 'agent_week', subject: '*', caps: { money_micros: null, tool_calls: 500 } },
      { ...common, scope: 'tool_day', subject: 'refunds.issue', caps: { money_micros: 200_000_000, tool_calls: null } },
      { ...common, scope: 'agent_window', subject: 'triage-bot', window_ms: 90 * 60_000, caps: { money_micros: 2_000_000, tool_calls: null } },
      { ...common, scope: 'run', subject: '*', caps: { money_micros: null, tool_calls: 40 } },
      { ...common, scope: 'tool_concurrent', subject: 'customers.export', caps: { money_micros: null, tool_calls: 1 } },
    ]);
  });

  it('names the field and the rule of a bad budget entry', () => {
    const entry = (budget: object, extra: object = {}) => fieldOf(JSON.stringify({ tenants: { acme: { currency: 'USD', ...extra, budgets: [budget] } } }));
    expect(fieldOf('{"tenants": {"acme": {"currency": "USD", "time_zone": "Mars/Olympus"}}}')).toBe('tenants.acme.time_zone');
    expect(fieldOf('{"tenants": {"acme": {"currency": "USD", "budgets": {}}}}')).toBe('tenants.acme.budgets');
    expect(entry({ scope: 'team', period: 'day', money: '1' })).toBe('tenants.acme.budgets[0].scope');
    expect(entry({ scope: 'agent', period: 'year', money: '1' })).toBe('tenants.acme.budgets[0].period');
    expect(entry({ scope: 'agent', period: 'day', window: '1h', money: '1' })).toBe('tenants.acme.budgets[0]');
    expect(entry({ scope: 'agent', window: '90s', money: '1' })).toBe('tenants.acme.budgets[0].window');
    expect(entry({ scope: 'tenant', subject: 'bot', period: 'day', money: '1' })).toBe('tenants.acme.budgets[0].subject');
    expect(entry({ scope: 'run', period: 'day', money: '1' })).toBe('tenants.acme.budgets[0].period');
    expect(entry({ scope: 'agent', period: 'day' })).toBe('tenants.acme.budgets[0]');
    expect(entry({ scope: 'agent', period: 'day', money: '1', reads_only_at: 101 })).toBe('tenants.acme.budgets[0].reads_only_at');
    expect(entry({ scope: 'agent', period: 'day', money: '1', approval_at: 0 })).toBe('tenants.acme.budgets[0].approval_at');
    expect(entry({ scope: 'agent', period: 'day', money: '1', approval_at: 90, reads_only_at: 90 })).toBe('tenants.acme.budgets[0].approval_at');
    expect(entry({ scope: 'agent', period: 'concurrent', tool_calls: 3, approval_at: 50 })).toBe('tenants.acme.budgets[0]');
    expect(entry({ scope: 'agent', period: 'day', money: '1', thresholds: [50, 50] })).toBe('tenants.acme.budgets[0].thresholds');
    expect(entry({ scope: 'agent', period: 'day', money: '1', colour: 'red' })).toBe('tenants.acme.budgets[0].colour');
    expect(entry({ scope: 'agent', period: 'concurrent', tool_calls: 3, thresholds: [50] })).toBe('tenants.acme.budgets[0]');
    expect(entry({ scope: 'run', period: 'concurrent', tool_calls: 3 })).toBe('tenants.acme.budgets[0].period');
    // The same budget twice, once as the shorthand "daily".
    expect(entry({ scope: 'tenant', period: 'day', money: '1' }, { daily: { money: '2' } })).toBe('tenants.acme.budgets');
  });

  it('converts decimal money to micro-units exactly', () => {
    expect(moneyToMicros('0.000001')).toBe(1);
    expect(moneyToMicros('19.99')).toBe(19_990_000);
    expect(() => moneyToMicros('1e3')).toThrow();
  });
});

describe('commandFor', () => {
  it('maps each input to its command', () => {
    const requested = sampleEvent('BudgetReservationRequested');
    expect(commandFor({ type: 'BudgetReservationRequested', payload: requested }, NOW, null)).toEqual({
      command: {
        type: 'Reserve',
        reservation_id: requested.meta.action_id,
        run_id: requested.meta.run_id,
        agent_id: requested.agent_id,
        estimated_cost_micros: 30_000,
        tool_calls: 1,
        currency: 'USD',
        now: NOW,
        requested_at: requested.meta.occurred_at,
        tool: requested.tool,
      },
      tool: requested.tool,
    });
    const failed = { ...sampleEvent('ActionFailed'), cost_micros: 0 };
    expect(commandFor({ type: 'ActionFailed', payload: failed }, NOW, null)?.command).toEqual({
      type: 'Settle',
      reservation_id: failed.reservation_id,
      actual_cost_micros: 0,
      currency: failed.currency,
      now: NOW,
    });
    const started = sampleEvent('RunStarted');
    expect(commandFor({ type: 'RunStarted', payload: started }, NOW, null)?.command).toEqual({
      type: 'SetLimits',
      scope: 'run',
      subject: started.meta.run_id,
      caps: { money_micros: 2_000_000, tool_calls: 10 },
      currency: 'USD',
      now: NOW,
    });
    const noCaps = { ...started, limits: { ...started.limits, max_cost_micros: null, max_tool_calls: null } };
    expect(commandFor({ type: 'RunStarted', payload: noCaps }, NOW, null)).toBeNull();
  });

  it('releases on every terminal status but completed and failed, unless the action was executing', () => {
    const completed = sampleEvent('ActionCompleted');
    const statusOf = (status: typeof completed.status, reason_code = 'x') =>
      commandFor({ type: 'ActionCompleted', payload: { ...completed, status, reason_code } as typeof completed }, NOW, null)?.command.type ?? null;
    expect(statusOf('completed')).toBeNull();
    expect(statusOf('failed')).toBeNull();
    expect(statusOf('denied')).toBe('Release');
    expect(statusOf('rejected')).toBe('Release');
    expect(statusOf('refused')).toBe('Release');
    expect(statusOf('expired', 'decision_timeout')).toBe('Release');
    expect(statusOf('expired', 'execution_timeout')).toBeNull();
  });
});
