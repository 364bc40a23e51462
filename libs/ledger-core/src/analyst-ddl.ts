// Server mode (CLICKHOUSE_URL): the engine's own tenant scope for analysts who query ClickHouse
// directly: one read-only user per tenant, limited by a settings profile, that sees only its
// tenant's rows of the analyst tables through row policies.
import { WritError } from '@writ/errors';
import { ANALYST_TABLES, quoteName } from './analyst-sql.ts';
import { ANALYST_VIEW_NAMES } from './analytics-sql.ts';

export interface AnalystDdlOptions {
  /** The database that holds the ledger's tables (CLICKHOUSE_DATABASE). */
  readonly database: string;
  /** The tenant the user reads. */
  readonly tenant: string;
  /** The ClickHouse user the ledger writes with: a row policy on a table hides every row from users it does not name. */
  readonly ledgerUser: string;
  /** Lower-case hex sha256 of the analyst user's password (never the password itself). */
  readonly passwordSha256: string;
  /** Default: writ_analyst_<tenant>. */
  readonly user?: string;
  readonly maxExecutionSeconds?: number;
  readonly maxResultRows?: number;
  readonly maxResultBytes?: number;
  readonly maxMemoryBytes?: number;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

function literal(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

function positive(value: number | undefined, fallback: number, field: string): number {
  const n = value ?? fallback;
  if (!Number.isSafeInteger(n) || n <= 0) throw new WritError('REQUEST_INVALID', `${field} must be a positive integer`, { field, rule: 'a positive integer' });
  return n;
}

/**
 * The statements that create (idempotently) a tenant's analyst user on a ClickHouse server:
 * a settings profile with readonly=1 and the door's limits, the user, SELECT on the analyst
 * tables only, and per table a row policy `USING <tenant column> = '<tenant>'` for the analyst
 * plus one `USING 1` for the ledger's own user (which would otherwise see nothing); then SELECT on
 * the analytics views, which are SQL SECURITY INVOKER: they read the tables as the analyst, through
 * the analyst's row policies.
 */
export function analystUserDdl(options: AnalystDdlOptions): string[] {
  for (const [field, value] of [
    ['tenant', options.tenant],
    ['database', options.database],
    ['ledgerUser', options.ledgerUser],
  ] as const) {
    if (!NAME.test(value))
      throw new WritError('REQUEST_INVALID', `${field} ${JSON.stringify(value)} is not a valid name`, { field, rule: 'letters, digits, . _ : - (1-128)' });
  }
  if (!/^[0-9a-f]{64}$/.test(options.passwordSha256)) {
    throw new WritError('REQUEST_INVALID', 'passwordSha256 must be the hex sha256 of the password', {
      field: 'passwordSha256',
      rule: '64 lower-case hex digits',
    });
  }
  const user = options.user ?? `writ_analyst_${options.tenant}`;
  if (!NAME.test(user))
    throw new WritError('REQUEST_INVALID', `user ${JSON.stringify(user)} is not a valid name`, { field: 'user', rule: 'letters, digits, . _ : - (1-128)' });
  const profile = quoteName(`${user}_profile`);
  const settings = [
    'readonly = 1',
    `max_execution_time = ${positive(options.maxExecutionSeconds, 30, 'maxExecutionSeconds')}`,
    `max_result_rows = ${positive(options.maxResultRows, 10_000, 'maxResultRows')}`,
    `max_result_bytes = ${positive(options.maxResultBytes, 64 * 1024 * 1024, 'maxResultBytes')}`,
    "result_overflow_mode = 'break'",
    `max_memory_usage = ${positive(options.maxMemoryBytes, 1024 * 1024 * 1024, 'maxMemoryBytes')}`,
  ];
  const db = quoteName(options.database);
  const statements = [
    `CREATE SETTINGS PROFILE IF NOT EXISTS ${profile} SETTINGS ${settings.map((s) => `${s} CONST`).join(', ')}`,
    `CREATE USER IF NOT EXISTS ${quoteName(user)} IDENTIFIED WITH sha256_hash BY ${literal(options.passwordSha256)} DEFAULT DATABASE ${db} SETTINGS PROFILE ${literal(`${user}_profile`)}`,
  ];
  for (const [table, column] of Object.entries(ANALYST_TABLES)) {
    const target = `${db}.${quoteName(table)}`;
    statements.push(`GRANT SELECT ON ${target} TO ${quoteName(user)}`);
    statements.push(`CREATE ROW POLICY IF NOT EXISTS ${quoteName(`writ_ledger_all_${table}`)} ON ${target} USING 1 TO ${quoteName(options.ledgerUser)}`);
    statements.push(
      `CREATE ROW POLICY IF NOT EXISTS ${quoteName(`writ_tenant_${options.tenant}_${table}`)} ON ${target} USING ${quoteName(column)} = ${literal(options.tenant)} TO ${quoteName(user)}`,
    );
  }
  for (const view of ANALYST_VIEW_NAMES) statements.push(`GRANT SELECT ON ${db}.${quoteName(view)} TO ${quoteName(user)}`);
  return statements;
}
