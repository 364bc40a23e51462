import { Inject, Injectable } from '@nestjs/common';
import type { OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { CallToolRequestSchema, ErrorCode, ListToolsRequestSchema, McpError } from '@modelcontextprotocol/sdk/types.js';
import type { CallToolResult, Tool } from '@modelcontextprotocol/sdk/types.js';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Principal } from '@writ/directory';
import { LONG_POLL_DEFAULT_MS, isTerminalStatus, requestInvalid } from '@writ/gateway-core';
import type { ActionState } from '@writ/gateway-core';
import type { ToolDefinition, ToolRegistry } from '@writ/tools';
import { AgentDoor } from '../agent-door.ts';
import type { TraceHeaders } from '../agent-door.ts';
import { GATEWAY_VERSION, TOOL_REGISTRY } from '../config.ts';
import { Views } from '../presenter.ts';
import { installMcpErrorEnvelope } from './mcp-errors.ts';
import {
  AWAIT_OUTCOME_TOOL,
  MCP_PROTOCOL_VERSIONS,
  MCP_RUN_HEADER,
  OPEN_RUN_TOOL,
  WRIT_TOOLS,
  asToolError,
  boundedWait,
  mcpToolOf,
  proposalBody,
  runIdOf,
  toolResultOf,
  waitMsOf,
} from './mcp-results.ts';
import { ToolVisibility } from './tool-visibility.ts';

/** How often a tools/call that waits looks whether its action came to need a person (approvals are not outcomes: no waiter wakes for them). */
const PENDING_CHECK_MS = 100;

