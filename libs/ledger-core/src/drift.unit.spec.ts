import { describe, expect, it } from 'vitest';
import { decodeEvent, encodeEvent, newMetadata } from '@writ/contracts';
import { isWritError } from '@writ/errors';
import { driftAlertRow, driftDetectedEvent, driftEventId, driftKey, isDrift, jensenShannonDivergence, scoreDrift, utcDay } from './drift.ts';
import type { DriftCounts, DriftRule } from './drift.ts';

// Expected divergences worked out by hand (base 2): for p = (½, ½), q = (1, 0), m = (¾, ¼):
// ½[½ log2(½/¾) + ½ log2(½/¼)] + ½[1 log2(1/¾)] = ½[½(-0.5849625007) + ½(1)] + ½(0.4150374993) = 0.3112781245.
const HALF_AGAINST_ONE = 0.3112781245;

const RULE: DriftRule = { threshold: 0.1, baselineDays: 7, minActions: 20 };

function counts(categories: DriftCounts['categories']): DriftCounts {
  return { tenant_id: 'acme', agent_id: 'triage-bot', tool: 'refunds.issue', day: '2026-11-22', categories };
}

describe('jensenShannonDivergence (base 2)', () => {
  it('is 0 for the same shape, whatever the volumes', () => {
    expect(jensenShannonDivergence([10, 30, 60], [1, 3, 6])).toBe(0);
  });

  it('is 1 when the distributions share no category', () => {
    expect(jensenShannonDivergence([5, 0], [0, 70])).toBe(1);
  });

  it('matches the values worked out by hand, and is symmetric', () => {
    expect(jensenShannonDivergence([1, 1], [1, 0])).toBeCloseTo(HALF_AGAINST_ONE, 9);
    expect(jensenShannonDivergence([1, 0], [1, 1])).toBeCloseTo(HALF_AGAINST_ONE, 9);
    // 60/40 against 90/10: m = (0.75, 0.25); ½[0.6 log2 0.8 + 0.4 log2 1.6] + ½[0.9 log2 1.2 + 0.1 log2 0.4] = 0.0913050304.
    expect(jensenShannonDivergence([6, 4], [9, 1])).toBeCloseTo(0.0913050304, 9);
  });

  it('refuses counts it cannot compare, naming the field and the rule', () => {
    const failure = (run: () => unknown) => {
      try {
        run();
      } catch (error) {
        if (isWritError(error, 'INVALID_ARGUMENT')) return { field: error.field, rule: error.rule };
        throw error;
      }
      throw new Error('not refused');
    };
    expect(failure(() => jensenShannonDivergence([1, 2], [1]))).toEqual({ field: 'q', rule: 'as many counts as p' });
    expect(failure(() => jensenShannonDivergence([1, -1], [1, 1]))).toEqual({ field: 'p', rule: 'finite counts >= 0' });
    expect(failure(() => jensenShannonDivergence([1, 1], [0, 0]))).toEqual({ field: 'q', rule: 'a total > 0' });
  });
});

