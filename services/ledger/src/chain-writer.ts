// The chain's only writer: consumes every Writ topic in Kafka transactions, appends each event once
// to its tenant's chain and produces the LedgerEntry (and, every N entries, a signed
// LedgerCheckpoint) in the same transaction as the input offsets: exactly once. A chain's timer
// signs its head too once an entry has waited WRIT_LEDGER_CHECKPOINT_INTERVAL_MS unsigned, so the
// tail no checkpoint vouches for stays short. Configuration over the decider runtime of
// @writ/bus: a chain (a tenant) is a key, its head the key's state.
import { DeciderRuntime, contractsSerde, groupLag, replayCommitted, writEvent } from '@writ/bus';
import type { BusLogger, DecodedEvent, DeciderSlot, DeciderSpec, DeciderTimers, EventSerde, OutgoingEvent, PartitionLag } from '@writ/bus';
import { TOPICS, decodeEvent, newMetadata } from '@writ/contracts';
import type { LedgerCheckpoint, LedgerEntry, Metadata } from '@writ/contracts';
import type { TenantFilter } from '@writ/config';
import type { SigningKey } from '@writ/crypto';
import { appendCommandOf, chainDecider, nextCheckpointAt, signHead } from '@writ/ledger-core';
import type { ChainCommand, ChainEvent, ChainOptions, ChainState } from '@writ/ledger-core';
import { WRIT_ATTR, WRIT_METRIC, writCounter } from '@writ/telemetry';

/**
 * The topics the ledger chains: every event stream (a new topic in schemas/topics.json is chained
 * without a change here) except its own and the detail tier's tool results (writ.results.v1: short-lived;
 * the chained ActionExecuted keeps each body's digest, results-projector.ts gives analysts the body).
 */
export const CHAINED_TOPICS: readonly string[] = Object.values(TOPICS).filter((topic) => topic !== TOPICS.ledger && topic !== TOPICS.results);

/** A decoded event that still has the exact bytes it was read as. */
type RawDecodedEvent = DecodedEvent & {
  readonly bytes: Buffer;
};

/** contractsSerde, keeping a copy of the record value: the chain hashes the bytes, not a re-encoding. */
const rawSerde: EventSerde = {
  ...contractsSerde,
  decode: (bytes): RawDecodedEvent => ({ ...contractsSerde.decode(bytes), bytes: Buffer.from(bytes) }),
};

export interface ChainWriterOptions {
  readonly brokers: readonly string[];
  readonly groupId: string;
  /** This replica's name (WRIT_INSTANCE_ID): static membership and transactional id `<groupId>.<instanceId>`. */
  readonly instanceId: string;
  readonly producer: string;
  /** The tenants whose events are chained here (WRIT_LEDGER_TENANTS); a chain's id is its tenant. */
  readonly tenants: TenantFilter;
  readonly checkpointEvery: number;
  /** Sign a chain's head once an entry has waited this long unsigned (ms; 0: only every checkpointEvery entries). */
  readonly checkpointIntervalMs: number;
  readonly signingKey?: SigningKey;
  readonly lingerMs: number;
  /**
   * How long the chain's entries may wait to share a transaction (WRIT_LEDGER_CHAIN_WAIT_MS; 0: each
   * batch commits at once). No service waits on the chain, so its entries wait for each other.
   */
  readonly chainWaitMs: number;
  readonly replayTimeoutMs: number;
  readonly logger: BusLogger;
}

/** An event to chain: the command, and what its LedgerEntry repeats of the source. */
interface ChainInput {
  readonly command: ChainCommand;
  readonly source: Metadata;
  readonly bytes: Buffer;
}

export class ChainWriter {
  readonly #options: ChainWriterOptions;
  readonly #chainOptions: ChainOptions;
  readonly #decider;
  readonly #runtime: DeciderRuntime<ChainInput, ChainState>;
  /** meta.occurred_at of the last event chained here (null: none since start). */
  #lastChainedAt: number | null = null;

