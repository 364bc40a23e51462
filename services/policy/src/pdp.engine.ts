import { randomUUID } from 'node:crypto';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { SpanStatusCode, context as otelContext, trace } from '@opentelemetry/api';
import type { Span } from '@opentelemetry/api';
import { DEFAULT_CONCURRENT_PARTITIONS, EventConsumer, EventProducer, contractsSerde, eventTraceOf, replayCommitted } from '@writ/bus';
import type { DecodedEvent, EventContext } from '@writ/bus';
import { TOPICS, newMetadata } from '@writ/contracts';
import type { EventPayloads } from '@writ/contracts';
import type { TenantFilter } from '@writ/config';
import { describeError } from '@writ/errors';
import { emptyPdpState, evolvePdpState, historyDecisionOf, onActionProposed, onApprovalSubmitted } from '@writ/policy-service-core';
import type { PdpEnvironment, PdpEvent, PdpOutput, PdpState } from '@writ/policy-service-core';
import { SERVICE_CONFIG, busLoggerOf, packageVersion } from '@writ/runtime';
import { WRIT_ATTR } from '@writ/telemetry';
import type { PolicyServiceConfig } from './config.ts';
import type { PolicySets } from './policy-sets.ts';
import type { PdpSetup } from './setup.ts';

export const PDP_SETUP = Symbol('PDP_SETUP');
export const POLICY_SETS = Symbol('POLICY_SETS');
export const POLICY_DLQ = 'writ.policy.dlq';
/**
 * What the PDP consumes: proposals (and RunStarted, not folded), the planner's events (ActionCompleted:
 * an action ended and its cost counts in the run's spend) and the approvals. Its own decisions are
 * folded into its state as it sends them, so it does not read them back (issue 7: no service reads its
 * own outputs on the hot path); another instance's decisions matter only for partitions this one
 * gains, and a gained partition is read again from HISTORY_TOPICS before the next input.
 */
const INPUT_TOPICS = [TOPICS.proposals, TOPICS.actions, TOPICS.approvals];
/** What a rebuild reads: the inputs and the PDP's own decisions and approvals (writ.policy.v1). */
const HISTORY_TOPICS = [...INPUT_TOPICS, TOPICS.policy];
const VERSION = packageVersion(import.meta.url);
/** Inputs of one partition handled at once: decided in order, their sends in flight together. */
const MESSAGES_IN_FLIGHT = 32;
const tracer = trace.getTracer('writ-policy');

/**
 * The folded events of the PDP's state; every other event on its topics is ignored, ActionAdmitted
 * included (the PDP decides on the proposal, in parallel with the planner's admission; admissions
 * recorded before that change are still decoded, and ignored).
 */
function asPdpEvent(event: DecodedEvent): PdpEvent | undefined {
  switch (event.type) {
    case 'ActionProposed':
      return { type: event.type, payload: event.payload };
    case 'PolicyDecided':
      return { type: event.type, payload: event.payload };
    case 'ApprovalRecorded':
      return { type: event.type, payload: event.payload };
    case 'ActionCompleted':
      return { type: event.type, payload: event.payload };
    default:
      return undefined;
  }
}

/**
 * The PDP at work: rebuilds pending actions and run statistics from its input topics at boot, then
 * answers ActionProposed with PolicyDecided and ApprovalSubmitted with ApprovalRecorded (and a new
 * PolicyDecided when the approval changes the decision). At-least-once: the state is updated only
 * after the outputs were acknowledged, and an input redelivered after a crash finds its outputs in
 * the rebuilt state, so no action is decided twice and no approval is recorded twice.
 */
