import { describe, expect, it } from 'vitest';
import { ANALYST_TABLES } from '@writ/ledger-core';
import { sqlStatements } from '@writ/clickhouse';
import { DEFAULT_SQL_DIR } from './clickhouse-schema.ts';

const statements = sqlStatements(DEFAULT_SQL_DIR);

/** The column list of `CREATE TABLE IF NOT EXISTS <table> (...)`, name by name (undefined: no such table). */
function columnsOf(table: string): string[] | undefined {
  const create = statements.find((s) => s.startsWith(`CREATE TABLE IF NOT EXISTS ${table} (`));
  if (create === undefined) return undefined;
  const body = create.slice(create.indexOf('(') + 1, create.lastIndexOf(') ENGINE'));
  return body.split(',\n').map((line) => line.trim().split(' ')[0] ?? '');
}

describe('the ClickHouse DDL (deploy/clickhouse)', () => {
  it('creates every analyst table with the tenant column the door and the row policies filter on', () => {
    for (const [table, column] of Object.entries(ANALYST_TABLES)) expect(columnsOf(table), table).toContain(column);
  });

  it('creates the policy-mode tables: shadow results, publications, the daily disagreement rollup fed from the shadow results', () => {
    expect(columnsOf('shadow_results')).toEqual([
      'event_id',
      'tenant_id',
      'run_id',
      'action_id',
      'agent_id',
      'policy_set_hash',
      'policy_id',
      'enforced_decision',
      'shadow_decision',
      'shadow_determining_policies',
      'disagrees',
      'decided_at',
    ]);
    expect(columnsOf('policy_publications')).toEqual([
      'event_id',
      'tenant_id',
      'stream',
      'sequence',
      'policy_set_hash',
      'previous_hash',
      'version',
      'origin',
      'author',
      'message',
      'policies',
      'policy_ids',
      'published_at',
    ]);
    expect(columnsOf('daily_shadow_disagreements')).toEqual(['tenant_id', 'policy_id', 'day', 'evaluations', 'disagreements']);
    expect(statements.find((s) => s.includes('TO daily_shadow_disagreements'))).toMatch(/FROM shadow_results\s+GROUP BY tenant_id, policy_id, day$/);
  });

  it('gives decisions their warnings, on a table created before them too (idempotently)', () => {
    expect(columnsOf('decisions')).toContain('warnings');
    const alter = statements.indexOf('ALTER TABLE decisions ADD COLUMN IF NOT EXISTS warnings Array(String) AFTER errors');
    expect(alter).toBeGreaterThan(statements.findIndex((s) => s.startsWith('CREATE TABLE IF NOT EXISTS decisions (')));
  });

  it("gives actions the proposal's provenance (model, prompt version, retrieved documents), on a table created before it too", () => {
    const provenance = [
      'model_name',
      'model_provider',
      'model_version',
      'prompt_version',
      'retrieved_document_ids',
      'retrieved_document_versions',
      'retrieved_document_sha256',
    ];
    expect(columnsOf('actions')).toEqual(expect.arrayContaining(provenance));
    const created = statements.findIndex((s) => s.startsWith('CREATE TABLE IF NOT EXISTS actions ('));
    for (const column of provenance) {
      const alter = statements.findIndex((s) => s.startsWith(`ALTER TABLE actions ADD COLUMN IF NOT EXISTS ${column} `));
      expect(alter, column).toBeGreaterThan(created);
    }
  });

  it('is idempotent: every statement is IF NOT EXISTS', () => {
    for (const statement of statements)
      expect(statement, statement).toMatch(/^(CREATE (TABLE|MATERIALIZED VIEW) IF NOT EXISTS|ALTER TABLE \w+ ADD COLUMN IF NOT EXISTS) /);
  });
});
