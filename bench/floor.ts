// The floor the pipeline is measured against: a bare chain of Kafka hops with the same client
// (@writ/bus over @confluentinc/kafka-javascript), the same durability (acks=all, idempotent) and
// events of the same size (real Avro ActionProposed/ActionAdmitted), with nothing else in it: no
// decision, no state, no spans exported. One event at a time goes source → hop 1 → ... → sink and
// the time from send to the sink's handler is measured. With `transactional`, each hop is a
// TransactionalProcessor (read_committed, outputs and offsets in one transaction) as the planner's
// and the accountant's hops are; otherwise a plain consumer that sends on with an idempotent producer.
import { EventConsumer, EventProducer, TransactionalProcessor, silentLogger } from '@writ/bus';
import type { DecodedEvent, OutgoingEvent } from '@writ/bus';
import { createTestTopics } from '@writ/bus/testing';
import { sampleEvent } from '@writ/contracts/testing';
import { percentile } from './bench-doc.ts';

export interface FloorOptions {
  readonly brokers: readonly string[];
  /** Kafka hops from the first send to the sink (each hop: one produce, one consume). */
  readonly hops: number;
  readonly transactional: boolean;
  readonly samples: number;
  /** Samples taken before measuring (connections, metadata and the first fetches warm up). */
  readonly warmup?: number;
  /** Distinguishes the topics and groups of one chain from another's. */
  readonly label: string;
}

export interface FloorResult {
  readonly hops: number;
  readonly transactional: boolean;
  readonly count: number;
  readonly p50: number;
  readonly p99: number;
}

interface Stoppable {
  stop(): Promise<void>;
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Measures one chain; creates its topics (3 partitions, as Writ's) and removes nothing. */
export async function kafkaChainFloor(options: FloorOptions): Promise<FloorResult> {
  const { brokers, hops, transactional } = options;
  const id = `floor_${options.label}_${Date.now()}`;
  const topics = Array.from({ length: hops }, (_, i) => `${id}_t${i}`);
  const groups = Array.from({ length: hops }, (_, i) => `${id}_g${i}`);
  await createTestTopics(brokers, [...topics.map((name) => ({ name, partitions: 3 })), ...groups.map((g) => ({ name: `${g}.dlq` }))]);
  // Hop i consumes topic i-1 and produces to topic i; the sink consumes the last topic.
  const arrived = new Map<string, number>();
  const stages: Stoppable[] = [];
  const producers: EventProducer[] = [];
  const forward = (event: DecodedEvent, topic: string): OutgoingEvent[] =>
    event.type === 'ActionAdmitted' ? [{ type: 'ActionAdmitted', topic, payload: event.payload }] : [];
  try {
    for (let i = 1; i < hops; i += 1) {
      const input = topics[i - 1] ?? '';
      const output = topics[i] ?? '';
      const groupId = groups[i] ?? '';
      if (transactional) {
        const processor = new TransactionalProcessor({
          brokers,
          groupId,
          topics: [input],
          transactionalId: `${groupId}.tx`,
          logger: silentLogger,
          handler: (event) => forward(event, output),
        });
        await processor.start();
        stages.push(processor);
      } else {
        const producer = new EventProducer({ brokers, clientId: `${groupId}.out` });
        await producer.connect();
        producers.push(producer);
        const consumer = new EventConsumer({
          brokers,
          groupId,
          topics: [input],
          logger: silentLogger,
          handler: async (event) => {
            await producer.send(forward(event, output));
          },
        });
        await consumer.start();
        stages.push(consumer);
      }
    }
    const sink = new EventConsumer({
      brokers,
      groupId: groups[0] ?? '',
      topics: [topics[hops - 1] ?? ''],
      logger: silentLogger,
      rdkafka: { 'isolation.level': 'read_committed' },
      handler: (event) => {
        if (event.type === 'ActionAdmitted') arrived.set(event.payload.meta.event_id, performance.now());
      },
    });
    await sink.start();
    stages.push(sink);
    const source = new EventProducer({ brokers, clientId: `${id}.source` });
    await source.connect();
    producers.push(source);
    // Every group must own its partitions before the clock starts.
    await pause(6_000);
    const warmup = options.warmup ?? 20;
    const latencies: number[] = [];
    for (let n = 0; n < warmup + options.samples; n += 1) {
      const payload = sampleEvent('ActionAdmitted', { run_id: `floor-run-${n % 12}` });
      const t0 = performance.now();
      await source.send([{ type: 'ActionAdmitted', topic: topics[0] ?? '', payload }]);
      const deadline = Date.now() + 10_000;
      while (!arrived.has(payload.meta.event_id)) {
        if (Date.now() > deadline) throw new Error(`floor: event ${n} did not cross ${hops} hops within 10 s`);
        await pause(0.2);
      }
      if (n >= warmup) latencies.push((arrived.get(payload.meta.event_id) ?? t0) - t0);
      await pause(5);
    }
    const sorted = latencies.sort((a, b) => a - b);
    return { hops, transactional, count: sorted.length, p50: percentile(sorted, 50), p99: percentile(sorted, 99) };
  } finally {
    for (const stage of stages) await stage.stop().catch(() => undefined);
    for (const producer of producers) await producer.disconnect().catch(() => undefined);
  }
}