@Injectable()
export class PdpEngine implements OnModuleInit, OnApplicationShutdown {
  readonly #logger = new Logger('policy');
  #state: PdpState;
  /**
   * Partitions this instance decides for (its topics are co-partitioned by run_id). A partition it
   * gains after boot is read again before the next input: its state here is as old as the last
   * read, and another instance may have decided on it since. null until the group first assigned.
   */
  #owned: ReadonlySet<number> | null = null;
  #booted = false;
  #stale = false;
  #reading: Promise<void> | null = null;
  #ready: Promise<void> = Promise.resolve();
  /**
   * Decisions are made one at a time, in the order their inputs were handed over (offset order on
   * each partition), and folded into the state at once; their sends overlap (MESSAGES_IN_FLIGHT per
   * partition). One decision at a time with its send awaited made one partition, so one run,
   * decide about 25-40 actions a second (measured: at 75/s offered the PDP fell 1.5 s behind while
   * the accountant and the planner kept up).
   */
  #turn: Promise<unknown> = Promise.resolve();
  /** Sends not acknowledged yet: a read of the topics waits for them, so that it sees what they wrote. */
  readonly #sending = new Set<Promise<void>>();
  readonly #producer: EventProducer;
  readonly #consumer: EventConsumer;
  /**
   * Every instance's decisions (writ.policy.v1, all partitions) into the history index: a fact
   * across runs counts what the other instances decided too, a fetch later. A group of its own per
   * instance, read from the beginning (folding a decision twice changes nothing).
   */
  readonly #historyFollower: EventConsumer;
  readonly #tenants: TenantFilter;

