// The planner's runtime: one planner-core decider per run in memory, fed by a transactional
// consume-transform-produce loop (outputs and input offsets commit together), a timer per run for
// expiry (its outputs emitted through the same loop's transactions), and a rebuild from the topics
// at boot, after any aborted transaction and when the group gives it partitions.
import { SpanStatusCode, context as otelContext, trace } from '@opentelemetry/api';
import type { Attributes, Span } from '@opentelemetry/api';
import { TransactionalProcessor, contractsSerde, eventTraceOf, stderrLogger } from '@writ/bus';
import type { BusLogger, DecodedEvent, EventConsumer, EventContext, OutgoingEvent } from '@writ/bus';
import type { TenantFilter } from '@writ/config';
import { TOPICS, newMetadata } from '@writ/contracts';
import type { Metadata, WritEvent } from '@writ/contracts';
import { describeError } from '@writ/errors';
import {
  PLANNER_OUTPUT_TYPES,
  commandOf,
  createPlannerDecider,
  deadlineSetBy,
  isOwnOutput,
  nextPlannerDeadline,
  replayRun,
  runHistoryOf,
  toWire,
} from '@writ/planner-core';
import type { OutputContext, PlannerCommand, PlannerConfig, PlannerDecider, PlannerEvent, PlannerState } from '@writ/planner-core';
import { WRIT_ATTR } from '@writ/telemetry';
import type { ToolRegistry } from '@writ/tools';
import { ControlsView, startControlsReader } from './controls.ts';
import { readHistory } from './history.ts';
import { proposeCommandOf } from './proposals.ts';
import type { KillSwitches } from './proposals.ts';

/**
 * Topics the planner consumes: the inputs of its decisions (the controls topic is read apart, as
 * a view). Each has one writer, none of them the planner: runs and proposals (gateway), policy,
 * budget, outcomes (executor).
 */
export const PLANNER_INPUT_TOPICS = [TOPICS.proposals, TOPICS.policy, TOPICS.budget, TOPICS.outcomes] as const;

/** Topics a rebuild reads: the inputs, and the planner's own outputs (writ.actions.v1, writ.executions.v1). */
export const PLANNER_HISTORY_TOPICS = [...PLANNER_INPUT_TOPICS, TOPICS.actions, TOPICS.executions] as const;

export interface PlannerEngineOptions {
  readonly brokers: readonly string[];
  readonly groupId: string;
  readonly dlqTopic: string;
  /**
   * This replica's stable name (WRIT_INSTANCE_ID): static membership `<groupId>.<instanceId>` and
   * transactional id `<groupId>.<instanceId>` (timers' outputs go through the same producers).
   */
  readonly instanceId: string;
  /** service@version, written into every event's meta.producer. */
  readonly producer: string;
  readonly registry: ToolRegistry;
  readonly planner: PlannerConfig;
  readonly defaultCurrency: string;
  /** The tenants this instance serves (WRIT_PLANNER_TENANTS; tests on a shared broker serve their own). */
  readonly tenants: TenantFilter;
  readonly lingerMs: number;
  readonly replayTimeoutMs: number;
  readonly logger?: BusLogger;
}

interface RunSlot {
  state: PlannerState;
  readonly tenant: string;
  /** The partition of the run's key (the same on every topic: co-partitioned by run_id). */
  readonly partition: number;
  timer: NodeJS.Timeout | undefined;
  due: number | null;
}

/** How soon an expiry whose transaction failed is tried again (from the state rebuilt meanwhile). */
const EXPIRY_RETRY_MS = 100;

const NO_KILLS: KillSwitches = { isAgentKilled: () => false, isToolKilled: () => false };

const tracer = trace.getTracer('writ.planner');

function spanNameOf(command: PlannerCommand): string {
  switch (command.type) {
    case 'StartRun':
    case 'ProposeAction':
      return 'planner.admit';
    case 'RecordPolicyDecision':
    case 'RecordBudgetResult':
      return 'planner.execute';
    default:
      return 'planner.complete';
  }
}

function commandAttributes(command: PlannerCommand, tenant: string): Attributes {
  const attributes: Attributes = { [WRIT_ATTR.tenantId]: tenant, [WRIT_ATTR.runId]: command.run_id };
  if ('action_id' in command) attributes[WRIT_ATTR.actionId] = command.action_id;
  if (command.type === 'ProposeAction') {
    attributes[WRIT_ATTR.agentId] = command.agent_id;
    attributes[WRIT_ATTR.tool] = command.tool;
  }
  if (command.type === 'RecordPolicyDecision') attributes[WRIT_ATTR.decision] = command.verdict.decision;
  if (command.type === 'RecordBudgetResult') {
    attributes[WRIT_ATTR.budgetResult] = command.result.outcome;
    if (command.result.outcome === 'refused') attributes[WRIT_ATTR.budgetScope] = command.result.scope;
  }
  if (command.type === 'RecordExecutionOutcome') attributes[WRIT_ATTR.toolOutcome] = command.outcome;
  return attributes;
}

