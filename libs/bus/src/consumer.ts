import { SpanKind, SpanStatusCode, context as otelContext, trace } from '@opentelemetry/api';
import type { Context, Span } from '@opentelemetry/api';
import kafkaJavascript from '@confluentinc/kafka-javascript';
import type { KafkaJS } from '@confluentinc/kafka-javascript';
import { WritError, backoffDelay } from '@writ/errors';
import { OffsetCommitter } from './committer.ts';
import { contractsSerde } from './contracts-serde.ts';
import { dlqMessage, dlqTopicOf } from './dlq.ts';
import { exitOnFatal } from './fatal.ts';
import type { FatalHandler } from './fatal.ts';
import { extractTraceContext, normalizeHeaders } from './headers.ts';
import { createKafka, requireTopics } from './kafka.ts';
import type { RdKafkaProperties } from './kafka.ts';
import { stderrLogger } from './logger.ts';
import type { BusLogger } from './logger.ts';
import { producerConfig } from './producer.ts';
import { classifyFailure, resolveRetryPolicy, retryDelay, sleep } from './retry.ts';
import type { Failure, RetryPolicy } from './retry.ts';
import type { DecodedEvent, EventSerde } from './serde.ts';
import { ATTR, busTracer } from './telemetry.ts';
import { InFlightWindow, topicPartitionKey } from './window.ts';
import type { MessageOutcome } from './window.ts';

const { PartitionAssignors } = kafkaJavascript.KafkaJS;

/** Where a consumed event came from, and the handler's means to cooperate with shutdown. */
export interface EventContext {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly key: string | null;
  readonly headers: Readonly<Record<string, string>>;
  /** Kafka record timestamp, milliseconds since the epoch, as a string. */
  readonly timestamp: string;
  /** 1 on the first call, then 2, 3... on retries. */
  readonly attempt: number;
  readonly groupId: string;
  /** The trace context that travelled in the record's headers, with this hop's span on top. */
  readonly traceContext: Context;
  /** Aborted when the consumer stops: long handlers may give up (the event is redelivered). */
  readonly signal: AbortSignal;
}

export type EventHandler = (event: DecodedEvent, ctx: EventContext) => unknown;

export interface EventConsumerOptions {
  readonly brokers: readonly string[];
  readonly groupId: string;
  readonly topics: readonly string[];
  readonly handler: EventHandler;
  /** Default: contractsSerde (Avro, @writ/contracts). */
  readonly serde?: EventSerde;
  readonly clientId?: string;
  /** Default `<groupId>.dlq`. */
  readonly dlqTopic?: string;
  readonly retry?: Partial<RetryPolicy>;
  /** Where a group without a committed offset starts. Default true (earliest): nothing is skipped. */
  readonly fromBeginning?: boolean;
  /** Most messages handed over (and committed) together. Default 32. */
  readonly maxBatchSize?: number;
  /**
   * How long a handled offset may wait before it is committed (offsets of one partition are
   * coalesced; 0 commits after every batch). A crash repeats at most this much. Default 100 ms.
   */
  readonly commitIntervalMs?: number;
  /** Partitions handled in parallel (order is kept within a partition). Default 1. */
  readonly partitionsConsumedConcurrently?: number;
  /**
   * Messages of one partition handled at once, for handlers whose messages are independent of
   * each other (the executor's calls of different actions): each is started in offset order, and
   * an offset is committed only once every message before it is handled too, so a crash still
   * repeats and never skips. The handler must then serialize what must not overlap itself. Default 1:
   * one at a time, in order.
   */
  readonly messagesInFlight?: number;
  /**
   * Static group membership under `<groupId>.<instanceId>` (stable across restarts of one replica,
   * unique among live ones): a restarted member gets its partitions back at once, without a
   * rebalance, instead of after the dead member's session times out. Unset: a dynamic member.
   */
  readonly instanceId?: string;
  /** Further librdkafka consumer properties. */
  readonly rdkafka?: RdKafkaProperties;
  readonly logger?: BusLogger;
  /**
   * Called once when the client failed for good (e.g. fenced by another member with the same
   * group.instance.id). Default: log and exit the process (exitOnFatal), so a supervisor starts a
   * fresh one instead of leaving a process that answers but never consumes again.
   */
  readonly onFatal?: FatalHandler;
  /**
   * Called with the whole assignment (topic and partition) each time the group gives or takes
   * partitions, the first time included. An owner that keeps state per key must keep what it
   * decides on its own (timers) to the keys of its partitions, and reload a partition it gains:
   * another instance may have moved it on meanwhile.
   */
  readonly onAssignment?: (assignment: readonly KafkaJS.TopicPartition[]) => void;
}

