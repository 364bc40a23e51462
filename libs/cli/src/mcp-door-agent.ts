// The demo's triage agent on the MCP door (`./dev writ demo --door mcp`, docs/mcp.md): every
// proposal is a `tools/call` with the official MCP client over Streamable HTTP, authenticated with
// the agent's own key, the run named in `_meta`; it waits for an outcome with `writ.await_outcome`.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { WritError } from '@writ/errors';
import type { ActionView, ProposeRequest } from '@writ/sdk';

/** What a Writ tool result carries in `structuredContent` (docs/mcp.md, "What tools/call becomes"). */
interface WritToolAnswer {
  readonly action_id?: string;
  readonly run_id?: string;
  readonly status?: string;
  readonly determining_policies?: readonly string[];
  readonly policy?: string | null;
  readonly approval?: { readonly policy: string; readonly needs?: { readonly count: number; readonly roles: readonly string[] } } | null;
  readonly result?: unknown;
  readonly reason?: string | null;
  readonly cost_micros?: number | null;
  readonly error?: { readonly code: string; readonly message: string; readonly field?: string; readonly rule?: string };
}

/** An MCP tool result as the action view the triage agent reads. */
export function viewOfToolAnswer(answer: WritToolAnswer): ActionView {
  if (answer.error !== undefined) {
    const { code, message, field, rule } = answer.error;
    throw new WritError<string>(code, message, { ...(field === undefined ? {} : { field }), ...(rule === undefined ? {} : { rule }) });
  }
  if (answer.action_id === undefined || answer.run_id === undefined || answer.status === undefined) {
    throw new WritError<string>('MCP_ANSWER_INVALID', 'the MCP door answered without action_id, run_id and status');
  }
  const policies = answer.determining_policies ?? [answer.policy ?? answer.approval?.policy].filter((p): p is string => typeof p === 'string');
  return {
    action_id: answer.action_id,
    run_id: answer.run_id,
    status: answer.status,
    determining_policies: policies,
    ...(answer.result === undefined ? {} : { result: answer.result }),
    ...(answer.reason == null ? {} : { reason: answer.reason }),
    ...(answer.cost_micros == null ? {} : { cost_micros: answer.cost_micros }),
    // What a held call asks for (as the HTTP view's approval_requirement): how many approvals, from whom.
    ...(answer.approval?.needs === undefined
      ? {}
      : { approval_requirement: { policy_id: answer.approval.policy, count: answer.approval.needs.count, roles: answer.approval.needs.roles } }),
  };
}

export class McpDoorAgent {
  readonly #client: Client;

  private constructor(client: Client) {
    this.#client = client;
  }

  /** Connects to the gateway's MCP endpoint as the agent of `key`. */
  static async connect(gatewayUrl: string, key: string): Promise<McpDoorAgent> {
    const client = new Client({ name: 'writ-demo-triage-agent', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL('/mcp', gatewayUrl), { requestInit: { headers: { authorization: `Bearer ${key}` } } }));
    return new McpDoorAgent(client);
  }

  async #call(name: string, args: Record<string, unknown>, meta?: Record<string, unknown>): Promise<ActionView> {
    const answer = await this.#client.callTool({ name, arguments: args, ...(meta === undefined ? {} : { _meta: meta }) });
    return viewOfToolAnswer((answer.structuredContent ?? {}) as WritToolAnswer);
  }

  /** Proposes without waiting (`writ/wait_ms` 0): the action id, as over HTTP. */
  async propose(runId: string, request: ProposeRequest): Promise<{ action_id: string; status: string }> {
    const view = await this.#call(
      request.tool,
      { ...request.arguments },
      {
        'writ/run_id': runId,
        'writ/idempotency_key': request.idempotency_key,
        'writ/reason': request.reason,
        'writ/wait_ms': 0,
      },
    );
    return { action_id: view.action_id, status: view.status };
  }

  /** Waits up to `timeoutMs` (at most 30 s a call, as the door allows) for the outcome. */
  async outcome(actionId: string, timeoutMs = 30_000): Promise<ActionView> {
    return this.#call('writ.await_outcome', { action_id: actionId, timeout_ms: Math.min(timeoutMs, 30_000) });
  }

  /** The action as it stands now. */
  async action(actionId: string): Promise<ActionView> {
    return this.#call('writ.await_outcome', { action_id: actionId, timeout_ms: 0 });
  }

  async close(): Promise<void> {
    await this.#client.close();
  }
}
