// The analyst query door's rules, over ClickHouse's own parse of the query (EXPLAIN AST), never
// over its text: which statements, tables and functions an analyst may use, and the wrapper that
// makes every allowed table name resolve to that table filtered to the caller's tenant.
import { WritError } from '@writ/errors';
import { ANALYST_VIEWS, ANALYST_VIEW_NAMES, SCOPED_TABLES } from './analytics-sql.ts';

/** The tables an analyst may read, each with the column that holds its tenant (the chain of a tenant is its id). */
export const ANALYST_TABLES: Readonly<Record<string, string>> = Object.freeze({
  events: 'tenant_id',
  actions: 'tenant_id',
  decisions: 'tenant_id',
  shadow_results: 'tenant_id',
  policy_publications: 'tenant_id',
  approvals: 'tenant_id',
  spend: 'tenant_id',
  daily_spend: 'tenant_id',
  daily_decisions: 'tenant_id',
  daily_shadow_disagreements: 'tenant_id',
  endings: 'tenant_id',
  daily_endings: 'tenant_id',
  drift_alerts: 'tenant_id',
  budget_limits: 'tenant_id',
  model_usage: 'tenant_id',
  ledger: 'chain_id',
  checkpoints: 'chain_id',
});

/** The query parameter that carries the caller's tenant into the wrapper; `writ_*` names are reserved. */
export const TENANT_PARAMETER = 'writ_tenant';
export const RESERVED_PARAMETER_PREFIX = 'writ_';

/** One node of EXPLAIN AST: its type (e.g. Function), the rest of its line (name, alias) and its children. */
export interface AstNode {
  readonly type: string;
  readonly text: string;
  readonly children: readonly AstNode[];
}

/** A refusal names the rule it broke (the `rule` of the error) and where (`field`: sql). */
function refuse(message: string, rule: string): WritError {
  return new WritError('QUERY_NOT_ALLOWED', message, { field: 'sql', rule });
}

export const RULES = {
  oneSelect: 'exactly one ClickHouse SELECT statement (no INSERT, ALTER, DROP, CREATE, SET, KILL, OPTIMIZE, ATTACH, SYSTEM, ...)',
  noOutput: 'no FORMAT or INTO OUTFILE: the answer is JSON rows',
  noSettings: 'no SETTINGS clause: the door sets read-only mode and limits itself',
  noTableFunctions: 'no table functions (file, url, s3, remote, numbers, merge, ...): read the analyst tables',
  unqualified: `no database names (system, information_schema, ...): only the analyst tables ${Object.keys(ANALYST_TABLES).join(', ')}`,
  analystTables: `only the analyst tables: ${Object.keys(ANALYST_TABLES).join(', ')}; and views: ${ANALYST_VIEW_NAMES.join(', ')}`,
  functions: 'no functions that read files, settings, dictionaries, other tables or the host, or that sleep',
  inOperand: 'IN takes a list or a subquery, not a table name',
  construct: 'only the constructs of a SELECT the door knows',
  syntaxTree: 'a syntax tree the door can read',
} as const;

const LINE = /^( *)(\S+)(.*?)(?: \(children (\d+)\))?$/;

/**
 * Reads EXPLAIN AST output (one node per line, one space of indentation per level, `(children n)`
 * after nodes that have children). The tree must be exactly consistent (every declared child
 * present, one level deeper): anything else is refused rather than guessed at.
 */
export function parseExplainAst(lines: readonly string[]): AstNode {
  const rows = lines
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const match = LINE.exec(line);
      if (match === null) throw refuse(`unreadable syntax tree line ${JSON.stringify(line.slice(0, 80))}`, RULES.syntaxTree);
      return { depth: (match[1] ?? '').length, type: match[2] ?? '', text: (match[3] ?? '').trim(), children: Number(match[4] ?? '0') };
    });
  let next = 0;
  const read = (depth: number): AstNode => {
    const row = rows[next++];
    if (row?.depth !== depth) throw refuse('the syntax tree is not consistent', RULES.syntaxTree);
    const children: AstNode[] = [];
    for (let i = 0; i < row.children; i++) children.push(read(depth + 1));
    return { type: row.type, text: row.text, children };
  };
  if (rows.length === 0) throw refuse('the syntax tree is empty', RULES.syntaxTree);
  const root = read(0);
  if (next !== rows.length) throw refuse('the syntax tree is not consistent', RULES.syntaxTree);
  return root;
}

