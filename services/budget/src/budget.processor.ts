import { readFile } from 'node:fs/promises';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { SpanStatusCode, trace } from '@opentelemetry/api';
import type { Span } from '@opentelemetry/api';
import { accountantStep, commandFor, createBudgetDecider, isBudgetInput, parseBudgetsFile, toWire } from '@writ/budget-core';
import type { BudgetDecider, BudgetEvent, BudgetInput, BudgetState, BudgetWireEvent, ResolvedTool } from '@writ/budget-core';
import { Lock, TransactionalProcessor, contractsSerde, eventTraceOf, replayCommitted, writEvent } from '@writ/bus';
import type { DecodedEvent, EventContext, OutgoingEvent } from '@writ/bus';
import { TOPICS, newMetadata } from '@writ/contracts';
import type { EventPayloads, Metadata, TraceContext } from '@writ/contracts';
import { loadSigningKey } from '@writ/crypto';
import type { SigningKey } from '@writ/crypto';
import { describeError } from '@writ/errors';
import { SERVICE_CONFIG, busLoggerOf } from '@writ/runtime';
import { WRIT_ATTR } from '@writ/telemetry';
import { loadToolRegistry } from '@writ/tools';
import type { ToolRegistry } from '@writ/tools';
import { BudgetBooks, PRODUCER_NAME } from './books.ts';
import type { BudgetServiceConfig } from './config.ts';
import { packageVersionOf } from './version.ts';

/**
 * What the accountant consumes: the gateway's runs and proposals (one topic keyed by run, so a
 * run's RunStarted and its caps come before its proposals), the planner's action ends (and its
 * reservation requests of before), the executor's outcomes. Its own writ.budget.v1 is read only to
 * rebuild the books.
 */
const INPUT_TOPICS = [TOPICS.proposals, TOPICS.actions, TOPICS.outcomes] as const;
const DLQ_TOPIC = 'writ.budget.dlq';
const tracer = trace.getTracer('writ.budget');

function spanNameOf(input: BudgetInput): string {
  switch (input.type) {
    case 'ActionProposed':
    case 'BudgetReservationRequested':
      return 'budget.reserve';
    case 'ActionExecuted':
    case 'ActionFailed':
      return 'budget.settle';
    case 'ActionCompleted':
      return 'budget.release';
    case 'RunStarted':
      return 'budget.limits';
    default:
      return input satisfies never;
  }
}

/** What the span reports as writ.budget.result: reserved, refused, settled, released, ... or noop. */
function resultOf(events: readonly BudgetEvent[]): string {
  const main = events.find((e) => e.type !== 'BudgetThresholdCrossed' && e.type !== 'BudgetReservationExpired' && e.type !== 'ReservationsForgotten');
  switch (main?.type) {
    case 'BudgetReserved':
      return 'reserved';
    case 'BudgetRefused':
      return 'refused';
    case 'BudgetSettled':
      return main.late ? 'settled_late' : 'settled';
    case 'BudgetReleased':
      return 'released';
    case 'LimitsSet':
      return 'limits_set';
    default:
      return 'noop';
  }
}

/**
 * The accountant at work: rebuilds the books at boot, then consumes run starts, proposals (and
 * legacy reservation requests), execution outcomes and terminal actions exactly once
 * (TransactionalProcessor: the published events and the input offsets commit together), and
 * lapses stale reservations on a timer.
 */
@Injectable()
export class BudgetProcessor implements OnModuleInit, OnApplicationShutdown {
  readonly #logger = new Logger('BudgetProcessor');
  readonly #busLogger = busLoggerOf(this.#logger);
  readonly #config: BudgetServiceConfig;
  readonly #decider: BudgetDecider;
  /** The books' mutual exclusion: the handler and the expiry timer never interleave. */
  readonly #lock = new Lock();
  readonly #producer: string;
  #books: BudgetBooks | undefined;
  #registry: ToolRegistry | undefined;
  #signingKey: SigningKey | undefined;
  #processor: TransactionalProcessor | undefined;
  #timer: NodeJS.Timeout | undefined;
  #stopping = false;

  constructor(@Inject(SERVICE_CONFIG) config: BudgetServiceConfig) {
    this.#config = config;
    this.#decider = createBudgetDecider({ reservation_ttl_ms: config.WRIT_BUDGET_RESERVATION_TTL_MS });
    this.#producer = `${PRODUCER_NAME}@${packageVersionOf()}`;
  }