/** Terminal statuses the decision reached, on the span (one action, or several on expiry). */
function recordOutcome(span: Span, events: readonly PlannerEvent[]): void {
  const statuses = events.filter((event) => event.type === 'ActionCompleted').map((event) => (event.type === 'ActionCompleted' ? event.status : ''));
  if (statuses.length > 0) span.setAttribute(WRIT_ATTR.terminalStatus, statuses.length === 1 ? (statuses[0] ?? '') : statuses.join(','));
  span.setAttribute('writ.planner.events', events.map((event) => event.type).join(','));
}

export class PlannerEngine {
  readonly #options: PlannerEngineOptions;
  readonly #decider: PlannerDecider;
  readonly #logger: BusLogger;
  readonly #runs = new Map<string, RunSlot>();
  readonly #controls = new ControlsView();
  #controlsReader: EventConsumer | undefined;
  #processor: TransactionalProcessor | undefined;
  #ready: Promise<void> = Promise.resolve();
  #dirty = false;
  #timers: Promise<void> = Promise.resolve();
  #rebuilding: Promise<void> | null = null;
  #stopped = false;
  /**
   * Partitions this instance owns (of its input topics; they are co-partitioned by run_id). Only
   * their runs get timers: another instance's runs are stale here (their later events go to it),
   * and expiring them would end actions it completed. null until the group first assigned.
   */
  #owned: ReadonlySet<number> | null = null;
  #booted = false;

  constructor(options: PlannerEngineOptions) {
    this.#options = options;
    this.#logger = options.logger ?? stderrLogger;
    this.#decider = createPlannerDecider(options.planner);
  }

  /** The kill switches as this instance sees them (tests wait on it). */
  get controls(): KillSwitches {
    return this.#controls;
  }

