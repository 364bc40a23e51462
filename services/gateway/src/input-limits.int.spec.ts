// The gateway's public door against hostile bodies: in-process, booted through createHttpApp as
// runService boots it, on the real broker. Every rule of the strict JSON door answers 4xx naming
// the rule; the two cases of the issue (invalid UTF-8, a duplicated amount_cents) are 400, not
// 202; then a seeded fuzz run (2,000 requests) gets no 5xx and leaves the gateway serving.
import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Module } from '@nestjs/common';
import type { DynamicModule } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashApiKey } from '@writ/directory';
import { HealthModule, SERVICE_CONFIG, createHttpApp, loadServiceConfig } from '@writ/runtime';
import { BODY_DOOR_LIMITS, bodyDoorCases, jsonRequest, replayable, runFuzz, send, testKafkaBrokers, uniqueName } from '@writ/testing';
import type { FuzzRequest } from '@writ/testing';
import { gatewayConfigSpec } from './config.ts';
import { GatewayModule } from './gateway.module.ts';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const brokers = testKafkaBrokers();
const suffix = uniqueName('gwin');
const TENANT = `acme_${suffix}`;
const KEY = `key-bot-${randomBytes(8).toString('hex')}`;
const BOT = `triage-bot-${suffix}`;
const AUTH = { authorization: `Bearer ${KEY}` };
const agent = new Agent({ keepAlive: true });

let workDir: string;
let app: NestFastifyApplication;
let url: string;
let runId: string;

const refund = { ticket_id: 'T-1', customer_id: 'C-1', amount_cents: 500, ticket_tags: ['refund_approved'], reason: 'charged twice', card_last4: '4242' };

async function call(
  request: FuzzRequest,
): Promise<{ status: number; body: { error?: { code?: string; rule?: string; field?: string; message?: string } } & Record<string, unknown> }> {
  const answer = await send(url, request, agent);
  if (answer === undefined || answer.status === 0) throw new Error(`no answer to ${request.method} ${request.path}`);
  return { status: answer.status, body: answer.text === '' ? {} : (JSON.parse(answer.text) as Record<string, never>) };
}

const proposal = (body: string | Uint8Array, headers: Record<string, string> = {}): FuzzRequest => ({
  method: 'POST',
  path: `/v1/runs/${runId}/actions`,
  headers: { 'content-type': 'application/json', ...AUTH, ...headers },
  body: typeof body === 'string' ? Buffer.from(body, 'utf8') : body,
  mutation: 'test',
});

beforeAll(async () => {
  workDir = mkdtempSync(join(tmpdir(), 'writ-gateway-input-'));
  const directory = {
    agents: [{ id: BOT, tenant: TENANT, role: 'support', owner: `dana-${suffix}`, api_key_sha256: hashApiKey(KEY) }],
    users: [
      { id: `dana-${suffix}`, tenant: TENANT, role: 'manager', roles: ['approver'], api_key_sha256: hashApiKey(`key-dana-${randomBytes(8).toString('hex')}`) },
    ],
  };
  writeFileSync(join(workDir, 'directory.json'), JSON.stringify(directory));
  const config = loadServiceConfig(26080, gatewayConfigSpec, {
    WRIT_KAFKA_BROKERS: brokers.join(','),
    WRIT_KAFKA_GROUP_ID: uniqueName('writ_gateway_input_int'),
    WRIT_DIRECTORY_FILE: join(workDir, 'directory.json'),
    WRIT_TOOLS_DIR: join(root, 'tools'),
    WRIT_TENANT_KEYS_DIR: join(workDir, 'keys'),
    WRIT_GATEWAY_CATCHUP_TIMEOUT_MS: '20000',
    WRIT_GATEWAY_SYNC_WAIT_MS: '200',
    ...BODY_DOOR_LIMITS,
  });
  @Module({})
  class TestRoot {}
  const module: DynamicModule = {
    module: TestRoot,
    global: true,
    imports: [HealthModule.forService({ name: 'gateway', version: 'test', kafkaBrokers: brokers, startedAt: Date.now() }), GatewayModule],
    providers: [{ provide: SERVICE_CONFIG, useValue: config }],
    exports: [SERVICE_CONFIG],
  };
  app = await createHttpApp(module, config, { logger: ['error'] });
  await app.listen(0, '127.0.0.1');
  url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  const run = await call(jsonRequest('POST', '/v1/runs', { goal: 'hostile input', limits: { max_steps: 100_000 } }, AUTH));
  expect(run.status).toBe(201);
  runId = run.body['run_id'] as string;
});

afterAll(async () => {
  agent.destroy();
  await app.close();
  rmSync(workDir, { recursive: true, force: true });
});

