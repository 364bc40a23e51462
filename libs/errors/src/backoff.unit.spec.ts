import { describe, expect, it } from 'vitest';
import { backoffDelay } from './backoff.ts';

describe("backoffDelay, Writ's one backoff", () => {
  const bounds = { initialMs: 100, maxMs: 1_000 };

  it('doubles per attempt up to the cap, half of it fixed and half random', () => {
    expect([1, 2, 3, 4, 5, 6].map((a) => backoffDelay(a, bounds, () => 1))).toEqual([100, 200, 400, 800, 1_000, 1_000]);
    expect([1, 2, 3, 4, 5, 6].map((a) => backoffDelay(a, bounds, () => 0))).toEqual([50, 100, 200, 400, 500, 500]);
    expect(backoffDelay(3, bounds, () => 0.5)).toBe(300);
  });

  it('stays finite and capped for any attempt count', () => {
    expect(backoffDelay(0, bounds, () => 1)).toBe(100);
    expect(backoffDelay(10_000, bounds, () => 1)).toBe(1_000);
  });
});
