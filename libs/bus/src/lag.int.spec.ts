import { afterEach, describe, expect, it } from 'vitest';
import { sampleEvent } from '@writ/contracts/testing';
import { testKafkaBrokers, uniqueName, waitFor } from '@writ/testing';
import { EventConsumer } from './consumer.ts';
import { LagReader, groupLag } from './lag.ts';
import { silentLogger } from './logger.ts';
import { EventProducer } from './producer.ts';
import { createTestTopics } from './testing/index.ts';

const brokers = testKafkaBrokers();
const running: { stop(): Promise<void> }[] = [];

afterEach(async () => {
  await Promise.all(running.splice(0).map((r) => r.stop()));
});

describe('LagReader against a real broker', () => {
  it("reads a group's lag as groupLag does, on one connection, before and after the group caught up, and again after close", async () => {
    const topic = uniqueName('lag');
    const groupId = `g_${topic}`;
    await createTestTopics(brokers, [{ name: topic, partitions: 2 }, { name: `${groupId}.dlq` }]);
    const producer = new EventProducer({ brokers, clientId: 'lag-test' });
    await producer.connect();
    running.push({ stop: () => producer.disconnect() });
    await producer.send(
      Array.from({ length: 5 }, (_, i) => ({ type: 'ActionProposed' as const, topic, payload: sampleEvent('ActionProposed', { run_id: `run-${i}` }) })),
    );

    const reader = new LagReader(brokers, `${groupId}.lag`);
    running.push({ stop: () => reader.close() });
    // No committed offset yet: the whole topic is behind.
    const before = await reader.groupLag(groupId, [topic]);
    expect(before.behind).toBe(5);
    expect(before).toEqual(await groupLag(brokers, groupId, [topic]));
    expect((await reader.partitionEnds([topic])).reduce((sum, p) => sum + p.end - p.start, 0)).toBe(5);

    let read = 0;
    const consumer = new EventConsumer({ brokers, groupId, topics: [topic], fromBeginning: true, logger: silentLogger, handler: () => void (read += 1) });
    await consumer.start();
    running.push(consumer);
    const caughtUp = await waitFor(async () => (await reader.groupLag(groupId, [topic])).behind === 0 || undefined, {
      timeoutMs: 20_000,
      what: 'the group committed every record',
    });
    expect(caughtUp).toBe(true);
    expect(read).toBe(5);

    await reader.close();
    // A closed reader connects again at its next read.
    expect((await reader.groupLag(groupId, [topic])).partitions.reduce((sum, p) => sum + (p.committed ?? 0), 0)).toBe(5);
  });
});
