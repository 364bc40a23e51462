import { describe, expect, it } from 'vitest';
import { isWritError } from '@writ/errors';
import { argumentTypeOf, projectRecord } from './arguments.ts';
import type { ArgumentType } from './arguments.ts';
import type { SchemaJson } from './cedar.ts';

// The shape schemaToJsonWithResolvedTypes produces for a namespace with a common Arguments type.
const schema = {
  Writ: {
    commonTypes: {
      Arguments: {
        type: 'Record',
        attributes: {
          amount_cents: { type: 'Long', required: false },
          ticket_tags: { type: 'Set', element: { type: 'String' }, required: false },
          dry_run: { type: 'Boolean', required: false },
          address: { type: 'Writ::Address', required: false },
        },
      },
      Address: { type: 'Record', attributes: { country: { type: 'String' }, zip: { type: 'String', required: false } } },
    },
    entityTypes: {},
    actions: {},
  },
} as unknown as SchemaJson<string>;

const argumentsType = argumentTypeOf(schema, 'Writ', { type: 'Writ::Arguments' }, 'arguments') as Extract<ArgumentType, { kind: 'Record' }>;

function rejected(run: () => unknown) {
  try {
    run();
  } catch (error) {
    if (isWritError(error, 'POLICY_REQUEST_INVALID')) return { field: error.field, rule: error.rule };
    throw error;
  }
  throw new Error('expected POLICY_REQUEST_INVALID');
}

describe('argument projection', () => {
  it('resolves common types, nested records and optionality from the schema', () => {
    expect(argumentsType.kind).toBe('Record');
    expect(argumentsType.attributes['address']).toEqual({
      required: false,
      type: {
        kind: 'Record',
        attributes: { country: { type: { kind: 'String' }, required: true }, zip: { type: { kind: 'String' }, required: false } },
      },
    });
  });

  it('copies declared arguments, drops undeclared ones and treats null as absent', () => {
    const projected = projectRecord(
      { amount_cents: 2500, ticket_tags: ['a', 'b'], dry_run: false, note: 'free text', address: { country: 'DE', street: 'x' }, zip: null },
      argumentsType,
      'arguments',
    );
    expect(projected).toEqual({ amount_cents: 2500, ticket_tags: ['a', 'b'], dry_run: false, address: { country: 'DE' } });
    expect(projectRecord({ amount_cents: null }, argumentsType, 'arguments')).toEqual({});
  });

  it('refuses a declared argument of the wrong type, naming the path', () => {
    expect(rejected(() => projectRecord({ amount_cents: 1.5 }, argumentsType, 'arguments'))).toEqual({
      field: 'arguments.amount_cents',
      rule: 'must be a whole number (Cedar Long, a safe integer) to be visible to policies',
    });
    expect(rejected(() => projectRecord({ ticket_tags: ['ok', 7] }, argumentsType, 'arguments')).field).toBe('arguments.ticket_tags[1]');
    expect(rejected(() => projectRecord({ address: {} }, argumentsType, 'arguments'))).toEqual({ field: 'arguments.address.country', rule: 'is required' });
    expect(rejected(() => projectRecord({ dry_run: 'no' }, argumentsType, 'arguments')).rule).toBe('must be true or false to be visible to policies');
  });

  it('refuses argument types the PDP cannot fill from JSON', () => {
    expect(() => argumentTypeOf(schema, 'Writ', { type: 'Entity', name: 'Writ::User' } as never, 'arguments.owner')).toThrow(
      'arguments.owner has Entity type Writ::User, which the PDP cannot fill from JSON arguments',
    );
    expect(() => argumentTypeOf(schema, 'Writ', { type: 'Writ::Nope' }, 'arguments')).toThrow('arguments has unknown type Writ::Nope');
  });
});
