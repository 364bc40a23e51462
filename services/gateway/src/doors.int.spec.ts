// Every door of the gateway, table-driven: for each route of the OpenAPI document, a call with no
// key and with an unknown key (401), with a key of the wrong role (403), with another tenant's key
// (404 for ids, lists without this tenant's items, controls in the caller's own tenant only),
// with hostile input (a 4xx naming the problem, never a 5xx, never someone else's data), and
// the right caller (the route works, so the refusals are not an accident). A route added to the
// document without a row here fails the first test. The gateway runs in-process against the
// real broker; its directory file is rewritten to rotate and revoke keys while it runs.
import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Module } from '@nestjs/common';
import type { DynamicModule } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventConsumer, EventProducer, writEvent } from '@writ/bus';
import { TOPICS, newMetadata } from '@writ/contracts';
import { hashApiKey } from '@writ/directory';
import { SERVICE_CONFIG, loadServiceConfig } from '@writ/runtime';
import { testKafkaBrokers, uniqueName, waitFor } from '@writ/testing';
import { gatewayConfigSpec } from './config.ts';
import { GatewayModule } from './gateway.module.ts';
import { OPENAPI_DOCUMENT } from './openapi.controller.ts';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const brokers = testKafkaBrokers();
const suffix = uniqueName('doors');
const A = `acme_${suffix}`;
const B = `globex_${suffix}`;
// A tool only this test's registry knows: platform-wide switches pulled here stop nothing of
// anyone else sharing the broker.
const PROBE = `probe_${randomBytes(4).toString('hex')}.tickets_get`;

const id = (who: string) => `${who}-${suffix}`;
const newKey = (who: string) => `key-${who}-${randomBytes(8).toString('hex')}`;
const KEYS = {
  botA: newKey('bota'),
  botA2: newKey('bota2'),
  approverA: newKey('approvera'),
  operatorA: newKey('operatora'),
  analystA: newKey('analysta'),
  auditorA: newKey('auditora'),
  adminA: newKey('admina'),
  botB: newKey('botb'),
  approverB: newKey('approverb'),
  operatorB: newKey('operatorb'),
  auditorB: newKey('auditorb'),
  root: newKey('root'),
  cli: newKey('cli'),
};
type Who = keyof typeof KEYS;

