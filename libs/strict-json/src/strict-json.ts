import { WritError } from '@writ/errors';
import { firstInvalidUtf8, isEncodedSurrogate } from './utf8.ts';

/** The rule a document broke; stable names, part of the HTTP error answers. */
export type StrictJsonRule = 'utf8' | 'syntax' | 'trailingData' | 'duplicateKey' | 'loneSurrogate' | 'forbiddenKey' | 'maxDepth' | 'maxStringLength' | 'number';

export interface StrictJsonOptions {
  /** Deepest nesting of objects and arrays; a top-level object or array is depth 1. At most 1,000. */
  readonly maxDepth: number;
  /** Longest string or key, in UTF-16 code units after unescaping. */
  readonly maxStringLength: number;
  /** Keys refused anywhere; by default the three that prototype pollution goes through. */
  readonly forbiddenKeys?: readonly string[];
}

export const PROTOTYPE_KEYS: readonly string[] = ['__proto__', 'constructor', 'prototype'];
/** The recursion of the parser is bounded by maxDepth; this keeps it far from the stack's end. */
export const MAX_DEPTH_CEILING = 1_000;

/**
 * A refused document: `rule` says which rule, `path` where (`arguments.amount_cents`, `items[2]`;
 * '' for the document itself) and `offset` the byte at which the problem starts.
 */
export class StrictJsonError extends WritError {
  declare readonly rule: StrictJsonRule;
  readonly path: string;
  readonly offset: number;

  constructor(rule: StrictJsonRule, problem: string, path: string, offset: number) {
    super('JSON_INVALID', `${problem} at ${path === '' ? 'the top level' : path} (byte ${offset})`, {
      field: path,
      rule,
      details: { path, offset },
    });
    this.name = 'StrictJsonError';
    this.path = path;
    this.offset = offset;
  }
}

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
const MAX_KEY_IN_PATH = 64;
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const encoder = new TextEncoder();

function renderPath(segments: readonly (string | number)[]): string {
  let path = '';
  for (const segment of segments) {
    if (typeof segment === 'number') path += `[${segment}]`;
    else if (IDENTIFIER.test(segment) && segment.length <= MAX_KEY_IN_PATH) path += path === '' ? segment : `.${segment}`;
    else path += `[${JSON.stringify(segment.length > MAX_KEY_IN_PATH ? `${segment.slice(0, MAX_KEY_IN_PATH)}…` : segment)}]`;
  }
  return path;
}

