// The broker as a trust boundary, against the real broker of the int tier (SASL, StandardAuthorizer,
// the ACL table of deploy/kafka/acls.json): every service principal can do its job, and a
// principal writing an event it does not own, reading a topic it does not need, using another
// service's group or transactional id, or presenting a wrong password is refused by the broker.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KafkaJS } from '@confluentinc/kafka-javascript';
import { contractsSerde, createKafka, probeBrokers, silentLogger } from '@writ/bus';
import type { KafkaSasl } from '@writ/bus';
import { EVENT_TYPES, TOPICS, eventOf, partitionKeyOf, topicOf } from '@writ/contracts';
import type { EventType } from '@writ/contracts';
import { sampleEvent } from '@writ/contracts/testing';
import { WritError } from '@writ/errors';
import { testKafkaBrokers, waitFor } from '@writ/testing';
import { loadAclTable } from './acl-table.ts';
import { passwordFileOf, readSecret } from './security.ts';
import { writRoot } from './settings.ts';

const brokers = testKafkaBrokers();
const table = loadAclTable(writRoot());
const secretsDir = process.env['WRIT_KAFKA_SECRETS_DIR'] ?? '';
const tenant = `acl-${randomUUID().slice(0, 8)}`;
const runId = `acl-run-${randomUUID()}`;

function principal(name: string, password?: string): KafkaSasl {
  if (secretsDir === '') {
    throw new WritError('KAFKA_SECRETS_UNKNOWN', 'WRIT_KAFKA_SECRETS_DIR is not set: the int tier runs its broker with SASL (test/setup/stack.global.ts)');
  }
  const mechanism = name === table.superUser ? 'PLAIN' : 'SCRAM-SHA-512';
  return { mechanism, username: name, password: password ?? readSecret(passwordFileOf(secretsDir, name)), protocol: 'sasl_plaintext' };
}

const clients: { disconnect(): Promise<unknown> }[] = [];

async function producerAs(name: string, options: { password?: string; transactionalId?: string } = {}): Promise<KafkaJS.Producer> {
  const kafka = createKafka({ brokers, clientId: `acl-test-${name}`, logger: silentLogger, sasl: principal(name, options.password) });
  const producer = kafka.producer({
    'linger.ms': 0,
    'message.timeout.ms': 10_000,
    'socket.connection.setup.timeout.ms': 5_000,
    kafkaJS: {
      acks: -1,
      idempotent: options.transactionalId !== undefined,
      ...(options.transactionalId === undefined ? {} : { transactionalId: options.transactionalId }),
    },
  });
  clients.push(producer);
  await producer.connect();
  return producer;
}

/** Sends one valid sample of `type` (tenant and run of this file) to its topic as `name`. */
async function produceAs(name: string, type: EventType, producer?: KafkaJS.Producer): Promise<void> {
  const payload = sampleEvent(type, { tenant_id: tenant, run_id: runId });
  const client = producer ?? (await producerAs(name));
  await client.send({
    topic: topicOf(type),
    messages: [{ key: partitionKeyOf(type, payload), value: contractsSerde.encode(eventOf(type, payload)), headers: { 'event-type': type } }],
  });
}

/** The broker's refusal: librdkafka reports the Kafka error name in the message and in `type`. */
async function refusal(action: Promise<unknown>): Promise<string> {
  const error = (await action.then(
    () => undefined,
    (caught: unknown) => caught,
  )) as { message?: string; type?: string; code?: unknown } | undefined;
  expect(error, 'the broker accepted what it should have refused').toBeDefined();
  return `${error?.type ?? ''} ${String(error?.code ?? '')} ${error?.message ?? ''}`;
}

beforeAll(() => {
  expect(secretsDir, 'WRIT_KAFKA_SECRETS_DIR (set by the int global setup)').not.toBe('');
});

afterAll(async () => {
  await Promise.all(clients.map((client) => client.disconnect().catch(() => undefined)));
});

describe('each service principal can do its job', () => {
  it('the owner of every event type produces it to its topic', async () => {
    const producers = new Map<string, KafkaJS.Producer>();
    for (const type of EVENT_TYPES) {
      const owner = table.owners[type];
      expect(owner, `deploy/kafka/acls.json names no owner for ${type}`).toBeDefined();
      if (owner === undefined) continue;
      const producer = producers.get(owner) ?? (await producerAs(owner));
      producers.set(owner, producer);
      await produceAs(owner, type, producer);
    }
  });

  it('each principal reads every topic it needs, in a group of its own prefix', async () => {
    await Promise.all(
      Object.entries(table.principals).map(async ([name, grants]) => {
        const kafka = createKafka({ brokers, clientId: `acl-test-${name}`, logger: silentLogger, sasl: principal(name) });
        const consumer = kafka.consumer({
          'fetch.wait.max.ms': 50,
          kafkaJS: { groupId: `${grants.groups[0] ?? name}.acl-test.${randomUUID()}`, fromBeginning: true, autoCommit: false },
        });
        clients.push(consumer);
        const seen = new Set<string>();
        await consumer.connect();
        await consumer.subscribe({ topics: [...grants.consume] });
        await consumer.run({
          eachMessage: async ({ topic, message }) => {
            if (message.key?.toString() === runId) seen.add(topic);
          },
        });
        // Every audit topic it reads carries at least one event of this file's run.
        const expected = grants.consume.filter((topic) => topic !== TOPICS.ledger && topic !== TOPICS.controls);
        await waitFor(() => expected.every((topic) => seen.has(topic)), { timeoutMs: 45_000, what: `${name} reads ${expected.join(', ')}` });
        await consumer.disconnect();
      }),
    );
  });

  it('the transactional services use transactional ids of their own prefix', async () => {
    for (const [name, grants] of Object.entries(table.principals)) {
      for (const prefix of grants.transactionalIds) {
        const producer = await producerAs(name, { transactionalId: `${prefix}.acl-test.${randomUUID()}` });
        const transaction = await producer.transaction();
        await transaction.send({ topic: grants.produce[0] ?? '', messages: [{ key: runId, value: Buffer.from('tx') }] });
        await transaction.abort();
      }
    }
  });
});

