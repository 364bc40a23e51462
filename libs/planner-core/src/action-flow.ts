import { WritError } from '@writ/errors';
import { lookup } from '@writ/decider';
import type { Accumulator } from '@writ/decider';
import type { PlannerConfig } from './config.ts';
import type { PlannerEvent } from './events.ts';
import { isTerminalStatus } from './model.ts';
import type { ActionState, ActionTerminalStatus, CompletionReason, PlannerState } from './model.ts';

export type RunAccumulator = Accumulator<PlannerEvent, PlannerState>;

/** The action a message is about; a message about an action the run never had goes to the DLQ. */
export function requireAction(state: PlannerState, actionId: string): ActionState {
  const action = lookup(state.actions, actionId);
  if (action === undefined) {
    throw new WritError('PLANNER_UNKNOWN_ACTION', `run ${state.run_id ?? '(unknown)'} has no action ${actionId}`, {
      field: 'action_id',
      rule: 'must name an action proposed in this run',
    });
  }
  return action;
}

/** A message that cannot follow the action's current step (e.g. an outcome for an action never sent to execution). */
export function outOfOrder(action: ActionState, what: string, rule: string): WritError {
  return new WritError('PLANNER_OUT_OF_ORDER', `${what} for action ${action.action_id}, which is ${action.status}`, { field: 'action_id', rule });
}

/**
 * Ends an open action: releases its reservation when it holds one that will not be spent by an
 * execution, then emits the one terminal event.
 */
export function finish(
  acc: RunAccumulator,
  actionId: string,
  status: ActionTerminalStatus,
  reasonCode: CompletionReason,
  reason: string,
  now: number,
  outcome: { readonly cost_micros: number; readonly result_json: string | null; readonly result_ref?: string | null } = { cost_micros: 0, result_json: null },
): void {
  const action = lookup(acc.state.actions, actionId);
  if (action === undefined || isTerminalStatus(action.status)) return;
  if (action.reservation !== null && action.status !== 'executing' && !action.release_requested) {
    acc.emit({
      type: 'BudgetReleaseRequested',
      run_id: acc.state.run_id ?? '',
      action_id: actionId,
      reservation_id: action.reservation.reservation_id,
      reason_code: reasonCode,
    });
  }
  acc.emit({
    type: 'ActionCompleted',
    run_id: acc.state.run_id ?? '',
    action_id: actionId,
    status,
    reason_code: reasonCode,
    reason,
    result_json: outcome.result_json,
    result_ref: outcome.result_ref ?? null,
    cost_micros: outcome.cost_micros,
    currency: action.proposal?.currency ?? '',
    completed_at: now,
  });
}

/**
 * What a shadow run's action would have done, as its ActionCompleted's result_json: the call it
 * would have made (tool, version, arguments' hash, idempotency key), the warrant it held (null when
 * it would have waited for an approval) and the reservation it would have run on.
 */
export function shadowResult(action: ActionState, would: 'execute' | 'await_approval'): string | null {
  const { proposal, warrant, reservation } = action;
  if (proposal === null || reservation === null) return null;
  return JSON.stringify({
    shadow: true,
    would,
    tool: proposal.tool,
    tool_version: proposal.tool_version,
    args_sha256: proposal.args_sha256,
    idempotency_key: proposal.idempotency_key,
    warrant: warrant === null ? null : { key_id: warrant.key_id, policy_set_hash: warrant.policy_set_hash, not_after: warrant.not_after },
    reservation: {
      reservation_id: reservation.reservation_id,
      amount_micros: reservation.amount_micros,
      currency: reservation.currency,
      expires_at: reservation.expires_at,
    },
  });
}

/**
 * Policy allowed and budget reserved: request execution, unless the warrant or reservation has
 * lapsed. In a shadow run nothing is requested: the action completes saying it would have
 * executed, or, held for an approval and reserved, that it would have awaited the approval.
 */
export function executeIfReady(acc: RunAccumulator, actionId: string, now: number, config: PlannerConfig): void {
  const action = lookup(acc.state.actions, actionId);
  const shadow = acc.state.mode === 'shadow';
  if (shadow && action?.status === 'awaiting_approval' && action.reservation !== null && action.proposal !== null) {
    const why = `shadow run: nothing executed; policy requires an approval, which a live run would wait for (nobody was asked)`;
    finish(acc, actionId, 'completed', 'shadow_approval_required', why, now, { cost_micros: 0, result_json: shadowResult(action, 'await_approval') });
    return;
  }
  if (action?.status !== 'pending' || action.warrant === null || action.reservation === null || action.proposal === null) return;
  const { warrant, reservation, proposal } = action;
  if (now >= warrant.not_after) {
    finish(acc, actionId, 'expired', 'warrant_expired', `the warrant expired at ${warrant.not_after} before the budget was reserved`, now);
    return;
  }
  if (now >= reservation.expires_at) {
    finish(acc, actionId, 'expired', 'reservation_expired', `the budget reservation expired at ${reservation.expires_at} before policy allowed`, now);
    return;
  }
  if (shadow) {
    const why =
      `shadow run: nothing executed; ${proposal.tool}@${proposal.tool_version} would have executed, ` +
      `allowed by policy and reserved ${reservation.amount_micros} ${reservation.currency} (released)`;
    finish(acc, actionId, 'completed', 'shadow_would_execute', why, now, { cost_micros: 0, result_json: shadowResult(action, 'execute') });
    return;
  }
  const deadline = Math.min(now + config.execution_start_timeout_ms, warrant.not_after, reservation.expires_at);
  acc.emit({
    type: 'ExecutionRequested',
    run_id: acc.state.run_id ?? '',
    action_id: actionId,
    agent_id: proposal.agent_id,
    tool: proposal.tool,
    tool_version: proposal.tool_version,
    arguments_json: proposal.arguments_json,
    args_sha256: proposal.args_sha256,
    idempotency_key: proposal.idempotency_key,
    warrant,
    reservation,
    deadline,
    outcome_deadline: deadline + config.execution_timeout_ms,
    requested_at: now,
  });
}

/** How an open action expires, by the step it was waiting in. */
export function expiryOf(action: ActionState): { reason_code: CompletionReason; reason: string } {
  switch (action.status) {
    case 'awaiting_run':
      return { reason_code: 'run_not_started', reason: 'the run did not start in time for this proposal' };
    case 'pending':
      return { reason_code: 'decision_timeout', reason: 'no policy decision and budget answer in time' };
    case 'awaiting_approval':
      return { reason_code: 'approval_timeout', reason: 'no approval in time' };
    case 'executing':
      return { reason_code: 'execution_timeout', reason: 'no execution outcome in time; the side effect may have happened and needs reconciliation' };
    default:
      return { reason_code: 'decision_timeout', reason: 'expired' };
  }
}
