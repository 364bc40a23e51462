import { createRequire } from 'node:module';
import type { ClickHouseClientConfigOptions } from '@clickhouse/client';

/** The connection contract @clickhouse/client accepts for an in-process engine (experimental there). */
type Connection = NonNullable<ClickHouseClientConfigOptions['connection']>;
type Params<M extends keyof Connection> = Parameters<Connection[M]>[0];
type Result<M extends keyof Connection> = ReturnType<Connection[M]>;

// chDB loads a ~550 MB engine when first required: only the embedded path pays for it.
const require = createRequire(import.meta.url);

/**
 * chdb types its connection against its own copy of @clickhouse/client-common (1.23.0), while
 * @clickhouse/client bundles a newer copy of the same contract (a settings key more): typed here
 * as the client's contract, which is what the client calls it with.
 */
interface ChdbModules {
  createChdbConnection(options: { path: string }): Connection;
  drainPending(): Promise<void>;
}

function chdb(): ChdbModules {
  const connection = require('chdb/connection') as { createChdbConnection: ChdbModules['createChdbConnection'] };
  const root = require('chdb') as { drainPending: ChdbModules['drainPending'] };
  return { createChdbConnection: connection.createChdbConnection, drainPending: root.drainPending };
}

/**
 * chDB behind @clickhouse/client, with what the bare connection lacks to behave like a server:
 * - a database: the HTTP client sends it with every request, the embedded connection ignores
 *   it, so here it is created if missing and selected (`USE`) once, before the first statement;
 * - a close that waits until the engine has really let go of the data folder (`drainPending`),
 *   because chDB binds one folder per process and the next open of another folder fails until then;
 * - the server's defaults where clickhouse-local's differ (SERVER_DEFAULTS).
 */
export class EmbeddedConnection implements Connection {
  readonly #inner: Connection;
  readonly #drainPending: () => Promise<void>;
  readonly #database: string | undefined;
  readonly #settings: Readonly<Record<string, string | number>>;
  #prepared: Promise<void> | undefined;

  constructor(path: string, database: string | undefined, settings: Readonly<Record<string, string | number>> = {}) {
    const modules = chdb();
    this.#inner = modules.createChdbConnection({ path });
    this.#drainPending = modules.drainPending;
    this.#database = database;
    this.#settings = settings;
  }

  ping(params: Params<'ping'>): Result<'ping'> {
    return this.#inner.ping(params);
  }

  async query(params: Params<'query'>): Result<'query'> {
    await this.#prepare();
    return this.#inner.query(params);
  }

  async insert(params: Params<'insert'>): Result<'insert'> {
    await this.#prepare();
    return this.#inner.insert(params);
  }

  async command(params: Params<'command'>): Result<'command'> {
    await this.#prepare();
    return this.#inner.command(params);
  }

  async exec(params: Params<'exec'>): Result<'exec'> {
    await this.#prepare();
    return this.#inner.exec(params);
  }

  async close(): Promise<void> {
    await this.#prepared?.catch(() => undefined);
    await this.#inner.close();
    await this.#drainPending();
  }

  /** Once per connection, before its first statement (retried if it fails). */
  #prepare(): Promise<void> {
    this.#prepared ??= (async () => {
      for (const [name, value] of Object.entries(SERVER_DEFAULTS)) {
        await this.#inner.command({ query: `SET ${name} = ${value}` });
      }
      if (this.#database !== undefined) {
        const name = quoteIdentifier(this.#database);
        await this.#inner.command({ query: `CREATE DATABASE IF NOT EXISTS ${name}` });
        await this.#inner.command({ query: `USE ${name}` });
      }
      // In order, so that `readonly = 1` can come last: after it, this session changes no setting.
      for (const [name, value] of Object.entries(this.#settings)) {
        if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new Error(`invalid setting name ${JSON.stringify(name)}`);
        const literal = typeof value === 'number' ? String(value) : `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
        await this.#inner.command({ query: `SET ${name} = ${literal}` });
      }
    })().catch((error: unknown) => {
      this.#prepared = undefined; // the next statement tries again
      throw error;
    });
    return this.#prepared;
  }
}

/**
 * Settings whose embedded (clickhouse-local) default differs from a server's, so that the same
 * code reads the same JSON from both: a server quotes 64-bit integers in JSON formats (they do
 * not fit a JavaScript number), chDB does not unless told.
 */
const SERVER_DEFAULTS = {
  output_format_json_quote_64bit_integers: 1,
} as const;

export function quoteIdentifier(name: string): string {
  return `\`${name.replace(/\\/g, '\\\\').replace(/`/g, '\\`')}\``;
}
