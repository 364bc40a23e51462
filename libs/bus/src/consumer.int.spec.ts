import { afterEach, describe, expect, it } from 'vitest';
import { currentSchemaOf } from '@writ/contracts';
import { encodeWithSchema, sampleEvent } from '@writ/contracts/testing';
import { WritError } from '@writ/errors';
import { testKafkaBrokers, uniqueName, waitFor } from '@writ/testing';
import { EventConsumer } from './consumer.ts';
import type { EventHandler } from './consumer.ts';
import type { DecodedEvent } from './serde.ts';
import { silentLogger } from './logger.ts';
import { EventProducer } from './producer.ts';
import { committedOffsets, createTestTopics, endOffsets, readTopicToEnd } from './testing/index.ts';

const brokers = testKafkaBrokers();
const running: { stop(): Promise<void> }[] = [];

afterEach(async () => {
  await Promise.all(running.splice(0).map((r) => r.stop()));
});

async function setup(prefix: string) {
  const topic = uniqueName(prefix);
  const groupId = `g_${topic}`;
  const dlqTopic = `${groupId}.dlq`;
  await createTestTopics(brokers, [{ name: topic }, { name: dlqTopic }]);
  const producer = new EventProducer({ brokers, clientId: 'test-producer' });
  await producer.connect();
  running.push({ stop: () => producer.disconnect() });
  const start = async (handler: EventHandler, retry = { maxAttempts: 3, initialBackoffMs: 20, maxBackoffMs: 50 }): Promise<EventConsumer> => {
    const consumer = new EventConsumer({
      brokers,
      groupId,
      topics: [topic],
      handler,
      logger: silentLogger,
      retry,
    });
    await consumer.start();
    running.push(consumer);
    return consumer;
  };
  const good = (n: number) => ({ type: 'ActionProposed' as const, topic, payload: { ...sampleEvent('ActionProposed'), reason: `good ${n}` } });
  return { topic, groupId, dlqTopic, producer, start, good };
}

const reasonOf = (event: DecodedEvent): string => (event.type === 'ActionProposed' ? event.payload.reason : `unexpected ${event.type}`);

