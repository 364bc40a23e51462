// How governed actions look to an MCP client: which registry tools it is shown, what a
// tools/call's `_meta` may carry, and the tool result of an action (completed, denied, pending).
import { createHash } from 'node:crypto';
import type { CallToolResult, Tool } from '@modelcontextprotocol/sdk/types.js';
import { canonicalJson } from '@writ/crypto';
import { isWritError } from '@writ/errors';
import type { WritError } from '@writ/errors';
import type { ActionJson } from '@writ/gateway-core';
import { LONG_POLL_DEFAULT_MS, LONG_POLL_MAX_MS, requestInvalid } from '@writ/gateway-core';
import type { ToolDefinition } from '@writ/tools';

/** The MCP protocol revisions served: the current one and the previous one still in use. */
export const MCP_PROTOCOL_VERSIONS = ['2025-11-25', '2025-06-18'] as const;

/** `_meta` keys of a tools/call (and of the results). */
export const MCP_META = {
  runId: 'writ/run_id',
  idempotencyKey: 'writ/idempotency_key',
  reason: 'writ/reason',
  provenance: 'writ/provenance',
  waitMs: 'writ/wait_ms',
  actionId: 'writ/action_id',
  status: 'writ/status',
} as const;

/** The header naming the run when a client cannot set `_meta` per call (one run per connection). */
export const MCP_RUN_HEADER = 'writ-run-id';

/** Writ's own tools, beside the registry's: their names are outside the registry's dotted namespace of tools (`writ.` is reserved). */
export const OPEN_RUN_TOOL = 'writ.open_run';
export const AWAIT_OUTCOME_TOOL = 'writ.await_outcome';

/** The MCP view of a registry tool: its name, description and argument schema, with hints from its declared effect. */
export function mcpToolOf(tool: ToolDefinition): Tool {
  return {
    name: tool.name,
    title: `${tool.name}@${tool.version}`,
    description: tool.description,
    inputSchema: tool.arguments as Tool['inputSchema'],
    annotations: {
      readOnlyHint: tool.effect === 'read',
      destructiveHint: tool.effect === 'destructive',
      idempotentHint: tool.idempotent,
      openWorldHint: true,
    },
    _meta: { 'writ/version': tool.version, 'writ/effect': tool.effect, 'writ/risk': tool.risk },
  };
}

export const WRIT_TOOLS: readonly Tool[] = [
  {
    name: OPEN_RUN_TOOL,
    title: 'Open a Writ run',
    description:
      'Opens a run (the unit of work that budgets and limits apply to) and returns its run_id. Pass it on every other call as _meta["writ/run_id"] (or the Writ-Run-Id header).',
    inputSchema: {
      type: 'object',
      properties: {
        goal: { type: 'string', minLength: 1, maxLength: 2000, description: 'What the run is for, as an approver should read it.' },
        mode: { type: 'string', enum: ['live', 'shadow'], description: 'shadow: actions are decided, budgeted and recorded, never executed.' },
        limits: {
          type: 'object',
          properties: {
            max_steps: { type: 'integer', minimum: 1 },
            max_cost_micros: { type: 'integer', minimum: 0 },
            max_tool_calls: { type: 'integer', minimum: 0 },
            wall_clock_ms: { type: 'integer', minimum: 1 },
            currency: { type: 'string', pattern: '^[A-Z]{3}$' },
          },
          additionalProperties: false,
        },
      },
      required: ['goal'],
      additionalProperties: false,
    },
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
  },
  {
    name: AWAIT_OUTCOME_TOOL,
    title: 'Wait for an action held for approval (or still running)',
    description:
      'Waits up to timeout_ms (0-30000, default 10000) for the outcome of an action a call answered as pending, and returns it as that call would have; still pending at the timeout: call again.',
    inputSchema: {
      type: 'object',
      properties: {
        action_id: { type: 'string', minLength: 1, maxLength: 64 },
        timeout_ms: { type: 'integer', minimum: 0, maximum: LONG_POLL_MAX_MS },
      },
      required: ['action_id'],
      additionalProperties: false,
    },
    annotations: { readOnlyHint: true, openWorldHint: false },
  },
];

type Meta = Readonly<Record<string, unknown>> | undefined;

/** The run a tools/call is in: `_meta["writ/run_id"]`, else the Writ-Run-Id header. */
export function runIdOf(meta: Meta, header: string | undefined): string {
  const fromMeta = meta?.[MCP_META.runId];
  const runId = fromMeta ?? header;
  if (runId === undefined || runId === '') {
    throw requestInvalid(
      `_meta.${MCP_META.runId}`,
      'required',
      `is required: open a run with the ${OPEN_RUN_TOOL} tool and pass its run_id as _meta["${MCP_META.runId}"] (or the ${MCP_RUN_HEADER} header)`,
    );
  }
  if (typeof runId !== 'string') throw requestInvalid(`_meta.${MCP_META.runId}`, 'type', 'must be a string');
  return runId;
}

/**
 * The proposal body of a tools/call, as POST /v1/runs/{run}/actions takes it (parsePropose checks
 * it). Without `_meta["writ/idempotency_key"]` the key is derived from the tool and its arguments:
 * a retried call is the same action, executed at most once; an agent that means the same call
 * twice in one run gives each its own key.
 */
