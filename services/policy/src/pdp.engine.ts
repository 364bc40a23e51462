import { randomUUID } from 'node:crypto';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import type { Span } from '@opentelemetry/api';
import { DEFAULT_CONCURRENT_PARTITIONS, DeciderRuntime, EventConsumer, contractsSerde, eventTraceOf, replayCommitted } from '@writ/bus';
import type { DeciderRoute, DecodedEvent, DeciderSlot, DeciderSpec, OutgoingEvent } from '@writ/bus';
import { TOPICS, newMetadata } from '@writ/contracts';
import type { EventPayloads } from '@writ/contracts';
import type { TenantFilter } from '@writ/config';
import { emptyPdpState, evolvePdpState, historyDecisionOf, onActionProposed, onApprovalSubmitted, onBudgetApprovalStep } from '@writ/policy-service-core';
import type { PdpEnvironment, PdpEvent, PdpOutput, PdpState } from '@writ/policy-service-core';
import { SERVICE_CONFIG, busLoggerOf, observeConsumerLag, packageVersion } from '@writ/runtime';
import type { ConsumerLagGauge } from '@writ/runtime';
import { WRIT_ATTR, WRIT_METRIC, writCounter } from '@writ/telemetry';
import type { PolicyServiceConfig } from './config.ts';
import type { PolicySets } from './policy-sets.ts';
import type { PdpSetup } from './setup.ts';

export const PDP_SETUP = Symbol('PDP_SETUP');
export const POLICY_SETS = Symbol('POLICY_SETS');
export const POLICY_DLQ = 'writ.policy.dlq';
/**
 * What the PDP consumes: proposals (and RunStarted, not folded), the planner's events (ActionCompleted:
 * an action ended and its cost counts in the run's spend), the approvals, and the accountant's
 * reservations (only those at a budget's approval step matter: the action needs an approval). Its own decisions are
 * folded into its state as it sends them, so it does not read them back (issue 7: no service reads its
 * own outputs on the hot path); another instance's decisions matter only for partitions this one
 * gains, and a gained partition is read again from HISTORY_TOPICS before the next input.
 */
const INPUT_TOPICS = [TOPICS.proposals, TOPICS.actions, TOPICS.approvals, TOPICS.budget];
/** What a rebuild reads: the inputs and the PDP's own decisions and approvals (writ.policy.v1). */
const HISTORY_TOPICS = [...INPUT_TOPICS, TOPICS.policy];
const VERSION = packageVersion(import.meta.url);
/** Inputs of one partition handled at once: decided in order, their sends in flight together. */
const MESSAGES_IN_FLIGHT = 32;
/** The PDP's state is one, across runs (the history index of cross-run facts): one key. */
const STATE_KEY = '*';

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
    case 'BudgetReserved':
      return event.payload.approval_step === null ? undefined : { type: event.type, payload: event.payload };
    default:
      return undefined;
  }
}

/** An input of the PDP: a proposal to decide, an approval to record, or an event to fold. */
type PdpInput =
  | { readonly kind: 'decide'; readonly proposed: EventPayloads['ActionProposed'] }
  | { readonly kind: 'approve'; readonly submitted: EventPayloads['ApprovalSubmitted'] }
  | { readonly kind: 'budget'; readonly reserved: EventPayloads['BudgetReserved'] }
  | { readonly kind: 'fold'; readonly event: PdpEvent };

/**
 * The PDP at work, as configuration over the decider runtime of @writ/bus (acknowledged loop: a
 * decision is sent as soon as it is made, up to MESSAGES_IN_FLIGHT of a partition in flight
 * together): rebuilds pending actions and run statistics from its topics at boot, then answers
 * ActionProposed with PolicyDecided and ApprovalSubmitted with ApprovalRecorded (and a new
 * PolicyDecided when the approval changes the decision). At-least-once: an input is handled once
 * its outputs were acknowledged; a send that failed makes the runtime read the topics again, and
 * an input redelivered after a crash finds its outputs in the rebuilt state, so no action is
 * decided twice and no approval is recorded twice.
 */
@Injectable()
export class PdpEngine implements OnModuleInit, OnApplicationShutdown {
  readonly #logger = new Logger('policy');
  readonly #runtime: DeciderRuntime<PdpInput, PdpState>;
  /**
   * Every instance's decisions (writ.policy.v1, all partitions) into the history index: a fact
   * across runs counts what the other instances decided too, a fetch later. A group of its own per
   * instance, read from the beginning (folding a decision twice changes nothing).
   */
  readonly #historyFollower: EventConsumer;
  readonly #tenants: TenantFilter;
  #lag: ConsumerLagGauge | undefined;
  /** The agent and tool of each decision, from the step that made it until it is acknowledged (counted then). */
  readonly #decisionLabels = new WeakMap<OutgoingEvent, { readonly agent: string; readonly tool: string }>();

