// The OpenAI-compatible model proxy against the real stack and a simulated OpenAI-compatible
// provider (a small HTTP server here: deterministic tokens and usage, streaming chunks, an error
// mode). Everything on Writ's side is real: each call is a governed action (contract, Cedar policy,
// budget reservation from max_tokens and the prompt's size, the executor's call with the
// provider's credential, settlement at the tokens used, the ledger and ClickHouse).
import { randomUUID } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RelayReader, modelToolName, parseChatRequest, proposalArguments } from '@writ/model-proxy';
import type { ModelCatalogue } from '@writ/model-proxy';
import type { SpanRecord } from '@writ/telemetry';
import { waitFor } from '@writ/testing';
import { SIM_COMPLETION_TOKENS, SIM_PIECES, simModel, simModelStack, startSimProvider } from './model-provider.ts';
import type { ProviderCall, SimPrice } from './model-provider.ts';
import { authAs, keyOf, root, startE2eStack, stopE2eStack } from './support.ts';
import type { E2eStack } from './support.ts';

const BASE_PORT = 27180;
/** The simulated provider: outside the stack's ports (base +0..+5, +10, +20.., +30..). */
const PROVIDER_PORT = BASE_PORT + 15;
const PROVIDER_KEY = 'sim-provider-key-5b2f9c';
const DOOR_TOKEN = 'model-door-token-e2e-8d1a4e';
/** How long the proxy holds a call for its decision, a person's approval included (WRIT_MODEL_DECISION_WAIT_MS). */
const DECISION_WAIT_MS = 8_000;

const LARGE: SimPrice = { input: 3_000_000, output: 15_000_000 };
const SMALL: SimPrice = { input: 150_000, output: 600_000 };
let providerCalls: ProviderCall[];
let provider: Server;
let e2e: E2eStack;
let gateway: string;
let workDir: string;
let runId: string;
let catalogue: ModelCatalogue;

