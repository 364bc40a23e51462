// The backtest cache key: canonicalRequestJson is canonicalJson's text (the fast path only skips the
// work when the request is canonical already), and refuses what canonicalJson refuses; the key is
// the same for the same request whatever the order of its keys, and differs for different ones.
import { describe, expect, it } from 'vitest';
import { canonicalJson, sha256Hex } from '@writ/crypto';
import { isWritError } from '@writ/errors';
import { backtestKey, backtestKeyOfJson, canonicalRequestJson } from './backtest-key.ts';
import type { DecisionRequest } from './types.ts';
import { seededRandom } from '@writ/decider/testing';

const request = (extra: Record<string, unknown> = {}): DecisionRequest =>
  ({
    agent: { id: 'acme-support-1', owner: 'olivia', role: 'support' },
    arguments: { amount_cents: 12_000, currency: 'USD', customer_id: 'C-1042', ticket_tags: ['refund_approved'] },
    runStats: { callsInWindow: 1, spendMicros: 12_000, steps: 3 },
    tenant: 'acme',
    tool: { effect: 'write', name: 'refunds.issue', risk: 'medium', version: '1.2.0' },
    ...extra,
  }) as DecisionRequest;

/** The same value with every object's keys in reverse order. */
function reversed(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(reversed);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(
    Object.keys(value)
      .reverse()
      .map((key) => [key, reversed((value as Record<string, unknown>)[key])]),
  );
}

/** canonicalJson's error (code and message), or its text. */
function outcome(run: () => string): string {
  try {
    return run();
  } catch (error) {
    if (isWritError(error)) return `${error.code}: ${error.message}`;
    throw error;
  }
}

describe('backtest cache key', () => {
  it('canonicalRequestJson is canonicalJson’s text, keys in canonical order or not', () => {
    const values: unknown[] = [
      request(),
      reversed(request()),
      request({ approvals: [{ approverId: 'maria', role: 'manager' }] }),
      request({ arguments: { '10': 1, '9': 2, b: [1, { d: 1, c: 2 }], a: null, é: 'ü', '': -0, z: 1e21, y: 0.1 } }),
      request({ arguments: { 'emoji 😀': '\u2028 "quoted" \\ \n\t', nested: { deeper: { deepest: [[], {}, [true, false]] } } } }),
      Object.assign(Object.create(null) as object, { b: 1, a: Object.assign(Object.create(null) as object, { y: 2, x: [] }) }),
    ];
    for (const value of values) {
      expect(canonicalRequestJson(value as DecisionRequest)).toBe(canonicalJson(value));
      expect(canonicalRequestJson(reversed(value) as DecisionRequest)).toBe(canonicalJson(value));
    }
  });

  it('random JSON values, their keys in random order: canonicalJson’s text every time', () => {
    const random = seededRandom(7).next;
    const keys = ['a', 'b', 'B', 'aa', '_', '1', '10', '2', 'é', 'Z', 'ticket_id', '€', '😀', ''];
    const value = (depth: number): unknown => {
      const r = random();
      if (depth > 4 || r < 0.35) {
        const leaves = [null, true, false, 0, -0, 1.5, -42, 2 ** 53 - 1, 1e-7, '', 'x', 'ünïcödé', '\u0000\u001f', '"\\'];
        return leaves[Math.floor(random() * leaves.length)];
      }
      if (r < 0.6) return Array.from({ length: Math.floor(random() * 4) }, () => value(depth + 1));
      const entries = keys.filter(() => random() < 0.3).map((key) => [key, value(depth + 1)] as const);
      return Object.fromEntries(entries.sort(() => random() - 0.5));
    };
    for (let i = 0; i < 2_000; i++) {
      const v = { arguments: value(0), tenant: 'acme' };
      const text = canonicalJson(v);
      expect(canonicalRequestJson(v as unknown as DecisionRequest)).toBe(text);
      // As a recorded request comes: parsed from its canonical JSON (keys in order, but integer-like ones first).
      expect(canonicalRequestJson(JSON.parse(text) as DecisionRequest)).toBe(text);
    }
  });

  it('refuses what canonicalJson refuses, with its error', () => {
    const circular: Record<string, unknown> = { a: 1 };
    circular['self'] = circular;
    let deep: unknown = 'bottom';
    for (let i = 0; i < 200; i++) deep = { deeper: deep };
    const refused: unknown[] = [
      request({ approvals: undefined }),
      request({ arguments: { amount_cents: Number.NaN } }),
      request({ arguments: { amount_cents: Number.POSITIVE_INFINITY } }),
      request({ arguments: { customer_id: 'C-\ud800' } }),
      request({ arguments: { '\udc00': 1 } }),
      request({ arguments: { at: new Date(0) } }),
      request({ arguments: { tags: [1, , 3] } }),
      request({ arguments: { tags: [undefined] } }),
      request({ arguments: { f: () => 1 } }),
      request({ arguments: { n: 1n } }),
      request({ arguments: circular }),
      request({ arguments: deep }),
      Object.assign(Object.create({ inherited: true }) as object, { a: 1 }),
    ];
    for (const value of refused) {
      const expected = outcome(() => canonicalJson(value));
      expect(expected).toMatch(/^CANONICAL_JSON_INVALID: /);
      expect(outcome(() => canonicalRequestJson(value as DecisionRequest))).toBe(expected);
      expect(outcome(() => backtestKey(value as DecisionRequest))).toBe(expected);
    }
  });

  it('the key: sha256 of the canonical JSON; one request, one key; two requests, two keys', () => {
    expect(backtestKey(request())).toBe(sha256Hex(canonicalJson(request())));
    expect(backtestKeyOfJson(canonicalRequestJson(request()))).toBe(backtestKey(request()));
    expect(backtestKey(reversed(request()) as DecisionRequest)).toBe(backtestKey(request()));
    const others = [
      request({ approvals: [] }),
      request({ arguments: { amount_cents: '12000', currency: 'USD', customer_id: 'C-1042', ticket_tags: ['refund_approved'] } }),
      request({ arguments: { amount_cents: null, currency: 'USD', customer_id: 'C-1042', ticket_tags: ['refund_approved'] } }),
      request({ arguments: { currency: 'USD', customer_id: 'C-1042', ticket_tags: ['refund_approved'] } }),
      request({ arguments: { amount_cents: 12_000, currency: 'USD', customer_id: 'C-1042', ticket_tags: {} } }),
      request({ runStats: { callsInWindow: 1, spendMicros: 12_000, steps: 4 } }),
    ];
    const all = new Set([request(), ...others].map(backtestKey));
    expect(all.size).toBe(others.length + 1);
  });
});