/** Node types of a SELECT that the door lets through; anything else (SETTINGS included) is refused. */
const ALLOWED_NODES = new Set([
  'SelectWithUnionQuery',
  'SelectIntersectExceptQuery',
  'SelectQuery',
  'ExpressionList',
  'Asterisk',
  'QualifiedAsterisk',
  'ColumnsRegexpMatcher',
  'ColumnsListMatcher',
  'QualifiedColumnsRegexpMatcher',
  'QualifiedColumnsListMatcher',
  'ColumnsTransformerList',
  'ColumnsApplyTransformer',
  'ColumnsExceptTransformer',
  'ColumnsReplaceTransformer',
  'ColumnsReplaceTransformer::Replacement',
  'Literal',
  'Identifier',
  'Function',
  'TablesInSelectQuery',
  'TablesInSelectQueryElement',
  'TableExpression',
  'TableIdentifier',
  'TableJoin',
  'ArrayJoin',
  'Subquery',
  'WithElement',
  'OrderByElement',
  'InterpolateElement',
  'WindowDefinition',
  'WindowListElement',
  'SampleRatio',
]);

/** Functions that read files, settings, dictionaries or other tables, describe the host, or sleep (lower case). */
export const DENIED_FUNCTIONS: readonly string[] = [
  'file',
  'url',
  'getsetting',
  'getsettingordefault',
  'getserversetting',
  'getmergetreesetting',
  'getmacro',
  'hascolumnintable',
  'joinget',
  'joingetornull',
  'catboostevaluate',
  'modelevaluate',
  'naivebayesclassifier',
  'hostname',
  'fqdn',
  'serveruuid',
  'getserverport',
  'tcpport',
  'uptime',
  'zookeepersessionuptime',
  'getclienthttpheader',
  'getoskernelversion',
  'displayname',
  'currentuser',
  'currentprofiles',
  'enabledprofiles',
  'defaultprofiles',
  'currentroles',
  'enabledroles',
  'defaultroles',
  'addresstoline',
  'addresstolinewithinlines',
  'addresstosymbol',
  'demangle',
  'globalvariable',
  'transactionid',
  'transactionlatestsnapshot',
  'transactionoldestsnapshot',
  'input',
];
/** Whole families: dictGet*, dictHas, dictIsIn..., joinGet*, sleep*, filesystem*, getSetting*, internal __*. */
export const DENIED_FUNCTION_PREFIXES: readonly string[] = ['dict', 'joinget', 'sleep', 'filesystem', 'getsetting', '__'];

const IN_FUNCTIONS = new Set(['in', 'notin', 'globalin', 'globalnotin', 'nullin', 'notnullin', 'globalnullin', 'globalnotnullin']);

/** The first word of a node's text: a function's or table's name (aliases follow in parentheses). */
function nameOf(node: AstNode): string {
  return node.text.split(' ')[0] ?? '';
}

export function isDeniedFunction(name: string): boolean {
  const lower = name.toLowerCase();
  return DENIED_FUNCTIONS.includes(lower) || DENIED_FUNCTION_PREFIXES.some((prefix) => lower.startsWith(prefix));
}

const STATEMENT_NAMES: Readonly<Record<string, string>> = {
  InsertQuery: 'INSERT',
  AlterQuery: 'ALTER',
  DropQuery: 'DROP',
  CreateQuery: 'CREATE',
  KillQueryQuery: 'KILL',
  OptimizeQuery: 'OPTIMIZE',
  SetQuery: 'SET',
  SystemQuery: 'SYSTEM',
  RenameQuery: 'RENAME',
  UndropQuery: 'UNDROP',
  Explain: 'EXPLAIN',
};

/**
 * Checks the EXPLAIN AST of an analyst query (explained with `FORMAT <outputFormat>` appended by the
 * client) against the door's rules; throws QUERY_NOT_ALLOWED naming the rule. Allowed: one
 * SELECT over the analyst tables (unqualified names, or names of the query's own WITH subqueries),
 * without table functions, SETTINGS, FORMAT or INTO OUTFILE, and without the denied functions.
 */
