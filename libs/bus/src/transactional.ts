import { SpanStatusCode, context as otelContext } from '@opentelemetry/api';
import kafkaJavascript from '@confluentinc/kafka-javascript';
import type { KafkaJS } from '@confluentinc/kafka-javascript';
import { WritError, describeError } from '@writ/errors';
import { contractsSerde } from './contracts-serde.ts';
import { AssignmentTracker, MessagePipeline, consumerConfig, nextOffset } from './consumer.ts';
import type { EventConsumerOptions, EventContext } from './consumer.ts';
import { dlqTopicOf } from './dlq.ts';
import { exitOnFatal } from './fatal.ts';
import { createKafka, requireTopics } from './kafka.ts';
import { Lock } from './lock.ts';
import { stderrLogger } from './logger.ts';
import type { BusLogger } from './logger.ts';
import { DEFAULT_LINGER_MS, parentContextOf, producerConfig, sendTraced, toRecord } from './producer.ts';
import type { TracedSend } from './producer.ts';
import { classifyFailure, isKafkaRetriable, resolveRetryPolicy, retryDelay, sleep } from './retry.ts';
import type { Failure, RetryPolicy } from './retry.ts';
import type { DecodedEvent, EventSerde, OutgoingEvent } from './serde.ts';
import { ATTR, busTracer } from './telemetry.ts';

const { ErrorCodes } = kafkaJavascript.KafkaJS;

/** Turns one input event into the events to produce with it, atomically. */
export type TransactionalHandler = (event: DecodedEvent, ctx: EventContext) => readonly OutgoingEvent[] | void | Promise<readonly OutgoingEvent[] | void>;

export interface TransactionalProcessorOptions extends Omit<EventConsumerOptions, 'handler'> {
  readonly handler: TransactionalHandler;
  /**
   * Stable across restarts of the same instance (e.g. `writ.budget-0`): a restarted instance
   * with the same id fences its zombie predecessor. Two live instances must not share it.
   */
  readonly transactionalId: string;
  readonly lingerMs?: number;
  /** How long the coordinator waits before aborting a transaction this producer left open. */
  readonly transactionTimeoutMs?: number;
  /** How long batches that publish nothing wait for one that does (OFFSETS_ONLY_LINGER_MS). */
  readonly offsetsOnlyLingerMs?: number;
  /**
   * Events nobody waits on: batches publishing only these wait up to `maxWaitMs` for a batch that
   * publishes something else, to go in its transaction (as batches publishing nothing wait), so
   * the output an agent waits on does not queue behind a transaction of their own (the planner's
   * ActionAdmitted, the accountant's settlements). `maxWaitMs` 0: none of them waits.
   */
  readonly deferrable?: { readonly events: readonly string[]; readonly maxWaitMs: number };
  /**
   * Called after a transaction was aborted (its input will be redelivered): a handler that keeps
   * in-memory state derived from uncommitted input must drop or reload it here.
   */
  readonly onAbort?: (error: unknown) => void | Promise<void>;
  /**
   * Called once a transaction committed, with the events it published (DLQ records aside), in the
   * order they were sent: what read_committed readers now see, each told once (the outputs of an
   * aborted transaction never are; redone, they are told when they commit). For counting what was
   * published; it must not throw (what it throws is logged, the commit stands).
   */
  readonly onCommitted?: (events: readonly OutgoingEvent[]) => void;
}

interface OutputOf {
  readonly send: TracedSend;
  /** The event the record encodes (for onCommitted). */
  readonly event: OutgoingEvent;
  /** The input that produced it (`topic/partition/offset`); null for an emitted output. */
  readonly input: string | null;
  /** When its input was handled, among all inputs of the processor. */
  readonly order: number;
}

/** One partition's batch, handled, waiting for its transaction. */
interface InputBatch {
  /** The processor's abort count when the batch was taken: a later abort makes it stale. */
  readonly generation: number;
  readonly partitionKey: string;
  readonly topic: string;
  readonly partition: number;
  /** Offset of its first input (the partition's position when it was taken). */
  readonly first: string;
  /** Offset of the last input handled (the committed position is the next one). */
  readonly lastDone: string;
  readonly outputs: readonly OutputOf[];
  readonly dlqRecords: readonly KafkaJS.Message[];
}

/** Outputs of no input (`emit`: a timer's), waiting for their transaction. */
interface EmittedBatch {
  readonly generation: number;
  readonly partitionKey: null;
  readonly outputs: readonly OutputOf[];
  readonly dlqRecords: readonly KafkaJS.Message[];
}