function describeChar(code: number): string {
  if (Number.isNaN(code)) return 'end of input';
  if (code >= 0x21 && code <= 0x7e) return `"${String.fromCharCode(code)}"`;
  return `U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
}

const isHighSurrogate = (code: number): boolean => code >= 0xd800 && code <= 0xdbff;
const isLowSurrogate = (code: number): boolean => code >= 0xdc00 && code <= 0xdfff;

function hex4(text: string, at: number): number {
  let value = 0;
  for (let k = 0; k < 4; k += 1) {
    const c = text.charCodeAt(at + k);
    let digit: number;
    if (c >= 0x30 && c <= 0x39) digit = c - 0x30;
    else if (c >= 0x41 && c <= 0x46) digit = c - 0x37;
    else if (c >= 0x61 && c <= 0x66) digit = c - 0x57;
    else return -1;
    value = value * 16 + digit;
  }
  return value;
}

const SIMPLE_ESCAPES: Readonly<Record<number, string>> = {
  0x22: '"',
  0x5c: '\\',
  0x2f: '/',
  0x62: '\b',
  0x66: '\f',
  0x6e: '\n',
  0x72: '\r',
  0x74: '\t',
};

/** RFC 8259 with no leniency, over a string already known to be well-formed or to be checked here. */
class Parser {
  readonly #text: string;
  readonly #maxDepth: number;
  readonly #maxStringLength: number;
  readonly #forbidden: ReadonlySet<string>;
  readonly #path: (string | number)[] = [];
  #pos = 0;

  constructor(text: string, options: StrictJsonOptions) {
    this.#text = text;
    this.#maxDepth = options.maxDepth;
    this.#maxStringLength = options.maxStringLength;
    this.#forbidden = new Set(options.forbiddenKeys ?? PROTOTYPE_KEYS);
  }

  parseDocument(): unknown {
    this.#skipWhitespace();
    if (this.#pos >= this.#text.length) this.#fail('syntax', this.#pos, 'empty document, expected a JSON value');
    const value = this.#parseValue(0);
    this.#skipWhitespace();
    if (this.#pos < this.#text.length) {
      this.#fail('trailingData', this.#pos, `unexpected ${describeChar(this.#text.charCodeAt(this.#pos))} after the JSON value`);
    }
    return value;
  }

  #fail(rule: StrictJsonRule, at: number, problem: string): never {
    const offset = encoder.encode(this.#text.slice(0, at)).length;
    throw new StrictJsonError(rule, problem, renderPath(this.#path), offset);
  }

  #skipWhitespace(): void {
    const text = this.#text;
    let pos = this.#pos;
    for (;;) {
      const c = text.charCodeAt(pos);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) pos += 1;
      else break;
    }
    this.#pos = pos;
  }

  #parseValue(depth: number): unknown {
    this.#skipWhitespace();
    const c = this.#text.charCodeAt(this.#pos);
    switch (c) {
      case 0x7b:
        return this.#parseObject(depth + 1);
      case 0x5b:
        return this.#parseArray(depth + 1);
      case 0x22:
        return this.#parseString();
      case 0x74:
        return this.#literal('true', true);
      case 0x66:
        return this.#literal('false', false);
      case 0x6e:
        return this.#literal('null', null);
      default:
        if (c === 0x2d || (c >= 0x30 && c <= 0x39)) return this.#parseNumber();
        return this.#fail('syntax', this.#pos, `unexpected ${describeChar(c)}, expected a JSON value`);
    }
  }

  #literal<T>(word: string, value: T): T {
    if (!this.#text.startsWith(word, this.#pos))
      this.#fail('syntax', this.#pos, `unexpected ${describeChar(this.#text.charCodeAt(this.#pos))}, expected a JSON value`);
    this.#pos += word.length;
    return value;
  }

  #enter(depth: number): void {
    if (depth > this.#maxDepth) this.#fail('maxDepth', this.#pos, `nesting deeper than ${this.#maxDepth} levels`);
  }

  #parseObject(depth: number): Record<string, unknown> {
    this.#enter(depth);
    this.#pos += 1;
    const object: Record<string, unknown> = {};
    this.#skipWhitespace();
    if (this.#text.charCodeAt(this.#pos) === 0x7d) {
      this.#pos += 1;
      return object;
    }
    for (;;) {
      this.#skipWhitespace();
      const keyAt = this.#pos;
      if (this.#text.charCodeAt(keyAt) !== 0x22) this.#fail('syntax', keyAt, `unexpected ${describeChar(this.#text.charCodeAt(keyAt))}, expected a string key`);
      const key = this.#parseString();
      this.#path.push(key);
      if (this.#forbidden.has(key)) this.#fail('forbiddenKey', keyAt, `the key "${key}" is refused (prototype pollution)`);
      if (Object.hasOwn(object, key)) this.#fail('duplicateKey', keyAt, 'duplicate key (each key may appear once in an object)');
      this.#skipWhitespace();
      if (this.#text.charCodeAt(this.#pos) !== 0x3a)
        this.#fail('syntax', this.#pos, `unexpected ${describeChar(this.#text.charCodeAt(this.#pos))}, expected ":"`);
      this.#pos += 1;
      const value = this.#parseValue(depth);
      // An own "__proto__" property, never the prototype, even when a caller allows the key.
      if (key === '__proto__') Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true });
      else object[key] = value;
      this.#path.pop();
      this.#skipWhitespace();
      const next = this.#text.charCodeAt(this.#pos);
      this.#pos += 1;
      if (next === 0x2c) continue;
      if (next === 0x7d) return object;
      this.#path.push(key);
      this.#fail('syntax', this.#pos - 1, `unexpected ${describeChar(next)}, expected "," or "}"`);
    }
  }

  #parseArray(depth: number): unknown[] {
    this.#enter(depth);
    this.#pos += 1;
    const array: unknown[] = [];
    this.#skipWhitespace();
    if (this.#text.charCodeAt(this.#pos) === 0x5d) {
      this.#pos += 1;
      return array;
    }
    for (;;) {
      this.#path.push(array.length);
      array.push(this.#parseValue(depth));
      this.#skipWhitespace();
      const next = this.#text.charCodeAt(this.#pos);
      this.#pos += 1;
      if (next !== 0x2c && next !== 0x5d) this.#fail('syntax', this.#pos - 1, `unexpected ${describeChar(next)}, expected "," or "]"`);
      this.#path.pop();
      if (next === 0x5d) return array;
    }
  }

  #parseString(): string {
    const text = this.#text;
    const start = this.#pos;
    let i = start + 1;
    let chunkStart = i;
    let out = '';
    for (;;) {
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        out += text.slice(chunkStart, i);
        i += 1;
        break;
      }
      if (Number.isNaN(c)) this.#fail('syntax', start, 'unterminated string');
      if (c === 0x5c) {
        out += text.slice(chunkStart, i);
        i = this.#escape(i, (decoded) => {
          out += decoded;
        });
        chunkStart = i;
        continue;
      }
      if (c < 0x20) this.#fail('syntax', i, `control character ${describeChar(c)} in a string (escape it)`);
      if (isHighSurrogate(c) && isLowSurrogate(text.charCodeAt(i + 1))) {
        i += 2;
        continue;
      }
      if (isHighSurrogate(c) || isLowSurrogate(c)) this.#fail('loneSurrogate', i, `lone surrogate ${describeChar(c)} in a string`);
      i += 1;
    }
    if (out.length > this.#maxStringLength) {
      this.#fail('maxStringLength', start, `string of ${out.length} characters, longer than ${this.#maxStringLength}`);
    }
    this.#pos = i;
    return out;
  }

  /** The escape at `at` (a backslash): appends what it stands for, returns where the string goes on. */
  #escape(at: number, append: (decoded: string) => void): number {
    const text = this.#text;
    const kind = text.charCodeAt(at + 1);
    const simple = SIMPLE_ESCAPES[kind];
    if (simple !== undefined) {
      append(simple);
      return at + 2;
    }
    if (kind !== 0x75) this.#fail('syntax', at, `invalid escape "\\${String.fromCharCode(kind)}"`);
    const code = hex4(text, at + 2);
    if (code < 0) this.#fail('syntax', at, 'invalid \\u escape (four hexadecimal digits expected)');
    if (isLowSurrogate(code)) this.#fail('loneSurrogate', at, `lone surrogate \\u${code.toString(16)} (a low surrogate without a high one)`);
    if (!isHighSurrogate(code)) {
      append(String.fromCharCode(code));
      return at + 6;
    }
    const low = text.charCodeAt(at + 6) === 0x5c && text.charCodeAt(at + 7) === 0x75 ? hex4(text, at + 8) : -1;
    if (!isLowSurrogate(low)) this.#fail('loneSurrogate', at, `lone surrogate \\u${code.toString(16)} (a high surrogate not followed by a \\u low one)`);
    append(String.fromCharCode(code, low));
    return at + 12;
  }

  #parseNumber(): number {
    const text = this.#text;
    const start = this.#pos;
    let i = start;
    const digits = (): number => {
      const from = i;
      while (text.charCodeAt(i) >= 0x30 && text.charCodeAt(i) <= 0x39) i += 1;
      return i - from;
    };
    if (text.charCodeAt(i) === 0x2d) i += 1;
    const first = text.charCodeAt(i);
    if (first === 0x30) {
      i += 1;
      const after = text.charCodeAt(i);
      if (after >= 0x30 && after <= 0x39) this.#fail('number', start, 'number with a leading zero');
    } else if (first >= 0x31 && first <= 0x39) {
      digits();
    } else {
      this.#fail('number', start, 'number without digits after "-"');
    }
    let integer = true;
    if (text.charCodeAt(i) === 0x2e) {
      i += 1;
      integer = false;
      if (digits() === 0) this.#fail('number', start, 'number without digits after "."');
    }
    const e = text.charCodeAt(i);
    if (e === 0x65 || e === 0x45) {
      i += 1;
      integer = false;
      const sign = text.charCodeAt(i);
      if (sign === 0x2b || sign === 0x2d) i += 1;
      if (digits() === 0) this.#fail('number', start, 'number without digits in its exponent');
    }
    const value = Number(text.slice(start, i));
    if (!Number.isFinite(value)) this.#fail('number', start, 'number beyond the range of a double');
    // I-JSON (RFC 7493 §2.2): an integer a double cannot hold exactly would be read differently
    // by a reader with big integers; refused like a duplicate key, for the same reason.
    if (integer && !Number.isSafeInteger(value)) this.#fail('number', start, 'integer beyond ±(2^53−1), which would lose precision');
    this.#pos = i;
    return value;
  }
}

