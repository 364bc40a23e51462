import { describe, expect, it } from 'vitest';
import { seededRandom } from '@writ/decider/testing';
import type { SeededRandom } from '@writ/decider/testing';
import { isWritError } from '@writ/errors';
import { StrictJsonError, firstInvalidUtf8, parseStrictJson } from './index.ts';
import type { StrictJsonOptions, StrictJsonRule } from './index.ts';

const LIMITS: StrictJsonOptions = { maxDepth: 64, maxStringLength: 10_000 };
const bytes = (...values: number[]): Uint8Array => Uint8Array.from(values);
const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);
/** ASCII text with raw bytes spliced in: `withBytes('["', [0xff], '"]')`. */
const withBytes = (...parts: (string | number[])[]): Uint8Array =>
  Uint8Array.from(parts.flatMap((part) => (typeof part === 'string' ? [...utf8(part)] : part)));

function refusal(input: Uint8Array | string, options: StrictJsonOptions = LIMITS): StrictJsonError {
  try {
    parseStrictJson(input, options);
  } catch (error) {
    if (error instanceof StrictJsonError) return error;
    throw error;
  }
  throw new Error(`accepted: ${typeof input === 'string' ? input : new TextDecoder().decode(input)}`);
}

describe('parseStrictJson accepts what RFC 8259 allows (y_ cases), as JSON.parse reads it', () => {
  const accepted: readonly [string, string][] = [
    ['y_array_empty', '[]'],
    ['y_object_empty', '{}'],
    ['y_array_with_whitespace', ' \t\r\n[ 1 , 2 ]\n '],
    ['y_structure_lonely_string', '"asd"'],
    ['y_structure_lonely_int', '42'],
    ['y_structure_lonely_true', 'true'],
    ['y_structure_lonely_false', 'false'],
    ['y_structure_lonely_null', 'null'],
    ['y_number_negative_zero', '-0'],
    ['y_number_real_exponent', '[1.5e3, 1E+2, 2e-2, -1.25E-3, 0.5, 0e0]'],
    ['y_number_huge_exp_is_a_double', '[1e308, 1.7976931348623157e308]'],
    ['y_number_underflow_to_zero', '[1e-400]'],
    ['y_number_max_safe_integers', '[9007199254740991, -9007199254740991]'],
    ['y_string_simple_escapes', '["\\"\\\\\\/\\b\\f\\n\\r\\t"]'],
    ['y_string_escaped_nul', '["\\u0000"]'],
    ['y_string_unicode_escape', '["\\u00e9\\u20AC"]'],
    ['y_string_escaped_surrogate_pair', '["\\ud83d\\ude00"]'],
    ['y_string_raw_utf8', '["é€😀"]'],
    ['y_string_line_separators', '["\u2028\u2029"]'],
    ['y_string_noncharacter', '["\uffff"]'],
    ['y_object_empty_key', '{"":0}'],
    ['y_object_nested', '{"a":{"b":[1,{"c":"d"}],"e":null}}'],
    ['y_object_builtin_names_are_data', '{"toString":1,"hasOwnProperty":2,"valueOf":3}'],
    ['y_object_same_key_in_siblings', '[{"a":1},{"a":2}]'],
    ['y_object_same_key_at_two_depths', '{"a":{"a":1}}'],
  ];
  it.each(accepted)('%s', (_, text) => {
    expect(parseStrictJson(utf8(text), LIMITS)).toStrictEqual(JSON.parse(text));
    expect(parseStrictJson(text, LIMITS)).toStrictEqual(JSON.parse(text));
  });

  it('keeps -0 and builds ordinary objects', () => {
    expect(Object.is(parseStrictJson('-0', LIMITS), -0)).toBe(true);
    const object = parseStrictJson('{"a":1}', LIMITS) as object;
    expect(Object.getPrototypeOf(object)).toBe(Object.prototype);
  });
});

