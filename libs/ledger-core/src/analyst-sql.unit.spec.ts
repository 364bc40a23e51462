import { describe, expect, it } from 'vitest';
import { isWritError } from '@writ/errors';
import { analystUserDdl } from './analyst-ddl.ts';
import { ANALYST_TABLES, checkAnalystAst, isDeniedFunction, parseExplainAst, scopedAnalystSql } from './analyst-sql.ts';
import { ANALYST_VIEW_NAMES, analystViewStatements } from './analytics-sql.ts';

// EXPLAIN AST output as ClickHouse 26.7 (chDB) printed it for these queries, FORMAT CSV appended by the client.
const SELECT_SPEND = [
  'SelectWithUnionQuery (children 2)',
  ' ExpressionList (children 1)',
  '  SelectQuery (children 2)',
  '   ExpressionList (children 1)',
  '    Function sum (alias total) (children 1)',
  '     ExpressionList (children 1)',
  '      Identifier cost_micros',
  '   TablesInSelectQuery (children 1)',
  '    TablesInSelectQueryElement (children 1)',
  '     TableExpression (children 1)',
  '      TableIdentifier spend (alias s)',
  ' Identifier CSV',
];

function refusal(lines: readonly string[]): { rule?: string; message: string } {
  try {
    checkAnalystAst(parseExplainAst(lines), 'CSV');
  } catch (error) {
    if (isWritError(error, 'QUERY_NOT_ALLOWED')) return { message: error.message, ...(error.rule === undefined ? {} : { rule: error.rule }) };
    throw error;
  }
  throw new Error('not refused');
}

const swap = (from: string, to: string) => SELECT_SPEND.map((line) => (line === from ? to : line));

describe('parseExplainAst', () => {
  it('reads the tree, names and aliases', () => {
    const root = parseExplainAst(SELECT_SPEND);
    expect(root.type).toBe('SelectWithUnionQuery');
    expect(root.children.map((c) => c.type)).toEqual(['ExpressionList', 'Identifier']);
    expect(root.children[0]?.children[0]?.children[0]?.children[0]).toMatchObject({ type: 'Function', text: 'sum (alias total)' });
  });

  it('refuses a tree whose declared children do not match (a forged line from an alias or literal)', () => {
    expect(refusal([...SELECT_SPEND.slice(0, 7), '      Function file', ...SELECT_SPEND.slice(7)]).rule).toContain('a syntax tree the door can read');
    expect(refusal(['SelectWithUnionQuery (children 2)', ' ExpressionList (children 1)']).rule).toContain('a syntax tree the door can read');
  });
});

describe('checkAnalystAst', () => {
  it('accepts a SELECT over an analyst table', () => {
    expect(() => checkAnalystAst(parseExplainAst(SELECT_SPEND), 'CSV')).not.toThrow();
  });

  it('refuses table functions, database names, other tables, denied functions, IN <table>, SETTINGS, FORMAT and INTO OUTFILE', () => {
    const tableFunction = [
      ...SELECT_SPEND.slice(0, 10),
      '      Function file (children 1)',
      '       ExpressionList (children 1)',
      "        Literal '/keys/private/warrant-1.pem'",
      ' Identifier CSV',
    ];
    expect(refusal(tableFunction)).toMatchObject({ message: 'table function file() is not allowed', rule: expect.stringContaining('no table functions') });
    expect(refusal(swap('      TableIdentifier spend (alias s)', '      TableIdentifier system.tables')).rule).toContain('no database names');
    expect(refusal(swap('      TableIdentifier spend (alias s)', '      TableIdentifier projection_offsets')).rule).toContain('only the analyst tables');
    expect(refusal(swap('    Function sum (alias total) (children 1)', '    Function dictGetString (children 1)')).message).toBe(
      'function dictGetString() is not allowed',
    );
    expect(refusal(swap('    Function sum (alias total) (children 1)', '    Function file (children 1)')).rule).toContain('no functions that read files');
    const inTable = [
      ...SELECT_SPEND.slice(0, 2),
      '  SelectQuery (children 3)',
      ...SELECT_SPEND.slice(3, 11),
      '   Function in (children 1)',
      '    ExpressionList (children 2)',
      '     Identifier tenant_id',
      '     Identifier default.spend',
      ' Identifier CSV',
    ];
    expect(refusal(inTable).rule).toContain('IN takes a list or a subquery');
    expect(
      refusal([...SELECT_SPEND.slice(0, -1), ' Set', ' Identifier CSV'].map((l, i) => (i === 0 ? 'SelectWithUnionQuery (children 3)' : l))).rule,
    ).toContain('no SETTINGS');
    expect(
      refusal([...SELECT_SPEND.slice(0, -1), " Literal '/tmp/out'", ' Identifier CSV'].map((l, i) => (i === 0 ? 'SelectWithUnionQuery (children 3)' : l))).rule,
    ).toContain('INTO OUTFILE');
    expect(refusal(swap(' Identifier CSV', ' Identifier JSON')).message).toBe('FORMAT is not allowed');
    expect(refusal(['InsertQuery (children 1)', ' Identifier spend'])).toMatchObject({ message: 'only SELECT queries are allowed, got INSERT' });
    expect(refusal(['AlterQuery (children 1)', ' Identifier spend']).message).toBe('only SELECT queries are allowed, got ALTER');
  });

  it('refuses a construct it does not know rather than guessing', () => {
    expect(refusal(swap('      Identifier cost_micros', '      Dictionary x')).rule).toContain('only the constructs of a SELECT the door knows');
  });
});

