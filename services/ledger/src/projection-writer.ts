// Writes one batch of projected rows into ClickHouse: one insert per table, the chain rows last.
// Rows that feed a rollup view (decisions, shadow results, settlements, endings) go in once: those
// a previous attempt of the batch already inserted are skipped, so the rollups count each once.
import type { ClickHouseClient } from '@writ/clickhouse';
import type { DriftAlertRow, ProjectionRows } from '@writ/ledger-core';

/** The rows of `values` whose `key` column value is not in `table` yet. */
async function fresh<R extends object>(clickhouse: ClickHouseClient, table: string, key: keyof R & string, values: readonly R[]): Promise<R[]> {
  if (values.length === 0) return [];
  const result = await clickhouse.query({
    query: `SELECT ${key} AS id FROM ${table} WHERE ${key} IN {ids:Array(String)}`,
    query_params: { ids: values.map((v) => String(v[key])) },
    format: 'JSONEachRow',
  });
  const present = new Set((await result.json<{ id: string }>()).map((r) => r.id));
  return values.filter((v) => !present.has(String(v[key])));
}

/** The first row of each action (a batch may make an action's ending twice). */
function onePerAction<R extends { action_id: string }>(values: readonly R[]): R[] {
  const seen = new Set<string>();
  return values.filter((v) => !seen.has(v.action_id) && seen.add(v.action_id));
}

async function insert(clickhouse: ClickHouseClient, table: string, values: readonly object[]): Promise<void> {
  if (values.length > 0) await clickhouse.insert({ table, values: [...values], format: 'JSONEachRow' });
}

/** Inserts a batch; one statement at a time (the embedded engine runs them in-process anyway). */
export async function writeProjection(clickhouse: ClickHouseClient, rows: ProjectionRows): Promise<void> {
  await insert(clickhouse, 'events', rows.events);
  await insert(clickhouse, 'actions', rows.actions);
  await insert(clickhouse, 'approvals', rows.approvals);
  await insert(clickhouse, 'checkpoints', rows.checkpoints);
  await insert(clickhouse, 'policy_publications', rows.policy_publications);
  await insert(clickhouse, 'decisions', await fresh(clickhouse, 'decisions', 'event_id', rows.decisions));
  await insert(clickhouse, 'shadow_results', await fresh(clickhouse, 'shadow_results', 'event_id', rows.shadow_results));
  await insert(clickhouse, 'spend', await fresh(clickhouse, 'spend', 'event_id', rows.spend));
  await insert(clickhouse, 'budget_limits', rows.budget_limits);
  await insert(clickhouse, 'model_usage', await fresh(clickhouse, 'model_usage', 'event_id', rows.model_usage));
  // An action ends once; its ending may be made again (a late proposal, the batch projected again).
  // Action ids are unique across tenants (a hash of tenant, run and idempotency key).
  await insert(clickhouse, 'endings', await fresh(clickhouse, 'endings', 'action_id', onePerAction(rows.endings)));
  // Last: the chain rows say "projected" to readers of the ledger table.
  await insert(clickhouse, 'ledger', rows.ledger);
}

/** The drift alerts of a batch (DriftDetected on the chain topic); one row per tenant, agent, tool and day by the table's key. */
export async function writeDriftAlerts(clickhouse: ClickHouseClient, rows: readonly DriftAlertRow[]): Promise<void> {
  await insert(clickhouse, 'drift_alerts', rows);
}