describe('parseStrictJson refuses, naming the rule, the path and the byte offset (n_ cases)', () => {
  const refused: readonly [string, Uint8Array | string, StrictJsonRule, string, number][] = [
    ['n_structure_empty', '', 'syntax', '', 0],
    ['n_structure_only_whitespace', ' \n', 'syntax', '', 2],
    ['n_array_trailing_comma', '[1,]', 'syntax', '[1]', 3],
    ['n_array_leading_comma', '[,1]', 'syntax', '[0]', 1],
    ['n_array_missing_comma', '[1 2]', 'syntax', '[0]', 3],
    ['n_array_unclosed', '[1', 'syntax', '[0]', 2],
    ['n_object_trailing_comma', '{"a":1,}', 'syntax', '', 7],
    ['n_object_unquoted_key', '{a:1}', 'syntax', '', 1],
    ['n_object_single_quotes', "{'a':1}", 'syntax', '', 1],
    ['n_object_missing_colon', '{"a" 1}', 'syntax', 'a', 5],
    ['n_object_missing_comma', '{"a":1 "b":2}', 'syntax', 'a', 7],
    ['n_object_non_string_key', '{1:1}', 'syntax', '', 1],
    ['n_incomplete_true', '[tru]', 'syntax', '[0]', 1],
    ['n_capitalised_true', '[True]', 'syntax', '[0]', 1],
    ['n_comment', '[1]/* c */', 'trailingData', '', 3],
    ['n_structure_trailing_garbage', '{"a":1}x', 'trailingData', '', 7],
    ['n_structure_two_values', '[1][2]', 'trailingData', '', 3],
    ['n_structure_trailing_nul', '[1]\u0000', 'trailingData', '', 3],
    ['n_structure_nbsp_is_not_whitespace', '\u00a0[1]', 'syntax', '', 0],
    ['n_structure_byte_order_mark', withBytes([0xef, 0xbb, 0xbf], '[1]'), 'syntax', '', 0],
    ['n_number_leading_zero', '[01]', 'number', '[0]', 1],
    ['n_number_minus_alone', '[-]', 'number', '[0]', 1],
    ['n_number_minus_space', '[- 1]', 'number', '[0]', 1],
    ['n_number_dot_without_digits', '[1.]', 'number', '[0]', 1],
    ['n_number_starts_with_dot', '[.5]', 'syntax', '[0]', 1],
    ['n_number_empty_exponent', '[1e]', 'number', '[0]', 1],
    ['n_number_exponent_sign_only', '[1e+]', 'number', '[0]', 1],
    ['n_number_plus', '[+1]', 'syntax', '[0]', 1],
    ['n_number_hex', '[0x1]', 'syntax', '[0]', 2],
    ['n_number_NaN', '[NaN]', 'syntax', '[0]', 1],
    ['n_number_Infinity', '[Infinity]', 'syntax', '[0]', 1],
    ['n_number_overflows_a_double', '[1e400]', 'number', '[0]', 1],
    ['n_number_negative_overflow', '{"x":-1e400}', 'number', 'x', 5],
    ['n_number_unsafe_integer', '{"amount_cents":9007199254740993}', 'number', 'amount_cents', 16],
    ['n_number_unsafe_integer_just_above', '[9007199254740992]', 'number', '[0]', 1],
    ['n_string_unterminated', '["abc', 'syntax', '[0]', 1],
    ['n_string_raw_tab', '["a\tb"]', 'syntax', '[0]', 3],
    ['n_string_raw_newline', '["a\nb"]', 'syntax', '[0]', 3],
    ['n_string_raw_nul', '["\u0000"]', 'syntax', '[0]', 2],
    ['n_string_invalid_escape', '["\\x41"]', 'syntax', '[0]', 2],
    ['n_string_escaped_apostrophe', '["\\\'"]', 'syntax', '[0]', 2],
    ['n_string_short_unicode_escape', '["\\u12"]', 'syntax', '[0]', 2],
    ['n_string_unicode_escape_bad_hex', '["\\u00G0"]', 'syntax', '[0]', 2],
    ['n_string_single_quoted', "['a']", 'syntax', '[0]', 1],
    ['n_string_lone_high_surrogate_escape', '["\\ud800"]', 'loneSurrogate', '[0]', 2],
    ['n_string_lone_low_surrogate_escape', '["\\udc00"]', 'loneSurrogate', '[0]', 2],
    ['n_string_high_then_non_surrogate', '["\\ud800\\u0041"]', 'loneSurrogate', '[0]', 2],
    ['n_string_high_then_text', '["\\uD800abcdef"]', 'loneSurrogate', '[0]', 2],
    ['n_string_two_high_surrogates', '["\\ud800\\ud800"]', 'loneSurrogate', '[0]', 2],
    ['n_string_reversed_pair', '["\\ude00\\ud83d"]', 'loneSurrogate', '[0]', 2],
    ['n_key_lone_surrogate', '{"\\ud800":1}', 'loneSurrogate', '', 2],
    ['n_string_raw_lone_surrogate_in_text', '["\ud800"]', 'loneSurrogate', '[0]', 2],
    ['n_string_raw_lone_low_surrogate_in_text', '["a\udc00"]', 'loneSurrogate', '[0]', 3],
    ['n_utf8_invalid_byte', withBytes('["', [0xff], '"]'), 'utf8', '', 2],
    ['n_utf8_encoded_surrogate', withBytes('["', [0xed, 0xa0, 0x80], '"]'), 'utf8', '', 2],
    ['n_utf8_overlong_slash', withBytes('["', [0xc0, 0xaf], '"]'), 'utf8', '', 2],
    ['n_utf8_overlong_three_bytes', withBytes('["', [0xe0, 0x80, 0xaf], '"]'), 'utf8', '', 2],
    ['n_utf8_truncated_sequence', withBytes('["', [0xe2, 0x82], '"]'), 'utf8', '', 2],
    ['n_utf8_truncated_at_end', withBytes('["a"]', [0xe2]), 'utf8', '', 5],
    ['n_utf8_above_u10ffff', withBytes('["', [0xf4, 0x90, 0x80, 0x80], '"]'), 'utf8', '', 2],
    ['n_utf8_lead_f5', withBytes('["', [0xf5, 0x80, 0x80, 0x80], '"]'), 'utf8', '', 2],
    ['n_utf8_lone_continuation', withBytes('["é', [0x80], '"]'), 'utf8', '', 4],
    ['n_utf8_latin1_e_acute', withBytes('{"name":"Ren', [0xe9], '"}'), 'utf8', '', 12],
    ['n_object_duplicate_key', '{"a":1,"a":2}', 'duplicateKey', 'a', 7],
    ['n_object_duplicate_key_same_value', '{"a":1,"a":1}', 'duplicateKey', 'a', 7],
    ['n_object_duplicate_key_after_others', '{"a":1,"b":2,"a":3}', 'duplicateKey', 'a', 13],
    ['n_object_duplicate_key_by_escape', '{"a":1,"\\u0061":2}', 'duplicateKey', 'a', 7],
    [
      'n_object_duplicate_key_nested',
      '{"tool":"refunds.issue","arguments":{"amount_cents":500,"amount_cents":5}}',
      'duplicateKey',
      'arguments.amount_cents',
      56,
    ],
    ['n_object_duplicate_key_in_array', '[{"x":1},{"x":1,"x":2}]', 'duplicateKey', '[1].x', 16],
    ['n_object_duplicate_odd_key', '{"a b":1,"a b":2}', 'duplicateKey', '["a b"]', 9],
    ['n_object_duplicate_key_multibyte_offset', '{"é":1,"é":2}', 'duplicateKey', '["é"]', 8],
    ['n_object_proto_key', '{"__proto__":{"polluted":true}}', 'forbiddenKey', '__proto__', 1],
    ['n_object_constructor_key', '{"a":{"constructor":{"prototype":{"polluted":true}}}}', 'forbiddenKey', 'a.constructor', 6],
    ['n_object_prototype_key', '[{"prototype":1}]', 'forbiddenKey', '[0].prototype', 2],
    ['n_object_proto_key_escaped', '{"\\u005f_proto__":1}', 'forbiddenKey', '__proto__', 1],
  ];
  it.each(refused)('%s', (_, input, rule, path, offset) => {
    const error = refusal(input);
    expect({ rule: error.rule, path: error.path, offset: error.offset }).toStrictEqual({ rule, path, offset });
    // The same document as bytes is refused for the same reason at the same place (a raw lone
    // surrogate has no UTF-8 form: see the WTF-8 case below).
    if (typeof input !== 'string' || /[\ud800-\udfff]/.test(input)) return;
    const asBytes = refusal(utf8(input));
    expect({ rule: asBytes.rule, path: asBytes.path, offset: asBytes.offset }).toStrictEqual({ rule, path, offset });
  });

  it('refuses raw lone surrogates in bytes as ill-formed UTF-8 (WTF-8/CESU-8), at their offset', () => {
    const error = refusal(withBytes('{"k":"', [0xed, 0xb0, 0x80], '"}'));
    expect(error.rule).toBe('utf8');
    expect(error.offset).toBe(6);
    expect(error.message).toContain('surrogate');
  });

  it('is a WritError with a stable code, the path as field and the offset in details', () => {
    const error = refusal('{"arguments":{"amount_cents":500,"amount_cents":5}}');
    expect(isWritError(error, 'JSON_INVALID')).toBe(true);
    expect(error.field).toBe('arguments.amount_cents');
    expect(error.rule).toBe('duplicateKey');
    expect(error.details).toStrictEqual({ path: 'arguments.amount_cents', offset: 33 });
    expect(error.message).toBe('duplicate key (each key may appear once in an object) at arguments.amount_cents (byte 33)');
    expect(error.retriable).toBe(false);
  });

  it('never pollutes Object.prototype, even when the forbidden keys are allowed', () => {
    const parsed = parseStrictJson('{"__proto__":{"polluted":true}}', { ...LIMITS, forbiddenKeys: [] }) as Record<string, unknown>;
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    expect(Object.getPrototypeOf(parsed)).toBe(Object.prototype);
    expect(Object.keys(parsed)).toStrictEqual(['__proto__']);
  });

  it('shortens a long key in the path', () => {
    const key = 'k'.repeat(200);
    expect(refusal(`{"${key}":1,"${key}":2}`).path).toBe(`["${'k'.repeat(64)}…"]`);
  });
});

