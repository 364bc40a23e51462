import { SpanKind, context, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor, StackContextManager, TracerProvider } from '@opentelemetry/sdk-trace';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVENT_TYPES, TOPICS, partitionKeyOf } from '@writ/contracts';
import { sampleEvents } from '@writ/contracts/testing';
import { testKafkaBrokers, uniqueName, waitFor } from '@writ/testing';
import { EventConsumer } from './consumer.ts';
import type { EventContext } from './consumer.ts';
import { contractsSerde } from './contracts-serde.ts';
import { silentLogger } from './logger.ts';
import { EventProducer } from './producer.ts';
import type { DecodedEvent } from './serde.ts';
import { createTestTopics, withTopicSuffix } from './testing/index.ts';

describe('every event type over a real broker', () => {
  const brokers = testKafkaBrokers();
  const suffix = uniqueName('rt');
  const serde = withTopicSuffix(contractsSerde, suffix);
  const groupId = `g_${suffix}`;
  const topics = Object.values(TOPICS).map((topic) => `${topic}_${suffix}`);
  const exporter = new InMemorySpanExporter();
  const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  const received: { event: DecodedEvent; ctx: EventContext }[] = [];
  const producer = new EventProducer({ brokers, clientId: 'rt-producer', serde });
  const consumer = new EventConsumer({
    brokers,
    groupId,
    topics,
    serde,
    logger: silentLogger,
    handler: (event, ctx) => {
      received.push({ event, ctx });
    },
  });

  beforeAll(async () => {
    trace.setGlobalTracerProvider(provider);
    context.setGlobalContextManager(new StackContextManager().enable());
    await createTestTopics(brokers, [...topics.map((name) => ({ name, partitions: 3 })), { name: `${groupId}.dlq` }]);
    await producer.connect();
    await consumer.start();
  });

  afterAll(async () => {
    await consumer.stop();
    await producer.disconnect();
    await provider.shutdown();
  });

  it('encodes, produces, consumes and decodes each one to an equal event, keyed, typed and traced', async () => {
    const events = sampleEvents({ run_id: `run-${suffix}` });
    expect(new Set(events.map((e) => e.type))).toEqual(new Set(EVENT_TYPES));

    const root = trace.getTracer('test').startSpan('agent step');
    await context.with(trace.setSpan(context.active(), root), () => producer.send(events));
    root.end();

    await waitFor(() => received.length >= events.length, { what: `${events.length} events`, timeoutMs: 30_000 });
    expect(received).toHaveLength(events.length);
    for (const sent of events) {
      const got = received.find((r) => r.event.payload.meta.event_id === sent.payload.meta.event_id);
      expect(got, sent.type).toBeDefined();
      if (got === undefined) continue;
      // Exactly what the codec itself makes of the event (defaults of newer schema fields filled),
      // and every field the producer set, unchanged.
      expect(got.event).toEqual(contractsSerde.decode(contractsSerde.encode(sent)));
      expect(got.event.payload).toMatchObject(sent.payload);
      expect(got.event.fingerprint).toMatch(/^[0-9a-f]{16}$/);
      expect(got.ctx.topic).toBe(serde.topicOf(sent.type));
      expect(got.ctx.key).toBe(partitionKeyOf(sent.type, sent.payload));
      expect(got.ctx.headers['event-type']).toBe(sent.type);
      expect(got.ctx.headers['traceparent']).toMatch(new RegExp(`^00-${root.spanContext().traceId}-[0-9a-f]{16}-01$`));
      expect(trace.getSpanContext(got.ctx.traceContext)?.traceId).toBe(root.spanContext().traceId);
    }

    // One PRODUCER span per event under the caller's span, one CONSUMER span per event under it.
    const spans = exporter.getFinishedSpans();
    const producerSpans = spans.filter((s) => s.kind === SpanKind.PRODUCER);
    const consumerSpans = spans.filter((s) => s.kind === SpanKind.CONSUMER);
    expect(producerSpans).toHaveLength(events.length);
    expect(producerSpans.every((s) => s.parentSpanContext?.spanId === root.spanContext().spanId)).toBe(true);
    const producerIds = new Set(producerSpans.map((s) => s.spanContext().spanId));
    expect(consumerSpans).toHaveLength(events.length);
    expect(consumerSpans.every((s) => producerIds.has(s.parentSpanContext?.spanId ?? ''))).toBe(true);
    expect(consumerSpans[0]?.attributes).toMatchObject({ 'messaging.system': 'kafka', 'messaging.consumer.group.name': groupId });
  });
});