describe('scoreDrift and isDrift', () => {
  it('scores a day that was half denials against a baseline of successes: the score, totals, volume ratio, categories by the day', () => {
    const score = scoreDrift(
      counts([
        { category: 'completed:SUCCEEDED', actions: 20, baseline_actions: 280 },
        { category: 'denied:POLICY_DENIED', actions: 20, baseline_actions: 0 },
      ]),
      7,
    );
    expect(score.score).toBeCloseTo(HALF_AGAINST_ONE, 9);
    expect(score).toMatchObject({ actions: 40, baseline_actions: 280, baseline_days: 7, volume_ratio: 1 });
    expect(isDrift(score, RULE)).toBe(true);
    expect(isDrift(score, { ...RULE, threshold: 0.32 })).toBe(false);
  });

  it('orders categories by the day, then the baseline, then the name', () => {
    const score = scoreDrift(
      counts([
        { category: 'failed:EXECUTION_FAILED', actions: 1, baseline_actions: 9 },
        { category: 'denied:POLICY_DENIED', actions: 5, baseline_actions: 0 },
        { category: 'completed:SUCCEEDED', actions: 5, baseline_actions: 50 },
        { category: 'expired:APPROVAL_TIMEOUT', actions: 1, baseline_actions: 9 },
      ]),
      7,
    );
    expect(score.categories.map((c) => c.category)).toEqual([
      'completed:SUCCEEDED',
      'denied:POLICY_DENIED',
      'expired:APPROVAL_TIMEOUT',
      'failed:EXECUTION_FAILED',
    ]);
  });

  it('has no score without a baseline or without actions, and calls nothing a drift then', () => {
    const fresh = scoreDrift(counts([{ category: 'completed:SUCCEEDED', actions: 30, baseline_actions: 0 }]), 7);
    expect(fresh).toMatchObject({ score: null, volume_ratio: null, actions: 30, baseline_actions: 0 });
    expect(isDrift(fresh, RULE)).toBe(false);
    expect(scoreDrift(counts([{ category: 'completed:SUCCEEDED', actions: 0, baseline_actions: 30 }]), 7)).toMatchObject({ score: null, volume_ratio: 0 });
  });

  it('needs at least minActions on the day and over the baseline', () => {
    const small = scoreDrift(
      counts([
        { category: 'completed:SUCCEEDED', actions: 0, baseline_actions: 100 },
        { category: 'denied:POLICY_DENIED', actions: 19, baseline_actions: 0 },
      ]),
      7,
    );
    expect(small.score).toBe(1);
    expect(isDrift(small, RULE)).toBe(false);
    expect(isDrift(small, { ...RULE, minActions: 19 })).toBe(true);
    const thinBaseline = scoreDrift(
      counts([
        { category: 'completed:SUCCEEDED', actions: 0, baseline_actions: 19 },
        { category: 'denied:POLICY_DENIED', actions: 100, baseline_actions: 0 },
      ]),
      7,
    );
    expect(isDrift(thinBaseline, RULE)).toBe(false);
  });
});

describe('DriftDetected', () => {
  const score = scoreDrift(
    counts([
      { category: 'completed:SUCCEEDED', actions: 20, baseline_actions: 280 },
      { category: 'denied:POLICY_DENIED', actions: 20, baseline_actions: 0 },
    ]),
    7,
  );
  const at = Date.UTC(2026, 10, 22, 13, 5, 0);

  it('has one event id per tenant, agent, tool and day (a name-based UUID; the hex written out)', () => {
    expect(driftEventId(score)).toBe('e56a64d2-ec39-884a-9920-1b29ca85d17e');
    expect(driftEventId({ ...score, day: '2026-11-23' })).not.toBe(driftEventId(score));
    expect(driftKey(score)).toBe('["acme","triage-bot","refunds.issue","2026-11-22"]');
  });

  it('carries the score, the rule and the categories, encodes, and maps to its drift_alerts row', () => {
    const meta = newMetadata({ tenant_id: 'acme', run_id: 'x', producer: 'ledger@0.1.0', occurred_at: at });
    const event = driftDetectedEvent(score, RULE, meta);
    expect(event.meta).toMatchObject({
      event_id: 'e56a64d2-ec39-884a-9920-1b29ca85d17e',
      tenant_id: 'acme',
      run_id: 'drift:triage-bot:refunds.issue:2026-11-22',
    });
    expect(event.meta.action_id).toBeNull();
    expect(decodeEvent(encodeEvent('DriftDetected', event)).payload).toEqual(event);
    expect(driftAlertRow(event)).toEqual({
      event_id: 'e56a64d2-ec39-884a-9920-1b29ca85d17e',
      tenant_id: 'acme',
      agent_id: 'triage-bot',
      tool: 'refunds.issue',
      day: '2026-11-22',
      score: score.score,
      threshold: 0.1,
      actions: 40,
      baseline_actions: 280,
      baseline_days: 7,
      volume_ratio: 1,
      categories: ['completed:SUCCEEDED', 'denied:POLICY_DENIED'],
      category_actions: [20, 20],
      category_baseline_actions: [280, 0],
      detected_at: '2026-11-22 13:05:00.000',
    });
  });

  it('is never made from a score without a value', () => {
    const none = scoreDrift(counts([{ category: 'completed:SUCCEEDED', actions: 30, baseline_actions: 0 }]), 7);
    expect(() => driftDetectedEvent(none, RULE, newMetadata({ tenant_id: 'acme', run_id: 'x', producer: 'ledger@0.1.0', occurred_at: at }))).toThrow(
      /not a drift/,
    );
  });

  it('measures UTC days', () => {
    expect(utcDay(Date.UTC(2026, 10, 22, 23, 59, 59))).toBe('2026-11-22');
    expect(utcDay(Date.UTC(2026, 10, 22, 0, 0, 1), 1)).toBe('2026-11-21');
  });
});
