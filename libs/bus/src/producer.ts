import { SpanKind, SpanStatusCode, context as otelContext, trace } from '@opentelemetry/api';
import type { Context } from '@opentelemetry/api';
import type { KafkaJS } from '@confluentinc/kafka-javascript';
import { WritError, describeError } from '@writ/errors';
import { contractsSerde } from './contracts-serde.ts';
import { HEADERS, extractTraceContext, injectTraceHeaders } from './headers.ts';
import { createKafka } from './kafka.ts';
import type { RdKafkaProperties } from './kafka.ts';
import type { BusLogger } from './logger.ts';
import type { EventSerde, OutgoingEvent } from './serde.ts';
import { ATTR, busTracer } from './telemetry.ts';

/**
 * Default producer batching delay. librdkafka waits linger.ms to fill a batch before sending;
 * every hop an agent waits on pays it, so the default is far below librdkafka's own 5 ms.
 */
export const DEFAULT_LINGER_MS = 0;

export interface EventProducerOptions {
  readonly brokers: readonly string[];
  readonly clientId: string;
  /** Default: contractsSerde (Avro, @writ/contracts). */
  readonly serde?: EventSerde;
  /** librdkafka linger.ms (fractions allowed). Default DEFAULT_LINGER_MS. */
  readonly lingerMs?: number;
  /** Further librdkafka producer properties (e.g. compression.type); cannot turn idempotence off. */
  readonly rdkafka?: RdKafkaProperties;
  /** Where the client library's errors go; default: its console logger. */
  readonly logger?: BusLogger;
}

export interface SentEvent {
  readonly type: string;
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
}

/** A record ready for Kafka: the bus's own building block, used for DLQ copies too. */
export interface KafkaRecord {
  readonly topic: string;
  readonly key: Buffer | string | null;
  readonly value: Buffer | null;
  readonly headers?: Readonly<Record<string, string>>;
}

/**
 * The partition key of an event: explicit, else what the serde says (its run, so that one run's
 * events keep their order), else `payload.meta.run_id`.
 */
export function eventKey(event: OutgoingEvent, serde?: EventSerde): string {
  if (event.key !== undefined) return event.key;
  const fromSerde = serde?.keyOf?.(event);
  if (fromSerde !== undefined && fromSerde !== '') return fromSerde;
  // Typed, but the payload may come from anywhere: checked, not trusted.
  const runId: unknown = event.payload.meta?.run_id;
  if (typeof runId === 'string' && runId !== '') return runId;
  throw new WritError('EVENT_KEY_MISSING', `event ${event.type} has no meta.run_id and no explicit key`, {
    field: 'meta.run_id',
    rule: 'every event is keyed by its run; pass `key` for events that belong to no run',
  });
}

/** Producer settings shared by the plain and the transactional producer. */
export function producerConfig(lingerMs: number, extra: RdKafkaProperties | undefined, kafkaJS: KafkaJS.ProducerConfig): KafkaJS.ProducerConstructorConfig {
  if (!Number.isFinite(lingerMs) || lingerMs < 0) {
    throw new WritError('CONFIG_INVALID', `lingerMs must be a number >= 0, got ${lingerMs}`, {
      field: 'lingerMs',
      rule: 'a number of milliseconds >= 0',
    });
  }
  return {
    ...(extra as KafkaJS.ProducerConstructorConfig | undefined),
    'linger.ms': lingerMs,
    kafkaJS: { acks: -1, idempotent: true, allowAutoTopicCreation: false, ...kafkaJS },
  };
}

/**
 * Produces Writ events: idempotent (enable.idempotence, acks=all), keyed by run_id, each record
 * carrying an `event-type` header and the W3C trace context of the caller's active span.
 */
export class EventProducer {
  readonly #producer: KafkaJS.Producer;
  readonly #serde: EventSerde;
  #connected = false;

