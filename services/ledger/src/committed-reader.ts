// Tails a topic as a read_committed consumer sees it, by explicit assignment (no consumer group
// offsets): the projection follows the chain topic with it. Boot-time rebuilds use replayCommitted.
import kafkaJavascript from '@confluentinc/kafka-javascript';
import type { Message } from '@confluentinc/kafka-javascript';
import { DEFAULT_FETCH_WAIT_MS, connectionSasl, saslProperties } from '@writ/bus';
import { WritError } from '@writ/errors';

const { KafkaConsumer } = kafkaJavascript;

export interface CommittedRecord {
  readonly partition: number;
  readonly offset: number;
  readonly value: Buffer | null;
}

export class CommittedReader {
  readonly #consumer: InstanceType<typeof KafkaConsumer>;
  readonly #topic: string;
  readonly #partitions: number[];

  private constructor(consumer: InstanceType<typeof KafkaConsumer>, topic: string, partitions: number[]) {
    this.#consumer = consumer;
    this.#topic = topic;
    this.#partitions = partitions;
  }

  /** Connects and assigns every partition of `topic` at the given offsets. */
  static async open(brokers: readonly string[], topic: string, starts: ReadonlyMap<number, number>, clientId: string): Promise<CommittedReader> {
    const consumer = new KafkaConsumer({
      'bootstrap.servers': brokers.join(','),
      ...saslProperties(connectionSasl({})),
      'client.id': clientId,
      'group.id': `${clientId}.${process.pid}.${Date.now()}`,
      'enable.auto.commit': false,
      'enable.auto.offset.store': false,
      'isolation.level': 'read_committed',
      'allow.auto.create.topics': false,
      // Answered as soon as the chain topic has new entries; the wait only bounds idle polling.
      'fetch.wait.max.ms': DEFAULT_FETCH_WAIT_MS,
    });
    await new Promise<void>((resolve, reject) => {
      consumer.connect({ timeout: 10_000 }, (error) =>
        error ? reject(new WritError('LEDGER_READ_FAILED', `cannot connect to read ${topic}: ${error.message}`, { retriable: true })) : resolve(),
      );
    });
    const partitions = [...starts.keys()].sort((a, b) => a - b);
    consumer.assign(partitions.map((partition) => ({ topic, partition, offset: starts.get(partition) ?? 0 })));
    return new CommittedReader(consumer, topic, partitions);
  }

  /** Up to `max` records; waits at most about `timeoutMs` when there is nothing. */
  poll(max: number, timeoutMs: number): Promise<CommittedRecord[]> {
    this.#consumer.setDefaultConsumeTimeout(timeoutMs);
    return new Promise((resolve, reject) => {
      this.#consumer.consume(max, (error, messages: Message[]) => {
        if (error) reject(error);
        else resolve(messages.map((m) => ({ partition: m.partition, offset: m.offset, value: m.value ?? null })));
      });
    });
  }

  /** The next offset each partition will read (transaction markers included). */
  positions(): Map<number, number> {
    const positions = new Map<number, number>();
    for (const p of this.#consumer.position(this.#partitions.map((partition) => ({ topic: this.#topic, partition })))) {
      if (typeof p.offset === 'number' && p.offset >= 0) positions.set(p.partition, p.offset);
    }
    return positions;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.#consumer.disconnect(() => resolve());
    });
  }
}
