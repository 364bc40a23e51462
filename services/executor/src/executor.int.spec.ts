// The executor in-process against the real broker and the real demo helpdesk (a child process):
// signed requests are produced to writ.executions.v1, outcomes read back from writ.outcomes.v1, and the
// helpdesk's own /_stats is the ground truth of what ran.
import 'reflect-metadata';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Module } from '@nestjs/common';
import type { DynamicModule, INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { KafkaJS } from '@confluentinc/kafka-javascript';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventProducer, contractsSerde, createKafka, silentLogger, writEvent } from '@writ/bus';
import { TOPICS, newMetadata } from '@writ/contracts';
import type { ActionExecuted, ActionFailed, ControlChanged, ExecutionRequested, ToolResultRecorded } from '@writ/contracts';
import { TenantDataKey, canonicalJson, generateSigningKey, loadSigningKey, sha256Canonical, sha256Hex } from '@writ/crypto';
import type { SigningKey } from '@writ/crypto';
import { ensureDevKeys, keyEnvironment } from '@writ/devstack';
import { signedExecutionRequest } from '@writ/executor-core/testing';
import { SERVICE_CONFIG, loadServiceConfig } from '@writ/runtime';
import { metricValue, scrapeMetrics, serveTestMetrics, testKafkaBrokers, waitFor, withoutIdentifiers } from '@writ/testing';
import type { TestMetricsEndpoint } from '@writ/testing';
import { ActionTokenSigner } from '@writ/tools';
import { executorConfigSpec } from './config.ts';
import { ExecutorModule, ExecutorService } from './executor.module.ts';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const brokers = testKafkaBrokers();
const TENANTS = `t-exec-${randomUUID().slice(0, 8)}`;
const PROBE = `probe_${randomUUID().slice(0, 8).replace(/-/g, '')}`;
// Tools of this file only (copies of the helpdesk tools): the platform-wide controls of this file
// reach every tenant, so neither another test's switch can stop ours nor ours theirs.
const PROBE_TOOL = `${PROBE}.tickets_get`;
const PROBE_REFUND = `${PROBE}.refunds_issue`;
const PROBE_CAPTURE = `${PROBE}.refunds_capture`;
const PROBE_PRICED = `${PROBE}.quotes_priced`;
const HELPDESK_TOKEN = `token-${randomUUID()}`;
const WAIT = { timeoutMs: 30_000 } as const;

type Outcome = { type: 'ActionExecuted'; payload: ActionExecuted; raw: Buffer } | { type: 'ActionFailed'; payload: ActionFailed; raw: Buffer };

/** Reads writ.outcomes.v1 and writ.results.v1 from the beginning, keeping this file's tenants' outcomes and result bodies. */
class Outcomes {
  readonly seen: Outcome[] = [];
  readonly bodies: { payload: ToolResultRecorded; raw: Buffer }[] = [];
  #consumer: KafkaJS.Consumer | undefined;

