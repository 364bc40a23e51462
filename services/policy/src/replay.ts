// Reads topics from the beginning to the last stable offset they had when the read began, as a
// read_committed consumer sees them, by explicit assignment (no group offsets). A partition is done
// when the consumer's position reaches its end: transaction markers take offsets too, so the last
// record seen is not a reliable end.
import kafkaJavascript from '@confluentinc/kafka-javascript';
import type { Message } from '@confluentinc/kafka-javascript';
import { createKafka, silentLogger } from '@writ/bus';
import { WritError } from '@writ/errors';

const { KafkaConsumer } = kafkaJavascript;
const { IsolationLevel } = kafkaJavascript.KafkaJS;

interface Bound {
  readonly topic: string;
  readonly partition: number;
  readonly start: number;
  readonly end: number;
}

async function bounds(brokers: readonly string[], topics: readonly string[]): Promise<Bound[]> {
  const admin = createKafka({ brokers, clientId: 'writ.policy.replay', logger: silentLogger }).admin();
  await admin.connect();
  try {
    const all: Bound[] = [];
    for (const topic of topics) {
      const offsets = await admin.fetchTopicOffsets(topic, { isolationLevel: IsolationLevel.READ_COMMITTED });
      for (const o of offsets) all.push({ topic, partition: o.partition, start: Number(o.low), end: Number(o.high) });
    }
    return all;
  } finally {
    await admin.disconnect();
  }
}

/** Hands every committed record's value to onRecord, partition by partition in offset order. */
export async function replayTopics(
  brokers: readonly string[],
  topics: readonly string[],
  onRecord: (value: Buffer, topic: string) => void,
  timeoutMs: number,
): Promise<number> {
  const pending = new Map((await bounds(brokers, topics)).filter((b) => b.end > b.start).map((b) => [`${b.topic}|${b.partition}`, b]));
  if (pending.size === 0) return 0;
  const all = [...pending.values()];
  const consumer = new KafkaConsumer({
    'bootstrap.servers': brokers.join(','),
    'client.id': 'writ.policy.replay',
    'group.id': `writ.policy.replay.${process.pid}.${Date.now()}`,
    'enable.auto.commit': false,
    'enable.auto.offset.store': false,
    'isolation.level': 'read_committed',
    'allow.auto.create.topics': false,
    'fetch.wait.max.ms': 50,
  });
  await new Promise<void>((resolve, reject) => {
    consumer.connect({ timeout: 10_000 }, (error) =>
      error ? reject(new WritError('POLICY_REPLAY_FAILED', `cannot connect to replay ${topics.join(', ')}: ${error.message}`, { retriable: true })) : resolve(),
    );
  });
  let count = 0;
  try {
    consumer.assign(all.map((b) => ({ topic: b.topic, partition: b.partition, offset: b.start })));
    consumer.setDefaultConsumeTimeout(200);
    const deadline = Date.now() + timeoutMs;
    while (pending.size > 0) {
      if (Date.now() > deadline) {
        const left = [...pending.values()].map((b) => `${b.topic}[${b.partition}] to ${b.end}`).join(', ');
        throw new WritError('POLICY_REPLAY_TIMEOUT', `replaying ${topics.join(', ')} took over ${timeoutMs} ms; not read yet: ${left}`, {
          retriable: true,
        });
      }
      const batch = await new Promise<Message[]>((resolve, reject) => {
        consumer.consume(1000, (error, messages) => (error ? reject(error) : resolve(messages)));
      });
      for (const message of batch) {
        const bound = pending.get(`${message.topic}|${message.partition}`);
        // Records past the end belong to the live consumer.
        if (bound === undefined || message.offset >= bound.end || message.value === null || message.value === undefined) continue;
        count += 1;
        onRecord(message.value, message.topic);
      }
      for (const position of consumer.position(all.map((b) => ({ topic: b.topic, partition: b.partition })))) {
        const key = `${position.topic}|${position.partition}`;
        const bound = pending.get(key);
        if (bound !== undefined && typeof position.offset === 'number' && position.offset >= bound.end) pending.delete(key);
      }
    }
  } finally {
    await new Promise<void>((resolve) => {
      consumer.disconnect(() => resolve());
    });
  }
  return count;
}
