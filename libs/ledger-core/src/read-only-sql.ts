import { WritError } from '@writ/errors';

/** Drops -- and /* *\/ comments outside quotes, so they can neither hide nor fake a statement. */
function stripComments(sql: string): string {
  let out = '';
  let quote: string | undefined;
  for (let i = 0; i < sql.length; i++) {
    const c = sql[i] ?? '';
    if (quote !== undefined) {
      out += c;
      if (c === '\\') out += sql[++i] ?? '';
      else if (c === quote) quote = undefined;
      continue;
    }
    if (c === "'" || c === '"' || c === '`') {
      quote = c;
      out += c;
    } else if (c === '-' && sql[i + 1] === '-') {
      while (i < sql.length && sql[i] !== '\n') i++;
      out += ' ';
    } else if (c === '/' && sql[i + 1] === '*') {
      const end = sql.indexOf('*/', i + 2);
      i = end === -1 ? sql.length : end + 1;
      out += ' ';
    } else {
      out += c;
    }
  }
  if (quote !== undefined) {
    throw new WritError('QUERY_NOT_ALLOWED', 'the query has an unterminated quote', { field: 'sql', rule: 'one SELECT statement' });
  }
  return out;
}

/** Whether `;` appears outside quotes. */
function hasSemicolon(sql: string): boolean {
  let quote: string | undefined;
  for (let i = 0; i < sql.length; i++) {
    const c = sql[i];
    if (quote !== undefined) {
      if (c === '\\') i++;
      else if (c === quote) quote = undefined;
    } else if (c === "'" || c === '"' || c === '`') quote = c;
    else if (c === ';') return true;
  }
  return false;
}

/**
 * Accepts exactly one SELECT (or WITH ... SELECT) statement, without FORMAT, SETTINGS or INTO
 * OUTFILE, and returns it without comments or a trailing semicolon. Anything else is refused with
 * QUERY_NOT_ALLOWED naming the rule. The caller also runs it with readonly=1 where the engine allows.
 */
export function readOnlySql(sql: unknown): string {
  if (typeof sql !== 'string' || sql.trim() === '') {
    throw new WritError('QUERY_NOT_ALLOWED', 'sql must be a non-empty string', { field: 'sql', rule: 'a non-empty SELECT statement' });
  }
  const text = stripComments(sql).trim().replace(/;\s*$/, '').trim();
  if (hasSemicolon(text)) {
    throw new WritError('QUERY_NOT_ALLOWED', 'only one statement is allowed', { field: 'sql', rule: 'one SELECT statement, no ";" inside' });
  }
  if (!/^(select|with)\b/i.test(text)) {
    const verb = /^\w+/.exec(text)?.[0]?.toUpperCase() ?? text.slice(0, 10);
    throw new WritError('QUERY_NOT_ALLOWED', `only SELECT queries are allowed, got ${verb}`, { field: 'sql', rule: 'must start with SELECT or WITH' });
  }
  const unquoted = text.replace(/'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|`(?:[^`\\]|\\.)*`/g, "''");
  const forbidden = /\b(format|settings|into\s+outfile|insert|alter|drop|truncate|create|attach|detach|rename|optimize|system|kill|grant|revoke|delete|update)\b/i.exec(unquoted);
  if (forbidden !== null) {
    throw new WritError('QUERY_NOT_ALLOWED', `"${forbidden[0].toUpperCase()}" is not allowed in an analytics query`, {
      field: 'sql',
      rule: 'a plain SELECT: no FORMAT, SETTINGS, INTO OUTFILE or write keywords',
    });
  }
  return text;
}