  async start(): Promise<void> {
    const kafka = createKafka({ brokers, clientId: 'executor-int-outcomes', logger: silentLogger });
    this.#consumer = kafka.consumer({ kafkaJS: { groupId: `executor-int-${randomUUID()}`, fromBeginning: true, autoCommit: false } });
    await this.#consumer.connect();
    await this.#consumer.subscribe({ topics: [TOPICS.outcomes, TOPICS.results] });
    await this.#consumer.run({
      eachMessage: ({ message }) => {
        if (message.value === null) return Promise.resolve();
        try {
          const decoded = contractsSerde.decode(message.value);
          const meta = decoded.payload.meta;
          if (decoded.type === 'ActionExecuted' && meta.tenant_id.startsWith(TENANTS))
            this.seen.push({ type: decoded.type, payload: decoded.payload, raw: message.value });
          if (decoded.type === 'ActionFailed' && meta.tenant_id.startsWith(TENANTS)) {
            this.seen.push({ type: decoded.type, payload: decoded.payload, raw: message.value });
          }
          if (decoded.type === 'ToolResultRecorded' && meta.tenant_id.startsWith(TENANTS)) this.bodies.push({ payload: decoded.payload, raw: message.value });
        } catch {
          // other tests' poison messages
        }
        return Promise.resolve();
      },
    });
  }

  async stop(): Promise<void> {
    await this.#consumer?.disconnect();
  }

  of(actionId: string): Outcome[] {
    return this.seen.filter((o) => o.payload.meta.action_id === actionId);
  }

  async nth(actionId: string, n = 1): Promise<Outcome> {
    return waitFor(() => this.of(actionId)[n - 1], { ...WAIT, what: `outcome #${n} of action ${actionId}` });
  }

  /**
   * The result of a success, which travels by reference: the audited event carries only the body's
   * digest (result_ref), and the body is the ToolResultRecorded of writ.results.v1 with that digest.
   */
  async body(executed: Outcome): Promise<{ result: unknown; raw: Buffer }> {
    if (executed.type !== 'ActionExecuted') throw new Error(`not a success: ${executed.payload.error_code}`);
    expect(executed.payload.result_json).toBeNull();
    const ref = executed.payload.result_ref ?? '';
    expect(ref).toMatch(/^[0-9a-f]{64}$/);
    const found = await waitFor(() => this.bodies.find((b) => b.payload.meta.action_id === executed.payload.meta.action_id && b.payload.result_ref === ref), {
      ...WAIT,
      what: `the result body of action ${executed.payload.meta.action_id ?? ''}`,
    });
    expect(sha256Hex(found.payload.result_json)).toBe(ref);
    expect(found.payload.tool).toBe(executed.payload.tool);
    return { result: JSON.parse(found.payload.result_json) as unknown, raw: found.raw };
  }
}

interface Helpdesk {
  readonly url: string;
  readonly child: ChildProcess;
  stats(): Promise<{
    calls: Record<string, number>;
    effects: Record<string, number>;
    calls_by_key: Record<string, number>;
    credentials: { minted: number; static: number; refused: number };
  }>;
  control(body: Record<string, unknown>): Promise<void>;
}

