// The executor's call of a tool that an upstream MCP server serves. The registry names such a tool
// by its endpoint URL: the server's Streamable HTTP endpoint with `#mcp-tool=<upstream name>` (a
// fragment never leaves a plain HTTP client, so nothing is ever POSTed to an MCP server as a
// plain request). The call keeps the executor's contract: its method and body are the registry's
// (POST, the arguments as JSON), its headers (the credential, the idempotency key, the trace) go
// to the upstream, and the answer comes back as an HTTP-like response the executor already
// classifies: 200 with the structured result, 422 for a tool error (not retried), the upstream's
// own HTTP status when it refused the request, a thrown network error when it could not be reached.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport, StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { McpError } from '@modelcontextprotocol/sdk/types.js';

const MARKER = 'mcp-tool=';

/** The registry URL of `tool` on the MCP server at `serverUrl`. */
export function mcpToolUrl(serverUrl: string, tool: string): string {
  return `${serverUrl}#${MARKER}${encodeURIComponent(tool)}`;
}

/** The server and tool of a registry URL made by mcpToolUrl; undefined for any other URL. */
export function mcpTargetOf(url: string): { readonly server: string; readonly tool: string } | undefined {
  const at = url.indexOf(`#${MARKER}`);
  if (at < 0) return undefined;
  const tool = decodeURIComponent(url.slice(at + 1 + MARKER.length));
  return tool === '' ? undefined : { server: url.slice(0, at), tool };
}

/** What the executor's HTTP client answers (executor-core's HttpResponseLike). */
export interface ResponseLike {
  readonly status: number;
  readonly headers: { get(name: string): string | null };
  text(): Promise<string>;
}

/** The executor's HTTP client (executor-core's HttpFetch). */
export type FetchLike = (url: string, init: { method: string; headers: Record<string, string>; body?: string; signal: AbortSignal }) => Promise<ResponseLike>;

function response(status: number, body: unknown): ResponseLike {
  const text = JSON.stringify(body);
  return { status, headers: { get: (name) => (name.toLowerCase() === 'content-type' ? 'application/json' : null) }, text: () => Promise.resolve(text) };
}

function textOf(result: CallToolResult): string {
  return result.content
    .map((part) => (part.type === 'text' ? part.text : `[${part.type}]`))
    .join('\n')
    .slice(0, 2_000);
}

/** The result the executor records: the structured content when the tool gives one, else its content. */
export function resultOfToolCall(result: CallToolResult): unknown {
  return result.structuredContent ?? { content: result.content };
}

/** Headers the transport sets itself (the media types of Streamable HTTP, the protocol revision, the session). */
const TRANSPORT_HEADERS = new Set(['content-type', 'content-length', 'accept', 'mcp-protocol-version', 'mcp-session-id']);

/** Headers the upstream gets: what the executor sends (credential, idempotency key, trace) but the transport's own. */
function forwarded(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !TRANSPORT_HEADERS.has(name.toLowerCase())));
}

/**
 * `fetch` for the executor: a URL of an MCP tool is called with the official MCP client
 * (initialize, then tools/call, on a connection of its own), any other goes to `fetch`.
 */
export function withMcpUpstreams(fetch: FetchLike, clientInfo = { name: 'writ-executor', version: '1' }): FetchLike {
  return async (url, init) => {
    const target = mcpTargetOf(url);
    if (target === undefined) return fetch(url, init);
    let args: unknown;
    try {
      args = init.body === undefined ? {} : JSON.parse(init.body);
    } catch {
      return response(400, { error: 'the arguments are not JSON' });
    }
    const client = new Client(clientInfo);
    const transport = new StreamableHTTPClientTransport(new URL(target.server), { requestInit: { headers: forwarded(init.headers) } });
    try {
      await client.connect(transport, { signal: init.signal });
      const result = (await client.callTool({ name: target.tool, arguments: args as Record<string, unknown> }, undefined, {
        signal: init.signal,
      })) as CallToolResult;
      if (result.isError === true) return response(422, { error: textOf(result) || 'the upstream tool answered an error' });
      return response(200, resultOfToolCall(result));
    } catch (error) {
      // The upstream's HTTP refusal keeps its status (5xx and 429 are retried, 4xx are not).
      if (error instanceof StreamableHTTPError && typeof error.code === 'number' && error.code >= 400) return response(error.code, { error: error.message });
      // A JSON-RPC error (unknown tool, invalid params): the upstream refused the call.
      if (error instanceof McpError) return response(422, { error: `MCP error ${error.code}: ${error.message}` });
      throw error;
    } finally {
      await client.close().catch(() => undefined);
    }
  };
}
