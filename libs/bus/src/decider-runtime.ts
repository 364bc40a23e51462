// One runtime for the deciders over Kafka (issue 7): state per key in memory, fed by a loop that
// publishes each input's outputs before its offset counts (in one transaction with it, or
// acknowledged before it), a timer per key whose outputs go through the same loop's transactions,
// and one "catch up to the end, then follow" rebuild, at boot, after a failed publication and when
// the group gives partitions. A service is its configuration: how an input routes to a key, one
// step, the timer, the rebuild.
import { INVALID_SPAN_CONTEXT, SpanStatusCode, context as otelContext, trace } from '@opentelemetry/api';
import type { Attributes, Span } from '@opentelemetry/api';
import { WritError, describeError } from '@writ/errors';
import { contractsSerde } from './contracts-serde.ts';
import { EventConsumer, replicaName } from './consumer.ts';
import type { EventConsumerOptions, EventContext } from './consumer.ts';
import { stderrLogger } from './logger.ts';
import type { BusLogger } from './logger.ts';
import type { DecodedEvent, EventSerde, OutgoingEvent } from './serde.ts';
import { EventProducer } from './producer.ts';
import { TransactionalProcessor } from './transactional.ts';
import type { TransactionalProcessorOptions } from './transactional.ts';

/** A key's state as the runtime holds it. */
export interface DeciderSlot<S> {
  readonly state: S;
  readonly tenant: string;
  /**
   * The partition of the key on every input topic (co-partitioned by it: a run), so only its owner
   * runs its timer; null for a key that spans partitions (a tenant: one instance serves them all).
   */
  readonly partition: number | null;
}

/** Where an input goes: its key, and what the step is given. */
export interface DeciderRoute<I> {
  readonly key: string;
  readonly tenant: string;
  readonly partition: number | null;
  readonly input: I;
  /**
   * The step's span: its name and attributes (the runtime opens it in the input's trace and ends it
   * once the outputs are handed over, or acknowledged); null for an input that is only folded.
   */
  readonly span: { readonly name: string; readonly attributes: Attributes } | null;
}

/** What one step decided: the key's next state and the events to publish with the input's offset. */
export interface DeciderStep<S> {
  readonly state: S;
  readonly outputs: readonly OutgoingEvent[];
  /** A deadline the step set: the key's timer moves earlier to it (it never moves later on a step). */
  readonly deadline?: number | null;
}

/** The timer of a key. */
export interface DeciderTimers<S> {
  /** The key's next deadline from its whole state (after a rebuild, when the timer fired, for a key with none). */
  next(state: S, now: number): number | null;
  /**
   * What is due at `now`: null when nothing is. `open` starts the step's span (ended by the
   * runtime): a timer that finds nothing due leaves no span.
   */
  expire(key: string, slot: DeciderSlot<S>, now: number, open: (name: string, attributes: Attributes) => Span): DeciderStep<S> | null;
}

export interface DeciderSpec<I, S> {
  /** The service (`writ.<name>` is its tracer; logs name it). */
  readonly name: string;
  /**
   * The input an event is for this decider, or null (not its type, not its tenant, invalid: logged
   * by the spec). `stateOf` is a key's state now (its initial one if it has none yet), for a route
   * that depends on it.
   */
  route(event: DecodedEvent, ctx: EventContext, now: number, stateOf: (key: string, tenant: string) => S): DeciderRoute<I> | null;
  /** The state of a key seen for the first time. */
  initial(key: string, tenant: string, now: number): S;
  /**
   * One input on its key's state; pure but for the span and `now`. Throwing fails the input
   * (retried, then its DLQ) and must leave the state as it was: a state changed in place (the PDP's,
   * a chain's index) is changed only once nothing can throw.
   */
  step(input: I, slot: DeciderSlot<S> & { readonly key: string }, span: Span, now: number): DeciderStep<S>;
  /** Reads the topics to their end (read_committed) and folds them: every key's state. */
  rebuild(): Promise<ReadonlyMap<string, DeciderSlot<S>>>;
  /**
   * Whether a partition gained after boot is read again: true for a decider that scales out by
   * partition (the planner, the PDP: another instance may have moved it meanwhile); false for one
   * that runs as a single instance (the accountant, the ledger: a tenant's state spans partitions),
   * whose state of a partition it loses and gains back is still its own. A lost transaction aborts
   * and is read again either way.
   */
  readonly readsGainedPartitions: boolean;
  readonly timers?: DeciderTimers<S>;
  /**
   * Outputs of this decider now on the log (its steps' and its timers'), in the order sent: once
   * their transaction committed (transactional loop; never those of an aborted one) or once
   * acknowledged (acknowledged loop). Never what a rebuild reads back. For counting what was
   * published (metrics); it must not throw.
   */
  published?(events: readonly OutgoingEvent[]): void;
}

