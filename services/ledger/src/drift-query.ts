// The drift check's query: how each agent's live actions with each tool ended on one day and over
// the baseline days before it (the rollup daily_endings), scored (@writ/ledger-core drift.ts). Kept
// apart from the check's loop so that the analysts' dataset and the benchmark run exactly this.
import type { ClickHouseClient } from '@writ/clickhouse';
import type { TenantFilter } from '@writ/config';
import { driftCategoriesSql, driftKey, isDrift, scoreDrift } from '@writ/ledger-core';
import type { DriftCategoryCount, DriftRule, DriftScore } from '@writ/ledger-core';

/** The counts query: one day measured, its baseline the days before (query parameters day, baseline_days). */
export const DRIFT_COUNTS_SQL = driftCategoriesSql('{baseline_days:UInt16}', '{day:Date}');

interface CountRow {
  readonly tenant_id: string;
  readonly agent_id: string;
  readonly tool: string;
  readonly category: string;
  readonly actions: string | number;
  readonly baseline_actions: string | number;
}

/** The drifts of `day` (scored against the `rule.baselineDays` days before it) of the tenants served. */
export async function findDrifts(clickhouse: ClickHouseClient, day: string, rule: DriftRule, tenants: TenantFilter): Promise<DriftScore[]> {
  const result = await clickhouse.query({ query: DRIFT_COUNTS_SQL, query_params: { day, baseline_days: rule.baselineDays }, format: 'JSONEachRow' });
  const groups = new Map<string, { tenant_id: string; agent_id: string; tool: string; day: string; categories: DriftCategoryCount[] }>();
  for (const row of await result.json<CountRow>()) {
    if (!tenants.serves(row.tenant_id)) continue;
    const key = driftKey({ ...row, day });
    let group = groups.get(key);
    if (group === undefined) {
      group = { tenant_id: row.tenant_id, agent_id: row.agent_id, tool: row.tool, day, categories: [] };
      groups.set(key, group);
    }
    group.categories.push({ category: row.category, actions: Number(row.actions), baseline_actions: Number(row.baseline_actions) });
  }
  return [...groups.values()].map((counts) => scoreDrift(counts, rule.baselineDays)).filter((score) => isDrift(score, rule));
}
