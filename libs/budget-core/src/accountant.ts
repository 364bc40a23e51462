// One step of the budget service, without I/O: the command an input asks for, decided against a
// tenant's books, with stale reservations lapsed first so their room is free for a new one.
import { isWritError } from '@writ/errors';
import type { BudgetDecider } from './budget.ts';
import type { BudgetCommand } from './commands.ts';
import type { BudgetEvent } from './events.ts';
import type { BudgetState } from './model.ts';

export interface AccountantStep {
  /** The books after the events. */
  readonly state: BudgetState;
  readonly events: readonly BudgetEvent[];
}

function decideAll(decider: BudgetDecider, state: BudgetState, commands: readonly BudgetCommand[]): AccountantStep {
  let current = state;
  const events: BudgetEvent[] = [];
  for (const command of commands) {
    const decided = decider.decide(command, current);
    for (const event of decided) current = decider.evolve(current, event);
    events.push(...decided);
  }
  return { state: current, events };
}

/**
 * Decides one command. A Reserve first lapses reservations past their expiry (the timer may not
 * have run yet). A Settle at cost 0 for a reservation this accountant never granted (an execution
 * refused before the call, e.g. a forged reservation) charges nothing and is not an error; at a
 * cost above 0 it stays an error (BUDGET_UNKNOWN_RESERVATION / BUDGET_NOT_RESERVED: the message
 * goes to the DLQ, since money was spent without a reservation).
 */
export function accountantStep(decider: BudgetDecider, state: BudgetState, command: BudgetCommand): AccountantStep {
  if (command.type === 'Reserve') return decideAll(decider, state, [{ type: 'ExpireReservations', now: command.now, forget: false }, command]);
  try {
    return decideAll(decider, state, [command]);
  } catch (error) {
    const nothingCharged = command.type === 'Settle' && command.actual_cost_micros === 0;
    if (nothingCharged && (isWritError(error, 'BUDGET_UNKNOWN_RESERVATION') || isWritError(error, 'BUDGET_NOT_RESERVED'))) {
      return { state, events: [] };
    }
    throw error;
  }
}