describe('the broker refuses what a principal is not granted', () => {
  const forgeries: [string, EventType][] = [
    ['writ-planner', 'ApprovalSubmitted'],
    ['writ-ledger', 'ApprovalSubmitted'],
    ['writ-gateway', 'ExecutionRequested'],
    ['writ-budget', 'ExecutionRequested'],
    ['writ-policy', 'ExecutionRequested'],
    ['writ-gateway', 'PolicyDecided'],
    ['writ-planner', 'PolicyDecided'],
    ['writ-planner', 'ControlChanged'],
    ['writ-executor', 'ControlChanged'],
    ['writ-executor', 'LedgerEntry'],
    // One writer per topic (issue 6): the planner cannot forge the executor's outcomes or an
    // agent's proposal, the gateway cannot forge the planner's decisions.
    ['writ-planner', 'ActionExecuted'],
    ['writ-planner', 'ActionFailed'],
    ['writ-planner', 'ActionProposed'],
    ['writ-planner', 'RunStarted'],
    ['writ-planner', 'BudgetReserved'],
    ['writ-gateway', 'ActionCompleted'],
    ['writ-gateway', 'ActionAdmitted'],
    ['writ-gateway', 'RunEnded'],
    ['writ-executor', 'ExecutionRequested'],
  ];
  it.each(forgeries)('%s producing %s: TOPIC_AUTHORIZATION_FAILED', async (name, type) => {
    expect(table.owners[type]).not.toBe(name);
    const producer = await producerAs(name);
    expect(await refusal(produceAs(name, type, producer))).toMatch(/TOPIC_AUTHORIZATION_FAILED|Topic authorization failed/i);
  });

  it('a wrong password, or a principal the broker does not know, is refused at authentication', async () => {
    for (const sasl of [principal('writ-gateway', 'not-the-password'), { ...principal('writ-gateway'), username: 'writ-agent' }]) {
      const error = await probeBrokers(brokers, 5_000, sasl).then(
        () => undefined,
        (caught: unknown) => caught as WritError,
      );
      expect(error?.code, sasl.username).toBe('KAFKA_AUTH_FAILED');
      expect(error?.message).toMatch(/SASL authentication error/);
      expect(error?.message).not.toContain(readSecret(passwordFileOf(secretsDir, 'writ-gateway')));
    }
  });

  it('a consumer of a topic its service does not read is refused', async () => {
    for (const [name, topic] of [
      ['writ-executor', TOPICS.policy],
      ['writ-budget', TOPICS.approvals],
      ['writ-gateway', TOPICS.executions],
      // (The gateway reads outcomes since the reconciliation queue: an unknown outcome's details.)
      ['writ-gateway', TOPICS.budget],
      ['writ-budget', TOPICS.executions],
      // (Not a service's own output topic: WRITE implies DESCRIBE, which answers the offsets asked below.)
      ['writ-executor', TOPICS.proposals],
    ] as const) {
      expect(table.principals[name]?.consume).not.toContain(topic);
      const kafka = createKafka({ brokers, clientId: `acl-test-${name}`, logger: silentLogger, sasl: principal(name) });
      const groupId = `${table.principals[name]?.groups[0] ?? name}.acl-test.${randomUUID()}`;
      const consumer = kafka.consumer({ kafkaJS: { groupId, fromBeginning: true, autoCommit: false } });
      clients.push(consumer);
      await consumer.connect();
      let failure: unknown;
      await consumer.subscribe({ topics: [topic] });
      const done = consumer.run({ eachMessage: async () => undefined }).catch((error: unknown) => (failure = error));
      // librdkafka reports the refusal on the consumer's error path; ask for the topic's offsets too.
      const admin = kafka.admin();
      clients.push(admin);
      await admin.connect();
      const offsets = await refusal(admin.fetchTopicOffsets(topic));
      expect(offsets, `${name} reading ${topic}`).toMatch(/TOPIC_AUTHORIZATION_FAILED|authoriz/i);
      await consumer.disconnect();
      await done;
      void failure;
    }
  });

  it("a principal cannot join another service's consumer group or use its transactional id", async () => {
    const kafka = createKafka({ brokers, clientId: 'acl-test-gateway', logger: silentLogger, sasl: principal('writ-gateway') });
    const admin = kafka.admin();
    clients.push(admin);
    await admin.connect();
    expect(await refusal(admin.fetchOffsets({ groupId: 'writ.executor', topics: [TOPICS.executions] }))).toMatch(/AUTHORIZATION_FAILED|authoriz/i);
    expect(await refusal(producerAs('writ-gateway', { transactionalId: `writ.ledger.acl-test.${randomUUID()}` }))).toMatch(
      /TRANSACTIONAL_ID_AUTHORIZATION_FAILED|authoriz/i,
    );
  });
});
