import { fileURLToPath } from 'node:url';
import { sqlStatements } from '@writ/clickhouse';
import type { ClickHouseClient } from '@writ/clickhouse';
import { analystViewStatements } from '@writ/ledger-core';

/** deploy/clickhouse of this repository (the same from src/ and dist/). */
export const DEFAULT_SQL_DIR = fileURLToPath(new URL('../../../deploy/clickhouse/', import.meta.url));

/**
 * Applies the DDL, then the analytics views (CREATE OR REPLACE: a changed definition comes in);
 * every statement is idempotent, so this runs at every boot.
 */
export async function applySchema(clickhouse: ClickHouseClient, dir: string = DEFAULT_SQL_DIR): Promise<number> {
  const statements = [...sqlStatements(dir), ...analystViewStatements()];
  for (const query of statements) await clickhouse.command({ query });
  return statements.length;
}
