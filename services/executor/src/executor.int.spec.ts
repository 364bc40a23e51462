// The executor in-process against the real broker and the real demo helpdesk (a child process):
// signed requests are produced to writ.executions.v1, outcomes read back from it, and the
// helpdesk's own /_stats is the ground truth of what ran.
import 'reflect-metadata';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Module } from '@nestjs/common';
import type { DynamicModule, INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { KafkaJS } from '@confluentinc/kafka-javascript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventProducer, contractsSerde, createKafka, silentLogger, writEvent } from '@writ/bus';
import { TOPICS, newMetadata } from '@writ/contracts';
import type { ActionExecuted, ActionFailed, ControlChanged, ExecutionRequested, Metadata } from '@writ/contracts';
import { canonicalJson, generateSigningKey, loadSigningKey, sha256Canonical } from '@writ/crypto';
import type { SigningKey } from '@writ/crypto';
import { ensureDevKeys, keyEnvironment } from '@writ/devstack';
import { signedExecutionRequest } from '@writ/executor-core/testing';
import { SERVICE_CONFIG, loadServiceConfig } from '@writ/runtime';
import { testKafkaBrokers, waitFor } from '@writ/testing';
import { executorConfigSpec } from './config.ts';
import { ExecutorModule, ExecutorService } from './executor.module.ts';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const brokers = testKafkaBrokers();
const TENANTS = `t-exec-${randomUUID().slice(0, 8)}`;
const PROBE = `probe_${randomUUID().slice(0, 8).replace(/-/g, '')}`;
// Tools of this file only (copies of the helpdesk tools): kill switches are global, so neither
// another test's switch can stop ours nor ours theirs.
const PROBE_TOOL = `${PROBE}.tickets_get`;
const PROBE_REFUND = `${PROBE}.refunds_issue`;
const HELPDESK_TOKEN = `token-${randomUUID()}`;
const WAIT = { timeoutMs: 30_000 } as const;

type Outcome = { type: 'ActionExecuted'; payload: ActionExecuted; raw: Buffer } | { type: 'ActionFailed'; payload: ActionFailed; raw: Buffer };

/** Reads writ.executions.v1 from the beginning, keeping this file's tenants' outcomes. */
class Outcomes {
  readonly seen: Outcome[] = [];
  #consumer: KafkaJS.Consumer | undefined;

  async start(): Promise<void> {
    const kafka = createKafka({ brokers, clientId: 'executor-int-outcomes', logger: silentLogger });
    this.#consumer = kafka.consumer({ kafkaJS: { groupId: `executor-int-${randomUUID()}`, fromBeginning: true, autoCommit: false } });
    await this.#consumer.connect();
    await this.#consumer.subscribe({ topics: [TOPICS.executions] });
    await this.#consumer.run({
      eachMessage: ({ message }) => {
        if (message.value === null) return Promise.resolve();
        try {
          const decoded = contractsSerde.decode(message.value);
          const meta = (decoded.payload as { meta: Metadata }).meta;
          if ((decoded.type === 'ActionExecuted' || decoded.type === 'ActionFailed') && meta.tenant_id.startsWith(TENANTS)) {
            this.seen.push({ type: decoded.type, payload: decoded.payload, raw: message.value } as Outcome);
          }
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
}

interface Helpdesk {
  readonly url: string;
  readonly child: ChildProcess;
  stats(): Promise<{ calls: Record<string, number>; effects: Record<string, number>; calls_by_key: Record<string, number> }>;
  control(body: Record<string, unknown>): Promise<void>;
}

async function startHelpdesk(): Promise<Helpdesk> {
  const child = spawn(process.execPath, ['--conditions=writ-source', join(root, 'demo/helpdesk/src/main.ts')], {
    env: { PATH: process.env['PATH'] ?? '', HELPDESK_PORT: '0', HELPDESK_TOKEN },
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
const apps: INestApplicationContext[] = [];

async function bootExecutor(dataDir: string, groupId: string): Promise<INestApplicationContext> {
  const config = loadServiceConfig(38084, executorConfigSpec, {
    KAFKA_BROKERS: brokers.join(','),
    KAFKA_GROUP_ID: groupId,
    WRIT_TOOLS_DIR: toolsDir,
    WRIT_EXECUTOR_DATA_DIR: dataDir,
    EXECUTOR_TENANT_PREFIX: TENANTS,
    ...keyEnv,
  });
  @Module({})
  class TestRoot {}
  const rootModule: DynamicModule = { module: TestRoot, global: true, imports: [ExecutorModule], providers: [{ provide: SERVICE_CONFIG, useValue: config }], exports: [SERVICE_CONFIG] };
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
  return signedExecutionRequest({
    tenant: `${TENANTS}-${randomUUID().slice(0, 6)}`,
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

function control(target: string, enabled: boolean): ControlChanged {
  return {
    meta: newMetadata({ tenant_id: TENANTS, run_id: randomUUID(), producer: 'gateway@test' }),
    control_key: `tool_kill_switch:${target}`,
    kind: 'tool_kill_switch',
    target,
    enabled,
    value: null,
    reason: 'executor int test',
    set_by: 'oscar',
  };
}

let dataDir: string;
let groupId: string;

beforeAll(async () => {
  const work = mkdtempSync(join(tmpdir(), 'writ-executor-int-'));
  const { layout } = ensureDevKeys(join(work, 'keys'));
  keyEnv = keyEnvironment(layout);
  warrantKey = await loadSigningKey(layout.warrantSigningKey);
  reservationKey = await loadSigningKey(layout.reservationSigningKey);
  helpdesk = await startHelpdesk();
  process.env['HELPDESK_URL'] = helpdesk.url;
  process.env['HELPDESK_TOKEN'] = HELPDESK_TOKEN;

  // The repository's tools, plus a probe tool of this file only, so its kill switch affects no one else.
  toolsDir = join(work, 'tools');
  cpSync(join(root, 'tools'), toolsDir, { recursive: true });
  const ticketsGet = JSON.parse(readFileSync(join(toolsDir, 'tickets.get@1.0.0.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(join(toolsDir, `${PROBE_TOOL}@1.0.0.json`), JSON.stringify({ ...ticketsGet, name: PROBE_TOOL }));
  const refundsIssue = JSON.parse(readFileSync(join(toolsDir, 'refunds.issue@1.2.0.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(join(toolsDir, `${PROBE_REFUND}@1.2.0.json`), JSON.stringify({ ...refundsIssue, name: PROBE_REFUND }));

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
  await producer?.send([writEvent('ControlChanged', control(PROBE_TOOL, false))]).catch(() => undefined);
  await outcomes?.stop();
  await producer?.disconnect();
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
    expect(JSON.parse(outcome.payload.result_json)).toMatchObject({ card_last4: '[redacted]' });
    expect(outcome.raw.includes('4242')).toBe(false);
    const stats = await helpdesk.stats();
    expect(stats.effects[toolKey(request)]).toBe(1);
    expect(stats.calls_by_key[toolKey(request)]).toBe(1);
    expect(readdirSync(dataDir)).toContain('journal.jsonl');
  });

  it('does not call twice for a redelivered request: it re-emits the recorded outcome', async () => {
    const request = scenario({ args: refundArgs('T-1002', 'C-502') });
    const actionId = await send(request);
    const first = await outcomes.nth(actionId, 1);
    await send(request);
    const second = await outcomes.nth(actionId, 2);
    expect(second.type).toBe(first.type);
    expect((second.payload as ActionExecuted).result_sha256).toBe((first.payload as ActionExecuted).result_sha256);
    expect((await helpdesk.stats()).calls_by_key[toolKey(request)]).toBe(1);
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

  it('stops calls to a tool within a second of its kill switch, and resumes when it is released', async () => {
    const engine = apps[0]?.get(ExecutorService).engine;
    if (engine === undefined) throw new Error('no executor');
    const probe = { name: PROBE_TOOL, version: '1.0.0', effect: 'read' as const };
    const read = () => scenario({ tool: PROBE_TOOL, toolVersion: '1.0.0', args: { ticket_id: 'T-1003' } });

    await producer.send([writEvent('ControlChanged', control(PROBE_TOOL, true))]);
    await waitFor(() => engine.controls.refusal(probe, 'support-bot-1', TENANTS), { timeoutMs: 1_000, what: 'the kill switch to reach the executor within 1 s' });
    const killed = read();
    const refused = await outcomes.nth(await send(killed));
    expect(refused.payload).toMatchObject({ outcome: 'failed', error_code: 'TOOL_KILL_SWITCH' });
    expect((await helpdesk.stats()).calls_by_key[toolKey(killed)]).toBeUndefined();

    await producer.send([writEvent('ControlChanged', control(PROBE_TOOL, false))]);
    await waitFor(() => engine.controls.refusal(probe, 'support-bot-1', TENANTS) === undefined || undefined, { timeoutMs: 1_000, what: 'the release' });
    const allowed = read();
    expect((await outcomes.nth(await send(allowed))).type).toBe('ActionExecuted');
    expect((await helpdesk.stats()).calls_by_key[toolKey(allowed)]).toBe(1);
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
    expect(outcomes.of(actionId).map((o) => (o.payload as ActionFailed).outcome)).toEqual(['unknown', 'unknown']);
    expect((await helpdesk.stats()).calls_by_key[toolKey(request)]).toBe(1);
  });
});
