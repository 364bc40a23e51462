import { randomUUID } from 'node:crypto';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { SpanKind, trace } from '@opentelemetry/api';
import { EventConsumer, EventProducer, createKafka, writEvent } from '@writ/bus';
import type { BusLogger, EventContext } from '@writ/bus';
import { TOPICS, eventOf, newMetadata, uuidv7 } from '@writ/contracts';
import type { ControlChanged, EventPayloads, TraceContext, WritEvent } from '@writ/contracts';
import { GatewayReadModel, awaitsDetail, isReadModelEvent, isTerminalStatus } from '@writ/gateway-core';
import type { ReadModelChange, ReadModelEvent, Stamp } from '@writ/gateway-core';
import { SERVICE_CONFIG, busLoggerOf, observeConsumerLag } from '@writ/runtime';
import type { ConsumerLagGauge } from '@writ/runtime';
import { WRIT_ATTR, WRIT_METRIC, observeWritGauge } from '@writ/telemetry';
import { ControlBoard } from '@writ/tools';
import { GATEWAY_VERSION } from './config.ts';
import type { GatewayConfig } from './config.ts';
import { KeyedWaiters } from './waiters.ts';

/**
 * The read model's topics: runs (RunStarted) and proposals, its own; the planner's decisions and
 * ends on writ.actions.v1 (RunEnded included); policy decisions, approvals (and reconciliations),
 * the executor's outcomes (an unknown one's details, for the reconciliation queue) and result bodies
 * (writ.results.v1: the agent's result, which its completion references), controls. They
 * are read concurrently, so an action's or a run's events may arrive in any order (libs/gateway-core evolve.ts).
 */
const READ_TOPICS = [TOPICS.proposals, TOPICS.actions, TOPICS.policy, TOPICS.approvals, TOPICS.outcomes, TOPICS.results, TOPICS.controls];
const IDLE_CAUGHT_UP_MS = 1_000;

type EmittedType = 'RunStarted' | 'ActionProposed' | 'ApprovalSubmitted' | 'OutcomeReconciled' | 'ControlChanged';

/** Ends that a policy decision came before: executed (allowed) or denied by policy. */
/** How long an ended action's outcome waits for its decision or its result's body, read from other topics. */
const DETAIL_GRACE_MS = 1_000;

/** Who else follows what the gateway reads and writes (the automatic safe mode): every control, every change of the read model. */
export interface GatewayBusObserver {
  onControl(control: ControlChanged): void;
  onChange(change: ReadModelChange): void;
}

/**
 * The gateway's side of Kafka: the producer of its events, and the read model of runs, actions,
 * approvals and controls rebuilt at every boot from READ_TOPICS (a consumer group
 * of its own per instance, from the beginning). Waiters on an action wake when its
 * ActionCompleted arrives; waiters on an id wake when the run or action becomes known.
 */
@Injectable()
export class GatewayBus implements OnModuleInit, OnApplicationShutdown {
  readonly model = new GatewayReadModel();
  /** Kill switches and safe mode as set on the compacted controls topic (GET /v1/controls). */
  readonly controls = new ControlBoard();
  readonly outcomes: KeyedWaiters;
  readonly known: KeyedWaiters;
  readonly producerName: string;

  /** What the gateway-core commands stamp their events with: this producer, the trace, fresh ids and the time. */
  stamp(trace: TraceContext | null): Stamp {
    return { producer: this.producerName, trace, newMetadata, newRunId: () => uuidv7() };
  }
  readonly #logger = new Logger('GatewayBus');
  readonly #busLogger: BusLogger;
  readonly #producer: EventProducer;
  readonly #consumer: EventConsumer;
  readonly #groupId: string;
  readonly #progress = new Map<string, bigint>();
  #targets = new Map<string, bigint>();
  #lastEventAt = Date.now();
  #pruneTimer: ReturnType<typeof setInterval> | undefined;
  #caughtUp = false;
  #lag: ConsumerLagGauge | undefined;
  #stopGauges: (() => void) | undefined;
  /**
   * Ended actions whose policy decision or result body (other topics, read independently) is not
   * in the model yet (awaitsDetail): their waiters are answered when it is, or after
   * DETAIL_GRACE_MS, so that an outcome carries its decision and its result.
   */
  readonly #awaitingDetail = new Map<string, ReturnType<typeof setTimeout>>();
  readonly #observers: GatewayBusObserver[] = [];

