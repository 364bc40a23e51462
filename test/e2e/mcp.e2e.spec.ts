// The MCP gateway through the official TypeScript SDK's client (Streamable HTTP) against the real
// stack: what an agent sees, what its calls become (governed actions on the same path as
// POST /v1/runs/{run}/actions), and the door's refusals (no key, wrong key, another tenant's run,
// a body that is not JSON-RPC, arguments that break the tool's contract).
import { randomUUID } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { CallToolRequestSchema, ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { replayCommitted } from '@writ/bus';
import { TOPICS, decodeEvent } from '@writ/contracts';
import { importUpstreams } from '@writ/mcp-gateway';
import { readPolicyCases, readPolicySetSources } from '@writ/policy-engine';
import { testKafkaBrokers, waitFor } from '@writ/testing';
import { callsAtTool, helpdeskStats, keyOf, refundArgs, root, startE2eStack, stopE2eStack } from './support.ts';
import type { E2eStack } from './support.ts';

const BASE_PORT = 26580;
/** The upstream MCP server Writ fronts: outside the stack's ports (base +0..+5, +10, +20.., +30..). */
const UPSTREAM_PORT = BASE_PORT + 15;
const UPSTREAM_TOKEN = `orders-token-${randomUUID()}`;

let e2e: E2eStack;
let mcpUrl: URL;
let agent: Client;
let toolsDir: string;

/** What the upstream got: every tools/call, with its arguments and the bearer token it carried. */
const upstreamCalls: { tool: string; args: unknown; authorization: string | undefined }[] = [];
let upstream: HttpServer;

/** An MCP server of the operator's (stateless Streamable HTTP, the official SDK): two tools Writ imports, one it does not. */
function startUpstream(): Promise<HttpServer> {
  const tools = [
    {
      name: 'lookup_order',
      description: 'Look an order up.',
      inputSchema: { type: 'object', properties: { order_id: { type: 'string' } }, required: ['order_id'] },
    },
    {
      name: 'cancel_order',
      description: 'Cancel an order.',
      inputSchema: { type: 'object', properties: { order_id: { type: 'string' } }, required: ['order_id'] },
    },
    { name: 'internal_debug', description: 'Not declared by the operator: never imported.', inputSchema: { type: 'object' } },
  ];
  const server = createServer((request: IncomingMessage, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const mcp = new Server({ name: 'orders', version: '1.0.0' }, { capabilities: { tools: {} } });
      mcp.setRequestHandler(ListToolsRequestSchema, () => ({ tools }));
      mcp.setRequestHandler(CallToolRequestSchema, (call) => {
        upstreamCalls.push({ tool: call.params.name, args: call.params.arguments, authorization: request.headers.authorization });
        const orderId = String(call.params.arguments?.['order_id'] ?? '');
        return { content: [{ type: 'text', text: `order ${orderId}: shipped` }], structuredContent: { order_id: orderId, state: 'shipped' } };
      });
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
      response.on('close', () => void mcp.close());
      void mcp
        .connect(transport)
        .then(() => transport.handleRequest(request, response, chunks.length === 0 ? undefined : JSON.parse(Buffer.concat(chunks).toString('utf8'))));
    });
  });
  return new Promise((resolve) => server.listen(UPSTREAM_PORT, '127.0.0.1', () => resolve(server)));
}

async function connect(headers: Record<string, string>): Promise<Client> {
  const client = new Client({ name: 'writ-e2e', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(mcpUrl, { requestInit: { headers } }));
  return client;
}

function bearer(who: string): Record<string, string> {
  return { authorization: `Bearer ${keyOf(who)}` };
}

async function openRun(client: Client = agent): Promise<string> {
  const opened = (await client.callTool({ name: 'writ.open_run', arguments: { goal: 'mcp e2e' } })) as CallToolResult;
  expect(opened.isError ?? false).toBe(false);
  return (opened.structuredContent as { run_id: string }).run_id;
}

async function call(name: string, args: Record<string, unknown>, meta: Record<string, unknown>, client: Client = agent): Promise<CallToolResult> {
  return (await client.callTool({ name, arguments: args, _meta: meta })) as CallToolResult;
}

function content(result: CallToolResult): Record<string, unknown> {
  return result.structuredContent as Record<string, unknown>;
}

function textOf(result: CallToolResult): string {
  return result.content.map((part) => (part.type === 'text' ? part.text : '')).join('\n');
}

async function rawPost(body: string, headers: Record<string, string>): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const response = await fetch(mcpUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
    body,
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown>, headers: response.headers };
}

