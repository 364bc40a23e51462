// How far a reader is behind a topic's end: the end a read_committed reader can reach (the last
// stable offset) against a consumer group's committed offsets. Read through the admin client, so
// a service can report its own lag without touching its consumer.
import kafkaJavascript from '@confluentinc/kafka-javascript';
import { createKafka } from './kafka.ts';
import { silentLogger } from './logger.ts';
import { topicPartitionKey } from './window.ts';

const { IsolationLevel } = kafkaJavascript.KafkaJS;

export interface PartitionEnd {
  readonly topic: string;
  readonly partition: number;
  /** The first offset still in the log. */
  readonly start: number;
  /** The last stable offset: where a read_committed reader ends (transaction markers included). */
  readonly end: number;
}

export interface PartitionLag extends PartitionEnd {
  /** The group's committed offset (the next one it reads), or null when it committed none. */
  readonly committed: number | null;
  /** Records (and transaction markers) between the committed offset and the end. */
  readonly behind: number;
}

type Admin = ReturnType<ReturnType<typeof createKafka>['admin']>;

async function withAdmin<T>(brokers: readonly string[], clientId: string, use: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = createKafka({ brokers, clientId, logger: silentLogger }).admin();
  await admin.connect();
  try {
    return await use(admin);
  } finally {
    await admin.disconnect();
  }
}

async function endsOf(admin: Admin, topics: readonly string[]): Promise<PartitionEnd[]> {
  const ends: PartitionEnd[] = [];
  for (const topic of topics) {
    const offsets = await admin.fetchTopicOffsets(topic, { isolationLevel: IsolationLevel.READ_COMMITTED });
    for (const o of offsets) ends.push({ topic, partition: o.partition, start: Number(o.low), end: Number(o.high) });
  }
  return ends;
}

/** Per partition of each topic: its first offset and its last stable offset. */
export function partitionEnds(brokers: readonly string[], topics: readonly string[], clientId = 'writ-offsets'): Promise<PartitionEnd[]> {
  return withAdmin(brokers, clientId, (admin) => endsOf(admin, topics));
}

export interface GroupLag {
  readonly behind: number;
  readonly partitions: readonly PartitionLag[];
}

async function lagOf(admin: Admin, groupId: string, topics: readonly string[]): Promise<GroupLag> {
  const ends = await endsOf(admin, topics);
  const fetched = await admin.fetchOffsets({ groupId, topics: [...topics] });
  const committed = new Map(fetched.flatMap((t) => t.partitions.map((p) => [topicPartitionKey(t.topic, p.partition), Number(p.offset)] as const)));
  const partitions = ends.map((end): PartitionLag => {
    const offset = committed.get(topicPartitionKey(end.topic, end.partition));
    const at = offset === undefined || offset < 0 ? null : offset;
    return { ...end, committed: at, behind: Math.max(0, end.end - (at ?? end.start)) };
  });
  return { behind: partitions.reduce((sum, p) => sum + p.behind, 0), partitions };
}

/**
 * A consumer group's lag on its topics, per partition and in total. A committed offset can stop
 * at the transaction marker that follows the last record it read, so a group that is caught up
 * may show one per partition whose input ends with a transaction: an upper bound, exact at 0.
 */
export function groupLag(brokers: readonly string[], groupId: string, topics: readonly string[]): Promise<GroupLag> {
  return withAdmin(brokers, `${groupId}.lag`, (admin) => lagOf(admin, groupId, topics));
}

/**
 * groupLag and partitionEnds on one admin connection kept open between reads (a metrics gauge
 * samples them every few seconds: a connection and a login each time would cost more than the
 * question). Connects at the first read; a failed read drops the connection, and the next makes a
 * new one.
 */
export class LagReader {
  readonly #brokers: readonly string[];
  readonly #clientId: string;
  #admin: Promise<Admin> | undefined;

  constructor(brokers: readonly string[], clientId: string) {
    this.#brokers = brokers;
    this.#clientId = clientId;
  }

  groupLag(groupId: string, topics: readonly string[]): Promise<GroupLag> {
    return this.#use((admin) => lagOf(admin, groupId, topics));
  }

  partitionEnds(topics: readonly string[]): Promise<PartitionEnd[]> {
    return this.#use((admin) => endsOf(admin, topics));
  }

  async close(): Promise<void> {
    const admin = this.#admin;
    this.#admin = undefined;
    if (admin !== undefined) await (await admin.catch(() => undefined))?.disconnect();
  }

  async #use<T>(read: (admin: Admin) => Promise<T>): Promise<T> {
    this.#admin ??= (async () => {
      const admin = createKafka({ brokers: this.#brokers, clientId: this.#clientId, logger: silentLogger }).admin();
      await admin.connect();
      return admin;
    })();
    try {
      return await read(await this.#admin);
    } catch (error) {
      await this.close();
      throw error;
    }
  }
}