/**
 * How a decider's outputs reach Kafka:
 * - `transactional`: with the input's offset in one transaction (TransactionalProcessor), so a
 *   crash or an abort never leaves one without the other; timers emit through it too.
 * - `acknowledged`: sent as soon as they are decided, several inputs' sends in flight together, and
 *   an input counts as handled once its outputs are acknowledged (at least once). For a decider
 *   whose outputs are idempotent by their content (a redelivered input finds its outputs in the
 *   rebuilt state and publishes nothing): the PDP, whose decision is then on the log a
 *   transaction's round trips sooner. No timers.
 */
export type DeciderLoop =
  | {
      readonly kind: 'transactional';
      /** The transactional id is the replica's name (`replicaName`: `<groupId>.<instanceId>`), as its static membership. */
      readonly options: Omit<TransactionalProcessorOptions, 'handler' | 'onAbort' | 'onAssignment' | 'onCommitted' | 'transactionalId' | 'instanceId'> & {
        readonly instanceId: string;
      };
    }
  | { readonly kind: 'acknowledged'; readonly options: Omit<EventConsumerOptions, 'handler' | 'onAssignment'>; readonly producerClientId: string };

export interface DeciderRuntimeOptions<I, S> {
  readonly spec: DeciderSpec<I, S>;
  /** The loop's consumer group, topics, DLQ... (its handler, onAbort and onAssignment are the runtime's). */
  readonly loop: DeciderLoop;
  /** How long the boot waits for the group to assign this instance. */
  readonly assignmentTimeoutMs: number;
  readonly logger?: BusLogger;
}

interface Slot<S> {
  state: S;
  readonly tenant: string;
  readonly partition: number | null;
  timer: NodeJS.Timeout | undefined;
  due: number | null;
}

/** How soon a timer whose transaction failed is tried again (from the state rebuilt meanwhile). */
export const TIMER_RETRY_MS = 100;

/** setTimeout holds at most ~24.8 days; a later deadline is looked at again then. */
const MAX_DELAY_MS = 2 ** 31 - 1;

/**
 * A decider's state, kept against Kafka:
 * - an input is routed to its key, stepped on the key's state and its outputs published before its
 *   offset counts: in the transaction that commits it (exactly once), or acknowledged before it
 *   (at least once, for outputs a redelivered input finds in the rebuilt state);
 * - a key's timer decides in handling order with the inputs (`emit`) and its outputs go in the next
 *   transaction, through the same producers;
 * - after an aborted transaction or a failed send the state is marked stale and read again from
 *   the topics before the next input or timer; so is it when the group gives this instance a
 *   partition after boot (its keys here are as old as the last read, and another instance may
 *   have moved them since);
 * - only the keys of the partitions this instance owns (or of none) run timers.
 */
export class DeciderRuntime<I, S> {
  readonly #options: DeciderRuntimeOptions<I, S>;
  readonly #spec: DeciderSpec<I, S>;
  readonly #logger: BusLogger;
  readonly #tracer;
  readonly #serde: EventSerde;
  readonly #slots = new Map<string, Slot<S>>();
  #processor: TransactionalProcessor | undefined;
  /** The acknowledged loop's consumer and producer. */
  #consumer: EventConsumer | undefined;
  #producer: EventProducer | undefined;
  /** Sends of the acknowledged loop not yet acknowledged: a rebuild waits for them, to read what they wrote. */
  readonly #sending = new Set<Promise<void>>();
  #ready: Promise<void> = Promise.resolve();
  #dirty = false;
  #rebuilding: Promise<void> | null = null;
  /** Timers' work and the reads of gained partitions, one after another. */
  #timers: Promise<void> = Promise.resolve();
  #stopped = false;
  #booted = false;
  /** Partitions this instance owns (of its input topics). null until the group first assigned. */
  #owned: ReadonlySet<number> | null = null;

