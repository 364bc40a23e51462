// What the budget service does with each event it consumes: the accountant's commands, plain data.
import type { EventPayloads } from '@writ/contracts';
import type { BudgetCommand, Release, Reserve, SetLimits, Settle } from './commands.ts';

/** The events the budget service consumes. */
export type BudgetInput =
  | { readonly type: 'BudgetReservationRequested'; readonly payload: EventPayloads['BudgetReservationRequested'] }
  | { readonly type: 'ActionExecuted'; readonly payload: EventPayloads['ActionExecuted'] }
  | { readonly type: 'ActionFailed'; readonly payload: EventPayloads['ActionFailed'] }
  | { readonly type: 'ActionCompleted'; readonly payload: EventPayloads['ActionCompleted'] }
  | { readonly type: 'RunStarted'; readonly payload: EventPayloads['RunStarted'] };

export const BUDGET_INPUT_TYPES: readonly BudgetInput['type'][] = ['BudgetReservationRequested', 'ActionExecuted', 'ActionFailed', 'ActionCompleted', 'RunStarted'];

export function isBudgetInput(event: { readonly type: string; readonly payload: unknown }): event is BudgetInput {
  return (BUDGET_INPUT_TYPES as readonly string[]).includes(event.type);
}

/** The command an input asks of the accountant, with what the wire side needs to know; null: nothing to do. */
export interface InputCommand {
  readonly command: BudgetCommand;
  /** For BudgetReservationRequested: the tool, a signed claim of the reservation. */
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
 * - BudgetReservationRequested -> Reserve (reservation_id is the action id).
 * - ActionExecuted / ActionFailed -> Settle at the reported cost (a failure with cost 0 settles 0
 *   and releases the whole reservation).
 * - ActionCompleted denied | rejected | refused | expired -> Release (a no-op when nothing is held;
 *   remembered when the request has not arrived yet, so a late request is ignored).
 * - RunStarted with a cost or tool-call cap -> SetLimits for that run.
 * `defaultCurrency`: the tenant's currency, for run limits that name none.
 */
export function commandFor(input: BudgetInput, now: number, defaultCurrency: string | null): InputCommand | null {
  switch (input.type) {
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
