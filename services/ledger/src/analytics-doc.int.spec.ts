// docs/analytics.md runs: every ```sql block of the analyst's guide goes through the real analyst
// door (read-only session, tenant scope) on real chDB, as the tenant acme, against the dataset of
// analytics-dataset.fixture.spec.ts, and must answer the rows in the `<!-- check ... -->` comment that
// follows it. Then what the guide promises of the views: each reads its caller's tenant only, the
// ledger's own views (the DDL, read FINAL) say the same as the door's, and drift_scores computes the
// score the drift check computes.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClickHouse } from '@writ/clickhouse';
import type { ClickHouseClient } from '@writ/clickhouse';
import { ANALYST_VIEW_NAMES, scoreDrift } from '@writ/ledger-core';
import { AnalystDoor } from './analyst-door.ts';
import { DATASET_DAY, seedAnalyticsDataset } from './analytics-dataset.fixture.spec.ts';
import { applySchema } from './clickhouse-schema.ts';

const GUIDE = fileURLToPath(new URL('../../../docs/analytics.md', import.meta.url));
const TENANT = 'acme';
const OTHER = 'globex';

interface GuideQuery {
  /** The question's place in the guide: its line. */
  readonly line: number;
  readonly sql: string;
  readonly check: { readonly params?: Record<string, unknown>; readonly rows: unknown[] } | undefined;
}

/** The JSON value at the start of `text` (an object), by matching braces outside strings. */
function leadingJson(text: string): unknown {
  const start = text.indexOf('{');
  let depth = 0;
  let inString = false;
  for (let i = start; i < text.length; i += 1) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i += 1;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{') depth += 1;
    else if (c === '}' && --depth === 0) return JSON.parse(text.slice(start, i + 1));
  }
  throw new Error(`no complete JSON object in ${JSON.stringify(text.slice(0, 80))}`);
}

/** Every ```sql block of the guide, with the check comment right after it (blank lines allowed). */
function guideQueries(markdown: string): GuideQuery[] {
  const queries: GuideQuery[] = [];
  for (const match of markdown.matchAll(/```sql\n([\s\S]*?)```[ \t]*\n(?:[ \t]*\n)*(<!-- check([\s\S]*?)-->)?/g)) {
    const line = markdown.slice(0, match.index).split('\n').length;
    const check = match[3] === undefined ? undefined : (leadingJson(match[3]) as GuideQuery['check']);
    queries.push({ line, sql: (match[1] ?? '').trim(), check });
  }
  return queries;
}

const queries = guideQueries(readFileSync(GUIDE, 'utf8'));

const root = mkdtempSync(join(tmpdir(), 'writ-analytics-doc-'));
const dataPath = join(root, 'chdb');
let clickhouse: ClickHouseClient;
let door: AnalystDoor;

beforeAll(async () => {
  clickhouse = createClickHouse({ dataPath });
  await applySchema(clickhouse);
  await seedAnalyticsDataset(clickhouse);
  door = await AnalystDoor.open(clickhouse, { dataPath }, 'writ_analyst', {
    maxRows: 1_000,
    maxExecutionSeconds: 10,
    maxResultBytes: 64 * 1024 * 1024,
    maxMemoryBytes: 1024 * 1024 * 1024,
  });
}, 60_000);

afterAll(async () => {
  await door?.close();
  await clickhouse?.close();
  rmSync(root, { recursive: true, force: true });
});

async function rows(tenant: string, sql: string, params: Record<string, unknown> = {}): Promise<unknown[]> {
  return (await door.query(tenant, sql, params)).rows;
}

