// Tool results' readable copies for analysts: follows writ.results.v1 (the detail tier: not chained,
// kept 30 days on Kafka) into ClickHouse `events`, whose TTL drops them after
// WRIT_LEDGER_DETAIL_TTL_DAYS (retention.ts). Idempotent: `events` is a ReplacingMergeTree keyed
// per event, so a batch written twice (a retry) counts once, and so does a redelivered request's
// second body (the executor names its event id by the action and the digest).
import { TOPICS, decodeEvent } from '@writ/contracts';
import type { DecodedEvent } from '@writ/contracts';
import { describeError } from '@writ/errors';
import { toolResultRow } from '@writ/ledger-core';
import type { EventRow } from '@writ/ledger-core';
import type { ProjectorOptions } from './projector.ts';
import { TopicFollower } from './topic-follower.ts';
import type { FollowerLag } from './topic-follower.ts';

/** The chain projection's options: the same brokers, ClickHouse, redaction, tenants and batch size. */
export type ResultsProjectorOptions = ProjectorOptions;

export class ResultsProjector {
  readonly #follower: TopicFollower<EventRow[]>;

  constructor(options: ResultsProjectorOptions) {
    this.#follower = new TopicFollower<EventRow[]>({
      brokers: options.brokers,
      clickhouse: options.clickhouse,
      topic: TOPICS.results,
      batchSize: options.batchSize,
      clientId: options.clientId,
      logger: options.logger,
      batch: (polled) =>
        polled.flatMap((record) => {
          let event: DecodedEvent;
          try {
            event = decodeEvent(record.value as Buffer);
          } catch (error) {
            // Only the executor may write the topic (ACLs); a record it cannot read is named, not fatal to the rest.
            options.logger.error('unreadable record on the results topic skipped', {
              partition: record.partition,
              offset: record.offset,
              error: describeError(error),
            });
            return [];
          }
          if (event.type !== 'ToolResultRecorded') return [];
          const at = { topic: TOPICS.results, partition: record.partition, offset: record.offset, schemaVersion: event.schemaVersion };
          return toolResultRow(event.payload, at, options.redactor, options.tenants) ?? [];
        }),
      write: async (rows) => {
        if (rows.length > 0) await options.clickhouse.insert({ table: 'events', values: rows, format: 'JSONEachRow' });
      },
    });
  }

  start(): Promise<void> {
    return this.#follower.start();
  }

  stop(): Promise<void> {
    return this.#follower.stop();
  }

  lag(): Promise<FollowerLag> {
    return this.#follower.lag();
  }
}