describe('parseStrictJson limits', () => {
  const small: StrictJsonOptions = { maxDepth: 3, maxStringLength: 5 };

  it('allows nesting up to maxDepth and refuses one level more, at the container that goes too deep', () => {
    expect(parseStrictJson('[[[1]]]', small)).toStrictEqual([[[1]]]);
    expect(parseStrictJson('{"a":{"b":{"c":1}}}', small)).toStrictEqual({ a: { b: { c: 1 } } });
    const array = refusal('[[[[1]]]]', small);
    expect([array.rule, array.path, array.offset]).toStrictEqual(['maxDepth', '[0][0][0]', 3]);
    const object = refusal('{"a":{"b":{"c":{}}}}', small);
    expect([object.rule, object.path, object.offset]).toStrictEqual(['maxDepth', 'a.b.c', 15]);
  });

  it('refuses a very deep document without exhausting the stack', () => {
    const deep = '['.repeat(200_000) + ']'.repeat(200_000);
    expect(refusal(deep, { maxDepth: 1_000, maxStringLength: 10 }).rule).toBe('maxDepth');
    expect(refusal('{"a":'.repeat(100_000), LIMITS).rule).toBe('maxDepth');
  });

  it('counts a string after unescaping, keys included', () => {
    expect(parseStrictJson('["abcde"]', small)).toStrictEqual(['abcde']);
    expect(parseStrictJson('["\\u0041\\u0042\\u0043\\u0044\\u0045"]', small)).toStrictEqual(['ABCDE']);
    const value = refusal('["abcdef"]', small);
    expect([value.rule, value.path, value.offset]).toStrictEqual(['maxStringLength', '[0]', 1]);
    const key = refusal('{"abcdef":1}', small);
    expect([key.rule, key.path, key.offset]).toStrictEqual(['maxStringLength', '', 1]);
  });

  it('refuses options it cannot honour', () => {
    expect(() => parseStrictJson('1', { maxDepth: 0, maxStringLength: 1 })).toThrow(RangeError);
    expect(() => parseStrictJson('1', { maxDepth: 1_001, maxStringLength: 1 })).toThrow(RangeError);
    expect(() => parseStrictJson('1', { maxDepth: 1, maxStringLength: -1 })).toThrow(RangeError);
  });
});