  constructor(options: ChainWriterOptions) {
    this.#options = options;
    // Without a key nothing is signed, so nothing is due either.
    const signs = options.signingKey !== undefined;
    this.#chainOptions = { checkpointEvery: signs ? options.checkpointEvery : 0, checkpointIntervalMs: signs ? options.checkpointIntervalMs : 0 };
    this.#decider = chainDecider(this.#chainOptions);
    this.#runtime = new DeciderRuntime({
      spec: this.#spec(),
      loop: {
        kind: 'transactional',
        options: {
          brokers: options.brokers,
          groupId: options.groupId,
          // The DLQ stays writ.ledger.dlq whatever the group (tests run their own group).
          dlqTopic: 'writ.ledger.dlq',
          topics: [...CHAINED_TOPICS],
          instanceId: options.instanceId,
          serde: rawSerde,
          lingerMs: options.lingerMs,
          deferrable: { events: ['LedgerEntry', 'LedgerCheckpoint'], maxWaitMs: options.chainWaitMs },
          maxBatchSize: 256,
          // One partition at a time, as before group commit: the projection's tests (spend rows,
          // tampering at a given seq) still depend on the chaining order this gives; measured since
          // group commit, concurrent partitions made them fail in CI (issue 7: revisit with the ledger's batching).
          partitionsConsumedConcurrently: 1,
        },
      },
      assignmentTimeoutMs: options.replayTimeoutMs,
      logger: options.logger,
    });
  }

  /** Starts consuming, once every chain head was read back from the chain topic (read_committed). */
  async start(): Promise<void> {
    await this.#runtime.start();
  }

  async stop(): Promise<void> {
    await this.#runtime.stop();
  }

  /** Transactions the chain committed since start, and the input batches they carried. */
  get stats(): { readonly transactions: number; readonly batches: number } {
    return this.#runtime.stats;
  }

  /** How far the chain is behind its input topics (the group's committed offsets against their ends). */
  async lag(): Promise<{ readonly behind: number; readonly partitions: readonly PartitionLag[]; readonly last_event_at: number | null }> {
    const lag = await groupLag(this.#options.brokers, this.#options.groupId, CHAINED_TOPICS);
    return { ...lag, last_event_at: this.#lastChainedAt };
  }

  #spec(): DeciderSpec<ChainInput, ChainState> {
    return {
      name: 'ledger',
      route: (event, ctx, now) => {
        const meta = event.payload.meta;
        if (!this.#options.tenants.serves(meta.tenant_id)) return null;
        const { bytes } = event as RawDecodedEvent;
        const command = appendCommandOf({
          bytes,
          event_id: meta.event_id,
          event_type: event.type,
          tenant_id: meta.tenant_id,
          run_id: meta.run_id,
          action_id: meta.action_id,
          occurred_at: meta.occurred_at,
          source: { topic: ctx.topic, partition: ctx.partition, offset: Number(ctx.offset) },
          chained_at: now,
        });
        return {
          // A chain is a tenant's, across every partition of every topic: one writer keeps it.
          key: meta.tenant_id,
          tenant: meta.tenant_id,
          partition: null,
          input: { command, source: meta, bytes },
          span: {
            name: 'ledger.append',
            attributes: {
              [WRIT_ATTR.tenantId]: meta.tenant_id,
              [WRIT_ATTR.runId]: meta.run_id,
              ...(meta.action_id === null ? {} : { [WRIT_ATTR.actionId]: meta.action_id }),
            },
          },
        };
      },
      initial: () => this.#decider.initialState(),
      step: ({ command, source, bytes }, slot, span) => {
        this.#lastChainedAt = source.occurred_at;
        const events = this.#decider.decide(command, slot.state);
        let state = slot.state;
        for (const event of events) state = this.#decider.evolve(state, event);
        span.setAttribute(
          'writ.ledger.appended',
          events.some((e) => e.type === 'EventChained'),
        );
        return { state, outputs: events.flatMap((e) => this.#output(e, source, bytes)) };
      },
      timers: this.#timers(),
      rebuild: () => this.#rebuild(),
      // Counted once committed: never what an aborted transaction held, nor what a rebuild reads back.
      published: (events) => {
        for (const event of events) if (event.type === 'LedgerEntry') writCounter(WRIT_METRIC.ledgerEntries).add(1, { tenant: event.payload.meta.tenant_id });
      },
      // One writer per chain (a tenant's spans partitions): nobody else appends to it.
      readsGainedPartitions: false,
    };
  }

  /** A chain's timer: due when its oldest unsigned entry has waited the interval; signs the head then. */
  #timers(): DeciderTimers<ChainState> {
    return {
      next: (state) => nextCheckpointAt(this.#chainOptions, state),
      expire: (key, slot, now, open) => {
        const events = this.#decider.decide({ type: 'CheckpointHead', chain_id: key, now }, slot.state);
        if (events.length === 0) return null;
        open('ledger.checkpoint', { [WRIT_ATTR.tenantId]: key });
        let state = slot.state;
        for (const event of events) state = this.#decider.evolve(state, event);
        return { state, outputs: events.flatMap((e) => this.#output(e, null, Buffer.alloc(0))) };
      },
    };
  }

  /** Every chain's head, from the chain topic (boot, and after an aborted transaction: what it appended never reached the topic). */
  async #rebuild(): Promise<ReadonlyMap<string, DeciderSlot<ChainState>>> {
    const started = Date.now();
    const tenants = this.#options.tenants;
    const chains = new Map<string, ChainState>();
    const fold = (chainId: string, event: ChainEvent): void => {
      const state = chains.get(chainId);
      // A checkpoint of a chain with no entry read counts nothing.
      if (state === undefined && event.type === 'CheckpointDue') return;
      chains.set(chainId, this.#decider.evolve(state ?? this.#decider.initialState(), event));
    };
    const { records: count } = await replayCommitted(
      this.#options.brokers,
      [TOPICS.ledger],
      (record) => {
        if (record.value === null) return;
        const decoded = decodeEvent(record.value);
        if (decoded.type === 'LedgerEntry' && tenants.serves(decoded.payload.chain_id))
          fold(decoded.payload.chain_id, { type: 'EventChained', entry: decoded.payload, chained_at: decoded.payload.meta.occurred_at });
        if (decoded.type === 'LedgerCheckpoint' && tenants.serves(decoded.payload.chain_id))
          fold(decoded.payload.chain_id, { type: 'CheckpointDue', head: decoded.payload });
      },
      { timeoutMs: this.#options.replayTimeoutMs, clientId: `${this.#options.groupId}.rebuild` },
    );
    this.#options.logger.info('chain heads rebuilt from the chain topic', { records: count, chains: chains.size, ms: Date.now() - started });
    return new Map([...chains].map(([chainId, state]) => [chainId, { state, tenant: chainId, partition: null }]));
  }

  /** The events of a step (`source`: the chained event) or of a timer (`source` null: only a checkpoint). */
  #output(event: ChainEvent, source: Metadata | null, bytes: Buffer): OutgoingEvent[] {
    switch (event.type) {
      case 'EventChained': {
        if (source === null) throw new Error('an entry is only chained from a consumed event');
        const payload: LedgerEntry = {
          meta: newMetadata({
            tenant_id: event.entry.chain_id,
            run_id: source.run_id,
            action_id: source.action_id,
            causation_id: source.event_id,
            producer: this.#options.producer,
            trace: source.trace,
          }),
          ...event.entry,
          event_bytes: bytes,
        };
        return [writEvent('LedgerEntry', payload)];
      }
      case 'CheckpointDue': {
        const key = this.#options.signingKey;
        if (key === undefined) return [];
        const signed = signHead(event.head, key);
        const payload: LedgerCheckpoint = {
          meta: newMetadata({
            tenant_id: event.head.chain_id,
            run_id: `checkpoint:${event.head.chain_id}:${event.head.seq}`,
            causation_id: source?.event_id ?? null,
            producer: this.#options.producer,
          }),
          chain_id: signed.chain_id,
          seq: signed.seq,
          chain_hash: signed.chain_hash,
          key_id: signed.key_id,
          signature: signed.signature,
        };
        return [writEvent('LedgerCheckpoint', payload)];
      }
    }
  }
}