beforeAll(async () => {
  // The operator imports the upstream's declared tools into a copy of the registry, then starts Writ on it.
  upstream = await startUpstream();
  const dir = mkdtempSync(join(tmpdir(), 'writ-e2e-mcp-'));
  toolsDir = join(dir, 'tools');
  cpSync(join(root, 'tools'), toolsDir, { recursive: true });
  writeFileSync(
    join(dir, 'upstreams.json'),
    JSON.stringify({
      servers: {
        orders: {
          url: `http://127.0.0.1:${UPSTREAM_PORT}/mcp`,
          credential: { env: 'ORDERS_MCP_TOKEN' },
          tools: {
            lookup_order: {
              name: 'orders.lookup',
              version: '1.0.0',
              effect: 'read',
              risk: 'low',
              cost: { micros: 0, currency: 'USD' },
              timeout_ms: 5_000,
              idempotent: true,
            },
            cancel_order: {
              name: 'orders.cancel',
              version: '1.0.0',
              effect: 'write',
              risk: 'medium',
              cost: { micros: 0, currency: 'USD' },
              timeout_ms: 5_000,
              idempotent: false,
              arguments: {
                type: 'object',
                additionalProperties: false,
                required: ['order_id'],
                properties: { order_id: { type: 'string', pattern: '^O-[0-9]+$' } },
              },
            },
          },
        },
      },
    }),
  );
  await importUpstreams(join(dir, 'upstreams.json'), toolsDir, { ORDERS_MCP_TOKEN: UPSTREAM_TOKEN });
  e2e = await startE2eStack(BASE_PORT, { WRIT_TOOLS_DIR: toolsDir, ORDERS_MCP_TOKEN: UPSTREAM_TOKEN });
  mcpUrl = new URL(`${e2e.stack.gatewayUrl}/mcp`);
  agent = await connect(bearer('triage-bot'));
});

afterAll(async () => {
  await agent?.close();
  await stopE2eStack(e2e);
  upstream?.close();
  if (toolsDir !== undefined) rmSync(join(toolsDir, '..'), { recursive: true, force: true });
});

