// The gateway in-process (its Nest module on Fastify, loopback, a random port) against the real
// broker: HTTP in, events out on the real topics (read back with a fresh consumer group, filtered
// by this test's unique tenants), and events produced by the test (as the planner and policy
// service would) folded into its read model.
import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Module } from '@nestjs/common';
import type { DynamicModule } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventConsumer, EventProducer, writEvent } from '@writ/bus';
import { TOPICS, actionIdFor, newMetadata } from '@writ/contracts';
import type { EventPayloads, EventType } from '@writ/contracts';
import { TenantKeyDir, canonicalJson, sha256Canonical, sha256Hex } from '@writ/crypto';
import { hashApiKey } from '@writ/directory';
import { SERVICE_CONFIG, loadServiceConfig } from '@writ/runtime';
import { testKafkaBrokers, uniqueName, waitFor, withoutIdentifiers } from '@writ/testing';
import { loadToolRegistry, sealArguments } from '@writ/tools';
import type { ToolDefinition } from '@writ/tools';
import { gatewayConfigSpec } from './config.ts';
import { GatewayModule } from './gateway.module.ts';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const brokers = testKafkaBrokers();
const suffix = uniqueName('gw');
const TENANT = `acme_${suffix}`;
const OTHER = `globex_${suffix}`;
const key = (who: string) => `key-${who}-${randomBytes(8).toString('hex')}`;
const KEYS = { bot: key('bot'), bot2: key('bot2'), dana: key('dana'), maria: key('maria'), oscar: key('oscar'), foreignBot: key('fb'), gina: key('gina') };

const directory = {
  agents: [
    { id: `triage-bot-${suffix}`, tenant: TENANT, role: 'support', owner: `dana-${suffix}`, api_key_sha256: hashApiKey(KEYS.bot) },
    { id: `second-bot-${suffix}`, tenant: TENANT, role: 'support', owner: `dana-${suffix}`, api_key_sha256: hashApiKey(KEYS.bot2) },
    { id: `globex-bot-${suffix}`, tenant: OTHER, role: 'support', owner: `gina-${suffix}`, api_key_sha256: hashApiKey(KEYS.foreignBot) },
  ],
  users: [
    { id: `dana-${suffix}`, tenant: TENANT, role: 'manager', roles: ['approver'], api_key_sha256: hashApiKey(KEYS.dana) },
    { id: `maria-${suffix}`, tenant: TENANT, role: 'manager', roles: ['approver'], api_key_sha256: hashApiKey(KEYS.maria) },
    { id: `oscar-${suffix}`, tenant: TENANT, role: 'operator', roles: ['operator'], api_key_sha256: hashApiKey(KEYS.oscar) },
    { id: `gina-${suffix}`, tenant: OTHER, role: 'admin', roles: ['admin', 'approver'], api_key_sha256: hashApiKey(KEYS.gina) },
  ],
};
const BOT = directory.agents[0]?.id ?? '';

const refund = (amountCents: number, ticket = 'T-1') => ({
  ticket_id: ticket,
  customer_id: 'C-1',
  amount_cents: amountCents,
  ticket_tags: ['refund_approved'],
  reason: 'charged twice',
  card_last4: '4242',
});

interface Seen {
  readonly type: string;
  readonly payload: { meta: { tenant_id: string; run_id: string; action_id: string | null } } & Record<string, unknown>;
}

let workDir: string;
let apps: NestFastifyApplication[] = [];
let url: string;
let producer: EventProducer;
let observer: EventConsumer;
const seen: Seen[] = [];
const spans = new InMemorySpanExporter();

async function bootGateway(): Promise<{ app: NestFastifyApplication; url: string }> {
  const config = loadServiceConfig(26080, gatewayConfigSpec, {
    WRIT_KAFKA_BROKERS: brokers.join(','),
    WRIT_KAFKA_GROUP_ID: uniqueName('writ_gateway_int'),
    WRIT_DIRECTORY_FILE: join(workDir, 'directory.json'),
    WRIT_TOOLS_DIR: join(root, 'tools'),
    WRIT_TENANT_KEYS_DIR: join(workDir, 'tenant-keys'),
    WRIT_GATEWAY_CATCHUP_TIMEOUT_MS: '20000',
    WRIT_GATEWAY_SYNC_WAIT_MS: '500',
  });
  @Module({})
  class TestRoot {}
  const module: DynamicModule = {
    module: TestRoot,
    global: true,
    imports: [GatewayModule],
    providers: [{ provide: SERVICE_CONFIG, useValue: config }],
    exports: [SERVICE_CONFIG],
  };
  const app = await NestFactory.create<NestFastifyApplication>(module, new FastifyAdapter(), { logger: ['error'] });
  app.enableShutdownHooks();
  await app.listen(0, '127.0.0.1');
  apps.push(app);
  return { app, url: (await app.getUrl()).replace('[::1]', '127.0.0.1') };
}

