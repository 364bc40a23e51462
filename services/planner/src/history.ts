// Boot-time reading of the run topics: what the planner published (to the end of each partition)
// and what it had consumed (up to its group's committed offsets), grouped by run, in the order
// read. Putting them in replay order is planner-core's (runHistoryOf).
import { randomUUID } from 'node:crypto';
import kafkaJavascript from '@confluentinc/kafka-javascript';
import { contractsSerde, createKafka, silentLogger } from '@writ/bus';
import type { BusLogger } from '@writ/bus';
import type { Metadata } from '@writ/contracts';
import { WritError } from '@writ/errors';
import type { RecordedEvent } from '@writ/planner-core';

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
  /** A partition whose remaining offsets are only transaction markers or aborted records ends after this much silence. */
  readonly idleMs: number;
  readonly timeoutMs: number;
  readonly logger?: BusLogger;
}

type Bounds = Map<string, { low: bigint; high: bigint }>;

const tp = (topic: string, partition: number): string => `${topic}:${partition}`;

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
  const pending = new Set([...bounds].filter(([, b]) => b.high > b.low).map(([key]) => key));
  if (pending.size === 0) return runs;

  const kafka = createKafka({ brokers: options.brokers, clientId: `${options.groupId}.replay`, logger: options.logger ?? silentLogger });
  const consumer = kafka.consumer({
    'isolation.level': 'read_committed',
    kafkaJS: { groupId: `${options.groupId}.replay.${randomUUID()}`, fromBeginning: true, autoCommit: false },
  });
  let lastMessageAt = 0;
  let assignedAt = 0;
  const keep = (topic: string, partition: number, message: { offset: string; value: Buffer | null; timestamp: string }): void => {
    const offset = BigInt(message.offset);
    const key = tp(topic, partition);
    const bound = bounds.get(key);
    if (bound !== undefined && offset + 1n >= bound.high) pending.delete(key);
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
      offset,
      timestamp: Number(message.timestamp) || meta.occurred_at,
      own: options.isOwn(decoded.type, meta),
      consumed: offset < (committed.get(key) ?? 0n),
    });
  };

  await consumer.connect();
  try {
    let finish: () => void = () => undefined;
    const finished = new Promise<void>((resolve) => {
      finish = resolve;
    });
    await consumer.subscribe({ topics: [...options.topics] });
    await consumer.run({
      eachBatch: ({ batch }) => {
        lastMessageAt = Date.now();
        for (const message of batch.messages) keep(batch.topic, batch.partition, message);
        if (pending.size === 0) finish();
        return Promise.resolve();
      },
    });
    const started = Date.now();
    await new Promise<void>((resolve, reject) => {
      const tick = setInterval(() => {
        const now = Date.now();
        if (assignedAt === 0 && consumer.assignment().length > 0) assignedAt = now;
        const quietSince = Math.max(lastMessageAt, assignedAt);
        if (pending.size === 0 || (assignedAt > 0 && now - quietSince >= options.idleMs)) {
          clearInterval(tick);
          resolve();
        } else if (now - started > options.timeoutMs) {
          clearInterval(tick);
          reject(
            new WritError('PLANNER_REPLAY_TIMEOUT', `reading the run topics at boot took over ${options.timeoutMs} ms (${pending.size} partitions unfinished)`, {
              field: 'PLANNER_REPLAY_TIMEOUT_MS',
              rule: 'long enough to read the run topics',
              retriable: true,
            }),
          );
        }
      }, 50);
      void finished.then(() => {
        clearInterval(tick);
        resolve();
      });
    });
  } finally {
    await consumer.disconnect();
  }
  return runs;
}
