import { isAbsolute, resolve } from 'node:path';
import { createClient } from '@clickhouse/client';
import type { ClickHouseClient } from '@clickhouse/client';
import { env, loadConfig } from '@writ/config';
import { WritError } from '@writ/errors';
import { EmbeddedConnection } from './embedded.ts';

export interface ClickHouseOptions {
  /** A ClickHouse server: http(s)://[user:password@]host:port[/database]. Wins over dataPath. */
  readonly url?: URL;
  /** The embedded engine's (chDB) data folder; used when there is no url. One process per folder. */
  readonly dataPath?: string;
  /** Database for unqualified table names. Embedded: created when missing. Server: must exist. */
  readonly database?: string;
  /** Sent as the client's application name to a server (visible in system.query_log). */
  readonly application?: string;
  /**
   * Settings for every statement of this client, in order (e.g. limits, then readonly = 1 last).
   * Server: sent with each request. Embedded: SET once on this connection's own session.
   */
  readonly settings?: Readonly<Record<string, string | number>>;
}

/**
 * The one way Writ opens ClickHouse: the same @clickhouse/client API either over HTTP to a
 * server (`url`) or in-process on chDB (`dataPath`). Close the client when done; for chDB the
 * close also waits until the data folder is released, so another folder can be opened next.
 */
export function createClickHouse(options: ClickHouseOptions): ClickHouseClient {
  const { url, dataPath, database, settings } = options;
  const application = options.application ?? 'writ';
  if (url !== undefined) {
    return createClient({
      url: url.toString(),
      application,
      ...(database === undefined ? {} : { database }),
      ...(settings === undefined ? {} : { clickhouse_settings: { ...settings } }),
    });
  }
  if (dataPath === undefined || dataPath.trim() === '') {
    throw new WritError('CONFIG_INVALID', 'ClickHouse needs a server URL or an embedded data folder', {
      field: 'CLICKHOUSE_URL',
      rule: 'set CLICKHOUSE_URL for a server, or WRIT_CHDB_PATH for embedded chDB',
    });
  }
  return createClient({ application, connection: new EmbeddedConnection(resolve(dataPath), database, settings) });
}

export type ClickHouseMode =
  | { readonly kind: 'server'; readonly url: URL; readonly database?: string }
  | { readonly kind: 'embedded'; readonly dataPath: string; readonly database?: string };

type Source = Readonly<Record<string, string | undefined>>;

/**
 * Reads CLICKHOUSE_URL (a server), else WRIT_CHDB_PATH (embedded chDB folder, default
 * `.local/chdb/data` under WRIT_ROOT or the working directory), and CLICKHOUSE_DATABASE.
 */
export function clickHouseOptionsFromEnv(source: Source = process.env): ClickHouseOptions {
  const config = loadConfig(
    {
      CLICKHOUSE_URL: env.optionalUrl(),
      WRIT_CHDB_PATH: env.string({ default: '.local/chdb/data' }),
      CLICKHOUSE_DATABASE: env.optionalString(),
    },
    source,
  );
  const database = config.CLICKHOUSE_DATABASE === undefined ? {} : { database: config.CLICKHOUSE_DATABASE };
  if (config.CLICKHOUSE_URL !== undefined) return { url: config.CLICKHOUSE_URL, ...database };
  const base = source['WRIT_ROOT']?.trim() || process.cwd();
  const dataPath = isAbsolute(config.WRIT_CHDB_PATH) ? config.WRIT_CHDB_PATH : resolve(base, config.WRIT_CHDB_PATH);
  return { dataPath, ...database };
}

export function clickHouseFromEnv(source: Source = process.env): ClickHouseClient {
  return createClickHouse(clickHouseOptionsFromEnv(source));
}

/** Which ClickHouse the options select, without opening anything. */
export function clickHouseMode(options: ClickHouseOptions): ClickHouseMode {
  const database = options.database === undefined ? {} : { database: options.database };
  if (options.url !== undefined) return { kind: 'server', url: options.url, ...database };
  return { kind: 'embedded', dataPath: resolve(options.dataPath ?? ''), ...database };
}

/** One line for people and logs; a URL's credentials are never shown. */
export function describeClickHouse(options: ClickHouseOptions): string {
  const mode = clickHouseMode(options);
  const database = mode.database === undefined ? '' : `, database ${mode.database}`;
  if (mode.kind === 'server') {
    const shown = new URL(mode.url.toString());
    shown.username = '';
    shown.password = '';
    shown.search = '';
    return `server ${shown.toString()} (CLICKHOUSE_URL${database})`;
  }
  return `embedded chDB at ${mode.dataPath} (CLICKHOUSE_URL not set${database})`;
}