type HandledBatch = InputBatch | EmittedBatch;

const hasInput = (batch: HandledBatch): batch is InputBatch => batch.partitionKey !== null;
const publishes = (batch: HandledBatch): boolean => batch.outputs.length > 0 || batch.dlqRecords.length > 0;

/**
 * How long batches that publish nothing wait for one that does, so that their offsets go in its
 * transaction instead of a commit of their own. Most inputs of a service publish nothing (the
 * planner's answers that complete no join, the settlements it reads; the accountant's
 * admissions and completions): each of their commits was a broker request and a write to the
 * offsets topic, and the processor's next transaction waited behind it.
 */
export const OFFSETS_ONLY_LINGER_MS = 50;

/** What became of outputs handed to `emit`. */
export type EmitResult = 'committed' | 'aborted' | 'nothing';

/** The consumed positions to commit for a group of batches (a partition's later batch wins), by topic. */
function offsetsOf(batches: readonly HandledBatch[]): KafkaJS.TopicOffsets[] {
  const last = new Map<string, InputBatch>();
  for (const batch of batches.filter(hasInput)) {
    const seen = last.get(batch.partitionKey);
    if (seen === undefined || BigInt(batch.lastDone) > BigInt(seen.lastDone)) last.set(batch.partitionKey, batch);
  }
  const byTopic = new Map<string, { partition: number; offset: string }[]>();
  for (const batch of last.values()) {
    const partitions = byTopic.get(batch.topic) ?? [];
    partitions.push({ partition: batch.partition, offset: nextOffset(batch.lastDone) });
    byTopic.set(batch.topic, partitions);
  }
  return [...byTopic].map(([topic, partitions]) => ({ topic, partitions }));
}

/** A partition's inputs handled and queued but not yet committed: where to consume again if they abort. */
interface Uncommitted {
  readonly topic: string;
  readonly partition: number;
  /** The first of them (the committed position). */
  from: string;
  /** The last of them. */
  last: string;
}

const inputKey = (topic: string, partition: number, offset: string): string => `${topic}/${partition}/${offset}`;

/** Broker refusals of one record that retrying the same record cannot cure. */
const PERMANENT_REFUSALS: ReadonlySet<number> = new Set(
  [ErrorCodes.ERR_MSG_SIZE_TOO_LARGE, ErrorCodes.ERR_INVALID_RECORD, ErrorCodes.ERR_RECORD_LIST_TOO_LARGE, ErrorCodes.ERR_INVALID_MSG].filter(
    (code): code is number => typeof code === 'number',
  ),
);

/**
 * librdkafka retries a refused AddOffsetsToTxn (CONCURRENT_TRANSACTIONS: this producer's previous
 * commit is still being completed by the coordinator) after `retry.backoff.ms`, 100 ms by default,
 * doubling, while the refusal lasts as long as the coordinator takes to write the markers, a few
 * milliseconds. Under load a transaction's offsets phase had 100-200 ms tails (p99) where its
 * median is 5-8 ms; with this the tails remained in the runs measured (2026-12-07), so they have
 * other causes too.
 */
export const TRANSACTION_RETRY = { 'retry.backoff.ms': 5, 'retry.backoff.max.ms': 100 } as const;

/** How long a processor's start tries to initialise its transactional producers while the broker answers transiently. */
export const PRODUCER_INIT_TIMEOUT_MS = 30_000;

/** Partitions handled at once (their batches then commit together); more than a service is assigned. */
export const DEFAULT_CONCURRENT_PARTITIONS = 64;

/**
 * Transactional producers taking turns, one transaction each. The coordinator finishes a commit
 * (writes its markers) after answering EndTxn; the next transaction of the same producer, begun
 * meanwhile, is refused (CONCURRENT_TRANSACTIONS) and the client retries its AddPartitionsToTxn
 * 20 ms later. The other producer's transaction has no such wait (docs/benchmarks.md, "Bus").
 */
export const TRANSACTIONAL_PRODUCERS = 2;

/**
 * The transactional id of the processor's producer `index`: the first keeps the processor's own.
 * `~` is no character of an instance id (WRIT_INSTANCE_ID), so the second producer of one replica
 * never has the id of another replica's first.
 */
export function producerTransactionalId(transactionalId: string, index: number): string {
  return index === 0 ? transactionalId : `${transactionalId}~${index}`;
}

/**
 * A failure the producer cannot recover from: fatal for the client, or fenced by a newer instance
 * with its transactionalId (an abort then fails as fenced, while the send before it failed only
 * as purged). Replacing the producer would fence the newer instance in turn.
 */