describe('the MCP gateway', () => {
  it('lists the registry’s tools the agent may use, and hides one every policy forbids it', async () => {
    // The gateway follows the PDP's policy sets on their topic: the list hides once it has read the current one.
    const tools = await waitFor(
      async () => {
        const listed = (await agent.listTools()).tools;
        return listed.some((tool) => tool.name === 'customers.delete') ? undefined : listed;
      },
      { timeoutMs: 30_000, what: 'a tools/list without customers.delete' },
    );
    const names = tools.map((tool) => tool.name);
    expect(names).toEqual(expect.arrayContaining(['writ.open_run', 'writ.await_outcome', 'tickets.get', 'refunds.issue']));
    expect(names).not.toContain('customers.delete');
    const refunds = tools.find((tool) => tool.name === 'refunds.issue');
    expect(refunds?.inputSchema.required).toEqual(expect.arrayContaining(['amount_cents']));
    expect(refunds?._meta).toMatchObject({ 'writ/effect': 'write' });
  });

  it('negotiates the current revision and the previous one, and answers the current one to an older client', async () => {
    const initialize = (version: string) =>
      JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: { protocolVersion: version, capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
      });
    for (const [asked, answered] of [
      ['2025-11-25', '2025-11-25'],
      ['2025-06-18', '2025-06-18'],
      ['2024-11-05', '2025-11-25'],
    ]) {
      const reply = await rawPost(initialize(asked ?? ''), bearer('triage-bot'));
      expect(reply.status).toBe(200);
      expect((reply.body['result'] as { protocolVersion: string }).protocolVersion).toBe(answered);
    }
  });

  it('executes an allowed call and answers the tool’s result, in the trace the call’s _meta.traceparent names', async () => {
    const run = await openRun();
    const traceId = randomUUID().replaceAll('-', '');
    const result = await call('tickets.get', { ticket_id: 'T-1001' }, { 'writ/run_id': run, traceparent: `00-${traceId}-00f067aa0ba902b7-01` });
    expect(result.isError ?? false).toBe(false);
    expect(content(result)).toMatchObject({ status: 'completed', run_id: run });
    expect(JSON.stringify(content(result)['result'])).toContain('T-1001');
    expect(textOf(result)).toContain('T-1001');
    // The proposal on the bus continues the caller's trace (its parent is the gateway's span, not the caller's).
    const proposed: string[] = [];
    await replayCommitted(testKafkaBrokers(), [TOPICS.proposals], (record) => {
      if (record.value === null) return;
      const event = decodeEvent(record.value);
      if (event.type === 'ActionProposed' && event.payload.meta.action_id === content(result)['action_id'])
        proposed.push(event.payload.meta.trace?.traceparent ?? '');
    });
    expect(proposed).toHaveLength(1);
    expect(proposed[0]).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
    expect(proposed[0]).not.toContain('00f067aa0ba902b7');
  });

  it('answers a denied call as a tool error naming the policy', async () => {
    const run = await openRun();
    const result = await call('customers.delete', { customer_id: 'C-506' }, { 'writ/run_id': run });
    expect(result.isError).toBe(true);
    expect(content(result)).toMatchObject({ status: 'denied', policy: 'customer-delete-forbidden' });
    expect(textOf(result)).toContain('customer-delete-forbidden');
  });

  it('answers a call held for approval as pending, and the wait returns the result once a manager approves over the HTTP API', async () => {
    const run = await openRun();
    const held = await call('refunds.issue', refundArgs(15_000, 'T-1002', 'C-502'), { 'writ/run_id': run });
    expect(held.isError ?? false).toBe(false);
    expect(content(held)).toMatchObject({ status: 'awaiting_approval', pending: true, approval: { policy: 'refund-over-100-needs-manager-approval' } });
    const actionId = content(held)['action_id'] as string;
    expect(textOf(held)).toContain('writ.await_outcome');
    await e2e.manager.decide(actionId, 'approve', 'mcp e2e');
    const outcome = await waitFor(
      async () => {
        const waited = await call('writ.await_outcome', { action_id: actionId, timeout_ms: 10_000 }, {});
        return content(waited)['pending'] === true ? undefined : waited;
      },
      { timeoutMs: 60_000, what: 'the approved refund’s outcome' },
    );
    expect(outcome.isError ?? false).toBe(false);
    expect(content(outcome)).toMatchObject({ action_id: actionId, status: 'completed' });
  });

  it('makes a retried call the same action, executed once', async () => {
    const run = await openRun();
    const args = refundArgs(5_000 + Math.floor(Math.random() * 4_000), 'T-1003', 'C-503');
    const first = await call('refunds.issue', args, { 'writ/run_id': run });
    const again = await call('refunds.issue', args, { 'writ/run_id': run });
    expect(content(first)).toMatchObject({ status: 'completed' });
    expect(content(again)['action_id']).toBe(content(first)['action_id']);
    const action = await e2e.agent.action(content(first)['action_id'] as string);
    expect(callsAtTool(await helpdeskStats(e2e.stack), String(action['idempotency_key']))).toBe(1);
  });

  it('refuses a call while the tool’s kill switch is pulled, and the tool is not called', async () => {
    await e2e.operator.setToolKillSwitch('tickets.get', true, 'mcp e2e');
    try {
      // The planner and executor read the switch from the controls topic: the second the HTTP case gives them.
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      const before = await helpdeskStats(e2e.stack);
      const run = await openRun();
      const result = await call('tickets.get', { ticket_id: 'T-1001' }, { 'writ/run_id': run, 'writ/idempotency_key': `killed-${randomUUID()}` });
      expect(result.isError).toBe(true);
      expect(['rejected', 'refused', 'failed']).toContain(content(result)['status']);
      expect((await helpdeskStats(e2e.stack)).calls).toEqual(before.calls);
    } finally {
      await e2e.operator.setControl({ kind: 'kill-switch', tool: 'tickets.get' }, false, 'mcp e2e done');
    }
  });
});