/** The demo helpdesk as a process: the tools of this file, verifying per-action tokens with the executor's JWKS (a file here). */
async function startHelpdesk(jwksFile: string): Promise<Helpdesk> {
  const child = spawn(process.execPath, ['--conditions=writ-source', join(root, 'demo/helpdesk/src/main.ts')], {
    env: { PATH: process.env['PATH'] ?? '', HELPDESK_PORT: '0', HELPDESK_TOKEN, HELPDESK_JWKS_FILE: jwksFile, WRIT_TOOLS_DIR: toolsDir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const url = await waitFor(() => /"url":"(http:[^"]+)"/.exec(out)?.[1], { timeoutMs: 15_000, what: 'the helpdesk to listen' });
  const headers = { authorization: `Bearer ${HELPDESK_TOKEN}`, 'content-type': 'application/json' };
  return {
    url,
    child,
    stats: async () => (await (await fetch(`${url}/_stats`, { headers })).json()) as Awaited<ReturnType<Helpdesk['stats']>>,
    control: async (body) => {
      const response = await fetch(`${url}/_control`, { method: 'POST', headers, body: JSON.stringify(body) });
      if (!response.ok) throw new Error(`helpdesk control: HTTP ${response.status}`);
    },
  };
}

let helpdesk: Helpdesk;
let producer: EventProducer;
let outcomes: Outcomes;
let warrantKey: SigningKey;
let reservationKey: SigningKey;
let keyEnv: Record<string, string>;
let toolsDir: string;
let tenantKeysDir: string;
let tokenSigner: ActionTokenSigner;
const tenantKeys = new Map<string, TenantDataKey>();

/** The tenant's data key, written where the executor reads it (as the gateway would have on first use). */
function tenantKey(tenant: string): TenantDataKey {
  const known = tenantKeys.get(tenant);
  if (known !== undefined) return known;
  const secret = randomBytes(32);
  writeFileSync(join(tenantKeysDir, `${tenant}.key`), secret.toString('base64'), { mode: 0o600 });
  const key = new TenantDataKey(tenant, secret);
  tenantKeys.set(tenant, key);
  return key;
}
const apps: INestApplicationContext[] = [];

async function bootExecutor(dataDir: string, groupId: string): Promise<INestApplicationContext> {
  const config = loadServiceConfig(26084, executorConfigSpec, {
    WRIT_KAFKA_BROKERS: brokers.join(','),
    WRIT_KAFKA_GROUP_ID: groupId,
    WRIT_TOOLS_DIR: toolsDir,
    WRIT_EXECUTOR_DATA_DIR: dataDir,
    WRIT_EXECUTOR_TENANTS: `${TENANTS}*`,
    WRIT_TENANT_KEYS_DIR: tenantKeysDir,
    ...keyEnv,
  });
  @Module({})
  class TestRoot {}
  const rootModule: DynamicModule = {
    module: TestRoot,
    global: true,
    imports: [ExecutorModule],
    providers: [{ provide: SERVICE_CONFIG, useValue: config }],
    exports: [SERVICE_CONFIG],
  };
  const app = await NestFactory.createApplicationContext(rootModule, { logger: false });
  apps.push(app);
  return app;
}

const refundArgs = (ticket = 'T-1001', customer = 'C-501') => ({
  ticket_id: ticket,
  customer_id: customer,
  amount_cents: 2500,
  ticket_tags: ['refund_approved'],
  reason: 'damaged',
  card_last4: '4242',
});

function scenario(overrides: Partial<Parameters<typeof signedExecutionRequest>[0]> = {}): ExecutionRequested {
  const tenant = overrides.tenant ?? `${TENANTS}-${randomUUID().slice(0, 6)}`;
  const refundSchema = JSON.parse(readFileSync(join(root, 'tools', 'refunds.issue@1.2.0.json'), 'utf8')) as { arguments: Record<string, unknown> };
  return signedExecutionRequest({
    tenant,
    // Sensitive arguments arrive sealed under the tenant's key, as the gateway sends them.
    sealWith: { key: tenantKey(tenant), tool: refundSchema },
    runId: randomUUID(),
    agent: 'support-bot-1',
    tool: PROBE_REFUND,
    toolVersion: '1.2.0',
    args: refundArgs(),
    idempotencyKey: `key-${randomUUID()}`,
    warrantKey,
    reservationKey,
    ...overrides,
  });
}

async function send(request: ExecutionRequested): Promise<string> {
  await producer.send([writEvent('ExecutionRequested', request)]);
  return request.meta.action_id ?? '';
}

function toolKey(request: ExecutionRequested): string {
  return `${request.meta.tenant_id}:${request.idempotency_key}`;
}

/** A tool's kill switch in one tenant (or "*", every tenant), as the gateway writes it; `safe` for its safe mode. */
function control(target: string, enabled: boolean, scope = TENANTS, safe = false): ControlChanged {
  return {
    meta: newMetadata({ tenant_id: scope, run_id: randomUUID(), producer: 'gateway@test' }),
    control_key: safe ? `${scope}/safe_mode:tool:${target}` : `${scope}/tool:${target}`,
    kind: safe ? 'safe_mode' : 'tool_kill_switch',
    target: safe ? `tool:${target}` : target,
    enabled,
    value: null,
    reason: 'executor int test',
    set_by: 'oscar',
  };
}

let dataDir: string;
let groupId: string;
/** The counters of the executor in this process, on a /metrics endpoint (in a service process, startTelemetry serves them). */
let metricsEndpoint: TestMetricsEndpoint;

beforeAll(async () => {
  const work = mkdtempSync(join(tmpdir(), 'writ-executor-int-'));
  const { layout } = ensureDevKeys(join(work, 'keys'));
  tenantKeysDir = join(work, 'keys', 'tenants');
  mkdirSync(tenantKeysDir, { recursive: true });
  keyEnv = keyEnvironment(layout);
  warrantKey = await loadSigningKey(layout.warrantSigningKey);
  reservationKey = await loadSigningKey(layout.reservationSigningKey);
  // The executor mints with its key (WRIT_EXECUTOR_TOKEN_SIGNING_KEY in keyEnv); the helpdesk reads its JWKS.
  const toolTokenKey = await loadSigningKey(layout.toolTokenSigningKey);
  tokenSigner = await ActionTokenSigner.fromPem(toolTokenKey.keyId, toolTokenKey.exportPrivateKeyPem());
  const jwksFile = join(work, 'jwks.json');
  writeFileSync(jwksFile, JSON.stringify(tokenSigner.jwks()));

  // The repository's tools, plus a probe tool of this file only, so its kill switch affects no one else.
  toolsDir = join(work, 'tools');
  cpSync(join(root, 'tools'), toolsDir, { recursive: true });
  const ticketsGet = JSON.parse(readFileSync(join(toolsDir, 'tickets.get@1.0.0.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(join(toolsDir, `${PROBE_TOOL}@1.0.0.json`), JSON.stringify({ ...ticketsGet, name: PROBE_TOOL }));
  const refundsIssue = JSON.parse(readFileSync(join(toolsDir, 'refunds.issue@1.2.0.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(join(toolsDir, `${PROBE_REFUND}@1.2.0.json`), JSON.stringify({ ...refundsIssue, name: PROBE_REFUND }));
  // A refund tool that reports what it received (sealed-arguments test), at a url read at call time.
  const capture: Record<string, unknown> = {
    ...refundsIssue,
    name: PROBE_CAPTURE,
    endpoint: { method: 'POST', url: '${SEALED_CAPTURE_URL:-http://127.0.0.1:1}/refunds' },
  };
  delete capture['verify'];
  writeFileSync(join(toolsDir, `${PROBE_CAPTURE}@1.2.0.json`), JSON.stringify(capture));
  // A priced read whose result reports its cost (at most $0.0005 declared), at a url read at call time.
  const priced: Record<string, unknown> = {
    ...ticketsGet,
    name: PROBE_PRICED,
    endpoint: { method: 'GET', url: '${PRICED_URL:-http://127.0.0.1:1}/quotes/{ticket_id}' },
    cost: { micros: 100, max_micros: 500, currency: 'USD', actual: 'billing.fee_micros' },
  };
  delete priced['result'];
  writeFileSync(join(toolsDir, `${PROBE_PRICED}@1.0.0.json`), JSON.stringify(priced));
  metricsEndpoint = await serveTestMetrics();
  helpdesk = await startHelpdesk(jwksFile);
  process.env['HELPDESK_URL'] = helpdesk.url;
  process.env['HELPDESK_TOKEN'] = HELPDESK_TOKEN;

  dataDir = join(work, 'executor');
  groupId = `writ.executor.int-${randomUUID().slice(0, 8)}`;
  producer = new EventProducer({ brokers, clientId: 'executor-int-producer', logger: silentLogger });
  await producer.connect();
  outcomes = new Outcomes();
  await outcomes.start();
  await bootExecutor(dataDir, groupId);
}, 120_000);

afterAll(async () => {
  for (const app of apps) await app.close().catch(() => undefined);
  await producer
    ?.send([writEvent('ControlChanged', control(PROBE_TOOL, false, `${TENANTS}-a`)), writEvent('ControlChanged', control(PROBE_REFUND, false, '*', true))])
    .catch(() => undefined);
  await outcomes?.stop();
  await producer?.disconnect();
  await metricsEndpoint?.stop();
  helpdesk?.child.kill('SIGTERM');
});

describe('executor service', () => {
  it('executes a valid request exactly once and keeps the sensitive field out of the event', async () => {
    const request = scenario();
    const actionId = await send(request);
    const outcome = await outcomes.nth(actionId);
    if (outcome.type !== 'ActionExecuted') throw new Error(`failed: ${outcome.payload.error_code}: ${outcome.payload.message}`);
    expect(outcome.payload).toMatchObject({ outcome: 'succeeded', tool: PROBE_REFUND, cost_micros: 20_000, currency: 'USD', attempts: 1, verified: true });
    expect(outcome.payload.side_effect_refs[0]).toMatch(/^RF-/);
    expect(outcome.payload.meta.causation_id).toBe(request.meta.event_id);
    const body = await outcomes.body(outcome);
    expect(body.result).toMatchObject({ card_last4: '[redacted]' });
    expect(withoutIdentifiers(outcome.raw)).not.toContain('4242');
    expect(withoutIdentifiers(body.raw)).not.toContain('4242');
    expect(request.arguments_json).not.toContain('"4242"');
    const stats = await helpdesk.stats();
    expect(stats.effects[toolKey(request)]).toBe(1);
    expect(stats.calls_by_key[toolKey(request)]).toBe(1);
    expect(readdirSync(dataDir)).toContain('journal.jsonl');
  });

  it('calls the helpdesk with a token minted for the action, which it accepts, where the static token is refused', async () => {
    const before = (await helpdesk.stats()).credentials;
    const request = scenario({ args: refundArgs('T-1004', 'C-504') });
    const outcome = await outcomes.nth(await send(request));
    if (outcome.type !== 'ActionExecuted') throw new Error(`failed: ${outcome.payload.error_code}: ${outcome.payload.message}`);
    expect(outcome.payload.verified).toBe(true);
    const after = (await helpdesk.stats()).credentials;
    // The call and its read-back, each with the action's token; nothing refused, no static token.
    expect(after.minted - before.minted).toBe(2);
    expect(after.refused - before.refused).toBe(0);
    expect(after.static - before.static).toBe(0);
    const statics = await fetch(`${helpdesk.url}/refunds`, {
      method: 'POST',
      headers: { authorization: `Bearer ${HELPDESK_TOKEN}`, 'content-type': 'application/json', 'idempotency-key': `${toolKey(request)}-2` },
      body: JSON.stringify(refundArgs('T-1004', 'C-504')),
    });
    expect(statics.status).toBe(401);
    expect((await helpdesk.stats()).effects[`${toolKey(request)}-2`]).toBeUndefined();
  });

  it('does not call twice for a redelivered request: it re-emits the recorded outcome', async () => {
    const request = scenario({ args: refundArgs('T-1002', 'C-502') });
    const actionId = await send(request);
    const first = await outcomes.nth(actionId, 1);
    await send(request);
    const second = await outcomes.nth(actionId, 2);
    expect(second.type).toBe(first.type);
    const sha = (outcome: Outcome) => (outcome.type === 'ActionExecuted' ? outcome.payload.result_sha256 : undefined);
    expect(sha(second)).toBeDefined();
    expect(sha(second)).toBe(sha(first));
    expect((await helpdesk.stats()).calls_by_key[toolKey(request)]).toBe(1);
    // The body is sent again too, under the same event id: one row wherever it is kept.
    await outcomes.body(second);
    const bodies = await waitFor(() => (outcomes.bodies.filter((b) => b.payload.meta.action_id === actionId).length >= 2 ? outcomes.bodies : undefined), {
      ...WAIT,
      what: 'the second copy of the body',
    });
    expect(new Set(bodies.filter((b) => b.payload.meta.action_id === actionId).map((b) => b.payload.meta.event_id)).size).toBe(1);
  });

  it('never reaches the tool with a forged, expired or mismatched warrant', async () => {
    const forger = generateSigningKey('warrant-1');
    const forged = scenario({ warrantKey: forger });
    const expired = scenario({ warrantTtlMs: -1_000 });
    const genuine = scenario();
    const changed = { ...refundArgs(), amount_cents: 9_999 };
    const mismatched: ExecutionRequested = { ...genuine, arguments_json: canonicalJson(changed), args_sha256: sha256Canonical(changed) };
    const cases: [ExecutionRequested, string][] = [
      [forged, 'WARRANT_FORGED'],
      [expired, 'WARRANT_EXPIRED'],
      [mismatched, 'WARRANT_MISMATCH'],
    ];
    for (const [request] of cases) await send(request);
    for (const [request, code] of cases) {
      const outcome = await outcomes.nth(request.meta.action_id ?? '');
      expect(outcome.type).toBe('ActionFailed');
      expect(outcome.payload).toMatchObject({ outcome: 'failed', error_code: code, retriable: false, attempts: 0 });
      expect((await helpdesk.stats()).calls_by_key[toolKey(request)]).toBeUndefined();
    }
  });

  it('retries a lost reply with the same idempotency key: one refund, two attempts', async () => {
    await helpdesk.control({ mode: 'fail', route: 'POST /refunds', after_effect: true, count: 1 });
    const request = scenario({ args: refundArgs('T-1005', 'C-505') });
    const outcome = await outcomes.nth(await send(request));
    expect(outcome.type).toBe('ActionExecuted');
    expect(outcome.payload.attempts).toBe(2);
    const stats = await helpdesk.stats();
    expect(stats.effects[toolKey(request)]).toBe(1);
    expect(stats.calls_by_key[toolKey(request)]).toBe(2);
  });

  it("stops calls to a tool within a second of a tenant's kill switch, in that tenant only, and resumes when it is released", async () => {
    const engine = apps[0]?.get(ExecutorService).engine;
    if (engine === undefined) throw new Error('no executor');
    const [tenantA, tenantB] = [`${TENANTS}-a`, `${TENANTS}-b`];
    const probe = { name: PROBE_TOOL, version: '1.0.0', effect: 'read' as const };
    const read = (tenant: string) => scenario({ tenant, tool: PROBE_TOOL, toolVersion: '1.0.0', args: { ticket_id: 'T-1003' } });
    const reads = async () => (await helpdesk.stats()).calls['GET /tickets/:id'] ?? 0;

    await producer.send([writEvent('ControlChanged', control(PROBE_TOOL, true, tenantA))]);
    await waitFor(() => engine.controls.refusal(probe, 'support-bot-1', tenantA), {
      timeoutMs: 1_000,
      what: 'the kill switch to reach the executor within 1 s',
    });
    expect(engine.controls.refusal(probe, 'support-bot-1', tenantB)).toBeUndefined();
    const before = await reads();
    const refused = await outcomes.nth(await send(read(tenantA)));
    expect(refused.payload).toMatchObject({ outcome: 'failed', error_code: 'TOOL_KILL_SWITCH' });
    expect(await reads()).toBe(before);
    // Tenant B's call of the same tool runs: A's operator stops A's tool only.
    expect((await outcomes.nth(await send(read(tenantB)))).type).toBe('ActionExecuted');
    expect(await reads()).toBe(before + 1);

    await producer.send([writEvent('ControlChanged', control(PROBE_TOOL, false, tenantA))]);
    await waitFor(() => engine.controls.refusal(probe, 'support-bot-1', tenantA) === undefined || undefined, { timeoutMs: 1_000, what: 'the release' });
    expect((await outcomes.nth(await send(read(tenantA)))).type).toBe('ActionExecuted');
    expect(await reads()).toBe(before + 2);
  });

  it('a platform-wide safe mode of a tool stops its writes in every tenant; the tool is never called', async () => {
    const engine = apps[0]?.get(ExecutorService).engine;
    if (engine === undefined) throw new Error('no executor');
    const refund = { name: PROBE_REFUND, version: '1.2.0', effect: 'write' as const };
    await producer.send([writEvent('ControlChanged', control(PROBE_REFUND, true, '*', true))]);
    try {
      await waitFor(() => engine.controls.refusal(refund, 'support-bot-1', `${TENANTS}-a`), {
        timeoutMs: 5_000,
        what: 'the platform safe mode to reach the executor',
      });
      const requests = [scenario({ tenant: `${TENANTS}-a` }), scenario({ tenant: `${TENANTS}-b` })];
      for (const request of requests) {
        const outcome = await outcomes.nth(await send(request));
        expect(outcome.payload).toMatchObject({ outcome: 'failed', error_code: 'SAFE_MODE', attempts: 0 });
        expect(outcome.type === 'ActionFailed' ? outcome.payload.message : '').toContain('platform-wide');
        expect((await helpdesk.stats()).calls_by_key[toolKey(request)]).toBeUndefined();
      }
    } finally {
      await producer.send([writEvent('ControlChanged', control(PROBE_REFUND, false, '*', true))]);
    }
    await waitFor(() => engine.controls.refusal(refund, 'support-bot-1', `${TENANTS}-a`) === undefined || undefined, { timeoutMs: 5_000, what: 'the release' });
    const after = scenario({ tenant: `${TENANTS}-a`, args: refundArgs('T-1006', 'C-506') });
    expect((await outcomes.nth(await send(after))).type).toBe('ActionExecuted');
    expect((await helpdesk.stats()).calls_by_key[toolKey(after)]).toBe(1);
  });

  it('reports unknown, and never calls again, for a call in flight when the executor stopped', async () => {
    await helpdesk.control({ mode: 'hang', route: 'POST /refunds', count: 1 });
    const request = scenario({ args: refundArgs('T-1008', 'C-503') });
    const actionId = await send(request);
    await waitFor(async () => (await helpdesk.stats()).calls_by_key[toolKey(request)] === 1 || undefined, { ...WAIT, what: 'the call to be in flight' });
    const first = apps.shift();
    await first?.close();
    expect(outcomes.of(actionId)).toHaveLength(0);

    await bootExecutor(dataDir, groupId);
    const outcome = await outcomes.nth(actionId);
    expect(outcome.type).toBe('ActionFailed');
    expect(outcome.payload).toMatchObject({ outcome: 'unknown', error_code: 'OUTCOME_UNKNOWN', retriable: false });
    // The request is redelivered (its offset was never committed): the same unknown, no second call.
    await outcomes.nth(actionId, 2);
    expect(outcomes.of(actionId).map((o) => (o.type === 'ActionFailed' ? o.payload.outcome : o.type))).toEqual(['unknown', 'unknown']);
    expect((await helpdesk.stats()).calls_by_key[toolKey(request)]).toBe(1);
  });
});

describe('executor service: sealed sensitive arguments', () => {
  it('opens them with the tenant key, calls the tool with the clear value, and lets neither the value nor the minted token out', async () => {
    const received: { authorization: string; body: Record<string, unknown> }[] = [];
    let reject = false;
    const server = createServer((req, res) => {
      let text = '';
      req.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
      req.on('end', () => {
        const body = JSON.parse(text) as Record<string, unknown>;
        const authorization = req.headers.authorization ?? '';
        received.push({ authorization, body });
        const echo = `card ${String(body['card_last4'])} charged with ${authorization}`;
        res.writeHead(reject ? 422 : 201, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify(reject ? { error: echo } : { refund_id: `RF-C${received.length}`, status: 'issued', card_last4: body['card_last4'], note: echo }),
        );
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    process.env['SEALED_CAPTURE_URL'] = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const tenant = `${TENANTS}-sealed`;
      const card = '7319';
      const request = scenario({ tenant, tool: PROBE_CAPTURE, args: { ...refundArgs(), card_last4: card } });
      expect(request.arguments_json).not.toContain(`"${card}"`);
      expect(JSON.parse(request.arguments_json)).toMatchObject({ card_last4: { $sealed: expect.stringMatching(/^v1\./) as unknown } });
      const executed = await outcomes.nth(await send(request));
      if (executed.type !== 'ActionExecuted') throw new Error(`failed: ${executed.payload.error_code}: ${executed.payload.message}`);
      expect(received[0]?.body['card_last4']).toBe(card);
      // The tool got a token minted for this action (its clear arguments hashed), not a static one.
      const token = (received[0]?.authorization ?? '').replace(/^Bearer /, '');
      const { payload: claims } = await jwtVerify(token, createLocalJWKSet(tokenSigner.jwks()), { audience: 'helpdesk', typ: 'writ-action+jwt' });
      expect(claims).toMatchObject({ tool: PROBE_CAPTURE, tenant, jti: request.meta.action_id, args_sha256: sha256Canonical(received[0]?.body) });
      expect((await outcomes.body(executed)).result).toEqual({
        refund_id: 'RF-C1',
        status: 'issued',
        card_last4: '[redacted]',
        note: 'card [redacted] charged with Bearer [redacted]',
      });
      expect(executed.payload.result_sha256).toBe(
        tenantKey(tenant).keyedDigest(
          'result',
          canonicalJson({ refund_id: 'RF-C1', status: 'issued', card_last4: card, note: `card ${card} charged with Bearer ${token}` }),
        ),
      );
      expect(executed.raw.includes(token)).toBe(false);
      expect(executed.raw.includes(token.split('.')[2] ?? '')).toBe(false);

      reject = true;
      const rejected = await outcomes.nth(await send(scenario({ tenant, tool: PROBE_CAPTURE, args: { ...refundArgs('T-1002'), card_last4: card } })));
      expect(rejected.payload).toMatchObject({
        error_code: 'TOOL_REJECTED',
        message: `${PROBE_CAPTURE} answered HTTP 422 (card [redacted] charged with Bearer [redacted])`,
      });
      const rejectedToken = (received[1]?.authorization ?? '').replace(/^Bearer /, '');
      expect(rejectedToken).not.toBe(token);
      expect(rejected.raw.includes(rejectedToken.split('.')[2] ?? '')).toBe(false);

      // Erasure: the key file is deleted; a request sealed under it can no longer be opened, and the tool is not called.
      rmSync(join(tenantKeysDir, `${tenant}.key`));
      const erased = await outcomes.nth(await send(scenario({ tenant, tool: PROBE_CAPTURE, args: { ...refundArgs('T-1003'), card_last4: card } })));
      expect(erased.payload).toMatchObject({ error_code: 'TENANT_KEY_MISSING', attempts: 0 });
      expect(received).toHaveLength(2);
    } finally {
      server.close();
    }
  });

  it('refuses a sensitive argument written to the topic in clear, without calling the tool', async () => {
    const request = signedExecutionRequest({
      tenant: `${TENANTS}-clear`,
      runId: randomUUID(),
      agent: 'support-bot-1',
      tool: PROBE_CAPTURE,
      toolVersion: '1.2.0',
      args: refundArgs(),
      idempotencyKey: `key-${randomUUID()}`,
      warrantKey,
      reservationKey,
    });
    const refused = await outcomes.nth(await send(request));
    expect(refused.payload).toMatchObject({ error_code: 'SENSITIVE_NOT_SEALED', attempts: 0 });
  });
});

describe('executor service: the cost contract', () => {
  it('counts a call whose result reports more than its declared maximum, and by how much, once (not again on a redelivery)', async () => {
    let fee = 900;
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ quote: 'Q-1', billing: { fee_micros: fee } }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    process.env['PRICED_URL'] = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const tenant = `${TENANTS}-priced`;
      const priced = (ticket: string) => scenario({ tenant, tool: PROBE_PRICED, toolVersion: '1.0.0', args: { ticket_id: ticket }, amountMicros: 500 });
      const breaches = { tenant, tool: PROBE_PRICED };

      // Within the maximum: no breach.
      fee = 420;
      const within = await outcomes.nth(await send(priced('T-1001')));
      expect(within.payload).toMatchObject({ outcome: 'succeeded', cost_micros: 420 });

      // $0.0009 reported against $0.0005 declared: settled as reported, flagged, 400 micros over.
      fee = 900;
      const over = priced('T-1002');
      const executed = await outcomes.nth(await send(over));
      expect(executed.payload).toMatchObject({ outcome: 'succeeded', cost_micros: 900 });
      const counted = await waitFor(
        async () => {
          const samples = await scrapeMetrics(metricsEndpoint.url);
          return metricValue(samples, 'writ_executor_cost_breaches_total', breaches) > 0 ? samples : undefined;
        },
        { timeoutMs: 10_000, what: 'the breach on /metrics' },
      );
      expect(counted).toContainEqual({
        name: 'writ_executor_cost_breaches_total',
        labels: { ...breaches, breach: 'over_max', otel_scope_name: 'writ' },
        value: 1,
      });
      expect(counted).toContainEqual({
        name: 'writ_executor_cost_breach_excess_micros_total',
        labels: { ...breaches, currency: 'USD', otel_scope_name: 'writ' },
        value: 400,
      });

      // The same request again (a redelivery): the recorded outcome is re-emitted, the tool is not called, nothing is counted.
      await send(over);
      await outcomes.nth(over.meta.action_id ?? '', 2);
      const after = await scrapeMetrics(metricsEndpoint.url);
      expect(metricValue(after, 'writ_executor_cost_breaches_total', breaches)).toBe(1);
      expect(metricValue(after, 'writ_executor_cost_breach_excess_micros_total', breaches)).toBe(400);
    } finally {
      server.close();
    }
  });
});