  get books(): BudgetBooks {
    if (this.#books === undefined) throw new Error('the budget books are not loaded yet');
    return this.#books;
  }

  async onModuleInit(): Promise<void> {
    const config = this.#config;
    const file = parseBudgetsFile(await readFile(config.WRIT_BUDGET_LIMITS_FILE, 'utf8'));
    this.#signingKey = await loadSigningKey(config.WRIT_BUDGET_SIGNING_KEY);
    this.#registry = loadToolRegistry(config.WRIT_TOOLS_DIR);
    this.#books = new BudgetBooks(this.#decider, file, config.WRIT_BUDGET_TENANTS);
    this.#processor = this.#newProcessor();
    // Starting the producer fences a previous instance with the same transactional id, so its
    // open transaction is aborted before the books are read.
    await this.#lock.run(async () => {
      await this.#rebuild();
      await this.#processor?.start();
    });
    this.#scheduleExpiry();
    this.#logger.log(`budget books rebuilt (${this.books.tenantCount} tenants); consuming ${INPUT_TOPICS.join(', ')} as ${config.WRIT_KAFKA_GROUP_ID}`);
  }

  #newProcessor(): TransactionalProcessor {
    const config = this.#config;
    return new TransactionalProcessor({
      brokers: config.WRIT_KAFKA_BROKERS,
      groupId: config.WRIT_KAFKA_GROUP_ID,
      topics: INPUT_TOPICS,
      dlqTopic: DLQ_TOPIC,
      logger: this.#busLogger,
      transactionalId: `${config.WRIT_KAFKA_GROUP_ID}.${config.WRIT_INSTANCE_ID}`,
      instanceId: config.WRIT_INSTANCE_ID,
      lingerMs: 0,
      handler: (event, ctx) => this.#handle(event, ctx),
      // An aborted batch is consumed again: the books drop its effects by rebuilding from what committed.
      onAbort: () => this.#lock.run(() => this.#rebuild()),
    });
  }

  async onApplicationShutdown(): Promise<void> {
    this.#stopping = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    await this.#lock.run(async () => {
      await this.#processor?.stop();
    });
  }

  /**
   * Rebuilds the books from the committed events of writ.budget.v1 and the run limits of the
   * RunStarted on writ.proposals.v1 (RunStarted of before, on writ.runs.v1, are not read: see
   * docs/design/pipeline.md, "Run caps come from RunStarted").
   */
  async #rebuild(): Promise<void> {
    const books = this.books;
    books.clear();
    const runs: { tenant: string; payload: EventPayloads['RunStarted'] }[] = [];
    const started = Date.now();
    const { records } = await replayCommitted(
      this.#config.WRIT_KAFKA_BROKERS,
      [TOPICS.budget, TOPICS.proposals],
      (record) => {
        books.replay(record.value, (tenant, payload) => runs.push({ tenant, payload }));
      },
      { timeoutMs: this.#config.WRIT_BUDGET_REPLAY_TIMEOUT_MS, clientId: `${this.#config.WRIT_KAFKA_GROUP_ID}.replay` },
    );
    const now = Date.now();
    for (const { tenant, payload } of runs) {
      const input = commandFor({ type: 'RunStarted', payload }, now, books.stateOf(tenant, now).currency);
      if (input === null) continue;
      try {
        books.set(tenant, accountantStep(this.#decider, books.stateOf(tenant, now), input.command).state);
      } catch (error) {
        this.#logger.warn(`run ${payload.meta.run_id}: limits not applied: ${describeError(error)}`);
      }
    }
    this.#logger.log(`read ${records} committed records in ${Date.now() - started} ms`);
  }

  #metaFactory(tenant: string, causation: Metadata | null, traceContext: TraceContext | null) {
    return (fields: { readonly run_id: string; readonly action_id: string | null; readonly occurred_at: number }): Metadata =>
      newMetadata({
        tenant_id: tenant,
        producer: this.#producer,
        causation_id: causation?.event_id ?? null,
        trace: traceContext,
        ...fields,
      });
  }

  #outgoing(wire: readonly BudgetWireEvent[]): OutgoingEvent[] {
    return wire.map((w) => {
      switch (w.type) {
        case 'BudgetReserved':
          return writEvent('BudgetReserved', w.payload);
        case 'BudgetRefused':
          return writEvent('BudgetRefused', w.payload);
        case 'BudgetSettled':
          return writEvent('BudgetSettled', w.payload);
        case 'BudgetThresholdCrossed':
          return writEvent('BudgetThresholdCrossed', w.payload);
        default:
          return w satisfies never;
      }
    });
  }

  #handle(event: DecodedEvent, ctx: EventContext): Promise<OutgoingEvent[]> {
    const candidate = { type: event.type, payload: event.payload };
    if (!isBudgetInput(candidate)) return Promise.resolve([]);
    const input = candidate;
    const meta = input.payload.meta;
    if (!this.books.serves(meta.tenant_id)) return Promise.resolve([]);
    return this.#lock.run(() => {
      const now = Date.now();
      const books = this.books;
      const before = books.stateOf(meta.tenant_id, now);
      const tool = input.type === 'ActionProposed' ? this.#resolveTool(input.payload) : undefined;
      if (input.type === 'ActionProposed' && tool === undefined) return [];
      const request = commandFor(input, now, before.currency, tool);
      if (request === null) return [];
      const span = tracer.startSpan(
        spanNameOf(input),
        {
          attributes: {
            [WRIT_ATTR.tenantId]: meta.tenant_id,
            [WRIT_ATTR.runId]: meta.run_id,
            ...(meta.action_id === null ? {} : { [WRIT_ATTR.actionId]: meta.action_id }),
            ...(input.type === 'BudgetReservationRequested' || input.type === 'ActionProposed'
              ? { [WRIT_ATTR.agentId]: input.payload.agent_id, [WRIT_ATTR.tool]: input.payload.tool }
              : {}),
          },
        },
        ctx.traceContext,
      );
      try {
        const step = accountantStep(this.#decider, before, request.command);
        const wire = toWire(before, step.events, {
          tenant: meta.tenant_id,
          run_id: meta.run_id,
          action_id: meta.action_id,
          tool: request.tool,
          signingKey: this.#signingKeyOrThrow(),
          meta: this.#metaFactory(meta.tenant_id, meta, eventTraceOf(span)),
        });
        books.set(meta.tenant_id, step.state);
        span.setAttribute(WRIT_ATTR.budgetResult, resultOf(step.events));
        const refusal = step.events.find((e) => e.type === 'BudgetRefused');
        if (refusal !== undefined) span.setAttribute(WRIT_ATTR.budgetScope, `${refusal.scope}:${refusal.kind}`);
        return this.#outgoing(wire);
      } catch (error) {
        span.recordException(error instanceof Error ? error : new Error(String(error)));
        span.setStatus({ code: SpanStatusCode.ERROR, message: describeError(error) });
        span.setAttribute(WRIT_ATTR.budgetResult, 'error');
        throw error;
      } finally {
        span.end();
      }
    });
  }

  /**
   * The registry's entry for a proposal's tool, resolved as the planner resolves it (a null
   * tool_version is the highest version). None: logged, and nothing is reserved, since the
   * planner rejects the proposal as tool_unknown.
   */
  #resolveTool(proposal: EventPayloads['ActionProposed']): ResolvedTool | undefined {
    if (this.#registry === undefined) throw new Error('the tool registry is not loaded yet');
    const tool = this.#registry.get(proposal.tool, proposal.tool_version ?? undefined);
    if (tool === undefined) {
      const { tenant_id, run_id, action_id } = proposal.meta;
      this.#logger.warn(
        `action ${action_id ?? '(none)'} (tenant ${tenant_id}, run ${run_id}): tool ${proposal.tool}@${proposal.tool_version ?? 'latest'} is not in the tool registry (WRIT_TOOLS_DIR); nothing reserved (the planner rejects it as tool_unknown)`,
      );
    }
    return tool;
  }

  #signingKeyOrThrow(): SigningKey {
    if (this.#signingKey === undefined) throw new Error('the reservation signing key is not loaded yet');
    return this.#signingKey;
  }

  #scheduleExpiry(): void {
    if (this.#stopping) return;
    this.#timer = setTimeout(() => {
      void this.#expire().finally(() => this.#scheduleExpiry());
    }, this.#config.WRIT_BUDGET_EXPIRY_INTERVAL_MS);
    this.#timer.unref();
  }

  /**
   * Lapses stale reservations of every tenant, emitted through the processor: decided in handling
   * order with the inputs and committed in the next transaction. The books change as they are
   * decided (as for an input); if the transaction aborts, the processor's onAbort rebuilds them
   * from what committed. (A Reserve also lapses its tenant's stale reservations first, in its
   * transaction.)
   */
  async #expire(): Promise<void> {
    const processor = this.#processor;
    if (this.#stopping || processor === undefined) return;
    // A span only for a lapse that publishes something: the timer fires every few seconds.
    let span: Span | undefined;
    try {
      const result = await processor.emit(() => {
        const now = Date.now();
        const outputs: OutgoingEvent[] = [];
        const updates: [string, BudgetState][] = [];
        for (const [tenant, state] of this.books.entries()) {
          const events = this.#decider.decide({ type: 'ExpireReservations', now }, state);
          if (events.length === 0) continue;
          let next = state;
          for (const event of events) next = this.#decider.evolve(next, event);
          const wire = toWire(state, events, {
            tenant,
            run_id: '',
            action_id: null,
            tool: null,
            signingKey: this.#signingKeyOrThrow(),
            meta: this.#metaFactory(tenant, null, null),
          });
          const outgoing = this.#outgoing(wire);
          // Encoded now: an event that cannot be encoded fails the lapse before the books move on.
          for (const output of outgoing) contractsSerde.encode(output);
          outputs.push(...outgoing);
          updates.push([tenant, next]);
        }
        // Only once every tenant's events are made: one that cannot be signed or encoded changes nothing.
        for (const [tenant, state] of updates) this.books.set(tenant, state);
        if (outputs.length > 0) {
          span = tracer.startSpan('budget.expire', { attributes: { [WRIT_ATTR.budgetResult]: 'expired', 'writ.budget.expired_count': outputs.length } });
        }
        return outputs;
      });
      if (result === 'aborted') {
        span?.setStatus({ code: SpanStatusCode.ERROR, message: 'the expiry transaction aborted' });
        this.#logger.warn('publishing lapsed reservations aborted; the books were rebuilt from the topics');
      }
    } catch (error) {
      span?.setStatus({ code: SpanStatusCode.ERROR, message: describeError(error) });
      this.#logger.warn(`lapsing reservations failed: ${describeError(error)}`);
    } finally {
      span?.end();
    }
  }
}
