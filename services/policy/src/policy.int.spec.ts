import 'reflect-metadata';
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Module } from '@nestjs/common';
import type { INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EventConsumer, EventProducer, writEvent } from '@writ/bus';
import { TOPICS, newMetadata } from '@writ/contracts';
import type { ActionAdmitted, ApprovalRecorded, ApprovalSubmitted, PolicyDecided } from '@writ/contracts';
import { canonicalJson, createKeyring, generateSigningKey, sha256Canonical } from '@writ/crypto';
import { hashApiKey } from '@writ/directory';
import { verifyWarrant } from '@writ/policy-engine';
import { warrantOfDecision } from '@writ/policy-service-core';
import { SERVICE_CONFIG, loadServiceConfig } from '@writ/runtime';
import { WRIT_ATTR } from '@writ/telemetry';
import { testKafkaBrokers, uniqueName, waitFor } from '@writ/testing';
import { policyConfigSpec } from './config.ts';
import { PdpEngine } from './pdp.engine.ts';
import { PolicyModule } from './policy.module.ts';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const brokers = testKafkaBrokers();
const dir = mkdtempSync(join(tmpdir(), 'writ-policy-'));
const key = generateSigningKey('warrant-test');
const keyPath = join(dir, 'warrant-test.pem');
writeFileSync(keyPath, key.exportPrivateKeyPem(), { mode: 0o600 });
const keyring = createKeyring({ [key.keyId]: key.publicKey });
const spans = new InMemorySpanExporter();

type Output = { type: 'PolicyDecided'; payload: PolicyDecided } | { type: 'ApprovalRecorded'; payload: ApprovalRecorded };

const apps = new Set<INestApplicationContext>();
const consumers = new Set<EventConsumer>();
let producer: EventProducer;