function isFatal(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { fatal, code } = error as { fatal?: unknown; code?: unknown };
  return fatal === true || code === kafkaJavascript.KafkaJS.ErrorCodes.ERR__FENCED;
}

/**
 * Consume-transform-produce, exactly once: the handler's output events, any DLQ records and the
 * input offsets of the batches handled since the last commit (of any of the assigned partitions,
 * handled concurrently) are committed in one Kafka transaction. The
 * consumer reads read_committed with auto-commit off; if anything fails the transaction aborts and
 * the batch is consumed again from the last committed offset. Downstream read_committed
 * consumers never see output of an aborted attempt, so nothing is counted twice.
 */
export class TransactionalProcessor {
  readonly #options: TransactionalProcessorOptions;
  readonly #kafka: KafkaJS.Kafka;
  readonly #consumer: KafkaJS.Consumer;
  /** Used in turn, one transaction each (TRANSACTIONAL_PRODUCERS). */
  readonly #producers: KafkaJS.Producer[];
  #turn = 0;
  readonly #abort = new AbortController();
  readonly #pipeline: MessagePipeline;
  readonly #serde: EventSerde;
  readonly #retry: RetryPolicy;
  readonly #logger: BusLogger;
  readonly #inFlight = new Set<Promise<void>>();
  #state: 'idle' | 'running' | 'stopping' | 'stopped' = 'idle';
  #fatalReported = false;
  readonly #assignments: AssignmentTracker;
  #consecutiveAborts = 0;
  #generation = 0;
  #queue: { readonly batch: HandledBatch; readonly resolve: (committed: boolean) => void }[] = [];
  #flushing = false;
  /** Ends the wait of offsets-only batches (#lingerForOutputs) early; null when none waits. */
  #endLinger: (() => void) | null = null;
  /** Batches being handled (taken, not yet queued or given up). */
  #handling = 0;
  #handled = 0;
  #barrier: Promise<void> | null = null;
  #drained: (() => void) | undefined;
  readonly #serial = new Lock();
  #recovering: Promise<void> | null = null;
  #transactions = 0;
  #batchesCommitted = 0;
  readonly #unproducible = new Map<string, Failure>();
  readonly #isolate = new Map<string, bigint>();
  /** By partition: what was consumed past its committed position (the client's position is beyond). */
  readonly #uncommitted = new Map<string, Uncommitted>();
  /** Commits of batches whose handlers already returned (stop() and a revocation wait for them). */
  readonly #commits = new Set<Promise<boolean>>();