function chat(body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${gateway}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${keyOf('triage-bot')}`, 'x-writ-run': runId, ...headers },
    body: JSON.stringify(body),
  });
}

const hello = [
  { role: 'system', content: 'You triage helpdesk tickets.' },
  { role: 'user', content: 'Say hello.' },
];

function price(p: { input: number; output: number }, input: number, output: number): number {
  return Math.ceil((input * p.input + output * p.output) / 1_000_000);
}

async function query(sql: string, params: Record<string, string>): Promise<Record<string, unknown>[]> {
  const response = await fetch(`${e2e.stack.service('ledger').url}/v1/query`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...authAs('ana') },
    body: JSON.stringify({ sql, params }),
  });
  const body = (await response.json()) as { rows?: Record<string, unknown>[] };
  if (body.rows === undefined) throw new Error(`the query door answered HTTP ${response.status}: ${JSON.stringify(body)}`);
  return body.rows;
}

beforeAll(async () => {
  ({ server: provider, calls: providerCalls } = await startSimProvider(PROVIDER_PORT, PROVIDER_KEY));
  workDir = mkdtempSync(join(tmpdir(), 'writ-e2e-models-'));
  // The operator imports the models into a copy of the registry, and forbids one model to the triage agent.
  const models = simModelStack({
    workDir,
    basePort: BASE_PORT,
    providerPort: PROVIDER_PORT,
    providerKey: PROVIDER_KEY,
    doorToken: DOOR_TOKEN,
    models: {
      'sim-large': simModel('large-1', 'large', LARGE, { degrade_to: 'sim-small' }),
      'sim-small': simModel('small-1', 'small', SMALL),
      'sim-reviewed': simModel('reviewed-1', 'large', LARGE),
      'sim-restricted': simModel('restricted-1', 'large', LARGE),
    },
  });
  catalogue = models.catalogue;
  const policyDir = join(workDir, 'policies');
  cpSync(join(root, 'policies'), policyDir, { recursive: true });
  writeFileSync(
    join(policyDir, 'restricted-model-not-for-triage.cedar'),
    [
      '// The restricted model is for other agents: the triage agent may not call it.',
      '@id("restricted-model-not-for-triage")',
      'forbid (',
      '  principal == Writ::Agent::"triage-bot",',
      '  action == Writ::Action::"invoke",',
      '  resource == Writ::Tool::"model.sim_restricted"',
      ');',
      '',
    ].join('\n'),
  );
  // And one model a manager must approve call by call: reading is allowed, but for it.
  writeFileSync(
    join(policyDir, 'read-tools-allowed.cedar'),
    [
      '@id("read-tools-allowed")',
      'permit (principal, action == Writ::Action::"invoke", resource)',
      'when { resource.effect == Writ::Effect::"read" }',
      'unless { resource == Writ::Tool::"model.sim_reviewed" };',
      '',
    ].join('\n'),
  );
  writeFileSync(
    join(policyDir, 'reviewed-model-needs-a-manager.cedar'),
    [
      '@id("reviewed-model-needs-a-manager")',
      '@approval_count("1")',
      '@approval_roles("manager")',
      'permit (principal, action == Writ::Action::"invoke", resource == Writ::Tool::"model.sim_reviewed")',
      'when { context.approval.count >= 1 && context.approval.roles.contains("manager") };',
      '',
    ].join('\n'),
  );
  e2e = await startE2eStack(BASE_PORT, {
    WRIT_MODEL_DECISION_WAIT_MS: String(DECISION_WAIT_MS),
    // One call at a time per agent: the held call below shows the agent's second one refused at once.
    WRIT_MODEL_MAX_IN_FLIGHT_PER_AGENT: '1',
    // Four at once per gateway, in the pipeline gate too (its min is then its max): a slot or a
    // place in the gate not given back after a call would refuse this file's later calls.
    WRIT_MODEL_MAX_IN_FLIGHT: '4',
    WRIT_POLICY_DIR: policyDir,
    ...models.env,
  });
  gateway = e2e.stack.gatewayUrl;
  ({ run_id: runId } = await e2e.agent.openRun('answer with models'));
}, 180_000);

afterAll(async () => {
  await stopE2eStack(e2e);
  await new Promise((resolve) => provider?.close(resolve));
  if (workDir !== undefined) rmSync(workDir, { recursive: true, force: true });
});

describe('the model proxy', () => {
  it('completes a call, reserved from max_tokens and the prompt, settled at the tokens the provider reported', async () => {
    const response = await chat({ model: 'sim-large', messages: hello, max_tokens: 200 });
    expect(response.status).toBe(200);
    const body = (await response.json()) as { model: string; choices: { message: { content: string } }[]; usage: { prompt_tokens: number } };
    expect(body.model).toBe('sim-large');
    expect(body.choices[0]?.message.content).toBe('Hello from sim');
    const actionId = response.headers.get('x-writ-action-id') ?? '';
    const settled = price(LARGE, 20, SIM_COMPLETION_TOKENS);
    expect(Number(response.headers.get('x-writ-cost-micros'))).toBe(settled);
    // The provider got the prompt, its own model name and the provider's key (which the gateway never holds).
    const call = providerCalls.at(-1);
    expect(call).toMatchObject({ model: 'large-1', authorization: `Bearer ${PROVIDER_KEY}`, stream: false });
    expect(call?.body['messages']).toEqual(hello);
    const action = await e2e.agent.outcome(actionId);
    expect(action).toMatchObject({ status: 'completed', tool: 'model.sim_large', cost_micros: settled });
    // The proposal carried sizes and a digest, never the prompt.
    const args = JSON.parse(JSON.stringify(action.arguments ?? {})) as Record<string, unknown>;
    expect(args).toMatchObject({ model: 'sim-large', max_tokens: 200, messages: 2, stream: false });
    expect(JSON.stringify(action)).not.toContain('You triage helpdesk tickets.');
    // Spend in ClickHouse: the settled cost, below what was reserved (200 output tokens and the prompt's bytes).
    const rows = await waitFor(
      async () => {
        const found = await query('SELECT cost_micros, released_micros FROM spend WHERE action_id = {action:String}', { action: actionId });
        return found.length > 0 ? found : undefined;
      },
      { timeoutMs: 20_000, what: 'the call settled in ClickHouse' },
    );
    expect(Number(rows[0]?.['cost_micros'])).toBe(settled);
    expect(Number(rows[0]?.['released_micros'])).toBeGreaterThan(0);
    // The gateway's span of the call is the parent of its proposal's, and times its milestones in order.
    const [callSpan, proposeSpan] = await waitFor(
      () => {
        const spans = readFileSync(e2e.stack.tracesFile, 'utf8')
          .trim()
          .split('\n')
          .map((line) => JSON.parse(line) as SpanRecord);
        const proposed = spans.find((s) => s.name === 'gateway.propose' && s.attributes['writ.action_id'] === actionId);
        const called = spans.find((s) => s.name === 'gateway.model_call' && s.spanId === proposed?.parentSpanId);
        return called === undefined || proposed === undefined ? undefined : ([called, proposed] as const);
      },
      { timeoutMs: 20_000, what: "the gateway's gateway.model_call span, parent of the call's gateway.propose" },
    );
    expect(callSpan.traceId).toBe(proposeSpan.traceId);
    expect(callSpan.attributes['writ.model']).toBe('sim-large');
    const milestones = ['parked', 'proposed', 'answering', 'relayed', 'logged'].map((m) => Number(callSpan.attributes[`writ.model.${m}_ms`]));
    expect(milestones.every((ms) => Number.isFinite(ms) && ms >= 0)).toBe(true);
    expect([...milestones].sort((a, b) => a - b)).toEqual(milestones);
    expect(callSpan.durationMs).toBeGreaterThanOrEqual(milestones.at(-1) ?? Number.NaN);
    // The executor timed the provider's answer in the relay's head: a part of the time to `answering`.
    const providerMs = Number(callSpan.attributes['writ.model.provider_ms']);
    expect(providerMs).toBeGreaterThan(0);
    expect(providerMs).toBeLessThanOrEqual((milestones[2] ?? 0) - (milestones[1] ?? 0));
  });

  it('relays a stream chunk by chunk and ends it with [DONE] once the call is settled', async () => {
    const response = await chat({ model: 'sim-small', messages: hello, max_tokens: 50, stream: true });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/event-stream');
    const text = await response.text();
    const events = text.split('\n\n').filter((event) => event.startsWith('data: '));
    expect(events.at(-1)).toBe('data: [DONE]');
    const chunks = events
      .slice(0, -1)
      .map((event) => JSON.parse(event.slice(6)) as { model: string; choices: { delta?: { content?: string } }[]; usage?: unknown });
    // Every chunk of the provider: the role, three pieces, the finish and the usage.
    expect(chunks).toHaveLength(SIM_PIECES.length + 3);
    expect(chunks.map((chunk) => chunk.choices[0]?.delta?.content ?? '').join('')).toBe(SIM_PIECES.join(''));
    expect(chunks.every((chunk) => chunk.model === 'sim-small')).toBe(true);
    expect(chunks.at(-1)?.usage).toMatchObject({ prompt_tokens: 20, completion_tokens: SIM_COMPLETION_TOKENS });
    expect(providerCalls.at(-1)?.body['stream_options']).toEqual({ include_usage: true });
    const action = await e2e.agent.outcome(response.headers.get('x-writ-action-id') ?? '');
    expect(action).toMatchObject({ status: 'completed', tool: 'model.sim_small', cost_micros: price(SMALL, 20, SIM_COMPLETION_TOKENS) });
  });

  it('refuses a model the agent’s policy forbids, naming the policy, and never calls the provider', async () => {
    const before = providerCalls.length;
    const response = await chat({ model: 'sim-restricted', messages: hello, max_tokens: 10 });
    expect(response.status).toBe(403);
    const body = (await response.json()) as { error: { code: string; message: string; type: string; action_id: string } };
    expect(body.error).toMatchObject({ code: 'POLICY_DENIED', type: 'permission_error' });
    expect(body.error.message).toContain('restricted-model-not-for-triage');
    expect((await e2e.agent.outcome(body.error.action_id)).status).toBe('denied');
    expect(providerCalls.length).toBe(before);
    // GET /v1/models hides it from the agent.
    const models = (await (await fetch(`${gateway}/v1/models`, { headers: { authorization: `Bearer ${keyOf('triage-bot')}` } })).json()) as {
      data: { id: string }[];
    };
    expect(models.data.map((model) => model.id).sort()).toEqual(['sim-large', 'sim-reviewed', 'sim-small']);
  });

  it('routes a call to the cheaper tier when the budget cannot hold the model asked for', async () => {
    // A run whose cap holds the small model's reservation (1,000 output tokens: 600 micro-USD and the prompt) but not the large one's (15,000).
    const { run_id: tight } = await e2e.agent.openRun('a tight budget', { max_cost_micros: 5_000, currency: 'USD' });
    const response = await chat({ model: 'sim-large', messages: hello, max_tokens: 1_000 }, { 'x-writ-run': tight });
    expect(response.status).toBe(200);
    expect(response.headers.get('x-writ-model')).toBe('sim-small');
    expect(response.headers.get('x-writ-routed-from')).toBe('sim-large');
    expect(((await response.json()) as { model: string }).model).toBe('sim-small');
    expect(providerCalls.at(-1)?.model).toBe('small-1');
    const action = await e2e.agent.outcome(response.headers.get('x-writ-action-id') ?? '');
    expect(action).toMatchObject({ status: 'completed', tool: 'model.sim_small', cost_micros: price(SMALL, 20, SIM_COMPLETION_TOKENS) });
  });

  it('maps a provider error to an OpenAI error and an ActionFailed', async () => {
    const response = await chat({ model: 'sim-small', messages: [{ role: 'user', content: 'FAIL' }], max_tokens: 10 });
    expect(response.status).toBe(500);
    const body = (await response.json()) as { error: { message: string; type: string; code: string; action_id: string } };
    expect(body.error).toMatchObject({ message: 'the simulated provider is overloaded', type: 'server_error', code: 'overloaded' });
    const action = await e2e.agent.outcome(body.error.action_id);
    expect(action).toMatchObject({ status: 'failed', tool: 'model.sim_small', cost_micros: 0 });
  });

  it('puts token usage and cost per run, agent and model in ClickHouse, queryable through the ledger’s door', async () => {
    const sql =
      'SELECT agent_id, model, count() AS calls, sum(input_tokens) AS input, sum(output_tokens) AS output, sum(cost_micros) AS cost ' +
      'FROM model_usage WHERE run_id = {run:String} GROUP BY agent_id, model ORDER BY model';
    const rows = await waitFor(
      async () => {
        const found = await query(sql, { run: runId });
        return found.length === 2 ? found : undefined;
      },
      { timeoutMs: 20_000, what: 'the run’s model usage in ClickHouse' },
    );
    // The failed call used no tokens and left no usage; the two completed ones did, at their own model's prices.
    expect(
      rows.map((row) => ({ ...row, calls: Number(row['calls']), input: Number(row['input']), output: Number(row['output']), cost: Number(row['cost']) })),
    ).toEqual([
      { agent_id: 'triage-bot', model: 'sim-large', calls: 1, input: 20, output: SIM_COMPLETION_TOKENS, cost: price(LARGE, 20, SIM_COMPLETION_TOKENS) },
      { agent_id: 'triage-bot', model: 'sim-small', calls: 1, input: 20, output: SIM_COMPLETION_TOKENS, cost: price(SMALL, 20, SIM_COMPLETION_TOKENS) },
    ]);
  });

  it('refuses hostile requests in OpenAI’s shape: no key, a wrong key, a body that breaks the schema', async () => {
    const noKey = await fetch(`${gateway}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'sim-small', messages: hello }),
    });
    expect(noKey.status).toBe(401);
    expect(((await noKey.json()) as { error: { type: string; param: string } }).error).toMatchObject({ type: 'authentication_error', param: 'authorization' });
    const wrongKey = await chat({ model: 'sim-small', messages: hello }, { authorization: 'Bearer wk_not_a_key' });
    expect(wrongKey.status).toBe(401);
    const before = providerCalls.length;
    const badRole = await chat({ model: 'sim-small', messages: [{ role: 'wizard', content: 'hi' }] });
    expect(badRole.status).toBe(400);
    expect(((await badRole.json()) as { error: unknown }).error).toMatchObject({ type: 'invalid_request_error', param: 'messages[0].role', rule: 'enum' });
    const tooMany = await chat({ model: 'sim-small', messages: hello, max_tokens: 5_000 });
    expect(((await tooMany.json()) as { error: unknown }).error).toMatchObject({ param: 'max_tokens', rule: 'maximum' });
    const unknown = await chat({ model: 'gpt-nothing', messages: hello });
    expect(unknown.status).toBe(404);
    const noRun = await chat({ model: 'sim-small', messages: hello }, { 'x-writ-run': '' });
    expect(((await noRun.json()) as { error: unknown }).error).toMatchObject({ param: 'x-writ-run', rule: 'required' });
    // Another tenant's agent on acme's run, and a person's key: nothing is proposed, nothing called.
    const foreign = await chat({ model: 'sim-small', messages: hello }, { authorization: `Bearer ${keyOf('globex-bot')}` });
    expect(foreign.status).toBe(404);
    const person = await chat({ model: 'sim-small', messages: hello }, { authorization: `Bearer ${keyOf('maria')}` });
    expect(person.status).toBe(403);
    expect(providerCalls.length).toBe(before);
  });

  it('holds a call that needs a person’s approval until a manager approves it, then answers it; the agent’s call past its in-flight limit is shed meanwhile', async () => {
    const answer = chat({ model: 'sim-reviewed', messages: hello, max_tokens: 20 });
    const held = await waitFor(
      async () => (await e2e.manager.pendingApprovals()).approvals.find((action) => action.tool === 'model.sim_reviewed' && action.run_id === runId),
      { timeoutMs: DECISION_WAIT_MS, what: 'the model call in the approvals inbox' },
    );
    // While it is held, the agent is at its limit (WRIT_MODEL_MAX_IN_FLIGHT_PER_AGENT 1): its next call is refused at once, nothing proposed.
    const before = providerCalls.length;
    const shed = await chat({ model: 'sim-small', messages: hello });
    expect(shed.status).toBe(429);
    expect(shed.headers.get('retry-after')).toBe('1');
    expect(((await shed.json()) as { error: { code: string; rule: string } }).error).toMatchObject({
      code: 'MODEL_CALLS_EXCEEDED',
      rule: expect.stringContaining('per agent') as unknown,
    });
    expect(providerCalls.length).toBe(before);
    await e2e.manager.decide(held.action_id, 'approve', 'fine for this ticket');
    const response = await answer;
    expect(response.status).toBe(200);
    expect(response.headers.get('x-writ-action-id')).toBe(held.action_id);
    expect(((await response.json()) as { choices: { message: { content: string } }[] }).choices[0]?.message.content).toBe('Hello from sim');
    expect(providerCalls.at(-1)?.model).toBe('reviewed-1');
    expect(await e2e.agent.outcome(held.action_id)).toMatchObject({ status: 'completed', cost_micros: price(LARGE, 20, SIM_COMPLETION_TOKENS) });
  });

  it('answers APPROVAL_REQUIRED naming the policy when no one approves while the call is held, and calls no provider', async () => {
    const before = providerCalls.length;
    const response = await chat({ model: 'sim-reviewed', messages: hello, max_tokens: 20 });
    expect(response.status).toBe(403);
    const body = (await response.json()) as { error: { code: string; message: string; action_id: string; policies: string[] } };
    expect(body.error).toMatchObject({ code: 'APPROVAL_REQUIRED', policies: ['reviewed-model-needs-a-manager'] });
    expect(body.error.message).toContain('no longer held');
    expect((await e2e.agent.action(body.error.action_id)).status).toBe('awaiting_approval');
    expect(providerCalls.length).toBe(before);
  }, 30_000);

  it('ends the executor’s relay with the word that the call’s outcome is on the log, its cost the settled cost', async () => {
    // What the gateway does, by hand: park the body at the executor's door, propose the call, read the relay.
    const request = parseChatRequest({ model: 'sim-small', messages: hello, max_tokens: 50 }, catalogue);
    const callId = randomUUID();
    const parked = await fetch(`http://127.0.0.1:${BASE_PORT + 4}/internal/model-calls/${callId}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${DOOR_TOKEN}` },
      body: JSON.stringify(request.upstream),
    });
    expect(parked.status).toBe(200);
    const relay = new RelayReader((parked.body as ReadableStream<Uint8Array>).getReader());
    const { action_id: actionId } = await e2e.agent.propose(runId, {
      tool: modelToolName('sim-small'),
      arguments: proposalArguments(request, callId),
      reason: 'the relay, read by hand',
      idempotency_key: `model-call:${callId}`,
    });
    expect(await relay.head).toMatchObject({ status: 200, contentType: 'application/json', providerMs: expect.any(Number) as unknown });
    expect((JSON.parse(await relay.rest()) as { choices: { message: { content: string } }[] }).choices[0]?.message.content).toBe('Hello from sim');
    const settled = price(SMALL, 20, SIM_COMPLETION_TOKENS);
    expect(relay.logged).toEqual({ outcome: 'executed', cost_micros: settled, currency: 'USD' });
    // The log says the same: the planner completes the action from that ActionExecuted, at that cost.
    expect(await e2e.agent.outcome(actionId)).toMatchObject({ status: 'completed', cost_micros: settled });
  });

  it('keeps the executor’s model door to the gateway: no token, a wrong one, an agent’s key and a hostile body are refused, and nothing is parked', async () => {
    const door = (callId: string, body: unknown, authorization?: string) =>
      fetch(`http://127.0.0.1:${BASE_PORT + 4}/internal/model-calls/${callId}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(authorization === undefined ? {} : { authorization }) },
        body: JSON.stringify(body),
      });
    const call = randomUUID();
    const request = { model: 'sim-small', messages: hello };
    for (const authorization of [undefined, 'Bearer not-the-token', `Bearer ${keyOf('triage-bot')}`, DOOR_TOKEN]) {
      const refused = await door(call, request, authorization);
      expect(refused.status, String(authorization)).toBe(401);
      expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('UNAUTHENTICATED');
    }
    const badId = await door('../../etc/passwd', request, `Bearer ${DOOR_TOKEN}`);
    expect([400, 404]).toContain(badId.status);
    const notAnObject = await door(call, [request], `Bearer ${DOOR_TOKEN}`);
    expect(notAnObject.status).toBe(400);
    expect(((await notAnObject.json()) as { error: { code: string } }).error.code).toBe('REQUEST_INVALID');
  });
});
