// ActionProposed -> ProposeAction: the tool version resolved from the registry, the arguments
// validated again (the gateway did it first; the registry may have changed since), destinations
// checked against the tool's allowlists, the cost estimated from the tool's declared cost, and the
// kill switches looked up.
import type { ActionProposed } from '@writ/contracts';
import { canonicalJson, sha256Canonical } from '@writ/crypto';
import { WritError } from '@writ/errors';
import type { InvalidProposal, ProposeAction } from '@writ/planner-core';
import { checkDestinations, reservedCostOf, validateSealedArguments } from '@writ/tools';
import type { ToolRegistry } from '@writ/tools';

/** Kill switches as they reach one tenant (its own and the platform-wide ones). */
export interface KillSwitches {
  isToolKilled(tenant: string, tool: { readonly name: string; readonly version: string }): boolean;
  isAgentKilled(tenant: string, agent: string): boolean;
}

function parseArguments(json: string): { ok: true; value: unknown } | { ok: false; message: string } {
  try {
    return { ok: true, value: JSON.parse(json) as unknown };
  } catch (error) {
    return { ok: false, message: `arguments_json is not valid JSON: ${(error as Error).message}` };
  }
}

export function proposeCommandOf(event: ActionProposed, registry: ToolRegistry, kills: KillSwitches, defaultCurrency: string, now: number): ProposeAction {
  const actionId = event.meta.action_id;
  if (actionId === null || actionId.trim() === '') {
    throw new WritError('PLANNER_INVALID_COMMAND', 'ActionProposed has no meta.action_id', { field: 'meta.action_id', rule: 'required on ActionProposed' });
  }
  const base = {
    type: 'ProposeAction',
    run_id: event.meta.run_id,
    action_id: actionId,
    agent_id: event.agent_id,
    tool: event.tool,
    tool_version: event.tool_version ?? 'latest',
    arguments_json: event.arguments_json,
    args_sha256: event.args_sha256,
    idempotency_key: event.idempotency_key,
    reason: event.reason,
    estimated_cost_micros: 0,
    currency: defaultCurrency,
    now,
    agent_killed: kills.isAgentKilled(event.meta.tenant_id, event.agent_id),
    tool_killed: kills.isToolKilled(event.meta.tenant_id, { name: event.tool, version: event.tool_version ?? '' }),
  } as const;
  const invalid = (reason_code: InvalidProposal['reason_code'], field: string | null, message: string): ProposeAction => ({
    ...base,
    invalid: { reason_code, field, message },
  });

  const tool = registry.get(event.tool, event.tool_version ?? undefined);
  if (tool === undefined) {
    const known = registry.get(event.tool) !== undefined;
    return known
      ? invalid('tool_unknown', 'tool_version', `tool ${event.tool} has no version ${event.tool_version ?? ''} in the registry`)
      : invalid('tool_unknown', 'tool', `no tool ${event.tool} in the registry`);
  }
  const resolved = { ...base, tool_version: tool.version, currency: tool.cost.currency, estimated_cost_micros: reservedCostOf(tool) };
  const parsed = parseArguments(event.arguments_json);
  if (!parsed.ok) return { ...resolved, invalid: { reason_code: 'args_invalid', field: 'arguments_json', message: parsed.message } };
  // Sensitive arguments travel sealed (the gateway sealed them); everything else is checked as declared.
  const check = validateSealedArguments(tool, parsed.value);
  if (!check.ok) {
    const [first] = check.problems;
    const more = check.problems.length > 1 ? ` (and ${check.problems.length - 1} more)` : '';
    return {
      ...resolved,
      invalid: {
        reason_code: 'args_invalid',
        field: first?.field ?? null,
        message: `${first?.message ?? 'arguments do not match the tool schema'} [${first?.rule ?? 'schema'}]${more}`,
      },
    };
  }
  const argsSha256 = sha256Canonical(parsed.value);
  if (argsSha256 !== event.args_sha256) {
    return {
      ...resolved,
      invalid: { reason_code: 'args_invalid', field: 'args_sha256', message: 'args_sha256 is not the sha256 of the canonical JSON of the arguments' },
    };
  }
  // Destination allowlists: a sealed (sensitive) destination is left to the executor, which opens it.
  const refused = checkDestinations(tool, parsed.value, { sealed: true });
  const [first] = refused;
  if (first !== undefined) {
    const more = refused.length > 1 ? ` (and ${refused.length - 1} more)` : '';
    return { ...resolved, invalid: { reason_code: 'destination_not_allowed', field: first.field, message: `${first.message}${more}` } };
  }
  // A metered tool (a model) is reserved for the most tokens this call's arguments allow.
  return { ...resolved, estimated_cost_micros: reservedCostOf(tool, parsed.value), arguments_json: canonicalJson(parsed.value), invalid: null };
}