function header(headers: TraceHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The trace a call continues: `_meta.traceparent` / `_meta.tracestate` (MCP's convention), else the HTTP request's headers. */
function traceOf(meta: Readonly<Record<string, unknown>> | undefined, headers: TraceHeaders): TraceHeaders {
  const pick = (key: string): string | undefined => {
    const fromMeta = meta?.[key];
    return typeof fromMeta === 'string' ? fromMeta : header(headers, key);
  };
  return { traceparent: pick('traceparent'), tracestate: pick('tracestate') };
}

/**
 * A body naming a revision we do not serve: an `initialize` asking for an older one is answered
 * with the current one (the client then decides, as the specification says); a request carrying
 * another revision in `MCP-Protocol-Version` is refused.
 */
function negotiated(body: unknown, headers: TraceHeaders): unknown {
  const version = header(headers, 'mcp-protocol-version');
  if (version !== undefined && !(MCP_PROTOCOL_VERSIONS as readonly string[]).includes(version)) {
    throw requestInvalid('mcp-protocol-version', 'enum', `must be one of ${MCP_PROTOCOL_VERSIONS.join(', ')}, got "${version}"`);
  }
  if (!isObject(body) || body['method'] !== 'initialize' || !isObject(body['params'])) return body;
  const asked = body['params']['protocolVersion'];
  if ((MCP_PROTOCOL_VERSIONS as readonly string[]).includes(asked as string)) return body;
  return { ...body, params: { ...body['params'], protocolVersion: MCP_PROTOCOL_VERSIONS[0] } };
}

function awaitArguments(args: Readonly<Record<string, unknown>> | undefined): { actionId: string; timeoutMs: number } {
  const actionId = args?.['action_id'];
  if (typeof actionId !== 'string' || actionId === '' || actionId.length > 64) {
    throw requestInvalid('arguments.action_id', actionId === undefined ? 'required' : 'type', 'must be the action_id of a pending call (a string)');
  }
  for (const key of Object.keys(args ?? {})) {
    if (key !== 'action_id' && key !== 'timeout_ms')
      throw requestInvalid(`arguments.${key}`, 'additionalProperties', 'is not a known field (known: action_id, timeout_ms)');
  }
  const timeoutMs = boundedWait(args?.['timeout_ms'] ?? LONG_POLL_DEFAULT_MS, 'arguments.timeout_ms');
  return { actionId, timeoutMs };
}

/**
 * Writ as an MCP server (Streamable HTTP, stateless: a server and a transport per request, no
 * session). `tools/list` is the registry filtered by policy (ToolVisibility) plus writ.open_run
 * and writ.await_outcome; `tools/call` of a registry tool is a proposal through AgentDoor, the
 * same path as POST /v1/runs/{run}/actions, answered with the action's outcome (docs/mcp.md).
 */
@Injectable()
export class McpGateway implements OnModuleInit {
  constructor(
    @Inject(AgentDoor) private readonly door: AgentDoor,
    @Inject(Views) private readonly views: Views,
    @Inject(TOOL_REGISTRY) private readonly tools: ToolRegistry,
    @Inject(ToolVisibility) private readonly visibility: ToolVisibility,
    @Inject(GATEWAY_VERSION) private readonly version: string,
    @Inject(HttpAdapterHost) private readonly adapter: HttpAdapterHost,
  ) {}

  onModuleInit(): void {
    installMcpErrorEnvelope(this.adapter.httpAdapter.getInstance<FastifyInstance>());
  }

  /** Answers one POST /mcp of an authenticated caller; the reply is written by the SDK's transport. */
  async handle(caller: Principal, request: FastifyRequest, reply: FastifyReply, body: unknown): Promise<void> {
    const message = negotiated(body, request.headers);
    const server = this.#server(caller, request.headers);
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    reply.hijack();
    reply.raw.once('close', () => {
      void transport.close();
      void server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(request.raw, reply.raw, message);
  }

  #server(caller: Principal, headers: TraceHeaders): Server {
    const server = new Server({ name: 'writ', version: this.version }, { capabilities: { tools: { listChanged: false } } });
    server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: [...WRIT_TOOLS, ...(await this.#visibleTools(caller))] }));
    server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
      const { name, arguments: args, _meta: meta } = request.params;
      try {
        return await this.#call(caller, headers, name, args, meta, extra.signal);
      } catch (error) {
        const result = asToolError(error);
        if (result === undefined) throw error;
        return result;
      }
    });
    return server;
  }

  async #visibleTools(caller: Principal): Promise<Tool[]> {
    const latest = new Map<string, ToolDefinition>();
    for (const tool of this.tools.list()) if (!tool.name.startsWith('writ.')) latest.set(tool.name, this.tools.get(tool.name) ?? tool);
    const visible = await this.visibility.visible(caller, [...latest.values()]);
    return visible.map(mcpToolOf);
  }

  async #call(
    caller: Principal,
    headers: TraceHeaders,
    name: string,
    args: Readonly<Record<string, unknown>> | undefined,
    meta: Readonly<Record<string, unknown>> | undefined,
    signal: AbortSignal,
  ): Promise<CallToolResult> {
    if (name === OPEN_RUN_TOOL) {
      const { run_id } = await this.door.openRun(caller, args ?? {}, traceOf(meta, headers));
      return { content: [{ type: 'text', text: run_id }], structuredContent: { run_id } };
    }
    if (name === AWAIT_OUTCOME_TOOL) {
      const { actionId, timeoutMs } = awaitArguments(args);
      return toolResultOf(this.views.present(await this.#settle(caller, actionId, timeoutMs, signal)));
    }
    if (name.startsWith('writ.') || this.tools.get(name) === undefined) throw new McpError(ErrorCode.InvalidParams, `Unknown tool: ${name}`);
    const runId = runIdOf(meta, header(headers, MCP_RUN_HEADER));
    const waitMs = waitMsOf(meta);
    const { action_id } = await this.door.propose(caller, runId, proposalBody(name, args, meta), traceOf(meta, headers));
    return toolResultOf(this.views.present(await this.#settle(caller, action_id, waitMs, signal)));
  }

  /** The action once terminal or held for a person, or as it stands after `timeoutMs`. */
  async #settle(caller: Principal, actionId: string, timeoutMs: number, signal: AbortSignal): Promise<ActionState> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const remaining = Math.max(0, deadline - Date.now());
      const action = await this.door.awaitOutcome(caller, actionId, Math.min(remaining, PENDING_CHECK_MS), signal);
      if (isTerminalStatus(action.status) || action.status === 'awaiting_approval' || remaining === 0 || signal.aborted) return action;
    }
  }
}
