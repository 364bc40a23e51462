import 'reflect-metadata';
import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
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
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { EventConsumer, EventProducer, writEvent } from '@writ/bus';
import { TOPICS, newMetadata } from '@writ/contracts';
import type { ActionAdmitted, ActionCompleted, ActionProposed, ApprovalRecorded, ApprovalSubmitted, PolicyDecided } from '@writ/contracts';
import { canonicalJson, createKeyring, generateSigningKey, sha256Canonical } from '@writ/crypto';
import { hashApiKey } from '@writ/directory';
import { WritError } from '@writ/errors';
import { verifyWarrant } from '@writ/policy-engine';
import { runKey, warrantOfDecision } from '@writ/policy-service-core';
import { SERVICE_CONFIG, loadServiceConfig } from '@writ/runtime';
import { WRIT_ATTR } from '@writ/telemetry';
import { startWebhookReceiver, testKafkaBrokers, uniqueName, waitFor } from '@writ/testing';
import { policyConfigSpec } from './config.ts';
import { PdpEngine } from './pdp.engine.ts';
import { loadWebhooks } from '@writ/runtime';
import { PolicyModule } from './policy.module.ts';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const brokers = testKafkaBrokers();
const dir = mkdtempSync(join(tmpdir(), 'writ-policy-'));
const key = generateSigningKey('warrant-test');
const keyPath = join(dir, 'warrant-test.pem');
writeFileSync(keyPath, key.exportPrivateKeyPem(), { mode: 0o600 });
const keyring = createKeyring({ [key.keyId]: key.publicKey });
const spans = new InMemorySpanExporter();
/** The repository's tools plus a later refunds.issue (1.3.0): a proposal without a version resolves to it. */
const toolsWithLatest = mkdtempSync(join(dir, 'tools-'));
cpSync(join(root, 'tools'), toolsWithLatest, { recursive: true });
writeFileSync(
  join(toolsWithLatest, 'refunds.issue@1.3.0.json'),
  JSON.stringify({ ...(JSON.parse(readFileSync(join(root, 'tools/refunds.issue@1.2.0.json'), 'utf8')) as Record<string, unknown>), version: '1.3.0' }),
);

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
        user('diane', 'director'),
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
    WRIT_KAFKA_BROKERS: brokers.join(','),
    WRIT_KAFKA_GROUP_ID: t.groupId,
    WRIT_POLICY_DIR: join(root, 'policies'),
    WRIT_POLICY_BOOTSTRAP: 'differs',
    WRIT_TOOLS_DIR: join(root, 'tools'),
    WRIT_DIRECTORY_FILE: t.directoryFile,
    WRIT_POLICY_SIGNING_KEY: keyPath,
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
      const { meta } = event.payload;
      if (meta.tenant_id === t.tenant && meta.producer.startsWith('policy@')) seen.push(event as Output);
    },
  });
  consumers.add(consumer);
  await consumer.start();
  return seen;
}

/** An agent's proposal, as the gateway publishes it (a new run unless one is given). */
function proposed(t: Tenant, tool: string, version: string | null, args: Record<string, unknown>, run = uniqueName('run')): ActionProposed {
  const idempotencyKey = uniqueName('key');
  return {
    meta: newMetadata({ tenant_id: t.tenant, run_id: run, action_id: uniqueName('action'), producer: 'gateway@0.1.0' }),
    agent_id: 'triage-bot',
    tool,
    tool_version: version,
    arguments_json: canonicalJson(args),
    args_sha256: sha256Canonical(args),
    reason: 'duplicate charge',
    idempotency_key: idempotencyKey,
    mode: 'live',
    provenance: null,
  };
}

function submission(action: ActionProposed, approver: string, verdict: 'approve' | 'deny' = 'approve'): ApprovalSubmitted {
  return {
    meta: newMetadata({ tenant_id: action.meta.tenant_id, run_id: action.meta.run_id, action_id: action.meta.action_id, producer: 'gateway@0.1.0' }),
    approver_id: approver,
    approver_role: 'manager',
    verdict,
    comment: null,
  };
}

