import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The statements of every *.sql file of `dir`, in file order: `--` comments dropped, split at a `;`
 * ending a line. How the ledger reads deploy/clickhouse at boot, and `writ clickhouse-cluster-ddl` too.
 */
export function sqlStatements(dir: string): string[] {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.sql'))
    .sort();
  return files.flatMap((file) =>
    readFileSync(join(dir, file), 'utf8')
      .split('\n')
      .filter((line) => !line.trimStart().startsWith('--'))
      .join('\n')
      .split(/;\s*$/m)
      .map((statement) => statement.trim())
      .filter((statement) => statement !== ''),
  );
}
