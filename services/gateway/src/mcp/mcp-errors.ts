import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/** The MCP door's path. */
export const MCP_PATH = '/mcp';

/** JSON-RPC error codes of the answers given before the MCP server reads the message. */
export const JSONRPC = { parseError: -32700, invalidRequest: -32600, unauthorized: -32001, internal: -32603 } as const;

/** Rules of the strict JSON parser that mean "this is not JSON" (JSON-RPC's parse error). */
const NOT_JSON = new Set(['utf8', 'syntax', 'trailingData', 'loneSurrogate']);

export function isMcpPath(url: string): boolean {
  const path = url.split('?')[0] ?? '';
  return path === MCP_PATH || path === `${MCP_PATH}/`;
}

interface GatewayError {
  readonly code: string;
  readonly message: string;
  readonly field?: string;
  readonly rule?: string;
}

function gatewayErrorOf(payload: unknown): GatewayError | undefined {
  if (typeof payload !== 'string') return undefined;
  try {
    const parsed = JSON.parse(payload) as { error?: unknown; jsonrpc?: unknown };
    const error = parsed.error as GatewayError | undefined;
    return parsed.jsonrpc === undefined && typeof error?.code === 'string' && typeof error.message === 'string' ? error : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The gateway's error answer `{ error: { code, message, field?, rule? } }` in JSON-RPC's envelope:
 * `{ jsonrpc, id: null, error: { code, message, data: { code, field, rule } } }`, same HTTP status
 * (401 keeps `WWW-Authenticate: Bearer`). A body that is not JSON is a parse error (-32700).
 */
export function jsonRpcErrorOf(status: number, error: GatewayError): string {
  const code =
    status === 401
      ? JSONRPC.unauthorized
      : status >= 500
        ? JSONRPC.internal
        : status === 400 && error.code === 'REQUEST_INVALID' && NOT_JSON.has(error.rule ?? '')
          ? JSONRPC.parseError
          : JSONRPC.invalidRequest;
  const data = { code: error.code, ...(error.field === undefined ? {} : { field: error.field }), ...(error.rule === undefined ? {} : { rule: error.rule }) };
  return JSON.stringify({ jsonrpc: '2.0', id: null, error: { code, message: error.message, data } });
}

/**
 * Errors of the MCP path answered by the gateway itself (no key, a refused body, a revision we do
 * not serve) leave in JSON-RPC's envelope; what the MCP server answers is written by its transport
 * and does not pass here.
 */
export function installMcpErrorEnvelope(fastify: FastifyInstance): void {
  fastify.addHook('onSend', async (request: FastifyRequest, reply: FastifyReply, payload: unknown) => {
    if (reply.statusCode < 400 || !isMcpPath(request.url)) return payload;
    const error = gatewayErrorOf(payload);
    if (error === undefined) return payload;
    void reply.header('content-type', 'application/json');
    return jsonRpcErrorOf(reply.statusCode, error);
  });
}
