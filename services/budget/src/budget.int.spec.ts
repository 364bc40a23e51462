import 'reflect-metadata';
import { createHmac } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Module } from '@nestjs/common';
import type { INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { usageOf } from '@writ/budget-core';
import { EventConsumer, EventProducer, writEvent } from '@writ/bus';
import { readTopicToEnd } from '@writ/bus/testing';
import type { DecodedEvent, OutgoingEvent } from '@writ/bus';
import { TOPICS, decodeEvent, newMetadata, uuidv7, verifyReservation } from '@writ/contracts';
import type { EventPayloads } from '@writ/contracts';
import { sampleEvent } from '@writ/contracts/testing';
import { createKeyring, generateSigningKey } from '@writ/crypto';
import { SERVICE_CONFIG, loadServiceConfig } from '@writ/runtime';
import { metricValue, scrapeMetrics, serveTestMetrics, startWebhookReceiver, testKafkaBrokers, uniqueName, waitFor } from '@writ/testing';
import type { MetricSample, TestMetricsEndpoint } from '@writ/testing';
import { BudgetModule } from './budget.module.ts';
import { BudgetProcessor } from './budget.processor.ts';
import { budgetConfigSpec } from './config.ts';

type BudgetOut = Extract<DecodedEvent, { type: 'BudgetReserved' | 'BudgetRefused' | 'BudgetSettled' | 'BudgetThresholdCrossed' }>;

const brokers = testKafkaBrokers();
const dir = mkdtempSync(join(tmpdir(), 'writ-budget-'));
const key = generateSigningKey('reservation-test');
const keyPath = join(dir, 'reservation-test.pem');
writeFileSync(keyPath, key.exportPrivateKeyPem(), { mode: 0o600 });
const keyring = createKeyring({ [key.keyId]: key.publicKey });
const DAY = () => new Date().toISOString().slice(0, 10);

/**
 * The tool registry of these tests. tickets.refund has two versions of different costs (a
 * proposal's tool_version picks one; null, the highest); spend.m<micros> costs <micros> a call,
 * so that a test can propose any amount it needs.
 */
const toolsDir = join(dir, 'tools');
const SPEND_AMOUNTS = [1_000, 100_000, 500_000, 600_000, 1_000_000, 1_300_000, 1_500_000, 2_000_000, 4_500_000];
function writeTool(name: string, version: string, micros: number): void {
  const definition = {
    name,
    version,
    description: `costs ${micros} micro-USD a call`,
    effect: 'write',
    risk: 'low',
    arguments: { type: 'object', properties: {} },
    cost: { micros, currency: 'USD' },
    timeout_ms: 1000,
    retry: { max_attempts: 1, initial_backoff_ms: 10, max_backoff_ms: 10 },
    idempotent: true,
    endpoint: { method: 'POST', url: 'http://127.0.0.1:1/never' },
  };
  writeFileSync(join(toolsDir, `${name}@${version}.json`), JSON.stringify(definition));
}
mkdirSync(toolsDir);
writeTool('tickets.refund', '1.0.0', 2_000_000);
writeTool('tickets.refund', '2.0.0', 1_000_000);
for (const micros of SPEND_AMOUNTS) writeTool(`spend.m${micros}`, '1.0.0', micros);

const apps = new Set<INestApplicationContext>();
const consumers = new Set<EventConsumer>();
let producer: EventProducer;
const spans = new InMemorySpanExporter();
/** The counters of the services in this process, on a /metrics endpoint (in a service process, startTelemetry serves them). */
let metricsEndpoint: TestMetricsEndpoint;

beforeAll(async () => {
  trace.setGlobalTracerProvider(new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter: spans })] }));
  metricsEndpoint = await serveTestMetrics();
  producer = new EventProducer({ brokers, clientId: 'budget-int-test' });
  await producer.connect();
});
afterAll(async () => {
  await producer.disconnect();
  await metricsEndpoint.stop();
});
afterEach(async () => {
  for (const app of apps) await app.close();
  apps.clear();
  for (const consumer of consumers) await consumer.stop();
  consumers.clear();
});

interface Tenant {
  readonly tenant: string;
  readonly groupId: string;
  readonly budgetsFile: string;
}

/** A unique tenant with the demo's shape: tenant $50 / 200 calls a day; agent bot $5 / 50 calls a day. */
function newTenant(caps: { agentMoney?: string; agentCalls?: number } = {}): Tenant {
  const tenant = uniqueName('tenant');
  const budgetsFile = join(dir, `${tenant}.json`);
  writeFileSync(
    budgetsFile,
    JSON.stringify({
      tenants: {
        [tenant]: {
          currency: 'USD',
          daily: { money: '50.00', tool_calls: 200 },
          agents: { bot: { daily: { money: caps.agentMoney ?? '5.00', tool_calls: caps.agentCalls ?? 50 } } },
        },
      },
    }),
  );
  return { tenant, groupId: `writ.budget.${uniqueName('test')}`, budgetsFile };
}

