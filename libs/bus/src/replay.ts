// Reads topics from the beginning up to their last stable offset, as a read_committed consumer
// sees them: every committed record, nothing of an aborted or still-open transaction. The end is
// fixed when the read starts (the LSO per partition, from ListOffsets with READ_COMMITTED) and a
// partition is done once the consumer's position reaches it (transaction markers take offsets too,
// so the last record seen is not a reliable end; the position is). Services that keep their state
// in memory rebuild it with this at boot (budget, policy).
import kafkaJavascript from '@confluentinc/kafka-javascript';
import type { Message } from '@confluentinc/kafka-javascript';
import { connectionSasl } from './kafka.ts';
import { saslProperties } from './sasl.ts';
import { partitionEnds } from './lag.ts';
import { WritError } from '@writ/errors';

const { KafkaConsumer } = kafkaJavascript;

export interface ReplayRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly value: Buffer | null;
  /** The record's timestamp (ms), when the broker gave one. */
  readonly timestamp: number | undefined;
}

/**
 * Calls onRecord for every committed record of the topics, partition by partition in offset order
 * (partitions interleave). Resolves when every partition's position reached the end it had when
 * the read began; rejects with REPLAY_TIMEOUT after timeoutMs.
 */
export async function replayCommitted(
  brokers: readonly string[],
  topics: readonly string[],
  onRecord: (record: ReplayRecord) => void,
  options: { readonly timeoutMs?: number; readonly clientId?: string } = {},
): Promise<{ readonly records: number }> {
  const pending = (await partitionEnds(brokers, topics, 'writ-replay-admin')).filter((p) => p.end > p.start);
  if (pending.length === 0) return { records: 0 };
  const consumer = new KafkaConsumer({
    'bootstrap.servers': brokers.join(','),
    ...saslProperties(connectionSasl({})),
    'client.id': options.clientId ?? 'writ-replay',
    // Never joined or committed, but named under the caller's prefix (its client id) so that the
    // broker's ACLs, which give each service only its own group prefix, allow the coordinator lookup.
    'group.id': `${options.clientId ?? 'writ-replay'}.${process.pid}-${Date.now()}`,
    'enable.auto.commit': false,
    'enable.auto.offset.store': false,
    'isolation.level': 'read_committed',
    'enable.partition.eof': true,
    'allow.auto.create.topics': false,
    'fetch.wait.max.ms': 50,
  });
  await new Promise<void>((resolve, reject) => {
    consumer.connect({ timeout: 10_000 }, (error) =>
      error ? reject(new WritError('REPLAY_FAILED', `cannot connect to replay ${topics.join(', ')}: ${error.message}`, { retriable: true })) : resolve(),
    );
  });
  const remaining = new Map(pending.map((p) => [`${p.topic}|${p.partition}`, p]));
  let records = 0;
  try {
    consumer.assign(pending.map((p) => ({ topic: p.topic, partition: p.partition, offset: p.start })));
    const deadline = Date.now() + (options.timeoutMs ?? 60_000);
    const markDone = (): void => {
      const positions = consumer.position(pending.map((p) => ({ topic: p.topic, partition: p.partition })));
      for (const position of positions) {
        const key = `${position.topic}|${position.partition}`;
        const end = remaining.get(key);
        if (end !== undefined && typeof position.offset === 'number' && position.offset >= end.end) remaining.delete(key);
      }
    };
    while (remaining.size > 0) {
      if (Date.now() > deadline) {
        const left = [...remaining.values()].map((p) => `${p.topic}[${p.partition}] to ${p.end}`).join(', ');
        throw new WritError('REPLAY_TIMEOUT', `replaying ${topics.join(', ')} took over ${options.timeoutMs ?? 60_000} ms; not yet read: ${left}`, {
          retriable: true,
        });
      }
      const batch = await new Promise<Message[]>((resolve, reject) => {
        consumer.consume(500, (error, messages) => (error ? reject(error) : resolve(messages)));
      });
      for (const message of batch) {
        const key = `${message.topic}|${message.partition}`;
        const end = remaining.get(key);
        // Records beyond the end belong to the live consumer, not to the replay.
        if (end === undefined || message.offset >= end.end) continue;
        records += 1;
        onRecord({ topic: message.topic, partition: message.partition, offset: message.offset, value: message.value ?? null, timestamp: message.timestamp });
      }
      markDone();
    }
  } finally {
    await new Promise<void>((resolve) => {
      consumer.disconnect(() => resolve());
    });
  }
  return { records };
}
