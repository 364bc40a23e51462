import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KafkaJS } from '@confluentinc/kafka-javascript';
import { createKafka, silentLogger } from '@writ/bus';
import { createSingleObjectCodec, fingerprintOf } from '@writ/contracts';
import type { AvroSchemaJson, SingleObjectCodec } from '@writ/contracts';
import { WritError } from '@writ/errors';
import type { ActionView, ProposeRequest, WritClient } from '@writ/sdk';

// The demo's triage agent on the Kafka door (`./dev writ demo --door kafka`, docs/kafka-door.md):
// it writes DoorProposal records to its own proposals topic as its own SCRAM principal and reads its
// DoorOutcome records, with nothing but a Kafka client and the .avsc files of schemas/_door, as an
// agent team would. Proposals and outcomes travel on Kafka; `action()` (the approval queue's state
// the demo shows while a refund waits) reads the HTTP door with the agent's key.

type DoorType = 'DoorProposal' | 'DoorOutcome';

interface DoorOutcome {
  readonly kind: 'accepted' | 'rejected' | 'held' | 'ended';
  readonly idempotency_key: string | null;
  readonly run_id: string | null;
  readonly action_id: string | null;
  readonly status: string | null;
  readonly reason: string | null;
  readonly decision: string | null;
  readonly determining_policies: readonly string[];
  readonly result: string | null;
  readonly cost_micros: number | null;
  readonly currency: string | null;
  readonly error: { readonly code: string; readonly message: string; readonly field: string | null; readonly rule: string | null } | null;
}

/** Re-sends a proposal this often until it is answered (the door's group may not have listened yet). */
const RESEND_MS = 3_000;
const MAX_SENDS = 10;

export interface KafkaDoorAgentOptions {
  readonly root: string;
  readonly brokers: readonly string[];
  /** The agent's Kafka principal (its `kafka_principal` in the directory) and its password file. */
  readonly principal: string;
  readonly passwordFile: string;
  /** The same agent on the HTTP door, for `action()` only. */
  readonly http: WritClient;
}

export class KafkaDoorAgent {
  readonly #codec: SingleObjectCodec<DoorType>;
  readonly #producer: KafkaJS.Producer;
  readonly #consumer: KafkaJS.Consumer;
  readonly #proposals: string;
  readonly #http: WritClient;
  readonly #seen: DoorOutcome[] = [];
  readonly #listeners = new Set<() => void>();

  private constructor(options: KafkaDoorAgentOptions) {
    const schema = (type: DoorType, version: number): AvroSchemaJson =>
      JSON.parse(readFileSync(join(options.root, 'schemas', '_door', `${type}.v${version}.avsc`), 'utf8')) as AvroSchemaJson;
    // Every DoorOutcome version the door writes (accepted, rejected, ended as v1; held as v2), read as v2.
    const known: readonly [DoorType, number][] = [
      ['DoorProposal', 1],
      ['DoorOutcome', 1],
      ['DoorOutcome', 2],
    ];
    this.#codec = createSingleObjectCodec<DoorType>(
      known.map(([type, version]) => ({ type, version, schema: schema(type, version), fingerprint: fingerprintOf(schema(type, version)) })),
    );
    const password = readFileSync(options.passwordFile, 'utf8').trim();
    const kafka = createKafka({
      brokers: options.brokers,
      clientId: options.principal,
      logger: silentLogger,
      sasl: { mechanism: 'SCRAM-SHA-512', username: options.principal, password, protocol: 'sasl_plaintext' },
    });
    this.#proposals = `writ.door.${options.principal}.proposals.v1`;
    this.#http = options.http;
    this.#producer = kafka.producer();
    this.#consumer = kafka.consumer({ kafkaJS: { groupId: `writ.door.${options.principal}.demo-${randomUUID()}`, fromBeginning: false } });
  }

  static async connect(options: KafkaDoorAgentOptions): Promise<KafkaDoorAgent> {
    const agent = new KafkaDoorAgent(options);
    await agent.#producer.connect();
    await agent.#consumer.connect();
    await agent.#consumer.subscribe({ topics: [`writ.door.${options.principal}.outcomes.v1`] });
    await agent.#consumer.run({
      eachMessage: async ({ message }) => {
        if (message.value === null) return;
        let outcome: DoorOutcome;
        try {
          outcome = agent.#codec.decode(message.value).payload as DoorOutcome;
        } catch {
          return; // a DoorOutcome version this agent does not know (a later one): skipped
        }
        agent.#seen.push(outcome);
        for (const listener of agent.#listeners) listener();
      },
    });
    return agent;
  }

  async close(): Promise<void> {
    await this.#consumer.disconnect();
    await this.#producer.disconnect();
  }

  /** Proposes in `runId` on the Kafka door: accepted (the action) or a rejection naming field and rule. */
  async propose(runId: string, request: ProposeRequest): Promise<{ action_id: string; status: string }> {
    const record = {
      idempotency_key: request.idempotency_key,
      run: runId,
      tool: request.tool,
      tool_version: null,
      arguments: JSON.stringify(request.arguments),
      reason: request.reason,
      provenance: null,
    };
    const answered = (o: DoorOutcome) => o.idempotency_key === request.idempotency_key && (o.kind === 'accepted' || o.kind === 'rejected');
    for (let sent = 0; sent < MAX_SENDS; sent += 1) {
      await this.#producer.send({ topic: this.#proposals, messages: [{ key: request.idempotency_key, value: this.#codec.encode('DoorProposal', record) }] });
      const answer = await this.#next(answered, RESEND_MS);
      if (answer?.kind === 'accepted') return { action_id: answer.action_id ?? '', status: answer.status ?? 'proposed' };
      if (answer?.kind === 'rejected') {
        const error = answer.error;
        throw new WritError('REQUEST_INVALID', error?.message ?? 'rejected', {
          ...(error?.field == null ? {} : { field: error.field }),
          ...(error?.rule == null ? {} : { rule: error.rule }),
        });
      }
    }
    throw new WritError('WAIT_TIMEOUT', `the Kafka door did not answer the proposal ${request.idempotency_key}`);
  }

  /** The action's end as the door told it (status, policies, result, cost), or its state over HTTP after `waitMs`. */
  async outcome(actionId: string, waitMs = 30_000): Promise<ActionView> {
    const end = await this.#next((o) => o.kind === 'ended' && o.action_id === actionId, waitMs);
    if (end === undefined) return this.#http.action(actionId);
    return {
      action_id: actionId,
      run_id: end.run_id ?? '',
      status: end.status ?? 'failed',
      ...(end.reason === null ? {} : { reason: end.reason }),
      determining_policies: end.determining_policies,
      ...(end.cost_micros === null ? {} : { cost_micros: end.cost_micros }),
      result: end.result === null ? null : (JSON.parse(end.result) as unknown),
    };
  }

  action(actionId: string): Promise<ActionView> {
    return this.#http.action(actionId);
  }

  #next(match: (outcome: DoorOutcome) => boolean, waitMs: number): Promise<DoorOutcome | undefined> {
    const found = this.#seen.find(match);
    if (found !== undefined) return Promise.resolve(found);
    return new Promise((resolve) => {
      const listener = (): void => {
        const now = this.#seen.find(match);
        if (now === undefined) return;
        done(now);
      };
      const timer = setTimeout(() => done(undefined), waitMs);
      const done = (outcome: DoorOutcome | undefined): void => {
        clearTimeout(timer);
        this.#listeners.delete(listener);
        resolve(outcome);
      };
      this.#listeners.add(listener);
    });
  }
}
