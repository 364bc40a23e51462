import { describe, expect, it } from 'vitest';
import { budgetsAnnouncement } from './announcement.ts';
import { parseBudgetsFile } from './budgets-file.ts';

const file = (acme: Record<string, unknown>) => parseBudgetsFile(JSON.stringify({ tenants: { acme } }));
const ACME = {
  currency: 'USD',
  time_zone: 'Europe/Berlin',
  daily: { money: '50.00', tool_calls: 2000 },
  agents: { 'triage-bot': { daily: { money: '5.00', tool_calls: 500 } } },
  budgets: [
    { scope: 'run', period: 'run', money: '100.00', reads_only_at: 50 },
    { scope: 'tool', subject: 'refunds.issue', window: '1h', tool_calls: 1000, thresholds: [50, 90], approval_at: 40, reads_only_at: 80 },
  ],
};

describe('budgetsAnnouncement', () => {
  it('lists every budget of the tenant in the file’s order, with its caps, steps and the tenant’s currency and zone', () => {
    const announcement = budgetsAnnouncement(file(ACME), 'acme');
    expect(announcement).toMatchObject({ currency: 'USD', time_zone: 'Europe/Berlin' });
    expect(announcement?.config_sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(announcement?.budgets).toEqual([
      {
        scope: 'tenant_day',
        subject: '*',
        window_ms: null,
        money_micros: 50_000_000,
        tool_calls: 2000,
        thresholds_percent: [],
        approval_at_percent: null,
        reads_only_at_percent: null,
      },
      {
        scope: 'agent_day',
        subject: 'triage-bot',
        window_ms: null,
        money_micros: 5_000_000,
        tool_calls: 500,
        thresholds_percent: [],
        approval_at_percent: null,
        reads_only_at_percent: null,
      },
      {
        scope: 'run',
        subject: '*',
        window_ms: null,
        money_micros: 100_000_000,
        tool_calls: null,
        thresholds_percent: [],
        approval_at_percent: null,
        reads_only_at_percent: 50,
      },
      {
        scope: 'tool_window',
        subject: 'refunds.issue',
        window_ms: 3_600_000,
        money_micros: null,
        tool_calls: 1000,
        thresholds_percent: [50, 90],
        approval_at_percent: 40,
        reads_only_at_percent: 80,
      },
    ]);
  });

  it('gives the same configuration the same digest (whatever the key order), and a changed one another', () => {
    const digest = (acme: Record<string, unknown>) => budgetsAnnouncement(file(acme), 'acme')?.config_sha256;
    const reordered = { budgets: ACME.budgets, agents: ACME.agents, daily: ACME.daily, time_zone: ACME.time_zone, currency: ACME.currency };
    expect(digest(reordered)).toBe(digest(ACME));
    expect(digest({ ...ACME, agents: { 'triage-bot': { daily: { money: '6.00', tool_calls: 500 } } } })).not.toBe(digest(ACME));
    expect(digest({ ...ACME, time_zone: 'UTC' })).not.toBe(digest(ACME));
  });

  it('is null for a tenant the file does not name; a tenant without a zone is UTC', () => {
    expect(budgetsAnnouncement(file(ACME), 'globex')).toBeNull();
    expect(budgetsAnnouncement(file({ currency: 'EUR', daily: { tool_calls: 10 } }), 'acme')).toMatchObject({ currency: 'EUR', time_zone: 'UTC' });
  });
});