  constructor(
    @Inject(SERVICE_CONFIG) private readonly config: PolicyServiceConfig,
    @Inject(PDP_SETUP) private readonly setup: PdpSetup,
    @Inject(POLICY_SETS) private readonly policySets: PolicySets,
  ) {
    this.#tenants = config.WRIT_POLICY_TENANTS;
    const logger = busLoggerOf(this.#logger);
    this.#runtime = new DeciderRuntime({
      spec: this.#spec(),
      loop: {
        kind: 'acknowledged',
        producerClientId: `${config.WRIT_KAFKA_GROUP_ID}.producer`,
        options: {
          brokers: config.WRIT_KAFKA_BROKERS,
          groupId: config.WRIT_KAFKA_GROUP_ID,
          instanceId: config.WRIT_INSTANCE_ID,
          dlqTopic: POLICY_DLQ,
          topics: INPUT_TOPICS,
          // Every assigned partition at once: a partition whose decisions wait for acknowledgements
          // (MESSAGES_IN_FLIGHT of them) holds no other back. Decisions are still made one at a time.
          partitionsConsumedConcurrently: DEFAULT_CONCURRENT_PARTITIONS,
          messagesInFlight: MESSAGES_IN_FLIGHT,
        },
      },
      assignmentTimeoutMs: config.WRIT_POLICY_REPLAY_TIMEOUT_MS,
      logger,
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
        if (decided !== undefined) this.state.history.record(decided);
      },
    });
  }

  /** The partitions of the input topics this instance owns now, ascending (diagnostics and tests). */
  ownedPartitions(): number[] {
    return this.#runtime.ownedPartitions();
  }

  /** The PDP's working memory (read-only use: tests and diagnostics). */
  get state(): PdpState {
    return this.#runtime.stateOf(STATE_KEY) ?? this.#emptyState();
  }

  async onModuleInit(): Promise<void> {
    // The current policy set before the first decision (fail-closed if the stream has none).
    await this.policySets.start();
    // The topics are read once the group has said which partitions are this instance's (at once for
    // a restarted static member), so that what another instance decided until then is read too.
    await this.#runtime.start();
    await this.#historyFollower.start();
    this.#lag = observeConsumerLag(this.config.WRIT_KAFKA_BROKERS, this.config.WRIT_KAFKA_GROUP_ID, INPUT_TOPICS);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.#lag?.stop();
    await this.#historyFollower.stop();
    await this.#runtime.stop();
    await this.policySets.stop();
  }

  #emptyState(): PdpState {
    return emptyPdpState(this.config.WRIT_POLICY_RATE_WINDOW_MS, this.config.WRIT_POLICY_HISTORY_HORIZON_MS);
  }

  #mine(event: DecodedEvent): boolean {
    return this.#tenants.serves(event.payload.meta.tenant_id);
  }

  #spec(): DeciderSpec<PdpInput, PdpState> {
    return {
      name: 'policy',
      route: (event, _ctx, _now, stateOf) => {
        if (!this.#mine(event)) return null;
        const meta = event.payload.meta;
        const routed = (input: PdpInput, span: DeciderRoute<PdpInput>['span']) => ({ key: STATE_KEY, tenant: meta.tenant_id, partition: null, input, span });
        switch (event.type) {
          case 'ActionProposed':
            return routed(
              { kind: 'decide', proposed: event.payload },
              { name: 'policy.decide', attributes: spanAttributes(meta, event.payload.agent_id, event.payload.tool) },
            );
          case 'ApprovalSubmitted': {
            const action = meta.action_id === null ? undefined : stateOf(STATE_KEY, meta.tenant_id).actions.get(meta.action_id)?.proposed;
            return routed(
              { kind: 'approve', submitted: event.payload },
              { name: 'policy.approve', attributes: spanAttributes(meta, action?.agent_id, action?.tool) },
            );
          }
          case 'BudgetReserved': {
            if (event.payload.approval_step === null) return null;
            const action = meta.action_id === null ? undefined : stateOf(STATE_KEY, meta.tenant_id).actions.get(meta.action_id)?.proposed;
            return routed(
              { kind: 'budget', reserved: event.payload },
              { name: 'policy.budget_approval', attributes: spanAttributes(meta, action?.agent_id, action?.tool) },
            );
          }
          default: {
            const folded = asPdpEvent(event);
            return folded === undefined ? null : routed({ kind: 'fold', event: folded }, null);
          }
        }
      },
      initial: () => this.#emptyState(),
      // Counted once acknowledged: never what a rebuild reads back.
      published: (events) => this.#countPublished(events),
      step: (input, { state }, span, now) => {
        switch (input.kind) {
          case 'decide': {
            const { proposed } = input;
            const outcome = onActionProposed(state, proposed, this.#environment(span, now));
            if (outcome.ignored !== null) {
              this.#logger.log(
                `action ${proposed.meta.action_id ?? '(none)'} of run ${proposed.meta.run_id} (tenant ${proposed.meta.tenant_id}) not decided: ${outcome.ignored}`,
              );
            }
            this.#rememberLabels(state, outcome.outputs, proposed);
            foldOutputs(state, outcome.outputs, span);
            // Counted in its run once decided: a redelivery finds it decided and counted.
            evolvePdpState(state, { type: 'ActionProposed', payload: proposed });
            return { state, outputs: outcome.outputs };
          }
          case 'approve': {
            const outputs = onApprovalSubmitted(state, input.submitted, this.#environment(span, now));
            this.#rememberLabels(state, outputs);
            foldOutputs(state, outputs, span);
            return { state, outputs };
          }
          case 'budget': {
            evolvePdpState(state, { type: 'BudgetReserved', payload: input.reserved });
            const outputs = onBudgetApprovalStep(state, input.reserved, this.#environment(span, now));
            this.#rememberLabels(state, outputs);
            foldOutputs(state, outputs, span);
            return { state, outputs };
          }
          case 'fold':
            evolvePdpState(state, input.event);
            return { state, outputs: [] };
          default:
            return input satisfies never;
        }
      },
      rebuild: () => this.#read(),
      // Up to three PDPs share the runs by partition: a partition gained may have moved elsewhere.
      readsGainedPartitions: true,
    };
  }

  /**
   * The agent and tool of each decision: of the proposal being decided, else of the action's
   * proposal in the state (an approval's, a budget step's re-decision).
   */
  #rememberLabels(state: PdpState, outputs: readonly PdpOutput[], deciding?: EventPayloads['ActionProposed']): void {
    for (const output of outputs) {
      if (output.type !== 'PolicyDecided') continue;
      const actionId = output.payload.meta.action_id;
      const proposed = deciding ?? (actionId === null ? undefined : state.actions.get(actionId)?.proposed);
      this.#decisionLabels.set(output, { agent: proposed?.agent_id ?? '', tool: proposed?.tool ?? '' });
    }
  }

  /** The PDP's metrics: decisions by result and determining policies, approval verdicts recorded. */
  #countPublished(events: readonly OutgoingEvent[]): void {
    for (const event of events) {
      const tenant = event.payload.meta.tenant_id;
      if (event.type === 'PolicyDecided') {
        const { agent, tool } = this.#decisionLabels.get(event) ?? { agent: '', tool: '' };
        const { decision, determining_policies } = event.payload;
        writCounter(WRIT_METRIC.policyDecisions).add(1, { tenant, agent, tool, decision, policy: policyLabelOf(determining_policies) });
      } else if (event.type === 'ApprovalRecorded') {
        const { verdict, accepted } = event.payload;
        writCounter(WRIT_METRIC.policyApprovalsRecorded).add(1, { tenant, verdict, accepted: String(accepted) });
      }
    }
  }

  #environment(span: Span, now: number): PdpEnvironment {
    return {
      decisionPoint: this.setup.decisionPoint,
      agent: this.setup.agent,
      user: this.setup.user,
      tool: this.setup.tool,
      signingKey: this.setup.signingKey,
      warrantTtlMs: this.config.WRIT_POLICY_WARRANT_TTL_MS,
      producer: `policy@${VERSION}`,
      now,
      newMetadata,
      trace: eventTraceOf(span),
    };
  }

  /** The state from the topics (pending actions, run statistics, decisions, approvals). */
  async #read(): Promise<ReadonlyMap<string, DeciderSlot<PdpState>>> {
    const started = Date.now();
    const state = this.#emptyState();
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
    const pending = [...state.actions.values()].filter((a) => a.decision === 'approval_required' && !a.terminal).length;
    this.#logger.log(
      `policy set ${this.setup.decisionPoint.version} (${this.setup.decisionPoint.policySetHash.slice(0, 12)}); ` +
        `state read from ${records} records in ${Date.now() - started} ms: ${state.actions.size} actions in ${state.runs.size} runs, ${pending} awaiting approval; partitions ${this.ownedPartitions().join(',') || 'none yet'}`,
    );
    return new Map([[STATE_KEY, { state, tenant: STATE_KEY, partition: null }]]);
  }
}

