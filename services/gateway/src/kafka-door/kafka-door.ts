import { Inject, Injectable, Logger } from '@nestjs/common';
import type { OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import type { KafkaJS } from '@confluentinc/kafka-javascript';
import { AssignmentTracker, OffsetCommitter, createKafka, dlqMessage } from '@writ/bus';
import type { BusLogger } from '@writ/bus';
import type { SingleObjectCodec } from '@writ/contracts';
import { KAFKA_DOOR_PROPOSALS_REGEX, kafkaDoorAgentOf, kafkaDoorNames } from '@writ/directory';
import type { Agent, LiveDirectory, Principal } from '@writ/directory';
import { WritError, backoffDelay, describeError, isWritError } from '@writ/errors';
import type { ErrorCode } from '@writ/errors';
import { awaitsDetail, isTerminalStatus, parseOpenRun, parsePropose, proposalEvent } from '@writ/gateway-core';
import type { ActionState, ReadModelChange } from '@writ/gateway-core';
import { SERVICE_CONFIG, busLoggerOf } from '@writ/runtime';
import type { ToolRegistry } from '@writ/tools';
import { AgentDoor } from '../agent-door.ts';
import type { TraceHeaders } from '../agent-door.ts';
import { DIRECTORY, TOOL_REGISTRY } from '../config.ts';
import type { GatewayConfig } from '../config.ts';
import { GatewayBus } from '../gateway-bus.ts';
import { Views } from '../presenter.ts';
import { doorCodec, outcomeEncoder } from './codec.ts';
import type { DoorOutcome, DoorProposal, DoorRecordType } from './codec.ts';
import { ProposalOffsets } from './offsets.ts';
import { accepted, doorRunId, ended, held, isAgentError, openRunBody, proposeBody, rejected, toTell, underRun } from './translate.ts';
import type { ProposalRef } from './translate.ts';

/** The gateway's DLQ (its only one): undecodable records and records on a topic of no known agent. */
const DLQ_TOPIC = 'writ.gateway.dlq';
/** Attempts at a proposal that fails for Writ's own reasons (Kafka, a busy gateway) before it is rejected as such. */
const MAX_ATTEMPTS = 5;
/** How long an ended action's answer waits for its decision or result body (read from other topics). */
const DETAIL_GRACE_MS = 1_000;
/** How long an answered record's offset may wait before it is committed (coalesced per partition). */
const COMMIT_INTERVAL_MS = 200;

/** A proposal record: its topic, partition and offset. */
interface RecordRef extends ProposalRef {
  readonly topic: string;
}

/** An accepted action whose end this instance will tell its agent, once per proposal record of it read. */
interface Pending {
  readonly outcomesTopic: string;
  readonly records: RecordRef[];
  /** The `held` answer was sent (once per instance and action). */
  held: boolean;
  grace?: ReturnType<typeof setTimeout>;
}

/**
 * The Kafka door (docs/kafka-door.md): agents that live on the bus write DoorProposal records to
 * their own proposals topic, as their own Kafka principal, and read DoorOutcome records on their
 * outcomes topic. The broker's ACLs bind each principal to its two topics, so the topic a record
 * arrives on names the agent, and the directory its tenant: nothing in the record says who it is.
 * Each proposal goes through the HTTP door's own commands (AgentDoor: the same parsing, tool
 * contract, idempotency, ActionProposed); a refused one is answered with the field and the rule
 * and nothing is emitted. One consumer group for all gateway instances (`<group>.door`); the
 * instance that accepted a proposal answers `held` when it waits for approval, and its end. The
 * consumer offset is the outbox: a partition's committed offset never passes a record whose end
 * was not sent (ProposalOffsets), so after a restart or a rebalance the records from there are read
 * again, proposed again (the same action: idempotent) and answered again (at least once).
 */
@Injectable()
export class KafkaDoor implements OnApplicationBootstrap, OnApplicationShutdown {
  readonly #logger = new Logger('KafkaDoor');
  readonly #busLogger: BusLogger;
  readonly #codec: SingleObjectCodec<DoorRecordType> = doorCodec();
  readonly #encodeOutcome = outcomeEncoder();
  readonly #pending = new Map<string, Pending>();
  readonly #offsets = new ProposalOffsets();
  readonly #assignments = new AssignmentTracker(undefined, (change, partitions) => this.#rebalancing(change, partitions));
  readonly #stopping = new AbortController();
  readonly #groupId: string;
  #consumer: KafkaJS.Consumer | undefined;
  #producer: KafkaJS.Producer | undefined;
  #committer: OffsetCommitter | undefined;

  constructor(
    @Inject(SERVICE_CONFIG) private readonly config: GatewayConfig,
    @Inject(DIRECTORY) private readonly directory: LiveDirectory,
    @Inject(GatewayBus) private readonly bus: GatewayBus,
    @Inject(AgentDoor) private readonly door: AgentDoor,
    @Inject(Views) private readonly views: Views,
    @Inject(TOOL_REGISTRY) private readonly tools: ToolRegistry,
  ) {
    this.#busLogger = busLoggerOf(this.#logger);
    this.#groupId = `${config.WRIT_KAFKA_GROUP_ID}.door`;
    bus.observe({ onControl: () => undefined, onChange: (change) => this.#changed(change) });
  }

  get groupId(): string {
    return this.#groupId;
  }

  async onApplicationBootstrap(): Promise<void> {
    if (!this.config.WRIT_GATEWAY_KAFKA_DOOR) return;
    const kafka = createKafka({ brokers: this.config.WRIT_KAFKA_BROKERS, clientId: 'writ-gateway-kafka-door', logger: this.#busLogger });
    this.#producer = kafka.producer({ 'enable.idempotence': true, 'linger.ms': 0 });
    await this.#producer.connect();
    // A new group starts at the end: proposals written while no gateway read them are re-sent by
    // their agents (no acceptance came back); a known group resumes where it committed, which is
    // at the first record whose answers were not all sent (manual commits, #answered).
    const consumer = kafka.consumer({
      kafkaJS: { groupId: this.#groupId, fromBeginning: false, autoCommit: false },
      'topic.metadata.refresh.interval.ms': 5_000,
      ...this.#assignments.config,
    });
    this.#consumer = consumer;
    this.#committer = new OffsetCommitter({
      intervalMs: COMMIT_INTERVAL_MS,
      logger: this.#busLogger,
      commit: (offsets) => consumer.commitOffsets(offsets),
      owns: (topic, partition) => this.#assignments.has(topic, partition),
    });
    await this.#consumer.connect();
    // librdkafka's regex subscription: proposals topics created later are picked up on a metadata refresh.
    await this.#consumer.subscribe({ topics: [new RegExp(KAFKA_DOOR_PROPOSALS_REGEX)] });
    await this.#consumer.run({ eachMessage: (payload) => this.#handle(payload) });
    this.#logger.log(`Kafka door: group ${this.#groupId} subscribed to ${KAFKA_DOOR_PROPOSALS_REGEX}`);
  }

  /**
   * Pending ends are dropped, not answered: their records stay uncommitted (the commit point is
   * below them), so whoever reads the partitions next (this gateway restarted, another instance)
   * proposes them again and answers them.
   */
  async onApplicationShutdown(): Promise<void> {
    this.#stopping.abort();
    for (const pending of this.#pending.values()) if (pending.grace !== undefined) clearTimeout(pending.grace);
    this.#pending.clear();
    this.#markCommits();
    await this.#committer?.flush();
    this.#committer?.close();
    await this.#consumer?.disconnect().catch(() => undefined);
    await this.#producer?.disconnect().catch(() => undefined);
  }

  /** A proposal record: open until answered (rejected, or accepted and ended), then committable. */
  async #handle(payload: KafkaJS.EachMessagePayload): Promise<void> {
    const { topic, partition, message } = payload;
    const record: RecordRef = { topic, partition, offset: Number(message.offset) };
    this.#offsets.read(topic, partition, record.offset);
    // A throw leaves the record open: the client hands it over again.
    const awaitingEnd = await this.#consume(payload, record);
    if (!awaitingEnd) this.#answered(record);
  }

  /** Answers the record; true when it was accepted and its end is still to be told (it stays open). */
  async #consume({ topic, partition, message }: KafkaJS.EachMessagePayload, ref: RecordRef): Promise<boolean> {
    const headers = textHeaders(message.headers);
    const agent = kafkaDoorAgentOf(this.directory, topic);
    let proposal: DoorProposal;
    try {
      const decoded = this.#codec.decode(message.value ?? Buffer.alloc(0));
      if (decoded.type !== 'DoorProposal')
        throw new WritError('EVENT_INVALID', `a ${decoded.type} is not a proposal`, { field: '(record)', rule: 'must be a DoorProposal' });
      proposal = decoded.payload as DoorProposal;
    } catch (error) {
      await this.#deadLetter(topic, partition, message, headers, error);
      if (agent !== undefined) await this.#answer(agent, null, rejected(error, null, ref, Date.now()));
      return false;
    }
    if (agent === undefined) {
      const unknown = new WritError('AGENT_NOT_FOUND', `no agent of the directory has the proposals topic ${topic}`);
      await this.#deadLetter(topic, partition, message, headers, unknown);
      return false;
    }
    const caller: Principal = { kind: 'agent', agent };
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await this.#propose(caller, agent, proposal, ref, headers);
      } catch (error) {
        if (isAgentError(error) || attempt >= MAX_ATTEMPTS || this.#stopping.signal.aborted) {
          if (!isAgentError(error)) this.#logger.error(`Kafka door: ${topic}@${partition}:${message.offset} failed ${attempt} times: ${describeError(error)}`);
          await this.#answer(agent, proposal.idempotency_key, rejected(error, proposal.idempotency_key, ref, Date.now()));
          return false;
        }
        await new Promise((resolve) => setTimeout(resolve, backoffDelay(attempt, { initialMs: 100, maxMs: 2_000 })));
      }
    }
  }

  /**
   * One proposal: the HTTP door's checks first, all of them before anything is emitted (an OpenRun
   * proposal whose action would be refused opens no run), then its run (opened once per idempotency
   * key), then AgentDoor.propose: ActionProposed once per idempotency key. True when the action
   * has not ended yet: its end (and `held`, if it waits for approval) is this instance's to tell.
   */
  async #propose(caller: Principal, agent: Agent, proposal: DoorProposal, ref: RecordRef, headers: TraceHeaders): Promise<boolean> {
    const body = proposeBody(proposal);
    const request = parsePropose(body);
    let runId: string;
    if (typeof proposal.run === 'string') {
      runId = proposal.run;
    } else {
      let open;
      try {
        open = parseOpenRun(openRunBody(proposal.run));
      } catch (error) {
        throw underRun(error);
      }
      runId = doorRunId(agent.tenant, agent.id, proposal.idempotency_key);
      if (this.bus.model.run(runId) === undefined) {
        // The tool contract, as AgentDoor.propose will judge it, before the run exists.
        try {
          proposalEvent({ tools: this.tools, tenant: agent.tenant, runId, runMode: open.mode, agentId: agent.id, request, stamp: this.bus.stamp(null) });
        } catch (error) {
          if (!isWritError(error, 'SEALING_UNAVAILABLE')) throw error;
        }
        await this.door.openRun(caller, openRunBody(proposal.run), headers, { runId });
      }
    }
    const { action_id, status } = await this.door.propose(caller, runId, body, headers);
    await this.#answer(agent, action_id, accepted({ action_id, run_id: runId, status }, proposal.idempotency_key, ref, Date.now()));
    const action = this.bus.model.action(action_id);
    const outcomesTopic = kafkaDoorNames(agent.kafka_principal ?? '').outcomes;
    if (action !== undefined && isTerminalStatus(action.status) && !awaitsDetail(action)) {
      await this.#answerEnd(action, outcomesTopic, ref);
      return false;
    }
    // The partition was taken away while the record was handled: its next owner answers it.
    if (!this.#offsets.tracks(ref.topic, ref.partition)) return false;
    const pending = this.#pending.get(action_id);
    if (pending === undefined) this.#pending.set(action_id, { outcomesTopic, records: [ref], held: false });
    else if (!pending.records.some((r) => r.topic === ref.topic && r.partition === ref.partition && r.offset === ref.offset)) pending.records.push(ref);
    if (action !== undefined) this.#changed({ kind: 'action', before: undefined, after: action });
    return true;
  }

  /**
   * A change of the read model: an accepted action that waits for approval is told `held` (once);
   * one that ended is told its end (with its decision and result, or after the grace).
   */
  #changed(change: ReadModelChange): void {
    if (change.kind !== 'action') return;
    const { after } = change;
    const pending = this.#pending.get(after.action_id);
    if (pending === undefined) return;
    const tell = toTell(after, pending.held);
    if (tell.held) {
      pending.held = true;
      this.#send(pending.outcomesTopic, after.action_id, held(this.views.present(after), pending.records[0] ?? null, Date.now())).catch((error: unknown) => {
        this.#logger.error(`Kafka door: could not tell that ${after.action_id} is held: ${describeError(error)}`);
      });
    }
    if (tell.end === 'after-grace' && pending.grace === undefined) {
      pending.grace = setTimeout(() => this.#end(after.action_id), DETAIL_GRACE_MS);
      pending.grace.unref();
    }
    if (tell.end === 'now') this.#end(after.action_id);
  }

  /**
   * Tells the end once per proposal record of the action read here; each record is then answered.
   * One whose answer could not be sent stays open: it is read and answered again after a restart
   * or a rebalance (the producer has already retried for its delivery timeout).
   */
  #end(actionId: string): void {
    const pending = this.#pending.get(actionId);
    const action = this.bus.model.action(actionId);
    if (pending === undefined || action === undefined) return;
    if (pending.grace !== undefined) clearTimeout(pending.grace);
    this.#pending.delete(actionId);
    for (const record of pending.records) {
      this.#answerEnd(action, pending.outcomesTopic, record).then(
        () => this.#answered(record),
        (error: unknown) => {
          this.#logger.error(
            `Kafka door: could not tell the end of ${actionId} (${record.topic}@${record.partition}:${record.offset} stays uncommitted): ${describeError(error)}`,
          );
        },
      );
    }
  }

  /** The record is fully answered: its partition's commit point may pass it. */
  #answered(record: RecordRef): void {
    this.#offsets.answered(record.topic, record.partition, record.offset);
    // Stopping: the last commit is onApplicationShutdown's (the consumer is about to disconnect).
    if (!this.#stopping.signal.aborted) this.#markCommits();
  }

  #markCommits(): void {
    const committer = this.#committer;
    if (committer === undefined) return;
    for (const { topic, partition, offset } of this.#offsets.advanced()) committer.mark(topic, partition, offset);
  }

  /**
   * Partitions taken away (a rebalance, or this instance stopping): their commit points are
   * committed before the client lets go (the rebalance waits), and their pending ends dropped:
   * the new owner reads those records again and answers them.
   */
  async #rebalancing(change: 'assigned' | 'revoked', partitions: readonly KafkaJS.TopicPartition[]): Promise<void> {
    if (change !== 'revoked') return;
    if (!this.#stopping.signal.aborted) {
      this.#markCommits();
      await this.#committer?.flush(partitions);
    }
    const revoked = new Set(partitions.map((p) => `${p.topic}:${String(p.partition)}`));
    for (const { topic, partition } of partitions) this.#offsets.forget(topic, partition);
    let dropped = 0;
    for (const [actionId, pending] of this.#pending) {
      const kept = pending.records.filter((r) => !revoked.has(`${r.topic}:${String(r.partition)}`));
      if (kept.length === pending.records.length) continue;
      dropped += 1;
      pending.records.splice(0, pending.records.length, ...kept);
      if (kept.length > 0) continue;
      if (pending.grace !== undefined) clearTimeout(pending.grace);
      this.#pending.delete(actionId);
    }
    if (dropped > 0) this.#logger.log(`Kafka door: ${partitions.length} partition(s) revoked; ${dropped} pending end(s) left to their next reader`);
  }

  async #answerEnd(action: ActionState, outcomesTopic: string, ref: ProposalRef): Promise<void> {
    await this.#send(outcomesTopic, action.action_id, ended(this.views.present(action), ref, Date.now()));
  }

  async #answer(agent: Agent, key: string | null, outcome: DoorOutcome): Promise<void> {
    if (agent.kafka_principal === undefined) return;
    await this.#send(kafkaDoorNames(agent.kafka_principal).outcomes, key, outcome);
  }

  async #send(topic: string, key: string | null, outcome: DoorOutcome): Promise<void> {
    await this.#producer?.send({ topic, messages: [{ key, value: this.#encodeOutcome(outcome) }] });
  }

  async #deadLetter(topic: string, partition: number, message: KafkaJS.KafkaMessage, headers: Record<string, string>, error: unknown): Promise<void> {
    const code: ErrorCode = isWritError(error) ? error.code : 'EVENT_UNDECODABLE';
    const record = dlqMessage(
      { topic, partition, offset: message.offset, groupId: this.#groupId, key: toBuffer(message.key), value: toBuffer(message.value), headers },
      { code, retriable: false, reason: describeError(error) },
      1,
    );
    await this.#producer?.send({ topic: DLQ_TOPIC, messages: [record] });
    this.#logger.warn(`Kafka door: ${topic}@${partition}:${message.offset} to ${DLQ_TOPIC}: ${describeError(error)}`);
  }
}

function toBuffer(value: Buffer | string | null | undefined): Buffer | null {
  if (value === null || value === undefined) return null;
  return Buffer.isBuffer(value) ? value : Buffer.from(value);
}

/** The record's headers as text (only traceparent and tracestate are used: they continue the agent's trace). */
function textHeaders(headers: KafkaJS.IHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    const first = Array.isArray(value) ? value[0] : value;
    if (first !== undefined) out[name] = Buffer.isBuffer(first) ? first.toString('utf8') : String(first);
  }
  return out;
}