beforeAll(async () => {
  trace.setGlobalTracerProvider(new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter: spans })] }));
  producer = new EventProducer({ brokers, clientId: 'policy-int-test' });
  await producer.connect();
});
afterAll(async () => {
  await producer.disconnect();
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
  readonly directoryFile: string;
}

/** A unique tenant shaped like the demo: agent triage-bot (support, owned by dana), manager maria, support user sam. */
function newTenant(): Tenant {
  const tenant = uniqueName('tenant');
  const directoryFile = join(dir, `${tenant}.json`);
  const user = (id: string, role: string) => ({ id, tenant, role, roles: ['approver'], api_key_sha256: hashApiKey(`${tenant}-${id}`) });
  writeFileSync(
    directoryFile,
    JSON.stringify({
      agents: [{ id: 'triage-bot', tenant, role: 'support', owner: 'dana', api_key_sha256: hashApiKey(`${tenant}-bot`) }],
      users: [
        user('dana', 'manager'),
        user('maria', 'manager'),
        user('sam', 'support'),
        // The HTTP door's callers: an admin of this tenant, an admin of another tenant, a service.
        { id: 'adam', tenant, role: 'it', roles: ['admin'], api_key_sha256: hashApiKey(`${tenant}-adam`) },
        { id: 'otto', tenant: `${tenant}-other`, role: 'it', roles: ['admin'], api_key_sha256: hashApiKey(`${tenant}-otto`) },
      ],
      services: [{ id: 'writ-gateway', api_key_sha256: hashApiKey(`${tenant}-service`) }],
    }),
  );
  return { tenant, groupId: `writ.policy.${uniqueName('test')}`, directoryFile };
}

function configFor(t: Tenant, env: Record<string, string> = {}) {
  return loadServiceConfig(26082, policyConfigSpec, {
    KAFKA_BROKERS: brokers.join(','),
    KAFKA_GROUP_ID: t.groupId,
    WRIT_POLICY_DIR: join(root, 'policies'),
    WRIT_TOOLS_DIR: join(root, 'tools'),
    WRIT_DIRECTORY_FILE: t.directoryFile,
    WRIT_WARRANT_SIGNING_KEY: keyPath,
    WRIT_POLICY_TENANTS: t.tenant,
    ...env,
  });
}

function rootModule(t: Tenant, env: Record<string, string> = {}) {
  @Module({ imports: [PolicyModule], providers: [{ provide: SERVICE_CONFIG, useValue: configFor(t, env) }], exports: [SERVICE_CONFIG] })
  class TestRoot {}
  Object.defineProperty(TestRoot, 'name', { value: `TestRoot${uniqueName('policy')}` });
  return { module: TestRoot, global: true };
}

async function boot(t: Tenant, env: Record<string, string> = {}): Promise<INestApplicationContext> {
  const app = await NestFactory.createApplicationContext(rootModule(t, env), { logger: ['error', 'warn'] });
  apps.add(app);
  return app;
}

/** Everything the policy service publishes for the tenant, as it arrives. */
async function collect(t: Tenant): Promise<Output[]> {
  const seen: Output[] = [];
  const consumer = new EventConsumer({
    brokers,
    groupId: uniqueName('policy_test_reader'),
    topics: [TOPICS.policy],
    dlqTopic: 'writ.policy.dlq',
    handler: (event) => {
      const payload = event.payload as { meta: { tenant_id: string; producer: string } };
      if (payload.meta.tenant_id === t.tenant && payload.meta.producer.startsWith('policy@')) seen.push(event as Output);
    },
  });
  consumers.add(consumer);
  await consumer.start();
  return seen;
}

function admitted(t: Tenant, tool: string, version: string, args: Record<string, unknown>): ActionAdmitted {
  const run = uniqueName('run');
  return {
    meta: newMetadata({ tenant_id: t.tenant, run_id: run, action_id: uniqueName('action'), producer: 'planner@0.1.0' }),
    agent_id: 'triage-bot',
    tool,
    tool_version: version,
    arguments_json: canonicalJson(args),
    args_sha256: sha256Canonical(args),
    run_stats: { steps: 1, spend_micros: 0, currency: 'USD', tool_calls_in_window: 0 },
  };
}

function submission(action: ActionAdmitted, approver: string, verdict: 'approve' | 'deny' = 'approve'): ApprovalSubmitted {
  return {
    meta: newMetadata({ tenant_id: action.meta.tenant_id, run_id: action.meta.run_id, action_id: action.meta.action_id, producer: 'gateway@0.1.0' }),
    approver_id: approver,
    approver_role: 'manager',
    verdict,
    comment: null,
  };
}

const refund = (cents: number) => ({ ticket_id: 'T-1001', customer_id: 'C-1', amount_cents: cents, ticket_tags: ['refund_approved'], reason: 'duplicate charge' });

function decisionsOf(seen: readonly Output[], action: ActionAdmitted): PolicyDecided[] {
  return seen.flatMap((o) => (o.type === 'PolicyDecided' && o.payload.meta.action_id === action.meta.action_id ? [o.payload] : []));
}

function recordsOf(seen: readonly Output[], action: ActionAdmitted): ApprovalRecorded[] {
  return seen.flatMap((o) => (o.type === 'ApprovalRecorded' && o.payload.meta.action_id === action.meta.action_id ? [o.payload] : []));
}

async function decided(seen: readonly Output[], action: ActionAdmitted, count = 1): Promise<PolicyDecided[]> {
  return waitFor(() => (decisionsOf(seen, action).length >= count ? decisionsOf(seen, action) : undefined), {
    timeoutMs: 20_000,
    what: () => `${count} PolicyDecided for ${action.meta.action_id}`,
  });
}

function checkWarrant(decision: PolicyDecided, action: ActionAdmitted) {
  const warrant = warrantOfDecision(decision);
  if (warrant === undefined) throw new Error('no warrant');
  return verifyWarrant(
    warrant,
    {
      action_id: action.meta.action_id ?? '',
      tenant: action.meta.tenant_id,
      agent: action.agent_id,
      tool: action.tool,
      tool_version: action.tool_version,
      args_sha256: action.args_sha256,
    },
    keyring,
  );
}

describe('policy service on Kafka', () => {
  it('allows a small refund with a warrant that verifyWarrant accepts, in a policy.decide span', async () => {
    const t = newTenant();
    const seen = await collect(t);
    await boot(t);
    const action = admitted(t, 'refunds.issue', '1.2.0', refund(2_500));
    const before = Date.now();
    await producer.send([writEvent('ActionAdmitted', action)]);
    const [decision] = await decided(seen, action);
    expect(decision).toMatchObject({ decision: 'allow', determining_policies: ['refund-up-to-100-support'], errors: [] });
    expect(decision?.meta.causation_id).toBe(action.meta.event_id);
    expect(decision?.warrant?.not_after).toBeGreaterThanOrEqual(before + 60_000);
    expect(checkWarrant(decision as PolicyDecided, action).ok).toBe(true);
    // A warrant for other arguments is refused.
    const other = { ...action, args_sha256: sha256Canonical(refund(9_999)) };
    expect(checkWarrant(decision as PolicyDecided, other)).toMatchObject({ ok: false, error: { code: 'WARRANT_MISMATCH' } });

    const span = await waitFor(
      () => spans.getFinishedSpans().find((s) => s.name === 'policy.decide' && s.attributes[WRIT_ATTR.actionId] === action.meta.action_id),
      { timeoutMs: 5_000, what: 'the policy.decide span' },
    );
    expect(span.attributes[WRIT_ATTR.decision]).toBe('allow');
    expect(span.attributes[WRIT_ATTR.determiningPolicies]).toEqual(['refund-up-to-100-support']);
    expect(decision?.meta.trace?.traceparent).toContain(span.spanContext().traceId);
  });

  it('denies deleting a customer, naming customer-delete-forbidden', async () => {
    const t = newTenant();
    const seen = await collect(t);
    await boot(t);
    const action = admitted(t, 'customers.delete', '1.0.0', { customer_id: 'C-7' });
    await producer.send([writEvent('ActionAdmitted', action)]);
    const [decision] = await decided(seen, action);
    expect(decision).toMatchObject({ decision: 'deny', determining_policies: ['customer-delete-forbidden'], warrant: null });
  });

  it("refund over $100: approval_required; the owner's approval is refused; a manager's allows with a warrant", async () => {
    const t = newTenant();
    const seen = await collect(t);
    await boot(t);
    const action = admitted(t, 'refunds.issue', '1.2.0', refund(25_000));
    await producer.send([writEvent('ActionAdmitted', action)]);
    const [pending] = await decided(seen, action);
    expect(pending).toMatchObject({
      decision: 'approval_required',
      determining_policies: ['refund-over-100-needs-manager-approval'],
      approval_requirement: { policy_id: 'refund-over-100-needs-manager-approval', count: 1, roles: ['manager'] },
      warrant: null,
    });

    const byOwner = submission(action, 'dana');
    await producer.send([writEvent('ApprovalSubmitted', byOwner)]);
    const [refused] = await waitFor(() => (recordsOf(seen, action).length >= 1 ? recordsOf(seen, action) : undefined), {
      timeoutMs: 20_000,
      what: "the owner's ApprovalRecorded",
    });
    expect(refused).toMatchObject({ approver_id: 'dana', accepted: false, determining_policies: ['owner-may-not-approve'] });
    expect(refused?.meta.causation_id).toBe(byOwner.meta.event_id);
    expect(refused?.reason).toContain('owner-may-not-approve');

    const byManager = submission(action, 'maria');
    await producer.send([writEvent('ApprovalSubmitted', byManager)]);
    const decisions = await decided(seen, action, 2);
    const allowed = decisions[1] as PolicyDecided;
    expect(allowed).toMatchObject({
      decision: 'allow',
      determining_policies: ['refund-over-100-needs-manager-approval'],
      approvals: [{ approver_id: 'maria', role: 'manager' }],
    });
    expect(allowed.meta.causation_id).toBe(byManager.meta.event_id);
    expect(checkWarrant(allowed, action).ok).toBe(true);
    expect(recordsOf(seen, action)[1]).toMatchObject({ approver_id: 'maria', accepted: true, determining_policies: ['managers-approve-in-own-tenant'] });
    // The owner's refusal never produced an allow of its own.
    expect(decisions.filter((d) => d.decision === 'allow')).toHaveLength(1);
  });

  it('a redelivered admission and a restart decide nothing twice; a pending approval survives the restart', async () => {
    const t = newTenant();
    const seen = await collect(t);
    const first = await boot(t);
    const small = admitted(t, 'refunds.issue', '1.2.0', refund(500));
    const large = admitted(t, 'refunds.issue', '1.2.0', refund(30_000));
    await producer.send([writEvent('ActionAdmitted', small), writEvent('ActionAdmitted', large)]);
    await decided(seen, small);
    await decided(seen, large);
    // The very same event again, as a redelivery would bring it.
    await producer.send([writEvent('ActionAdmitted', small)]);

    await first.close();
    apps.delete(first);
    // Restart with a new group: every admission is delivered again from the start of the topic.
    const restarted = await boot({ ...t, groupId: `${t.groupId}.restarted` });
    const engine = restarted.get(PdpEngine);
    expect(engine.state.actions.get(large.meta.action_id ?? '')?.decision).toBe('approval_required');

    await producer.send([writEvent('ApprovalSubmitted', submission(large, 'maria'))]);
    const [, allowed] = await decided(seen, large, 2);
    expect(allowed).toMatchObject({ decision: 'allow' });
    expect(checkWarrant(allowed as PolicyDecided, large).ok).toBe(true);
    // A marker decision after everything above: once it is seen, anything else would have been too.
    const marker = admitted(t, 'customers.delete', '1.0.0', { customer_id: 'C-1' });
    await producer.send([writEvent('ActionAdmitted', marker)]);
    await decided(seen, marker);
    expect(decisionsOf(seen, small)).toHaveLength(1);
    expect(decisionsOf(seen, large).map((d) => d.decision)).toEqual(['approval_required', 'allow']);
  });

  // Two instances split the partitions. One that gains a partition after boot must read it again:
  // the other decided on it meanwhile, and an approval for such an action would find nothing here.
  it('two instances: when one stops, the other takes its partitions over and approves what it had held', async () => {
    const t = newTenant();
    const seen = await collect(t);
    const b = await boot(t, { WRIT_INSTANCE_ID: 'b' });
    const a = await boot(t, { WRIT_INSTANCE_ID: 'a' });
    const [pa, pb] = [a.get(PdpEngine), b.get(PdpEngine)];
    await waitFor(() => pa.ownedPartitions().length > 0 && pb.ownedPartitions().length > 0, {
      timeoutMs: 30_000,
      what: () => `the partitions split: a ${pa.ownedPartitions().join(',')}, b ${pb.ownedPartitions().join(',')}`,
    });
    const held = pa.ownedPartitions();
    // Twelve runs land on every partition; each refund needs a manager's approval.
    const actions = Array.from({ length: 12 }, () => admitted(t, 'refunds.issue', '1.2.0', refund(25_000)));
    await producer.send(actions.map((action) => writEvent('ActionAdmitted', action)));
    for (const action of actions) expect((await decided(seen, action))[0]?.decision).toBe('approval_required');

    await a.close();
    apps.delete(a);
    // A static member that stopped gives its partitions up after the session timeout (10 s).
    await waitFor(() => held.every((partition) => pb.ownedPartitions().includes(partition)), { timeoutMs: 30_000, what: () => `b owning ${held.join(',')} (owns ${pb.ownedPartitions().join(',')})` });
    await producer.send(actions.map((action) => writEvent('ApprovalSubmitted', submission(action, 'maria'))));
    for (const action of actions) {
      const [, allowed] = await decided(seen, action, 2);
      expect(allowed, action.meta.action_id ?? '').toMatchObject({ decision: 'allow', approvals: [{ approver_id: 'maria', role: 'manager' }] });
    }
  }, 90_000);

  it("an authorized manager's denial denies the pending action, naming the approver", async () => {
    const t = newTenant();
    const seen = await collect(t);
    await boot(t);
    const action = admitted(t, 'refunds.issue', '1.2.0', refund(12_000));
    await producer.send([writEvent('ActionAdmitted', action)]);
    await decided(seen, action);
    await producer.send([writEvent('ApprovalSubmitted', submission(action, 'maria', 'deny'))]);
    const [, denied] = await decided(seen, action, 2);
    expect(denied).toMatchObject({ decision: 'deny', denied_by: 'maria', determining_policies: ['managers-approve-in-own-tenant'], warrant: null });
  });
});

describe('policy service HTTP decision endpoint', () => {
  it('POST /v1/decide answers allow / deny / approval_required to an admin of the tenant or a service, and 400 naming the field', async () => {
    const t = newTenant();
    const app = await NestFactory.create<NestFastifyApplication>(rootModule(t), new FastifyAdapter(), { logger: ['error', 'warn'] });
    apps.add(app);
    await app.listen(0, '127.0.0.1');
    const address = app.getHttpServer().address() as { port: number };
    const decide = async (body: unknown, key: string | null = `${t.tenant}-adam`) => {
      const response = await fetch(`http://127.0.0.1:${address.port}/v1/decide`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(key === null ? {} : { authorization: `Bearer ${key}` }) },
        body: JSON.stringify(body),
      });
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    };
    const request = (tool: { name: string; version: string; effect: string; risk: string }, args: unknown) => ({
      tenant: t.tenant,
      agent: { id: 'triage-bot', role: 'support', owner: 'dana' },
      tool,
      arguments: args,
      runStats: { steps: 1, spendMicros: 0, callsInWindow: 0 },
    });
    const refundTool = { name: 'refunds.issue', version: '1.2.0', effect: 'write', risk: 'medium' };
    expect(await decide(request(refundTool, refund(100)))).toMatchObject({ status: 200, body: { decision: 'allow', determiningPolicies: ['refund-up-to-100-support'] } });
    expect(await decide(request(refundTool, refund(20_000)))).toMatchObject({
      status: 200,
      body: { decision: 'approval_required', approval: { policyId: 'refund-over-100-needs-manager-approval', count: 1, roles: ['manager'] } },
    });
    expect(await decide(request({ name: 'customers.delete', version: '1.0.0', effect: 'destructive', risk: 'high' }, {}))).toMatchObject({
      status: 200,
      body: { decision: 'deny', determiningPolicies: ['customer-delete-forbidden'] },
    });
    const bad = await decide(request(refundTool, { ...refund(100), amount_cents: '100' }));
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ error: { code: 'POLICY_REQUEST_INVALID', field: 'arguments.amount_cents' } });
    expect(bad.body).not.toHaveProperty('warrant');

    // The door: a service decides for any tenant; no key 401, an unknown key 401, a role other
    // than admin 403, an admin of another tenant 404 (nothing decided).
    expect(await decide(request(refundTool, refund(100)), `${t.tenant}-service`)).toMatchObject({ status: 200, body: { decision: 'allow' } });
    expect(await decide(request(refundTool, refund(100)), null)).toMatchObject({ status: 401, body: { error: { code: 'UNAUTHENTICATED', field: 'authorization' } } });
    expect(await decide(request(refundTool, refund(100)), 'no-such-key')).toMatchObject({ status: 401 });
    expect(await decide(request(refundTool, refund(100)), `${t.tenant}-maria`)).toMatchObject({ status: 403, body: { error: { code: 'FORBIDDEN' } } });
    const foreign = await decide(request(refundTool, refund(100)), `${t.tenant}-otto`);
    expect(foreign).toMatchObject({ status: 404, body: { error: { code: 'NOT_FOUND', field: 'tenant' } } });
    expect(foreign.body).not.toHaveProperty('decision');
  });
});

