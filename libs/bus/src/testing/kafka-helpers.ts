import { randomUUID } from 'node:crypto';
import kafkaJavascript from '@confluentinc/kafka-javascript';
import { WritError } from '@writ/errors';
import { normalizeHeaders } from '../headers.ts';
import { createKafka } from '../kafka.ts';
import { topicMetadata } from '../topology.ts';

const { IsolationLevel } = kafkaJavascript.KafkaJS;

export interface TestTopic {
  readonly name: string;
  readonly partitions?: number;
  readonly configs?: Readonly<Record<string, string>>;
}

/** Creates topics for one test (replication 1, as on the local broker). */
export async function createTestTopics(brokers: readonly string[], topics: readonly TestTopic[]): Promise<void> {
  const admin = createKafka({ brokers, clientId: 'writ-test-admin' }).admin();
  await admin.connect();
  try {
    await admin.createTopics({
      topics: topics.map((t) => ({
        topic: t.name,
        numPartitions: t.partitions ?? 1,
        replicationFactor: 1,
        configEntries: Object.entries(t.configs ?? {}).map(([name, value]) => ({ name, value })),
      })),
    });
    // Usable once the broker answering metadata requests knows them too.
    await topicMetadata(
      admin,
      topics.map((t) => t.name),
      15_000,
    );
  } finally {
    await admin.disconnect();
  }
}

/** The committed offset of `groupId` per partition of `topic` ('-1' when none). */
export async function committedOffsets(brokers: readonly string[], groupId: string, topic: string): Promise<Map<number, string>> {
  const admin = createKafka({ brokers, clientId: 'writ-test-admin' }).admin();
  await admin.connect();
  try {
    const [result] = await admin.fetchOffsets({ groupId, topics: [topic] });
    return new Map((result?.partitions ?? []).map((p) => [p.partition, p.offset]));
  } finally {
    await admin.disconnect();
  }
}

/** The end offset (next offset to be written) of every partition of `topic`. */
export async function endOffsets(brokers: readonly string[], topic: string): Promise<Map<number, string>> {
  const admin = createKafka({ brokers, clientId: 'writ-test-admin' }).admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchTopicOffsets(topic, { isolationLevel: IsolationLevel.READ_UNCOMMITTED });
    return new Map(offsets.map((o) => [o.partition, o.high]));
  } finally {
    await admin.disconnect();
  }
}

export interface ReadRecord {
  readonly partition: number;
  readonly offset: string;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers: Record<string, string>;
}

const SENTINEL_HEADER = 'writ-test-sentinel';

/**
 * Everything a topic holds, as a reader with the given isolation sees it. To know where "the end"
 * is without guessing from offsets (transaction markers take offsets too), a sentinel record is
 * appended to every partition; reading stops once each partition's sentinel has been seen, and
 * the sentinels are left out of the result.
 */
export async function readTopicToEnd(
  brokers: readonly string[],
  topic: string,
  options: { readCommitted?: boolean; timeoutMs?: number } = {},
): Promise<ReadRecord[]> {
  const kafka = createKafka({ brokers, clientId: 'writ-test-reader' });
  const admin = kafka.admin();
  await admin.connect();
  const offsets = await admin.fetchTopicOffsets(topic, { isolationLevel: IsolationLevel.READ_UNCOMMITTED }).finally(() => admin.disconnect());
  const partitions = offsets.map((o) => o.partition);

  const sentinel = randomUUID();
  const producer = kafka.producer({ 'linger.ms': 0, kafkaJS: { acks: -1, idempotent: true } });
  await producer.connect();
  try {
    await producer.sendBatch({
      topicMessages: [{ topic, messages: partitions.map((partition) => ({ partition, value: null, headers: { [SENTINEL_HEADER]: sentinel } })) }],
    });
  } finally {
    await producer.disconnect();
  }

  const records: ReadRecord[] = [];
  const seen = new Set<number>();
  const consumer = kafka.consumer({
    'isolation.level': options.readCommitted === false ? 'read_uncommitted' : 'read_committed',
    kafkaJS: { groupId: `writ-test-reader-${sentinel}`, fromBeginning: true, autoCommit: false },
  });
  await consumer.connect();
  try {
    let done: () => void = () => undefined;
    const finished = new Promise<void>((resolve) => {
      done = resolve;
    });
    await consumer.subscribe({ topics: [topic] });
    await consumer.run({
      eachMessage: ({ partition, message }) => {
        const headers = normalizeHeaders(message.headers);
        if (headers[SENTINEL_HEADER] !== undefined) {
          if (headers[SENTINEL_HEADER] === sentinel) seen.add(partition);
          if (seen.size === partitions.length) done();
        } else {
          records.push({ partition, offset: message.offset, key: message.key, value: message.value, headers });
        }
        return Promise.resolve();
      },
    });
    const timeoutMs = options.timeoutMs ?? 20_000;
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<'expired'>((resolve) => {
      timer = setTimeout(() => resolve('expired'), timeoutMs);
    });
    const outcome = await Promise.race([finished, expired]).finally(() => clearTimeout(timer));
    if (outcome === 'expired') {
      throw new WritError(
        'WAIT_TIMEOUT',
        `reading ${topic} to its end took over ${timeoutMs} ms (${seen.size}/${partitions.length} partitions done, ${records.length} records)`,
      );
    }
  } finally {
    await consumer.disconnect();
  }
  return records.sort((a, b) => a.partition - b.partition || Number(BigInt(a.offset) - BigInt(b.offset)));
}
