import { describe, expect, it } from 'vitest';
import { isWritError } from '@writ/errors';
import { fileFields } from './file-fields.ts';

const f = fileFields('test file');

function refusal(read: () => unknown): { message: string; field: string | undefined; rule: string | undefined } {
  try {
    read();
  } catch (error) {
    if (!isWritError(error, 'CONFIG_INVALID')) throw error;
    return { message: error.message, field: error.field, rule: error.rule };
  }
  throw new Error('not refused');
}

describe('fileFields', () => {
  it('reads good fields as they are', () => {
    expect(f.object({ a: 1 }, 'x', ['a'])).toEqual({ a: 1 });
    expect(f.string('abc', 'x', /^a/)).toBe('abc');
    expect(f.integer(5, 'x', 1, 9)).toBe(5);
    expect(f.oneOf('read', 'x', ['read', 'write'])).toBe('read');
    expect(f.credential({ env: 'API_KEY' }, 'x')).toEqual({ env: 'API_KEY' });
    expect(f.credential({ file: '/run/key' }, 'x')).toEqual({ file: '/run/key' });
    expect(f.credential(undefined, 'x')).toBeUndefined();
  });

  it('refuses a bad field naming the file, the field and the rule', () => {
    expect(refusal(() => f.object([], 'servers', []))).toEqual({ message: 'test file: servers must be an object', field: 'servers', rule: 'type' });
    expect(refusal(() => f.object({ b: 1 }, 'x', ['a']))).toMatchObject({ field: 'x.b', rule: 'additionalProperties' });
    expect(refusal(() => f.string(undefined, 'x.url'))).toMatchObject({ field: 'x.url', rule: 'required' });
    expect(refusal(() => f.string('zz', 'x', /^a/))).toMatchObject({ rule: 'pattern' });
    expect(refusal(() => f.integer(1.5, 'x', 0))).toMatchObject({ rule: 'type' });
    expect(refusal(() => f.integer(2 ** 53, 'x', 0))).toMatchObject({ rule: 'type' });
    expect(refusal(() => f.integer(0, 'x', 1, 9))).toMatchObject({ rule: 'minimum' });
    expect(refusal(() => f.integer(10, 'x', 1, 9))).toMatchObject({ rule: 'maximum' });
    expect(refusal(() => f.oneOf('delete', 'x', ['read']))).toMatchObject({ rule: 'enum' });
    expect(refusal(() => f.credential({ env: 'A', file: '/k' }, 'x.credential'))).toMatchObject({ field: 'x.credential', rule: 'oneOf' });
    expect(refusal(() => f.credential({ env: 'lower' }, 'x.credential'))).toMatchObject({ field: 'x.credential.env', rule: 'pattern' });
  });
});