  constructor(
    @Inject(SERVICE_CONFIG) private readonly config: GatewayConfig,
    @Inject(GATEWAY_VERSION) version: string,
  ) {
    this.producerName = `gateway@${version}`;
    this.outcomes = new KeyedWaiters(config.WRIT_GATEWAY_MAX_WAITERS);
    this.known = new KeyedWaiters(config.WRIT_GATEWAY_MAX_WAITERS);
    this.#groupId = `${config.WRIT_KAFKA_GROUP_ID}.${randomUUID()}`;
    this.#busLogger = busLoggerOf(this.#logger);
    this.#producer = new EventProducer({ brokers: config.WRIT_KAFKA_BROKERS, clientId: 'writ-gateway', logger: this.#busLogger });
    this.#consumer = new EventConsumer({
      brokers: config.WRIT_KAFKA_BROKERS,
      groupId: this.#groupId,
      clientId: 'writ-gateway-read-model',
      topics: READ_TOPICS,
      // The group is per instance; dead letters go to the service's one DLQ.
      dlqTopic: 'writ.gateway.dlq',
      fromBeginning: true,
      maxBatchSize: 256,
      partitionsConsumedConcurrently: 4,
      handler: (event, ctx) => this.#handle(event, ctx),
      logger: this.#busLogger,
    });
  }

  /** Registers an observer; register before the module starts (the boot's replay is observed too). */
  observe(observer: GatewayBusObserver): void {
    this.#observers.push(observer);
  }

  #controlChanged(control: ControlChanged): void {
    this.controls.apply(control);
    for (const observer of this.#observers) observer.onControl(control);
  }

  get groupId(): string {
    return this.#groupId;
  }

  get caughtUp(): boolean {
    return this.#caughtUp;
  }

  async onModuleInit(): Promise<void> {
    await this.#producer.connect();
    this.#targets = await this.#highWatermarks();
    await this.#consumer.start();
    await this.#waitForCatchUp(this.config.WRIT_GATEWAY_CATCHUP_TIMEOUT_MS);
    const retention = this.config.WRIT_GATEWAY_RETENTION_MS;
    this.#pruneTimer = setInterval(() => this.model.prune(Date.now() - retention), Math.min(retention, 600_000));
    this.#pruneTimer.unref();
    this.#lag = observeConsumerLag(this.config.WRIT_KAFKA_BROKERS, this.#groupId, READ_TOPICS);
    this.#stopGauges = this.#observeQueues();
  }

  /**
   * The queues of actions waiting on a person, per tenant, from the read model when collected
   * (every gateway reads everything, so each reports the same: aggregate them with max, not sum).
   */
  #observeQueues(): () => void {
    const stops = [
      observeWritGauge(WRIT_METRIC.gatewayApprovalsPending, (gauge) => {
        for (const q of this.model.queues()) gauge.observe(q.awaiting_approval, { tenant: q.tenant });
      }),
      observeWritGauge(WRIT_METRIC.gatewayApprovalOldestAgeSeconds, (gauge) => {
        const now = Date.now();
        for (const q of this.model.queues()) {
          gauge.observe(q.oldest_approval_since === null ? 0 : Math.max(0, (now - q.oldest_approval_since) / 1_000), { tenant: q.tenant });
        }
      }),
      observeWritGauge(WRIT_METRIC.gatewayReconciliationPending, (gauge) => {
        for (const q of this.model.queues()) gauge.observe(q.awaiting_reconciliation, { tenant: q.tenant });
      }),
    ];
    return () => {
      for (const stop of stops) stop();
    };
  }

  async onApplicationShutdown(): Promise<void> {
    this.#stopGauges?.();
    await this.#lag?.stop();
    if (this.#pruneTimer !== undefined) clearInterval(this.#pruneTimer);
    for (const timer of this.#awaitingDetail.values()) clearTimeout(timer);
    this.#awaitingDetail.clear();
    this.outcomes.releaseAll();
    this.known.releaseAll();
    await this.#consumer.stop();
    await this.#producer.disconnect();
  }

  /** Produces one of the gateway's events, then folds it into the read model at once (read-your-writes). */
  async emit<T extends EmittedType>(type: T, payload: EventPayloads[T]): Promise<void> {
    await this.#producer.send([writEvent(type, payload)]);
    const event: Extract<WritEvent, { type: EmittedType }> = eventOf(type, payload);
    if (event.type === 'ControlChanged') this.#controlChanged(event.payload);
    else this.#apply(event);
  }

  /** Waits up to WRIT_GATEWAY_SYNC_WAIT_MS for `lookup` to find something (a run or action another instance just created). */
  async lookup<T>(id: string, find: () => T | undefined, signal?: AbortSignal): Promise<T | undefined> {
    const found = find();
    if (found !== undefined) return found;
    const deadline = Date.now() + this.config.WRIT_GATEWAY_SYNC_WAIT_MS;
    while (Date.now() < deadline) {
      await this.known.wait(id, deadline - Date.now(), signal);
      const now = find();
      if (now !== undefined || signal?.aborted === true) return now;
    }
    return find();
  }

  /**
   * An unknown id is answered after WRIT_GATEWAY_SYNC_WAIT_MS (the wait for another instance's
   * writes); someone else's id is answered after the same pause, so timing does not tell them apart.
   */
  async asSlowAsUnknown(signal?: AbortSignal): Promise<void> {
    const waitMs = this.config.WRIT_GATEWAY_SYNC_WAIT_MS;
    if (waitMs <= 0 || signal?.aborted === true) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, waitMs);
      signal?.addEventListener(
        'abort',
        () => {
          clearTimeout(timer);
          resolve();
        },
        { once: true },
      );
    });
  }

  #handle(event: WritEvent, ctx: EventContext): void {
    this.#lastEventAt = Date.now();
    const key = `${ctx.topic}:${ctx.partition}`;
    this.#progress.set(key, BigInt(ctx.offset));
    if (event.type === 'ControlChanged') {
      this.#controlChanged(event.payload);
      return;
    }
    if (!isReadModelEvent(event)) return;
    if (event.type === 'ActionCompleted') {
      // The step that answers the waiting agent, in the action's trace.
      const span = trace.getTracer('writ-gateway').startSpan(
        'gateway.outcome',
        {
          kind: SpanKind.INTERNAL,
          attributes: {
            [WRIT_ATTR.tenantId]: event.payload.meta.tenant_id,
            [WRIT_ATTR.runId]: event.payload.meta.run_id,
            [WRIT_ATTR.actionId]: event.payload.meta.action_id ?? '',
            [WRIT_ATTR.terminalStatus]: event.payload.status,
          },
        },
        ctx.traceContext,
      );
      const woken = this.#apply(event);
      span.setAttribute('writ.gateway.waiters_answered', woken);
      span.end();
      return;
    }
    this.#apply(event);
  }

  /** Folds one event into the model and wakes whoever waits on it; returns how many outcome waiters it answers. */
  #apply(event: ReadModelEvent): number {
    const change = this.model.apply(event);
    if (change === undefined) return 0;
    for (const observer of this.#observers) observer.onChange(change);
    const id = change.kind === 'run' ? change.after.run_id : change.after.action_id;
    if (change.before === undefined) this.known.notify(id);
    if (change.kind !== 'action') return 0;
    const { after, before } = change;
    const ended = isTerminalStatus(after.status) && (before === undefined || !isTerminalStatus(before.status));
    if (ended && awaitsDetail(after)) {
      const timer = setTimeout(() => {
        this.#awaitingDetail.delete(id);
        this.outcomes.notify(id);
      }, DETAIL_GRACE_MS);
      timer.unref();
      this.#awaitingDetail.set(id, timer);
      // Answered with the detail, or after the grace at the latest.
      return this.outcomes.waiting(id);
    }
    if (ended) return this.outcomes.notify(id);
    const waiting = this.#awaitingDetail.get(id);
    if (waiting !== undefined && !awaitsDetail(after)) {
      clearTimeout(waiting);
      this.#awaitingDetail.delete(id);
      return this.outcomes.notify(id);
    }
    return 0;
  }

  async #highWatermarks(): Promise<Map<string, bigint>> {
    const admin = createKafka({ brokers: this.config.WRIT_KAFKA_BROKERS, clientId: 'writ-gateway-admin', logger: this.#busLogger }).admin();
    const targets = new Map<string, bigint>();
    await admin.connect();
    try {
      for (const topic of READ_TOPICS) {
        for (const partition of await admin.fetchTopicOffsets(topic)) {
          const high = BigInt(partition.high);
          if (high > BigInt(partition.low)) targets.set(`${topic}:${partition.partition}`, high);
        }
      }
    } finally {
      await admin.disconnect();
    }
    return targets;
  }

  #reachedTargets(): boolean {
    for (const [key, high] of this.#targets) {
      const done = this.#progress.get(key);
      if (done === undefined || done + 1n < high) return false;
    }
    return true;
  }

  /**
   * Until every partition was read up to its high watermark at boot, or (transaction markers
   * take offsets no message has) the assigned consumer saw nothing for a second, or the timeout.
   */
  async #waitForCatchUp(timeoutMs: number): Promise<void> {
    const started = Date.now();
    let assignedAt: number | undefined;
    for (;;) {
      if (assignedAt === undefined && this.#consumer.assignment().length > 0) assignedAt = Date.now();
      const quiet = assignedAt !== undefined && Date.now() - Math.max(this.#lastEventAt, assignedAt) > IDLE_CAUGHT_UP_MS;
      if (this.#reachedTargets() || quiet) {
        this.#caughtUp = true;
        const { runs, actions } = this.model.size;
        this.#logger.log(`read model caught up in ${Date.now() - started} ms: ${runs} runs, ${actions} actions (group ${this.#groupId})`);
        return;
      }
      if (Date.now() - started > timeoutMs) {
        this.#logger.warn(`read model not caught up after ${timeoutMs} ms (WRIT_GATEWAY_CATCHUP_TIMEOUT_MS); serving while it catches up`);
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}
