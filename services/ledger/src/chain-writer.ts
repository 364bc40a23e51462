// The chain's only writer: consumes every Writ topic in Kafka transactions, appends each event once
// to its tenant's chain and produces the LedgerEntry (and, every N entries, a signed
// LedgerCheckpoint) in the same transaction as the input offsets: exactly once.
import { SpanStatusCode, trace } from '@opentelemetry/api';
import { TransactionalProcessor, contractsSerde, groupLag, replayCommitted, writEvent } from '@writ/bus';
import type { BusLogger, DecodedEvent, EventContext, EventSerde, OutgoingEvent, PartitionLag } from '@writ/bus';
import { TOPICS, decodeEvent, newMetadata } from '@writ/contracts';
import type { LedgerCheckpoint, LedgerEntry, Metadata } from '@writ/contracts';
import type { TenantFilter } from '@writ/config';
import type { SigningKey } from '@writ/crypto';
import { LedgerBook, signHead } from '@writ/ledger-core';
import type { ChainEvent } from '@writ/ledger-core';
import { WRIT_ATTR } from '@writ/telemetry';

/** The topics the ledger chains: every event stream except its own (a new topic in schemas/topics.json is chained without a change here). */
export const CHAINED_TOPICS: readonly string[] = Object.values(TOPICS).filter((topic) => topic !== TOPICS.ledger);

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
  readonly transactionalId: string;
  /** Static group membership (see EventConsumerOptions.instanceId). */
  readonly instanceId?: string;
  readonly producer: string;
  /** The tenants whose events are chained here (WRIT_LEDGER_TENANTS); a chain's id is its tenant. */
  readonly tenants: TenantFilter;
  readonly checkpointEvery: number;
  readonly signingKey?: SigningKey;
  readonly lingerMs: number;
  readonly replayTimeoutMs: number;
  readonly logger: BusLogger;
}

const tracer = () => trace.getTracer('writ-ledger');

export class ChainWriter {
  readonly #options: ChainWriterOptions;
  readonly #book: LedgerBook;
  #processor: TransactionalProcessor | undefined;
  /** meta.occurred_at of the last event chained here (null: none since start). */
  #lastChainedAt: number | null = null;

  constructor(options: ChainWriterOptions) {
    this.#options = options;
    this.#book = new LedgerBook({ checkpointEvery: options.signingKey === undefined ? 0 : options.checkpointEvery });
  }

  get book(): LedgerBook {
    return this.#book;
  }

  /** Rebuilds every chain head from the chain topic (read_committed), then starts consuming. */
  async start(): Promise<void> {
    await this.rebuild();
    const processor = new TransactionalProcessor({
      brokers: this.#options.brokers,
      groupId: this.#options.groupId,
      // The DLQ stays writ.ledger.dlq whatever the group (tests run their own group).
      dlqTopic: 'writ.ledger.dlq',
      topics: [...CHAINED_TOPICS],
      transactionalId: this.#options.transactionalId,
      ...(this.#options.instanceId === undefined ? {} : { instanceId: this.#options.instanceId }),
      serde: rawSerde,
      lingerMs: this.#options.lingerMs,
      maxBatchSize: 256,
      // One partition at a time, as before group commit: the projection's tests (spend rows,
      // tampering at a given seq) still depend on the chaining order this gives; measured since
      // group commit, concurrent partitions made them fail in CI (issue 7: revisit with the ledger's batching).
      partitionsConsumedConcurrently: 1,
      logger: this.#options.logger,
      handler: (event, ctx) => this.#handle(event as RawDecodedEvent, ctx),
      // What the aborted transaction appended never reached the chain topic: forget it.
      onAbort: () => this.rebuild(),
    });
    this.#processor = processor;
    await processor.start();
  }

  async stop(): Promise<void> {
    await this.#processor?.stop();
  }

  /** How far the chain is behind its input topics (the group's committed offsets against their ends). */
  async lag(): Promise<{ readonly behind: number; readonly partitions: readonly PartitionLag[]; readonly last_event_at: number | null }> {
    const lag = await groupLag(this.#options.brokers, this.#options.groupId, CHAINED_TOPICS);
    return { ...lag, last_event_at: this.#lastChainedAt };
  }

  async rebuild(): Promise<void> {
    const started = Date.now();
    this.#book.clear();
    const tenants = this.#options.tenants;
    const { records: count } = await replayCommitted(
      this.#options.brokers,
      [TOPICS.ledger],
      (record) => {
        if (record.value === null) return;
        const decoded = decodeEvent(record.value);
        if (decoded.type === 'LedgerEntry' && tenants.serves(decoded.payload.chain_id)) this.#book.restoreEntry(decoded.payload);
        if (decoded.type === 'LedgerCheckpoint' && tenants.serves(decoded.payload.chain_id)) this.#book.restoreCheckpoint(decoded.payload);
      },
      { timeoutMs: this.#options.replayTimeoutMs, clientId: `${this.#options.groupId}.rebuild` },
    );
    this.#options.logger.info('chain heads rebuilt from the chain topic', {
      records: count,
      chains: this.#book.heads().length,
      ms: Date.now() - started,
    });
  }

  #handle(event: RawDecodedEvent, ctx: EventContext): OutgoingEvent[] {
    const meta = event.payload.meta;
    if (!this.#options.tenants.serves(meta.tenant_id)) return [];
    const span = tracer().startSpan(
      'ledger.append',
      {
        attributes: {
          [WRIT_ATTR.tenantId]: meta.tenant_id,
          [WRIT_ATTR.runId]: meta.run_id,
          ...(meta.action_id === null ? {} : { [WRIT_ATTR.actionId]: meta.action_id }),
        },
      },
      ctx.traceContext,
    );
    try {
      this.#lastChainedAt = meta.occurred_at;
      const chained = this.#book.append({
        bytes: event.bytes,
        event_id: meta.event_id,
        event_type: event.type,
        tenant_id: meta.tenant_id,
        source: { topic: ctx.topic, partition: ctx.partition, offset: Number(ctx.offset) },
      });
      span.setAttribute(
        'writ.ledger.appended',
        chained.some((e) => e.type === 'EventChained'),
      );
      return chained.flatMap((e) => this.#output(e, meta, event.bytes));
    } catch (error) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: String(error) });
      throw error;
    } finally {
      span.end();
    }
  }

  #output(event: ChainEvent, source: Metadata, bytes: Buffer): OutgoingEvent[] {
    switch (event.type) {
      case 'EventChained': {
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
            causation_id: source.event_id,
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
