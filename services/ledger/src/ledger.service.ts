import { Inject, Injectable, Logger } from '@nestjs/common';
import type { OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { clickHouseOptionsFromEnv, createClickHouse, describeClickHouse } from '@writ/clickhouse';
import type { ClickHouseClient } from '@writ/clickhouse';
import { loadSigningKey } from '@writ/crypto';
import type { SigningKey } from '@writ/crypto';
import { WritError } from '@writ/errors';
import { registryRedactor } from '@writ/ledger-core';
import { LAG_SAMPLE_MS, SERVICE_CONFIG, busLoggerOf, observeConsumerLag, packageVersion } from '@writ/runtime';
import type { ConsumerLagGauge } from '@writ/runtime';
import { WRIT_METRIC, observeWritGauge, sampledEvery } from '@writ/telemetry';
import { loadToolRegistry } from '@writ/tools';
import { AnalystDoor } from './analyst-door.ts';
import { CHAINED_TOPICS, ChainWriter } from './chain-writer.ts';
import { DEFAULT_SQL_DIR, applySchema } from './clickhouse-schema.ts';
import { DriftMonitor } from './drift-monitor.ts';
import { applyRetention } from './retention.ts';
import type { LedgerServiceConfig } from './config.ts';
import { Projector } from './projector.ts';
import { ResultsProjector } from './results-projector.ts';

export interface LedgerLag {
  readonly measured_at: number;
  readonly chain: Awaited<ReturnType<ChainWriter['lag']>>;
  /** null when the ledger runs without its projection (WRIT_LEDGER_PROJECTION=false). */
  readonly projection: Awaited<ReturnType<Projector['lag']>> | null;
}

/** Owns the chain writer, the ClickHouse projection and the ClickHouse client (the chDB folder). */
@Injectable()
export class LedgerService implements OnModuleInit, OnApplicationShutdown {
  readonly #config: LedgerServiceConfig;
  readonly #logger = new Logger('ledger');
  #clickhouse: ClickHouseClient | undefined;
  #writer: ChainWriter | undefined;
  #projector: Projector | undefined;
  #results: ResultsProjector | undefined;
  #analysts: AnalystDoor | undefined;
  #drift: DriftMonitor | undefined;
  #lag: ConsumerLagGauge | undefined;
  #stopProjectionGauge: (() => void) | undefined;

  constructor(@Inject(SERVICE_CONFIG) config: LedgerServiceConfig) {
    this.#config = config;
  }

  get writer(): ChainWriter {
    if (this.#writer === undefined) throw new WritError('LEDGER_NOT_READY', 'the ledger is still starting', { retriable: true });
    return this.#writer;
  }

  get projector(): Projector | undefined {
    return this.#projector;
  }

  get clickhouse(): ClickHouseClient {
    if (this.#clickhouse === undefined) {
      throw new WritError('LEDGER_NO_PROJECTION', 'this ledger runs without its ClickHouse projection (WRIT_LEDGER_PROJECTION=false)', {
        field: 'WRIT_LEDGER_PROJECTION',
        rule: 'true to serve queries and exports',
      });
    }
    return this.#clickhouse;
  }

  /** The analyst query door (read-only session, tenant-scoped); only with the projection. */
  get analysts(): AnalystDoor {
    if (this.#analysts === undefined) {
      throw new WritError('LEDGER_NO_PROJECTION', 'this ledger runs without its ClickHouse projection (WRIT_LEDGER_PROJECTION=false)', {
        field: 'WRIT_LEDGER_PROJECTION',
        rule: 'true to serve queries and exports',
      });
    }
    return this.#analysts;
  }

  async onModuleInit(): Promise<void> {
    const config = this.#config;
    const logger = busLoggerOf(this.#logger);
    const version = packageVersion(import.meta.url);
    const tenants = config.WRIT_LEDGER_TENANTS;
    let signingKey: SigningKey | undefined;
    if (config.WRIT_LEDGER_SIGNING_KEY !== undefined) {
      signingKey = await loadSigningKey(config.WRIT_LEDGER_SIGNING_KEY);
    } else {
      logger.warn('WRIT_LEDGER_SIGNING_KEY is not set: chain heads are not checkpointed');
    }
    if (config.WRIT_LEDGER_PROJECTION) {
      const options = clickHouseOptionsFromEnv();
      this.#logger.log(`projecting into ${describeClickHouse(options)}`);
      const clickhouse = createClickHouse(options);
      this.#clickhouse = clickhouse;
      await applySchema(clickhouse, config.WRIT_LEDGER_SQL_DIR ?? DEFAULT_SQL_DIR);
      const detailDays = config.WRIT_LEDGER_DETAIL_TTL_DAYS;
      for (const { table, changed } of await applyRetention(clickhouse, detailDays, config.WRIT_LEDGER_CLICKHOUSE_CLUSTER)) {
        this.#logger.log(
          `operational detail in ${table}: ${detailDays === 0 ? 'kept forever' : `dropped after ${detailDays} days`}${changed ? ' (TTL set now)' : ''}`,
        );
      }
      this.#analysts = await AnalystDoor.open(clickhouse, options, config.WRIT_LEDGER_ANALYST_DATABASE, {
        maxRows: config.WRIT_LEDGER_QUERY_MAX_ROWS,
        maxExecutionSeconds: config.WRIT_LEDGER_QUERY_TIMEOUT_S,
        maxResultBytes: config.WRIT_LEDGER_QUERY_MAX_BYTES,
        maxMemoryBytes: config.WRIT_LEDGER_QUERY_MAX_MEMORY,
      });
      // The chain's projection and the tool results' detail rows, each following its topic.
      const follow = {
        brokers: config.WRIT_KAFKA_BROKERS,
        clickhouse,
        redactor: registryRedactor(loadToolRegistry(config.WRIT_TOOLS_DIR)),
        tenants,
        batchSize: config.WRIT_LEDGER_PROJECTION_BATCH,
        logger,
      };
      this.#projector = new Projector({ ...follow, clientId: `${config.WRIT_KAFKA_GROUP_ID}.projection` });
      await this.#projector.start();
      this.#results = new ResultsProjector({ ...follow, clientId: `${config.WRIT_KAFKA_GROUP_ID}.results` });
      await this.#results.start();
      if (config.WRIT_LEDGER_DRIFT_INTERVAL_MS > 0) {
        this.#drift = new DriftMonitor({
          clickhouse,
          brokers: config.WRIT_KAFKA_BROKERS,
          clientId: `${config.WRIT_KAFKA_GROUP_ID}.drift`,
          producer: `ledger@${version}`,
          tenants,
          rule: {
            threshold: config.WRIT_LEDGER_DRIFT_THRESHOLD,
            baselineDays: config.WRIT_LEDGER_DRIFT_BASELINE_DAYS,
            minActions: config.WRIT_LEDGER_DRIFT_MIN_ACTIONS,
          },
          intervalMs: config.WRIT_LEDGER_DRIFT_INTERVAL_MS,
          logger,
        });
        await this.#drift.start();
      }
    }
    this.#writer = new ChainWriter({
      brokers: config.WRIT_KAFKA_BROKERS,
      groupId: config.WRIT_KAFKA_GROUP_ID,
      instanceId: config.WRIT_INSTANCE_ID,
      producer: `ledger@${version}`,
      tenants,
      checkpointEvery: config.WRIT_LEDGER_CHECKPOINT_EVERY,
      checkpointIntervalMs: config.WRIT_LEDGER_CHECKPOINT_INTERVAL_MS,
      ...(signingKey === undefined ? {} : { signingKey }),
      lingerMs: config.WRIT_LEDGER_LINGER_MS,
      chainWaitMs: config.WRIT_LEDGER_CHAIN_WAIT_MS,
      replayTimeoutMs: config.WRIT_LEDGER_REPLAY_TIMEOUT_MS,
      logger,
    });
    await this.#writer.start();
    // The chain's lag is its group's (writ_consumer_lag{group="writ.ledger"}); ClickHouse's is the projection's behind the chain.
    this.#lag = observeConsumerLag(config.WRIT_KAFKA_BROKERS, config.WRIT_KAFKA_GROUP_ID, CHAINED_TOPICS);
    const projector = this.#projector;
    if (projector !== undefined) {
      const projectionLag = sampledEvery(LAG_SAMPLE_MS, () => projector.lag());
      this.#stopProjectionGauge = observeWritGauge(WRIT_METRIC.ledgerProjectionLag, async (gauge) => {
        const lag = await projectionLag();
        if (lag !== undefined) gauge.observe(lag.behind, {});
      });
    }
  }

  /**
   * How far the ledger is behind (GET /v1/lag): the chain against its input topics (the group's
   * committed offsets; an upper bound by the transaction markers, exact at 0) and ClickHouse
   * against the committed chain (exact), each with the time of the last event it took.
   */
  async lag(): Promise<LedgerLag> {
    const writer = this.#writer;
    if (writer === undefined) throw new WritError('LEDGER_NOT_READY', 'the ledger is still starting', { retriable: true });
    const [chain, projection] = await Promise.all([writer.lag(), this.#projector?.lag() ?? Promise.resolve(null)]);
    return { measured_at: Date.now(), chain, projection };
  }

  async onApplicationShutdown(): Promise<void> {
    this.#stopProjectionGauge?.();
    await this.#lag?.stop();
    await this.#drift?.stop();
    await this.#writer?.stop();
    await this.#projector?.stop();
    await this.#results?.stop();
    await this.#analysts?.close();
    await this.#clickhouse?.close();
  }
}
