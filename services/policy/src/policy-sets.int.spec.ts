// Policy sets on the log, through the policy service's doors, the real broker and the real Cedar
// engine: publish, switch without a restart, shadow and warn recorded on the Kafka decisions,
// rollback, a second instance following, conflicts, fail-closed, and the doors under hostile input.
import 'reflect-metadata';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EventConsumer, EventProducer, writEvent } from '@writ/bus';
import { TOPICS, newMetadata } from '@writ/contracts';
import type { ActionProposed, ApprovalSubmitted, PolicyDecided } from '@writ/contracts';
import { canonicalJson, generateSigningKey, sha256Canonical } from '@writ/crypto';
import { hashApiKey } from '@writ/directory';
import { backtest, compilePolicySet, createDecisionPoint, loadPolicySet, readPolicyCases, readPolicySetSources, recordedDecisionOf } from '@writ/policy-engine';
import type { PolicyCaseSource } from '@writ/policy-engine';
import { SERVICE_CONFIG, loadServiceConfig } from '@writ/runtime';
import { testKafkaBrokers, uniqueName, waitFor } from '@writ/testing';
import { policyConfigSpec } from './config.ts';
import { PdpEngine } from './pdp.engine.ts';
import { PolicyModule } from './policy.module.ts';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const brokers = testKafkaBrokers();
const dir = mkdtempSync(join(tmpdir(), 'writ-policy-sets-'));
const keyPath = join(dir, 'warrant-test.pem');
writeFileSync(keyPath, generateSigningKey('warrant-test').exportPrivateKeyPem(), { mode: 0o600 });
const tenant = uniqueName('tenant');
const directoryFile = join(dir, 'directory.json');
writeFileSync(
  directoryFile,
  JSON.stringify({
    agents: [{ id: 'triage-bot', tenant, role: 'support', owner: 'dana', api_key_sha256: hashApiKey('bot') }],
    users: [
      { id: 'root', tenant: '*', role: 'admin', roles: ['admin'], api_key_sha256: hashApiKey('root') },
      { id: 'adam', tenant, role: 'it', roles: ['admin'], api_key_sha256: hashApiKey('adam') },
      { id: 'dana', tenant, role: 'manager', roles: ['approver'], api_key_sha256: hashApiKey('dana') },
      { id: 'maria', tenant, role: 'manager', roles: ['approver'], api_key_sha256: hashApiKey('maria') },
    ],
    services: [{ id: 'writ-gateway', api_key_sha256: hashApiKey('service') }],
  }),
);