/** The refund-over-100 permit's @reason (policies/), carried to the approver. */
const REASON_100 = "Refunds over $100 need a manager who is not the agent's owner.";

const refund = (cents: number) => ({
  ticket_id: 'T-1001',
  customer_id: 'C-1',
  amount_cents: cents,
  ticket_tags: ['refund_approved'],
  reason: 'duplicate charge',
});

function decisionsOf(seen: readonly Output[], action: { readonly meta: { readonly action_id: string | null } }): PolicyDecided[] {
  return seen.flatMap((o) => (o.type === 'PolicyDecided' && o.payload.meta.action_id === action.meta.action_id ? [o.payload] : []));
}

function recordsOf(seen: readonly Output[], action: ActionProposed): ApprovalRecorded[] {
  return seen.flatMap((o) => (o.type === 'ApprovalRecorded' && o.payload.meta.action_id === action.meta.action_id ? [o.payload] : []));
}

async function decided(seen: readonly Output[], action: ActionProposed, count = 1): Promise<PolicyDecided[]> {
  return waitFor(() => (decisionsOf(seen, action).length >= count ? decisionsOf(seen, action) : undefined), {
    timeoutMs: 20_000,
    what: () => `${count} PolicyDecided for ${action.meta.action_id}`,
  });
}

/** A booted PDP of a new tenant, what it publishes, and `size` proposals of one run to send. */
async function bootWithBurst(size: number): Promise<{ seen: Output[]; burst: ActionProposed[] }> {
  const t = newTenant();
  const seen = await collect(t);
  await boot(t);
  const run = uniqueName('run');
  return { seen, burst: Array.from({ length: size }, (_, i) => proposed(t, 'tickets.get', '1.0.0', { ticket_id: `T-${i}` }, run)) };
}

/** The warrant checked against the action with the tool version the planner resolves (the repository's tools: 1.2.0 for a refund). */
function checkWarrant(decision: PolicyDecided, action: ActionProposed, toolVersion = action.tool_version ?? '1.2.0') {
  const warrant = warrantOfDecision(decision);
  if (warrant === undefined) throw new Error('no warrant');
  return verifyWarrant(
    warrant,
    {
      action_id: action.meta.action_id ?? '',
      tenant: action.meta.tenant_id,
      agent: action.agent_id,
      tool: action.tool,
      tool_version: toolVersion,
      args_sha256: action.args_sha256,
    },
    keyring,
    Date.now(),
  );
}