describe('the gateway door refuses each rule with a 4xx naming it', () => {
  it.each(bodyDoorCases('POST', '/v1/runs', AUTH).map((c) => [c.name, c] as const))('%s', async (_, door) => {
    const answer = await call(door.request);
    expect(answer.status).toBe(door.status);
    expect(answer.body.error).toMatchObject({ code: 'REQUEST_INVALID', rule: door.rule, field: door.field });
    expect(answer.body.error?.message).toEqual(expect.any(String));
  });

  it('answers 400 to a proposal with invalid UTF-8 (it was replaced by U+FFFD and accepted with 202)', async () => {
    const body = Buffer.concat([
      Buffer.from(`{"tool":"refunds.issue","reason":"caf`),
      Buffer.from([0xe9]),
      Buffer.from(`","idempotency_key":"${suffix}-utf8","arguments":${JSON.stringify(refund)}}`),
    ]);
    const answer = await call(proposal(body));
    expect(answer.status).toBe(400);
    expect(answer.body.error).toMatchObject({ code: 'REQUEST_INVALID', rule: 'utf8', field: 'body' });
    expect(answer.body.error?.message).toContain('byte 37');
  });

  it('answers 400 naming arguments.amount_cents to {"amount_cents":500,"amount_cents":5} (the last one won)', async () => {
    const args = JSON.stringify(refund).replace('"amount_cents":500', '"amount_cents":500,"amount_cents":5');
    const answer = await call(proposal(`{"tool":"refunds.issue","arguments":${args},"reason":"r","idempotency_key":"${suffix}-dup"}`));
    expect(answer.status).toBe(400);
    expect(answer.body.error).toMatchObject({ code: 'REQUEST_INVALID', rule: 'duplicateKey', field: 'arguments.amount_cents' });
  });

  it('still takes a valid proposal, with or without charset=utf-8, and unicode that is well formed', async () => {
    const plain = await call(proposal(JSON.stringify({ tool: 'refunds.issue', arguments: refund, reason: 'café ☕ 😀', idempotency_key: `${suffix}-ok1` })));
    expect(plain.status).toBe(202);
    const charset = await call(
      proposal(JSON.stringify({ tool: 'refunds.issue', arguments: refund, reason: 'r', idempotency_key: `${suffix}-ok2` }), {
        'content-type': 'application/json; charset=UTF-8',
      }),
    );
    expect(charset.status).toBe(202);
  });
});

describe('a seeded fuzz run of the public API', () => {
  it('gets no 5xx from 2,000 random and mutated requests, and the gateway serves afterwards', async () => {
    const seeds: FuzzRequest[] = [
      jsonRequest('POST', '/v1/runs', { goal: 'fuzz', limits: { max_steps: 10 } }, AUTH),
      jsonRequest('POST', `/v1/runs/${runId}/actions`, { tool: 'refunds.issue', arguments: refund, reason: 'fuzz', idempotency_key: `${suffix}-fuzz` }, AUTH),
      jsonRequest('GET', `/v1/runs/${runId}`, undefined, AUTH),
      jsonRequest('GET', '/v1/approvals', undefined, AUTH),
      jsonRequest('POST', `/v1/approvals/00000000-0000-7000-8000-000000000000`, { decision: 'approve', reason: 'ok' }, AUTH),
      jsonRequest('GET', '/v1/actions/00000000-0000-7000-8000-000000000000', undefined, AUTH),
      jsonRequest('GET', '/v1/openapi.json', undefined),
      jsonRequest('GET', '/health/ready', undefined),
    ];
    const seed = Number(process.env['FUZZ_SEED'] ?? 6_001);
    const report = await runFuzz({
      baseUrl: url,
      seeds,
      count: 2_000,
      seed,
      concurrency: 4,
      limits: { maxBytes: 4096, maxDepth: 8, maxStringLength: 256 },
    });
    const failures = report.serverErrors.map(replayable);
    expect(failures, `FUZZ_SEED=${seed}: ${failures.slice(0, 3).join('\n')}`).toStrictEqual([]);
    const answered = Object.values(report.byStatus).reduce((a, b) => a + b, 0);
    expect(answered).toBeGreaterThan(1_800);
    // The door itself was exercised: refusals of each kind came back.
    expect(report.byStatus['400']).toBeGreaterThan(100);
    expect(report.byStatus['415']).toBeGreaterThan(10);
    expect(report.byStatus['413']).toBeGreaterThan(10);

    const ready = await call(jsonRequest('GET', '/health/ready', undefined));
    expect(ready.status).toBe(200);
    const after = await call(
      proposal(JSON.stringify({ tool: 'refunds.issue', arguments: refund, reason: 'after the fuzz', idempotency_key: `${suffix}-after` })),
    );
    expect(after.status).toBe(202);
  }, 120_000);
});
