// A tool's declared cost: what is reserved (its maximum), what a call costs (what its result
// reports, within or beyond the maximum), and the declarations the registry refuses.
import { describe, expect, it } from 'vitest';
import { reservedCostOf } from './definition.ts';
import { createToolRegistry } from './registry.ts';
import { actualCostOf } from './request.ts';

function priced(cost: Record<string, unknown>): Record<string, unknown> {
  return {
    name: 'quotes.fetch',
    version: '1.0.0',
    description: 'A priced lookup.',
    effect: 'read',
    risk: 'low',
    arguments: { type: 'object', properties: { q: { type: 'string' } }, required: ['q'], additionalProperties: false },
    cost: { currency: 'USD', ...cost },
    timeout_ms: 1000,
    retry: { max_attempts: 1, initial_backoff_ms: 0, max_backoff_ms: 0 },
    idempotent: true,
    endpoint: { method: 'GET', url: 'http://127.0.0.1:1/quotes' },
  };
}

describe('a tool declaring its cost', () => {
  it('is reserved for its maximum, or its expected cost without one', () => {
    expect(reservedCostOf({ cost: { micros: 100, currency: 'USD' } })).toBe(100);
    expect(reservedCostOf({ cost: { micros: 100, max_micros: 500, currency: 'USD' } })).toBe(500);
  });

  it('costs what its result reports at the declared path, else its maximum (a cost nobody knows)', () => {
    const tool = { cost: { micros: 100, max_micros: 500, actual: 'billing.fee_micros', currency: 'USD' } };
    expect(actualCostOf(tool, { billing: { fee_micros: 420 } })).toEqual({ micros: 420, reported: true });
    expect(actualCostOf(tool, { billing: { fee_micros: 900 } })).toEqual({ micros: 900, reported: true });
    for (const result of [{}, null, 'text', { billing: { fee_micros: '420' } }, { billing: { fee_micros: -1 } }, { billing: { fee_micros: 0.5 } }]) {
      expect(actualCostOf(tool, result)).toEqual({ micros: 500, reported: false });
    }
    expect(actualCostOf({ cost: { micros: 100, currency: 'USD' } }, { anything: 1 })).toEqual({ micros: 100, reported: true });
  });

  it('refuses a maximum below the expected cost, a reported cost without a maximum, and a malformed path', () => {
    expect(() => createToolRegistry([priced({ micros: 100, max_micros: 50 })])).toThrow(/cost\.max_micros.*must be at least cost\.micros/);
    expect(() => createToolRegistry([priced({ micros: 100, actual: 'fee' })])).toThrow(/cost\.max_micros.*is required when cost\.actual is set/);
    expect(() => createToolRegistry([priced({ micros: 100, max_micros: 100, actual: 'a..b' })])).toThrow(/cost\.actual/);
    expect(createToolRegistry([priced({ micros: 100, max_micros: 100, actual: 'fee' })]).get('quotes.fetch')?.cost.actual).toBe('fee');
  });
});
