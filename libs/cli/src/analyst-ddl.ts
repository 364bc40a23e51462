// `writ analyst-ddl`: the SQL that creates a tenant's read-only analyst user on a ClickHouse server.
import { describeError } from '@writ/errors';
import { analystUserDdl } from '@writ/ledger-core';
import { parseFlags } from './ledger-source.ts';
import type { CliIo } from './verify.ts';

export const ANALYST_DDL_USAGE = `usage: writ analyst-ddl --tenant <id> --password-sha256 <hex> [--database <name>] [--ledger-user <name>] [--user <name>]
  Prints the statements (run them as a ClickHouse admin) that create a read-only analyst user for one
  tenant: a settings profile (readonly = 1 and limits, CONST), SELECT on the analyst tables only, and a
  row policy per table (tenant_id / chain_id = the tenant) plus one USING 1 for the ledger's own user.
  Defaults: --database writ, --ledger-user writ_ledger, --user writ_analyst_<tenant>.`;

export function runAnalystDdl(args: readonly string[], io: CliIo = { out: (l) => console.log(l), err: (l) => console.error(l) }): number {
  let flags: Map<string, string>;
  try {
    flags = parseFlags(args, ['tenant', 'password-sha256', 'database', 'ledger-user', 'user']);
    if (flags.get('tenant') === undefined) throw new Error('--tenant is required');
    if (flags.get('password-sha256') === undefined) throw new Error('--password-sha256 is required (sha256 hex of the password, never the password)');
  } catch (error) {
    io.err(describeError(error));
    io.err(ANALYST_DDL_USAGE);
    return 2;
  }
  try {
    const user = flags.get('user');
    const statements = analystUserDdl({
      tenant: flags.get('tenant') ?? '',
      passwordSha256: flags.get('password-sha256') ?? '',
      database: flags.get('database') ?? 'writ',
      ledgerUser: flags.get('ledger-user') ?? 'writ_ledger',
      ...(user === undefined ? {} : { user }),
    });
    for (const statement of statements) io.out(`${statement};`);
    return 0;
  } catch (error) {
    io.err(`[analyst-ddl] ${describeError(error)}`);
    return 2;
  }
}