describe('firstInvalidUtf8', () => {
  it('finds the first ill-formed sequence, or -1', () => {
    expect(firstInvalidUtf8(utf8('aé€😀'))).toBe(-1);
    expect(firstInvalidUtf8(bytes(0x61, 0xc3))).toBe(1);
    expect(firstInvalidUtf8(bytes(0xc1, 0xbf))).toBe(0);
    expect(firstInvalidUtf8(bytes(0xed, 0x9f, 0xbf))).toBe(-1);
    expect(firstInvalidUtf8(bytes(0xed, 0xa0, 0x80))).toBe(0);
    expect(firstInvalidUtf8(bytes(0xf4, 0x8f, 0xbf, 0xbf))).toBe(-1);
    expect(firstInvalidUtf8(bytes(0xf0, 0x8f, 0xbf, 0xbf))).toBe(0);
    expect(firstInvalidUtf8(bytes(0xe2, 0x28, 0xa1))).toBe(0);
  });

  it('agrees with the fatal TextDecoder on random bytes', () => {
    const random = seededRandom(8259);
    const decoder = new TextDecoder('utf-8', { fatal: true });
    for (let n = 0; n < 5_000; n += 1) {
      const sample = Uint8Array.from({ length: random.between(1, 8) }, () => (random.chance(0.5) ? random.between(0x80, 0xff) : random.int(0x80)));
      let valid = true;
      try {
        decoder.decode(sample);
      } catch {
        valid = false;
      }
      expect(firstInvalidUtf8(sample) === -1, `seed 8259, sample ${n}: ${[...sample].join(',')}`).toBe(valid);
    }
  });
});

