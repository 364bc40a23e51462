// What the budget service does with each event it consumes: the accountant's commands, plain data.
import type { EventPayloads } from '@writ/contracts';
import { hasSideEffects, reservedCostOf } from '@writ/tools';
import type { ToolDefinition } from '@writ/tools';
import type { BudgetCommand, Release, Reserve, SetLimits, Settle } from './commands.ts';
import { invalidCommand } from './validation.ts';

/** The events the budget service consumes. */
export type BudgetInput =
  | { readonly type: 'ActionProposed'; readonly payload: EventPayloads['ActionProposed'] }
  | { readonly type: 'BudgetReservationRequested'; readonly payload: EventPayloads['BudgetReservationRequested'] }
  | { readonly type: 'ActionExecuted'; readonly payload: EventPayloads['ActionExecuted'] }
  | { readonly type: 'ActionFailed'; readonly payload: EventPayloads['ActionFailed'] }
  | { readonly type: 'ActionCompleted'; readonly payload: EventPayloads['ActionCompleted'] }
  | { readonly type: 'RunStarted'; readonly payload: EventPayloads['RunStarted'] };

export const BUDGET_INPUT_TYPES: readonly BudgetInput['type'][] = [
  'ActionProposed',
  'BudgetReservationRequested',
  'ActionExecuted',
  'ActionFailed',
  'ActionCompleted',
  'RunStarted',
];

export function isBudgetInput(event: { readonly type: string; readonly payload: unknown }): event is BudgetInput {
  return (BUDGET_INPUT_TYPES as readonly string[]).includes(event.type);
}

/**
 * What the tool registry resolves a proposal's tool to, as the planner resolves it:
 * `registry.get(proposal.tool, proposal.tool_version ?? undefined)` (a null tool_version is the
 * highest version). The service looks it up; this lib only reads the result.
 */
export type ResolvedTool = Pick<ToolDefinition, 'name' | 'version' | 'cost' | 'effect'>;

/** The command an input asks of the accountant, with what the wire side needs to know; null: nothing to do. */
export interface InputCommand {
  readonly command: BudgetCommand;
  /** For a reservation (ActionProposed, BudgetReservationRequested): the tool's name, a signed claim of the reservation. */
  readonly tool: string | null;
}

/**
 * Statuses of ActionCompleted that mean the action never executed on its reservation. completed
 * and failed are settled by ActionExecuted / ActionFailed from the executor instead.
 */
const RELEASING_STATUSES: ReadonlySet<string> = new Set(['denied', 'rejected', 'refused', 'expired']);

/**
 * An action that expired while executing still holds its reservation: the executor's outcome will
 * settle it (or the reservation lapses). Releasing it now would free room for a call that may be
 * running. Read defensively: reason_code arrives with ActionCompleted v2 (upper case on the wire).
 */
const EXECUTING_REASONS: ReadonlySet<string> = new Set(['execution_timeout']);

/**
 * Maps a consumed event to the accountant's command.
 * - ActionProposed -> Reserve (reservation_id is the action id) of the resolved tool's declared
 *   maximum cost (`cost.max_micros`, else `cost.micros`) and one tool call; null when `tool` is undefined (no such tool or version in the
 *   registry: the planner rejects the proposal as tool_unknown, there is nothing to reserve for).
 *   A proposal of a shadow run (`mode` shadow) reserves with `shadow`: released in the same decision.
 * - BudgetReservationRequested (the planner's, written before the accountant reacted to proposals)
 *   -> Reserve too; an action with both reserves once (the same reservation_id).
 * - ActionExecuted / ActionFailed -> Settle at the reported cost (a failure with cost 0 settles 0
 *   and releases the whole reservation).
 * - ActionCompleted denied | rejected | refused | expired -> Release (a no-op when nothing is held;
 *   remembered when the request has not arrived yet, so a late request is ignored).
 * - RunStarted with a cost or tool-call cap -> SetLimits for that run.
 * `defaultCurrency`: the tenant's currency, for run limits that name none.
 */
export function commandFor(input: BudgetInput, now: number, defaultCurrency: string | null, tool?: ResolvedTool): InputCommand | null {
  switch (input.type) {
    case 'ActionProposed':
      return tool === undefined ? null : proposalReservation(input.payload, tool, now);
    case 'BudgetReservationRequested': {
      const p = input.payload;
      const reserve: Reserve = {
        type: 'Reserve',
        reservation_id: p.meta.action_id ?? '',
        run_id: p.meta.run_id,
        agent_id: p.agent_id,
        estimated_cost_micros: p.estimated_cost_micros,
        tool_calls: p.tool_calls,
        currency: p.currency,
        now,
        requested_at: p.meta.occurred_at,
        tool: p.tool,
      };
      return { command: reserve, tool: p.tool };
    }
    case 'ActionExecuted':
    case 'ActionFailed': {
      const p = input.payload;
      const settle: Settle = { type: 'Settle', reservation_id: p.reservation_id, actual_cost_micros: p.cost_micros, currency: p.currency, now };
      return { command: settle, tool: null };
    }
    case 'ActionCompleted': {
      const p = input.payload;
      if (!RELEASING_STATUSES.has(p.status) || p.meta.action_id === null) return null;
      const reasonCode = (p as { readonly reason_code?: unknown }).reason_code;
      if (typeof reasonCode === 'string' && EXECUTING_REASONS.has(reasonCode.toLowerCase())) return null;
      const release: Release = { type: 'Release', reservation_id: p.meta.action_id, now };
      return { command: release, tool: null };
    }
    case 'RunStarted': {
      const { max_cost_micros, max_tool_calls, currency } = input.payload.limits;
      if (max_cost_micros === null && max_tool_calls === null) return null;
      const setLimits: SetLimits = {
        type: 'SetLimits',
        scope: 'run',
        subject: input.payload.meta.run_id,
        caps: { money_micros: max_cost_micros, tool_calls: max_tool_calls },
        currency: currency ?? defaultCurrency ?? 'USD',
        now,
      };
      return { command: setLimits, tool: null };
    }
    default:
      return null;
  }
}

/** A proposal's arguments (a metered tool is reserved from them), or undefined when they are not JSON. */
function argumentsOf(json: string): unknown {
  try {
    return JSON.parse(json) as unknown;
  } catch {
    return undefined;
  }
}

function proposalReservation(p: EventPayloads['ActionProposed'], tool: ResolvedTool, now: number): InputCommand {
  // A lookup of another tool or version is the caller's mistake; reserving its cost would be wrong money.
  if (tool.name !== p.tool) throw invalidCommand('tool', `must be the registry's entry for the proposal's tool ${p.tool}`, tool.name);
  if (p.tool_version !== null && tool.version !== p.tool_version) {
    throw invalidCommand('tool_version', `must be the registry's entry for the proposal's version ${p.tool_version}`, tool.version);
  }
  const reserve: Reserve = {
    type: 'Reserve',
    reservation_id: p.meta.action_id ?? '',
    run_id: p.meta.run_id,
    agent_id: p.agent_id,
    estimated_cost_micros: reservedCostOf(tool, argumentsOf(p.arguments_json)),
    tool_calls: 1,
    currency: tool.cost.currency,
    now,
    requested_at: p.meta.occurred_at,
    tool: tool.name,
    side_effects: hasSideEffects(tool),
    ...(p.mode === 'shadow' ? { shadow: true } : {}),
  };
  return { command: reserve, tool: tool.name };
}