  constructor(options: DeciderRuntimeOptions<I, S>) {
    this.#options = options;
    this.#spec = options.spec;
    this.#logger = options.logger ?? options.loop.options.logger ?? stderrLogger;
    this.#tracer = trace.getTracer(`writ.${options.spec.name}`);
    this.#serde = options.loop.options.serde ?? contractsSerde;
    if (options.loop.kind === 'acknowledged' && options.spec.timers !== undefined) {
      throw new WritError('CONFIG_INVALID', `${options.spec.name}: timers need the transactional loop`, {
        field: 'loop',
        rule: "'transactional' when the spec has timers",
      });
    }
  }

  /** The partitions of the input topics this instance owns now, ascending (diagnostics and tests). */
  ownedPartitions(): number[] {
    return [...(this.#owned ?? [])].sort((x, y) => x - y);
  }

  /** A key's state, as this instance holds it (diagnostics, read models, tests). */
  stateOf(key: string): S | undefined {
    return this.#slots.get(key)?.state;
  }

  get size(): number {
    return this.#slots.size;
  }

  /** Every key and its state, as this instance holds them now (metrics gauges, diagnostics). */
  *states(): IterableIterator<readonly [string, S]> {
    for (const [key, slot] of this.#slots) yield [key, slot.state];
  }

  /** Transactions committed, and the batches they carried. */
  get stats(): { readonly transactions: number; readonly batches: number } {
    return this.#processor?.stats ?? { transactions: 0, batches: 0 };
  }

  /**
   * Starts the loop (which fences a predecessor with the same transactional id, aborting its open
   * transaction), waits for the group to assign this instance (at once for a restarted static
   * member), then reads the topics: what another instance did with the partitions until then is
   * read too. Inputs wait for that read.
   */
  async start(): Promise<void> {
    let release: () => void = () => undefined;
    this.#ready = new Promise<void>((resolve) => {
      release = resolve;
    });
    const onAssignment = (assignment: readonly { readonly partition: number }[]): void => this.#assigned(new Set(assignment.map((a) => a.partition)));
    const loop = this.#options.loop;
    try {
      if (loop.kind === 'transactional') {
        this.#processor = new TransactionalProcessor({
          ...loop.options,
          transactionalId: replicaName(loop.options.groupId, loop.options.instanceId),
          logger: this.#logger,
          handler: (event, ctx) => this.#handle(event, ctx, null),
          // The state may hold what the aborted transaction decided: read it again before the next input.
          onAbort: () => {
            this.#dirty = true;
          },
          ...(this.#spec.published === undefined ? {} : { onCommitted: (events: readonly OutgoingEvent[]) => this.#spec.published?.(events) }),
          onAssignment,
        });
        await this.#processor.start();
        await this.#processor.assigned(this.#options.assignmentTimeoutMs);
      } else {
        const producer = new EventProducer({
          brokers: loop.options.brokers,
          clientId: loop.producerClientId,
          logger: this.#logger,
          ...(loop.options.serde === undefined ? {} : { serde: loop.options.serde }),
        });
        this.#producer = producer;
        await producer.connect();
        this.#consumer = new EventConsumer({
          ...loop.options,
          logger: this.#logger,
          handler: (event, ctx) => this.#handle(event, ctx, producer),
          onAssignment,
        });
        await this.#consumer.start();
        await this.#consumer.assigned(this.#options.assignmentTimeoutMs);
      }
      await this.#rebuild();
      this.#booted = true;
    } catch (error) {
      await this.stop();
      throw error;
    } finally {
      release();
    }
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const slot of this.#slots.values()) clearTimeout(slot.timer);
    await this.#processor?.stop();
    await this.#consumer?.stop();
    await this.#producer?.disconnect();
    await this.#timers.catch(() => undefined);
  }

  /**
   * One input: routed, stepped on its key's state (applied at once, so the next input sees it) and
   * its outputs handed to the transaction (transactional loop) or sent, resolving once they are
   * acknowledged (acknowledged loop: `producer`).
   */
  async #handle(event: DecodedEvent, ctx: EventContext, producer: EventProducer | null): Promise<readonly OutgoingEvent[]> {
    await this.#ready;
    // A rebuild in progress is waited for too: an input handled meanwhile would change the state the
    // rebuild then replaces, while its outputs land after the rebuild read the topics (the state
    // would forget what was published). No timer is in flight then: an abort made those queued
    // stale, and a revocation waited for their transactions (timers decide nothing while dirty).
    if (this.#dirty || this.#rebuilding !== null) await this.#fresh();
    const now = Date.now();
    const route = this.#spec.route(event, ctx, now, (key, tenant) => this.#slots.get(key)?.state ?? this.#spec.initial(key, tenant, now));
    if (route === null) return [];
    const slot = this.#slotOf(route, now);
    const span =
      route.span === null
        ? trace.wrapSpanContext(trace.getSpanContext(ctx.traceContext) ?? INVALID_SPAN_CONTEXT)
        : this.#tracer.startSpan(route.span.name, { attributes: route.span.attributes }, ctx.traceContext);
    const failed = (error: unknown): never => {
      span.recordException(error instanceof Error ? error : new Error(String(error)));
      span.setStatus({ code: SpanStatusCode.ERROR, message: describeError(error) });
      span.end();
      throw error;
    };
    let outputs: readonly OutgoingEvent[];
    try {
      const step = otelContext.with(trace.setSpan(ctx.traceContext, span), () =>
        this.#spec.step(route.input, { key: route.key, state: slot.state, tenant: slot.tenant, partition: slot.partition }, span, now),
      );
      this.#encodable(step.outputs);
      slot.state = step.state;
      this.#afterStep(route.key, slot, step, now);
      outputs = step.outputs;
    } catch (error) {
      return failed(error);
    }
    if (producer === null || outputs.length === 0) {
      span.end();
      return producer === null ? outputs : [];
    }
    const sending = otelContext
      .with(trace.setSpan(ctx.traceContext, span), () => producer.send(outputs))
      .then(
        () => {
          span.end();
          this.#published(outputs);
        },
        (error: unknown) => {
          // The state holds outputs that may not have landed: read the topics again before the next input.
          this.#dirty = true;
          return failed(error);
        },
      );
    this.#sending.add(sending);
    void sending.finally(() => this.#sending.delete(sending)).catch(() => undefined);
    await sending;
    return [];
  }

  /** Tells the spec what the acknowledged loop's producer has acknowledged. */
  #published(outputs: readonly OutgoingEvent[]): void {
    try {
      this.#spec.published?.(outputs);
    } catch (error) {
      this.#logger.warn(`${this.#spec.name}: published() failed; the outputs are sent all the same`, { error: describeError(error) });
    }
  }

  /**
   * Every output encodes, or this throws: an output that cannot be encoded fails its step before the
   * state moves on. A state changed in place by the step is read again first.
   */
  #encodable(outputs: readonly OutgoingEvent[]): void {
    try {
      for (const output of outputs) this.#serde.encode(output);
    } catch (error) {
      this.#dirty = true;
      throw error;
    }
  }

  #slotOf(route: DeciderRoute<I>, now: number): Slot<S> {
    let slot = this.#slots.get(route.key);
    if (slot === undefined) {
      slot = { state: this.#spec.initial(route.key, route.tenant, now), tenant: route.tenant, partition: route.partition, timer: undefined, due: null };
      this.#slots.set(route.key, slot);
    }
    return slot;
  }

  /**
   * The timer moves earlier when the step set an earlier deadline and stays otherwise (a deadline
   * that passed without need fires once for nothing and is set again from the state); a key with
   * no timer gets one from its state. No scan of the key's state per step when it has one.
   */
  #afterStep(key: string, slot: Slot<S>, step: DeciderStep<S>, now: number): void {
    const timers = this.#spec.timers;
    if (timers === undefined) return;
    let next = slot.due ?? timers.next(slot.state, now);
    const deadline = step.deadline ?? null;
    if (deadline !== null && (next === null || deadline < next)) next = deadline;
    this.#arm(key, slot, next);
  }

  #owns(slot: Slot<S>): boolean {
    return slot.partition === null || this.#owned?.has(slot.partition) === true;
  }

  #arm(key: string, slot: Slot<S>, wanted: number | null): void {
    if (this.#stopped) return;
    const next = this.#owns(slot) ? wanted : null;
    if (next === slot.due) return;
    clearTimeout(slot.timer);
    slot.due = next;
    slot.timer = undefined;
    if (next === null) return;
    const delay = Math.min(Math.max(0, next - Date.now()) + 1, MAX_DELAY_MS);
    slot.timer = setTimeout(() => {
      slot.timer = undefined;
      slot.due = null;
      this.#timers = this.#timers
        .then(() => this.#expire(key))
        .catch((error: unknown) => {
          this.#logger.error(`${this.#spec.name} timer failed`, { key, error: describeError(error) });
        });
    }, delay);
    slot.timer.unref();
  }

  /**
   * The group gave or took partitions: timers stop for the keys of partitions lost, and a partition
   * gained after boot is read again before the next input or timer (which also sets the timers),
   * when the spec says another instance may have moved it.
   */
  #assigned(owned: ReadonlySet<number>): void {
    const before = this.#owned ?? new Set<number>();
    this.#owned = owned;
    const gained = [...owned].filter((partition) => !before.has(partition));
    this.#logger.info(`${this.#spec.name} partitions assigned`, { owned: [...owned].sort(), gained });
    for (const [key, slot] of this.#slots) {
      if (!this.#owns(slot)) this.#arm(key, slot, null);
    }
    if (!this.#booted || gained.length === 0 || !this.#spec.readsGainedPartitions) return;
    this.#dirty = true;
    // After any timer's transaction in flight (the read must see what it published).
    this.#timers = this.#timers
      .then(() => this.#fresh())
      .catch((error: unknown) => {
        // Still dirty: the next input or timer reads the topics again.
        this.#dirty = true;
        this.#logger.warn(`${this.#spec.name}: reading gained partitions failed; retried before the next input`, { error: describeError(error) });
      });
  }

  /**
   * A key's timer fired: what is due is decided through the processor (in handling order with the
   * inputs, committed in the next transaction). Nothing is decided from a state about to be
   * replaced (dirty, rebuilding) or for a key of a partition not owned; the timer is set again from
   * the state either way.
   */
  async #expire(key: string): Promise<void> {
    const timers = this.#spec.timers;
    await this.#ready;
    if (this.#stopped || timers === undefined) return;
    await this.#fresh();
    const processor = this.#processor;
    if (processor === undefined) return;
    let span: Span | undefined;
    try {
      const result = await processor.emit(() => {
        const slot = this.#slots.get(key);
        if (slot === undefined || this.#stopped || this.#dirty || this.#rebuilding !== null || !this.#owns(slot)) return null;
        const open = (name: string, attributes: Attributes): Span => {
          span ??= this.#tracer.startSpan(name, { attributes });
          return span;
        };
        const step = timers.expire(key, { state: slot.state, tenant: slot.tenant, partition: slot.partition }, Date.now(), open);
        if (step === null || step.outputs.length === 0) return null;
        this.#encodable(step.outputs);
        // Applied now, so an input handled before the commit sees it; if the transaction aborts,
        // onAbort marks the state for a rebuild.
        slot.state = step.state;
        return step.outputs;
      });
      if (result === 'aborted') {
        span?.setStatus({ code: SpanStatusCode.ERROR, message: 'the transaction aborted' });
        this.#logger.warn(`${this.#spec.name}: a timer's transaction aborted; the state is read again from the topics`, { key });
      }
    } catch (error) {
      this.#dirty = true;
      span?.recordException(error as Error);
      span?.setStatus({ code: SpanStatusCode.ERROR, message: describeError(error) });
      this.#logger.warn(`${this.#spec.name}: a timer failed; the state is read again from the topics`, { key, error: describeError(error) });
    } finally {
      span?.end();
      const slot = this.#slots.get(key);
      // After a failure the next attempt rebuilds first (#fresh), which sets every key's timer again.
      if (slot !== undefined) this.#arm(key, slot, this.#dirty ? Date.now() + TIMER_RETRY_MS : timers.next(slot.state, Date.now()));
    }
  }

  /** Reads the topics again when a transaction failed or a partition was gained since the last read; one read at a time. */
  async #fresh(): Promise<void> {
    if (this.#rebuilding === null && this.#dirty) {
      this.#rebuilding = this.#rebuild().finally(() => {
        this.#rebuilding = null;
      });
    }
    if (this.#rebuilding !== null) await this.#rebuilding;
  }

  async #rebuild(): Promise<void> {
    // What is still being sent lands (or fails) first: the read must see every output that landed.
    await Promise.allSettled([...this.#sending]);
    this.#dirty = false;
    const slots = await this.#spec.rebuild();
    for (const slot of this.#slots.values()) clearTimeout(slot.timer);
    this.#slots.clear();
    const now = Date.now();
    for (const [key, { state, tenant, partition }] of slots) {
      const slot: Slot<S> = { state, tenant, partition, timer: undefined, due: null };
      this.#slots.set(key, slot);
      if (this.#spec.timers !== undefined) this.#arm(key, slot, this.#spec.timers.next(state, now));
    }
  }
}
