import { env } from '@writ/config';
import type { ConfigOf } from '@writ/config';
import type { BaseConfig } from '@writ/runtime';

/**
 * The ledger's variables, on top of the common ones (WRIT_KAFKA_BROKERS, WRIT_HTTP_PORT, ...). ClickHouse is
 * read by clickHouseFromEnv: CLICKHOUSE_URL (a server) or WRIT_CHDB_PATH (embedded chDB folder,
 * default .local/chdb/data; one process per folder: the ledger owns it), CLICKHOUSE_DATABASE.
 */
export const ledgerConfigSpec = {
  WRIT_KAFKA_GROUP_ID: env.string({ default: 'writ.ledger' }),
  /** The tenants this instance serves (ids, or prefixes ending in `*`; unset: all): TenantFilter in @writ/config. */
  WRIT_LEDGER_TENANTS: env.tenants(),
  /** Sign and publish the chain head every this many entries per chain (0: never). */
  WRIT_LEDGER_CHECKPOINT_EVERY: env.int({ default: 100, min: 0, max: 1_000_000 }),
  /**
   * Also sign a chain's head once an entry has waited this long without a checkpoint (ms; 0: only
   * every N entries). Bounds the tail that `writ verify` reports as not yet anchored.
   */
  WRIT_LEDGER_CHECKPOINT_INTERVAL_MS: env.int({ default: 5_000, min: 0, max: 3_600_000 }),
  /** Ed25519 private key (PEM) for checkpoints; its file name without .pem is the key id. Unset: no checkpoints. */
  WRIT_LEDGER_SIGNING_KEY: env.optionalString(),
  /** Public keys (PEM) trusted for checkpoints, for verification served over HTTP. */
  WRIT_LEDGER_KEYS_DIR: env.optionalString(),
  WRIT_TOOLS_DIR: env.string({ default: 'tools' }),
  /** The ClickHouse DDL applied at boot (deploy/clickhouse/*.sql). Default: the repository's folder. */
  WRIT_LEDGER_SQL_DIR: env.optionalString(),
  /**
   * Days ClickHouse keeps operational detail (the `events` rows of tool results and errors) before
   * dropping it at a merge; 0 keeps it forever. The chain and the minimal tables have no TTL (docs/retention.md).
   */
  WRIT_LEDGER_DETAIL_TTL_DAYS: env.int({ default: 30, min: 0, max: 36_500 }),
  /**
   * The ClickHouse cluster whose DDL `writ clickhouse-cluster-ddl` made (the chart sets it when it
   * runs shards or replicas): the detail TTL then goes on every node's `events_local`, ON CLUSTER.
   */
  WRIT_LEDGER_CLICKHOUSE_CLUSTER: env.optionalString(),
  /** Project into ClickHouse (false: chain only, e.g. when another process owns the chDB folder). */
  WRIT_LEDGER_PROJECTION: env.bool({ default: true }),
  WRIT_LEDGER_PROJECTION_BATCH: env.int({ default: 500, min: 1, max: 100_000 }),
  WRIT_LEDGER_LINGER_MS: env.int({ default: 2, min: 0, max: 1000 }),
  /**
   * How long the chain's entries may wait for each other to share one transaction (ms; 0: a batch
   * commits at once). Nothing waits on the chain; fewer, fuller transactions leave the broker to
   * the hops an action waits on.
   */
  WRIT_LEDGER_CHAIN_WAIT_MS: env.int({ default: 50, min: 0, max: 5000 }),
  WRIT_LEDGER_REPLAY_TIMEOUT_MS: env.int({ default: 120_000, min: 1000, max: 3_600_000 }),
  /** Rows a POST /v1/query answer may hold. */
  WRIT_LEDGER_QUERY_MAX_ROWS: env.int({ default: 10_000, min: 1, max: 1_000_000 }),
  /** An analyst query is cut after this many seconds (ClickHouse max_execution_time). */
  WRIT_LEDGER_QUERY_TIMEOUT_S: env.int({ default: 30, min: 1, max: 3_600 }),
  /** Result bytes of an analyst query (max_result_bytes; the answer is cut at a block boundary). */
  WRIT_LEDGER_QUERY_MAX_BYTES: env.int({ default: 64 * 1024 * 1024, min: 1024, max: 16 * 1024 * 1024 * 1024 }),
  /** Memory an analyst query may use in ClickHouse (max_memory_usage). */
  WRIT_LEDGER_QUERY_MAX_MEMORY: env.int({ default: 1024 * 1024 * 1024, min: 16 * 1024 * 1024, max: 256 * 1024 * 1024 * 1024 }),
  /**
   * The empty database analyst queries run in: every analyst table is a tenant-filtered WITH
   * subquery there, and any other plain name resolves to nothing. Must not be CLICKHOUSE_DATABASE.
   */
  WRIT_LEDGER_ANALYST_DATABASE: env.string({ default: 'writ_analyst' }),
  /**
   * How often the drift check runs (ms; 0: never): it scores how each agent's actions with each tool
   * ended today and yesterday (UTC) against the baseline days before, and announces a drift once per
   * tenant, agent, tool and day (DriftDetected, drift_alerts, writ.ledger.drift_detected). Needs the projection.
   */
  WRIT_LEDGER_DRIFT_INTERVAL_MS: env.int({ default: 300_000, min: 0, max: 86_400_000 }),
  /** A Jensen-Shannon divergence (0..1) at or above this is a drift. */
  WRIT_LEDGER_DRIFT_THRESHOLD: env.number({ default: 0.1, min: 0.001, max: 1 }),
  /** The days before the day measured that make its baseline. */
  WRIT_LEDGER_DRIFT_BASELINE_DAYS: env.int({ default: 7, min: 1, max: 90 }),
  /** Fewer ended actions than this on the day, or over the baseline, are too few to call a drift. */
  WRIT_LEDGER_DRIFT_MIN_ACTIONS: env.int({ default: 50, min: 1, max: 1_000_000 }),
  /** Who may call the ledger's HTTP door (users with access roles, services), followed live. */
  WRIT_DIRECTORY_FILE: env.string(),
};

export type LedgerServiceConfig = BaseConfig & ConfigOf<typeof ledgerConfigSpec>;
