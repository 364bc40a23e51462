import { randomUUID } from 'node:crypto';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { EventConsumer } from '@writ/bus';
import { TOPICS } from '@writ/contracts';
import type { PolicySetPublished } from '@writ/contracts';
import type { Principal } from '@writ/directory';
import { describeError } from '@writ/errors';
import type * as PolicyEngine from '@writ/policy-engine';
import type { LoadedPolicySet } from '@writ/policy-engine';
import { SERVICE_CONFIG, busLoggerOf } from '@writ/runtime';
import type { ToolDefinition } from '@writ/tools';
import type { GatewayConfig } from '../config.ts';

/** Answers remembered per policy set, agent and tool version (a new set starts afresh). */
const MAX_REMEMBERED = 10_000;

/**
 * Which registry tools an agent is shown by the MCP door's `tools/list`: those the PDP's current
 * policy set (the stream WRIT_POLICY_STREAM of writ.policysets.v1, followed as the PDP follows it)
 * does not deny it whatever the call, by Cedar's partial evaluation (`toolReach` of
 * @writ/policy-engine). Hiding is a convenience for the model, never the enforcement: every call
 * is decided by the PDP whatever the list showed, so before the first set is read, or when Cedar
 * cannot evaluate, a tool is shown.
 *
 * Cedar is loaded when a list is first asked for (its import and the demo's set's compilation
 * take about 125 ms, once), and from then on each set is compiled as it is read: its WebAssembly
 * costs a gateway about 24 MiB resident, which a gateway no agent lists tools from (the HTTP and
 * Kafka doors) does not pay.
 */
@Injectable()
export class ToolVisibility implements OnModuleInit, OnApplicationShutdown {
  readonly #logger = new Logger('ToolVisibility');
  readonly #consumer: EventConsumer;
  readonly #stream: string;
  #head: PolicySetPublished | undefined;
  /** The head, compiled (undefined when Cedar could not load it); begun by the first list after it. */
  #set: { readonly head: PolicySetPublished; readonly loaded: Promise<LoadedPolicySet | undefined> } | undefined;
  #engine: Promise<typeof PolicyEngine> | undefined;
  readonly #answers = new Map<string, boolean>();

  constructor(@Inject(SERVICE_CONFIG) config: GatewayConfig) {
    this.#stream = config.WRIT_POLICY_STREAM;
    this.#consumer = new EventConsumer({
      brokers: config.WRIT_KAFKA_BROKERS,
      groupId: `${config.WRIT_KAFKA_GROUP_ID}.policysets.${randomUUID()}`,
      clientId: 'writ-gateway-policysets',
      topics: [TOPICS.policysets],
      dlqTopic: 'writ.gateway.dlq',
      fromBeginning: true,
      handler: (event) => {
        if (event.type === 'PolicySetPublished') this.#read(event.payload);
      },
      logger: busLoggerOf(this.#logger),
    });
  }

  async onModuleInit(): Promise<void> {
    await this.#consumer.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.#consumer.stop();
  }

  /** The policy set the list follows now (undefined before the first is read). */
  get policySetHash(): string | undefined {
    return this.#head?.policy_set_hash;
  }

  async visible(caller: Principal, tools: readonly ToolDefinition[]): Promise<readonly ToolDefinition[]> {
    // Only agents propose: anyone else is shown Writ's own tools only.
    if (caller.kind !== 'agent') return [];
    const head = this.#head;
    if (head === undefined) return tools;
    if (this.#set?.head !== head) this.#set = { head, loaded: this.#compile(head) };
    const set = await this.#set.loaded;
    if (set === undefined) return tools;
    const { toolReach } = await this.#loadEngine();
    const { agent } = caller;
    return tools.filter((tool) => {
      const key = `${set.hash}|${agent.tenant}|${agent.id}|${agent.role}|${agent.owner}|${tool.name}@${tool.version}|${tool.effect}|${tool.risk}`;
      let may = this.#answers.get(key);
      if (may === undefined) {
        may = toolReach(set, agent.tenant, { id: agent.id, role: agent.role, owner: agent.owner }, tool).mayInvoke;
        if (this.#answers.size >= MAX_REMEMBERED) this.#answers.clear();
        this.#answers.set(key, may);
      }
      return may;
    });
  }

  /**
   * Folds the stream as the PDP does (policy-service-core's policy-stream, which this scope may
   * not import): a publication applies when it names the current set as its previous one and
   * carries the next sequence; any other is a conflict the PDP ignored too.
   */
  #read(event: PolicySetPublished): void {
    if (event.stream !== this.#stream) return;
    if (event.previous_hash !== (this.#head?.policy_set_hash ?? null) || event.sequence !== (this.#head?.sequence ?? 0) + 1) return;
    this.#head = event;
    this.#answers.clear();
    // Once agents list tools here, a new set is compiled as it is read (about 80 ms for the
    // demo's), not by the next list.
    if (this.#engine !== undefined) this.#set = { head: event, loaded: this.#compile(event) };
  }

  #loadEngine(): Promise<typeof PolicyEngine> {
    this.#engine ??= import('@writ/policy-engine');
    return this.#engine;
  }

  async #compile(event: PolicySetPublished): Promise<LoadedPolicySet | undefined> {
    try {
      const { compilePolicySet } = await this.#loadEngine();
      return compilePolicySet({
        schemaText: event.schema_text,
        policies: Object.fromEntries(event.policies.map((policy) => [policy.policy_id, policy.text])),
        version: event.version,
      });
    } catch (error) {
      // The PDP fails closed on a set it cannot load; the list shows every tool and the PDP decides.
      this.#logger.warn(`policy set ${event.policy_set_hash.slice(0, 12)} not loaded for tools/list: ${describeError(error)}`);
      return undefined;
    }
  }
}