// Answers are read loosely: the assertions say what their shape must be.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Loose = Record<string, any>;

async function call(method: string, path: string, apiKey: string | undefined, body?: unknown, base = url, extraHeaders: Record<string, string> = {}) {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: {
      ...extraHeaders,
      ...(apiKey === undefined ? {} : { authorization: `Bearer ${apiKey}` }),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: (text === '' ? undefined : JSON.parse(text)) as Loose };
}

function events(type: string, filter: (event: Seen) => boolean = () => true): Seen[] {
  return seen.filter((event) => event.type === type && filter(event));
}

function waitForEvent(type: string, filter: (event: Seen) => boolean, what: string): Promise<Seen> {
  return waitFor(() => events(type, filter)[0], { timeoutMs: 15_000, what });
}

async function produce<T extends EventType>(type: T, payload: EventPayloads[T]): Promise<void> {
  await producer.send([writEvent(type, payload)]);
}

/** The PDP's allow of a small refund (the warrant is not the gateway's to check). */
function allowed(runId: string, actionId: string): EventPayloads['PolicyDecided'] {
  return {
    meta: meta(runId, actionId),
    decision: 'allow',
    determining_policies: ['refund-up-to-100-support'],
    policy_set_hash: 'a'.repeat(64),
    warrant: null,
    errors: [],
    approval_requirement: null,
    approvals: [],
    denied_by: null,
    policy_set_version: '1',
    run_stats: null,
    warnings: [],
    shadow_results: [],
    request_json: '',
  };
}

function meta(runId: string, actionId: string, tenant = TENANT) {
  return newMetadata({ tenant_id: tenant, run_id: runId, action_id: actionId, producer: 'test@0' });
}

async function openRun(apiKey = KEYS.bot): Promise<string> {
  const response = await call('POST', '/v1/runs', apiKey, { goal: 'work the queue', limits: { max_steps: 20 } });
  expect(response.status).toBe(201);
  return response.body['run_id'] as string;
}

async function propose(runId: string, idempotencyKey: string, args: Record<string, unknown> = refund(2500), apiKey = KEYS.bot) {
  return call('POST', `/v1/runs/${runId}/actions`, apiKey, {
    tool: 'refunds.issue',
    arguments: args,
    reason: 'customer asked',
    idempotency_key: idempotencyKey,
  });
}

beforeAll(async () => {
  trace.setGlobalTracerProvider(new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter: spans })] }));
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  workDir = mkdtempSync(join(tmpdir(), 'writ-gateway-int-'));
  writeFileSync(join(workDir, 'directory.json'), JSON.stringify(directory));
  producer = new EventProducer({ brokers, clientId: 'gateway-int-test' });
  await producer.connect();
  observer = new EventConsumer({
    brokers,
    groupId: uniqueName('gateway_int_observer'),
    topics: [TOPICS.proposals, TOPICS.actions, TOPICS.policy, TOPICS.approvals, TOPICS.controls],
    dlqTopic: 'writ.gateway.dlq',
    handler: (event) => {
      const payload: Seen['payload'] = { ...event.payload };
      if (payload.meta.tenant_id === TENANT || payload.meta.tenant_id === OTHER) seen.push({ type: event.type, payload });
    },
  });
  await observer.start();
  ({ url } = await bootGateway());
}, 120_000);

afterAll(async () => {
  for (const app of apps) await app.close();
  apps = [];
  await observer?.stop();
  await producer?.disconnect();
  if (workDir !== undefined) rmSync(workDir, { recursive: true, force: true });
});