/** A decision's determining policies as one label: their ids, sorted and joined by ","; "none" for a default deny. */
export function policyLabelOf(determining: readonly string[]): string {
  return determining.length === 0 ? 'none' : [...determining].sort().join(',');
}

function spanAttributes(meta: EventPayloads['ActionProposed']['meta'], agent: string | undefined, tool: string | undefined): Record<string, string> {
  return {
    [WRIT_ATTR.tenantId]: meta.tenant_id,
    [WRIT_ATTR.runId]: meta.run_id,
    ...(meta.action_id === null ? {} : { [WRIT_ATTR.actionId]: meta.action_id }),
    ...(agent === undefined ? {} : { [WRIT_ATTR.agentId]: agent }),
    ...(tool === undefined ? {} : { [WRIT_ATTR.tool]: tool }),
  };
}

/** The step's outputs, folded into the state at once (the next input sees them) and named on its span. */
function foldOutputs(state: PdpState, outputs: readonly PdpOutput[], span: Span): void {
  for (const output of outputs) {
    if (output.type === 'PolicyDecided') {
      span.setAttribute(WRIT_ATTR.decision, output.payload.decision);
      span.setAttribute(WRIT_ATTR.determiningPolicies, [...output.payload.determining_policies]);
    } else {
      span.setAttribute('writ.policy.approval.accepted', output.payload.accepted);
    }
    evolvePdpState(state, output);
  }
}
