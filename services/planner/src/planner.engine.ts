// The planner: one planner-core decider per run, as configuration over the decider runtime of
// @writ/bus (state per run, the transactional loop, a timer per run for expiry, the rebuild from
// the topics at boot, after an aborted transaction and when the group gives it partitions).
import type { Attributes, Span } from '@opentelemetry/api';
import { DeciderRuntime, eventTraceOf, stderrLogger } from '@writ/bus';
import type { BusLogger, DeciderRoute, DeciderSlot, DeciderSpec, DeciderStep, EventConsumer, OutgoingEvent } from '@writ/bus';
import type { TenantFilter } from '@writ/config';
import { TOPICS, newMetadata } from '@writ/contracts';
import type { Metadata, WritEvent } from '@writ/contracts';
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
import { observeConsumerLag } from '@writ/runtime';
import type { ConsumerLagGauge } from '@writ/runtime';
import { WRIT_ATTR, WRIT_METRIC, writCounter } from '@writ/telemetry';
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
  /** How long an admission alone waits for the next output to share its transaction (0: none). */
  readonly admissionWaitMs?: number;
  readonly replayTimeoutMs: number;
  readonly logger?: BusLogger;
}

/** An input of the planner: its command, and the event that caused it (the outputs' causation). */
interface PlannerInput {
  readonly command: PlannerCommand;
  readonly causationId: string;
}

const NO_KILLS: KillSwitches = { isAgentKilled: () => false, isToolKilled: () => false };

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

/** An output's metric labels that its event does not carry: the run's agent and the action's tool. */
interface OutputLabels {
  readonly agent: string;
  readonly tool: string;
}

