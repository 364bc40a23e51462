import { describe, expect, it } from 'vitest';
import { parseDurationMs } from './duration.ts';

describe('parseDurationMs', () => {
  it('reads a whole number and a unit', () => {
    expect(parseDurationMs('30s')).toBe(30_000);
    expect(parseDurationMs('90m')).toBe(5_400_000);
    expect(parseDurationMs('1h')).toBe(3_600_000);
    expect(parseDurationMs('7d')).toBe(604_800_000);
  });

  it('refuses anything else, and units the caller does not allow', () => {
    for (const bad of ['', '0m', '1.5h', '-1h', '1 h', '1H', '1w', 'h', '01m', 90, null, undefined, '1h ']) expect(parseDurationMs(bad)).toBeUndefined();
    expect(parseDurationMs('30s', 'mhd')).toBeUndefined();
    expect(parseDurationMs('30m', 'mhd')).toBe(1_800_000);
  });
});
