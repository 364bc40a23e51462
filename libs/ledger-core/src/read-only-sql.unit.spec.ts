import { describe, expect, it } from 'vitest';
import { isWritError } from '@writ/errors';
import { readOnlySql } from './read-only-sql.ts';

function refusal(sql: unknown): string {
  try {
    readOnlySql(sql);
  } catch (error) {
    if (isWritError(error, 'QUERY_NOT_ALLOWED')) return error.message;
    throw error;
  }
  throw new Error(`accepted: ${String(sql)}`);
}

describe('readOnlySql', () => {
  it('accepts one SELECT or WITH statement, comments and a trailing semicolon dropped', () => {
    expect(readOnlySql('SELECT count() FROM events;')).toBe('SELECT count() FROM events');
    expect(readOnlySql('-- spend\nwith t AS (SELECT 1 AS x) select x from t')).toBe('with t AS (SELECT 1 AS x) select x from t');
    expect(readOnlySql("SELECT 'drop table; insert' AS s /* not a statement */")).toBe("SELECT 'drop table; insert' AS s");
  });

  it('refuses anything that is not a single plain SELECT, saying why', () => {
    expect(refusal('INSERT INTO events VALUES (1)')).toMatch(/only SELECT queries are allowed, got INSERT/);
    expect(refusal('DROP TABLE ledger')).toMatch(/got DROP/);
    expect(refusal('ALTER TABLE ledger UPDATE seq = 1 WHERE 1')).toMatch(/got ALTER/);
    expect(refusal('SELECT 1; DROP TABLE ledger')).toMatch(/only one statement/);
    expect(refusal('/* x */ DELETE FROM ledger WHERE 1')).toMatch(/got DELETE/);
    expect(refusal('SELECT 1 SETTINGS readonly = 0')).toMatch(/"SETTINGS" is not allowed/);
    expect(refusal("SELECT 1 INTO OUTFILE '/tmp/x'")).toMatch(/INTO OUTFILE/);
    expect(refusal('SELECT 1 FORMAT CSV')).toMatch(/FORMAT/);
    expect(refusal('')).toMatch(/non-empty/);
    expect(refusal(42)).toMatch(/non-empty/);
    expect(refusal("SELECT 'unterminated")).toMatch(/unterminated quote/);
  });
});