describe('an upstream MCP server behind Writ', () => {
  it('imports only the declared tools, with the operator’s effect, risk and schema', () => {
    const lookup = JSON.parse(readFileSync(join(toolsDir, 'orders.lookup@1.0.0.json'), 'utf8')) as Record<string, unknown>;
    expect(lookup).toMatchObject({ effect: 'read', risk: 'low', arguments: { required: ['order_id'] }, credential: { env: 'ORDERS_MCP_TOKEN' } });
    const cancel = JSON.parse(readFileSync(join(toolsDir, 'orders.cancel@1.0.0.json'), 'utf8')) as {
      arguments: { properties: { order_id: { pattern: string } } };
    };
    expect(cancel.arguments.properties.order_id.pattern).toBe('^O-[0-9]+$');
  });

  it('governs every call: an allowed one reaches the upstream with the credential, a denied one and an invalid one never do', async () => {
    const { tools } = await agent.listTools();
    expect(tools.map((tool) => tool.name)).toContain('orders.lookup');
    // No permit lets a support agent write orders: hidden, and denied if called anyway.
    expect(tools.map((tool) => tool.name)).not.toContain('orders.cancel');
    expect(tools.map((tool) => tool.name)).not.toContain('internal_debug');
    const run = await openRun();
    const looked = await call('orders.lookup', { order_id: 'O-42' }, { 'writ/run_id': run });
    expect(looked.isError ?? false).toBe(false);
    expect(content(looked)).toMatchObject({ status: 'completed', result: { order_id: 'O-42', state: 'shipped' } });
    const denied = await call('orders.cancel', { order_id: 'O-42' }, { 'writ/run_id': run });
    expect(denied.isError).toBe(true);
    expect(content(denied)).toMatchObject({ status: 'denied' });
    const invalid = await call('orders.cancel', { order_id: '42' }, { 'writ/run_id': run });
    expect(content(invalid)).toMatchObject({ error: { code: 'ARGUMENTS_INVALID', field: 'arguments.order_id', rule: 'pattern' } });
    expect(upstreamCalls).toEqual([{ tool: 'lookup_order', args: { order_id: 'O-42' }, authorization: `Bearer ${UPSTREAM_TOKEN}` }]);
  });
});