async function boot(t: Tenant, env: Record<string, string> = {}): Promise<{ app: INestApplicationContext; processor: BudgetProcessor }> {
  const config = loadServiceConfig(26083, budgetConfigSpec, {
    WRIT_KAFKA_BROKERS: brokers.join(','),
    WRIT_KAFKA_GROUP_ID: t.groupId,
    WRIT_BUDGET_LIMITS_FILE: t.budgetsFile,
    WRIT_BUDGET_SIGNING_KEY: keyPath,
    WRIT_TOOLS_DIR: toolsDir,
    WRIT_BUDGET_TENANTS: t.tenant,
    ...env,
  });
  @Module({ imports: [BudgetModule], providers: [{ provide: SERVICE_CONFIG, useValue: config }], exports: [SERVICE_CONFIG] })
  class TestRoot {}
  Object.defineProperty(TestRoot, 'name', { value: `TestRoot${t.groupId}` });
  const app = await NestFactory.createApplicationContext({ module: TestRoot, global: true }, { logger: ['error', 'warn'] });
  apps.add(app);
  return { app, processor: app.get(BudgetProcessor) };
}

async function close(app: INestApplicationContext): Promise<void> {
  await app.close();
  apps.delete(app);
}

/** Everything the budget service publishes for the tenant, as it arrives (read_committed). */
async function collect(tenant: string): Promise<BudgetOut[]> {
  const seen: BudgetOut[] = [];
  const consumer = new EventConsumer({
    brokers,
    groupId: uniqueName('budget_test_reader'),
    topics: [TOPICS.budget],
    // The reader never fails a message; it needs an existing DLQ all the same.
    dlqTopic: 'writ.budget.dlq',
    handler: (event) => {
      const { meta } = event.payload;
      if (meta.tenant_id !== tenant || !meta.producer.startsWith('budget@')) return;
      if (event.type === 'BudgetReserved' || event.type === 'BudgetRefused' || event.type === 'BudgetSettled' || event.type === 'BudgetThresholdCrossed')
        seen.push(event);
    },
  });
  consumers.add(consumer);
  await consumer.start();
  return seen;
}

/** A run's start, on writ.proposals.v1 with its proposals. */
function runStarted(t: Tenant, run: string, limits: Partial<EventPayloads['RunStarted']['limits']>): OutgoingEvent {
  const sample = sampleEvent('RunStarted', { tenant_id: t.tenant, run_id: run, action_id: null, producer: 'gateway@0.1.0' });
  return writEvent('RunStarted', {
    ...sample,
    agent_id: 'bot',
    limits: { ...sample.limits, max_cost_micros: null, max_tool_calls: null, currency: 'USD', ...limits },
  });
}

/** An agent's proposal of a tool and version (null: the highest); the gateway's, on writ.proposals.v1. */
function proposalOf(t: Tenant, run: string, action: string, tool: string, version: string | null, agent = 'bot'): OutgoingEvent {
  const meta = { tenant_id: t.tenant, run_id: run, action_id: action, producer: 'gateway@0.1.0' };
  return writEvent('ActionProposed', { ...sampleEvent('ActionProposed', meta), agent_id: agent, tool, tool_version: version, idempotency_key: action });
}

/** A proposal whose tool costs `cost` (spend.m<cost>, one of SPEND_AMOUNTS). */
function proposal(t: Tenant, run: string, action: string, cost: number, agent = 'bot'): OutgoingEvent {
  if (!SPEND_AMOUNTS.includes(cost)) throw new Error(`add ${cost} to SPEND_AMOUNTS`);
  return proposalOf(t, run, action, `spend.m${cost}`, null, agent);
}

/** The planner's reservation request of before (writ.actions.v1), still read. */
function legacyRequest(t: Tenant, run: string, action: string, cost: number, agent = 'bot'): OutgoingEvent {
  return writEvent('BudgetReservationRequested', {
    meta: newMetadata({ tenant_id: t.tenant, run_id: run, action_id: action, producer: 'planner@0.1.0' }),
    agent_id: agent,
    tool: `spend.m${cost}`,
    estimated_cost_micros: cost,
    currency: 'USD',
    tool_calls: 1,
    run_limits: null,
  });
}

function executed(t: Tenant, run: string, action: string, cost: number): OutgoingEvent {
  const meta = { tenant_id: t.tenant, run_id: run, action_id: action, producer: 'executor@0.1.0' };
  return writEvent('ActionExecuted', { ...sampleEvent('ActionExecuted', meta), reservation_id: action, cost_micros: cost });
}

