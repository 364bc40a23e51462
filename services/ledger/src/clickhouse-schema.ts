import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ClickHouseClient } from '@writ/clickhouse';
import { analystViewStatements } from '@writ/ledger-core';

/** deploy/clickhouse of this repository (the same from src/ and dist/). */
export const DEFAULT_SQL_DIR = fileURLToPath(new URL('../../../deploy/clickhouse/', import.meta.url));

/** The statements of every *.sql file of `dir`, in file order; `--` comments dropped, split at `;` ending a line. */
export function schemaStatements(dir: string): string[] {
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

/**
 * Applies the DDL, then the analytics views (CREATE OR REPLACE: a changed definition comes in);
 * every statement is idempotent, so this runs at every boot.
 */
export async function applySchema(clickhouse: ClickHouseClient, dir: string = DEFAULT_SQL_DIR): Promise<number> {
  const statements = [...schemaStatements(dir), ...analystViewStatements()];
  for (const query of statements) await clickhouse.command({ query });
  return statements.length;
}
