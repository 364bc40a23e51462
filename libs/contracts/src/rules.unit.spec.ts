import { describe, expect, it } from 'vitest';
import { RULES, compileValidator } from './rules.ts';
import type { AvroSchemaJson } from './schema-json.ts';

const schema: AvroSchemaJson = {
  type: 'record',
  name: 'Outer',
  namespace: 'writ.test',
  fields: [
    { name: 'id', type: 'string', 'writ.rule': 'uuid' },
    { name: 'note', type: ['null', 'string'], default: null, 'writ.rule': 'non-empty' },
    { name: 'tags', type: { type: 'array', items: 'string' }, 'writ.rule': 'non-empty' },
    {
      name: 'inner',
      type: ['null', { type: 'record', name: 'Inner', fields: [{ name: 'amount', type: 'long', 'writ.rule': 'non-negative' }] }],
      default: null,
    },
    { name: 'items', type: { type: 'array', items: 'Inner' } },
  ],
};

const valid = {
  id: '0190b4a4-7c2a-7def-8abc-0123456789ab',
  note: null,
  tags: ['a'],
  inner: { amount: 0 },
  items: [{ amount: 1 }],
};

describe('compileValidator', () => {
  const validate = compileValidator(schema);

  it('accepts a valid value and skips null optionals', () => {
    expect(validate(valid)).toBeUndefined();
    expect(validate({ ...valid, inner: null })).toBeUndefined();
  });

  it.each([
    [{ ...valid, id: 'x' }, 'id', RULES.uuid.describe],
    [{ ...valid, note: '' }, 'note', RULES['non-empty'].describe],
    [{ ...valid, tags: ['a', ' '] }, 'tags[1]', RULES['non-empty'].describe],
    [{ ...valid, inner: { amount: -1 } }, 'inner.amount', RULES['non-negative'].describe],
    [{ ...valid, items: [{ amount: 1 }, { amount: -2 }] }, 'items[1].amount', RULES['non-negative'].describe],
  ])('names the path of a broken rule: %j', (value, field, rule) => {
    expect(validate(value)).toEqual({ field, rule });
  });

  it('refuses a schema with an unknown rule', () => {
    expect(() => compileValidator({ type: 'record', name: 'R', fields: [{ name: 'a', type: 'string', 'writ.rule': 'nonempty' }] })).toThrow(
      /unknown writ.rule "nonempty"/,
    );
  });
});

describe('RULES', () => {
  it.each([
    ['uuid', '0190B4A4-7C2A-7DEF-8ABC-0123456789AB', 'not-a-uuid'],
    ['sha256-hex', 'a'.repeat(64), 'A'.repeat(64)],
    ['currency', 'EUR', 'eur'],
    ['service-at-version', 'budget@1.4.0-rc.1', 'budget'],
    ['traceparent', '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', '00-4bf92f35-00f067aa0ba902b7-01'],
    ['base64', 'YWJjZA==', 'YWJjZA='],
    ['non-negative', 0, -1],
    ['non-empty', 'x', ''],
  ] as const)('%s accepts %j and refuses %j', (name, good, bad) => {
    expect(RULES[name].test(good)).toBe(true);
    expect(RULES[name].test(bad)).toBe(false);
  });
});