function failed(t: Tenant, run: string, action: string, cost: number): OutgoingEvent {
  const meta = { tenant_id: t.tenant, run_id: run, action_id: action, producer: 'executor@0.1.0' };
  return writEvent('ActionFailed', { ...sampleEvent('ActionFailed', meta), reservation_id: action, cost_micros: cost });
}

function completed(t: Tenant, run: string, action: string, status: EventPayloads['ActionCompleted']['status'], reasonCode: string): OutgoingEvent {
  const meta = { tenant_id: t.tenant, run_id: run, action_id: action, producer: 'planner@0.1.0' };
  return writEvent('ActionCompleted', { ...sampleEvent('ActionCompleted', meta), status, reason_code: reasonCode, result_json: null, cost_micros: 0 });
}

/**
 * A scrape of /metrics once `counted` holds: a counter is added as its transaction commits, a
 * moment after a read_committed reader may already see the event.
 */
async function scrapeOnce(counted: (samples: readonly MetricSample[]) => boolean): Promise<readonly MetricSample[]> {
  return waitFor(
    async () => {
      const samples = await scrapeMetrics(metricsEndpoint.url);
      return counted(samples) ? samples : undefined;
    },
    { timeoutMs: 10_000, what: 'the counters on /metrics' },
  );
}

const THRESHOLDS = 'writ_budget_thresholds_crossed_total';
const REFUSALS = 'writ_budget_refusals_total';

// A generic filter over a discriminated union: TypeScript cannot narrow EventPayloads[T] itself.
const of = <T extends BudgetOut['type']>(seen: readonly BudgetOut[], type: T, action?: string): EventPayloads[T][] =>
  seen.filter((e) => e.type === type && (action === undefined || e.payload.meta.action_id === action)).map((e) => e.payload as EventPayloads[T]);