/** The planner's metrics: actions ended (by status and reason code) and loops detected, as published. */
function countPublished(events: readonly OutgoingEvent[], labelsOf: (event: OutgoingEvent) => OutputLabels | undefined): void {
  for (const event of events) {
    if (event.type !== 'ActionCompleted' && event.type !== 'ActionRejected') continue;
    const { agent, tool } = labelsOf(event) ?? { agent: '', tool: '' };
    const tenant = event.payload.meta.tenant_id;
    if (event.type === 'ActionCompleted') {
      const { status, reason_code } = event.payload;
      writCounter(WRIT_METRIC.plannerActionsCompleted).add(1, { tenant, agent, tool, status, reason_code });
    } else if (event.payload.reason_code === 'LOOP_DETECTED') {
      writCounter(WRIT_METRIC.plannerLoopDetections).add(1, { tenant, agent, tool });
    }
  }
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
  readonly #controls = new ControlsView();
  readonly #runtime: DeciderRuntime<PlannerInput, PlannerState>;
  #controlsReader: EventConsumer | undefined;
  #lag: ConsumerLagGauge | undefined;
  /**
   * The agent and tool of each ending output, from the step that made it until it is published
   * (counted then): weakly held, so an aborted transaction's outputs are forgotten with them.
   */
  readonly #outputLabels = new WeakMap<OutgoingEvent, OutputLabels>();

  constructor(options: PlannerEngineOptions) {
    this.#options = options;
    this.#logger = options.logger ?? stderrLogger;
    this.#decider = createPlannerDecider(options.planner);
    this.#runtime = new DeciderRuntime({
      spec: this.#spec(),
      loop: {
        kind: 'transactional',
        options: {
          brokers: options.brokers,
          groupId: options.groupId,
          topics: [...PLANNER_INPUT_TOPICS],
          dlqTopic: options.dlqTopic,
          instanceId: options.instanceId,
          lingerMs: options.lingerMs,
          deferrable: { events: ['ActionAdmitted'], maxWaitMs: options.admissionWaitMs ?? 0 },
        },
      },
      assignmentTimeoutMs: options.replayTimeoutMs,
      logger: this.#logger,
    });
  }

  /** The kill switches as this instance sees them (tests wait on it). */
  get controls(): KillSwitches {
    return this.#controls;
  }

  /** The partitions of the input topics this instance owns now, ascending (diagnostics and tests). */
  ownedPartitions(): number[] {
    return this.#runtime.ownedPartitions();
  }

  /** The state of a run as the planner holds it, for diagnostics and tests. */
  runState(runId: string): PlannerState | undefined {
    return this.#runtime.stateOf(runId);
  }

  async start(): Promise<void> {
    const o = this.#options;
    this.#controlsReader = await startControlsReader(o.brokers, o.groupId, o.dlqTopic, this.#controls, this.#logger);
    try {
      await this.#runtime.start();
    } catch (error) {
      await this.stop();
      throw error;
    }
    this.#lag = observeConsumerLag(o.brokers, o.groupId, PLANNER_INPUT_TOPICS);
  }

  async stop(): Promise<void> {
    await this.#lag?.stop();
    await this.#runtime.stop();
    await this.#controlsReader?.stop();
  }

  #inScope(meta: Metadata): boolean {
    return this.#options.tenants.serves(meta.tenant_id);
  }

  #commandOf(event: WritEvent, now: number, kills: KillSwitches): PlannerCommand | null {
    if (event.type === 'ActionProposed') {
      return proposeCommandOf(event.payload, this.#options.registry, kills, this.#options.defaultCurrency, now);
    }
    return commandOf(event, now);
  }

  /** Outputs of one decision: the run's tenant, its cause, this producer, the span's trace. */
  #outputContext(tenant: string, causationId: string | null, span: Span, now: number): OutputContext {
    const envelope = { tenant_id: tenant, causation_id: causationId, producer: this.#options.producer, trace: eventTraceOf(span) };
    return {
      meta: (fields) => newMetadata({ ...envelope, ...fields }),
      now,
      default_currency: this.#options.defaultCurrency,
    };
  }

  #outputs(events: readonly PlannerEvent[], ctx: OutputContext): OutgoingEvent[] {
    return events.map((event) => toWire(event, ctx)).filter((output) => output !== null);
  }

  /** What a command decided on a run's state: the events folded, their wire form, the deadline they set. */
  #stepOf(
    events: readonly PlannerEvent[],
    slot: DeciderSlot<PlannerState>,
    causationId: string | null,
    span: Span,
    now: number,
    command: PlannerCommand,
  ): DeciderStep<PlannerState> {
    let state = slot.state;
    for (const next of events) state = this.#decider.evolve(state, next);
    const outputs = this.#outputs(events, this.#outputContext(slot.tenant, causationId, span, now));
    this.#rememberLabels(outputs, state, command);
    recordOutcome(span, events);
    let deadline: number | null = null;
    for (const event of events) {
      const set = deadlineSetBy(event);
      if (set !== null && (deadline === null || set < deadline)) deadline = set;
    }
    return { state, outputs, deadline };
  }

  #spec(): DeciderSpec<PlannerInput, PlannerState> {
    return {
      name: 'planner',
      route: (event, ctx, now): DeciderRoute<PlannerInput> | null => {
        // The planner's own outputs are on topics it does not consume (they only matter to a
        // rebuild); nobody else can write them (one writer per topic), but they never count as inputs.
        if (PLANNER_OUTPUT_TYPES.has(event.type)) return null;
        const meta = event.payload.meta;
        if (!this.#inScope(meta)) return null;
        const command = this.#commandOf(event, now, this.#controls);
        if (command === null) return null;
        // A run's key is the same on every topic (co-partitioned by run_id): its partition is the run's.
        return {
          key: meta.run_id,
          tenant: meta.tenant_id,
          partition: ctx.partition,
          input: { command, causationId: meta.event_id },
          span: { name: spanNameOf(command), attributes: commandAttributes(command, meta.tenant_id) },
        };
      },
      initial: () => this.#decider.initialState(),
      step: ({ command, causationId }, slot, span, now) => this.#stepOf(this.#decider.decide(command, slot.state), slot, causationId, span, now, command),
      rebuild: () => this.#rebuild(),
      // Counted once committed: never what an aborted transaction held, nor what a rebuild reads back.
      published: (events) => countPublished(events, (event) => this.#outputLabels.get(event)),
      // Up to three planners share the runs by partition: a partition gained may have moved elsewhere.
      readsGainedPartitions: true,
      timers: {
        next: (state) => nextPlannerDeadline(state),
        expire: (runId, slot, now, open) => {
          const command: PlannerCommand = { type: 'ExpireActions', run_id: runId, now };
          const events = this.#decider.decide(command, slot.state);
          if (events.length === 0) return null;
          return this.#stepOf(events, slot, null, open('planner.complete', commandAttributes(command, slot.tenant)), now, command);
        },
      },
    };
  }

  /** The agent and tool of the ending outputs (a proposal rejected on arrival has its tool only in the command). */
  #rememberLabels(outputs: readonly OutgoingEvent[], state: PlannerState, command: PlannerCommand): void {
    for (const output of outputs) {
      if (output.type !== 'ActionCompleted' && output.type !== 'ActionRejected') continue;
      const actionId = output.payload.meta.action_id;
      const proposal = actionId === null ? null : (state.actions.get(actionId)?.proposal ?? null);
      const proposed = command.type === 'ProposeAction' && command.action_id === actionId ? command : null;
      this.#outputLabels.set(output, { agent: state.agent_id ?? proposed?.agent_id ?? '', tool: proposal?.tool ?? proposed?.tool ?? '' });
    }
  }

  /** Rebuilds every run from the topics (see replayRun in @writ/planner-core and history.ts). */
  async #rebuild(): Promise<ReadonlyMap<string, DeciderSlot<PlannerState>>> {
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
    const runs = new Map<string, DeciderSlot<PlannerState>>();
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
      runs.set(runId, { state: result.state, tenant: first.meta.tenant_id, partition: first.partition });
    }
    this.#logger.info('planner state rebuilt from the topics', { runs: history.size, refused, orphans, ms: Date.now() - started });
    return runs;
  }
}