function directoryDocument(keys: typeof KEYS, without: readonly string[] = []) {
  const agent = (who: string, tenant: string, owner: string, key: string) => ({ id: id(who), tenant, role: 'support', owner: id(owner), api_key_sha256: key });
  const user = (who: string, tenant: string, roles: string[], key: string | string[]) => ({ id: id(who), tenant, role: 'manager', roles, api_key_sha256: key });
  return {
    agents: [
      agent('bota', A, 'approvera', hashApiKey(keys.botA)),
      agent('bota2', A, 'approvera', hashApiKey(keys.botA2)),
      agent('botb', B, 'approverb', hashApiKey(keys.botB)),
    ].filter((entry) => !without.includes(entry.id)),
    users: [
      user('approvera', A, ['approver'], hashApiKey(keys.approverA)),
      user('operatora', A, ['operator'], hashApiKey(keys.operatorA)),
      user('analysta', A, ['analyst'], hashApiKey(keys.analystA)),
      user('auditora', A, ['auditor'], hashApiKey(keys.auditorA)),
      user('admina', A, ['admin'], hashApiKey(keys.adminA)),
      user('approverb', B, ['approver'], hashApiKey(keys.approverB)),
      user('operatorb', B, ['operator', 'approver'], hashApiKey(keys.operatorB)),
      user('auditorb', B, ['auditor'], hashApiKey(keys.auditorB)),
      user('root', '*', ['admin'], hashApiKey(keys.root)),
    ].filter((entry) => !without.includes(entry.id)),
    services: [{ id: id('cli'), api_key_sha256: hashApiKey(keys.cli) }],
  };
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Loose = Record<string, any>;
interface Answer {
  readonly status: number;
  readonly body: Loose;
  readonly text: string;
}

let workDir: string;
let app: NestFastifyApplication;
let url: string;
let producer: EventProducer;
let observer: EventConsumer;
const seen: { type: string; payload: Loose }[] = [];

async function call(method: string, path: string, apiKey: string | undefined, body?: unknown): Promise<Answer> {
  const response = await fetch(`${url}${path}`, {
    method,
    headers: {
      ...(apiKey === undefined ? {} : { authorization: `Bearer ${apiKey}` }),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  // A live stream (the console's server-sent events) stays open: its first bytes, then hang up.
  const text = response.headers.get('content-type')?.startsWith('text/event-stream') ? await firstChunk(response) : await response.text();
  let parsed: Loose = {};
  try {
    parsed = text === '' ? {} : (JSON.parse(text) as Loose);
  } catch {
    parsed = { unparsed: text };
  }
  return { status: response.status, body: parsed, text };
}

async function firstChunk(response: Response): Promise<string> {
  const reader = response.body?.getReader();
  const chunk = await reader?.read();
  await reader?.cancel();
  return new TextDecoder().decode(chunk?.value ?? new Uint8Array());
}

/** The ids each tenant's rows use: a run, an action awaiting approval and one whose outcome is unknown. */
interface Fixture {
  readonly run: string;
  readonly action: string;
  readonly unknown: string;
}
let fixtureA: Fixture;
let fixtureB: Fixture;

async function fixture(agentKey: string, tenant: string): Promise<Fixture> {
  const opened = await call('POST', '/v1/runs', agentKey, { goal: 'doors' });
  expect(opened.status).toBe(201);
  const run = opened.body['run_id'] as string;
  const proposed = await call('POST', `/v1/runs/${run}/actions`, agentKey, {
    tool: 'refunds.issue',
    arguments: { ticket_id: 'T-1', customer_id: 'C-1', amount_cents: 25_000, ticket_tags: ['refund_approved'], reason: 'big', card_last4: '4242' },
    reason: 'held for approval',
    idempotency_key: 'held',
  });
  expect(proposed.status).toBe(202);
  const action = proposed.body['action_id'] as string;
  // As the policy service would: the action waits for an approver.
  await producer.send([
    writEvent('PolicyDecided', {
      meta: newMetadata({ tenant_id: tenant, run_id: run, action_id: action, producer: 'policy@test' }),
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
    }),
  ]);
  // As the executor would after a crash mid-call: the outcome is unknown (the reconciliation queue).
  const crashed = await call('POST', `/v1/runs/${run}/actions`, agentKey, { ...proposal('crashed'), tool: 'tickets.get' });
  expect(crashed.status).toBe(202);
  const unknown = crashed.body['action_id'] as string;
  await producer.send([
    writEvent('ActionFailed', {
      meta: newMetadata({ tenant_id: tenant, run_id: run, action_id: unknown, producer: 'executor@test' }),
      outcome: 'unknown',
      tool: 'tickets.get',
      reservation_id: unknown,
      error_code: 'OUTCOME_UNKNOWN',
      message: 'the executor stopped during the call',
      retriable: false,
      attempts: 1,
      cost_micros: 0,
      currency: 'USD',
    }),
  ]);
  return { run, action, unknown };
}

/** Every reason carries this file's suffix: its controls are told apart from other tests' on the shared topic. */
const switchBody = (reason: string, enabled = false) => ({ enabled, reason: `${reason} ${suffix}` });
const proposal = (key: string) => ({ tool: 'tickets.get', arguments: { ticket_id: 'T-1001' }, reason: 'read', idempotency_key: key });
const LONG = 'x'.repeat(5_000);
let counter = 0;
const fresh = () => `k-${(counter += 1)}`;

/** What another tenant's caller gets: a 404, a list without this tenant's items, or a change of its own tenant only. */
type Foreign =
  | { readonly kind: 'not_found'; readonly who: Who }
  | { readonly kind: 'list'; readonly who: Who }
  | { readonly kind: 'own_tenant'; readonly who: Who; readonly check: (answer: Answer) => void | Promise<void> };

interface Door {
  /** As in the OpenAPI document: "METHOD /path/{param}". */
  readonly route: string;
  readonly path: (f: Fixture) => string;
  readonly body?: () => unknown;
  /** The right caller of tenant A and the status it gets. */
  readonly ok: { readonly who: Who; readonly status: number };
  /** Callers of tenant A (or platform principals) whose role does not open this door: 403. */
  readonly wrongRole: readonly Who[];
  /** Platform principals that are no tenant's user: answered like a stranger (404), for id routes without a role check. */
  readonly outsiders?: readonly Who[];
  readonly foreign: Foreign;
  /** Hostile variants, each with the status it must get (never 2xx, never 5xx). */
  readonly hostile: readonly {
    readonly what: string;
    readonly path?: (f: Fixture) => string;
    readonly body?: unknown;
    readonly status: number;
    readonly field?: string;
  }[];
}

const USERS_OF_A: Who[] = ['approverA', 'operatorA', 'analystA', 'auditorA', 'adminA'];
const NOT_APPROVERS: Who[] = ['botA', 'operatorA', 'analystA', 'auditorA', 'adminA', 'root', 'cli'];
const NOT_TENANT_OPERATORS: Who[] = ['botA', 'approverA', 'analystA', 'auditorA', 'root', 'cli'];
const NOT_PLATFORM_ADMINS: Who[] = ['botA', 'approverA', 'operatorA', 'adminA', 'auditorA', 'cli'];

const expectScope = (scope: string) => (answer: Answer) => {
  expect(answer.status).toBe(202);
  expect(answer.body['scope']).toBe(scope);
  expect(String(answer.body['control_key'])).toMatch(new RegExp(`^${scope}/`));
};

const DOORS: readonly Door[] = [
  {
    route: 'POST /v1/runs',
    path: () => '/v1/runs',
    body: () => ({ goal: 'doors' }),
    ok: { who: 'botA', status: 201 },
    wrongRole: [...USERS_OF_A, 'root', 'cli'],
    // Another tenant's agent opens a run of its own tenant, which this tenant's agent cannot see.
    foreign: {
      kind: 'own_tenant',
      who: 'botB',
      check: async (answer) => {
        expect(answer.status).toBe(201);
        expect((await call('GET', `/v1/runs/${answer.body['run_id'] as string}`, KEYS.botA)).status).toBe(404);
      },
    },
    hostile: [
      { what: 'a tenant of its choosing', body: { goal: 'g', tenant_id: B }, status: 400, field: 'tenant_id' },
      { what: 'another agent', body: { goal: 'g', agent_id: id('botb') }, status: 400, field: 'agent_id' },
      { what: 'a prototype key', body: '{"goal":"g","__proto__":{"polluted":true}}', status: 400 },
      { what: 'a goal of the wrong type', body: { goal: { $ne: null } }, status: 400, field: 'goal' },
      { what: 'not JSON', body: '{"goal": ', status: 400 },
    ],
  },
  {
    route: 'GET /v1/runs/{run_id}',
    path: (f) => `/v1/runs/${f.run}`,
    ok: { who: 'botA', status: 200 },
    wrongRole: [],
    outsiders: ['botA2', 'root', 'cli'],
    foreign: { kind: 'not_found', who: 'botB' },
    hostile: [
      { what: 'a path escape', path: () => '/v1/runs/..%2F..%2Fv1%2Fcontrols', status: 404 },
      { what: 'a NUL byte', path: (f) => `/v1/runs/${f.run}%00`, status: 404 },
    ],
  },
  {
    route: 'POST /v1/runs/{run_id}/actions',
    path: (f) => `/v1/runs/${f.run}/actions`,
    body: () => proposal(fresh()),
    ok: { who: 'botA', status: 202 },
    wrongRole: [...USERS_OF_A, 'root', 'cli'],
    outsiders: ['botA2'],
    foreign: { kind: 'not_found', who: 'botB' },
    hostile: [
      { what: 'a run id in the body', body: { ...proposal('h1'), run_id: 'x' }, status: 400, field: 'run_id' },
      { what: 'a tenant in the body', body: { ...proposal('h2'), tenant_id: B }, status: 400, field: 'tenant_id' },
      {
        what: 'arguments off the schema',
        body: { ...proposal('h3'), arguments: { ticket_id: "T-1'; DROP TABLE x;--" } },
        status: 400,
        field: 'arguments.ticket_id',
      },
      { what: 'an unknown tool', body: { ...proposal('h4'), tool: '../../etc/passwd' }, status: 400, field: 'tool' },
      { what: 'a long idempotency key', body: { ...proposal(LONG) }, status: 400, field: 'idempotency_key' },
    ],
  },
  {
    route: 'GET /v1/actions/{action_id}',
    path: (f) => `/v1/actions/${f.action}`,
    ok: { who: 'approverA', status: 200 },
    wrongRole: [],
    outsiders: ['botA2', 'root', 'cli'],
    foreign: { kind: 'not_found', who: 'approverB' },
    hostile: [{ what: 'a path escape', path: () => '/v1/actions/..%2Fapprovals', status: 404 }],
  },
  {
    route: 'GET /v1/actions/{action_id}/outcome',
    path: (f) => `/v1/actions/${f.action}/outcome?timeout_ms=0`,
    ok: { who: 'botA', status: 200 },
    wrongRole: [],
    outsiders: ['botA2', 'root', 'cli'],
    foreign: { kind: 'not_found', who: 'botB' },
    hostile: [
      { what: 'a negative timeout', path: (f) => `/v1/actions/${f.action}/outcome?timeout_ms=-1`, status: 400, field: 'timeout_ms' },
      { what: 'a huge timeout', path: (f) => `/v1/actions/${f.action}/outcome?timeout_ms=99999999999`, status: 400, field: 'timeout_ms' },
      { what: 'a timeout given twice', path: (f) => `/v1/actions/${f.action}/outcome?timeout_ms=1&timeout_ms=2`, status: 400, field: 'timeout_ms' },
    ],
  },
  {
    route: 'GET /v1/approvals',
    path: () => '/v1/approvals',
    ok: { who: 'approverA', status: 200 },
    wrongRole: NOT_APPROVERS,
    foreign: { kind: 'list', who: 'approverB' },
    hostile: [{ what: 'an unknown status', path: () => '/v1/approvals?status=all', status: 400, field: 'status' }],
  },
  {
    route: 'POST /v1/approvals/{action_id}',
    path: (f) => `/v1/approvals/${f.action}`,
    body: () => ({ verdict: 'deny', comment: 'doors' }),
    ok: { who: 'approverA', status: 202 },
    wrongRole: NOT_APPROVERS,
    foreign: { kind: 'not_found', who: 'operatorB' },
    hostile: [
      { what: 'another approver', body: { verdict: 'approve', approver_id: id('approverb') }, status: 400, field: 'approver_id' },
      { what: 'a verdict off the enum', body: { verdict: 'approve; deny' }, status: 400, field: 'verdict' },
      { what: 'a long comment', body: { verdict: 'approve', comment: LONG }, status: 400, field: 'comment' },
    ],
  },
  {
    route: 'GET /v1/reconciliation',
    path: () => '/v1/reconciliation',
    ok: { who: 'operatorA', status: 200 },
    wrongRole: NOT_TENANT_OPERATORS,
    foreign: { kind: 'list', who: 'operatorB' },
    hostile: [],
  },
  {
    route: 'POST /v1/reconciliation/{action_id}',
    path: (f) => `/v1/reconciliation/${f.unknown}`,
    body: () => ({ outcome: 'failed', note: 'no such call in the system of record' }),
    ok: { who: 'operatorA', status: 202 },
    wrongRole: NOT_TENANT_OPERATORS,
    foreign: { kind: 'not_found', who: 'operatorB' },
    hostile: [
      { what: 'a resolver of its choosing', body: { outcome: 'failed', note: 'x', resolved_by: id('operatorb') }, status: 400, field: 'resolved_by' },
      { what: 'an outcome off the enum', body: { outcome: 'unknown', note: 'x' }, status: 400, field: 'outcome' },
      { what: 'no note', body: { outcome: 'succeeded' }, status: 400, field: 'note' },
      { what: 'a long note', body: { outcome: 'succeeded', note: LONG }, status: 400, field: 'note' },
      { what: 'an action whose outcome is known', path: (f) => `/v1/reconciliation/${f.action}`, status: 409, field: 'action_id' },
    ],
  },
  {
    route: 'GET /v1/controls',
    path: () => '/v1/controls',
    ok: { who: 'auditorA', status: 200 },
    wrongRole: ['botA', 'approverA', 'analystA', 'cli'],
    foreign: { kind: 'list', who: 'auditorB' },
    hostile: [],
  },
  ...(['kill-switch', 'safe-mode'] as const).flatMap((name): Door[] => [
    {
      route: `PUT /v1/controls/${name}`,
      path: () => `/v1/controls/${name}`,
      body: () => switchBody('doors'),
      ok: { who: 'operatorA', status: 202 },
      wrongRole: NOT_TENANT_OPERATORS,
      foreign: { kind: 'own_tenant', who: 'operatorB', check: expectScope(B) },
      hostile: [
        { what: 'a platform scope in the body', body: { ...switchBody('x'), scope: '*' }, status: 400, field: 'scope' },
        { what: 'a tenant in the body', body: { ...switchBody('x'), tenant_id: B }, status: 400, field: 'tenant_id' },
        { what: 'enabled as a string', body: { enabled: 'true', reason: 'x' }, status: 400, field: 'enabled' },
        { what: 'a long reason', body: { enabled: false, reason: LONG }, status: 400, field: 'reason' },
      ],
    },
    {
      route: `PUT /v1/controls/tools/{tool}/${name}`,
      path: () => `/v1/controls/tools/refunds.issue/${name}`,
      body: () => switchBody('doors'),
      ok: { who: 'operatorA', status: 202 },
      wrongRole: NOT_TENANT_OPERATORS,
      // A tool's switch is always the caller's tenant's.
      foreign: { kind: 'own_tenant', who: 'operatorB', check: expectScope(B) },
      hostile: [
        { what: 'an unknown tool', path: () => `/v1/controls/tools/refunds.nope/${name}`, body: switchBody('x'), status: 404 },
        { what: 'a tool pattern', path: () => `/v1/controls/tools/*/${name}`, body: switchBody('x'), status: 404 },
        { what: 'a scope in the body', body: { ...switchBody('x'), scope: '*' }, status: 400, field: 'scope' },
      ],
    },
    {
      route: `PUT /v1/controls/agents/{agent}/${name}`,
      path: () => `/v1/controls/agents/${id('bota')}/${name}`,
      body: () => switchBody('doors'),
      ok: { who: 'operatorA', status: 202 },
      wrongRole: NOT_TENANT_OPERATORS,
      foreign: { kind: 'not_found', who: 'operatorB' },
      hostile: [
        { what: 'another tenant’s agent', path: () => `/v1/controls/agents/${id('botb')}/${name}`, body: switchBody('x', true), status: 404 },
        { what: 'a user id', path: () => `/v1/controls/agents/${id('operatorb')}/${name}`, body: switchBody('x', true), status: 404 },
        { what: 'every agent', path: () => `/v1/controls/agents/*/${name}`, body: switchBody('x', true), status: 404 },
      ],
    },
    {
      route: `PUT /v1/controls/platform/${name}`,
      path: () => `/v1/controls/platform/${name}`,
      // Released, never pulled: a platform-wide switch of every tool would stop everyone sharing the broker.
      body: () => switchBody('doors'),
      ok: { who: 'root', status: 202 },
      wrongRole: NOT_PLATFORM_ADMINS,
      foreign: { kind: 'own_tenant', who: 'operatorB', check: (answer) => expect(answer.status).toBe(403) },
      hostile: [{ what: 'a tenant in the body', body: { ...switchBody('x'), tenant_id: A }, status: 400, field: 'tenant_id' }],
    },
    {
      route: `PUT /v1/controls/platform/tools/{tool}/${name}`,
      path: () => `/v1/controls/platform/tools/${PROBE}/${name}`,
      body: () => switchBody('doors'),
      ok: { who: 'root', status: 202 },
      wrongRole: NOT_PLATFORM_ADMINS,
      foreign: { kind: 'own_tenant', who: 'operatorB', check: (answer) => expect(answer.status).toBe(403) },
      hostile: [{ what: 'an unknown tool', path: () => `/v1/controls/platform/tools/refunds.nope/${name}`, body: switchBody('x'), status: 404 }],
    },
  ]),
  {
    route: 'GET /v1/console/session',
    path: () => '/v1/console/session',
    ok: { who: 'approverA', status: 200 },
    // The console is for people: agents and services are refused.
    wrongRole: ['botA', 'cli'],
    foreign: {
      kind: 'own_tenant',
      who: 'auditorB',
      check: (answer) => {
        expect(answer.status).toBe(200);
        expect(answer.body).toMatchObject({ user_id: id('auditorb'), tenant: B, views: ['runs', 'controls', 'spend', 'ledger'] });
      },
    },
    hostile: [],
  },
  {
    route: 'GET /v1/console/runs',
    path: () => '/v1/console/runs',
    ok: { who: 'analystA', status: 200 },
    wrongRole: ['botA', 'cli'],
    foreign: { kind: 'list', who: 'auditorB' },
    hostile: [
      { what: 'a limit of 0', path: () => '/v1/console/runs?limit=0', status: 400, field: 'limit' },
      { what: 'a limit that is no number', path: () => '/v1/console/runs?limit=1e3', status: 400, field: 'limit' },
      { what: 'a search given twice', path: () => '/v1/console/runs?q=a&q=b', status: 400, field: 'q' },
      { what: 'a long search', path: () => `/v1/console/runs?q=${'x'.repeat(300)}`, status: 400, field: 'q' },
    ],
  },
  {
    route: 'GET /v1/console/runs/{run_id}/timeline',
    path: (f) => `/v1/console/runs/${f.run}/timeline`,
    ok: { who: 'auditorA', status: 200 },
    wrongRole: ['botA', 'cli'],
    outsiders: ['root'],
    foreign: { kind: 'not_found', who: 'approverB' },
    hostile: [{ what: 'a path escape', path: () => '/v1/console/runs/..%2F..%2Fcontrols/timeline', status: 404 }],
  },
  {
    route: 'GET /v1/console/stream',
    path: () => '/v1/console/stream',
    ok: { who: 'approverA', status: 200 },
    wrongRole: ['botA', 'botB', 'cli'],
    // B's approver gets B's stream: it opens with `ready` and carries B's news only.
    foreign: {
      kind: 'own_tenant',
      who: 'approverB',
      check: (answer) => {
        expect(answer.status).toBe(200);
        expect(answer.text).toContain('event: ready');
        expect(answer.text).not.toContain(A);
      },
    },
    hostile: [],
  },
  {
    route: 'GET /v1/console/approvals/history',
    path: () => '/v1/console/approvals/history',
    ok: { who: 'approverA', status: 200 },
    wrongRole: NOT_APPROVERS,
    foreign: { kind: 'list', who: 'approverB' },
    hostile: [{ what: 'a limit over 200', path: () => '/v1/console/approvals/history?limit=201', status: 400, field: 'limit' }],
  },
  // The spend and ledger views read the ledger's door with the caller's key; this test runs no
  // ledger, so the right caller gets past the roles to 503 CONSOLE_LEDGER_UNAVAILABLE (the console's
  // e2e suite reads through a real ledger, whose roles and row policies apply again).
  {
    route: 'POST /v1/console/query',
    path: () => '/v1/console/query',
    body: () => ({ sql: 'SELECT count() AS n FROM actions' }),
    ok: { who: 'analystA', status: 503 },
    wrongRole: ['botA', 'approverA', 'operatorA', 'cli'],
    foreign: { kind: 'own_tenant', who: 'auditorB', check: (answer) => expect(answer.body['error']).toMatchObject({ code: 'CONSOLE_LEDGER_UNAVAILABLE' }) },
    hostile: [
      { what: 'not JSON', body: '{"sql": ', status: 400 },
      { what: 'a prototype key', body: '{"sql":"SELECT 1","__proto__":{"polluted":true}}', status: 400 },
    ],
  },
  {
    route: 'GET /v1/console/ledger',
    path: () => '/v1/console/ledger',
    ok: { who: 'auditorA', status: 503 },
    wrongRole: ['botA', 'approverA', 'operatorA', 'analystA', 'cli'],
    foreign: { kind: 'own_tenant', who: 'auditorB', check: (answer) => expect(answer.status).toBe(503) },
    hostile: [],
  },
  {
    route: 'GET /v1/console/ledger/runs/{run_id}',
    path: (f) => `/v1/console/ledger/runs/${f.run}`,
    ok: { who: 'auditorA', status: 503 },
    // A platform admin names no tenant here: the CLI's export does that.
    wrongRole: ['botA', 'approverA', 'operatorA', 'analystA', 'root', 'cli'],
    // The tenant is the caller's own (never in the path): B's auditor asks B's chain.
    foreign: { kind: 'own_tenant', who: 'auditorB', check: (answer) => expect(answer.status).toBe(503) },
    hostile: [],
  },
];

/** Routes anyone may call: the OpenAPI document itself and the health endpoints. */
const PUBLIC_ROUTES = ['GET /v1/openapi.json', 'GET /health', 'GET /health/ready'];

function documentedRoutes(): string[] {
  const paths = OPENAPI_DOCUMENT['paths'] as Record<string, Record<string, unknown>>;
  return Object.entries(paths).flatMap(([path, operations]) => Object.keys(operations).map((method) => `${method.toUpperCase()} ${path}`));
}

function methodOf(door: Door): string {
  return door.route.split(' ')[0] ?? 'GET';
}

beforeAll(async () => {
  workDir = mkdtempSync(join(tmpdir(), 'writ-doors-int-'));
  writeFileSync(join(workDir, 'directory.json'), JSON.stringify(directoryDocument(KEYS)));
  const tools = join(workDir, 'tools');
  cpSync(join(root, 'tools'), tools, { recursive: true });
  const ticketsGet = JSON.parse(readFileSync(join(tools, 'tickets.get@1.0.0.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(join(tools, `${PROBE}@1.0.0.json`), JSON.stringify({ ...ticketsGet, name: PROBE }));

  producer = new EventProducer({ brokers, clientId: 'doors-int-test' });
  await producer.connect();
  observer = new EventConsumer({
    brokers,
    groupId: uniqueName('doors_int_observer'),
    // The gateway's own topics: proposals, approvals, controls.
    topics: [TOPICS.proposals, TOPICS.approvals, TOPICS.controls],
    dlqTopic: 'writ.gateway.dlq',
    handler: (event) => {
      const payload = event.payload as Loose;
      const tenant = (payload['meta'] as { tenant_id: string }).tenant_id;
      if (tenant === A || tenant === B || tenant === '*') seen.push({ type: event.type, payload });
    },
  });
  await observer.start();

  const config = loadServiceConfig(26080, gatewayConfigSpec, {
    WRIT_KAFKA_BROKERS: brokers.join(','),
    WRIT_KAFKA_GROUP_ID: uniqueName('writ_gateway_doors'),
    WRIT_DIRECTORY_FILE: join(workDir, 'directory.json'),
    WRIT_TOOLS_DIR: tools,
    WRIT_GATEWAY_CATCHUP_TIMEOUT_MS: '20000',
    WRIT_GATEWAY_SYNC_WAIT_MS: '100',
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
  app = await NestFactory.create<NestFastifyApplication>(module, new FastifyAdapter(), { logger: ['error'] });
  await app.listen(0, '127.0.0.1');
  url = (await app.getUrl()).replace('[::1]', '127.0.0.1');

  fixtureA = await fixture(KEYS.botA, A);
  fixtureB = await fixture(KEYS.botB, B);
  for (const [approver, f] of [
    [KEYS.approverA, fixtureA],
    [KEYS.approverB, fixtureB],
  ] as const) {
    await waitFor(
      async () => ((await call('GET', '/v1/approvals', approver)).body['approvals'] as Loose[] | undefined)?.some((a) => a['action_id'] === f.action),
      { timeoutMs: 15_000, what: 'the fixture awaiting approval' },
    );
  }
  for (const [operator, f] of [
    [KEYS.operatorA, fixtureA],
    [KEYS.operatorB, fixtureB],
  ] as const) {
    await waitFor(
      async () =>
        ((await call('GET', '/v1/reconciliation', operator)).body['reconciliation'] as Loose[] | undefined)?.some((a) => a['action_id'] === f.unknown),
      { timeoutMs: 15_000, what: 'the fixture awaiting reconciliation' },
    );
  }
}, 120_000);

afterAll(async () => {
  await app?.close();
  await observer?.stop();
  await producer?.disconnect();
  if (workDir !== undefined) rmSync(workDir, { recursive: true, force: true });
});

describe('the gateway’s doors', () => {
  it('has a row for every route of the OpenAPI document (a new route without door tests fails here)', () => {
    const tested = DOORS.map((door) => door.route).sort();
    expect(new Set(tested).size).toBe(tested.length);
    expect(tested).toEqual(
      documentedRoutes()
        .filter((route) => !PUBLIC_ROUTES.includes(route))
        .sort(),
    );
  });

  it.each(DOORS.map((door) => [door.route, door] as const))('%s: 401 without a key or with an unknown one', async (_route, door) => {
    for (const key of [undefined, 'not-a-key', `${KEYS.operatorA}x`, KEYS.operatorA.toUpperCase()]) {
      const answer = await call(methodOf(door), door.path(fixtureA), key, door.body?.());
      expect(answer.status, String(key)).toBe(401);
      expect(answer.body['error']).toMatchObject({ code: 'UNAUTHENTICATED' });
    }
  });

  it.each(DOORS.map((door) => [door.route, door] as const))('%s: 403 for a key of the wrong role, 404 for outsiders', async (_route, door) => {
    for (const who of door.wrongRole) {
      const answer = await call(methodOf(door), door.path(fixtureA), KEYS[who], door.body?.());
      expect(answer.status, who).toBe(403);
      expect(answer.body['error']).toMatchObject({ code: 'FORBIDDEN' });
    }
    for (const who of door.outsiders ?? []) {
      const answer = await call(methodOf(door), door.path(fixtureA), KEYS[who], door.body?.());
      expect(answer.status, who).toBe(404);
      expect(Object.keys(answer.body), who).toEqual(['error']);
    }
  });

  it.each(DOORS.map((door) => [door.route, door] as const))('%s: another tenant’s key never reaches this tenant’s data', async (_route, door) => {
    const { foreign } = door;
    const answer = await call(methodOf(door), door.path(fixtureA), KEYS[foreign.who], door.body?.());
    switch (foreign.kind) {
      case 'not_found':
        // The same answer as for an id that does not exist: nothing but the error.
        expect(answer.status).toBe(404);
        expect(answer.body['error']['code']).toMatch(/_NOT_FOUND$/);
        expect(Object.keys(answer.body)).toEqual(['error']);
        break;
      case 'list':
        expect(answer.status).toBe(200);
        // Its own tenant's items, never this one's.
        for (const text of [A, fixtureA.run, fixtureA.action, fixtureA.unknown]) expect(answer.text).not.toContain(text);
        break;
      case 'own_tenant':
        await foreign.check(answer);
        break;
    }
  });

  it.each(DOORS.filter((door) => door.hostile.length > 0).map((door) => [door.route, door] as const))(
    '%s: hostile input is refused with a clear error',
    async (_route, door) => {
      for (const hostile of door.hostile) {
        const answer = await call(methodOf(door), (hostile.path ?? door.path)(fixtureA), KEYS[door.ok.who], hostile.body ?? door.body?.());
        expect(answer.status, hostile.what).toBe(hostile.status);
        expect(answer.body['error']?.['code'], hostile.what).toEqual(expect.any(String));
        if (hostile.field !== undefined) expect(answer.body['error']['field'], hostile.what).toBe(hostile.field);
      }
      expect(({} as Loose)['polluted']).toBeUndefined();
    },
  );

  it.each(DOORS.map((door) => [door.route, door] as const))('%s: opens for the right caller', async (_route, door) => {
    const answer = await call(methodOf(door), door.path(fixtureA), KEYS[door.ok.who], door.body?.());
    expect(answer.status, answer.text).toBe(door.ok.status);
  });

  it('wrote nothing for any refused call: no foreign approval, proposal or control of tenant A', async () => {
    // A marker written after every call above: once it is seen, everything before it is too.
    const marker = await call('PUT', '/v1/controls/safe-mode', KEYS.operatorA, switchBody(`marker ${suffix}`));
    expect(marker.status).toBe(202);
    await waitFor(() => seen.some((e) => e.payload['reason'] === `marker ${suffix} ${suffix}`), { timeoutMs: 15_000, what: 'the marker control' });
    const inA = seen.filter((e) => e.payload['meta']['tenant_id'] === A);
    const idsOfB = [id('botb'), id('approverb'), id('operatorb'), id('auditorb')];
    for (const event of inA)
      expect(idsOfB, JSON.stringify(event.payload)).not.toContain(event.payload['approver_id'] ?? event.payload['set_by'] ?? event.payload['agent_id']);
    // Controls of tenant A were set by A's operators only; platform ones by the platform admin only.
    expect(new Set(inA.filter((e) => e.type === 'ControlChanged').map((e) => e.payload['set_by']))).toEqual(new Set([id('operatora')]));
    const platform = seen.filter((e) => e.type === 'ControlChanged' && e.payload['meta']['tenant_id'] === '*' && String(e.payload['reason']).endsWith(suffix));
    expect(new Set(platform.map((e) => e.payload['set_by']))).toEqual(new Set([id('root')]));
    // Hostile proposals emitted nothing.
    expect(seen.filter((e) => e.type === 'ActionProposed' && /^h\d$/.test(String(e.payload['idempotency_key'])))).toEqual([]);
  });
});

describe('controls across tenants and the platform', () => {
  it('a tenant’s switch is listed to that tenant only; a platform switch to every tenant; no tenant releases the platform’s', async () => {
    const pulled = await call('PUT', `/v1/controls/tools/${PROBE}/kill-switch`, KEYS.operatorA, switchBody(`a ${suffix}`, true));
    expect(pulled.body).toMatchObject({ control_key: `${A}/tool:${PROBE}`, scope: A, enabled: true });
    const platform = await call('PUT', `/v1/controls/platform/tools/${PROBE}/safe-mode`, KEYS.root, switchBody(`p ${suffix}`, true));
    expect(platform.body).toMatchObject({
      control_key: `*/safe_mode:tool:${PROBE}`,
      scope: '*',
      control: 'safe_mode',
      subject: 'tool',
      tool: PROBE,
      enabled: true,
    });
    try {
      const keysOf = async (who: Who) => ((await call('GET', '/v1/controls', KEYS[who])).body['controls'] as Loose[]).map((c) => c['control_key'] as string);
      expect(await keysOf('operatorA')).toEqual(expect.arrayContaining([`${A}/tool:${PROBE}`, `*/safe_mode:tool:${PROBE}`]));
      expect(await keysOf('auditorB')).toContain(`*/safe_mode:tool:${PROBE}`);
      expect(await keysOf('auditorB')).not.toContain(`${A}/tool:${PROBE}`);
      expect(await keysOf('root')).toEqual(expect.arrayContaining([`${A}/tool:${PROBE}`, `*/safe_mode:tool:${PROBE}`]));

      // B's operator "releasing" the same tool writes B's own control; A's stays on.
      const byB = await call('PUT', `/v1/controls/tools/${PROBE}/kill-switch`, KEYS.operatorB, switchBody(`b ${suffix}`));
      expect(byB.body).toMatchObject({ control_key: `${B}/tool:${PROBE}`, scope: B });
      expect(await keysOf('operatorA')).toContain(`${A}/tool:${PROBE}`);
      // A tenant's release of its own safe mode leaves the platform's on.
      await call('PUT', `/v1/controls/tools/${PROBE}/safe-mode`, KEYS.operatorA, switchBody(`a ${suffix}`));
      expect(await keysOf('operatorA')).toContain(`*/safe_mode:tool:${PROBE}`);
      // Only the platform admin releases it.
      expect((await call('PUT', `/v1/controls/platform/tools/${PROBE}/safe-mode`, KEYS.adminA, switchBody('x'))).status).toBe(403);
    } finally {
      await call('PUT', `/v1/controls/tools/${PROBE}/kill-switch`, KEYS.operatorA, switchBody(`a ${suffix}`));
      await call('PUT', `/v1/controls/platform/tools/${PROBE}/safe-mode`, KEYS.root, switchBody(`p ${suffix}`));
    }
    const left = ((await call('GET', '/v1/controls', KEYS.root)).body['controls'] as Loose[]).filter((c) => String(c['control_key']).includes(PROBE));
    expect(left).toEqual([]);
  });
});

describe('a live directory', () => {
  it('takes a rotated key and a revoked principal into account without a restart', async () => {
    const rotated = { ...KEYS, operatorA: newKey('operatora-2') };
    // During the rotation both keys are valid.
    const both = directoryDocument(rotated);
    const operator = both.users.find((u) => u.id === id('operatora'));
    if (operator === undefined) throw new Error('no operator');
    operator.api_key_sha256 = [hashApiKey(KEYS.operatorA), hashApiKey(rotated.operatorA)];
    writeFileSync(join(workDir, 'directory.json'), JSON.stringify(both));
    await waitFor(async () => (await call('GET', '/v1/controls', rotated.operatorA)).status === 200, { timeoutMs: 10_000, what: 'the new key accepted' });
    expect((await call('GET', '/v1/controls', KEYS.operatorA)).status).toBe(200);

    // The rotation ends and the second agent is revoked.
    writeFileSync(join(workDir, 'directory.json'), JSON.stringify(directoryDocument(rotated, [id('bota2')])));
    await waitFor(async () => (await call('GET', '/v1/controls', KEYS.operatorA)).status === 401, { timeoutMs: 10_000, what: 'the old key refused' });
    expect((await call('GET', '/v1/controls', rotated.operatorA)).status).toBe(200);
    expect((await call('POST', '/v1/runs', KEYS.botA2, { goal: 'revoked' })).status).toBe(401);

    // A broken file keeps the last valid directory.
    writeFileSync(join(workDir, 'directory.json'), '{"agents": [');
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    expect((await call('GET', '/v1/controls', rotated.operatorA)).status).toBe(200);
  });
});