describe('EventConsumer against a real broker', () => {
  it('parks garbage, an unknown fingerprint and a schema-invalid payload in the DLQ and keeps consuming', async () => {
    const { topic, groupId, dlqTopic, producer, start, good } = await setup('poison');
    const valid = sampleEvent('ActionProposed');
    const garbage = Buffer.from('definitely not avro');
    const unknownFingerprint = encodeWithSchema(
      { type: 'record', name: 'Stranger', namespace: 'elsewhere', fields: [{ name: 'x', type: 'string' }] },
      { x: 'hello' },
    );
    const invalid = encodeWithSchema(currentSchemaOf('ActionProposed').schema, { ...valid, args_sha256: 'not-a-digest' });

    await producer.send([good(1)]);
    await producer.sendRecords([{ topic, key: 'run-g', value: garbage }]);
    await producer.send([good(2)]);
    await producer.sendRecords([{ topic, key: 'run-f', value: unknownFingerprint, headers: { traceparent: valid.meta.trace?.traceparent ?? '' } }]);
    await producer.send([good(3)]);
    await producer.sendRecords([{ topic, key: 'run-i', value: invalid }]);
    await producer.send([good(4)]);

    const handled: string[] = [];
    await start((event) => {
      handled.push(reasonOf(event));
    });
    await waitFor(() => handled.length === 4, { what: 'the four good events', timeoutMs: 20_000 });
    expect(handled).toEqual(['good 1', 'good 2', 'good 3', 'good 4']);

    const dlq = await readTopicToEnd(brokers, dlqTopic);
    expect(dlq.map((r) => r.headers['writ-dlq-code'])).toEqual(['EVENT_UNDECODABLE', 'SCHEMA_UNKNOWN', 'EVENT_INVALID']);
    expect(dlq.map((r) => r.value)).toEqual([garbage, unknownFingerprint, invalid]);
    expect(dlq.map((r) => r.key?.toString())).toEqual(['run-g', 'run-f', 'run-i']);
    expect(dlq.map((r) => r.headers['writ-dlq-source-offset'])).toEqual(['1', '3', '5']);
    for (const record of dlq) {
      expect(record.headers).toMatchObject({ 'writ-dlq-source-topic': topic, 'writ-dlq-source-partition': '0', 'writ-dlq-group': groupId });
      expect(record.headers['writ-dlq-reason']?.length).toBeGreaterThan(0);
      expect(Date.parse(record.headers['writ-dlq-timestamp'] ?? '')).not.toBeNaN();
    }
    expect(dlq[2]?.headers['writ-dlq-reason']).toContain('args_sha256');
    expect(dlq[1]?.headers['traceparent']).toBe(valid.meta.trace?.traceparent);

    // Everything, poison included, is committed: a restart would not see any of it again.
    await waitFor(async () => (await committedOffsets(brokers, groupId, topic)).get(0) === '7', { what: 'offset 7 committed' });
  });

  it('retries retriable failures with backoff, and parks the rest with their reason and attempt count', async () => {
    const { topic, dlqTopic, producer, start, good } = await setup('retry');
    await producer.send([good(1), good(2), good(3)]);
    const attempts = new Map<string, number[]>();
    await start((event, ctx) => {
      const reason = reasonOf(event);
      attempts.set(reason, [...(attempts.get(reason) ?? []), ctx.attempt]);
      if (reason === 'good 1' && ctx.attempt < 2) throw new WritError('DOWNSTREAM_BUSY', 'try later', { retriable: true });
      if (reason === 'good 2') throw new WritError('DOWNSTREAM_BUSY', 'still busy', { retriable: true });
      if (reason === 'good 3') throw new WritError('ARGS_INVALID', 'amount must not be negative', { field: 'amount' });
    });
    const dlq = await waitFor(
      async () => {
        const records = await readTopicToEnd(brokers, dlqTopic);
        return records.length === 2 ? records : undefined;
      },
      { what: 'two dead letters', timeoutMs: 20_000, intervalMs: 500 },
    );
    expect(attempts.get('good 1')).toEqual([1, 2]);
    expect(attempts.get('good 2')).toEqual([1, 2, 3]);
    expect(attempts.get('good 3')).toEqual([1]);
    expect(dlq.map((r) => [r.headers['writ-dlq-code'], r.headers['writ-dlq-attempts'], r.headers['writ-dlq-reason']])).toEqual([
      ['DOWNSTREAM_BUSY', '3', 'DOWNSTREAM_BUSY: still busy'],
      ['ARGS_INVALID', '1', 'ARGS_INVALID: amount must not be negative'],
    ]);
    expect((await endOffsets(brokers, topic)).get(0)).toBe('3');
  });

  it('stops gracefully: a handler in backoff gives up and its event comes again on restart', async () => {
    const { topic, groupId, producer, start, good } = await setup('stop');
    await producer.send([good(1), good(2)]);
    const seen: string[] = [];
    const first = await start(
      (event) => {
        const reason = reasonOf(event);
        seen.push(reason);
        if (reason === 'good 2') throw new WritError('DOWNSTREAM_BUSY', 'busy', { retriable: true });
      },
      { maxAttempts: 3, initialBackoffMs: 30_000, maxBackoffMs: 30_000 },
    );
    await waitFor(() => seen.includes('good 2'), { what: 'good 2 attempted' });
    const stopping = Date.now();
    await first.stop();
    expect(Date.now() - stopping).toBeLessThan(10_000);
    expect(seen).toEqual(['good 1', 'good 2']);
    expect((await committedOffsets(brokers, groupId, topic)).get(0)).toBe('1');

    const again: string[] = [];
    await start((event) => {
      again.push(reasonOf(event));
    });
    await waitFor(() => again.length === 1, { what: 'good 2 redelivered' });
    expect(again).toEqual(['good 2']);
  });

  it('refuses to start, naming them, when its topics or its DLQ do not exist', async () => {
    const topic = uniqueName('nodlq');
    await createTestTopics(brokers, [{ name: topic }]);
    const consumer = new EventConsumer({ brokers, groupId: `g_${topic}`, topics: [topic, `${topic}_absent`], handler: () => undefined, logger: silentLogger });
    const failure = consumer.start();
    await expect(failure).rejects.toMatchObject({ code: 'TOPIC_MISSING', details: { missing: [`${topic}_absent`, `g_${topic}.dlq`] } });
    await consumer.stop();
  });

  it('handles several messages of one partition at once with messagesInFlight, in offset order, and commits them all', async () => {
    const { topic, groupId, producer, good } = await setup('inflight');
    await producer.send(Array.from({ length: 60 }, (_, i) => good(i)));
    const started: string[] = [];
    let inFlight = 0;
    let most = 0;
    const consumer = new EventConsumer({
      brokers,
      groupId,
      topics: [topic],
      logger: silentLogger,
      messagesInFlight: 8,
      commitIntervalMs: 0,
      handler: async (event) => {
        started.push(reasonOf(event));
        inFlight += 1;
        most = Math.max(most, inFlight);
        await new Promise((resolve) => setTimeout(resolve, 20));
        inFlight -= 1;
      },
    });
    await consumer.start();
    running.push(consumer);
    await waitFor(async () => (await committedOffsets(brokers, groupId, topic)).get(0) === '60', { what: 'all 60 handled and committed', timeoutMs: 30_000 });
    expect(started).toEqual(Array.from({ length: 60 }, (_, i) => `good ${i}`));
    // The client's batches grow with the rate it sees: once they hold several messages, they overlap.
    expect(most).toBeGreaterThan(1);
    expect(most).toBeLessThanOrEqual(8);
  });
});