function checkOptions(options: StrictJsonOptions): void {
  if (!Number.isInteger(options.maxDepth) || options.maxDepth < 1 || options.maxDepth > MAX_DEPTH_CEILING) {
    throw new RangeError(`maxDepth must be a whole number from 1 to ${MAX_DEPTH_CEILING}, got ${options.maxDepth}`);
  }
  if (!Number.isInteger(options.maxStringLength) || options.maxStringLength < 0) {
    throw new RangeError(`maxStringLength must be a whole number, got ${options.maxStringLength}`);
  }
}

/**
 * Parses one JSON document (RFC 8259) and refuses, with a StrictJsonError, what JSON.parse lets
 * through or replaces: bytes that are not UTF-8 (decoded with a fatal decoder, a byte order mark
 * included), duplicate keys at any depth, lone surrogates (escaped, or raw in a string input),
 * forbidden keys, nesting and strings beyond the limits, integers a double cannot hold exactly,
 * numbers a double cannot hold at all, and anything after the value.
 */
export function parseStrictJson(input: Uint8Array | string, options: StrictJsonOptions): unknown {
  checkOptions(options);
  let text: string;
  if (typeof input === 'string') {
    text = input;
  } else {
    try {
      text = decoder.decode(input);
    } catch {
      const offset = Math.max(0, firstInvalidUtf8(input));
      const what = isEncodedSurrogate(input, offset) ? 'a UTF-16 surrogate encoded as UTF-8 (CESU-8), which is not UTF-8' : 'bytes that are not UTF-8';
      throw new StrictJsonError('utf8', what, '', offset);
    }
  }
  if (text.charCodeAt(0) === 0xfeff) throw new StrictJsonError('syntax', 'a byte order mark (send UTF-8 without one)', '', 0);
  return new Parser(text, options).parseDocument();
}