describe('budget service', () => {
  it('reserves a proposal at its tool version’s cost, with a signature the executor accepts; settles the actual cost and releases the rest', async () => {
    const t = newTenant();
    const seen = await collect(t.tenant);
    const { processor } = await boot(t);
    const run = uniqueName('run');
    const action = uuidv7();
    await producer.send([proposalOf(t, run, action, 'tickets.refund', '1.0.0')]);
    const [reserved] = await waitFor(() => (of(seen, 'BudgetReserved', action).length > 0 ? of(seen, 'BudgetReserved', action) : undefined), {
      timeoutMs: 30_000,
      what: 'BudgetReserved',
    });
    if (reserved === undefined) throw new Error('unreachable');
    // tickets.refund@1.0.0 costs $2.00 (2.0.0, the highest, costs $1.00).
    expect(reserved).toMatchObject({
      reservation_id: action,
      amount_micros: 2_000_000,
      currency: 'USD',
      key_id: 'reservation-test',
      agent_id: 'bot',
      tool: 'tickets.refund',
      tool_calls: 1,
      day: DAY(),
    });
    expect(verifyReservation(reserved, { action_id: action, tenant: t.tenant, run_id: run, agent: 'bot', tool: 'tickets.refund' }, keyring).ok).toBe(true);
    const forged = verifyReservation(
      { ...reserved, amount_micros: 9_000_000 },
      { action_id: action, tenant: t.tenant, run_id: run, agent: 'bot', tool: 'tickets.refund' },
      keyring,
    );
    expect(forged.ok).toBe(false);

    await producer.send([executed(t, run, action, 1_250_000)]);
    const [settled] = await waitFor(() => (of(seen, 'BudgetSettled', action).length > 0 ? of(seen, 'BudgetSettled', action) : undefined), {
      timeoutMs: 30_000,
      what: 'BudgetSettled',
    });
    expect(settled).toMatchObject({
      disposition: 'settled',
      actual_cost_micros: 1_250_000,
      released_micros: 750_000,
      reserved_micros: 2_000_000,
      overrun_micros: 0,
      late: false,
    });
    const state = processor.stateOf(t.tenant);
    expect(usageOf(state, 'agent_day', 'bot', DAY())).toEqual({ settled_micros: 1_250_000, reserved_micros: 0, settled_calls: 1, reserved_calls: 0 });
    expect(usageOf(state, 'run', run)).toMatchObject({ settled_micros: 1_250_000, reserved_micros: 0 });
    // $2.00 of the agent's $5.00 is 40 %: nothing announced below 50 %.
    expect(of(seen, 'BudgetThresholdCrossed')).toEqual([]);
    // One span per step, child of the trace that came with the input, naming the budget result.
    const steps = spans
      .getFinishedSpans()
      .filter((s) => s.attributes['writ.action_id'] === action)
      .map((s) => [s.name, s.attributes['writ.budget.result']]);
    expect(steps).toEqual([
      ['budget.reserve', 'reserved'],
      ['budget.settle', 'settled'],
    ]);
    const reserveSpan = spans.getFinishedSpans().find((s) => s.name === 'budget.reserve' && s.attributes['writ.action_id'] === action);
    expect(reserveSpan?.attributes['writ.tool']).toBe('tickets.refund');
    expect(reserveSpan?.parentSpanContext?.spanId).toBeDefined();
    expect(reserved.meta.trace?.traceparent).toContain(reserveSpan?.spanContext().traceId ?? 'missing');
  });

  it('a settlement waits for the next reservation and commits in its transaction; with none, alone after WRIT_BUDGET_SETTLEMENT_WAIT_MS', async () => {
    const t = newTenant();
    const seen = await collect(t.tenant);
    await boot(t, { WRIT_BUDGET_SETTLEMENT_WAIT_MS: '4000' });
    const run = uniqueName('run');
    const [first, second] = [uuidv7(), uuidv7()];
    const settled = (action: string) => of(seen, 'BudgetSettled', action);
    const handled = (action: string) => spans.getFinishedSpans().some((s) => s.name === 'budget.settle' && s.attributes['writ.action_id'] === action);
    await producer.send([proposal(t, run, first, 1_000_000)]);
    await waitFor(() => (of(seen, 'BudgetReserved', first).length > 0 ? true : undefined), { timeoutMs: 30_000, what: 'BudgetReserved' });

    await producer.send([executed(t, run, first, 400_000)]);
    await waitFor(() => (handled(first) ? true : undefined), { timeoutMs: 30_000, what: 'the settlement handled' });
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    // Decided, not yet published: it waits for an output somebody waits on.
    expect(settled(first)).toEqual([]);

    await producer.send([proposal(t, run, second, 1_000_000)]);
    await waitFor(() => (of(seen, 'BudgetReserved', second).length > 0 ? true : undefined), { timeoutMs: 30_000, what: 'the next BudgetReserved' });
    // One transaction: the settlement is readable with the reservation, and before it.
    expect(settled(first)).toHaveLength(1);
    const order = seen.map((e) => `${e.type}:${e.payload.meta.action_id ?? ''}`);
    expect(order.indexOf(`BudgetSettled:${first}`)).toBeLessThan(order.indexOf(`BudgetReserved:${second}`));

    // No reservation follows: the settlement commits alone once its wait is over.
    const sent = Date.now();
    await producer.send([executed(t, run, second, 400_000)]);
    await waitFor(() => (settled(second).length > 0 ? true : undefined), { timeoutMs: 30_000, what: 'the lone BudgetSettled' });
    expect(Date.now() - sent).toBeGreaterThanOrEqual(3_000);
  });

  it('a proposal without a tool_version reserves the highest version’s cost; an unknown tool or version, nothing', async () => {
    const t = newTenant();
    const seen = await collect(t.tenant);
    const { processor } = await boot(t);
    const run = uniqueName('run');
    const [latest, unknownTool, unknownVersion, after] = [uuidv7(), uuidv7(), uuidv7(), uuidv7()];
    await producer.send([
      proposalOf(t, run, latest, 'tickets.refund', null),
      proposalOf(t, run, unknownTool, 'tickets.reopen', null),
      proposalOf(t, run, unknownVersion, 'tickets.refund', '9.9.9'),
      proposal(t, run, after, 1_000),
    ]);
    // Same run, same partition: once the last is answered, the others were handled.
    await waitFor(() => of(seen, 'BudgetReserved', after)[0], { timeoutMs: 30_000, what: 'the last proposal answered' });
    expect(of(seen, 'BudgetReserved', latest)).toMatchObject([{ amount_micros: 1_000_000, currency: 'USD', tool: 'tickets.refund' }]);
    for (const action of [unknownTool, unknownVersion]) {
      expect(seen.filter((e) => e.payload.meta.action_id === action)).toEqual([]);
      expect(processor.stateOf(t.tenant).reservations.get(action)).toBeUndefined();
    }
    expect(usageOf(processor.stateOf(t.tenant), 'run', run)).toMatchObject({ reserved_micros: 1_001_000, reserved_calls: 2 });
  });

  it('refuses a reservation over a cap, naming the scope and the kind; announces thresholds', async () => {
    const t = newTenant();
    const seen = await collect(t.tenant);
    await boot(t);
    const run = uniqueName('run');
    const [a1, a2, a3] = [uuidv7(), uuidv7(), uuidv7()];
    await producer.send([proposal(t, run, a1, 4_500_000), proposal(t, run, a2, 600_000), proposal(t, run, a3, 500_000)]);
    await waitFor(() => (of(seen, 'BudgetReserved').length + of(seen, 'BudgetRefused').length === 3 ? true : undefined), {
      timeoutMs: 30_000,
      what: 'three answers',
    });
    expect(of(seen, 'BudgetReserved').map((r) => r.reservation_id)).toEqual([a1, a3]);
    const [refused] = of(seen, 'BudgetRefused', a2);
    expect(refused).toMatchObject({
      agent_id: 'bot',
      scope: 'agent_day',
      subject: 'bot',
      kind: 'money',
      limit: 5_000_000,
      used: 4_500_000,
      requested: 600_000,
      currency: 'USD',
    });
    const thresholds = of(seen, 'BudgetThresholdCrossed').map((c) => `${c.scope}:${c.kind}:${c.threshold_percent}`);
    expect(thresholds).toEqual(['agent_day:money:50', 'agent_day:money:80', 'agent_day:money:100']);
    // Each counted once as it was published, on /metrics with its labels.
    const samples = await scrapeOnce((s) => metricValue(s, THRESHOLDS, { tenant: t.tenant }) >= 3 && metricValue(s, REFUSALS, { tenant: t.tenant }) >= 1);
    for (const percent of ['50', '80', '100']) {
      expect(samples).toContainEqual({
        name: THRESHOLDS,
        labels: { tenant: t.tenant, scope: 'agent_day', kind: 'money', threshold_percent: percent, otel_scope_name: 'writ' },
        value: 1,
      });
    }
    expect(metricValue(samples, THRESHOLDS, { tenant: t.tenant })).toBe(3);
    expect(samples.filter((s) => s.name === REFUSALS && s.labels['tenant'] === t.tenant)).toEqual([
      { name: REFUSALS, labels: { tenant: t.tenant, scope: 'agent_day', kind: 'money', rule: 'cap', otel_scope_name: 'writ' }, value: 1 },
    ]);
  });

  it("tells the tenant's webhook each threshold reached, signed with its secret; a failed delivery is retried", async () => {
    const t = newTenant();
    const secret = `secret-${uniqueName('hook')}`;
    // The first delivery fails: the bus must try it again.
    const receiver = await startWebhookReceiver({ refuse: 1 });
    const { received } = receiver;
    const hooks = join(dir, `${t.tenant}-webhooks.json`);
    writeFileSync(hooks, JSON.stringify({ tenants: { [t.tenant]: { url: receiver.url, secret_env: 'TEST_BUDGET_WEBHOOK_SECRET' } } }));
    process.env['TEST_BUDGET_WEBHOOK_SECRET'] = secret;
    try {
      const seen = await collect(t.tenant);
      await boot(t, { WRIT_BUDGET_WEBHOOKS_FILE: hooks });
      const run = uniqueName('run');
      // $3 of bot's $5 day (60 %: 50 announced), then $4.50 (90 %: 80 announced).
      await producer.send([proposal(t, run, uuidv7(), 2_000_000), proposal(t, run, uuidv7(), 1_000_000)]);
      await waitFor(() => (of(seen, 'BudgetReserved').length === 2 ? true : undefined), { timeoutMs: 30_000, what: 'two reservations' });
      await producer.send([proposal(t, run, uuidv7(), 1_500_000)]);
      await waitFor(() => received.length >= 2, { timeoutMs: 30_000, what: () => `two notifications, got ${received.length}` });
      const announced = of(seen, 'BudgetThresholdCrossed');
      expect(announced.map((c) => c.threshold_percent)).toEqual([50, 80]);
      expect(received.map((r) => [r.event, r.body['scope'], r.body['subject'], r.body['threshold_percent']])).toEqual([
        ['budget.threshold', 'agent_day', 'bot', 50],
        ['budget.threshold', 'agent_day', 'bot', 80],
      ]);
      // Each delivery names the event it comes from, and is signed with the tenant's secret over "<t>.<body>".
      expect(received.map((r) => r.delivery)).toEqual(announced.map((c) => c.meta.event_id));
      expect(received[1]?.body['text']).toBe(
        `${t.tenant}: budget agent_day of bot (${DAY()}) reached 80 % of its money limit: 4.50 USD of 5.00 USD used (agent bot)`,
      );
      for (const r of received) {
        const [stamp, mac] = r.signature.split(',');
        expect(mac).toBe(
          `v1=${createHmac('sha256', secret)
            .update(`${stamp?.replace('t=', '') ?? ''}.${r.text}`)
            .digest('hex')}`,
        );
        expect(r.text).not.toContain(secret);
      }
    } finally {
      await receiver.close();
      delete process.env['TEST_BUDGET_WEBHOOK_SECRET'];
    }
  });

  it('enforces the caps of a RunStarted read on writ.proposals.v1 before the run’s proposals', async () => {
    const t = newTenant();
    const seen = await collect(t.tenant);
    await boot(t);
    const [capped, other] = [uniqueName('run'), uniqueName('run')];
    const [a1, a2, b1, b2] = [uuidv7(), uuidv7(), uuidv7(), uuidv7()];
    await producer.send([runStarted(t, capped, { max_cost_micros: 1_500_000 }), proposal(t, capped, a1, 1_000_000), proposal(t, capped, a2, 1_000_000)]);
    await producer.send([runStarted(t, other, {}), proposal(t, other, b1, 1_000_000), proposal(t, other, b2, 1_000_000)]);
    await waitFor(() => (of(seen, 'BudgetReserved').length + of(seen, 'BudgetRefused').length === 4 ? true : undefined), {
      timeoutMs: 30_000,
      what: 'four answers',
    });
    expect(
      of(seen, 'BudgetReserved')
        .map((r) => r.reservation_id)
        .sort(),
    ).toEqual([a1, b1, b2].sort());
    expect(of(seen, 'BudgetRefused', a2)).toMatchObject([
      { scope: 'run', subject: capped, kind: 'money', limit: 1_500_000, used: 1_000_000, requested: 1_000_000 },
    ]);
  });

  it('releases on denial, on the planner’s rejection and on a cost-0 failure; an action that ended before its proposal is never reserved', async () => {
    const t = newTenant({ agentMoney: '1.00' });
    const seen = await collect(t.tenant);
    const { processor } = await boot(t);
    const run = uniqueName('run');
    const [denied, rejected, failing, ended, after] = [uuidv7(), uuidv7(), uuidv7(), uuidv7(), uuidv7()];
    await producer.send([proposal(t, run, denied, 1_000_000)]);
    await waitFor(() => of(seen, 'BudgetReserved', denied)[0], { timeoutMs: 30_000, what: 'reserved' });
    await producer.send([completed(t, run, denied, 'denied', 'POLICY_DENIED')]);
    await waitFor(() => of(seen, 'BudgetSettled', denied)[0], { timeoutMs: 30_000, what: 'release' });
    expect(of(seen, 'BudgetSettled', denied)).toMatchObject([{ disposition: 'released', actual_cost_micros: 0, released_micros: 1_000_000 }]);
    // Admission now runs beside the reservation: the planner rejects (loop, kill switch, bad
    // arguments) an action already reserved, and its ActionCompleted gives the room back.
    await producer.send([proposal(t, run, rejected, 1_000_000)]);
    await waitFor(() => of(seen, 'BudgetReserved', rejected)[0], { timeoutMs: 30_000, what: 'reserved again after the release' });
    await producer.send([completed(t, run, rejected, 'rejected', 'LOOP_DETECTED')]);
    await waitFor(() => of(seen, 'BudgetSettled', rejected)[0], { timeoutMs: 30_000, what: 'release of the rejected' });
    expect(of(seen, 'BudgetSettled', rejected)).toMatchObject([{ disposition: 'released', actual_cost_micros: 0, released_micros: 1_000_000 }]);
    await producer.send([proposal(t, run, failing, 1_000_000)]);
    await waitFor(() => of(seen, 'BudgetReserved', failing)[0], { timeoutMs: 30_000, what: 'reserved after the rejection' });
    await producer.send([failed(t, run, failing, 0)]);
    await waitFor(() => of(seen, 'BudgetSettled', failing)[0], { timeoutMs: 30_000, what: 'settled at 0' });
    expect(of(seen, 'BudgetSettled', failing)).toMatchObject([{ disposition: 'settled', actual_cost_micros: 0, released_micros: 1_000_000 }]);
    // The proposal (writ.proposals.v1) and the planner's ActionCompleted (writ.actions.v1) are on
    // two topics: a rejection may be read first. It is remembered, and the late proposal ignored.
    await producer.send([completed(t, run, ended, 'rejected', 'TOOL_KILLED')]);
    await waitFor(() => of(seen, 'BudgetSettled', ended)[0], { timeoutMs: 30_000, what: 'early release recorded' });
    await producer.send([proposal(t, run, ended, 1_000), proposal(t, run, after, 1_000)]);
    await waitFor(() => of(seen, 'BudgetReserved', after)[0], { timeoutMs: 30_000, what: 'later proposal answered' });
    expect(of(seen, 'BudgetReserved', ended)).toEqual([]);
    expect(of(seen, 'BudgetRefused', ended)).toEqual([]);
    expect(usageOf(processor.stateOf(t.tenant), 'agent_day', 'bot', DAY())).toEqual({
      settled_micros: 0,
      reserved_micros: 1_000,
      settled_calls: 1,
      reserved_calls: 1,
    });
  });

  it('a legacy reservation request and the proposal of the same action reserve once', async () => {
    const t = newTenant();
    const seen = await collect(t.tenant);
    const { processor } = await boot(t);
    const run = uniqueName('run');
    const [both, markActions, markProposals] = [uuidv7(), uuidv7(), uuidv7()];
    // One marker after it on each topic (same run, same partition): once both are answered, so is every copy.
    await producer.send([legacyRequest(t, run, both, 1_000_000), legacyRequest(t, run, markActions, 1_000)]);
    await producer.send([proposal(t, run, both, 1_000_000), proposal(t, run, markProposals, 1_000)]);
    await waitFor(() => (of(seen, 'BudgetReserved', markActions).length + of(seen, 'BudgetReserved', markProposals).length === 2 ? true : undefined), {
      timeoutMs: 30_000,
      what: 'both markers reserved',
    });
    expect(of(seen, 'BudgetReserved', both)).toHaveLength(1);
    expect(usageOf(processor.stateOf(t.tenant), 'run', run)).toEqual({
      settled_micros: 0,
      reserved_micros: 1_002_000,
      settled_calls: 0,
      reserved_calls: 3,
    });
  });

  it('survives a restart exactly: books and run caps rebuilt from the topics, a redelivered proposal not counted twice', async () => {
    const t = newTenant();
    const seen = await collect(t.tenant);
    const first = await boot(t);
    const [run, capped] = [uniqueName('run'), uniqueName('run')];
    const [a1, a2, a3, c1, c2, c3] = [uuidv7(), uuidv7(), uuidv7(), uuidv7(), uuidv7(), uuidv7()];
    await producer.send([proposal(t, run, a1, 1_500_000), proposal(t, run, a2, 2_000_000)]);
    // Another agent's run, so that its calls stay out of bot's daily $5.00 below.
    await producer.send([runStarted(t, capped, { max_tool_calls: 2 }), proposal(t, capped, c1, 1_000, 'other')]);
    await waitFor(() => (of(seen, 'BudgetReserved').length === 3 ? true : undefined), { timeoutMs: 30_000, what: 'three reservations' });
    await producer.send([executed(t, run, a1, 1_700_000)]);
    await waitFor(() => of(seen, 'BudgetSettled', a1)[0], { timeoutMs: 30_000, what: 'settled' });
    const before = first.processor.stateOf(t.tenant);
    await close(first.app);

    const second = await boot(t);
    expect(second.processor.stateOf(t.tenant)).toEqual(before);
    // The run's caps came back from its RunStarted on writ.proposals.v1: the third call is refused.
    await producer.send([proposal(t, capped, c2, 1_000, 'other'), proposal(t, capped, c3, 1_000, 'other')]);
    await waitFor(() => of(seen, 'BudgetRefused', c3)[0], { timeoutMs: 30_000, what: 'the run cap enforced after the restart' });
    expect(of(seen, 'BudgetReserved', c2)).toHaveLength(1);
    expect(of(seen, 'BudgetRefused', c3)).toMatchObject([{ scope: 'run', subject: capped, kind: 'tool_calls', limit: 2, used: 2, requested: 1 }]);
    // The same proposal and the same outcome again (a producer retry, a replayed message): no effect.
    await producer.send([proposal(t, run, a1, 1_500_000), proposal(t, run, a3, 1_300_000)]);
    await producer.send([executed(t, run, a1, 1_700_000)]);
    // $1.70 settled + $2.00 held + $1.30 = $5.00: exactly the agent's cap, so a3 fits only if nothing was counted twice.
    await waitFor(() => of(seen, 'BudgetReserved', a3)[0], { timeoutMs: 30_000, what: 'a3 reserved' });
    expect(of(seen, 'BudgetReserved', a1)).toHaveLength(1);
    expect(of(seen, 'BudgetSettled', a1)).toHaveLength(1);
    expect(usageOf(second.processor.stateOf(t.tenant), 'agent_day', 'bot', DAY())).toEqual({
      settled_micros: 1_700_000,
      reserved_micros: 3_300_000,
      settled_calls: 1,
      reserved_calls: 2,
    });
    // Counted as published, by either instance: bot's 50 % (before the restart) was read back by the
    // rebuild and not counted again; 80 % and 100 % came with a3. Each announcement counts once.
    const agentDay = { tenant: t.tenant, scope: 'agent_day', kind: 'money' };
    await waitFor(() => of(seen, 'BudgetThresholdCrossed').some((c) => c.scope === 'agent_day' && c.threshold_percent === 100), {
      timeoutMs: 30_000,
      what: "bot's 100 % announced",
    });
    const samples = await scrapeOnce((s) => metricValue(s, THRESHOLDS, { ...agentDay, threshold_percent: '100' }) >= 1);
    const announced = of(seen, 'BudgetThresholdCrossed');
    expect(announced.filter((c) => c.scope === 'agent_day').map((c) => c.threshold_percent)).toEqual([50, 80, 100]);
    for (const c of announced) {
      const labels = { tenant: t.tenant, scope: c.scope, kind: c.kind, threshold_percent: String(c.threshold_percent) };
      expect(metricValue(samples, THRESHOLDS, labels), JSON.stringify(labels)).toBe(1);
    }
    expect(metricValue(samples, THRESHOLDS, { tenant: t.tenant })).toBe(announced.length);
    expect(metricValue(samples, REFUSALS, { tenant: t.tenant, scope: 'run', kind: 'tool_calls', rule: 'cap' })).toBe(1);
    expect(metricValue(samples, REFUSALS, { tenant: t.tenant })).toBe(1);
  });

  it('announces a tenant’s budgets at boot once per configuration: a restart with the same file announces nothing, a changed file again', async () => {
    const t = newTenant();
    const announcements = async () =>
      (await readTopicToEnd(brokers, TOPICS.budget, { readCommitted: true }))
        .map((record) => decodeEvent(record.value ?? Buffer.alloc(0)))
        .flatMap((event) => (event.type === 'BudgetsConfigured' && event.payload.meta.tenant_id === t.tenant ? [event.payload] : []));
    await close((await boot(t)).app);
    const [first] = await announcements();
    expect(first).toMatchObject({ currency: 'USD', time_zone: 'UTC' });
    expect(first?.meta.run_id).toBe(`budgets:${first?.config_sha256}`);
    expect(first?.meta.producer).toMatch(/^budget@/);
    expect(first?.budgets.map((b) => [b.scope, b.subject, b.money_micros, b.tool_calls])).toEqual([
      ['tenant_day', '*', 50_000_000, 200],
      ['agent_day', 'bot', 5_000_000, 50],
    ]);
    // The same file again: the rebuild reads the announcement back, nothing new is sent.
    await close((await boot(t)).app);
    expect(await announcements()).toHaveLength(1);
    // A changed cap: announced again, with another digest (and so another event id).
    writeFileSync(t.budgetsFile, readFileSync(t.budgetsFile, 'utf8').replace('"5.00"', '"6.00"'));
    await close((await boot(t)).app);
    const all = await announcements();
    expect(all).toHaveLength(2);
    expect(all[1]?.config_sha256).not.toBe(first?.config_sha256);
    expect(all[1]?.meta.event_id).not.toBe(first?.meta.event_id);
    expect(all[1]?.budgets[1]).toMatchObject({ scope: 'agent_day', subject: 'bot', money_micros: 6_000_000 });
  });

  it('never exceeds a cap under many reservations at once', async () => {
    const t = newTenant({ agentCalls: 10 });
    const seen = await collect(t.tenant);
    const { processor } = await boot(t);
    const runs = [uniqueName('run'), uniqueName('run'), uniqueName('run')];
    const proposals = Array.from({ length: 30 }, (_, i) => proposal(t, runs[i % 3] ?? '', uuidv7(), 100_000));
    await Promise.all(proposals.map((r) => producer.send([r])));
    await waitFor(() => (of(seen, 'BudgetReserved').length + of(seen, 'BudgetRefused').length === 30 ? true : undefined), {
      timeoutMs: 40_000,
      what: '30 answers',
    });
    expect(of(seen, 'BudgetReserved')).toHaveLength(10);
    expect(of(seen, 'BudgetRefused').every((r) => r.scope === 'agent_day' && r.kind === 'tool_calls' && r.limit === 10)).toBe(true);
    expect(usageOf(processor.stateOf(t.tenant), 'agent_day', 'bot', DAY())).toMatchObject({ reserved_calls: 10, reserved_micros: 1_000_000 });
  });

  it('lapses stale reservations on a timer and gives their room back', async () => {
    const t = newTenant({ agentMoney: '1.00' });
    const seen = await collect(t.tenant);
    const { processor } = await boot(t, { WRIT_BUDGET_RESERVATION_TTL_MS: '1500', WRIT_BUDGET_EXPIRY_INTERVAL_MS: '200' });
    const run = uniqueName('run');
    const action = uuidv7();
    await producer.send([proposal(t, run, action, 1_000_000)]);
    const expired = await waitFor(() => of(seen, 'BudgetSettled', action)[0], { timeoutMs: 30_000, what: 'expiry' });
    expect(expired).toMatchObject({ disposition: 'expired', actual_cost_micros: 0, released_micros: 1_000_000 });
    expect(usageOf(processor.stateOf(t.tenant), 'agent_day', 'bot', DAY()).reserved_micros).toBe(0);
  });
});