describe('policy service boot', () => {
  function brokenPolicyDir(): string {
    const broken = mkdtempSync(join(dir, 'policies-'));
    cpSync(join(root, 'policies'), broken, { recursive: true });
    writeFileSync(join(broken, 'refund-up-to-100-support.cedar'), '@id("refund-up-to-100-support")\npermit (principal, action, resource) when { context.nope };\n');
    return broken;
  }

  it('refuses to start in-process on an invalid policy set, naming the file and policy', async () => {
    const t = newTenant();
    const booting = NestFactory.createApplicationContext(rootModule(t, { WRIT_POLICY_DIR: brokenPolicyDir() }), { logger: false, abortOnError: false });
    await expect(booting).rejects.toMatchObject({ code: 'POLICY_SET_INVALID', message: expect.stringContaining('refund-up-to-100-support.cedar') });
  });

  it('the service process exits non-zero on an invalid policy set, naming the file', async () => {
    const entry = join(root, 'services/policy/dist/main.js');
    expect(existsSync(entry), `${entry} is missing: build first (npx tsc -b tsconfig.build.json)`).toBe(true);
    const t = newTenant();
    const child = spawn(process.execPath, [entry], {
      cwd: root,
      env: {
        PATH: process.env['PATH'] ?? '',
        KAFKA_BROKERS: brokers.join(','),
        WRIT_POLICY_DIR: brokenPolicyDir(),
        WRIT_DIRECTORY_FILE: t.directoryFile,
        WRIT_WARRANT_SIGNING_KEY: keyPath,
        HTTP_PORT: '1',
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(78);
    expect(stderr).toContain('POLICY_SET_INVALID');
    expect(stderr).toContain('refund-up-to-100-support.cedar');
  });
});