  constructor(
    @Inject(SERVICE_CONFIG) private readonly config: PolicyServiceConfig,
    @Inject(PDP_SETUP) private readonly setup: PdpSetup,
    @Inject(POLICY_SETS) private readonly policySets: PolicySets,
  ) {
    this.#tenants = config.WRIT_POLICY_TENANTS;
    this.#state = emptyPdpState(config.WRIT_POLICY_RATE_WINDOW_MS, config.WRIT_POLICY_HISTORY_HORIZON_MS);
    const logger = busLoggerOf(this.#logger);
    this.#producer = new EventProducer({ brokers: config.WRIT_KAFKA_BROKERS, clientId: `${config.WRIT_KAFKA_GROUP_ID}.producer`, logger });
    this.#consumer = new EventConsumer({
      brokers: config.WRIT_KAFKA_BROKERS,
      groupId: config.WRIT_KAFKA_GROUP_ID,
      instanceId: config.WRIT_INSTANCE_ID,
      dlqTopic: POLICY_DLQ,
      logger,
      topics: INPUT_TOPICS,
      // Every assigned partition at once: a partition whose decisions wait for acknowledgements
      // (MESSAGES_IN_FLIGHT of them) holds no other back. Decisions still take turns (#turn).
      partitionsConsumedConcurrently: DEFAULT_CONCURRENT_PARTITIONS,
      messagesInFlight: MESSAGES_IN_FLIGHT,
      handler: (event, ctx) => this.#handle(event, ctx),
      onAssignment: (assignment) => this.#assigned(new Set(assignment.map((a) => a.partition))),
    });
    this.#historyFollower = new EventConsumer({
      brokers: config.WRIT_KAFKA_BROKERS,
      groupId: `${config.WRIT_KAFKA_GROUP_ID}.history.${randomUUID()}`,
      topics: [TOPICS.policy],
      fromBeginning: true,
      dlqTopic: POLICY_DLQ,
      commitIntervalMs: 5_000,
      logger,
      handler: (event) => {
        if (event.type !== 'PolicyDecided' || !this.#mine(event)) return;
        const decided = historyDecisionOf(event.payload);
        if (decided !== undefined) this.#state.history.record(decided);
      },
    });
  }

  /** The partitions of the input topics this instance owns now, ascending (diagnostics and tests). */
  ownedPartitions(): number[] {
    return [...(this.#owned ?? [])].sort((x, y) => x - y);
  }

  /** The PDP's working memory (read-only use: tests and diagnostics). */
  get state(): PdpState {
    return this.#state;
  }

  async onModuleInit(): Promise<void> {
    // The current policy set before the first decision (fail-closed if the stream has none).
    await this.policySets.start();
    await this.#producer.connect();
    let release: () => void = () => undefined;
    this.#ready = new Promise<void>((resolve) => {
      release = resolve;
    });
    try {
      await this.#consumer.start();
      // Read the topics once the group has said which partitions are this instance's (at once for
      // a restarted static member), so that what another instance decided until then is read too.
      await this.#consumer.assigned(this.config.WRIT_POLICY_REPLAY_TIMEOUT_MS);
      await this.#read();
      this.#booted = true;
      await this.#historyFollower.start();
    } finally {
      release();
    }
  }

  /** The group gave or took partitions: a partition gained after boot is read again before the next input. */
  #assigned(owned: ReadonlySet<number>): void {
    const before = this.#owned ?? new Set<number>();
    this.#owned = owned;
    this.#logger.log(`partitions assigned: ${[...owned].sort().join(',') || 'none'}`);
    if (this.#booted && [...owned].some((partition) => !before.has(partition))) this.#stale = true;
  }

  /** Rebuilds the state from the topics (pending actions, run statistics, decisions, approvals), replacing it. */
  async #read(): Promise<void> {
    // What is still being sent lands (or fails) first: the read must see every decision that landed.
    await Promise.allSettled([...this.#sending]);
    this.#stale = false;
    const started = Date.now();
    const state = emptyPdpState(this.config.WRIT_POLICY_RATE_WINDOW_MS, this.config.WRIT_POLICY_HISTORY_HORIZON_MS);
    const { records } = await replayCommitted(
      this.config.WRIT_KAFKA_BROKERS,
      HISTORY_TOPICS,
      ({ value }) => {
        if (value === null) return;
        let decoded: DecodedEvent;
        try {
          decoded = contractsSerde.decode(value);
        } catch {
          return; // poison is the live consumer's to park in the DLQ
        }
        const event = asPdpEvent(decoded);
        if (event !== undefined && this.#mine(decoded)) evolvePdpState(state, event);
      },
      { timeoutMs: this.config.WRIT_POLICY_REPLAY_TIMEOUT_MS, clientId: 'writ.policy.replay' },
    );
    this.#state = state;
    const pending = [...state.actions.values()].filter((a) => a.decision === 'approval_required' && !a.terminal).length;
    this.#logger.log(
      `policy set ${this.setup.decisionPoint.version} (${this.setup.decisionPoint.policySetHash.slice(0, 12)}); ` +
        `state read from ${records} records in ${Date.now() - started} ms: ${state.actions.size} actions in ${state.runs.size} runs, ${pending} awaiting approval; partitions ${[...(this.#owned ?? [])].sort().join(',') || 'none yet'}`,
    );
  }

  /** The state is current for the partitions this instance owns: read again if it gained one. */
  async #current(): Promise<void> {
    await this.#ready;
    if (this.#reading === null && this.#stale) {
      this.#reading = this.#read().finally(() => {
        this.#reading = null;
      });
    }
    if (this.#reading !== null) await this.#reading;
  }

  async onApplicationShutdown(): Promise<void> {
    await this.#historyFollower.stop();
    await this.#consumer.stop();
    await this.#producer.disconnect();
    await this.policySets.stop();
  }

  #environment(span: Span): PdpEnvironment {
    return {
      decisionPoint: this.setup.decisionPoint,
      agent: this.setup.agent,
      user: this.setup.user,
      tool: this.setup.tool,
      signingKey: this.setup.signingKey,
      warrantTtlMs: this.config.WRIT_POLICY_WARRANT_TTL_MS,
      producer: `policy@${VERSION}`,
      now: Date.now(),
      newMetadata,
      trace: eventTraceOf(span),
    };
  }

  #mine(event: DecodedEvent): boolean {
    return this.#tenants.serves(event.payload.meta.tenant_id);
  }

  /**
   * Decides (in turn, on the current state, folding the outputs at once), then waits for the
   * outputs to be acknowledged: only then is the input handled and its offset committable. A send
   * that failed marks the state stale (the topics are read again, after every send in flight,
   * before the next decision) and fails the input, which is consumed again: decided anew if its
   * decision never landed, found decided if it did. So no action is decided twice and none is lost.
   */
  async #handle(event: DecodedEvent, ctx: EventContext): Promise<void> {
    if (!this.#mine(event)) return;
    const turn = this.#turn.then(async () => {
      await this.#current();
      return { sent: this.#decide(event, ctx) };
    });
    this.#turn = turn.catch(() => undefined);
    const { sent } = await turn;
    await sent;
  }

  /** The synchronous part of an input: decide and fold; returns the send of the outputs, if any. */
  #decide(event: DecodedEvent, ctx: EventContext): Promise<void> {
    switch (event.type) {
      case 'ActionProposed': {
        const proposed = event.payload;
        const sent = this.#step('policy.decide', proposed.meta, proposed.agent_id, proposed.tool, ctx, (env) => {
          const outcome = onActionProposed(this.#state, proposed, env);
          if (outcome.ignored !== null) {
            this.#logger.log(
              `action ${proposed.meta.action_id ?? '(none)'} of run ${proposed.meta.run_id} (tenant ${proposed.meta.tenant_id}) not decided: ${outcome.ignored}`,
            );
          }
          return outcome.outputs;
        });
        // Counted in its run once decided: a redelivery finds it decided and counted.
        evolvePdpState(this.#state, { type: 'ActionProposed', payload: proposed });
        return sent;
      }
      case 'ApprovalSubmitted': {
        const submitted = event.payload;
        const action = submitted.meta.action_id === null ? undefined : this.#state.actions.get(submitted.meta.action_id)?.proposed;
        return this.#step('policy.approve', submitted.meta, action?.agent_id, action?.tool, ctx, (env) => onApprovalSubmitted(this.#state, submitted, env));
      }
      default: {
        const folded = asPdpEvent(event);
        if (folded !== undefined) evolvePdpState(this.#state, folded);
        return Promise.resolve();
      }
    }
  }

  /**
   * One step in its span (child of the event's trace): decide and remember the outputs now, then
   * send them; the span ends when the broker acknowledged them (or refused).
   */
  #step(
    name: string,
    meta: EventPayloads['ActionProposed']['meta'],
    agent: string | undefined,
    tool: string | undefined,
    ctx: EventContext,
    decide: (env: PdpEnvironment) => PdpOutput[],
  ): Promise<void> {
    const attributes = {
      [WRIT_ATTR.tenantId]: meta.tenant_id,
      [WRIT_ATTR.runId]: meta.run_id,
      ...(meta.action_id === null ? {} : { [WRIT_ATTR.actionId]: meta.action_id }),
      ...(agent === undefined ? {} : { [WRIT_ATTR.agentId]: agent }),
      ...(tool === undefined ? {} : { [WRIT_ATTR.tool]: tool }),
    };
    const span = tracer.startSpan(name, { attributes }, ctx.traceContext);
    const failed = (error: unknown): never => {
      span.recordException(error as Error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: describeError(error) });
      span.end();
      throw error;
    };
    let outputs: PdpOutput[];
    try {
      outputs = decide(this.#environment(span));
    } catch (error) {
      return failed(error);
    }
    for (const output of outputs) {
      if (output.type === 'PolicyDecided') {
        span.setAttribute(WRIT_ATTR.decision, output.payload.decision);
        span.setAttribute(WRIT_ATTR.determiningPolicies, [...output.payload.determining_policies]);
      } else {
        span.setAttribute('writ.policy.approval.accepted', output.payload.accepted);
      }
      evolvePdpState(this.#state, output);
    }
    if (outputs.length === 0) {
      span.end();
      return Promise.resolve();
    }
    const sending = otelContext
      .with(trace.setSpan(ctx.traceContext, span), () => this.#producer.send(outputs))
      .then(
        () => span.end(),
        (error: unknown) => {
          // The state holds a decision that may not have landed: read the topics again before the next one.
          this.#stale = true;
          return failed(error);
        },
      );
    this.#sending.add(sending);
    void sending.finally(() => this.#sending.delete(sending)).catch(() => undefined);
    return sending;
  }
}