const apps = new Set<NestFastifyApplication>();
const consumers = new Set<EventConsumer>();
let producer: EventProducer;
beforeAll(async () => {
  producer = new EventProducer({ brokers, clientId: 'policy-sets-int-test' });
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

interface Door {
  readonly app: NestFastifyApplication;
  call(method: 'GET' | 'POST', path: string, body?: unknown, key?: string | null): Promise<{ status: number; body: Record<string, unknown> }>;
}

/** One policy service instance of the stream, with its HTTP doors on a free port. */
async function boot(stream: string, env: Record<string, string> = {}): Promise<Door> {
  const config = loadServiceConfig(26082, policyConfigSpec, {
    WRIT_KAFKA_BROKERS: brokers.join(','),
    WRIT_KAFKA_GROUP_ID: `writ.policy.${uniqueName('sets')}`,
    WRIT_POLICY_DIR: join(root, 'policies'),
    WRIT_POLICY_STREAM: stream,
    WRIT_TOOLS_DIR: join(root, 'tools'),
    WRIT_DIRECTORY_FILE: directoryFile,
    WRIT_POLICY_SIGNING_KEY: keyPath,
    WRIT_POLICY_TENANTS: tenant,
    ...env,
  });
  @Module({ imports: [PolicyModule], providers: [{ provide: SERVICE_CONFIG, useValue: config }], exports: [SERVICE_CONFIG] })
  class TestRoot {}
  Object.defineProperty(TestRoot, 'name', { value: `TestRoot${uniqueName('sets')}` });
  const app = await NestFactory.create<NestFastifyApplication>({ module: TestRoot, global: true }, new FastifyAdapter(), { logger: ['error'] });
  apps.add(app);
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as { port: number };
  return {
    app,
    async call(method, path, body, key = 'root') {
      const response = await fetch(`http://127.0.0.1:${port}${path}`, {
        method,
        headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...(key === null ? {} : { authorization: `Bearer ${key}` }) },
        ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
      });
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    },
  };
}

const refundTool = { name: 'refunds.issue', version: '1.2.0', effect: 'write', risk: 'medium' };
const refundArgs = (customer: string) => ({
  ticket_id: 'T-1',
  customer_id: customer,
  amount_cents: 2_500,
  ticket_tags: ['refund_approved'],
  reason: 'duplicate charge',
});
const decideRequest = (customer: string) => ({
  tenant,
  agent: { id: 'triage-bot', role: 'support', owner: 'dana' },
  tool: refundTool,
  arguments: refundArgs(customer),
  runStats: { steps: 1, spendMicros: 0, callsInWindow: 0 },
});

/** The new rule: no refund to a blocked customer. */
const BLOCKED = 'C-BLOCKED';
const RULE = 'refund-blocked-customer';
const BLOCK = (mode: string) =>
  `@id("${RULE}")\n@mode("${mode}")\nforbid (principal, action == Writ::Action::"invoke", resource == Writ::Tool::"refunds.issue")\nwhen { context.arguments has customer_id && context.arguments.customer_id == "${BLOCKED}" };\n`;
const BLOCK_CASE: PolicyCaseSource = {
  file: 'deny/refund-to-a-blocked-customer.json',
  text: JSON.stringify({
    description: 'no refund to a blocked customer',
    request: {
      tenant: 'acme',
      agent: { id: 'a', role: 'support', owner: 'o' },
      tool: refundTool,
      arguments: refundArgs(BLOCKED),
      runStats: { steps: 0, spendMicros: 0, callsInWindow: 0 },
    },
    expect: { decision: 'deny', determiningPolicies: [RULE] },
  }),
};

/** The repository's policy folder as a publish body, with the blocked-customer rule in the given mode (enforce: with its case). */
async function bodyWithRule(mode: string | null, previous: string | null, message = 'block refunds to C-BLOCKED') {
  const sources = await readPolicySetSources(join(root, 'policies'));
  const cases = await readPolicyCases(join(root, 'policies/cases'));
  return {
    schema: sources.schemaText,
    policies: mode === null ? sources.policies : { ...sources.policies, [RULE]: BLOCK(mode) },
    version: `test-${mode ?? 'base'}`,
    message,
    previous_hash: previous,
    cases: mode === 'enforce' ? [...cases, BLOCK_CASE] : cases,
  };
}

async function current(door: Door): Promise<Record<string, unknown>> {
  const { status, body } = await door.call('GET', '/v1/policy-sets');
  expect(status).toBe(200);
  return body['current'] as Record<string, unknown>;
}

/** The PDP's decisions for this test's tenant as they arrive on writ.policy.v1. */
async function collectDecisions(): Promise<PolicyDecided[]> {
  const seen: PolicyDecided[] = [];
  const consumer = new EventConsumer({
    brokers,
    groupId: uniqueName('policy_sets_reader'),
    topics: [TOPICS.policy],
    dlqTopic: 'writ.policy.dlq',
    handler: (event) => {
      if (event.type === 'PolicyDecided' && event.payload.meta.tenant_id === tenant) seen.push(event.payload);
    },
  });
  consumers.add(consumer);
  await consumer.start();
  return seen;
}

function proposal(customer: string, cents = 2_500): ActionProposed {
  const args = { ...refundArgs(customer), amount_cents: cents };
  return {
    meta: newMetadata({ tenant_id: tenant, run_id: uniqueName('run'), action_id: uniqueName('action'), producer: 'gateway@0.1.0' }),
    agent_id: 'triage-bot',
    tool: 'refunds.issue',
    tool_version: '1.2.0',
    arguments_json: canonicalJson(args),
    args_sha256: sha256Canonical(args),
    reason: 'duplicate charge',
    idempotency_key: uniqueName('key'),
    mode: 'live',
    provenance: null,
  };
}

describe('policy sets on the log', () => {
  it('bootstraps the folder, publishes through the door, switches decisions without a restart, and rolls back', async () => {
    const stream = uniqueName('stream');
    const door = await boot(stream);
    const first = await current(door);
    expect(first).toMatchObject({ stream, sequence: 1, origin: 'bootstrap', author: 'policy/0', previous_hash: null, version: '1.2.0' });
    const baseHash = first['policy_set_hash'] as string;
    expect(await door.call('POST', '/v1/decide', decideRequest(BLOCKED), 'service')).toMatchObject({
      status: 200,
      body: { decision: 'allow', determiningPolicies: ['refund-up-to-100-support'], policySetHash: baseHash },
    });

    const published = await door.call('POST', '/v1/policy-sets', await bodyWithRule('enforce', baseHash));
    expect(published.status).toBe(201);
    expect(published.body).toMatchObject({
      stream,
      sequence: 2,
      previous_hash: baseHash,
      origin: 'publish',
      author: 'root',
      message: 'block refunds to C-BLOCKED',
      version: 'test-enforce',
      modes: { [RULE]: 'enforce', 'customer-delete-forbidden': 'enforce' },
      uncovered_policies: [],
    });
    const capHash = published.body['policy_set_hash'] as string;
    expect(capHash).not.toBe(baseHash);
    // In force at once on this instance (the door answered once it read the publication back).
    expect(await door.call('POST', '/v1/decide', decideRequest(BLOCKED), 'service')).toMatchObject({
      status: 200,
      body: { decision: 'deny', determiningPolicies: [RULE], policySetHash: capHash },
    });
    // ... and on the Kafka path: the decision names the new set.
    const decisions = await collectDecisions();
    const action = proposal(BLOCKED);
    await producer.send([writEvent('ActionProposed', action)]);
    await waitFor(() => decisions.find((d) => d.meta.action_id === action.meta.action_id), { timeoutMs: 20_000, what: 'the decision' });
    expect(decisions.find((d) => d.meta.action_id === action.meta.action_id)).toMatchObject({
      decision: 'deny',
      determining_policies: [RULE],
      policy_set_hash: capHash,
      policy_set_version: 'test-enforce',
    });

    const detail = await door.call('GET', `/v1/policy-sets/${capHash}`);
    expect(detail.status).toBe(200);
    expect((detail.body['policies_text'] as Record<string, string>)[RULE]).toBe(BLOCK('enforce'));
    expect(detail.body['cases']).toContainEqual(BLOCK_CASE);

    const rolledBack = await door.call('POST', '/v1/policy-sets/rollback', { to: baseHash, message: 'too strict', previous_hash: capHash });
    expect(rolledBack).toMatchObject({
      status: 201,
      body: { sequence: 3, origin: 'rollback', policy_set_hash: baseHash, previous_hash: capHash, author: 'root' },
    });
    expect(await door.call('POST', '/v1/decide', decideRequest(BLOCKED), 'service')).toMatchObject({ body: { decision: 'allow', policySetHash: baseHash } });
    const history = (await door.call('GET', '/v1/policy-sets')).body['history'] as { sequence: number; origin: string; policy_set_hash: string }[];
    expect(history.map((h) => [h.sequence, h.origin, h.policy_set_hash])).toEqual([
      [1, 'bootstrap', baseHash],
      [2, 'publish', capHash],
      [3, 'rollback', baseHash],
    ]);
  });

  it('records shadow and warn results on the decisions it publishes, and never enforces them', async () => {
    const stream = uniqueName('stream');
    const door = await boot(stream);
    const decisions = await collectDecisions();
    const base = (await current(door))['policy_set_hash'] as string;
    const shadow = await door.call('POST', '/v1/policy-sets', await bodyWithRule('shadow', base, 'try the rule in shadow mode'));
    expect(shadow).toMatchObject({ status: 201, body: { modes: { [RULE]: 'shadow' } } });
    const over = proposal(BLOCKED);
    const under = proposal('C-1');
    await producer.send([writEvent('ActionProposed', over), writEvent('ActionProposed', under)]);
    const decided = (a: ActionProposed) => decisions.find((d) => d.meta.action_id === a.meta.action_id);
    await waitFor(() => decided(over) !== undefined && decided(under) !== undefined, { timeoutMs: 20_000, what: 'the decision' });
    expect(decided(over)).toMatchObject({
      decision: 'allow',
      warnings: [],
      shadow_results: [{ policy_id: RULE, decision: 'deny', determining_policies: [RULE] }],
    });
    expect(decided(over)?.warrant).not.toBeNull();
    expect(decided(under)?.shadow_results).toEqual([{ policy_id: RULE, decision: 'allow', determining_policies: ['refund-up-to-100-support'] }]);

    const warn = await door.call('POST', '/v1/policy-sets', await bodyWithRule('warn', shadow.body['policy_set_hash'] as string, 'warn on the rule'));
    expect(warn.status).toBe(201);
    const warned = proposal(BLOCKED);
    await producer.send([writEvent('ActionProposed', warned)]);
    await waitFor(() => decided(warned), { timeoutMs: 20_000, what: 'the decision' });
    expect(decided(warned)).toMatchObject({ decision: 'allow', warnings: [RULE], shadow_results: [] });
  });

  it('a second instance of the stream reads the current set at boot and follows a publication without a restart', async () => {
    const stream = uniqueName('stream');
    const one = await boot(stream);
    const two = await boot(stream);
    const base = (await current(one))['policy_set_hash'] as string;
    expect((await current(two))['sequence']).toBe(1); // it found the first instance's bootstrap, published none of its own
    const published = await one.call('POST', '/v1/policy-sets', await bodyWithRule('enforce', base));
    expect(published.status).toBe(201);
    const engine = two.app.get(PdpEngine);
    expect(engine).toBeDefined();
    await waitFor(async () => (await two.call('POST', '/v1/decide', decideRequest(BLOCKED), 'service')).body['decision'] === 'deny', {
      timeoutMs: 10_000,
      what: 'the publication on every instance',
    });
    // Two admins publishing from the same head at once: the first on the log wins, the other is told.
    const [a, b] = await Promise.all([
      one.call('POST', '/v1/policy-sets', await bodyWithRule(null, published.body['policy_set_hash'] as string, 'back to base from one')),
      two.call('POST', '/v1/policy-sets', await bodyWithRule('shadow', published.body['policy_set_hash'] as string, 'shadow from two')),
    ]);
    expect([a.status, b.status].sort()).toEqual([201, 409]);
    expect([a, b].find((r) => r.status === 409)?.body).toMatchObject({ error: { code: 'POLICY_SET_CONFLICT', field: 'previous_hash' } });
    const winner = [a, b].find((r) => r.status === 201)?.body['policy_set_hash'];
    await waitFor(async () => (await current(one))['policy_set_hash'] === winner && (await current(two))['policy_set_hash'] === winner, {
      timeoutMs: 10_000,
      what: 'the publication on every instance',
    });
    expect((await current(one))['sequence']).toBe(3);
  });

  it('at boot, WRIT_POLICY_BOOTSTRAP=empty leaves a published set in force, differs publishes the folder over it', async () => {
    const stream = uniqueName('stream');
    const one = await boot(stream);
    const base = (await current(one))['policy_set_hash'] as string;
    const published = await one.call('POST', '/v1/policy-sets', await bodyWithRule('enforce', base));
    expect(published.status).toBe(201);
    const kept = await boot(stream, { WRIT_POLICY_BOOTSTRAP: 'empty' });
    expect(await current(kept)).toMatchObject({ sequence: 2, policy_set_hash: published.body['policy_set_hash'] });
    const gitops = await boot(stream, { WRIT_POLICY_BOOTSTRAP: 'differs' });
    expect(await current(gitops)).toMatchObject({ sequence: 3, origin: 'bootstrap', policy_set_hash: base, author: 'policy/0' });
    await waitFor(async () => (await current(one))['sequence'] === 3, { timeoutMs: 10_000, what: 'the folder in force on the first instance' });
  });

  it('a backtest of the enforced set on its own recorded decisions reproduces every one; a candidate rule shows what it would change', async () => {
    const stream = uniqueName('stream');
    await boot(stream);
    const decisions = await collectDecisions();
    // Allowed, over the limit (approval_required, then approved by a manager), a blocked customer, a sales agent's (denied by default).
    const actions = [proposal('C-1'), proposal('C-2', 9_000), proposal(BLOCKED), proposal(BLOCKED, 4_000), proposal('C-3', 20_000)];
    await producer.send(actions.map((a) => writEvent('ActionProposed', a)));
    const held = actions[4] as ActionProposed;
    const ofAction = (a: ActionProposed) => decisions.filter((d) => d.meta.action_id === a.meta.action_id);
    await waitFor(() => actions.every((a) => ofAction(a).length > 0), { timeoutMs: 20_000, what: 'every proposal decided' });
    const approval: ApprovalSubmitted = {
      meta: newMetadata({ tenant_id: tenant, run_id: held.meta.run_id, action_id: held.meta.action_id, producer: 'gateway@0.1.0' }),
      approver_id: 'maria',
      approver_role: 'manager',
      verdict: 'approve',
      comment: null,
    };
    await producer.send([writEvent('ApprovalSubmitted', approval)]);
    await waitFor(() => ofAction(held).length === 2, { timeoutMs: 20_000, what: 'the re-decision after the approval' });
    expect(ofAction(held).map((d) => d.decision)).toEqual(['approval_required', 'allow']);

    // The decisions of this test's actions (the reader starts at the topic's beginning: earlier tests decided for the tenant too).
    const ours = new Set(actions.map((a) => a.meta.action_id));
    const records = decisions
      .filter((d) => ours.has(d.meta.action_id))
      .map((d) => recordedDecisionOf(d))
      .filter((r) => r !== undefined);
    expect(records).toHaveLength(6);
    const same = backtest(records, createDecisionPoint(await loadPolicySet(join(root, 'policies'))));
    expect(same).toMatchObject({ total: 6, replayed: 6, skipped: 0, changed: 0, reasonChanged: 0, unchanged: 6, transitions: {} });

    const sources = await readPolicySetSources(join(root, 'policies'));
    const candidate = createDecisionPoint(compilePolicySet({ ...sources, policies: { ...sources.policies, [RULE]: BLOCK('enforce') } }));
    const report = backtest(records, candidate);
    expect(report).toMatchObject({ replayed: 6, changed: 2, transitions: { 'allow->deny': 2 } });
    expect(report.byPolicy[RULE]).toEqual({ replayed: 0, changed: 2, transitions: { 'allow->deny': 2 } });
    expect(report.byTool['refunds.issue']).toMatchObject({ replayed: 6, changed: 2 });
    expect(report.examples.map((e) => e.actionId).sort()).toEqual([actions[2]?.meta.action_id, actions[3]?.meta.action_id].sort());
    expect(report.examples[0]).toMatchObject({ recorded: 'allow', candidate: 'deny', candidatePolicies: [RULE], runId: expect.any(String) });
  });

  it('fails closed when the stream has no set: every decision denies, naming why', async () => {
    const stream = uniqueName('stream');
    const door = await boot(stream, { WRIT_POLICY_BOOTSTRAP: 'never' });
    expect((await door.call('GET', '/v1/policy-sets')).body).toMatchObject({ stream, current: null, history: [] });
    const answer = await door.call('POST', '/v1/decide', decideRequest('C-1'), 'service');
    expect(answer.body).toMatchObject({ decision: 'deny', determiningPolicies: [] });
    expect(String((answer.body['errors'] as string[])[0])).toContain('no policy set is published');
    const decisions = await collectDecisions();
    const action = proposal('C-1');
    await producer.send([writEvent('ActionProposed', action)]);
    await waitFor(() => decisions.find((d) => d.meta.action_id === action.meta.action_id), { timeoutMs: 20_000, what: 'the decision' });
    expect(decisions.find((d) => d.meta.action_id === action.meta.action_id)).toMatchObject({ decision: 'deny', warrant: null, policy_set_version: 'none' });
    // The first publication names no previous set and brings the stream to life.
    const first = await door.call('POST', '/v1/policy-sets', await bodyWithRule(null, null, 'first set'));
    expect(first).toMatchObject({ status: 201, body: { sequence: 1, previous_hash: null } });
    expect((await door.call('POST', '/v1/decide', decideRequest('C-1'), 'service')).body['decision']).toBe('allow');
  });

  it('the doors refuse no key, a wrong key, a tenant admin, a service publishing, and hostile or invalid sets, naming the field and rule', async () => {
    const stream = uniqueName('stream');
    const door = await boot(stream);
    const head = (await current(door))['policy_set_hash'] as string;
    const valid = await bodyWithRule('enforce', head);
    const post = (body: unknown, key: string | null = 'root') => door.call('POST', '/v1/policy-sets', body, key);

    expect(await post(valid, null)).toMatchObject({ status: 401, body: { error: { code: 'UNAUTHENTICATED' } } });
    expect(await post(valid, 'wrong-key')).toMatchObject({ status: 401 });
    expect(await post(valid, 'adam')).toMatchObject({ status: 403, body: { error: { code: 'FORBIDDEN' } } }); // a tenant's admin
    expect(await post(valid, 'service')).toMatchObject({ status: 403 });
    expect(await post(valid, 'dana')).toMatchObject({ status: 403 });
    expect(await door.call('GET', '/v1/policy-sets', undefined, 'adam')).toMatchObject({ status: 403 });
    expect(await door.call('GET', '/v1/policy-sets', undefined, null)).toMatchObject({ status: 401 });
    expect(await door.call('GET', '/v1/policy-sets', undefined, 'service')).toMatchObject({ status: 200 });

    const broken = { ...valid, policies: { ...valid.policies, [RULE]: `@id("${RULE}")\nforbid (principal, action, resource) when { context.nope };` } };
    const invalid = await post(broken);
    expect(invalid).toMatchObject({ status: 400, body: { error: { code: 'POLICY_SET_INVALID', field: `${RULE}.cedar` } } });
    const failing = await post({
      ...valid,
      cases: [...valid.cases.filter((c) => c.file !== BLOCK_CASE.file), { ...BLOCK_CASE, text: BLOCK_CASE.text.replace('"deny"', '"allow"') }],
    });
    expect(failing.status).toBe(400);
    expect(failing.body).toMatchObject({ error: { code: 'POLICY_CASES_FAILED' } });
    const untested = await post({ ...valid, cases: [] });
    expect(untested).toMatchObject({ status: 400, body: { error: { code: 'POLICY_CASES_FAILED', field: 'cases' } } });
    expect(await post({ ...valid, policies: {} })).toMatchObject({ status: 400, body: { error: { code: 'POLICY_SET_INVALID' } } });
    expect(await post({ ...valid, previous_hash: 'f'.repeat(64) })).toMatchObject({
      status: 409,
      body: { error: { code: 'POLICY_SET_CONFLICT', field: 'previous_hash', details: { current_hash: head } } },
    });
    expect(await post(await bodyWithRule(null, head))).toMatchObject({ status: 409, body: { error: { code: 'POLICY_SET_UNCHANGED' } } });
    expect(await post('[1,2]')).toMatchObject({ status: 400, body: { error: { code: 'REQUEST_INVALID', field: 'body' } } });
    expect(await post({ ...valid, message: '  ' })).toMatchObject({ status: 400, body: { error: { field: 'message' } } });
    expect(await post({ ...valid, previous_hash: 'HEAD~1' })).toMatchObject({ status: 400, body: { error: { field: 'previous_hash' } } });
    expect(await post({ ...valid, policies: { x: 42 } })).toMatchObject({ status: 400, body: { error: { field: 'policies.x' } } });
    expect(await post({ ...valid, cases: [{ file: 'allow/x.json' }] })).toMatchObject({ status: 400, body: { error: { field: 'cases[0]' } } });
    const huge = await post({ ...valid, cases: [...valid.cases, { file: 'allow/huge.json', text: 'x'.repeat(600 * 1024) }] });
    expect(huge.status).toBe(400);
    expect(await door.call('GET', '/v1/policy-sets/not-a-hash')).toMatchObject({ status: 400, body: { error: { field: 'hash' } } });
    expect(await door.call('GET', `/v1/policy-sets/${'0'.repeat(64)}`)).toMatchObject({ status: 404 });
    expect(await door.call('POST', '/v1/policy-sets/rollback', { to: '0'.repeat(64), message: 'm', previous_hash: head })).toMatchObject({ status: 404 });

    // None of it changed the stream.
    expect(await current(door)).toMatchObject({ sequence: 1, policy_set_hash: head });
    expect(((await door.call('GET', '/v1/policy-sets')).body['history'] as unknown[]).length).toBe(1);
  });
});

describe('rules over history', () => {
  const QUOTA = 'at-most-3-refunds-per-customer-per-day';
  const demoPolicies = join(root, 'deploy/demo/policies');

  /** The repository's folder plus the demo's quota rule and its cases, as a publish body. */
  async function bodyWithQuota(previous: string) {
    const sources = await readPolicySetSources(join(root, 'policies'));
    return {
      schema: sources.schemaText,
      policies: { ...sources.policies, [QUOTA]: readFileSync(join(demoPolicies, `${QUOTA}.cedar`), 'utf8') },
      version: 'test-quota',
      message: 'at most 3 refunds per customer per day',
      previous_hash: previous,
      cases: [...(await readPolicyCases(join(root, 'policies/cases'))), ...(await readPolicyCases(join(demoPolicies, 'cases')))],
    };
  }

  it('a rule published after the fact counts the decisions before it; a restarted PDP rebuilds the count from the log; backtest reproduces it', async () => {
    const stream = uniqueName('stream');
    let door = await boot(stream);
    const decisions = await collectDecisions();
    const decided = async (action: ActionProposed): Promise<PolicyDecided> => {
      await producer.send([writEvent('ActionProposed', action)]);
      return waitFor(() => decisions.find((d) => d.meta.action_id === action.meta.action_id), { timeoutMs: 20_000, what: 'the decision' });
    };
    const historyOf = (decision: PolicyDecided) => (JSON.parse(decision.request_json) as { history?: Record<string, unknown> }).history;
    const customer = uniqueName('C');
    const mine: PolicyDecided[] = [];
    // Three refunds to the customer before any rule over history: allowed, and nothing counted in them.
    for (let i = 0; i < 3; i++) {
      const before = await decided(proposal(customer, 1_000 + i));
      expect(before).toMatchObject({ decision: 'allow' });
      expect(historyOf(before)).toBeUndefined();
      mine.push(before);
    }

    const base = (await current(door))['policy_set_hash'] as string;
    const published = await door.call('POST', '/v1/policy-sets', await bodyWithQuota(base));
    expect(published).toMatchObject({ status: 201, body: { modes: { [QUOTA]: 'enforce' } } });

    // The new rule sees the three refunds made before it was published.
    const fourth = await decided(proposal(customer, 1_500));
    expect(fourth).toMatchObject({ decision: 'deny', determining_policies: [QUOTA] });
    expect(JSON.parse(fourth.request_json)).toMatchObject({
      history: { refunds_to_customer_today: 3 },
      historyFacts: { refunds_to_customer_today: 'count refunds.issue where allowed|pending same arguments.customer_id within 1d' },
    });
    mine.push(fourth);
    // Another customer of the same tenant has its own count.
    const other = await decided(proposal(uniqueName('C')));
    expect(other).toMatchObject({ decision: 'allow' });
    expect(historyOf(other)).toEqual({ refunds_to_customer_today: 0 });
    mine.push(other);

    // A restarted PDP reads the count back from the log (the denied fourth does not count: allowed|pending).
    await door.app.close();
    apps.delete(door.app);
    door = await boot(stream);
    const fifth = await decided(proposal(customer, 1_600));
    expect(fifth).toMatchObject({ decision: 'deny', determining_policies: [QUOTA] });
    expect(historyOf(fifth)).toEqual({ refunds_to_customer_today: 3 });
    mine.push(fifth);

    // Backtest of the enforced set: the recorded values reproduce every decision, and so does
    // computing them again from the recorded history alone (the definitions left out of the requests).
    const sources = await bodyWithQuota(base);
    const point = createDecisionPoint(compilePolicySet({ schemaText: sources.schema, policies: sources.policies }));
    const records = mine.map((d) => recordedDecisionOf(d)).filter((r) => r !== undefined);
    expect(backtest(records, point)).toMatchObject({ replayed: 6, changed: 0 });
    const recomputed = records.map((r) => ({
      ...r,
      request: r.request === undefined ? undefined : { ...r.request, history: undefined, historyFacts: undefined },
    }));
    expect(backtest(recomputed, point)).toMatchObject({ replayed: 6, changed: 0 });
    // Against the base set, the two refunds the rule denied would have been allowed.
    const basePoint = createDecisionPoint(await loadPolicySet(join(root, 'policies')));
    expect(backtest(records, basePoint)).toMatchObject({ changed: 2, transitions: { 'deny->allow': 2 } });
  });

  it('refuses to publish a fact that looks back further than the horizon the PDP keeps', async () => {
    const door = await boot(uniqueName('stream'), { WRIT_POLICY_HISTORY_HORIZON_MS: String(60 * 60_000) });
    const body = await bodyWithQuota((await current(door))['policy_set_hash'] as string);
    expect(await door.call('POST', '/v1/policy-sets', body)).toMatchObject({
      status: 400,
      body: { error: { code: 'POLICY_SET_INVALID', field: '@history refunds_to_customer_today' } },
    });
  });
});
