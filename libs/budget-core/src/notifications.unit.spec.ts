import { describe, expect, it } from 'vitest';
import { newMetadata } from '@writ/contracts';
import { sampleEvent } from '@writ/contracts/testing';
import { microsToMoney, thresholdNotification } from './notifications.ts';

describe('budget notifications', () => {
  it('formats micro-units as money without rounding', () => {
    expect(microsToMoney(4_000_000)).toBe('4.00');
    expect(microsToMoney(4_500_000)).toBe('4.50');
    expect(microsToMoney(125)).toBe('0.000125');
    expect(microsToMoney(25_000_000_000)).toBe('25000.00');
  });

  it("tells the tenant's webhook which budget reached which threshold, with the figures", () => {
    const meta = newMetadata({ tenant_id: 'acme', run_id: 'run-1', action_id: 'act-1', producer: 'budget@test' });
    const crossed = {
      ...sampleEvent('BudgetThresholdCrossed', meta),
      scope: 'agent_day',
      subject: 'triage-bot',
      period: '2026-12-07',
      kind: 'money',
      threshold_percent: 80,
      used: 4_000_000,
      limit: 5_000_000,
      currency: 'USD',
      agent_id: 'triage-bot',
    } as const;
    expect(thresholdNotification(crossed)).toEqual({
      text: 'acme: budget agent_day of triage-bot (2026-12-07) reached 80 % of its money limit: 4.00 USD of 5.00 USD used (agent triage-bot)',
      event: 'budget.threshold',
      id: crossed.meta.event_id,
      tenant: 'acme',
      run_id: 'run-1',
      agent: 'triage-bot',
      scope: 'agent_day',
      subject: 'triage-bot',
      period: '2026-12-07',
      kind: 'money',
      threshold_percent: 80,
      used: 4_000_000,
      limit: 5_000_000,
      currency: 'USD',
      occurred_at: new Date(crossed.meta.occurred_at).toISOString(),
    });
    const calls = thresholdNotification({
      ...crossed,
      scope: 'tenant_month',
      subject: '*',
      period: '2026-12',
      kind: 'tool_calls',
      used: 50,
      limit: 100,
      currency: null,
    });
    expect(calls.text).toBe(
      'acme: budget tenant_month of the tenant (2026-12) reached 80 % of its tool-call limit: 50 calls of 100 calls used (agent triage-bot)',
    );
  });
});