describe('gateway: authentication and tenancy', () => {
  it('answers 401 without a known API key, and serves its OpenAPI document to anyone', async () => {
    for (const header of [undefined, 'not-a-key', KEYS.bot.toUpperCase()]) {
      const response = await call('POST', '/v1/runs', header, { goal: 'g' });
      expect(response.status).toBe(401);
      expect(response.body['error']).toMatchObject({ code: 'UNAUTHENTICATED', field: 'authorization' });
      expect(response.headers.get('www-authenticate')).toBe('Bearer');
    }
    const malformed = await fetch(`${url}/v1/approvals`, { headers: { authorization: `Basic ${KEYS.maria}` } });
    expect(malformed.status).toBe(401);
    const openapi = await call('GET', '/v1/openapi.json', undefined);
    expect(openapi.status).toBe(200);
    expect(openapi.body['openapi']).toBe('3.1.0');
  });

  it('opens a run as the key’s agent: RunStarted with a UUIDv7 run id, the tenant and the limits', async () => {
    const runId = await openRun();
    expect(runId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7/);
    const started = await waitForEvent('RunStarted', (e) => e.payload.meta.run_id === runId, 'RunStarted');
    expect(started.payload).toMatchObject({
      agent_id: BOT,
      goal: 'work the queue',
      limits: { max_steps: 20, max_cost_micros: null },
      meta: { tenant_id: TENANT },
    });
    expect((started.payload.meta as unknown as { producer: string }).producer).toMatch(/^gateway@/);
    const run = await call('GET', `/v1/runs/${runId}`, KEYS.bot);
    expect(run.body).toMatchObject({ run_id: runId, agent_id: BOT, status: 'open' });
    // Users act on runs, they do not open them.
    expect((await call('POST', '/v1/runs', KEYS.maria, { goal: 'g' })).status).toBe(403);
  });

  it('answers 404 for another tenant’s (or another agent’s) run and action, without leaking them', async () => {
    const runId = await openRun();
    const proposed = await propose(runId, 'tenancy');
    const actionId = proposed.body['action_id'] as string;
    for (const stranger of [KEYS.foreignBot, KEYS.bot2]) {
      expect((await call('GET', `/v1/runs/${runId}`, stranger)).status).toBe(404);
      expect((await call('GET', `/v1/actions/${actionId}`, stranger)).status).toBe(404);
      const act = await propose(runId, 'stranger', refund(100), stranger);
      expect(act.status).toBe(404);
      expect(act.body['error']).toMatchObject({ code: 'RUN_NOT_FOUND' });
    }
    expect((await call('GET', `/v1/actions/${actionId}`, KEYS.gina)).status).toBe(404);
    // Someone else's id takes as long to refuse as an unknown one (WRIT_GATEWAY_SYNC_WAIT_MS = 500 here).
    const timed = async (id: string) => {
      const t0 = Date.now();
      expect((await call('GET', `/v1/actions/${id}`, KEYS.foreignBot)).status).toBe(404);
      return Date.now() - t0;
    };
    expect(await timed(actionId)).toBeGreaterThanOrEqual(450);
    expect(await timed('01234567-89ab-8def-8123-456789abcdef')).toBeGreaterThanOrEqual(450);
    expect((await call('POST', `/v1/approvals/${actionId}`, KEYS.gina, { verdict: 'approve' })).status).toBe(404);
    // A user of the tenant sees it; an unknown id is the same 404 as a foreign one.
    expect((await call('GET', `/v1/actions/${actionId}`, KEYS.maria)).status).toBe(200);
    expect((await call('GET', `/v1/actions/00000000-0000-8000-8000-000000000000`, KEYS.bot)).body['error']).toMatchObject({ code: 'ACTION_NOT_FOUND' });
    expect(events('ActionProposed', (e) => e.payload.agent_id !== BOT && e.payload.meta.run_id === runId)).toEqual([]);
  });
});

