// POST /v1/query: analysts' SQL, read-only by the engine's rules and scoped to the caller's tenant.
//
// 1. ClickHouse's formatter parses the text as a parameter value (never run): one statement or a
//    syntax error; comments are gone from what it prints.
// 2. EXPLAIN AST of that statement gives the engine's own tree, checked by checkAnalystAst:
//    one SELECT, analyst tables only, no table functions, database names, SETTINGS, FORMAT,
//    INTO OUTFILE or denied functions.
// 3. It runs wrapped in WITH <table> AS (<real table> WHERE tenant = {writ_tenant}) for every
//    analyst table, on a session of its own whose current database is empty (a name that is not
//    one of the WITH subqueries resolves to nothing) and that is readonly=1 with limits.
import type { ClickHouseClient, ClickHouseOptions } from '@writ/clickhouse';
import { createClickHouse } from '@writ/clickhouse';
import { WritError } from '@writ/errors';
import { ANALYST_RULES, RESERVED_PARAMETER_PREFIX, TENANT_PARAMETER, checkAnalystAst, parseExplainAst, scopedAnalystSql } from '@writ/ledger-core';

export interface AnalystLimits {
  readonly maxRows: number;
  readonly maxExecutionSeconds: number;
  readonly maxResultBytes: number;
  readonly maxMemoryBytes: number;
}

export interface QueryAnswer {
  readonly rows: unknown[];
  readonly truncated: boolean;
}

/** The settings of the analyst session, readonly = 1 last (after it nothing can be changed). */
export function analystSettings(limits: AnalystLimits): Record<string, string | number> {
  return {
    max_execution_time: limits.maxExecutionSeconds,
    timeout_overflow_mode: 'throw',
    max_result_rows: limits.maxRows + 1,
    max_result_bytes: limits.maxResultBytes,
    result_overflow_mode: 'break',
    max_memory_usage: limits.maxMemoryBytes,
    readonly: 1,
  };
}

/** The explain output arrives as CSV (chDB ignores the requested format for EXPLAIN) or TSV lines. */
function explainLines(text: string): string[] {
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => (line.length >= 2 && line.startsWith('"') && line.endsWith('"') ? line.slice(1, -1).replaceAll('""', '"') : line));
}

const OUTPUT_FORMAT = 'CSV';

/** Engine errors that are a limit or a refusal of the door rather than a mistake in the query. */
const LIMIT_ERRORS: Readonly<Record<string, string>> = {
  TIMEOUT_EXCEEDED: 'at most max_execution_time seconds (WRIT_LEDGER_QUERY_TIMEOUT_S)',
  MEMORY_LIMIT_EXCEEDED: 'at most max_memory_usage bytes (WRIT_LEDGER_QUERY_MAX_MEMORY)',
  TOO_MANY_ROWS_OR_BYTES: 'results within max_result_rows / max_result_bytes',
  READONLY: 'read-only (readonly = 1): no writes, no setting changes, no table functions',
  ACCESS_DENIED: 'read-only (readonly = 1)',
  UNKNOWN_TABLE: ANALYST_RULES.analystTables,
  UNKNOWN_DATABASE: ANALYST_RULES.unqualified,
};

function firstLine(error: unknown): string {
  return error instanceof Error ? (error.message.split('\n')[0] ?? '').slice(0, 400) : String(error);
}

function engineType(error: unknown): string | undefined {
  const type = (error as { type?: unknown } | null)?.type;
  return typeof type === 'string' ? type : undefined;
}

export class AnalystDoor {
  readonly #client: ClickHouseClient;
  readonly #ledgerDatabase: string;
  readonly #limits: AnalystLimits;

  private constructor(client: ClickHouseClient, ledgerDatabase: string, limits: AnalystLimits) {
    this.#client = client;
    this.#ledgerDatabase = ledgerDatabase;
    this.#limits = limits;
  }