describe('the denied functions', () => {
  it.each([
    'file',
    'FILE',
    'dictGet',
    'dictGetOrDefault',
    'dictHas',
    'joinGet',
    'joinGetOrNull',
    'getSetting',
    'getSettingOrDefault',
    'sleep',
    'sleepEachRow',
    'hostName',
    'filesystemAvailable',
    '__getScalar',
    'url',
  ])('%s is denied', (name) => expect(isDeniedFunction(name)).toBe(true));
  it.each(['sum', 'count', 'toDate', 'arrayJoin', 'URLHierarchy', 'formatDateTime', 'multiIf'])('%s is allowed', (name) =>
    expect(isDeniedFunction(name)).toBe(false),
  );
});

describe('scopedAnalystSql', () => {
  it('puts every analyst table behind a tenant filter on the real table, then the limit', () => {
    const sql = scopedAnalystSql('SELECT count() FROM spend', 'default', 101);
    expect(sql).toContain('`spend` AS (SELECT * FROM `default`.`spend` FINAL WHERE `tenant_id` = {writ_tenant:String})');
    expect(sql).toContain('`ledger` AS (SELECT * FROM `default`.`ledger` FINAL WHERE `chain_id` = {writ_tenant:String})');
    for (const table of ['shadow_results', 'policy_publications', 'daily_shadow_disagreements']) {
      expect(sql).toContain(`\`${table}\` AS (SELECT * FROM \`default\`.\`${table}\` FINAL WHERE \`tenant_id\` = {writ_tenant:String})`);
    }
    expect(sql).not.toContain('projection_offsets');
    expect(sql.endsWith('SELECT * FROM (\nSELECT count() FROM spend\n) LIMIT 101')).toBe(true);
  });

  it("defines the analytics views after the tables, over the door's scoped tables (never a real table, never FINAL)", () => {
    const sql = scopedAnalystSql('SELECT * FROM agent_scorecards', 'default', 10);
    const lastTable = sql.indexOf('`checkpoints` AS (');
    for (const view of ['agent_scorecards', 'cost_per_success', 'approval_latency', 'denials_by_policy', 'current_budget_limits', 'drift_scores']) {
      expect(sql.indexOf(`\`${view}\` AS (`), view).toBeGreaterThan(lastTable);
    }
    const views = sql.slice(sql.indexOf('`agent_scorecards` AS ('), sql.lastIndexOf('SELECT * FROM (\nSELECT * FROM agent_scorecards'));
    expect(views).not.toContain('`default`');
    expect(views).not.toContain('FINAL');
    expect(views).toContain("FROM actions WHERE run_mode = 'live'");
  });
});

describe('the analytics views in the DDL', () => {
  it('are CREATE OR REPLACE, SQL SECURITY INVOKER, over the real tables read FINAL', () => {
    const statements = analystViewStatements();
    expect(statements.map((s) => s.split('\n')[0])).toEqual([
      'CREATE OR REPLACE VIEW agent_scorecards SQL SECURITY INVOKER AS',
      'CREATE OR REPLACE VIEW cost_per_success SQL SECURITY INVOKER AS',
      'CREATE OR REPLACE VIEW approval_latency SQL SECURITY INVOKER AS',
      'CREATE OR REPLACE VIEW denials_by_policy SQL SECURITY INVOKER AS',
      'CREATE OR REPLACE VIEW current_budget_limits SQL SECURITY INVOKER AS',
      'CREATE OR REPLACE VIEW drift_scores SQL SECURITY INVOKER AS',
    ]);
    // The budgets of each tenant's latest announcement, over the real table read FINAL.
    expect(statements[4]).toContain('FROM budget_limits FINAL');
    expect(statements[0]).toContain("FROM actions FINAL WHERE run_mode = 'live'");
    expect(statements[0]).toContain("FROM decisions FINAL WHERE decision = 'approval_required'");
  });

  it('are named as the door allows them, beside the tables', () => {
    const select = (table: string) => SELECT_SPEND.map((line) => (line === '      TableIdentifier spend (alias s)' ? `      TableIdentifier ${table}` : line));
    for (const view of ['agent_scorecards', 'drift_scores', 'endings', 'daily_endings', 'drift_alerts'])
      expect(() => checkAnalystAst(parseExplainAst(select(view)), 'CSV'), view).not.toThrow();
    expect(refusal(select('daily_endings_mv')).rule).toContain('only the analyst tables');
  });
});