  constructor(options: EventProducerOptions) {
    this.#serde = options.serde ?? contractsSerde;
    this.#producer = createKafka({
      brokers: options.brokers,
      clientId: options.clientId,
      ...(options.logger === undefined ? {} : { logger: options.logger }),
    }).producer(producerConfig(options.lingerMs ?? DEFAULT_LINGER_MS, options.rdkafka, {}));
  }

  async connect(): Promise<void> {
    await this.#producer.connect();
    this.#connected = true;
  }

  async disconnect(): Promise<void> {
    if (!this.#connected) return;
    this.#connected = false;
    await this.#producer.flush({ timeout: 10_000 }).catch(() => undefined);
    await this.#producer.disconnect();
  }

  /**
   * Encodes and produces the events; resolves when every one is acknowledged by all in-sync
   * replicas. Encoding errors throw before anything is sent.
   */
  async send(events: readonly OutgoingEvent[]): Promise<SentEvent[]> {
    const active = otelContext.active();
    const sends = events.map((event) => ({ record: toRecord(this.#serde, event), parent: parentContextOf(event, active) }));
    return sendTraced(this.#producer, sends);
  }

  /** Produces already-encoded records as they are (DLQ copies, replays). */
  async sendRecords(records: readonly KafkaRecord[]): Promise<void> {
    await Promise.all(records.map((record) => this.#producer.send({ topic: record.topic, messages: [toMessage(record)] })));
  }

  /** The underlying client, for the transactional helper and the benchmark. */
  unwrap(): KafkaJS.Producer {
    return this.#producer;
  }
}

/** An encoded event and the context its PRODUCER span starts in. */
export interface TracedSend {
  readonly record: EncodedEvent;
  readonly parent: Context;
}

export interface EncodedEvent extends KafkaRecord {
  readonly type: string;
  readonly key: string;
}

export function toRecord(serde: EventSerde, event: OutgoingEvent): EncodedEvent {
  return {
    type: event.type,
    topic: event.topic ?? serde.topicOf(event.type),
    key: eventKey(event, serde),
    value: serde.encode(event),
    headers: { ...event.headers, [HEADERS.eventType]: event.type },
  };
}

export function toMessage(record: KafkaRecord): KafkaJS.Message {
  return { key: record.key, value: record.value, headers: { ...record.headers } };
}

/**
 * The context an event's PRODUCER span starts in: the caller's active span if there is one,
 * else the trace the event's own `meta.trace` names (so a producer that did not activate a
 * context still continues the run's trace), else nothing.
 */
export function parentContextOf(event: OutgoingEvent, active: Context): Context {
  if (trace.getSpanContext(active) !== undefined) return active;
  const carried = event.payload.meta?.trace;
  if (typeof carried?.traceparent !== 'string') return active;
  return extractTraceContext(
    {
      [HEADERS.traceparent]: carried.traceparent,
      ...(typeof carried.tracestate === 'string' ? { [HEADERS.tracestate]: carried.tracestate } : {}),
    },
    active,
  );
}

/**
 * Sends encoded events through `producer` (plain or inside a transaction), one PRODUCER span per
 * event whose context travels in the record's headers; resolves when all are acknowledged.
 */
export function sendTraced(producer: KafkaJS.Producer, sends: readonly TracedSend[]): Promise<SentEvent[]> {
  const tracer = busTracer();
  return Promise.all(
    sends.map(({ record, parent }) => {
      const span = tracer.startSpan(
        `send ${record.topic}`,
        {
          kind: SpanKind.PRODUCER,
          attributes: {
            [ATTR.messagingSystem]: 'kafka',
            [ATTR.destinationName]: record.topic,
            [ATTR.operationType]: 'send',
            [ATTR.operationName]: 'send',
            [ATTR.messageKey]: record.key,
            [ATTR.eventType]: record.type,
          },
        },
        parent,
      );
      const headers: Record<string, string> = { ...record.headers };
      injectTraceHeaders(trace.setSpan(parent, span), headers);
      return producer.send({ topic: record.topic, messages: [{ key: record.key, value: record.value, headers }] }).then(
        ([metadata]) => {
          span.setAttribute(ATTR.destinationPartition, String(metadata?.partition ?? ''));
          span.end();
          return {
            type: record.type,
            topic: record.topic,
            partition: metadata?.partition ?? -1,
            offset: metadata?.baseOffset ?? metadata?.offset ?? '',
          };
        },
        (error: unknown) => {
          span.setStatus({ code: SpanStatusCode.ERROR, message: describeError(error) });
          span.end();
          throw error;
        },
      );
    }),
  );
}
