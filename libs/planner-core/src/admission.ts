import type { PlannerConfig } from './config.ts';
import type { ActionAdmitted, ActionCompleted, ActionRejected, PlannerEvent } from './events.ts';
import { callKey } from './model.ts';
import type { PlannerState, Proposal, RejectionReason, RunStats } from './model.ts';

export interface Rejection {
  readonly reason_code: RejectionReason;
  readonly message: string;
  readonly field: string | null;
  readonly existing_action_id: string | null;
}

/** The two events of a refused proposal: the reason, then the one terminal event. */
export function rejectionEvents(
  runId: string,
  actionId: string,
  idempotencyKey: string,
  currency: string,
  rejection: Rejection,
  now: number,
): [ActionRejected, ActionCompleted] {
  return [
    {
      type: 'ActionRejected',
      run_id: runId,
      action_id: actionId,
      idempotency_key: idempotencyKey,
      reason_code: rejection.reason_code,
      message: rejection.message,
      field: rejection.field,
      existing_action_id: rejection.existing_action_id,
      rejected_at: now,
    },
    {
      type: 'ActionCompleted',
      run_id: runId,
      action_id: actionId,
      status: 'rejected',
      reason_code: rejection.reason_code,
      reason: rejection.message,
      result_json: null,
      result_ref: null,
      cost_micros: 0,
      currency,
      completed_at: now,
    },
  ];
}

export function rejection(reason_code: RejectionReason, message: string, field: string | null = null, existing_action_id: string | null = null): Rejection {
  return { reason_code, message, field, existing_action_id };
}

/** Why a proposal cannot be admitted into this (started) run now, or null when it can. */
export function runRefusal(state: PlannerState, proposal: Proposal, now: number): Rejection | null {
  const runId = state.run_id ?? '';
  const limits = state.limits;
  if (state.phase === 'ended') {
    return rejection('run_closed', `run ${runId} has ended (${state.end?.status ?? 'ended'}): it takes no more actions`);
  }
  if (state.agent_id !== null && proposal.agent_id !== state.agent_id) {
    return rejection('agent_mismatch', `run ${runId} belongs to agent ${state.agent_id}, not ${proposal.agent_id}`, 'agent_id');
  }
  if (limits.wall_clock_ms !== null && state.started_at !== null && now >= state.started_at + limits.wall_clock_ms) {
    return rejection('wall_clock_exceeded', `run ${runId} reached its wall-clock limit of ${limits.wall_clock_ms} ms`);
  }
  if (limits.max_steps !== null && state.steps >= limits.max_steps) {
    return rejection('step_limit', `run ${runId} reached its step limit of ${limits.max_steps} actions`);
  }
  const key = callKey(proposal.tool, proposal.args_sha256);
  const identical = state.recent_calls.filter((call) => call === key).length;
  if (identical + 1 >= limits.loop_threshold) {
    return rejection(
      'loop_detected',
      `this would be call ${identical + 1} of tool ${proposal.tool} with identical arguments among the last ${limits.loop_window} actions (loop threshold ${limits.loop_threshold}); change the arguments or the approach`,
    );
  }
  return null;
}

function runStats(state: PlannerState, proposal: Proposal, now: number, config: PlannerConfig): RunStats {
  // Admission times of the tool, in admission order: count back from the latest.
  const times = state.admissions.get(proposal.tool) ?? [];
  let calls = 0;
  for (let i = times.length - 1; i >= 0; i -= 1) {
    const at = times[i] ?? 0;
    if (at <= now - config.rate_window_ms) break;
    if (at <= now) calls += 1;
  }
  return { steps: state.steps, spend_micros: state.spend_micros, currency: proposal.currency, tool_calls_in_window: calls };
}

/**
 * Admission into a started run: the checks, then either ActionAdmitted or a rejection. The PDP and
 * the accountant react to the same ActionProposed in parallel, so nothing is asked of them here.
 */
export function admissionEvents(state: PlannerState, actionId: string, proposal: Proposal, now: number, config: PlannerConfig): PlannerEvent[] {
  const runId = state.run_id ?? '';
  const refusal = runRefusal(state, proposal, now);
  if (refusal !== null) return rejectionEvents(runId, actionId, proposal.idempotency_key, proposal.currency, refusal, now);
  const admitted: ActionAdmitted = {
    type: 'ActionAdmitted',
    run_id: runId,
    action_id: actionId,
    proposal,
    run_stats: runStats(state, proposal, now, config),
    admitted_at: now,
    deadline: now + config.decision_timeout_ms,
  };
  return [admitted];
}