  /** The partitions of the input topics this instance owns now, ascending (diagnostics and tests). */
  ownedPartitions(): number[] {
    return [...(this.#owned ?? [])].sort((x, y) => x - y);
  }

  /** The state of a run as the planner holds it, for diagnostics and tests. */
  runState(runId: string): PlannerState | undefined {
    return this.#runs.get(runId)?.state;
  }

  async start(): Promise<void> {
    const o = this.#options;
    this.#controlsReader = await startControlsReader(o.brokers, o.groupId, o.dlqTopic, this.#controls, this.#logger);

    let release: () => void = () => undefined;
    this.#ready = new Promise<void>((resolve) => {
      release = resolve;
    });
    this.#processor = new TransactionalProcessor({
      brokers: o.brokers,
      groupId: o.groupId,
      topics: [...PLANNER_INPUT_TOPICS],
      dlqTopic: o.dlqTopic,
      transactionalId: `${o.groupId}.${o.instanceId}`,
      instanceId: o.instanceId,
      lingerMs: o.lingerMs,
      logger: this.#logger,
      handler: (event, ctx) => this.#handle(event, ctx),
      // The in-memory state may hold transitions of the aborted batch: rebuild before the next one.
      onAbort: () => {
        this.#dirty = true;
      },
      onAssignment: (assignment) => this.#assigned(new Set(assignment.map((a) => a.partition))),
    });
    try {
      // Starting fences a predecessor with the same transactional id; its handler waits for the rebuild.
      await this.#processor.start();
      // The topics are read once the group has said which partitions are this instance's (at once
      // for a restarted static member): what another instance did with them until then is read too.
      await this.#processor.assigned(o.replayTimeoutMs);
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
    for (const slot of this.#runs.values()) clearTimeout(slot.timer);
    await this.#processor?.stop();
    await this.#timers.catch(() => undefined);
    await this.#controlsReader?.stop();
  }

  #inScope(meta: Metadata): boolean {
    return this.#options.tenants.serves(meta.tenant_id);
  }

  #slot(runId: string, tenant: string, partition: number): RunSlot {
    let slot = this.#runs.get(runId);
    if (slot === undefined) {
      slot = { state: this.#decider.initialState(), tenant, partition, timer: undefined, due: null };
      this.#runs.set(runId, slot);
    }
    return slot;
  }

  #commandOf(event: WritEvent, now: number, kills: KillSwitches): PlannerCommand | null {
    if (event.type === 'ActionProposed') {
      return proposeCommandOf(event.payload, this.#options.registry, kills, this.#options.defaultCurrency, now);
    }
    return commandOf(event, now);
  }

  /** Outputs of one decision: the run's tenant, its cause, this producer, the span's trace. */
  #outputContext(slot: RunSlot, causationId: string | null, span: Span, now: number): OutputContext {
    const envelope = { tenant_id: slot.tenant, causation_id: causationId, producer: this.#options.producer, trace: eventTraceOf(span) };
    return {
      meta: (fields) => newMetadata({ ...envelope, ...fields }),
      now,
      default_currency: this.#options.defaultCurrency,
    };
  }

  #outputs(events: readonly PlannerEvent[], ctx: OutputContext): OutgoingEvent[] {
    const outputs: OutgoingEvent[] = [];
    for (const event of events) {
      const output = toWire(event, ctx);
      if (output === null) continue;
      // Encode now: an event that cannot be encoded must fail this input before the state moves on.
      contractsSerde.encode(output);
      outputs.push(output);
    }
    return outputs;
  }

  async #handle(event: DecodedEvent, ctx: EventContext): Promise<readonly OutgoingEvent[]> {
    await this.#ready;
    // A rebuild in progress is waited for too: an input handled meanwhile would change the state
    // the rebuild then replaces, while its outputs and offset commit (the rebuild read the topics
    // before they landed), so the planner would forget what it published (lost actions, a second
    // terminal event).
    // No expiry is in flight then: an abort made those queued stale, and the partitions' revocation
    // before an assignment waited for their transactions (timers decide nothing while dirty).
    if (this.#dirty || this.#rebuilding !== null) await this.#fresh();
    // The planner's own outputs are on topics it does not consume (they only matter to a rebuild);
    // nobody else can write them (one writer per topic), but they never count as inputs.
    if (PLANNER_OUTPUT_TYPES.has(event.type)) return [];
    const meta = event.payload.meta;
    if (!this.#inScope(meta)) return [];
    const now = Date.now();
    const command = this.#commandOf(event, now, this.#controls);
    if (command === null) return [];
    const slot = this.#slot(meta.run_id, meta.tenant_id, ctx.partition);
    return tracer.startActiveSpan(spanNameOf(command), { attributes: commandAttributes(command, slot.tenant) }, ctx.traceContext, (span) => {
      try {
        const events = this.#decider.decide(command, slot.state);
        for (const next of events) slot.state = this.#decider.evolve(slot.state, next);
        const outputs = this.#outputs(events, this.#outputContext(slot, meta.event_id, span, now));
        recordOutcome(span, events);
        this.#scheduleBy(meta.run_id, slot, events);
        return outputs;
      } catch (error) {
        span.recordException(error as Error);
        span.setStatus({ code: SpanStatusCode.ERROR, message: describeError(error) });
        throw error;
      } finally {
        span.end();
      }
    });
  }

  /**
   * The group gave or took partitions: timers stop for the runs of partitions lost, and a partition
   * gained is read again from the topics (its runs here are as stale as when this instance last
   * owned it, or as the boot read left them), which also sets its runs' timers.
   */
  #assigned(owned: ReadonlySet<number>): void {
    const before = this.#owned ?? new Set<number>();
    this.#owned = owned;
    const gained = [...owned].filter((partition) => !before.has(partition));
    this.#logger.info('planner partitions assigned', { owned: [...owned].sort(), gained });
    for (const [runId, slot] of this.#runs) {
      if (!owned.has(slot.partition)) this.#arm(runId, slot, null);
    }
    if (!this.#booted || gained.length === 0) return;
    this.#dirty = true;
    // After any expiry transaction in flight (the read must see what it published). Inputs wait
    // for the read (#handle); the group's eager rebalance has no batch in flight when it assigns.
    this.#timers = this.#timers
      .then(() => this.#fresh())
      .catch((error: unknown) => {
        // Still dirty: the next input or timer reads the topics again.
        this.#dirty = true;
        this.#logger.warn('reading gained partitions failed; retried before the next input', { error: describeError(error) });
      });
  }

  /** The run's timer at its next deadline, from the whole state (boot, and when the timer fired). */
  #schedule(runId: string, slot: RunSlot): void {
    this.#arm(runId, slot, nextPlannerDeadline(slot.state));
  }

  /**
   * After a command: the timer moves earlier when an event set an earlier deadline, and stays
   * otherwise (an action that ended leaves it early, and it then fires once for nothing and is set
   * again from the state). No scan of the run's open actions per command (deadlineSetBy).
   */
  #scheduleBy(runId: string, slot: RunSlot, events: readonly PlannerEvent[]): void {
    let next = slot.due;
    for (const event of events) {
      const deadline = deadlineSetBy(event);
      if (deadline !== null && (next === null || deadline < next)) next = deadline;
    }
    this.#arm(runId, slot, next);
  }

  #arm(runId: string, slot: RunSlot, wanted: number | null): void {
    if (this.#stopped) return;
    const next = this.#owned?.has(slot.partition) === true ? wanted : null;
    if (next === slot.due) return;
    clearTimeout(slot.timer);
    slot.due = next;
    slot.timer = undefined;
    if (next === null) return;
    // setTimeout holds at most ~24.8 days; a later deadline is looked at again then.
    const delay = Math.min(Math.max(0, next - Date.now()) + 1, 2 ** 31 - 1);
    slot.timer = setTimeout(() => {
      slot.timer = undefined;
      slot.due = null;
      this.#timers = this.#timers
        .then(() => this.#expire(runId))
        .catch((error: unknown) => {
          this.#logger.error('planner expiry failed', { run_id: runId, error: describeError(error) });
        });
    }, delay);
    slot.timer.unref();
  }

  /**
   * ExpireActions for one run, emitted through the processor: decided in handling order with the
   * inputs, committed in the next transaction. Nothing is decided from a state about to be
   * replaced (dirty, rebuilding) or for a run of a partition not owned (the revocation before an
   * assignment marks it so at once); the timer is set again from the state either way.
   */
  async #expire(runId: string): Promise<void> {
    await this.#ready;
    if (this.#stopped) return;
    await this.#fresh();
    const processor = this.#processor;
    if (processor === undefined) return;
    let span: Span | undefined;
    try {
      const result = await processor.emit(() => {
        const slot = this.#runs.get(runId);
        if (slot === undefined || this.#stopped || this.#dirty || this.#rebuilding !== null || this.#owned?.has(slot.partition) !== true) return null;
        const now = Date.now();
        const command: PlannerCommand = { type: 'ExpireActions', run_id: runId, now };
        const events = this.#decider.decide(command, slot.state);
        if (events.length === 0) return null;
        span = tracer.startSpan('planner.complete', { attributes: commandAttributes(command, slot.tenant) });
        const outputs = otelContext.with(trace.setSpan(otelContext.active(), span), () =>
          this.#outputs(events, this.#outputContext(slot, null, span as Span, now)),
        );
        // Applied now, so an input handled before the commit sees the actions ended; if the
        // transaction aborts, the processor's onAbort marks the state for a rebuild.
        for (const next of events) slot.state = this.#decider.evolve(slot.state, next);
        recordOutcome(span, events);
        return outputs;
      });
      if (result === 'aborted') {
        span?.setStatus({ code: SpanStatusCode.ERROR, message: 'the expiry transaction aborted' });
        this.#logger.warn('expiry transaction aborted; the state is rebuilt from the topics', { run_id: runId });
      }
    } catch (error) {
      this.#dirty = true;
      span?.recordException(error as Error);
      span?.setStatus({ code: SpanStatusCode.ERROR, message: describeError(error) });
      this.#logger.warn('expiry failed; the state is rebuilt from the topics', { run_id: runId, error: describeError(error) });
    } finally {
      span?.end();
      const slot = this.#runs.get(runId);
      // After a failure the next attempt rebuilds first (#fresh), which sets every run's timer again.
      if (slot !== undefined) this.#arm(runId, slot, this.#dirty ? Date.now() + EXPIRY_RETRY_MS : nextPlannerDeadline(slot.state));
    }
  }

  /** Rebuilds when a transaction failed since the last rebuild; one rebuild at a time. */
  async #fresh(): Promise<void> {
    if (this.#rebuilding === null && this.#dirty) {
      this.#rebuilding = this.#rebuild().finally(() => {
        this.#rebuilding = null;
      });
    }
    if (this.#rebuilding !== null) await this.#rebuilding;
  }

  /** Rebuilds every run from the topics (see replayRun in @writ/planner-core and history.ts). */
  async #rebuild(): Promise<void> {
    this.#dirty = false;
    const started = Date.now();
    const o = this.#options;
    const history = await readHistory({
      brokers: o.brokers,
      groupId: o.groupId,
      topics: PLANNER_HISTORY_TOPICS,
      isOwn: isOwnOutput,
      inScope: (meta) => this.#inScope(meta),
      timeoutMs: o.replayTimeoutMs,
      logger: this.#logger,
    });
    for (const slot of this.#runs.values()) clearTimeout(slot.timer);
    this.#runs.clear();
    let refused = 0;
    let orphans = 0;
    // Kill switches that were pulled rejected the proposal: that rejection is in the record.
    const inputCommandOf = (event: WritEvent, at: number): PlannerCommand | null => this.#commandOf(event, at, NO_KILLS);
    for (const [runId, records] of history) {
      const first = records[0];
      if (first === undefined) continue;
      const result = replayRun(this.#decider, runHistoryOf(records, o.planner, inputCommandOf));
      refused += result.refused;
      orphans += result.orphans;
      const slot: RunSlot = { state: result.state, tenant: first.meta.tenant_id, partition: first.partition, timer: undefined, due: null };
      this.#runs.set(runId, slot);
      this.#schedule(runId, slot);
    }
    this.#logger.info('planner state rebuilt from the topics', { runs: history.size, refused, orphans, ms: Date.now() - started });
  }
}