export function proposalBody(tool: string, args: Readonly<Record<string, unknown>> | undefined, meta: Meta): Record<string, unknown> {
  const argumentsGiven = args ?? {};
  const key =
    meta?.[MCP_META.idempotencyKey] ??
    `mcp-${createHash('sha256')
      .update(canonicalJson({ tool, arguments: argumentsGiven }))
      .digest('hex')
      .slice(0, 48)}`;
  return {
    tool,
    arguments: argumentsGiven,
    reason: meta?.[MCP_META.reason] ?? `called through MCP: ${tool}`,
    idempotency_key: key,
    ...(meta?.[MCP_META.provenance] === undefined ? {} : { provenance: meta[MCP_META.provenance] }),
  };
}

/** A wait in milliseconds, 0 to 30000: REQUEST_INVALID naming `field` and the rule otherwise. */
export function boundedWait(value: unknown, field: string): number {
  const rule = typeof value !== 'number' || !Number.isInteger(value) ? 'type' : value < 0 ? 'minimum' : value > LONG_POLL_MAX_MS ? 'maximum' : undefined;
  if (rule !== undefined) throw requestInvalid(field, rule, `must be a whole number of milliseconds from 0 to ${LONG_POLL_MAX_MS}`);
  return value as number;
}

/** How long a tools/call waits for the outcome before answering pending: `_meta["writ/wait_ms"]`, 0-30000, default 10000. */
export function waitMsOf(meta: Meta): number {
  const value = meta?.[MCP_META.waitMs];
  if (value === undefined) return LONG_POLL_DEFAULT_MS;
  return boundedWait(value, `_meta.${MCP_META.waitMs}`);
}

function text(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/**
 * The tool result of an action: completed is the tool's result; a pending action (held for
 * approval, or not finished within the wait) is a result carrying its action id, to wait on with
 * writ.await_outcome; every other end (denied by a policy, refused by a control or a budget,
 * rejected by an approver, failed, expired) is a tool error naming who or what stopped it.
 */
export function toolResultOf(action: ActionJson): CallToolResult {
  const meta = { [MCP_META.actionId]: action.action_id, [MCP_META.status]: action.status };
  const base = { action_id: action.action_id, run_id: action.run_id, status: action.status };
  if (action.status === 'completed') {
    return {
      content: [{ type: 'text', text: text(action.result) }],
      structuredContent: {
        ...base,
        result: action.result,
        cost_micros: action.cost_micros,
        currency: action.currency,
        determining_policies: action.determining_policies,
      },
      _meta: meta,
    };
  }
  if (!action.terminal) {
    const approval = action.approval_request;
    const why =
      approval === null
        ? `action ${action.action_id} is ${action.status}`
        : `action ${action.action_id} is held for approval by policy ${approval.policy}${approval.reason === null ? '' : ` (${approval.reason})`}, needing ${approval.needs.count} approval(s) from ${approval.needs.roles.join(', ') || 'an approver'}`;
    return {
      content: [{ type: 'text', text: `${why}: call ${AWAIT_OUTCOME_TOOL} with {"action_id": "${action.action_id}"} for its outcome` }],
      structuredContent: {
        ...base,
        pending: true,
        approval: approval === null ? null : { policy: approval.policy, reason: approval.reason, needs: approval.needs },
      },
      _meta: meta,
    };
  }
  const policy = action.status === 'denied' ? (action.denied_by ?? action.determining_policies[0] ?? null) : null;
  const reason = action.reason ?? action.rejection?.message ?? null;
  const stoppedBy = policy === null ? '' : ` by policy ${policy}`;
  return {
    isError: true,
    content: [{ type: 'text', text: `${action.status}${stoppedBy}: ${reason ?? action.reason_code ?? 'no reason given'}` }],
    structuredContent: {
      ...base,
      policy,
      determining_policies: action.determining_policies,
      reason,
      reason_code: action.reason_code,
      result: action.result,
    },
    _meta: meta,
  };
}

/**
 * A refused request as a tool error (the contract's ARGUMENTS_INVALID naming the field and the
 * rule, an unknown run, an idempotency conflict...), so the model can read and correct it.
 */
export function toolErrorOf(error: WritError): CallToolResult {
  const where = error.field === undefined ? '' : ` (${error.field}: ${error.rule ?? 'invalid'})`;
  return {
    isError: true,
    content: [{ type: 'text', text: `${error.code}: ${error.message}${where}` }],
    structuredContent: {
      error: {
        code: error.code,
        message: error.message,
        ...(error.field === undefined ? {} : { field: error.field }),
        ...(error.rule === undefined ? {} : { rule: error.rule }),
        ...(error.details === undefined ? {} : { details: error.details }),
      },
    },
  };
}

/** A WritError a tools/call answers as a tool error; anything else (an internal failure) is left to the protocol's error. */
export function asToolError(error: unknown): CallToolResult | undefined {
  if (!isWritError(error)) return undefined;
  // A busy or unready gateway is the client's to retry, not the model's to correct.
  if (error.retriable) return undefined;
  return toolErrorOf(error);
}