describe('policy service on Kafka', () => {
  it('allows a small refund with a warrant that verifyWarrant accepts, in a policy.decide span', async () => {
    const t = newTenant();
    const seen = await collect(t);
    await boot(t);
    const action = proposed(t, 'refunds.issue', '1.2.0', refund(2_500));
    const before = Date.now();
    await producer.send([writEvent('ActionProposed', action)]);
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
    const action = proposed(t, 'customers.delete', '1.0.0', { customer_id: 'C-7' });
    await producer.send([writEvent('ActionProposed', action)]);
    const [decision] = await decided(seen, action);
    expect(decision).toMatchObject({ decision: 'deny', determining_policies: ['customer-delete-forbidden'], warrant: null });
  });

  it("refund over $100: approval_required; the owner's approval is refused; a manager's allows with a warrant", async () => {
    const t = newTenant();
    const seen = await collect(t);
    await boot(t);
    const action = proposed(t, 'refunds.issue', '1.2.0', refund(25_000));
    await producer.send([writEvent('ActionProposed', action)]);
    const [pending] = await decided(seen, action);
    expect(pending).toMatchObject({
      decision: 'approval_required',
      determining_policies: ['refund-over-100-needs-manager-approval'],
      approval_requirement: {
        policy_id: 'refund-over-100-needs-manager-approval',
        count: 1,
        roles: ['manager'],
        expires_in_ms: 4 * 3_600_000,
        reason: REASON_100,
      },
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

  it('a redelivered proposal and a restart decide nothing twice nor count it twice; a pending approval survives the restart with its statistics', async () => {
    const t = newTenant();
    const seen = await collect(t);
    const first = await boot(t);
    const run = uniqueName('run');
    const small = proposed(t, 'refunds.issue', '1.2.0', refund(500), run);
    const large = proposed(t, 'refunds.issue', '1.2.0', refund(30_000), run);
    await producer.send([writEvent('ActionProposed', small), writEvent('ActionProposed', large)]);
    await decided(seen, small);
    const [pending] = await decided(seen, large);
    expect(pending?.run_stats).toEqual({ steps: 1, spend_micros: 0, currency: 'USD', tool_calls_in_window: 1 });
    // The very same event again, as a redelivery would bring it.
    await producer.send([writEvent('ActionProposed', small)]);

    await first.close();
    apps.delete(first);
    // Restart with a new group: every proposal is delivered again from the start of the topic.
    const restarted = await boot({ ...t, groupId: `${t.groupId}.restarted` });
    const engine = restarted.get(PdpEngine);
    expect(engine.state.actions.get(large.meta.action_id ?? '')?.decision).toBe('approval_required');
    expect(engine.state.actions.get(large.meta.action_id ?? '')?.run_stats).toEqual(pending?.run_stats);
    expect(engine.state.runs.get(runKey(t.tenant, run))?.steps).toBe(2);

    await producer.send([writEvent('ApprovalSubmitted', submission(large, 'maria'))]);
    const [, allowed] = await decided(seen, large, 2);
    expect(allowed).toMatchObject({ decision: 'allow', run_stats: pending?.run_stats });
    expect(checkWarrant(allowed as PolicyDecided, large).ok).toBe(true);
    // A marker decision in the same run after everything above: once it is seen, anything else
    // would have been too; it counts the run's two proposals once each.
    const marker = proposed(t, 'customers.delete', '1.0.0', { customer_id: 'C-1' }, run);
    await producer.send([writEvent('ActionProposed', marker)]);
    const [denied] = await decided(seen, marker);
    expect(denied?.run_stats).toEqual({ steps: 2, spend_micros: 0, currency: 'USD', tool_calls_in_window: 0 });
    expect(decisionsOf(seen, small)).toHaveLength(1);
    expect(decisionsOf(seen, large).map((d) => d.decision)).toEqual(['approval_required', 'allow']);
  });

  it('decides on the proposal with the run statistics it counts (spend from ActionCompleted), binds the resolved version, and decides nothing on an unknown tool or an ActionAdmitted', async () => {
    const t = newTenant();
    const seen = await collect(t);
    const app = await boot(t, { WRIT_TOOLS_DIR: toolsWithLatest });
    const engine = app.get(PdpEngine);
    const run = uniqueName('run');
    // The run's start travels with its proposals now; the PDP reads it and leaves it.
    await producer.send([
      writEvent('RunStarted', {
        meta: newMetadata({ tenant_id: t.tenant, run_id: run, producer: 'gateway@0.1.0' }),
        agent_id: 'triage-bot',
        goal: 'refund a duplicate charge',
        limits: { max_steps: 10, max_tool_calls: 10, max_cost_micros: 10_000_000, wall_clock_ms: 3_600_000, currency: 'USD' },
        mode: 'live',
      }),
    ]);
    const first = proposed(t, 'refunds.issue', '1.2.0', refund(500), run);
    await producer.send([writEvent('ActionProposed', first)]);
    const [one] = await decided(seen, first);
    expect(one).toMatchObject({ decision: 'allow', run_stats: { steps: 0, spend_micros: 0, currency: 'USD', tool_calls_in_window: 0 } });
    expect(one?.warrant?.tool_version).toBe('1.2.0');

    // An admission as the planner used to ask for a decision (same run, so read before the
    // ActionCompleted behind it): no decision comes of it.
    const admission: ActionAdmitted = {
      meta: newMetadata({ tenant_id: t.tenant, run_id: run, action_id: uniqueName('action'), producer: 'planner@0.1.0' }),
      agent_id: 'triage-bot',
      tool: 'refunds.issue',
      tool_version: '1.2.0',
      arguments_json: canonicalJson(refund(100)),
      args_sha256: sha256Canonical(refund(100)),
      run_stats: { steps: 0, spend_micros: 0, currency: 'USD', tool_calls_in_window: 0 },
    };
    const ended: ActionCompleted = {
      meta: newMetadata({ tenant_id: t.tenant, run_id: run, action_id: first.meta.action_id, producer: 'planner@0.1.0' }),
      status: 'completed',
      reason: '',
      reason_code: 'SUCCEEDED',
      result_json: null,
      result_ref: null,
      cost_micros: 1_500_000,
      currency: 'USD',
    };
    await producer.send([writEvent('ActionAdmitted', admission), writEvent('ActionCompleted', ended)]);
    // ActionCompleted and proposals travel on two topics: wait until the spend is read.
    await waitFor(() => engine.state.runs.get(runKey(t.tenant, run))?.spend_micros === 1_500_000 || undefined, {
      timeoutMs: 20_000,
      what: 'the spend of the run',
    });

    // No version: the registry's latest, bound in the warrant as the planner resolves it.
    const latest = proposed(t, 'refunds.issue', null, refund(700), run);
    const unknown = proposed(t, 'wire.transfer', null, { amount_cents: 1 }, run);
    const marker = proposed(t, 'customers.delete', '1.0.0', { customer_id: 'C-1' }, run);
    await producer.send([writEvent('ActionProposed', latest), writEvent('ActionProposed', unknown), writEvent('ActionProposed', marker)]);
    const [two] = await decided(seen, latest);
    expect(two).toMatchObject({ decision: 'allow', run_stats: { steps: 1, spend_micros: 1_500_000, currency: 'USD', tool_calls_in_window: 1 } });
    expect(two?.warrant?.tool_version).toBe('1.3.0');
    expect(checkWarrant(two as PolicyDecided, latest, '1.3.0').ok).toBe(true);
    expect(checkWarrant(two as PolicyDecided, latest, '1.2.0').ok).toBe(false);
    // The marker comes after the unknown tool on the same partition: it counts it as a step, and
    // by then the unknown tool would have had its decision.
    const [three] = await decided(seen, marker);
    expect(three?.run_stats).toMatchObject({ steps: 3, tool_calls_in_window: 0 });
    expect(decisionsOf(seen, unknown)).toEqual([]);
    expect(decisionsOf(seen, admission)).toEqual([]);
    expect(engine.state.actions.get(admission.meta.action_id ?? '')).toBeUndefined();
  });

  it('a burst of one run is decided in order, each once, with the statistics of the proposals before it (decisions in flight together)', async () => {
    const { seen, burst } = await bootWithBurst(40);
    await producer.send(burst.map((p) => writEvent('ActionProposed', p)));
    const decisions = await waitFor(() => (burst.every((p) => decisionsOf(seen, p).length > 0) ? burst.map((p) => decisionsOf(seen, p)) : undefined), {
      timeoutMs: 30_000,
      what: 'a decision for each of the 40 proposals',
    });
    expect(decisions.every((d) => d.length === 1)).toBe(true);
    // The i-th proposal of the run saw the i before it: decided in offset order on the state of its turn.
    expect(decisions.map((d) => d[0]?.run_stats?.steps)).toEqual(burst.map((_, i) => i));
    expect(decisions.map((d) => d[0]?.decision)).toEqual(burst.map(() => 'allow'));
  });

  it('a decision whose send failed is read back, decided again and sent once; the decisions made meanwhile stand', async () => {
    const { seen, burst } = await bootWithBurst(6);
    const [victim] = burst;
    // The broker "refuses" the first send of the first proposal's decision (a retriable failure, as a
    // leader change would give): the PDP has folded that decision already, with the others' after it.
    const send = EventProducer.prototype.send;
    let refused = 0;
    const spy = vi.spyOn(EventProducer.prototype, 'send').mockImplementation(function (this: EventProducer, events) {
      if (refused === 0 && events.some((e) => e.type === 'PolicyDecided' && e.payload.meta.action_id === victim?.meta.action_id)) {
        refused += 1;
        return Promise.reject(new WritError('KAFKA_UNREACHABLE', 'injected: the broker did not take the decision', { retriable: true }));
      }
      return send.call(this, events);
    });
    try {
      await producer.send(burst.map((p) => writEvent('ActionProposed', p)));
      const decisions = await waitFor(() => (burst.every((p) => decisionsOf(seen, p).length > 0) ? burst.map((p) => decisionsOf(seen, p)) : undefined), {
        timeoutMs: 30_000,
        what: 'a decision for each proposal, the refused one included',
      });
      expect(refused).toBe(1);
      // Nothing lost, nothing twice (a late duplicate would come within the pause).
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      expect(burst.map((p) => decisionsOf(seen, p).length)).toEqual(burst.map(() => 1));
      expect(decisions.map((d) => d[0]?.decision)).toEqual(burst.map(() => 'allow'));
    } finally {
      spy.mockRestore();
    }
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
    const actions = Array.from({ length: 12 }, () => proposed(t, 'refunds.issue', '1.2.0', refund(25_000)));
    await producer.send(actions.map((action) => writEvent('ActionProposed', action)));
    for (const action of actions) expect((await decided(seen, action))[0]?.decision).toBe('approval_required');

    await a.close();
    apps.delete(a);
    // A static member that stopped gives its partitions up after the session timeout (10 s).
    await waitFor(() => held.every((partition) => pb.ownedPartitions().includes(partition)), {
      timeoutMs: 30_000,
      what: () => `b owning ${held.join(',')} (owns ${pb.ownedPartitions().join(',')})`,
    });
    await producer.send(actions.map((action) => writEvent('ApprovalSubmitted', submission(action, 'maria'))));
    for (const action of actions) {
      const [, allowed] = await decided(seen, action, 2);
      expect(allowed, action.meta.action_id ?? '').toMatchObject({ decision: 'allow', approvals: [{ approver_id: 'maria', role: 'manager' }] });
    }
  }, 90_000);

  it('two instances: a fact across runs counts the decisions of both (each follows every partition of writ.policy.v1)', async () => {
    const t = newTenant();
    // The repository's policies with the demo's quota: at most 3 refunds per customer per day.
    const policies = mkdtempSync(join(dir, 'policies-'));
    cpSync(join(root, 'policies'), policies, { recursive: true });
    cpSync(join(root, 'deploy/demo/policies'), policies, { recursive: true });
    const stream = uniqueName('stream');
    const seen: { decided: PolicyDecided; partition: number }[] = [];
    const reader = new EventConsumer({
      brokers,
      groupId: uniqueName('policy_test_partitions'),
      topics: [TOPICS.policy],
      dlqTopic: 'writ.policy.dlq',
      handler: (event, ctx) => {
        if (event.type === 'PolicyDecided' && event.payload.meta.tenant_id === t.tenant) seen.push({ decided: event.payload, partition: ctx.partition });
      },
    });
    consumers.add(reader);
    await reader.start();
    const env = { WRIT_POLICY_DIR: policies, WRIT_POLICY_STREAM: stream };
    const b = await boot(t, { ...env, WRIT_INSTANCE_ID: 'b' });
    const a = await boot(t, { ...env, WRIT_INSTANCE_ID: 'a' });
    const [pa, pb] = [a.get(PdpEngine), b.get(PdpEngine)];
    await waitFor(() => pa.ownedPartitions().length > 0 && pb.ownedPartitions().length > 0, {
      timeoutMs: 30_000,
      what: () => `the partitions split: a ${pa.ownedPartitions().join(',')}, b ${pb.ownedPartitions().join(',')}`,
    });
    const of = (action: ActionProposed) =>
      waitFor(() => seen.find((s) => s.decided.meta.action_id === action.meta.action_id), { timeoutMs: 20_000, what: 'the decision' });
    // Three refunds to one customer, each in a run of its own (wherever its partition is): allowed.
    const allowed = [];
    for (let i = 0; i < 3; i++) {
      const action = proposed(t, 'refunds.issue', '1.2.0', { ...refund(1_000 + i), customer_id: 'C-QUOTA' });
      await producer.send([writEvent('ActionProposed', action)]);
      allowed.push(await of(action));
    }
    expect(allowed.map((s) => s.decided.decision)).toEqual(['allow', 'allow', 'allow']);
    // Both instances hold the three, whichever of them decided each.
    await waitFor(() => pa.state.history.size >= 3 && pb.state.history.size >= 3, {
      timeoutMs: 20_000,
      what: () => `three decisions in both histories (a ${pa.state.history.size}, b ${pb.state.history.size})`,
    });
    // Twenty more, on every partition with near certainty: each denied, counting three.
    const more = Array.from({ length: 20 }, (_, i) => proposed(t, 'refunds.issue', '1.2.0', { ...refund(2_000 + i), customer_id: 'C-QUOTA' }));
    await producer.send(more.map((action) => writEvent('ActionProposed', action)));
    const denied = await Promise.all(more.map(of));
    for (const { decided } of denied) {
      expect(decided).toMatchObject({ decision: 'deny', determining_policies: ['at-most-3-refunds-per-customer-per-day'] });
      expect(JSON.parse(decided.request_json)).toMatchObject({ history: { refunds_to_customer_today: 3 } });
    }
    // The instance that decided fewer than three of the allowed ones denied some of the twenty: it counted the other's.
    const owner = (partition: number) => (pa.ownedPartitions().includes(partition) ? 'a' : 'b');
    const byA = allowed.filter((s) => owner(s.partition) === 'a').length;
    const lacking = byA === 3 ? 'b' : 'a';
    expect(denied.some((s) => owner(s.partition) === lacking)).toBe(true);
  }, 90_000);

  it("an authorized manager's denial denies the pending action, naming the approver", async () => {
    const t = newTenant();
    const seen = await collect(t);
    await boot(t);
    const action = proposed(t, 'refunds.issue', '1.2.0', refund(12_000));
    await producer.send([writEvent('ActionProposed', action)]);
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
    expect(await decide(request(refundTool, refund(100)))).toMatchObject({
      status: 200,
      body: { decision: 'allow', determiningPolicies: ['refund-up-to-100-support'] },
    });
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
    expect(await decide(request(refundTool, refund(100)), null)).toMatchObject({
      status: 401,
      body: { error: { code: 'UNAUTHENTICATED', field: 'authorization' } },
    });
    expect(await decide(request(refundTool, refund(100)), 'no-such-key')).toMatchObject({ status: 401 });
    expect(await decide(request(refundTool, refund(100)), `${t.tenant}-maria`)).toMatchObject({ status: 403, body: { error: { code: 'FORBIDDEN' } } });
    const foreign = await decide(request(refundTool, refund(100)), `${t.tenant}-otto`);
    expect(foreign).toMatchObject({ status: 404, body: { error: { code: 'NOT_FOUND', field: 'tenant' } } });
    expect(foreign.body).not.toHaveProperty('decision');
  });
});

/**
 * The tenant's webhook on loopback and the webhooks file naming it (its secret in
 * TEST_WEBHOOK_SECRET): the notifications it received, the first `refuse` of them answered 503.
 */
async function webhookReceiver(t: ReturnType<typeof newTenant>, secret: string, refuse = 0) {
  const receiver = await startWebhookReceiver({ refuse });
  const hooks = join(dir, `${t.tenant}-webhooks.json`);
  writeFileSync(hooks, JSON.stringify({ tenants: { [t.tenant]: { url: receiver.url, secret_env: 'TEST_WEBHOOK_SECRET' } } }));
  process.env['TEST_WEBHOOK_SECRET'] = secret;
  const close = async (): Promise<void> => {
    await receiver.close();
    delete process.env['TEST_WEBHOOK_SECRET'];
  };
  return { received: receiver.received, hooks, close };
}

describe('approval notifications to the tenant webhook', () => {
  it('posts a signed message when an approval is requested, decided or expired; a failed delivery is retried', async () => {
    const t = newTenant();
    const secret = `secret-${uniqueName('hook')}`;
    // The first delivery fails: the bus must try it again.
    const { received, hooks, close } = await webhookReceiver(t, secret, 1);
    try {
      const seen = await collect(t);
      await boot(t, { WRIT_POLICY_WEBHOOKS_FILE: hooks });

      const large = proposed(t, 'refunds.issue', '1.2.0', refund(25_000));
      const expiring = proposed(t, 'refunds.issue', '1.2.0', refund(30_000));
      await producer.send([writEvent('ActionProposed', large), writEvent('ActionProposed', expiring)]);
      await decided(seen, large);
      await producer.send([writEvent('ApprovalSubmitted', submission(large, 'maria'))]);
      await decided(seen, large, 2);
      const timedOut: ActionCompleted = {
        meta: newMetadata({ tenant_id: t.tenant, run_id: expiring.meta.run_id, action_id: expiring.meta.action_id, producer: 'planner@0.1.0' }),
        status: 'expired',
        reason: 'no approval in time',
        reason_code: 'APPROVAL_TIMEOUT',
        result_json: null,
        result_ref: null,
        cost_micros: 0,
        currency: 'USD',
      };
      await producer.send([writEvent('ActionCompleted', timedOut)]);

      await waitFor(() => received.length >= 4, { timeoutMs: 30_000, what: () => `4 notifications, got ${received.map((r) => r.event).join(', ')}` });
      const of = (action: ActionProposed, event: string) => received.filter((r) => r.event === event && r.body['action_id'] === action.meta.action_id);
      expect(of(large, 'approval.requested')).toHaveLength(1);
      expect(of(expiring, 'approval.requested')).toHaveLength(1);
      expect(of(large, 'approval.decided')).toHaveLength(1);
      expect(of(expiring, 'approval.expired')).toHaveLength(1);
      const [requested] = of(large, 'approval.requested');
      expect(requested?.body).toMatchObject({
        text: expect.stringContaining(`Approval requested: refunds.issue by triage-bot in ${t.tenant}`),
        tenant: t.tenant,
        policy: 'refund-over-100-needs-manager-approval',
        needs: { count: 1, roles: ['manager'] },
      });
      expect(of(large, 'approval.decided')[0]?.body).toMatchObject({ decision: 'allow', approvers: ['maria'] });
      // Every body is signed with the tenant's secret over "<t>.<body>".
      for (const r of received) {
        const [t0, v1] = r.signature.split(',');
        const stamp = t0?.replace('t=', '') ?? '';
        expect(v1).toBe(`v1=${createHmac('sha256', secret).update(`${stamp}.${r.text}`).digest('hex')}`);
        expect(r.text).not.toContain(secret);
      }
    } finally {
      await close();
    }
  });

  it("escalates an unanswered approval: the webhook is told once it is due, and a director's approval counts from then on, not before", async () => {
    const t = newTenant();
    // The repository's policies with the $100 refund escalating after 2 s instead of 30 min.
    const policies = mkdtempSync(join(dir, 'policies-'));
    cpSync(join(root, 'policies'), policies, { recursive: true });
    const permit = join(policies, 'refund-over-100-needs-manager-approval.cedar');
    writeFileSync(permit, readFileSync(permit, 'utf8').replace('@approval_escalate_after("30m")', '@approval_escalate_after("2s")'));
    const { received, hooks, close } = await webhookReceiver(t, `secret-${uniqueName('hook')}`);
    try {
      const seen = await collect(t);
      await boot(t, {
        WRIT_POLICY_WEBHOOKS_FILE: hooks,
        WRIT_POLICY_DIR: policies,
        WRIT_POLICY_STREAM: uniqueName('stream'),
        WRIT_POLICY_ESCALATION_CHECK_MS: '200',
      });

      const held = proposed(t, 'refunds.issue', '1.2.0', refund(15_000));
      const answered = proposed(t, 'refunds.issue', '1.2.0', refund(16_000));
      await producer.send([writEvent('ActionProposed', held), writEvent('ActionProposed', answered)]);
      await decided(seen, held);
      await decided(seen, answered);
      // A manager answers one at once: it never escalates.
      await producer.send([writEvent('ApprovalSubmitted', submission(answered, 'maria'))]);
      // The director approves the other before it escalated: recorded, but it does not count yet.
      await producer.send([writEvent('ApprovalSubmitted', submission(held, 'diane'))]);
      const [, early] = await decided(seen, held, 2);
      expect(early).toMatchObject({ decision: 'approval_required', approvals: [{ approver_id: 'diane', role: 'director' }] });
      expect(JSON.parse(early?.request_json ?? '{}')).not.toHaveProperty('escalated');

      const escalated = await waitFor(() => received.find((r) => r.event === 'approval.escalated'), { timeoutMs: 20_000, what: 'the escalation notification' });
      expect(escalated).toMatchObject({
        delivery: `escalated:${held.meta.action_id ?? ''}`,
        body: {
          action_id: held.meta.action_id,
          policy: 'refund-over-100-needs-manager-approval',
          text: expect.stringContaining('has waited 2 s for approval (refund-over-100-needs-manager-approval); director may now approve'),
        },
      });
      // Sent once: later looks at the queue find it sent; the answered action never escalates.
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      expect(received.filter((r) => r.event === 'approval.escalated').map((r) => r.body['action_id'])).toEqual([held.meta.action_id]);

      // Now the director's approval counts: allowed, with a warrant, the request recording the escalation.
      await producer.send([writEvent('ApprovalSubmitted', submission(held, 'diane'))]);
      const [, , allowed] = await decided(seen, held, 3);
      expect(allowed).toMatchObject({ decision: 'allow', determining_policies: ['refund-over-100-needs-manager-approval'] });
      expect(JSON.parse(allowed?.request_json ?? '{}')).toMatchObject({ escalated: true, approvals: [{ approverId: 'diane', role: 'director' }] });
      expect(checkWarrant(allowed as PolicyDecided, held)).toMatchObject({ ok: true });
    } finally {
      await close();
    }
  });

  it('refuses a webhooks file with a bad URL or a short or missing secret, naming the field', () => {
    const file = (content: unknown) => {
      const path = join(dir, `${uniqueName('hooks')}.json`);
      writeFileSync(path, JSON.stringify(content));
      return path;
    };
    expect(() => loadWebhooks(file({ tenants: { acme: { url: 'ftp://x', secret_env: 'S' } } }), { S: 'x'.repeat(20) })).toThrow(
      expect.objectContaining({ code: 'CONFIG_INVALID', field: 'tenants.acme.url' }),
    );
    expect(() => loadWebhooks(file({ tenants: { acme: { url: 'https://hooks.example/x', secret_env: 'S' } } }), { S: 'short' })).toThrow(
      expect.objectContaining({ code: 'CONFIG_INVALID', field: 'tenants.acme.secret_env' }),
    );
    expect(() => loadWebhooks(file({ tenants: { acme: { url: 'https://hooks.example/x' } } }), {})).toThrow(
      expect.objectContaining({ field: 'tenants.acme.secret_env' }),
    );
    expect(() => loadWebhooks(file([1]), {})).toThrow(expect.objectContaining({ field: 'tenants' }));
    expect(loadWebhooks(file({ tenants: { acme: { url: 'https://hooks.example/x', secret_env: 'S' } } }), { S: 'x'.repeat(20) }).get('acme')?.url.host).toBe(
      'hooks.example',
    );
  });
});

describe('policy service boot', () => {
  function brokenPolicyDir(): string {
    const broken = mkdtempSync(join(dir, 'policies-'));
    cpSync(join(root, 'policies'), broken, { recursive: true });
    writeFileSync(
      join(broken, 'refund-up-to-100-support.cedar'),
      '@id("refund-up-to-100-support")\npermit (principal, action, resource) when { context.nope };\n',
    );
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
        WRIT_KAFKA_BROKERS: brokers.join(','),
        WRIT_POLICY_DIR: brokenPolicyDir(),
        WRIT_DIRECTORY_FILE: t.directoryFile,
        WRIT_POLICY_SIGNING_KEY: keyPath,
        WRIT_HTTP_PORT: '1',
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