  constructor(options: TransactionalProcessorOptions) {
    if (options.topics.length === 0) {
      throw new WritError('CONFIG_INVALID', 'topics must name at least one topic', {
        field: 'topics',
        rule: 'a non-empty list of topic names',
      });
    }
    if (options.transactionalId.trim() === '') {
      throw new WritError('CONFIG_INVALID', 'transactionalId must not be empty', {
        field: 'transactionalId',
        rule: 'a stable, non-empty id per instance',
      });
    }
    this.#options = options;
    this.#logger = options.logger ?? stderrLogger;
    this.#retry = resolveRetryPolicy(options.retry);
    this.#kafka = createKafka({
      brokers: options.brokers,
      clientId: options.clientId ?? options.groupId,
      logger: this.#logger,
      onFatal: (error) => this.#fatal(error),
    });
    this.#assignments = new AssignmentTracker(options.onAssignment, (change, partitions) => this.#rebalancing(change, partitions));
    this.#consumer = this.#kafka.consumer({ ...consumerConfig(options, { 'isolation.level': 'read_committed' }), ...this.#assignments.config });
    this.#producers = Array.from({ length: TRANSACTIONAL_PRODUCERS }, (_, index) => this.#newProducer(index));
    this.#serde = options.serde ?? contractsSerde;
    this.#pipeline = new MessagePipeline({
      serde: this.#serde,
      groupId: options.groupId,
      dlqTopic: options.dlqTopic ?? dlqTopicOf(options.groupId),
      retry: this.#retry,
      logger: this.#logger,
      signal: this.#abort.signal,
    });
  }

  /** Resolves true once the group has assigned this member, false after `timeoutMs` (call after start()). */
  assigned(timeoutMs: number): Promise<boolean> {
    return this.#assignments.assigned(timeoutMs);
  }

  get groupId(): string {
    return this.#options.groupId;
  }

  /** Transactions committed, and the batches they carried (their ratio is the amortization). */
  get stats(): { readonly transactions: number; readonly batches: number } {
    return { transactions: this.#transactions, batches: this.#batchesCommitted };
  }

  get dlqTopic(): string {
    return this.#pipeline.dlqTopic;
  }

  /** Connects (initialising transactions, which fences older instances) and starts consuming. */
  async start(): Promise<void> {
    if (this.#state !== 'idle') throw new WritError('BUS_STATE', `processor ${this.groupId} was already started`);
    this.#state = 'running';
    try {
      await requireTopics(this.#kafka, [...this.#options.topics, this.dlqTopic]);
      // Initialising each producer's transactions fences the older instances' producers of the same ids.
      await Promise.all(this.#producers.map((_, index) => this.#connectProducer(index)));
      await this.#consumer.connect();
      await this.#consumer.subscribe({ topics: [...this.#options.topics] });
      await this.#consumer.run({
        eachBatchAutoResolve: false,
        // Every assigned partition is worked on at once; their batches share transactions (#commit).
        partitionsConsumedConcurrently: this.#options.partitionsConsumedConcurrently ?? DEFAULT_CONCURRENT_PARTITIONS,
        eachBatch: (payload) => this.#track(this.#eachBatch(payload)),
      });
    } catch (error) {
      this.#state = 'stopped';
      await this.#consumer.disconnect().catch(() => undefined);
      await this.#disconnectProducers();
      throw error;
    }
  }

  /** Lets the batch in hand finish its transaction (or abort), then disconnects. */
  async stop(): Promise<void> {
    if (this.#state !== 'running') return;
    this.#state = 'stopping';
    this.#abort.abort();
    await Promise.allSettled([...this.#inFlight]);
    this.#endLinger?.();
    await Promise.allSettled([...this.#commits]);
    await this.#consumer.disconnect().catch(() => undefined);
    await this.#disconnectProducers();
    this.#state = 'stopped';
  }

  /**
   * Initialises a producer's transactions, again with a new producer while the broker's answer is
   * transient: a freshly started broker answers NOT_COORDINATOR while it creates and loads its
   * transaction log, and librdkafka gives the first initialisation up with it (seen when six
   * services started their processors at once against a new broker).
   */
  async #connectProducer(index: number): Promise<void> {
    const deadline = Date.now() + PRODUCER_INIT_TIMEOUT_MS;
    for (let attempt = 1; ; attempt += 1) {
      const producer = this.#producers[index] as KafkaJS.Producer;
      try {
        await producer.connect();
        return;
      } catch (error) {
        if (!isKafkaRetriable(error) || Date.now() >= deadline || this.#abort.signal.aborted) throw error;
        this.#logger.warn('initialising a transactional producer failed; trying again', {
          transactional_id: producerTransactionalId(this.#options.transactionalId, index),
          attempt,
          error: describeError(error),
        });
        await producer.disconnect().catch(() => undefined);
        this.#producers[index] = this.#newProducer(index);
        await sleep(retryDelay(attempt, this.#retry), this.#abort.signal);
      }
    }
  }

  async #disconnectProducers(): Promise<void> {
    await Promise.allSettled(this.#producers.map((producer) => producer.disconnect()));
  }

  /**
   * The producer or the consumer failed for good (fenced by another instance with the same
   * transactionalId or group.instance.id): stop, and tell the owner once (onFatal; by default the
   * process exits, so a supervisor starts a fresh instance).
   */
  #fatal(error: unknown): void {
    if (this.#fatalReported) return;
    this.#fatalReported = true;
    (this.#options.onFatal ?? exitOnFatal(this.#logger, `processor ${this.groupId}`))(error);
    void this.stop();
  }

  #newProducer(index: number): KafkaJS.Producer {
    return this.#kafka.producer(
      producerConfig(
        this.#options.lingerMs ?? DEFAULT_LINGER_MS,
        { ...TRANSACTION_RETRY, ...this.#options.rdkafka },
        {
          transactionalId: producerTransactionalId(this.#options.transactionalId, index),
          ...(this.#options.transactionTimeoutMs === undefined ? {} : { transactionTimeout: this.#options.transactionTimeoutMs }),
        },
      ),
    );
  }

  /**
   * Outputs of no input, a timer's: `decide` runs in handling order with the batches (never while
   * an abort is being recovered from, nor while a group is being taken) and returns the events to
   * produce (none: nothing to do). They go in the next transaction with the batches handled
   * meanwhile, through the same producers, so what a timer decided is ordered with what the
   * inputs did. Resolves `committed` once they are; `aborted` when their transaction failed or an
   * abort made them stale (the owner's `onAbort` has run: decide again from the state it
   * rebuilt); `nothing` when `decide` returned none or the processor is not running. An output
   * that cannot be encoded throws here, before anything is queued.
   */
  async emit(decide: () => readonly OutgoingEvent[] | null): Promise<EmitResult> {
    for (;;) {
      if (this.#state !== 'running' || this.#abort.signal.aborted) return 'nothing';
      if (this.#barrier !== null) await this.#barrier;
      else if (this.#recovering !== null) await this.#recovering;
      else break;
    }
    const generation = this.#generation;
    const events = decide() ?? [];
    if (events.length === 0) return 'nothing';
    const active = otelContext.active();
    const order = (this.#handled += 1);
    const outputs = events.map((output) => ({
      send: { record: toRecord(this.#serde, output), parent: parentContextOf(output, active) },
      event: output,
      input: null,
      order,
    }));
    return (await this.#commit({ generation, partitionKey: null, outputs, dlqRecords: [] })) ? 'committed' : 'aborted';
  }

  #track(work: Promise<void>): Promise<void> {
    this.#inFlight.add(work);
    return work.finally(() => this.#inFlight.delete(work));
  }

  /**
   * Partitions being taken away: their batches already queued commit first (the rebalance waits),
   * so the next owner starts after them. Partitions taken up start from their committed position.
   */
  async #rebalancing(change: 'assigned' | 'revoked', partitions: readonly KafkaJS.TopicPartition[]): Promise<void> {
    if (change === 'revoked') {
      this.#endLinger?.();
      await Promise.allSettled([...this.#commits]);
    }
    for (const { topic, partition } of partitions) this.#uncommitted.delete(`${topic}/${partition}`);
  }

  async #eachBatch(payload: KafkaJS.EachBatchPayload): Promise<void> {
    // After a refusal that could not be pinned on one input, batches go one at a time with one
    // input each, until every partition is past the inputs of the refused transaction.
    if (this.#isolate.size === 0) {
      await this.#handleAndCommit(payload, false);
      return;
    }
    await this.#serial.run(() => this.#handleAndCommit(payload, true));
  }

  async #handleAndCommit({ batch, resolveOffset, isStale }: KafkaJS.EachBatchPayload, isolating: boolean): Promise<void> {
    // A flush waiting for the batches in hand holds new ones back (see #flush).
    while (this.#barrier !== null) await this.#barrier;
    const generation = this.#generation;
    const outputs: OutputOf[] = [];
    const dlqRecords: KafkaJS.Message[] = [];
    const partitionKey = `${batch.topic}/${batch.partition}`;
    let lastDone: string | undefined;
    let committed: Promise<boolean> | undefined;
    this.#handling += 1;
    try {
      for (const message of batch.messages) {
        // While an abort is being recovered from (the owner rebuilding its state), nothing is
        // handled; after it, this batch is stale: consumed again from the committed offset.
        if (this.#recovering !== null) await this.#recovering;
        if (generation !== this.#generation) return;
        if (this.#abort.signal.aborted || isStale() || (isolating && lastDone !== undefined)) break;
        const input = inputKey(batch.topic, batch.partition, message.offset);
        let produced: OutputOf[] = [];
        const outcome = await this.#pipeline.process(
          { topic: batch.topic, partition: batch.partition, message },
          async (event, ctx) => {
            const unproducible = this.#unproducible.get(input);
            if (unproducible !== undefined) {
              // Its output was refused by the broker last time and would be again: dead-letter the input.
              this.#unproducible.delete(input);
              throw new WritError(unproducible.code, `its output cannot be produced: ${unproducible.reason}`);
            }
            const events = (await this.#options.handler(event, ctx)) ?? [];
            const active = otelContext.active();
            // Numbered as handled: a transaction sends the outputs of all its batches in this order.
            const order = (this.#handled += 1);
            // Encoding happens here so that an invalid output counts as this input's failure.
            produced = events.map((output) => ({
              send: { record: toRecord(this.#serde, output), parent: parentContextOf(output, active) },
              event: output,
              input,
              order,
            }));
          },
          (record) => {
            dlqRecords.push(record);
            return Promise.resolve('done');
          },
        );
        if (outcome === 'interrupted') break;
        outputs.push(...produced);
        lastDone = message.offset;
      }
      if (isStale()) this.#isolate.delete(partitionKey);
      // Nothing resolved means the client seeks back to the batch's first message: it comes again.
      if (lastDone === undefined || isStale() || generation !== this.#generation) return;
      const first = batch.messages[0]?.offset ?? lastDone;
      committed = this.#commit({ generation, partitionKey, topic: batch.topic, partition: batch.partition, first, lastDone, outputs, dlqRecords });
    } finally {
      // Queued (or given up) before it stops counting as in hand, so a flush's barrier takes it.
      this.#handling -= 1;
      if (this.#handling === 0) this.#drained?.();
    }
    if (committed === undefined) return;
    if (!isolating) {
      // The client goes on with the partition while the batch commits: were the handler to wait
      // for its transaction, the client would hand no worker any new message meanwhile, of any
      // partition. If the transaction aborts, #rewind takes the partition back to its committed position.
      resolveOffset(lastDone);
      return;
    }
    // Isolating, each transaction must carry one input: the next waits for this one.
    if (!(await committed) || isStale()) return;
    const isolateUntil = this.#isolate.get(partitionKey);
    if (isolateUntil !== undefined && BigInt(lastDone) >= isolateUntil) this.#isolate.delete(partitionKey);
    resolveOffset(lastDone);
  }

  /**
   * Group commit: a batch handled while a transaction is in flight waits for the next one, which
   * then carries every batch that finished meanwhile (of any partition). Idle, a batch commits at
   * once; busy, one transaction's round trips are shared by all the partitions' batches.
   * Resolves false when the batch's transaction aborted, or when it was handled against state
   * an abort since made stale: its input is consumed again.
   */
  #commit(batch: HandledBatch): Promise<boolean> {
    if (hasInput(batch)) {
      const pending = this.#uncommitted.get(batch.partitionKey);
      if (pending === undefined)
        this.#uncommitted.set(batch.partitionKey, { topic: batch.topic, partition: batch.partition, from: batch.first, last: batch.lastDone });
      else pending.last = batch.lastDone;
    }
    const committed = new Promise<boolean>((resolve) => {
      this.#queue.push({ batch, resolve });
      if (!this.#mayWait(batch)) this.#endLinger?.();
      if (!this.#flushing) {
        this.#flushing = true;
        void this.#flush().finally(() => {
          this.#flushing = false;
        });
      }
    });
    this.#commits.add(committed);
    void committed.then((ok) => {
      this.#commits.delete(committed);
      if (ok) this.#settled(batch);
    });
    return committed;
  }

  /** The batch is committed: its partition's uncommitted inputs now start after it, if any remain. */
  #settled(batch: HandledBatch): void {
    if (!hasInput(batch)) return;
    const pending = this.#uncommitted.get(batch.partitionKey);
    if (pending === undefined) return;
    if (pending.last === batch.lastDone) this.#uncommitted.delete(batch.partitionKey);
    else pending.from = nextOffset(batch.lastDone);
  }

  /**
   * After an abort, every partition consumed past its committed position is consumed again from
   * there. The seek also marks a batch of it in hand stale, and the client hands out no new batch
   * until the seek is applied. Partitions no longer assigned are left alone: their next owner
   * starts from the committed position (a seek would be kept for a later assignment, and rewind
   * it past what was committed since).
   */
  #rewind(): void {
    for (const pending of this.#uncommitted.values()) {
      if (!this.#assignments.has(pending.topic, pending.partition)) continue;
      try {
        this.#consumer.seek({ topic: pending.topic, partition: pending.partition, offset: pending.from });
      } catch (error) {
        // Only when the consumer is disconnecting: nothing more is consumed anyway.
        this.#logger.warn('could not seek back after an abort', { error: describeError(error), topic: pending.topic, partition: pending.partition });
      }
    }
    this.#uncommitted.clear();
  }

  /**
   * Commits what is queued, one transaction at a time. Handlers of different partitions share the
   * owner's state (a run's events arrive on several topics, a tenant's on every partition), so a
   * batch may depend on another's inputs, both ways when their messages interleaved: a group is
   * taken only when no batch is half handled (new ones wait at the barrier meanwhile, briefly),
   * and its outputs go out in the order they were handled. What is handled while a transaction
   * is in flight depends at most on that transaction: it goes in the next, or is stale if it aborts.
   */
  async #flush(): Promise<void> {
    // A group waits once: taken again after its wait, it commits with what came meanwhile.
    let waited = false;
    while (this.#queue.length > 0) {
      if (this.#handling > 0) {
        let lift: () => void = () => undefined;
        this.#barrier = new Promise<void>((resolve) => {
          lift = resolve;
        });
        await new Promise<void>((resolve) => {
          this.#drained = resolve;
        });
        this.#drained = undefined;
        this.#barrier = null;
        lift();
      }
      const group = this.#queue;
      this.#queue = [];
      const live = group.filter((queued) => queued.batch.generation === this.#generation);
      for (const queued of group) if (!live.includes(queued)) queued.resolve(false);
      if (live.length === 0) continue;
      if (!waited && live.every((queued) => this.#mayWait(queued.batch))) {
        const deferred = live.some((queued) => publishes(queued.batch));
        const ended = await this.#lingerForOutputs(deferred);
        if (ended === 'output' || (ended === 'waited' && deferred)) {
          // A batch that may not wait came meanwhile (or deferred events waited their most): all of
          // them go in one transaction (taken again, behind the barrier, with what was handled meanwhile).
          this.#queue = [...live, ...this.#queue];
          waited = true;
          continue;
        }
      }
      waited = false;
      const ok = await this.#commitGroup(live.map((queued) => queued.batch));
      for (const queued of live) queued.resolve(ok);
    }
  }

  /** True when the batch publishes nothing, or only events that may wait (`deferrable`). */
  #mayWait(batch: HandledBatch): boolean {
    if (!publishes(batch)) return true;
    const deferrable = this.#options.deferrable;
    if (deferrable === undefined || deferrable.maxWaitMs <= 0 || batch.dlqRecords.length > 0) return false;
    return batch.outputs.every((output) => deferrable.events.includes(output.event.type));
  }

  /**
   * Waits up to OFFSETS_ONLY_LINGER_MS (`deferrable.maxWaitMs` when `deferred` events wait) for a
   * batch that may not wait: 'output' when one was queued, 'waited' when none came, 'no' when it
   * did not wait: while isolating a refusal (each batch then waits for its own commit), stopping,
   * or when a revocation wants the queued commits done.
   */
  async #lingerForOutputs(deferred: boolean): Promise<'output' | 'waited' | 'no'> {
    if (this.#isolate.size > 0 || this.#state !== 'running') return 'no';
    const ms = deferred ? (this.#options.deferrable?.maxWaitMs ?? 0) : (this.#options.offsetsOnlyLingerMs ?? OFFSETS_ONLY_LINGER_MS);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(end, ms);
      function end(): void {
        clearTimeout(timer);
        resolve();
      }
      this.#endLinger = end;
    });
    this.#endLinger = null;
    return this.#queue.some((queued) => !this.#mayWait(queued.batch)) ? 'output' : 'waited';
  }

  /**
   * One transaction for the batches (or a plain offset commit when none publishes anything). A
   * transaction runs in a span (`transaction`) that times each phase: what a hop's commit costs.
   */
  async #commitGroup(batches: readonly HandledBatch[]): Promise<boolean> {
    const offsets = offsetsOf(batches);
    const outputs = batches.flatMap((batch) => batch.outputs).sort((a, b) => a.order - b.order);
    const dlqRecords = batches.flatMap((batch) => batch.dlqRecords);
    if (outputs.length === 0 && dlqRecords.length === 0) {
      // Nothing to publish (most inputs of a service are events it only skips): a transaction
      // would commit the offsets and nothing else, at the cost of four broker round trips while
      // the partitions wait. A plain offset commit is the same outcome.
      try {
        await this.#consumer.commitOffsets(offsets.flatMap(({ topic, partitions }) => partitions.map((p) => ({ topic, ...p }))));
        return true;
      } catch (error) {
        await this.#recover(error);
        return false;
      }
    }
    const span = busTracer().startSpan('transaction', {
      root: true,
      attributes: { [ATTR.consumerGroup]: this.groupId, [ATTR.txBatches]: batches.length, [ATTR.txOutputs]: outputs.length + dlqRecords.length },
    });
    let at = performance.now();
    const phase = (attribute: string): void => {
      const now = performance.now();
      span.setAttribute(attribute, Math.round((now - at) * 100) / 100);
      at = now;
    };
    // The producers take turns: the previous one's commit may still be finishing on the coordinator.
    const index = this.#turn;
    this.#turn = (index + 1) % this.#producers.length;
    const producer = this.#producers[index] as KafkaJS.Producer;
    try {
      await producer.transaction();
      const sends: Promise<unknown>[] = [
        sendTraced(
          producer,
          outputs.map((o) => o.send),
        ),
      ];
      if (dlqRecords.length > 0) sends.push(producer.send({ topic: this.dlqTopic, messages: dlqRecords }));
      const settled = await Promise.allSettled(sends);
      const failed = settled.find((result) => result.status === 'rejected');
      if (failed !== undefined) {
        this.#noteRefusal(batches, outputs, failed.reason);
        throw failed.reason;
      }
      phase(ATTR.txSendMs);
      // Emitted outputs alone consume nothing: their transaction has no offsets.
      if (offsets.length > 0) await producer.sendOffsets({ consumer: this.#consumer, topics: offsets });
      phase(ATTR.txOffsetsMs);
      await producer.commit();
      phase(ATTR.txCommitMs);
      this.#consecutiveAborts = 0;
      this.#transactions += 1;
      this.#batchesCommitted += batches.length;
      this.#committed(outputs);
      return true;
    } catch (error) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: describeError(error) });
      await this.#recover(error, index);
      return false;
    } finally {
      span.end();
    }
  }

  /** Tells onCommitted what a committed transaction published. */
  #committed(outputs: readonly OutputOf[]): void {
    const onCommitted = this.#options.onCommitted;
    if (onCommitted === undefined || outputs.length === 0) return;
    try {
      onCommitted(outputs.map((output) => output.event));
    } catch (error) {
      this.#logger.warn('onCommitted failed; the transaction is committed all the same', { error: describeError(error) });
    }
  }

  /**
   * When the broker refused output for a reason that will not go away (too large, invalid
   * record), the input responsible must go to the DLQ, or every transaction of its partition
   * fails forever. The broker refuses a whole request, siblings included, so the culprit is known
   * only when one input is in the transaction; otherwise the partition is replayed one input per
   * transaction up to `lastDone`, which pins it down.
   */
  #noteRefusal(batches: readonly HandledBatch[], outputs: readonly OutputOf[], error: unknown): void {
    const code = (error as { code?: unknown } | null)?.code;
    if (typeof code !== 'number' || !PERMANENT_REFUSALS.has(code)) return;
    // An emitted output refused alone pins no input: its emit reports the abort.
    const inputs = new Set(outputs.map((o) => o.input));
    const [only] = inputs;
    if (inputs.size === 1) {
      if (typeof only === 'string') this.#unproducible.set(only, classifyFailure(error));
    } else for (const batch of batches.filter(hasInput)) this.#isolate.set(batch.partitionKey, BigInt(batch.lastDone));
  }

  /**
   * After a failed transaction (of the producer `index`; none for a plain offset commit): abort it
   * (or replace the producer), tell the owner, back off.
   */
  async #recover(error: unknown, index?: number): Promise<void> {
    let recovered: () => void = () => undefined;
    this.#recovering = new Promise<void>((resolve) => {
      recovered = resolve;
    });
    try {
      await this.#recoverFrom(error, index);
    } finally {
      this.#recovering = null;
      recovered();
    }
  }

  async #recoverFrom(error: unknown, index: number | undefined): Promise<void> {
    this.#consecutiveAborts += 1;
    // Every batch handled from here on was handled against state the abort invalidates.
    this.#generation += 1;
    if (isFatal(error)) {
      this.#logger.error('transactional producer failed fatally; stopping', {
        error: describeError(error),
        transactionalId: this.#options.transactionalId,
      });
      this.#fatal(error);
      return;
    }
    this.#logger.warn('transaction aborted; the batch will be consumed again', {
      error: describeError(error),
      transactionalId: this.#options.transactionalId,
      consecutiveAborts: this.#consecutiveAborts,
    });
    const producer = index === undefined ? undefined : this.#producers[index];
    if (producer !== undefined && index !== undefined) {
      try {
        if (producer.isActive()) await producer.abort();
      } catch (abortError) {
        if (isFatal(abortError)) {
          this.#logger.error('transactional producer fenced or failed fatally; stopping', {
            error: describeError(abortError),
            transactionalId: producerTransactionalId(this.#options.transactionalId, index),
          });
          this.#fatal(abortError);
          return;
        }
        this.#logger.warn('abort failed; replacing the transactional producer', { error: describeError(abortError) });
        await producer.disconnect().catch(() => undefined);
        const replacement = this.#newProducer(index);
        this.#producers[index] = replacement;
        try {
          await replacement.connect();
        } catch (connectError) {
          this.#fatal(connectError);
          return;
        }
      }
    }
    await this.#options.onAbort?.(error);
    // And so was every batch taken while the owner was dropping that state.
    this.#generation += 1;
    this.#rewind();
    await sleep(retryDelay(this.#consecutiveAborts, this.#retry), this.#abort.signal);
  }
}

/** Builds and starts a TransactionalProcessor. */
export async function runTransactional(options: TransactionalProcessorOptions): Promise<TransactionalProcessor> {
  const processor = new TransactionalProcessor(options);
  await processor.start();
  return processor;
}
