// Boot-time reading of the run topics: what the planner published (to the end of each partition)
// and what it had consumed (up to its group's committed offsets), grouped by run, in the order
// read. Putting them in replay order is planner-core's (runHistoryOf).
import { randomUUID } from 'node:crypto';
import kafkaJavascript from '@confluentinc/kafka-javascript';
import type { Message } from '@confluentinc/kafka-javascript';
import { connectionSasl, contractsSerde, createKafka, saslProperties, silentLogger } from '@writ/bus';
import type { BusLogger } from '@writ/bus';
import type { Metadata } from '@writ/contracts';
import { WritError } from '@writ/errors';
import type { RecordedEvent } from '@writ/planner-core';

const { KafkaConsumer } = kafkaJavascript;
const { IsolationLevel } = kafkaJavascript.KafkaJS;

/** One record of the history, decoded, with the topic it came from. */
export interface HistoryRecord extends RecordedEvent {
  readonly topic: string;
}

export interface ReadHistoryOptions {
  readonly brokers: readonly string[];
  readonly groupId: string;
  readonly topics: readonly string[];
  readonly isOwn: (type: string, meta: Metadata) => boolean;
  readonly inScope: (meta: Metadata) => boolean;
  /**
   * Unused since the read ends at the consumer's position (a partition whose last offsets are
   * transaction markers ends too); kept so that PLANNER_REPLAY_IDLE_MS stays accepted.
   */
  readonly idleMs: number;
  readonly timeoutMs: number;
  readonly logger?: BusLogger;
}

type Bounds = Map<string, { low: bigint; high: bigint }>;

const tp = (topic: string, partition: number): string => `${topic}:${partition}`;
const topicOf = (key: string): string => key.slice(0, key.lastIndexOf(':'));
const partitionOf = (key: string): number => Number(key.slice(key.lastIndexOf(':') + 1));

async function offsetsOf(options: ReadHistoryOptions): Promise<{ committed: Map<string, bigint>; bounds: Bounds }> {
  const admin = createKafka({ brokers: options.brokers, clientId: `${options.groupId}.replay-admin`, logger: options.logger ?? silentLogger }).admin();
  await admin.connect();
  try {
    const committed = new Map<string, bigint>();
    const fetched = await admin.fetchOffsets({ groupId: options.groupId, topics: [...options.topics], requireStableOffsets: true });
    for (const topic of fetched) {
      for (const p of topic.partitions) committed.set(tp(topic.topic, p.partition), BigInt(p.offset));
    }
    const bounds: Bounds = new Map();
    for (const topic of options.topics) {
      const offsets = await admin.fetchTopicOffsets(topic, { isolationLevel: IsolationLevel.READ_COMMITTED });
      for (const o of offsets) bounds.set(tp(topic, o.partition), { low: BigInt(o.low), high: BigInt(o.high) });
    }
    return { committed, bounds };
  } finally {
    await admin.disconnect();
  }
}

/**
 * Reads every partition of `topics` from its start to its last stable offset (read_committed),
 * keeping the records in scope, grouped by run in the order read. Records are marked `consumed`
 * when the group had committed past them, and `own` when the planner published them.
 */
export async function readHistory(options: ReadHistoryOptions): Promise<Map<string, HistoryRecord[]>> {
  const { committed, bounds } = await offsetsOf(options);
  const runs = new Map<string, HistoryRecord[]>();
  const pending = [...bounds].filter(([, b]) => b.high > b.low);
  if (pending.length === 0) return runs;

  const keep = (topic: string, partition: number, message: { offset: bigint; value: Buffer | null; timestamp: number | undefined }): void => {
    if (message.value === null) return;
    let decoded;
    try {
      decoded = contractsSerde.decode(message.value);
    } catch {
      return; // poison: it went to the dead-letter queue when it first came
    }
    const meta = decoded.payload.meta;
    if (!options.inScope(meta)) return;
    let run = runs.get(meta.run_id);
    if (run === undefined) {
      run = [];
      runs.set(meta.run_id, run);
    }
    run.push({
      event: decoded,
      meta,
      topic,
      topicIndex: options.topics.indexOf(topic),
      partition,
      offset: message.offset,
      timestamp: Number(message.timestamp) || meta.occurred_at,
      own: options.isOwn(decoded.type, meta),
      consumed: message.offset < (committed.get(tp(topic, partition)) ?? 0n),
    });
  };

  // A partition is read once the consumer's position reached its last stable offset. Not once a
  // record at the end was seen: the last offsets of a transactional topic are often a commit
  // marker, never delivered, and while the planner is down nothing new comes after it on its own
  // output topics; waiting for silence instead never ends while the gateway keeps proposing.
  const consumer = new KafkaConsumer({
    'bootstrap.servers': options.brokers.join(','),
    ...saslProperties(connectionSasl({})),
    'client.id': `${options.groupId}.replay`,
    // Never joined or committed; named under the planner's group prefix, which its ACLs allow.
    'group.id': `${options.groupId}.replay.${randomUUID()}`,
    'enable.auto.commit': false,
    'enable.auto.offset.store': false,
    'isolation.level': 'read_committed',
    'enable.partition.eof': true,
    'allow.auto.create.topics': false,
    'fetch.wait.max.ms': 50,
  });
  await new Promise<void>((resolve, reject) => {
    consumer.connect({ timeout: 10_000 }, (error) =>
      error ? reject(new WritError('PLANNER_REPLAY_FAILED', `cannot connect to read the run topics: ${error.message}`, { retriable: true })) : resolve(),
    );
  });
  const remaining = new Map(pending.map(([key, b]) => [key, b.high]));
  try {
    consumer.assign(pending.map(([key, b]) => ({ topic: topicOf(key), partition: partitionOf(key), offset: Number(b.low) })));
    const deadline = Date.now() + options.timeoutMs;
    while (remaining.size > 0) {
      if (Date.now() > deadline) {
        throw new WritError('PLANNER_REPLAY_TIMEOUT', `reading the run topics at boot took over ${options.timeoutMs} ms (${remaining.size} partitions unfinished)`, {
          field: 'PLANNER_REPLAY_TIMEOUT_MS',
          rule: 'long enough to read the run topics',
          retriable: true,
        });
      }
      const batch = await new Promise<Message[]>((resolve, reject) => {
        consumer.consume(500, (error, messages) => (error ? reject(error) : resolve(messages)));
      });
      for (const message of batch) {
        const end = remaining.get(tp(message.topic, message.partition)) ?? bounds.get(tp(message.topic, message.partition))?.high;
        const offset = BigInt(message.offset);
        // Records beyond the end were written after the read began: the live consumer gets them.
        if (end === undefined || offset >= end) continue;
        keep(message.topic, message.partition, { offset, value: message.value ?? null, timestamp: message.timestamp });
      }
      for (const position of consumer.position([...remaining.keys()].map((key) => ({ topic: topicOf(key), partition: partitionOf(key) })))) {
        const key = tp(position.topic, position.partition);
        const end = remaining.get(key);
        if (end !== undefined && typeof position.offset === 'number' && BigInt(position.offset) >= end) remaining.delete(key);
      }
    }
  } finally {
    await new Promise<void>((resolve) => {
      consumer.disconnect(() => resolve());
    });
  }
  return runs;
}