/** librdkafka's rebalance codes (RdKafka ERR__ASSIGN_PARTITIONS, ERR__REVOKE_PARTITIONS). */
const ASSIGN_PARTITIONS = -175;
const REVOKE_PARTITIONS = -174;
/** Between attempts to write a dead letter (the DLQ topic unavailable): 0.2 s doubling to 30 s. */
const DLQ_BACKOFF = { initialMs: 200, maxMs: 30_000 } as const;

/** Told of each change of a member's assignment; the rebalance waits for it. */
export type RebalanceHook = (change: 'assigned' | 'revoked', partitions: readonly KafkaJS.TopicPartition[]) => void | Promise<void>;

/**
 * Follows a consumer's assignment through its `rebalance_cb` (eager protocol: all revoked, then all
 * assigned; cooperative: increments): tells `onAssignment` the whole assignment after each change,
 * and whoever waits that the group assigned this member once.
 */
export class AssignmentTracker {
  readonly #onAssignment: EventConsumerOptions['onAssignment'];
  readonly #onChange: RebalanceHook | undefined;
  #assignment = new Map<string, KafkaJS.TopicPartition>();
  #assignedOnce: () => void = () => undefined;
  readonly #firstAssignment = new Promise<void>((resolve) => {
    this.#assignedOnce = resolve;
  });

  /**
   * `onChange` runs after partitions start or stop counting as assigned, before the client takes
   * them up or lets go of them (the rebalance waits for it): the place to finish what was
   * consumed from partitions being taken away.
   */
  constructor(onAssignment: EventConsumerOptions['onAssignment'], onChange?: RebalanceHook) {
    this.#onAssignment = onAssignment;
    this.#onChange = onChange;
  }

  /** The consumer configuration entry that feeds it. */
  get config(): KafkaJS.ConsumerConstructorConfig {
    return {
      rebalance_cb: async (error: { code: number }, partitions: readonly KafkaJS.TopicPartition[]) => {
        if (error.code !== ASSIGN_PARTITIONS && error.code !== REVOKE_PARTITIONS) return;
        this.#rebalanced(error.code, partitions);
        await this.#onChange?.(error.code === ASSIGN_PARTITIONS ? 'assigned' : 'revoked', partitions);
      },
    };
  }

  /** Whether the partition is assigned to this member now. */
  has(topic: string, partition: number): boolean {
    return this.#assignment.has(topicPartitionKey(topic, partition));
  }

  /** Resolves true once the group has assigned this member (partitions or none), false after `timeoutMs`. */
  async assigned(timeoutMs: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    try {
      return await Promise.race([this.#firstAssignment.then(() => true), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  #rebalanced(code: number, partitions: readonly KafkaJS.TopicPartition[]): void {
    const next = new Map(this.#assignment);
    for (const { topic, partition } of partitions) {
      const key = topicPartitionKey(topic, partition);
      if (code === ASSIGN_PARTITIONS) next.set(key, { topic, partition });
      else next.delete(key);
    }
    this.#assignment = next;
    this.#onAssignment?.([...next.values()]);
    if (code === ASSIGN_PARTITIONS) this.#assignedOnce();
  }
}

/** One message as the bus hands it around internally. */
export interface InboundMessage {
  readonly topic: string;
  readonly partition: number;
  readonly message: KafkaJS.KafkaMessage;
}

export function nextOffset(offset: string): string {
  return (BigInt(offset) + 1n).toString();
}

/**
 * Longest a consumer's fetch waits at the broker for new data (librdkafka fetch.wait.max.ms). The
 * broker answers a waiting fetch as soon as records are readable, a transaction's commit marker
 * included (read_committed), so this is no hop's latency: measured on the local broker, two
 * transactional hops take the same time at 20 ms and at 500 ms (p50 about 21-26 ms either way).
 * It is the idle cost: every consumer asks again after this long, and twelve idle consumers cost
 * the broker 27 % of a core at 20 ms against 6 % at 500 ms (docs/benchmarks.md, "Bus").
 */
export const DEFAULT_FETCH_WAIT_MS = 500;

/**
 * How long a static member may be silent before the coordinator gives its partitions to others.
 * A static member does not leave the group when it stops (it is expected back), so this is also
 * how long the partitions of a replica that is stopped for good wait: 10 s (the broker's floor is
 * 6 s; librdkafka's default of 45 s would stall a scaled-down replica's partitions that long).
 */
export const STATIC_SESSION_TIMEOUT_MS = 10_000;

/** A replica's stable name in its group (`<groupId>.<instanceId>`): its static membership, and a decider's transactional id. */
export function replicaName(groupId: string, instanceId: string): string {
  return `${groupId}.${instanceId}`;
}

export function staticMembership(groupId: string, instanceId: string): RdKafkaProperties {
  return { 'group.instance.id': replicaName(groupId, instanceId), 'session.timeout.ms': STATIC_SESSION_TIMEOUT_MS, 'heartbeat.interval.ms': 1_000 };
}

/**
 * How much a consumer prefetches (librdkafka queued.max.messages.kbytes, default 64 MiB per
 * consumer). A service behind on its topics fills the whole prefetch queue, so the default is
 * what an overloaded service's memory grows by, per consumer; 4 MiB is still about a quarter of
 * a second of the bus's full throughput (17,000 events/s of 1 KiB, docs/benchmarks.md, "Bus").
 */
export const PREFETCH_KBYTES = 4_096;

export function consumerConfig(
  options: {
    groupId: string;
    fromBeginning?: boolean;
    maxBatchSize?: number;
    instanceId?: string;
    rdkafka?: RdKafkaProperties;
  },
  extra: RdKafkaProperties = {},
): KafkaJS.ConsumerConstructorConfig {
  const maxBatchSize = options.maxBatchSize ?? 32;
  if (!Number.isInteger(maxBatchSize) || maxBatchSize < 1) {
    throw new WritError('CONFIG_INVALID', `maxBatchSize must be a whole number >= 1, got ${maxBatchSize}`, {
      field: 'maxBatchSize',
      rule: 'a whole number >= 1',
    });
  }
  return {
    'fetch.wait.max.ms': DEFAULT_FETCH_WAIT_MS,
    'queued.max.messages.kbytes': PREFETCH_KBYTES,
    ...(options.instanceId === undefined ? {} : staticMembership(options.groupId, options.instanceId)),
    ...(options.rdkafka as KafkaJS.ConsumerConstructorConfig | undefined),
    ...(extra as KafkaJS.ConsumerConstructorConfig),
    'js.consumer.max.batch.size': maxBatchSize,
    kafkaJS: {
      groupId: options.groupId,
      fromBeginning: options.fromBeginning ?? true,
      autoCommit: false,
      allowAutoTopicCreation: false,
      // Writ's streams are co-partitioned by run_id (three partitions each, one partitioner): the
      // range assignor gives a member the same partitions of every topic, so one instance sees all
      // of a run's events. The client's default (round robin) spreads them over the instances.
      partitionAssignors: [PartitionAssignors.range],
    },
  };
}

/**
 * The part of a consumer that decides what happens to one message: decode, call the handler
 * with retries, and send poison or exhausted messages to the DLQ. Shared by the plain consumer
 * and the transactional processor (which supplies its own way of writing to the DLQ).
 */
export class MessagePipeline {
  readonly #serde: EventSerde;
  readonly #groupId: string;
  readonly #dlqTopic: string;
  readonly #retry: RetryPolicy;
  readonly #logger: BusLogger;
  readonly #signal: AbortSignal;

  constructor(options: { serde: EventSerde; groupId: string; dlqTopic: string; retry: RetryPolicy; logger: BusLogger; signal: AbortSignal }) {
    this.#serde = options.serde;
    this.#groupId = options.groupId;
    this.#dlqTopic = options.dlqTopic;
    this.#retry = options.retry;
    this.#logger = options.logger;
    this.#signal = options.signal;
  }

  get dlqTopic(): string {
    return this.#dlqTopic;
  }

  /**
   * Runs `handle` for the message until it succeeds; on poison, a non-retriable failure or the
   * last attempt, hands a DLQ record to `toDlq`. Returns 'interrupted' only when stop() cut a
   * backoff short, in which case nothing about this message may be committed.
   */
  async process(
    inbound: InboundMessage,
    handle: (event: DecodedEvent, ctx: EventContext) => unknown,
    toDlq: (record: KafkaJS.Message, failure: Failure) => Promise<MessageOutcome>,
  ): Promise<MessageOutcome> {
    const { topic, partition, message } = inbound;
    const headers = normalizeHeaders(message.headers);
    const parent = extractTraceContext(headers);
    const span = busTracer().startSpan(
      `process ${topic}`,
      {
        kind: SpanKind.CONSUMER,
        attributes: {
          [ATTR.messagingSystem]: 'kafka',
          [ATTR.destinationName]: topic,
          [ATTR.destinationPartition]: String(partition),
          [ATTR.operationType]: 'process',
          [ATTR.operationName]: 'process',
          [ATTR.consumerGroup]: this.#groupId,
          [ATTR.offset]: Number(message.offset),
        },
      },
      parent,
    );
    try {
      return await this.#process(inbound, headers, trace.setSpan(parent, span), span, handle, toDlq);
    } finally {
      span.end();
    }
  }

  async #process(
    inbound: InboundMessage,
    headers: Record<string, string>,
    traceContext: Context,
    span: Span,
    handle: (event: DecodedEvent, ctx: EventContext) => unknown,
    toDlq: (record: KafkaJS.Message, failure: Failure) => Promise<MessageOutcome>,
  ): Promise<MessageOutcome> {
    const { topic, partition, message } = inbound;
    const parkInDlq = (failure: Failure, attempts: number): Promise<MessageOutcome> => {
      span.setStatus({ code: SpanStatusCode.ERROR, message: failure.reason });
      span.setAttributes({ [ATTR.dlqTopic]: this.#dlqTopic, [ATTR.dlqCode]: failure.code });
      this.#logger.warn('event sent to the dead-letter topic', {
        dlqTopic: this.#dlqTopic,
        code: failure.code,
        reason: failure.reason,
        topic,
        partition,
        offset: message.offset,
        groupId: this.#groupId,
        attempts,
      });
      const record = dlqMessage(
        { topic, partition, offset: message.offset, groupId: this.#groupId, key: message.key, value: message.value, headers },
        failure,
        attempts,
      );
      return toDlq(record, failure);
    };

    let event: DecodedEvent;
    try {
      if (message.value === null) {
        throw new WritError('EVENT_UNDECODABLE', 'record has no value (a tombstone); Writ events always have one');
      }
      event = this.#serde.decode(message.value);
    } catch (error) {
      // Poison: the same bytes will never decode, whatever the error says about retrying.
      return parkInDlq({ ...classifyFailure(error), retriable: false }, 0);
    }
    span.setAttribute(ATTR.eventType, event.type);

    for (let attempt = 1; ; attempt++) {
      const ctx: EventContext = {
        topic,
        partition,
        offset: message.offset,
        key: message.key === null ? null : message.key.toString('utf8'),
        headers,
        timestamp: message.timestamp,
        attempt,
        groupId: this.#groupId,
        traceContext,
        signal: this.#signal,
      };
      try {
        await otelContext.with(traceContext, () => handle(event, ctx));
        span.setAttribute(ATTR.attempt, attempt);
        return 'done';
      } catch (error) {
        const failure = classifyFailure(error);
        if (!failure.retriable || attempt >= this.#retry.maxAttempts) {
          span.setAttribute(ATTR.attempt, attempt);
          return parkInDlq(failure, attempt);
        }
        const delay = retryDelay(attempt, this.#retry);
        this.#logger.info('handler failed, retrying', {
          code: failure.code,
          reason: failure.reason,
          topic,
          partition,
          offset: message.offset,
          attempt,
          delayMs: delay,
        });
        if (!(await sleep(delay, this.#signal))) return 'interrupted';
      }
    }
  }
}

/**
 * Consumes events of `topics` as consumer group `groupId`, one partition in order, and commits an
 * offset only once its message was handled or parked in the DLQ: at-least-once, nothing dropped.
 */
export class EventConsumer {
  readonly #options: EventConsumerOptions;
  readonly #kafka: KafkaJS.Kafka;
  readonly #consumer: KafkaJS.Consumer;
  readonly #dlqProducer: KafkaJS.Producer;
  readonly #abort = new AbortController();
  readonly #pipeline: MessagePipeline;
  readonly #logger: BusLogger;
  readonly #inFlight = new Set<Promise<void>>();
  readonly #committer: OffsetCommitter;
  readonly #assignments: AssignmentTracker;
  readonly #window: InFlightWindow;
  #dlqConnected: Promise<void> | undefined;
  #state: 'idle' | 'running' | 'stopping' | 'stopped' = 'idle';

  constructor(options: EventConsumerOptions) {
    if (options.topics.length === 0) {
      throw new WritError('CONFIG_INVALID', 'topics must name at least one topic', {
        field: 'topics',
        rule: 'a non-empty list of topic names',
      });
    }
    this.#options = options;
    this.#logger = options.logger ?? stderrLogger;
    this.#kafka = createKafka({
      brokers: options.brokers,
      clientId: options.clientId ?? options.groupId,
      logger: this.#logger,
      onFatal: (error) => {
        (options.onFatal ?? exitOnFatal(this.#logger, `consumer ${options.groupId}`))(error);
        void this.stop();
      },
    });
    this.#assignments = new AssignmentTracker(options.onAssignment, (change, partitions) => this.#rebalancing(change, partitions));
    this.#consumer = this.#kafka.consumer({ ...consumerConfig(options), ...this.#assignments.config });
    this.#dlqProducer = this.#kafka.producer(producerConfig(0, undefined, {}));
    this.#pipeline = new MessagePipeline({
      serde: options.serde ?? contractsSerde,
      groupId: options.groupId,
      dlqTopic: options.dlqTopic ?? dlqTopicOf(options.groupId),
      retry: resolveRetryPolicy(options.retry),
      logger: this.#logger,
      signal: this.#abort.signal,
    });
    const commitIntervalMs = options.commitIntervalMs ?? 100;
    if (!Number.isFinite(commitIntervalMs) || commitIntervalMs < 0) {
      throw new WritError('CONFIG_INVALID', `commitIntervalMs must be a number >= 0, got ${commitIntervalMs}`, {
        field: 'commitIntervalMs',
        rule: 'milliseconds >= 0',
      });
    }
    this.#committer = new OffsetCommitter({
      intervalMs: commitIntervalMs,
      logger: this.#logger,
      commit: (offsets) => this.#consumer.commitOffsets(offsets),
      owns: (topic, partition) => this.#assignments.has(topic, partition),
    });
    this.#window = new InFlightWindow(options.messagesInFlight ?? 1, (topic, partition, next) => this.#committer.mark(topic, partition, next));
  }

  /** Resolves true once the group has assigned this member, false after `timeoutMs` (call after start()). */
  assigned(timeoutMs: number): Promise<boolean> {
    return this.#assignments.assigned(timeoutMs);
  }

  get groupId(): string {
    return this.#options.groupId;
  }

  get dlqTopic(): string {
    return this.#pipeline.dlqTopic;
  }

  /** Connects, subscribes and starts handling; resolves once consumption has started. */
  async start(): Promise<void> {
    if (this.#state !== 'idle') throw new WritError('BUS_STATE', `consumer ${this.groupId} was already started`);
    this.#state = 'running';
    try {
      await requireTopics(this.#kafka, [...this.#options.topics, this.dlqTopic]);
      await this.#consumer.connect();
      await this.#consumer.subscribe({ topics: [...this.#options.topics] });
      await this.#consumer.run({
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: this.#options.partitionsConsumedConcurrently ?? 1,
        eachBatch: (payload) => this.#track(this.#eachBatch(payload)),
      });
    } catch (error) {
      this.#state = 'stopped';
      await this.#consumer.disconnect().catch(() => undefined);
      throw error;
    }
  }

  /** The partitions currently assigned to this member. */
  assignment(): KafkaJS.TopicPartition[] {
    return this.#state === 'running' ? this.#consumer.assignment() : [];
  }

  /**
   * Stops taking new messages, lets the batch in hand finish (a handler in backoff gives up and
   * its message is redelivered later), commits what was handled, and disconnects.
   */
  async stop(): Promise<void> {
    if (this.#state !== 'running') return;
    this.#state = 'stopping';
    this.#abort.abort();
    await Promise.allSettled([...this.#inFlight]);
    await this.#window.settled();
    await this.#committer.flush();
    this.#committer.close();
    await this.#consumer.disconnect().catch((error: unknown) => {
      this.#logger.warn('consumer disconnect failed', { error: String(error), groupId: this.groupId });
    });
    if (this.#dlqConnected !== undefined) await this.#dlqProducer.disconnect().catch(() => undefined);
    this.#state = 'stopped';
  }

  #track(work: Promise<void>): Promise<void> {
    this.#inFlight.add(work);
    return work.finally(() => this.#inFlight.delete(work));
  }

  /**
   * Starts the batch's messages in offset order, at most `messagesInFlight` of its partition at
   * once, and returns when the last is started, not handled: while a batch handler runs, the client
   * hands no worker a new message of any partition. Offsets are committed as the partition's
   * handled prefix grows (#window).
   */
  async #eachBatch({ batch, resolveOffset, isStale }: KafkaJS.EachBatchPayload): Promise<void> {
    const { topic, partition } = batch;
    for (const message of batch.messages) {
      await this.#window.room(topic, partition);
      // Not started: the client consumes it again from the last offset resolved.
      if (this.#abort.signal.aborted || isStale() || !this.#assignments.has(topic, partition)) return;
      const handled = this.#window.start(topic, partition, message.offset, () =>
        this.#pipeline.process({ topic, partition, message }, this.#options.handler, (record) => this.#sendToDlq(record)),
      );
      handled.catch((error: unknown) => this.#failed(error, topic, partition, message.offset));
      resolveOffset(message.offset);
    }
  }

  /**
   * Handling a message failed in a way the pipeline does not catch (a bug, not a handler's
   * error): its offset is never committed, and the process restarts to consume it again.
   */
  #failed(error: unknown, topic: string, partition: number, offset: string): void {
    this.#logger.error('handling a message failed unexpectedly; its offset stays uncommitted', {
      error: String(error),
      topic,
      partition,
      offset,
      groupId: this.groupId,
    });
    (this.#options.onFatal ?? exitOnFatal(this.#logger, `consumer ${this.groupId}`))(error);
    void this.stop();
  }

  /**
   * Partitions being taken away: their messages in hand finish and their offsets are committed
   * before the client lets go (the rebalance waits), so the next owner neither repeats nor
   * overlaps them.
   */
  async #rebalancing(change: 'assigned' | 'revoked', partitions: readonly KafkaJS.TopicPartition[]): Promise<void> {
    if (change === 'revoked') {
      await this.#window.settled(partitions);
      await this.#committer.flush(partitions);
    }
    this.#window.forget(partitions);
  }

  /** Retries until the DLQ has the record: a message is never committed without landing somewhere. */
  async #sendToDlq(record: KafkaJS.Message): Promise<MessageOutcome> {
    for (let attempt = 1; ; attempt++) {
      try {
        // Connected on first use: most consumers never write a dead letter.
        this.#dlqConnected ??= this.#dlqProducer.connect().catch((error: unknown) => {
          this.#dlqConnected = undefined;
          throw error;
        });
        await this.#dlqConnected;
        await this.#dlqProducer.send({ topic: this.dlqTopic, messages: [record] });
        return 'done';
      } catch (error) {
        this.#logger.error('cannot write to the dead-letter topic, retrying', {
          dlqTopic: this.dlqTopic,
          error: String(error),
          attempt,
        });
        if (!(await sleep(backoffDelay(attempt, DLQ_BACKOFF), this.#abort.signal))) return 'interrupted';
      }
    }
  }
}
