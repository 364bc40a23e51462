import { readFile } from 'node:fs/promises';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import type { Span } from '@opentelemetry/api';
import { accountantStep, budgetStandings, commandFor, createBudgetDecider, isBudgetInput, parseBudgetsFile, toWire } from '@writ/budget-core';
import type { BudgetCommand, BudgetDecider, BudgetEvent, BudgetInput, BudgetState, BudgetWireEvent, ResolvedTool } from '@writ/budget-core';
import { DeciderRuntime, EventProducer, eventTraceOf, replayCommitted, writEvent } from '@writ/bus';
import type { DeciderSlot, DeciderSpec, DeciderStep, OutgoingEvent } from '@writ/bus';
import { TOPICS, nameBasedUuid, newMetadata } from '@writ/contracts';
import type { EventPayloads, Metadata, TraceContext } from '@writ/contracts';
import { loadSigningKey } from '@writ/crypto';
import type { SigningKey } from '@writ/crypto';
import { describeError } from '@writ/errors';
import { SERVICE_CONFIG, busLoggerOf, observeConsumerLag } from '@writ/runtime';
import type { ConsumerLagGauge } from '@writ/runtime';
import { WRIT_ATTR, WRIT_METRIC, observeWritGauge, sampledEvery, writCounter } from '@writ/telemetry';
import type { WritGaugeObserver, WritMetricAttributes } from '@writ/telemetry';
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
/**
 * What nobody waits on: a call's settlement, a release, the threshold it crossed. They wait up to
 * WRIT_BUDGET_SETTLEMENT_WAIT_MS for the next reservation's transaction, which otherwise waited
 * behind theirs (an agent's next call follows its last call's answer, as the settlement does).
 */
const SETTLEMENT_EVENTS = ['BudgetSettled', 'BudgetReleased', 'BudgetThresholdCrossed'] as const;
/** How often the budgets' standing is computed for the gauges at most (a pass over each tenant's counters, in memory). */
const STANDING_SAMPLE_MS = 2_000;
type StandingGauge = typeof WRIT_METRIC.budgetUsed | typeof WRIT_METRIC.budgetLimit;
type StandingLabels = WritMetricAttributes<StandingGauge>;

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

/** An input of the accountant: its command on the tenant's books, and what its events name. */
interface AccountantInput {
  readonly command: BudgetCommand;
  readonly tool: string | null;
  readonly meta: Metadata;
}

/**
 * The accountant at work, as configuration over the decider runtime of @writ/bus (the books of
 * each tenant are a key's state): consumes run starts, proposals (and legacy reservation requests),
 * execution outcomes and terminal actions exactly once (the published events and the input offsets
 * commit together), lapses stale reservations on each tenant's timer, and reads its books again
 * from the topics at boot and after an aborted transaction.
 */
@Injectable()
export class BudgetProcessor implements OnModuleInit, OnApplicationShutdown {
  readonly #logger = new Logger('BudgetProcessor');
  readonly #busLogger = busLoggerOf(this.#logger);
  readonly #config: BudgetServiceConfig;
  readonly #decider: BudgetDecider;
  readonly #producer: string;
  #books: BudgetBooks | undefined;
  #registry: ToolRegistry | undefined;
  #signingKey: SigningKey | undefined;
  #runtime: DeciderRuntime<AccountantInput, BudgetState> | undefined;
  #lag: ConsumerLagGauge | undefined;
  #stopGauges: (() => void) | undefined;

  constructor(@Inject(SERVICE_CONFIG) config: BudgetServiceConfig) {
    this.#config = config;
    this.#decider = createBudgetDecider({ reservation_ttl_ms: config.WRIT_BUDGET_RESERVATION_TTL_MS });
    this.#producer = `${PRODUCER_NAME}@${packageVersionOf()}`;
  }

  /** A tenant's books as this instance holds them (the budgets file's limits for a tenant not seen yet). */
  stateOf(tenant: string, now: number = Date.now()): BudgetState {
    return this.#runtime?.stateOf(tenant) ?? this.#booksOrThrow().initial(tenant, now);
  }

