import { describe, expect, it } from 'vitest';
import { isWritError } from '@writ/errors';
import { canonicalJson } from './canonical-json.ts';
import { sha256Canonical, sha256Hex } from './hash.ts';

function rejection(value: unknown) {
  try {
    canonicalJson(value);
  } catch (error) {
    if (isWritError(error, 'CANONICAL_JSON_INVALID')) return error;
    throw error;
  }
  throw new Error('expected CANONICAL_JSON_INVALID');
}

describe('canonicalJson', () => {
  it('reproduces the RFC 8785 sample (numbers, escapes, literals)', () => {
    const input = JSON.parse(
      '{"numbers":[333333333.33333329,1E30,4.50,2e-3,0.000000000000000000000000001],' +
        '"string":"\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/","literals":[null,true,false]}',
    ) as unknown;
    expect(canonicalJson(input)).toBe(
      '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],' + '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}',
    );
  });

  it('sorts keys by UTF-16 code units at every depth, as RFC 8785 does', () => {
    const keys = ['\u20ac', '\r', '\ufb33', '1', '\ud83d\ude00', '\u0080', '\u00f6'];
    const value = Object.fromEntries(keys.map((k, i) => [k, { z: i, a: [{ y: 1, b: 2 }] }]));
    const text = canonicalJson(value);
    // Read the order from the text itself: JS objects list integer-like keys ("1") first.
    const order = [...text.matchAll(/"((?:[^"\\]|\\.)*)":\{"a"/g)].map((m) => JSON.parse(`"${m[1] ?? ''}"`) as string);
    expect(order).toEqual(['\r', '1', '\u0080', '\u00f6', '\u20ac', '\ud83d\ude00', '\ufb33']);
    expect(text).toContain('{"a":[{"b":2,"y":1}],"z":');
  });

  it('is independent of insertion order and has no whitespace', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, 'x'], c: null } })).toBe('{"a":{"c":null,"d":[1,"x"]},"b":1}');
    expect(canonicalJson({ a: { c: null, d: [1, 'x'] }, b: 1 })).toBe(canonicalJson({ b: 1, a: { d: [1, 'x'], c: null } }));
    expect(canonicalJson(-0)).toBe('0');
    expect(canonicalJson(Object.create(null) as object)).toBe('{}');
  });

  it.each([
    [{ amount: Number.NaN }, '$.amount', 'number must be finite, got NaN'],
    [{ a: [1, Infinity] }, '$.a[1]', 'number must be finite, got Infinity'],
    [{ a: { b: undefined } }, '$.a.b', 'value is undefined (omit the key or use null)'],
    [[undefined], '$[0]', 'value is undefined (omit the key or use null)'],
    [{ 'odd key': 10n }, '$["odd key"]', 'bigint is not a JSON number (convert it to a string or a safe integer)'],
    [{ when: new Date(0) }, '$.when', 'Date is not a plain object (convert it to plain JSON data first)'],
    [{ s: 'bad \ud800 surrogate' }, '$.s', 'string contains a lone UTF-16 surrogate'],
    [{ f: () => 1 }, '$.f', 'function is not a JSON value'],
  ])('rejects a bad value at %#, naming its path', (value, field, rule) => {
    const error = rejection(value);
    expect(error.field).toBe(field);
    expect(error.rule).toBe(rule);
    expect(error.message).toBe(`cannot canonicalise ${field}: ${rule}`);
  });

  it('rejects sparse arrays and cycles', () => {
    expect(rejection([1, , 3]).field).toBe('$[1]');
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic['self'] = cyclic;
    expect(rejection(cyclic).rule).toBe('value is circular');
  });

  it('allows the same object twice when it is not a cycle', () => {
    const shared = { x: 1 };
    expect(canonicalJson({ a: shared, b: shared })).toBe('{"a":{"x":1},"b":{"x":1}}');
  });
});

describe('sha256', () => {
  it('hashes strings and bytes as SHA-256 hex', () => {
    expect(sha256Hex('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(sha256Hex(new TextEncoder().encode('abc'))).toBe(sha256Hex('abc'));
  });

  it('hashes the canonical form, so key order does not matter but values do', () => {
    expect(sha256Canonical({ a: 1, b: 2 })).toBe(sha256Canonical({ b: 2, a: 1 }));
    expect(sha256Canonical({ a: 1, b: 2 })).toBe(sha256Hex('{"a":1,"b":2}'));
    expect(sha256Canonical({ a: 1, b: 3 })).not.toBe(sha256Canonical({ a: 1, b: 2 }));
  });
});