describe('docs/analytics.md', () => {
  it('gives every query its answer, for at least 15 questions', () => {
    const unchecked = queries.filter((q) => q.check === undefined || !Array.isArray(q.check.rows)).map((q) => `line ${q.line}`);
    expect(unchecked, 'sql blocks without a <!-- check {"rows": [...]} --> after them').toEqual([]);
    expect(queries.length).toBeGreaterThanOrEqual(15);
    expect(queries.filter((q) => (q.check?.rows.length ?? 0) > 0).length).toBeGreaterThanOrEqual(15);
  });

  it.each(queries.map((q) => [q.line, q] as const))('answers the query at line %i as the guide says', async (_, query) => {
    expect(await rows(TENANT, query.sql, query.check?.params)).toEqual(query.check?.rows);
  });
});

describe('the analytics views', () => {
  const scoped = ['endings', 'daily_endings', 'drift_alerts', ...ANALYST_VIEW_NAMES];

  it("hold both tenants' rows, and show each tenant's analyst its own only", async () => {
    for (const name of scoped) {
      const all = await clickhouse.query({ query: `SELECT DISTINCT tenant_id FROM ${name} ORDER BY tenant_id`, format: 'JSONEachRow' });
      expect(await all.json(), name).toEqual([{ tenant_id: TENANT }, { tenant_id: OTHER }]);
      expect(await rows(TENANT, `SELECT DISTINCT tenant_id FROM ${name}`), name).toEqual([{ tenant_id: TENANT }]);
      expect(await rows(OTHER, `SELECT DISTINCT tenant_id FROM ${name}`), name).toEqual([{ tenant_id: OTHER }]);
      // Naming the other tenant finds nothing, in a join of a view with a table too.
      expect(await rows(TENANT, `SELECT * FROM ${name} WHERE tenant_id = {t:String}`, { t: OTHER }), name).toEqual([]);
    }
    expect(
      await rows(TENANT, "SELECT count() AS n FROM agent_scorecards AS s JOIN actions AS a ON a.agent_id = s.agent_id WHERE a.agent_id = 'globex-bot'"),
    ).toEqual([{ n: '0' }]);
  });

  it("answer through the door as the ledger's own views (the DDL, read FINAL) do for that tenant", async () => {
    for (const view of ANALYST_VIEW_NAMES) {
      const own = await clickhouse.query({ query: `SELECT * FROM ${view} WHERE tenant_id = {t:String}`, query_params: { t: TENANT }, format: 'JSONEachRow' });
      const sorted = (list: unknown[]) => list.map((row) => JSON.stringify(row)).sort();
      const expected = sorted(await own.json());
      expect(expected.length, view).toBeGreaterThan(0);
      expect(sorted(await rows(TENANT, `SELECT * FROM ${view}`)), view).toEqual(expected);
    }
  });

  it('drift_scores computes the score of the drift check (scoreDrift) from the same counts', async () => {
    interface ScoreRow {
      tenant_id: string;
      agent_id: string;
      tool: string;
      day: string;
      score: number | null;
      volume_ratio: number | null;
      categories: string[];
      category_actions: string[];
      category_baseline_actions: string[];
    }
    let scored = 0;
    for (const tenant of [TENANT, OTHER]) {
      for (const row of (await rows(tenant, 'SELECT * FROM drift_scores')) as ScoreRow[]) {
        const expected = scoreDrift(
          {
            ...row,
            categories: row.categories.map((category, i) => ({
              category,
              actions: Number(row.category_actions[i]),
              baseline_actions: Number(row.category_baseline_actions[i]),
            })),
          },
          7,
        );
        expect(row.score === null ? null : row.score, `${row.agent_id} ${row.tool} ${row.day}`).toBe(
          expected.score === null ? null : Number(expected.score.toFixed(6)),
        );
        expect(row.volume_ratio, `${row.agent_id} ${row.tool} ${row.day}`).toBe(
          expected.volume_ratio === null ? null : Number(expected.volume_ratio.toFixed(4)),
        );
        if (row.score !== null && row.score > 0) scored += 1;
      }
    }
    // The dataset's drifts (acme's refunds, globex's reads on DATASET_DAY) are among them.
    expect(scored).toBeGreaterThanOrEqual(2);
    expect(DATASET_DAY).toBe('2026-11-22');
  });
});