  async onModuleInit(): Promise<void> {
    const config = this.#config;
    const file = parseBudgetsFile(await readFile(config.WRIT_BUDGET_LIMITS_FILE, 'utf8'));
    this.#signingKey = await loadSigningKey(config.WRIT_BUDGET_SIGNING_KEY);
    this.#registry = loadToolRegistry(config.WRIT_TOOLS_DIR);
    this.#books = new BudgetBooks(this.#decider, file, config.WRIT_BUDGET_TENANTS);
    this.#runtime = new DeciderRuntime({
      spec: this.#spec(),
      loop: {
        kind: 'transactional',
        options: {
          brokers: config.WRIT_KAFKA_BROKERS,
          groupId: config.WRIT_KAFKA_GROUP_ID,
          topics: INPUT_TOPICS,
          dlqTopic: DLQ_TOPIC,
          instanceId: config.WRIT_INSTANCE_ID,
          lingerMs: 0,
          deferrable: { events: SETTLEMENT_EVENTS, maxWaitMs: config.WRIT_BUDGET_SETTLEMENT_WAIT_MS },
        },
      },
      assignmentTimeoutMs: config.WRIT_BUDGET_REPLAY_TIMEOUT_MS,
      logger: this.#busLogger,
    });
    await this.#runtime.start();
    this.#logger.log(`budget books rebuilt (${this.#runtime.size} tenants); consuming ${INPUT_TOPICS.join(', ')} as ${config.WRIT_KAFKA_GROUP_ID}`);
    await this.#announce();
    this.#lag = observeConsumerLag(config.WRIT_KAFKA_BROKERS, config.WRIT_KAFKA_GROUP_ID, INPUT_TOPICS);
    this.#stopGauges = this.#observeStandings();
  }

  async onApplicationShutdown(): Promise<void> {
    this.#stopGauges?.();
    await this.#lag?.stop();
    await this.#runtime?.stop();
  }

  /**
   * writ_budget_used and writ_budget_limit: every configured budget of every tenant against its cap,
   * in its current period. One that is no longer reported (a subject that has not used a default
   * budget this period) stays at 0 used of its last cap.
   */
  #observeStandings(): () => void {
    const last = new Map<string, { readonly labels: StandingLabels; readonly limit: number }>();
    const standings = sampledEvery(STANDING_SAMPLE_MS, async () => {
      const now = Date.now();
      const current = new Map<string, { readonly labels: StandingLabels; readonly used: number; readonly limit: number }>();
      for (const [tenant, state] of this.#runtime?.states() ?? []) {
        for (const s of budgetStandings(state, now)) {
          const labels = { tenant, scope: s.scope, subject: s.subject, kind: s.kind };
          current.set(JSON.stringify(labels), { labels, used: s.used, limit: s.limit });
        }
      }
      for (const [key, { labels, limit }] of last) if (!current.has(key)) current.set(key, { labels, used: 0, limit });
      for (const [key, { labels, limit }] of current) last.set(key, { labels, limit });
      return [...current.values()];
    });
    const report = async (gauge: WritGaugeObserver<StandingGauge>, value: (standing: { used: number; limit: number }) => number): Promise<void> => {
      for (const standing of (await standings()) ?? []) gauge.observe(value(standing), standing.labels);
    };
    const stopUsed = observeWritGauge(WRIT_METRIC.budgetUsed, (gauge) => report(gauge, (s) => s.used));
    const stopLimit = observeWritGauge(WRIT_METRIC.budgetLimit, (gauge) => report(gauge, (s) => s.limit));
    return () => {
      stopUsed();
      stopLimit();
    };
  }

  /**
   * BudgetsConfigured for each served tenant whose budgets in the file differ from the last
   * announcement read back at the rebuild: the ledger chains it (a record of budget changes) and
   * projects it into budget_limits. Its event id comes from the tenant, the previous digest and the
   * new one, so two replicas (or a crash between send and ack) announcing the same change send the
   * same event, which the ledger's table keeps once, while going back to an earlier configuration
   * is a new event. Plain idempotent produce: it answers no input, so no transaction to join.
   */
  async #announce(): Promise<void> {
    const books = this.#booksOrThrow();
    const pending = books.unannounced();
    if (pending.length === 0) return;
    const producer = new EventProducer({ brokers: this.#config.WRIT_KAFKA_BROKERS, clientId: `${this.#config.WRIT_KAFKA_GROUP_ID}.announce` });
    await producer.connect();
    try {
      for (const { tenant, previous, announcement } of pending) {
        const meta = newMetadata({ tenant_id: tenant, run_id: `budgets:${announcement.config_sha256}`, producer: this.#producer });
        await producer.send([
          writEvent('BudgetsConfigured', {
            // The same change (from the same previous configuration) is the same event, wherever it is announced.
            meta: { ...meta, event_id: nameBasedUuid(['BudgetsConfigured', tenant, previous ?? '', announcement.config_sha256]) },
            ...announcement,
            budgets: [...announcement.budgets],
          }),
        ]);
        books.announced(tenant, announcement.config_sha256);
        this.#logger.log(`tenant ${tenant}: budgets announced (${announcement.budgets.length} budgets, sha256 ${announcement.config_sha256.slice(0, 12)})`);
      }
    } finally {
      await producer.disconnect();
    }
  }

  #booksOrThrow(): BudgetBooks {
    if (this.#books === undefined) throw new Error('the budget books are not loaded yet');
    return this.#books;
  }

  #spec(): DeciderSpec<AccountantInput, BudgetState> {
    const books = this.#booksOrThrow();
    return {
      name: 'budget',
      route: (event, _ctx, now, stateOf) => {
        const candidate = { type: event.type, payload: event.payload };
        if (!isBudgetInput(candidate)) return null;
        const input = candidate;
        const meta = input.payload.meta;
        if (!books.serves(meta.tenant_id)) return null;
        const tool = input.type === 'ActionProposed' ? this.#resolveTool(input.payload) : undefined;
        if (input.type === 'ActionProposed' && tool === undefined) return null;
        const request = commandFor(input, now, stateOf(meta.tenant_id, meta.tenant_id).currency, tool);
        if (request === null) return null;
        return {
          // A tenant's caps hold across its runs and partitions: one instance keeps all its books.
          key: meta.tenant_id,
          tenant: meta.tenant_id,
          partition: null,
          input: { command: request.command, tool: request.tool, meta },
          span: { name: spanNameOf(input), attributes: spanAttributesOf(input) },
        };
      },
      initial: (tenant, _tenant, now) => books.initial(tenant, now),
      step: ({ command, tool, meta }, slot, span) => {
        const step = accountantStep(this.#decider, slot.state, command);
        const outputs = this.#outgoing(
          toWire(slot.state, step.events, {
            tenant: meta.tenant_id,
            run_id: meta.run_id,
            action_id: meta.action_id,
            tool,
            signingKey: this.#signingKeyOrThrow(),
            meta: this.#metaFactory(meta.tenant_id, meta, eventTraceOf(span)),
          }),
        );
        span.setAttribute(WRIT_ATTR.budgetResult, resultOf(step.events));
        const refusal = step.events.find((e) => e.type === 'BudgetRefused');
        if (refusal !== undefined) span.setAttribute(WRIT_ATTR.budgetScope, `${refusal.scope}:${refusal.kind}`);
        return { state: step.state, outputs };
      },
      rebuild: () => this.#rebuild(),
      // Counted once committed: never what an aborted transaction held, nor what a rebuild reads back.
      published: countPublished,
      // One accountant keeps every tenant's books (caps span partitions): nobody else moves them.
      readsGainedPartitions: false,
      timers: {
        // Every tenant's books are swept on an interval (a Reserve also lapses its tenant's stale reservations first).
        next: (_state, now) => now + this.#config.WRIT_BUDGET_EXPIRY_INTERVAL_MS,
        expire: (tenant, slot, now, open) => this.#lapse(tenant, slot, now, open),
      },
    };
  }

  /**
   * Lapses a tenant's stale reservations (the runtime emits them through the loop: decided in
   * handling order with the inputs, committed in the next transaction). A span only for a lapse
   * that publishes something: the timer fires every few seconds.
   */
  #lapse(
    tenant: string,
    slot: DeciderSlot<BudgetState>,
    now: number,
    open: (name: string, attributes: Record<string, string | number>) => Span,
  ): DeciderStep<BudgetState> | null {
    const events = this.#decider.decide({ type: 'ExpireReservations', now }, slot.state);
    if (events.length === 0) return null;
    let state = slot.state;
    for (const event of events) state = this.#decider.evolve(state, event);
    const wire = toWire(slot.state, events, {
      tenant,
      run_id: '',
      action_id: null,
      tool: null,
      signingKey: this.#signingKeyOrThrow(),
      meta: this.#metaFactory(tenant, null, null),
    });
    const outputs = this.#outgoing(wire);
    if (outputs.length > 0)
      open('budget.expire', { [WRIT_ATTR.tenantId]: tenant, [WRIT_ATTR.budgetResult]: 'expired', 'writ.budget.expired_count': outputs.length });
    return { state, outputs };
  }

  /**
   * Reads the books from the committed events of writ.budget.v1 and the run limits of the
   * RunStarted on writ.proposals.v1 (RunStarted of before, on writ.runs.v1, are not read: see
   * docs/design/pipeline.md, "Run caps come from RunStarted").
   */
  async #rebuild(): Promise<ReadonlyMap<string, DeciderSlot<BudgetState>>> {
    const books = this.#booksOrThrow();
    const states = new Map<string, BudgetState>();
    const runs: { tenant: string; payload: EventPayloads['RunStarted'] }[] = [];
    const started = Date.now();
    const { records } = await replayCommitted(
      this.#config.WRIT_KAFKA_BROKERS,
      [TOPICS.budget, TOPICS.proposals],
      (record) => {
        books.replay(states, record.value, started, (tenant, payload) => runs.push({ tenant, payload }));
      },
      { timeoutMs: this.#config.WRIT_BUDGET_REPLAY_TIMEOUT_MS, clientId: `${this.#config.WRIT_KAFKA_GROUP_ID}.replay` },
    );
    const now = Date.now();
    for (const { tenant, payload } of runs) {
      const before = states.get(tenant) ?? books.initial(tenant, now);
      const input = commandFor({ type: 'RunStarted', payload }, now, before.currency);
      if (input === null) continue;
      try {
        states.set(tenant, accountantStep(this.#decider, before, input.command).state);
      } catch (error) {
        this.#logger.warn(`run ${payload.meta.run_id}: limits not applied: ${describeError(error)}`);
      }
    }
    this.#logger.log(`read ${records} committed records in ${Date.now() - started} ms`);
    return new Map([...states].map(([tenant, state]) => [tenant, { state, tenant, partition: null }]));
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
    return wire.map(outgoingOf);
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
}

/** The accountant's metrics: reservations, spend and releases, thresholds announced and reservations refused, as published. */
function countPublished(events: readonly OutgoingEvent[]): void {
  for (const event of events) {
    if (event.type === 'BudgetReserved') {
      const { meta, agent_id, tool, amount_micros, currency } = event.payload;
      const agent = agent_id ?? '';
      writCounter(WRIT_METRIC.budgetReservations).add(1, { tenant: meta.tenant_id, agent, tool: tool ?? '' });
      if (amount_micros > 0) writCounter(WRIT_METRIC.budgetReservedMicros).add(amount_micros, { tenant: meta.tenant_id, agent, currency });
      continue;
    }
    if (event.type === 'BudgetSettled') {
      const { meta, agent_id, disposition, actual_cost_micros, released_micros, currency } = event.payload;
      if (disposition === 'settled' && actual_cost_micros > 0) {
        writCounter(WRIT_METRIC.budgetSpentMicros).add(actual_cost_micros, { tenant: meta.tenant_id, agent: agent_id ?? '', currency });
      }
      if (released_micros > 0) writCounter(WRIT_METRIC.budgetReleasedMicros).add(released_micros, { tenant: meta.tenant_id, currency });
      continue;
    }
    if (event.type === 'BudgetThresholdCrossed') {
      const { meta, scope, kind, threshold_percent } = event.payload;
      writCounter(WRIT_METRIC.budgetThresholdsCrossed).add(1, { tenant: meta.tenant_id, scope, kind, threshold_percent: String(threshold_percent) });
    } else if (event.type === 'BudgetRefused') {
      const { meta, scope, kind, rule } = event.payload;
      // A refusal of before v3 (no rule) was a cap's.
      writCounter(WRIT_METRIC.budgetRefusals).add(1, { tenant: meta.tenant_id, scope, kind, rule: rule ?? 'cap' });
    }
  }
}

function outgoingOf(w: BudgetWireEvent): OutgoingEvent {
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
}

function spanAttributesOf(input: BudgetInput): Record<string, string> {
  const meta = input.payload.meta;
  return {
    [WRIT_ATTR.tenantId]: meta.tenant_id,
    [WRIT_ATTR.runId]: meta.run_id,
    ...(meta.action_id === null ? {} : { [WRIT_ATTR.actionId]: meta.action_id }),
    ...(input.type === 'BudgetReservationRequested' || input.type === 'ActionProposed'
      ? { [WRIT_ATTR.agentId]: input.payload.agent_id, [WRIT_ATTR.tool]: input.payload.tool }
      : {}),
  };
}