describe('analystUserDdl (server mode)', () => {
  const statements = analystUserDdl({ database: 'writ', tenant: 'acme', ledgerUser: 'writ_ledger', passwordSha256: 'ab'.repeat(32) });

  it('creates a readonly profile, the user, grants on the analyst tables only and a row policy per table', () => {
    expect(statements[0]).toBe(
      "CREATE SETTINGS PROFILE IF NOT EXISTS `writ_analyst_acme_profile` SETTINGS readonly = 1 CONST, max_execution_time = 30 CONST, max_result_rows = 10000 CONST, max_result_bytes = 67108864 CONST, result_overflow_mode = 'break' CONST, max_memory_usage = 1073741824 CONST",
    );
    expect(statements[1]).toBe(
      `CREATE USER IF NOT EXISTS \`writ_analyst_acme\` IDENTIFIED WITH sha256_hash BY '${'ab'.repeat(32)}' DEFAULT DATABASE \`writ\` SETTINGS PROFILE 'writ_analyst_acme_profile'`,
    );
    expect(statements).toContain('GRANT SELECT ON `writ`.`spend` TO `writ_analyst_acme`');
    expect(statements).toContain(
      "CREATE ROW POLICY IF NOT EXISTS `writ_tenant_acme_spend` ON `writ`.`spend` USING `tenant_id` = 'acme' TO `writ_analyst_acme`",
    );
    expect(statements).toContain(
      "CREATE ROW POLICY IF NOT EXISTS `writ_tenant_acme_ledger` ON `writ`.`ledger` USING `chain_id` = 'acme' TO `writ_analyst_acme`",
    );
    expect(statements).toContain('CREATE ROW POLICY IF NOT EXISTS `writ_ledger_all_spend` ON `writ`.`spend` USING 1 TO `writ_ledger`');
    expect(statements.join('\n')).not.toContain('projection_offsets');
    // One grant per analyst table and per view, nothing else (the announced budgets among them).
    expect(statements.filter((s) => s.startsWith('GRANT'))).toHaveLength(Object.keys(ANALYST_TABLES).length + ANALYST_VIEW_NAMES.length);
    expect(statements).toContain('GRANT SELECT ON `writ`.`budget_limits` TO `writ_analyst_acme`');
    // The policy-mode tables are the tenant's like the others: granted, and behind the tenant's row policy.
    for (const table of ['shadow_results', 'policy_publications', 'daily_shadow_disagreements']) {
      expect(statements).toContain(`GRANT SELECT ON \`writ\`.\`${table}\` TO \`writ_analyst_acme\``);
      expect(statements).toContain(
        `CREATE ROW POLICY IF NOT EXISTS \`writ_tenant_acme_${table}\` ON \`writ\`.\`${table}\` USING \`tenant_id\` = 'acme' TO \`writ_analyst_acme\``,
      );
      expect(statements).toContain(`CREATE ROW POLICY IF NOT EXISTS \`writ_ledger_all_${table}\` ON \`writ\`.\`${table}\` USING 1 TO \`writ_ledger\``);
    }
  });

  it('grants the analytics views too, with the endings and drift tables behind the row policy (the views read the tables as the analyst)', () => {
    for (const table of ['endings', 'daily_endings', 'drift_alerts']) {
      expect(statements).toContain(
        `CREATE ROW POLICY IF NOT EXISTS \`writ_tenant_acme_${table}\` ON \`writ\`.\`${table}\` USING \`tenant_id\` = 'acme' TO \`writ_analyst_acme\``,
      );
    }
    for (const view of ['agent_scorecards', 'cost_per_success', 'approval_latency', 'denials_by_policy', 'current_budget_limits', 'drift_scores']) {
      expect(statements).toContain(`GRANT SELECT ON \`writ\`.\`${view}\` TO \`writ_analyst_acme\``);
      expect(statements.join('\n')).not.toContain(`ON \`writ\`.\`${view}\` USING`);
    }
  });

  it('refuses a tenant that could break out of the quotes, and a password instead of its hash', () => {
    expect(() => analystUserDdl({ database: 'writ', tenant: "acme' OR 1=1 --", ledgerUser: 'writ_ledger', passwordSha256: 'ab'.repeat(32) })).toThrow(/tenant/);
    expect(() => analystUserDdl({ database: 'writ', tenant: 'acme', ledgerUser: 'writ_ledger', passwordSha256: 'hunter2' })).toThrow(/passwordSha256/);
  });
});
