import { afterEach, describe, expect, it } from 'vitest';
import { sampleEvent } from '@writ/contracts/testing';
import { testKafkaBrokers, uniqueName, waitFor } from '@writ/testing';
import { EventConsumer } from './consumer.ts';
import { silentLogger } from './logger.ts';
import { EventProducer } from './producer.ts';
import { createTestTopics } from './testing/index.ts';
import { runTransactional } from './transactional.ts';
import type { TransactionalProcessor } from './transactional.ts';

// A fatal client error must reach the owner (by default: the process exits, so a supervisor starts
// a fresh one). Before, the KafkaJS layer logged "Retrying" forever and the consumer never consumed
// again inside a process that still answered ready. The way to provoke one on demand: a second
// static member with the same group.instance.id fences the first (what a broker restart longer than
// the session timeout also ends in).

const brokers = testKafkaBrokers();
const stoppable: { stop(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(stoppable.splice(0).map((s) => s.stop()));
});

async function topicWithOneEvent(prefix: string) {
  const topic = uniqueName(prefix);
  const groupId = `g_${topic}`;
  await createTestTopics(brokers, [{ name: topic }, { name: `${groupId}.dlq` }]);
  return { topic, groupId };
}

async function produceOne(topic: string): Promise<string> {
  const producer = new EventProducer({ brokers, clientId: 'fatal-input' });
  await producer.connect();
  const payload = sampleEvent('ActionProposed');
  await producer.send([{ type: 'ActionProposed', topic, payload }]);
  await producer.disconnect();
  return payload.meta.event_id;
}

describe('fatal Kafka client errors against a real broker', () => {
  it('tells an EventConsumer fenced by another member with its group.instance.id, stops it, and the newcomer consumes', async () => {
    const { topic, groupId } = await topicWithOneEvent('fatal_consumer');
    const fatal: unknown[] = [];
    const seenBySecond: string[] = [];
    const first = new EventConsumer({
      brokers,
      groupId,
      topics: [topic],
      instanceId: 'same',
      logger: silentLogger,
      handler: () => undefined,
      onFatal: (error) => fatal.push(error),
    });
    stoppable.push(first);
    await first.start();
    await waitFor(() => first.assignment().length === 1, { what: 'the first member assigned', timeoutMs: 30_000 });

    const second = new EventConsumer({
      brokers,
      groupId,
      topics: [topic],
      instanceId: 'same',
      logger: silentLogger,
      handler: (event) => {
        seenBySecond.push(event.payload.meta.event_id);
      },
      onFatal: (error) => fatal.push(new Error(`the newcomer was fenced: ${String(error)}`)),
    });
    stoppable.push(second);
    await second.start();

    await waitFor(() => fatal.length > 0, { what: 'the first member told it is fenced', timeoutMs: 30_000 });
    expect(fatal).toHaveLength(1);
    expect(String(fatal[0])).toMatch(/fatal/i);
    await waitFor(() => first.assignment().length === 0, { what: 'the fenced member stopped', timeoutMs: 15_000 });
    const eventId = await produceOne(topic);
    await waitFor(() => seenBySecond.includes(eventId), { what: 'the newcomer consuming', timeoutMs: 30_000 });
  });

  it('tells a TransactionalProcessor whose consumer was fenced the same way', async () => {
    const { topic, groupId } = await topicWithOneEvent('fatal_processor');
    const fatal: unknown[] = [];
    const handled: string[] = [];
    const start = (n: number, onFatal: (error: unknown) => void): Promise<TransactionalProcessor> =>
      runTransactional({
        brokers,
        groupId,
        topics: [topic],
        instanceId: 'same',
        transactionalId: `${groupId}-tx-${n}`,
        logger: silentLogger,
        handler: (event) => {
          handled.push(event.payload.meta.event_id);
          return [];
        },
        onFatal,
      });
    const first = await start(1, (error) => fatal.push(error));
    stoppable.push(first);
    const eventId = await produceOne(topic);
    await waitFor(() => handled.includes(eventId), { what: 'the first member consuming', timeoutMs: 30_000 });
    const second = await start(2, (error) => fatal.push(new Error(`the newcomer was fenced: ${String(error)}`)));
    stoppable.push(second);

    await waitFor(() => fatal.length > 0, { what: 'the first processor told it is fenced', timeoutMs: 30_000 });
    expect(fatal).toHaveLength(1);
    expect(String(fatal[0])).not.toContain('newcomer');
  });
});