describe('gateway: proposals', () => {
  it('refuses a bad body with 400 naming the field and the rule', async () => {
    const runId = await openRun();
    const cases: [unknown, string, string][] = [
      [{ tool: 'refunds.issue', arguments: refund(1), reason: 'r' }, 'idempotency_key', 'required'],
      [{ tool: 'refunds.issue', arguments: 'amount=1', reason: 'r', idempotency_key: 'k' }, 'arguments', 'type'],
      [{ tool: 'Refunds!', arguments: {}, reason: 'r', idempotency_key: 'k' }, 'tool', 'pattern'],
      [{ tool: 'refunds.issue', arguments: {}, reason: 'r', idempotency_key: 'k', run_id: 'x' }, 'run_id', 'additionalProperties'],
      [{ tool: 'refunds.nope', arguments: {}, reason: 'r', idempotency_key: 'k' }, 'tool', 'must name a registered tool'],
    ];
    for (const [body, field, rule] of cases) {
      const response = await call('POST', `/v1/runs/${runId}/actions`, KEYS.bot, body);
      expect(response.status, JSON.stringify(body)).toBe(400);
      expect(response.body['error']).toMatchObject({ field, rule });
    }
    const notJson = await call('POST', `/v1/runs/${runId}/actions`, KEYS.bot, '{"tool": ');
    expect(notJson.status).toBe(400);
    expect(notJson.body['error']).toMatchObject({ code: 'REQUEST_INVALID', field: 'body' });
    const badLimits = await call('POST', '/v1/runs', KEYS.bot, { goal: 'g', limits: { max_steps: 0 } });
    expect(badLimits.status).toBe(400);
    expect(badLimits.body['error']).toMatchObject({ code: 'REQUEST_INVALID', field: 'limits.max_steps', rule: 'minimum' });
  });

  it('refuses schema-invalid arguments with 400 naming the field and rule, and emits nothing', async () => {
    const runId = await openRun();
    const invalid = await propose(runId, 'bad-args', { ...refund(2500), amount_cents: 'a lot' });
    expect(invalid.status).toBe(400);
    expect(invalid.body['error']).toMatchObject({ code: 'ARGUMENTS_INVALID', field: 'arguments.amount_cents', rule: 'type' });
    const several = await propose(runId, 'bad-args', { ...refund(2500), amount_cents: 0, extra: 1 });
    const problems = (several.body['error'].details.problems as { field: string; rule: string }[]).map((p) => `${p.field}:${p.rule}`);
    expect(problems.sort()).toEqual(['arguments.amount_cents:minimum', 'arguments.extra:additionalProperties']);
    // A valid proposal after it, in the same run (same partition, so in order): the only one on the topic.
    const valid = await propose(runId, 'good-args');
    expect(valid.status).toBe(202);
    await waitForEvent('ActionProposed', (e) => e.payload.meta.action_id === valid.body['action_id'], 'the valid proposal');
    expect(events('ActionProposed', (e) => e.payload.meta.run_id === runId).map((e) => e.payload.idempotency_key)).toEqual(['good-args']);
  });

  it('emits ActionProposed with the deterministic action id, canonical sealed arguments and their sha256; a repeat emits nothing', async () => {
    const runId = await openRun();
    const canary = `${randomBytes(2).readUInt16BE() % 10_000}`.padStart(4, '0');
    const args = { reason: 'charged twice', card_last4: canary, amount_cents: 2500, ticket_tags: ['refund_approved'], customer_id: 'C-1', ticket_id: 'T-1' };
    const first = await propose(runId, 'refund-T-1', args);
    expect(first.status).toBe(202);
    const actionId = actionIdFor(TENANT, runId, 'refund-T-1');
    expect(first.body).toEqual({ action_id: actionId, status: 'proposed' });
    const event = await waitForEvent('ActionProposed', (e) => e.payload.meta.action_id === actionId, 'ActionProposed');
    // The card digits left the gateway sealed under the tenant's key (created on first use), never in clear.
    const key = await new TenantKeyDir(join(workDir, 'tenant-keys')).get(TENANT);
    expect(key).toBeDefined();
    const refundTool = loadToolRegistry(join(root, 'tools')).get('refunds.issue', '1.2.0') as ToolDefinition;
    const sealed = sealArguments(refundTool, args, (value, path) => (key as NonNullable<typeof key>).seal(value, path)) as Record<string, unknown>;
    expect(JSON.parse(event.payload['arguments_json'] as string)['card_last4']).toMatchObject({
      $sealed: expect.stringMatching(/^v1\./) as unknown,
      hmac: expect.stringMatching(/^[0-9a-f]{64}$/) as unknown,
    });
    expect(JSON.stringify(event.payload)).not.toContain(`"${canary}"`);
    expect(key?.unseal(sealed['card_last4'], '$.card_last4')).toBe(canary);
    expect(event.payload).toMatchObject({
      agent_id: BOT,
      tool: 'refunds.issue',
      tool_version: '1.2.0',
      reason: 'customer asked',
      idempotency_key: 'refund-T-1',
      arguments_json: canonicalJson(sealed),
      args_sha256: sha256Canonical(sealed),
      meta: { tenant_id: TENANT, run_id: runId, action_id: actionId },
    });
    expect(event.payload['arguments_json']).toMatch(
      /^\{"amount_cents":2500,"card_last4":\{"\$sealed":"v1\.[^"]+","hmac":"[0-9a-f]{64}"\},"customer_id":"C-1","reason":"charged twice","ticket_id":"T-1","ticket_tags":\["refund_approved"\]\}$/,
    );

    const again = await propose(runId, 'refund-T-1', { ...args });
    expect(again.status).toBe(202);
    expect(again.body['action_id']).toBe(actionId);
    const conflict = await propose(runId, 'refund-T-1', { ...args, amount_cents: 2600 });
    expect(conflict.status).toBe(409);
    expect(conflict.body['error']).toMatchObject({ code: 'IDEMPOTENCY_CONFLICT', field: 'idempotency_key' });
    // A later proposal of the same run is on the topic after any repeat would have been.
    const later = await propose(runId, 'refund-T-1-later');
    await waitForEvent('ActionProposed', (e) => e.payload.meta.action_id === later.body['action_id'], 'the later proposal');
    expect(events('ActionProposed', (e) => e.payload.meta.action_id === actionId)).toHaveLength(1);

    // The read model shows it, sensitive arguments redacted.
    const view = await call('GET', `/v1/actions/${actionId}`, KEYS.bot);
    expect(view.body).toMatchObject({ action_id: actionId, status: 'proposed', terminal: false, tool: 'refunds.issue', args_sha256: sha256Canonical(sealed) });
    expect(view.body['arguments']).toMatchObject({ card_last4: '[redacted]', amount_cents: 2500 });
    expect(JSON.stringify(view.body)).not.toContain(`"${canary}"`);
    expect(JSON.stringify(view.body)).not.toContain('$sealed');
    // Nor in the gateway's spans.
    expect(JSON.stringify(spans.getFinishedSpans().map((s) => [s.name, s.attributes, s.events]))).not.toContain(`"${canary}"`);
  });
});

describe('gateway: tracing', () => {
  it('continues the caller’s trace: a gateway.propose span whose context travels in ActionProposed.meta.trace', async () => {
    const runId = await openRun();
    const traceId = randomBytes(16).toString('hex');
    const callerSpan = randomBytes(8).toString('hex');
    const response = await call(
      'POST',
      `/v1/runs/${runId}/actions`,
      KEYS.bot,
      { tool: 'refunds.issue', arguments: refund(100), reason: 'traced', idempotency_key: 'traced' },
      url,
      { traceparent: `00-${traceId}-${callerSpan}-01` },
    );
    expect(response.status).toBe(202);
    const span = await waitFor(() => spans.getFinishedSpans().find((s) => s.name === 'gateway.propose' && s.spanContext().traceId === traceId), {
      what: 'the gateway.propose span',
    });
    expect(span.parentSpanContext?.spanId).toBe(callerSpan);
    expect(span.attributes).toMatchObject({
      'writ.tenant_id': TENANT,
      'writ.run_id': runId,
      'writ.action_id': response.body['action_id'],
      'writ.tool': 'refunds.issue',
    });
    expect(withoutIdentifiers(JSON.stringify(span.attributes))).not.toContain('4242');
    const event = await waitForEvent('ActionProposed', (e) => e.payload.meta.action_id === response.body['action_id'], 'the traced proposal');
    const carried = (event.payload.meta as unknown as { trace: { traceparent: string } | null }).trace;
    expect(carried?.traceparent).toBe(`00-${traceId}-${span.spanContext().spanId}-01`);
  });
});

describe('gateway: outcomes', () => {
  it('answers a long-poll as soon as the ActionCompleted arrives, and at the timeout with the pending state', async () => {
    const runId = await openRun();
    const { body } = await propose(runId, 'long-poll');
    const actionId = body['action_id'] as string;

    const early = await call('GET', `/v1/actions/${actionId}/outcome?timeout_ms=300`, KEYS.bot);
    expect(early.status).toBe(200);
    expect(early.body).toMatchObject({ status: 'proposed', terminal: false });
    expect((await call('GET', `/v1/actions/${actionId}/outcome?timeout_ms=30001`, KEYS.bot)).body['error']).toMatchObject({
      field: 'timeout_ms',
      rule: 'maximum',
    });

    const started = Date.now();
    const waiting = call('GET', `/v1/actions/${actionId}/outcome?timeout_ms=25000`, KEYS.bot);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await produce('PolicyDecided', allowed(runId, actionId));
    // The result travels by reference: its body on writ.results.v1, its digest in the completion.
    const resultBody = '{"card_last4":"[redacted]","refund_id":"R-1","status":"issued"}';
    await produce('ToolResultRecorded', { meta: meta(runId, actionId), tool: 'refunds.issue', result_json: resultBody, result_ref: sha256Hex(resultBody) });
    await produce('ActionCompleted', {
      meta: meta(runId, actionId),
      status: 'completed',
      reason: 'the tool succeeded',
      reason_code: 'SUCCEEDED',
      result_json: null,
      result_ref: sha256Hex(resultBody),
      cost_micros: 20000,
      currency: 'USD',
    });
    const answered = await waiting;
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(answered.status).toBe(200);
    expect(answered.body).toMatchObject({
      action_id: actionId,
      status: 'completed',
      terminal: true,
      reason: 'the tool succeeded',
      reason_code: 'SUCCEEDED',
      result: { refund_id: 'R-1', status: 'issued', card_last4: '[redacted]' },
      result_ref: sha256Hex(resultBody),
      cost_micros: 20000,
      currency: 'USD',
      decision: 'allow',
      determining_policies: ['refund-up-to-100-support'],
    });
    const answerSpan = await waitFor(() => spans.getFinishedSpans().find((s) => s.name === 'gateway.outcome' && s.attributes['writ.action_id'] === actionId), {
      what: 'the gateway.outcome span',
    });
    expect(answerSpan.attributes).toMatchObject({ 'writ.action.status': 'completed', 'writ.gateway.waiters_answered': 1 });
    // Terminal already: answered at once.
    const t0 = Date.now();
    expect((await call('GET', `/v1/actions/${actionId}/outcome?timeout_ms=20000`, KEYS.bot)).body['status']).toBe('completed');
    expect(Date.now() - t0).toBeLessThan(2_000);
  });

  it("answers with the policy's decision and the result's body when the ActionCompleted is read before them (other topics)", async () => {
    const runId = await openRun();
    const { body } = await propose(runId, 'decision-late');
    const actionId = body['action_id'] as string;
    const waiting = call('GET', `/v1/actions/${actionId}/outcome?timeout_ms=25000`, KEYS.bot).then((answer) => ({ answer, at: Date.now() }));
    await new Promise((resolve) => setTimeout(resolve, 300));
    const result = '{"status":"issued"}';
    await produce('ActionCompleted', {
      meta: meta(runId, actionId),
      status: 'completed',
      reason: 'the tool succeeded',
      reason_code: 'SUCCEEDED',
      result_json: null,
      result_ref: sha256Hex(result),
      cost_micros: 20000,
      currency: 'USD',
    });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const decidedAt = Date.now();
    await produce('PolicyDecided', allowed(runId, actionId));
    await produce('ToolResultRecorded', { meta: meta(runId, actionId), tool: 'refunds.issue', result_json: result, result_ref: sha256Hex(result) });
    const { answer, at } = await waiting;
    // Held for the decision and the body, not answered at the ActionCompleted (200 ms before them).
    expect(at).toBeGreaterThanOrEqual(decidedAt);
    expect(answer.body).toMatchObject({
      status: 'completed',
      terminal: true,
      decision: 'allow',
      determining_policies: ['refund-up-to-100-support'],
      result: { status: 'issued' },
      result_ref: sha256Hex(result),
    });
  });
});

describe('gateway: approvals and controls', () => {
  it('lists an action awaiting approval to the tenant’s users, forwards approvals, and shows how the PDP judged them', async () => {
    const runId = await openRun();
    const { body } = await propose(runId, 'big-refund', refund(25_000, 'T-2'));
    const actionId = body['action_id'] as string;
    // Not pending yet: nothing to approve.
    expect((await call('POST', `/v1/approvals/${actionId}`, KEYS.maria, { verdict: 'approve' })).status).toBe(409);

    await produce('PolicyDecided', {
      meta: meta(runId, actionId),
      decision: 'approval_required',
      determining_policies: ['refund-over-100-needs-manager-approval'],
      policy_set_hash: 'b'.repeat(64),
      warrant: null,
      errors: [],
      approval_requirement: { policy_id: 'refund-over-100-needs-manager-approval', count: 1, roles: ['manager'], expires_in_ms: null, reason: null },
      approvals: [],
      denied_by: null,
      policy_set_version: '1',
      run_stats: null,
      warnings: [],
      shadow_results: [],
      request_json: '',
    });
    const pending = await waitFor(
      async () => ((await call('GET', '/v1/approvals?status=pending', KEYS.maria)).body['approvals'] as Loose[]).find((a) => a['action_id'] === actionId),
      { timeoutMs: 15_000, what: 'the action in the approval queue' },
    );
    expect(pending).toMatchObject({
      status: 'awaiting_approval',
      tool: 'refunds.issue',
      agent_id: BOT,
      arguments: { amount_cents: 25_000, ticket_id: 'T-2', card_last4: '[redacted]' },
      determining_policies: ['refund-over-100-needs-manager-approval'],
      approval_requirement: { policy_id: 'refund-over-100-needs-manager-approval', count: 1, roles: ['manager'], expires_in_ms: null, reason: null },
    });
    expect(((await call('GET', '/v1/approvals', KEYS.gina)).body['approvals'] as unknown[]).length).toBe(0);
    expect((await call('GET', '/v1/approvals', KEYS.bot)).status).toBe(403);
    expect((await call('GET', '/v1/approvals?status=done', KEYS.maria)).body['error']).toMatchObject({ field: 'status', rule: 'enum' });
    expect((await call('POST', `/v1/approvals/${actionId}`, KEYS.maria, { verdict: 'maybe' })).body['error']).toMatchObject({ field: 'verdict', rule: 'enum' });

    const byOwner = await call('POST', `/v1/approvals/${actionId}`, KEYS.dana, { verdict: 'approve', comment: 'my bot' });
    expect(byOwner.status).toBe(202);
    expect(byOwner.body).toMatchObject({ action_id: actionId, status: 'submitted', approver_id: `dana-${suffix}` });
    const submitted = await waitForEvent('ApprovalSubmitted', (e) => e.payload.meta.action_id === actionId, 'ApprovalSubmitted');
    // Until the policy service judges it, the approval waits apart from the judged ones.
    const before = await call('GET', `/v1/actions/${actionId}`, KEYS.bot);
    expect(before.body['approvals']).toEqual([]);
    expect(before.body['submitted_approvals']).toEqual([expect.objectContaining({ approver_id: `dana-${suffix}`, state: 'submitted', accepted: null })]);
    expect(submitted.payload).toMatchObject({
      approver_id: `dana-${suffix}`,
      approver_role: 'manager',
      verdict: 'approve',
      comment: 'my bot',
      meta: { tenant_id: TENANT, run_id: runId },
    });

    await produce('ApprovalRecorded', {
      meta: meta(runId, actionId),
      approver_id: `dana-${suffix}`,
      verdict: 'approve',
      accepted: false,
      reason: 'the owner of an agent may not approve its actions',
      approver_role: 'manager',
      determining_policies: ['owner-may-not-approve'],
    });
    const judged = await waitFor(
      async () => {
        const view = await call('GET', `/v1/actions/${actionId}`, KEYS.bot);
        const approvals = view.body['approvals'] as Record<string, unknown>[];
        return approvals.find((a) => a['approver_id'] === `dana-${suffix}` && a['state'] === 'refused') && view.body;
      },
      { timeoutMs: 15_000, what: "the owner's approval to be shown as refused" },
    );
    expect(judged['status']).toBe('awaiting_approval');
    expect(judged['approvals']).toEqual([
      expect.objectContaining({
        approver_id: `dana-${suffix}`,
        accepted: false,
        state: 'refused',
        reason: 'the owner of an agent may not approve its actions',
        comment: 'my bot',
      }),
    ]);
    expect(judged['submitted_approvals']).toEqual([]);
  });

  it('lets operators pull their own tenant’s kill switches (ControlChanged keyed by tenant), and nobody else', async () => {
    const answer = await call('PUT', '/v1/controls/tools/refunds.issue/kill-switch', KEYS.oscar, { enabled: true, reason: `incident ${suffix}` });
    expect(answer.status).toBe(202);
    expect(answer.body).toMatchObject({
      control_key: `${TENANT}/tool:refunds.issue`,
      scope: TENANT,
      control: 'kill_switch',
      subject: 'tool',
      tool: 'refunds.issue',
      kind: 'tool_kill_switch',
      target: 'refunds.issue',
      enabled: true,
      reason: `incident ${suffix}`,
      set_by: `oscar-${suffix}`,
    });
    const changed = await waitForEvent('ControlChanged', (e) => e.payload['reason'] === `incident ${suffix}`, 'ControlChanged');
    expect(changed.payload).toMatchObject({
      control_key: `${TENANT}/tool:refunds.issue`,
      kind: 'tool_kill_switch',
      enabled: true,
      set_by: `oscar-${suffix}`,
      meta: { tenant_id: TENANT },
    });
    // The tenant's operators see it; the other tenant's admin does not.
    expect((await call('GET', '/v1/controls', KEYS.oscar)).body['controls']).toEqual([
      expect.objectContaining({ control_key: `${TENANT}/tool:refunds.issue`, enabled: true }),
    ]);
    expect((await call('GET', '/v1/controls', KEYS.gina)).body['controls']).toEqual([]);

    const agent = await call('PUT', `/v1/controls/agents/${BOT}/kill-switch`, KEYS.oscar, { enabled: false, reason: `agent ${suffix}` });
    expect(agent.body).toMatchObject({ control_key: `${TENANT}/agent:${BOT}`, kind: 'agent_kill_switch', enabled: false });
    const safe = await call('PUT', '/v1/controls/safe-mode', KEYS.gina, { enabled: true, reason: `safe ${suffix}` });
    expect(safe.body).toMatchObject({ control_key: `${OTHER}/safe_mode:*`, kind: 'safe_mode', target: '*', scope: OTHER });
    await waitForEvent('ControlChanged', (e) => e.payload['reason'] === `safe ${suffix}`, 'safe mode ControlChanged');
    expect((await call('GET', '/v1/controls', KEYS.oscar)).body['controls']).toHaveLength(1);
    // Released: the list is empty again.
    await call('PUT', '/v1/controls/tools/refunds.issue/kill-switch', KEYS.oscar, { enabled: false, reason: `over ${suffix}` });
    expect((await call('GET', '/v1/controls', KEYS.oscar)).body['controls']).toEqual([]);

    expect((await call('PUT', '/v1/controls/tools/refunds.issue/kill-switch', KEYS.maria, { enabled: true, reason: 'r' })).status).toBe(403);
    expect((await call('PUT', '/v1/controls/tools/refunds.issue/kill-switch', KEYS.bot, { enabled: true, reason: 'r' })).status).toBe(403);
    expect((await call('PUT', '/v1/controls/tools/refunds.nope/kill-switch', KEYS.oscar, { enabled: true, reason: 'r' })).status).toBe(404);
    expect((await call('PUT', `/v1/controls/agents/${BOT}/kill-switch`, KEYS.gina, { enabled: true, reason: 'r' })).status).toBe(404);
    expect((await call('PUT', '/v1/controls/safe-mode', KEYS.oscar, { enabled: 'yes', reason: 'r' })).body['error']).toMatchObject({
      field: 'enabled',
      rule: 'type',
    });
  });
});

describe('gateway: read model', () => {
  it('is rebuilt from the topics by a new instance', async () => {
    const runId = await openRun();
    const { body } = await propose(runId, 'rebuild');
    const actionId = body['action_id'] as string;
    await produce('ActionCompleted', {
      meta: meta(runId, actionId),
      status: 'denied',
      reason: 'policy',
      reason_code: 'POLICY_DENIED',
      result_json: null,
      result_ref: null,
      cost_micros: 0,
      currency: 'USD',
    });
    await waitFor(async () => (await call('GET', `/v1/actions/${actionId}`, KEYS.bot)).body['status'] === 'denied', { what: 'denied in the first instance' });

    const second = await bootGateway();
    const view = await call('GET', `/v1/actions/${actionId}`, KEYS.bot, undefined, second.url);
    expect(view.body).toMatchObject({ action_id: actionId, status: 'denied', reason_code: 'POLICY_DENIED', tool: 'refunds.issue', idempotency_key: 'rebuild' });
    expect((await call('GET', `/v1/runs/${runId}`, KEYS.bot, undefined, second.url)).body['status']).toBe('open');
    // It knows the proposal: a repeat there answers the same action and its terminal status.
    const repeat = await call(
      'POST',
      `/v1/runs/${runId}/actions`,
      KEYS.bot,
      { tool: 'refunds.issue', arguments: refund(2500), reason: 'again', idempotency_key: 'rebuild' },
      second.url,
    );
    expect(repeat.body).toEqual({ action_id: actionId, status: 'denied' });
    await second.app.close();
    apps = apps.filter((app) => app !== second.app);
  });
});
