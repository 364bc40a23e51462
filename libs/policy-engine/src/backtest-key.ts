// The key under which backtest() caches the candidate's answer to a request: the sha256 of the
// request's canonical JSON (canonicalJson of @writ/crypto), so identical requests, whatever the
// order of their keys, are decided once, and two different requests never share an answer.
// A recorded request is plain JSON whose keys are already in canonical order (it was parsed from
// the canonical request_json of PolicyDecided), and JSON.stringify writes such a value exactly as
// canonicalJson does, about four times faster; anything else goes through canonicalJson itself,
// which sorts the keys or refuses what is not JSON (CANONICAL_JSON_INVALID), as before.
import { canonicalJson, sha256Hex } from '@writ/crypto';
import type { DecisionRequest } from './types.ts';

/** Deeper than this, canonicalJson decides (it also refuses cycles, naming the path). */
const MAX_FAST_DEPTH = 64;

/**
 * Whether JSON.stringify(value) is canonicalJson(value): null, booleans, finite numbers,
 * well-formed strings, arrays without holes and plain objects whose own enumerable keys are
 * already sorted by UTF-16 code units (canonicalJson's order), all the way down.
 */
function canonicalAsIs(value: unknown, depth: number): boolean {
  switch (typeof value) {
    case 'string':
      return value.isWellFormed();
    case 'number':
      return Number.isFinite(value);
    case 'boolean':
      return true;
    case 'object': {
      if (value === null) return true;
      if (depth >= MAX_FAST_DEPTH) return false;
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) if (!(i in value) || !canonicalAsIs(value[i], depth + 1)) return false;
        return true;
      }
      const proto: unknown = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) return false;
      let previous: string | undefined;
      // for...in visits the keys in Object.keys' order (JSON.stringify's); an inherited one is no JSON.
      for (const key in value) {
        if (!Object.hasOwn(value, key) || (previous !== undefined && !(previous < key)) || !key.isWellFormed()) return false;
        if (!canonicalAsIs((value as Record<string, unknown>)[key], depth + 1)) return false;
        previous = key;
      }
      return true;
    }
    default:
      return false;
  }
}

/** canonicalJson(request), the same text, without sorting or checking path by path when the request is canonical already. */
export function canonicalRequestJson(request: DecisionRequest): string {
  return canonicalAsIs(request, 0) ? JSON.stringify(request) : canonicalJson(request);
}

/** The key of a request's canonical JSON in a BacktestCache. */
export function backtestKeyOfJson(json: string): string {
  return sha256Hex(json);
}

/** The key of a request in a BacktestCache: the sha256 (hex) of its canonical JSON. */
export function backtestKey(request: DecisionRequest): string {
  return backtestKeyOfJson(canonicalRequestJson(request));
}