  /**
   * Opens the analyst session next to the ledger's own client: same ClickHouse, its own (empty)
   * current database, readonly = 1 with the limits. `ledger` names the database of the real tables.
   */
  static async open(ledger: ClickHouseClient, options: ClickHouseOptions, analystDatabase: string, limits: AnalystLimits): Promise<AnalystDoor> {
    const result = await ledger.query({ query: 'SELECT currentDatabase() AS db', format: 'JSONEachRow' });
    const [row] = await result.json<{ db: string }>();
    const ledgerDatabase = row?.db ?? 'default';
    if (ledgerDatabase === analystDatabase) {
      throw new WritError('CONFIG_INVALID', `the analyst database must not be the ledger's own (${ledgerDatabase})`, {
        field: 'WRIT_LEDGER_ANALYST_DATABASE',
        rule: 'an empty database other than CLICKHOUSE_DATABASE',
      });
    }
    const name = `\`${analystDatabase.replace(/\\/g, '\\\\').replace(/`/g, '\\`')}\``;
    await ledger.command({ query: `CREATE DATABASE IF NOT EXISTS ${name}` });
    const tables = await ledger.query({
      query: 'SELECT count() AS n FROM system.tables WHERE database = {db:String}',
      query_params: { db: analystDatabase },
      format: 'JSONEachRow',
    });
    const [count] = await tables.json<{ n: string | number }>();
    if (Number(count?.n ?? 0) !== 0) {
      throw new WritError('CONFIG_INVALID', `the analyst database ${analystDatabase} must be empty: a table there would be readable by every tenant`, {
        field: 'WRIT_LEDGER_ANALYST_DATABASE',
        rule: 'an empty database',
      });
    }
    const client = createClickHouse({ ...options, database: analystDatabase, application: 'writ-analyst', settings: analystSettings(limits) });
    return new AnalystDoor(client, ledgerDatabase, limits);
  }

  get ledgerDatabase(): string {
    return this.#ledgerDatabase;
  }

  /** Runs an analyst's query for `tenant`; refusals are QUERY_NOT_ALLOWED naming the rule, other failures QUERY_FAILED. */
  async query(tenant: string, sql: unknown, params: unknown): Promise<QueryAnswer> {
    if (typeof sql !== 'string' || sql.trim() === '') {
      throw new WritError('QUERY_NOT_ALLOWED', 'sql must be a non-empty string', { field: 'sql', rule: ANALYST_RULES.oneSelect });
    }
    if (params !== undefined && (typeof params !== 'object' || params === null || Array.isArray(params))) {
      throw new WritError('QUERY_NOT_ALLOWED', 'params must be an object of named values', { field: 'params', rule: 'an object: {"name": value}' });
    }
    const given = (params ?? {}) as Record<string, unknown>;
    const reserved = Object.keys(given).find((name) => name.startsWith(RESERVED_PARAMETER_PREFIX));
    if (reserved !== undefined) {
      throw new WritError('QUERY_NOT_ALLOWED', `parameter ${reserved} is reserved`, {
        field: `params.${reserved}`,
        rule: `no parameter names starting with ${RESERVED_PARAMETER_PREFIX}`,
      });
    }
    const queryParams = { ...given, [TENANT_PARAMETER]: tenant };

    const formatted = await this.#formatted(sql);
    let explained: string;
    try {
      const result = await this.#client.query({ query: `EXPLAIN AST ${formatted}`, query_params: queryParams, format: OUTPUT_FORMAT });
      explained = await result.text();
    } catch (error) {
      // The formatter read one statement that EXPLAIN cannot take (SYSTEM, a second FORMAT, ...),
      // or whose SETTINGS the read-only session refused while explaining: a refusal, by rule.
      const type = engineType(error);
      if (type === 'SYNTAX_ERROR' || firstLine(error).startsWith('Syntax error'))
        throw new WritError('QUERY_NOT_ALLOWED', `not a SELECT: ${firstLine(error)}`, { field: 'sql', rule: ANALYST_RULES.oneSelect, cause: error });
      if (type === 'READONLY')
        throw new WritError('QUERY_NOT_ALLOWED', `SETTINGS is not allowed: ${firstLine(error)}`, {
          field: 'sql',
          rule: ANALYST_RULES.noSettings,
          cause: error,
        });
      throw this.#failure(error, 'the query cannot be explained');
    }
    checkAnalystAst(parseExplainAst(explainLines(explained)), OUTPUT_FORMAT);

    try {
      const result = await this.#client.query({
        query: scopedAnalystSql(formatted, this.#ledgerDatabase, this.#limits.maxRows + 1),
        query_params: queryParams,
        format: 'JSONEachRow',
      });
      const rows = await result.json<unknown>();
      return { rows: rows.slice(0, this.#limits.maxRows), truncated: rows.length > this.#limits.maxRows };
    } catch (error) {
      throw this.#failure(error, 'the query failed');
    }
  }

  async close(): Promise<void> {
    await this.#client.close();
  }

  /** ClickHouse's own formatting of the text, passed as a value: one statement, without comments. */
  async #formatted(sql: string): Promise<string> {
    try {
      const result = await this.#client.query({ query: 'SELECT formatQuerySingleLine({sql:String}) AS q', query_params: { sql }, format: 'JSONEachRow' });
      const [row] = await result.json<{ q: string }>();
      if (row === undefined || row.q.trim() === '') throw new Error('empty query');
      return row.q;
    } catch (error) {
      throw new WritError('QUERY_NOT_ALLOWED', `not one valid ClickHouse statement: ${firstLine(error)}`, {
        field: 'sql',
        rule: ANALYST_RULES.oneSelect,
        cause: error,
      });
    }
  }

  #failure(error: unknown, what: string): WritError {
    const type = engineType(error);
    const limit = type === undefined ? undefined : LIMIT_ERRORS[type];
    if (limit !== undefined) return new WritError('QUERY_NOT_ALLOWED', `${what}: ${firstLine(error)}`, { field: 'sql', rule: limit, cause: error });
    if (type === 'UNSUPPORTED_METHOD' && /FINAL/.test(firstLine(error))) {
      return new WritError('QUERY_FAILED', `${what}: FINAL is not needed: the analyst tables are read deduplicated already`, {
        field: 'sql',
        rule: 'no FINAL on analyst tables',
        cause: error,
      });
    }
    return new WritError('QUERY_FAILED', `${what}: ${firstLine(error)}`, {
      field: 'sql',
      rule: 'a valid ClickHouse SELECT over the analyst tables',
      cause: error,
    });
  }
}
