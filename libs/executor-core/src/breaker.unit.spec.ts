import { describe, expect, it } from 'vitest';
import { CircuitBreakers } from './breaker.ts';

describe('CircuitBreakers.states', () => {
  it("gives each called tool's breaker state at an instant: closed, open after the threshold, half-open after the cooldown", () => {
    const breakers = new CircuitBreakers({ threshold: 2, cooldownMs: 1_000 });
    expect(breakers.states(0)).toEqual([]);
    breakers.for('quotes.fetch').failure(10);
    breakers.for('tickets.read').success();
    expect(breakers.states(20)).toEqual([
      ['quotes.fetch', 'closed'],
      ['tickets.read', 'closed'],
    ]);
    breakers.for('quotes.fetch').failure(30);
    expect(breakers.states(40)).toEqual([
      ['quotes.fetch', 'open'],
      ['tickets.read', 'closed'],
    ]);
    expect(breakers.states(1_030)).toEqual([
      ['quotes.fetch', 'half-open'],
      ['tickets.read', 'closed'],
    ]);
  });
});