/** A random JSON value, its integers exact in a double. */
function randomValue(random: SeededRandom, depth: number): unknown {
  const kind = random.int(depth >= 6 ? 5 : 7);
  switch (kind) {
    case 0:
      return null;
    case 1:
      return random.chance(0.5);
    case 2: {
      if (random.chance(0.5)) return random.between(-1_000_000, 1_000_000);
      const double = (random.next() - 0.5) * 10 ** random.between(-30, 30);
      // JSON.stringify writes such a double as an integer literal beyond 2^53, refused on purpose.
      return Number.isInteger(double) && !Number.isSafeInteger(double) && Math.abs(double) < 1e21 ? double / 1e6 : double;
    }
    case 3:
    case 4:
      return randomString(random);
    case 5:
      return Array.from({ length: random.int(5) }, () => randomValue(random, depth + 1));
    default: {
      const object: Record<string, unknown> = {};
      for (let n = random.int(5); n > 0; n -= 1) object[randomString(random)] = randomValue(random, depth + 1);
      return object;
    }
  }
}

const ALPHABET = ['a', 'Z', '0', ' ', '"', '\\', '/', '\n', '\t', '\u0000', '\u001f', '\u007f', 'é', '€', '\u2028', '\ufeff', '\uffff', '😀', '𝄞'];

function randomString(random: SeededRandom): string {
  let out = '';
  for (let n = random.int(8); n > 0; n -= 1) out += random.pick(ALPHABET);
  return out;
}

describe('parseStrictJson agrees with JSON.parse on valid documents (seeded property test)', () => {
  it('reads 3,000 random documents, compact and indented, exactly as JSON.parse does', () => {
    const seed = 20_260_101;
    const random = seededRandom(seed);
    for (let n = 0; n < 3_000; n += 1) {
      const value = randomValue(random, 0);
      const text = JSON.stringify(value, null, random.chance(0.3) ? 2 : undefined);
      const expected: unknown = JSON.parse(text);
      expect(parseStrictJson(utf8(text), LIMITS), `seed ${seed}, document ${n}: ${text}`).toStrictEqual(expected);
      expect(parseStrictJson(text, LIMITS), `seed ${seed}, document ${n}: ${text}`).toStrictEqual(expected);
    }
  });

  it('refuses every strict prefix of a valid document (truncations)', () => {
    const random = seededRandom(7);
    for (let n = 0; n < 200; n += 1) {
      const text = JSON.stringify({ doc: randomValue(random, 0) });
      for (let cut = 0; cut < text.length; cut += 1) {
        expect(() => parseStrictJson(text.slice(0, cut), LIMITS), `seed 7, document ${n} cut at ${cut}`).toThrow(StrictJsonError);
      }
    }
  });

  it('never throws anything but a StrictJsonError on mutated documents, and accepts only what JSON.parse accepts', () => {
    const seed = 99;
    const random = seededRandom(seed);
    for (let n = 0; n < 3_000; n += 1) {
      const source = utf8(JSON.stringify(randomValue(random, 0)));
      const mutated = Uint8Array.from(source);
      for (let flips = random.between(1, 3); flips > 0 && mutated.length > 0; flips -= 1) mutated[random.int(mutated.length)] = random.int(256);
      let ours: unknown;
      let refused = false;
      try {
        ours = parseStrictJson(mutated, LIMITS);
      } catch (error) {
        expect(error, `seed ${seed}, document ${n}`).toBeInstanceOf(StrictJsonError);
        refused = true;
      }
      if (!refused) expect(ours, `seed ${seed}, document ${n}`).toStrictEqual(JSON.parse(new TextDecoder().decode(mutated)));
    }
  });
});
