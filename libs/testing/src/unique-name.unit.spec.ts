import { describe, expect, it } from 'vitest';
import { isWritError } from '@writ/errors';
import { uniqueName } from './unique-name.ts';

describe('uniqueName', () => {
  it('gives distinct names that are valid topics and unquoted ClickHouse identifiers', () => {
    const names = Array.from({ length: 1_000 }, () => uniqueName('events'));
    expect(new Set(names).size).toBe(names.length);
    for (const name of names) {
      expect(name).toMatch(/^events_[a-z0-9_]+$/);
      expect(name.length).toBeLessThan(100);
    }
  });

  it('refuses a prefix that would not work as a table name, naming the rule', () => {
    const failure = (() => {
      try {
        return uniqueName('writ.actions-test');
      } catch (error) {
        return error;
      }
    })();
    expect(isWritError(failure, 'INVALID_ARGUMENT')).toBe(true);
    expect(failure).toMatchObject({ field: 'prefix', rule: 'a letter, then up to 63 letters, digits or _' });
  });
});
