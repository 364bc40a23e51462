// Follows one topic into ClickHouse in batches, read_committed: one poll, the batch written, then
// the position saved in projection_offsets (topic, partition, next_offset). At-least-once: a batch
// that fails is written again, nothing skipped, so what it writes must be idempotent. The chain
// projection (projector.ts) and the tool results' detail rows (results-projector.ts) use it.
import { LagReader, partitionEnds, sleep } from '@writ/bus';
import type { BusLogger } from '@writ/bus';
import type { ClickHouseClient } from '@writ/clickhouse';
import { backoffDelay, describeError } from '@writ/errors';
import { CommittedReader } from './committed-reader.ts';
import type { CommittedRecord } from './committed-reader.ts';

export interface TopicFollowerOptions<B> {
  readonly brokers: readonly string[];
  readonly clickhouse: ClickHouseClient;
  readonly topic: string;
  readonly batchSize: number;
  readonly clientId: string;
  readonly logger: BusLogger;
  /** Turns one poll into a batch (pure; called once per poll, its batch retried as it is). */
  readonly batch: (records: readonly CommittedRecord[]) => B;
  /** Writes a batch; throws to have it written again. */
  readonly write: (batch: B) => Promise<void>;
}

export interface FollowerLag {
  readonly behind: number;
  readonly partitions: readonly { partition: number; position: number; end: number; behind: number }[];
}

export class TopicFollower<B> {
  readonly #options: TopicFollowerOptions<B>;
  #reader: CommittedReader | undefined;
  #lagReader: LagReader | undefined;
  #running: Promise<void> | undefined;
  #stopping = false;
  /** Next offset per partition that is in ClickHouse. */
  #positions = new Map<number, number>();

  constructor(options: TopicFollowerOptions<B>) {
    this.#options = options;
  }

  async start(): Promise<void> {
    const { clickhouse, topic, brokers, clientId } = this.#options;
    const saved = await clickhouse.query({
      query: `SELECT partition, max(next_offset) AS next_offset FROM projection_offsets FINAL WHERE topic = {topic:String} GROUP BY partition`,
      query_params: { topic },
      format: 'JSONEachRow',
    });
    const offsets = new Map((await saved.json<{ partition: number; next_offset: string }>()).map((r) => [Number(r.partition), Number(r.next_offset)]));
    const bounds = await partitionEnds(brokers, [topic], `${clientId}.offsets`);
    const starts = new Map(bounds.map((b) => [b.partition, Math.max(offsets.get(b.partition) ?? 0, b.start)]));
    this.#positions = new Map(starts);
    this.#reader = await CommittedReader.open(brokers, topic, starts, clientId);
    this.#running = this.#loop(this.#reader);
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    await this.#running;
    await this.#reader?.close();
    await this.#lagReader?.close();
  }

  /** How far ClickHouse is behind the topic: the saved positions against its ends. */
  async lag(): Promise<FollowerLag> {
    this.#lagReader ??= new LagReader(this.#options.brokers, `${this.#options.clientId}.lag`);
    const ends = await this.#lagReader.partitionEnds([this.#options.topic]);
    const partitions = ends.map((e) => {
      const position = this.#positions.get(e.partition) ?? e.start;
      return { partition: e.partition, position, end: e.end, behind: Math.max(0, e.end - position) };
    });
    return { behind: partitions.reduce((sum, p) => sum + p.behind, 0), partitions };
  }

  /** The next offset of each partition that is in ClickHouse. */
  positions(): ReadonlyMap<number, number> {
    return this.#positions;
  }

  async #loop(reader: CommittedReader): Promise<void> {
    let failures = 0;
    let pending: { batch: B; next: Map<number, number> } | undefined;
    while (!this.#stopping) {
      try {
        if (pending === undefined) {
          const polled = await reader.poll(this.#options.batchSize, 100);
          pending = { batch: this.#options.batch(polled.filter((record) => record.value !== null)), next: reader.positions() };
        }
        await this.#options.write(pending.batch);
        await this.#savePositions(pending.next);
        pending = undefined;
        failures = 0;
      } catch (error) {
        // ClickHouse unavailable or a statement failed: the same batch is tried again, nothing skipped.
        failures += 1;
        this.#options.logger.error(`projection of ${this.#options.topic} into ClickHouse failed; retrying the batch`, {
          error: describeError(error),
          failures,
        });
        await sleep(backoffDelay(failures, { initialMs: 100, maxMs: 10_000 }));
      }
    }
  }

  async #savePositions(next: ReadonlyMap<number, number>): Promise<void> {
    const changed = [...next].filter(([partition, offset]) => this.#positions.get(partition) !== offset);
    if (changed.length === 0) return;
    await this.#options.clickhouse.insert({
      table: 'projection_offsets',
      values: changed.map(([partition, offset]) => ({ topic: this.#options.topic, partition, next_offset: offset })),
      format: 'JSONEachRow',
    });
    for (const [partition, offset] of changed) this.#positions.set(partition, offset);
  }
}
