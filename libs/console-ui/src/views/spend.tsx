import type { ConsoleApi } from '../api.ts';
import { usePoll } from '../hooks.ts';
import { BUDGET_LIMITS_SQL, budgetLimitOf, budgetStandings, budgetUsageSql, formatMicros, pivotDaily } from '../logic.ts';
import type { BudgetStanding } from '../logic.ts';
import type { QueryAnswer } from '../types.ts';
import { BudgetMeters, HorizontalBars, StackedBars } from './charts.tsx';
import { Failure } from './shared.tsx';

/** The questions the charts ask the ledger's ClickHouse views (docs/analytics.md), as the signed-in person. */
const QUERIES = {
  spend: 'SELECT toString(day) AS day, currency, sum(cost_micros) AS micros FROM daily_spend GROUP BY day, currency ORDER BY day',
  decisions: 'SELECT toString(day) AS day, decision, sum(decisions) AS n FROM daily_decisions GROUP BY day, decision ORDER BY day',
  denials: 'SELECT policy_id, sum(denials) AS denials FROM denials_by_policy GROUP BY policy_id ORDER BY denials DESC LIMIT 8',
  perSuccess:
    'SELECT tool, currency, sum(spent_micros) AS spent, sum(successes) AS successes FROM cost_per_success GROUP BY tool, currency HAVING successes > 0 ORDER BY tool',
} as const;

type Rows = Record<keyof typeof QUERIES, readonly Record<string, unknown>[]> & { readonly budgets: readonly BudgetStanding[] };

/** The current budgets (as the budget service announced them) and the spend of their open periods, joined. */
async function loadBudgets(api: ConsoleApi): Promise<BudgetStanding[]> {
  const limits = (await api.post<QueryAnswer>('/v1/console/query', { sql: BUDGET_LIMITS_SQL })).rows.map(budgetLimitOf);
  const timeZone = limits[0]?.time_zone;
  if (timeZone === undefined) return [];
  const sql = budgetUsageSql(
    timeZone,
    limits.flatMap((limit) => (limit.window_ms === null ? [] : [limit.window_ms])),
  );
  const usage = sql === null ? [] : (await api.post<QueryAnswer>('/v1/console/query', { sql })).rows;
  return budgetStandings(limits, usage);
}

export function SpendView({ api }: { api: ConsoleApi }) {
  const answers = usePoll(
    async (): Promise<Rows> => {
      const entries = await Promise.all(
        (Object.keys(QUERIES) as (keyof typeof QUERIES)[]).map(
          async (name) => [name, (await api.post<QueryAnswer>('/v1/console/query', { sql: QUERIES[name] })).rows] as const,
        ),
      );
      return { ...(Object.fromEntries(entries) as Omit<Rows, 'budgets'>), budgets: await loadBudgets(api) };
    },
    5000,
    [],
  );
  const rows = answers.data;
  const spend = pivotDaily(rows?.spend ?? [], 'day', 'currency', 'micros');
  const decisions = pivotDaily(rows?.decisions ?? [], 'day', 'decision', 'n');
  return (
    <>
      <Failure error={answers.error} />
      {rows === undefined && answers.error === undefined && <p class="hint">Asking the ledger…</p>}
      {rows !== undefined && (
        <div class="charts">
          <BudgetMeters standings={rows.budgets} />
          <StackedBars
            title="Spend per day"
            testId="spend-chart"
            {...spend}
            format={(micros) => formatMicros(micros, spend.series.length === 1 ? spend.series[0] : '')}
          />
          <StackedBars title="Decisions per day (allow, deny, approval required)" testId="decisions-chart" {...decisions} />
          <HorizontalBars
            title="Top denying policies (“” is the default deny)"
            testId="denials-chart"
            points={rows.denials.map((row) => ({ label: String(row['policy_id']) || '(default deny)', value: Number(row['denials']) }))}
          />
          <HorizontalBars
            title="Cost per successful outcome, by tool"
            testId="per-success-chart"
            points={rows.perSuccess.map((row) => ({
              label: `${String(row['tool'])} (${String(row['currency'])})`,
              value: Number(row['spent']) / Math.max(Number(row['successes']), 1),
            }))}
            format={(micros) => formatMicros(micros, '')}
          />
        </div>
      )}
    </>
  );
}