export function checkAnalystAst(root: AstNode, outputFormat: string): void {
  if (root.type !== 'SelectWithUnionQuery') {
    const statement = STATEMENT_NAMES[root.type] ?? root.type.replace(/Query$/, '').toUpperCase();
    throw refuse(`only SELECT queries are allowed, got ${statement}`, RULES.oneSelect);
  }
  const [body, ...tail] = root.children;
  if (body?.type !== 'ExpressionList') throw refuse('the query is not a SELECT', RULES.oneSelect);
  for (const [index, node] of tail.entries()) {
    const clientFormat = index === tail.length - 1 && node.type === 'Identifier' && node.text === outputFormat;
    if (clientFormat) continue;
    if (node.type === 'Set') throw refuse('SETTINGS is not allowed', RULES.noSettings);
    if (node.type === 'Literal') throw refuse('INTO OUTFILE is not allowed', RULES.noOutput);
    throw refuse('FORMAT is not allowed', RULES.noOutput);
  }
  const hasWithSubqueries = containsType(root, 'WithElement');
  const visit = (node: AstNode, parent: AstNode | undefined): void => {
    if (node.type === 'Set') throw refuse('SETTINGS is not allowed (in a subquery either)', RULES.noSettings);
    if (!ALLOWED_NODES.has(node.type)) throw refuse(`"${node.type}" is not allowed in an analytics query`, RULES.construct);
    if (parent?.type === 'TableExpression' && node.type === 'Function') {
      throw refuse(`table function ${nameOf(node)}() is not allowed`, RULES.noTableFunctions);
    }
    if (node.type === 'TableIdentifier') checkTable(nameOf(node), hasWithSubqueries);
    if (node.type === 'Function') {
      const name = nameOf(node);
      if (isDeniedFunction(name)) throw refuse(`function ${name}() is not allowed`, RULES.functions);
      if (IN_FUNCTIONS.has(name.toLowerCase())) {
        const operand = node.children[0]?.children[1];
        if (operand?.type === 'Identifier') throw refuse(`${name} ${nameOf(operand)}: IN needs a list or a subquery`, RULES.inOperand);
      }
    }
    for (const child of node.children) visit(child, node);
  };
  for (const child of body.children) visit(child, body);
}

function containsType(node: AstNode, type: string): boolean {
  return node.type === type || node.children.some((child) => containsType(child, type));
}

/**
 * A table must be named without a database. An analyst table or view resolves to the door's
 * tenant-scoped WITH subquery of it; with WITH subqueries in the query, another plain name may be
 * one of them (anything else resolves in the door's empty database and fails as an unknown table).
 */
function checkTable(name: string, hasWithSubqueries: boolean): void {
  if (name.includes('.')) throw refuse(`table ${name} is not allowed: name analyst tables without a database`, RULES.unqualified);
  if (!Object.hasOwn(ANALYST_TABLES, name) && !ANALYST_VIEW_NAMES.includes(name) && !hasWithSubqueries)
    throw refuse(`table ${name} is not an analyst table`, RULES.analystTables);
}

/** `name` as a ClickHouse identifier in backquotes. */
export function quoteName(name: string): string {
  return `\`${name.replace(/\\/g, '\\\\').replace(/`/g, '\\`')}\``;
}

/**
 * The query that runs: every analyst table as a WITH subquery of the real table (in `database`,
 * read FINAL, i.e. one row per key) filtered to {writ_tenant:String}, then every analytics view as a
 * WITH subquery of its SQL over those (so it reads the caller's tenant only), around the analyst's
 * own query (already normalised by ClickHouse's formatter: one statement, no comments), then at
 * most `limit` rows.
 */
export function scopedAnalystSql(formattedQuery: string, database: string, limit: number): string {
  const tables = Object.entries(ANALYST_TABLES).map(
    ([table, column]) =>
      `${quoteName(table)} AS (SELECT * FROM ${quoteName(database)}.${quoteName(table)} FINAL WHERE ${quoteName(column)} = {${TENANT_PARAMETER}:String})`,
  );
  const views = ANALYST_VIEWS.map((view) => `${quoteName(view.name)} AS (${view.sql(SCOPED_TABLES)})`);
  return `WITH ${[...tables, ...views].join(',\n')}\nSELECT * FROM (\n${formattedQuery}\n) LIMIT ${Math.max(1, Math.floor(limit))}`;
}