describe('the MCP door refuses', () => {
  it('a request without a key, and one with a key the directory does not know (401, WWW-Authenticate: Bearer)', async () => {
    const refused: Record<string, string>[] = [{}, { authorization: 'Bearer wk_not_a_key_of_the_directory_00000000' }];
    for (const headers of refused) {
      await expect(connect(headers)).rejects.toThrow(/UNAUTHENTICATED/);
      const reply = await rawPost(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }), headers);
      expect(reply.status).toBe(401);
      expect(reply.headers.get('www-authenticate')).toBe('Bearer');
      expect(reply.body).toMatchObject({ jsonrpc: '2.0', error: { code: -32001, data: { code: 'UNAUTHENTICATED', field: 'authorization' } } });
    }
  });

  it('a person’s key: Writ’s own tools only, and no call; and a GET (no stream on a stateless server)', async () => {
    const person = await connect(bearer('dana'));
    try {
      expect((await person.listTools()).tools.map((tool) => tool.name).sort()).toEqual(['writ.await_outcome', 'writ.open_run']);
      const refused = await call('writ.open_run', { goal: 'not an agent' }, {}, person);
      expect(refused.isError).toBe(true);
      expect(content(refused)).toMatchObject({ error: { code: 'FORBIDDEN' } });
    } finally {
      await person.close();
    }
    const stream = await fetch(mcpUrl, { headers: { ...bearer('triage-bot'), accept: 'text/event-stream' } });
    expect(stream.status).toBe(405);
  });

  it('another tenant’s run, as if it did not exist, and calls nothing', async () => {
    const run = await openRun();
    const other = await connect(bearer('globex-bot'));
    try {
      const before = await helpdeskStats(e2e.stack);
      const result = await call('tickets.get', { ticket_id: 'T-1001' }, { 'writ/run_id': run }, other);
      expect(result.isError).toBe(true);
      expect(content(result)).toMatchObject({ error: { code: 'RUN_NOT_FOUND' } });
      expect((await helpdeskStats(e2e.stack)).calls).toEqual(before.calls);
    } finally {
      await other.close();
    }
  });

  it('a body that is not JSON (parse error), a revision it does not serve, and a body that is not JSON-RPC', async () => {
    const malformed = await rawPost('{"jsonrpc": "2.0", "id": 1, "method": ', bearer('triage-bot'));
    expect(malformed.status).toBe(400);
    expect(malformed.body).toMatchObject({ jsonrpc: '2.0', id: null, error: { code: -32700 } });
    const unserved = await rawPost(JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' }), {
      ...bearer('triage-bot'),
      'mcp-protocol-version': '2024-11-05',
    });
    expect(unserved.status).toBe(400);
    expect(unserved.body).toMatchObject({ jsonrpc: '2.0', error: { code: -32600, data: { field: 'mcp-protocol-version', rule: 'enum' } } });
    const notRpc = await rawPost(JSON.stringify({ hello: 'world' }), bearer('triage-bot'));
    expect(notRpc.status).toBe(400);
    expect(notRpc.body).toMatchObject({ jsonrpc: '2.0', error: { code: expect.any(Number) as number } });
  });

  it('arguments that break the tool’s contract, naming the field and the rule, before anything is proposed', async () => {
    const run = await openRun();
    const result = await call('refunds.issue', { ...refundArgs(100), amount_cents: 'a lot' }, { 'writ/run_id': run });
    expect(result.isError).toBe(true);
    expect(content(result)).toMatchObject({ error: { code: 'ARGUMENTS_INVALID', field: 'arguments.amount_cents', rule: 'type' } });
    expect(textOf(result)).toContain('arguments.amount_cents');
    const missing = await call('tickets.get', { ticket_id: 'T-1001' }, {});
    expect(content(missing)).toMatchObject({ error: { field: '_meta.writ/run_id', rule: 'required' } });
  });
});

describe('a policy set published while the gateway runs', () => {
  it('hides from the list a tool the new set forbids the agent, once the gateway has read it', async () => {
    expect((await agent.listTools()).tools.map((tool) => tool.name)).toContain('orders.lookup');
    const policyUrl = e2e.stack.service('policy').url;
    const headers = { 'content-type': 'application/json', authorization: `Bearer ${keyOf('root')}` };
    const current = ((await (await fetch(`${policyUrl}/v1/policy-sets`, { headers })).json()) as { current: { policy_set_hash: string } | null }).current;
    // The repository's set (the stack's), its cases, and one policy more.
    const sources = await readPolicySetSources(join(root, 'policies'));
    const policies = {
      ...sources.policies,
      'orders-lookup-not-for-triage': [
        '@id("orders-lookup-not-for-triage")',
        'forbid (principal == Writ::Agent::"triage-bot", action == Writ::Action::"invoke", resource == Writ::Tool::"orders.lookup");',
        '',
      ].join('\n'),
    };
    const published = await fetch(`${policyUrl}/v1/policy-sets`, {
      method: 'POST',
      headers,
      body: JSON.stringify({
        schema: sources.schemaText,
        policies,
        cases: await readPolicyCases(join(root, 'policies', 'cases')),
        message: 'the triage agent no longer looks orders up',
        previous_hash: current?.policy_set_hash ?? null,
      }),
    });
    expect(published.status, await published.text()).toBe(201);
    // The list follows the stream: the gateway compiles the new set as it reads it, having listed tools before.
    const names = await waitFor(
      async () => {
        const listed = (await agent.listTools()).tools.map((tool) => tool.name);
        return listed.includes('orders.lookup') ? undefined : listed;
      },
      { timeoutMs: 30_000, what: 'a tools/list without orders.lookup' },
    );
    // Only that tool: the others the agent may use are still listed.
    expect(names).toEqual(expect.arrayContaining(['tickets.get', 'refunds.issue', 'writ.open_run']));
  });
});
