// Shared builders for the planner's specs (the .spec.ts suffix keeps them out of the build; they
// hold no tests themselves).
import { deciderSpec } from '@writ/decider/testing';
import type { ProposeAction } from './commands.ts';
import type { ActionAdmitted, ActionCompleted, PlannerEvent, RunStarted } from './events.ts';
import type { ActionTerminalStatus, CompletionReason, Proposal, Reservation, RunLimits, Warrant } from './model.ts';
import { createPlannerDecider } from './planner.ts';

export const RUN = 'run-1';
export const TENANT = 'tenant-1';
export const AGENT = 'agent-1';
export const T0 = 1_780_000_000_000;
export const SECOND = 1000;
export const MINUTE = 60 * SECOND;

export const planner = createPlannerDecider();
export const spec = deciderSpec(planner);

export const DEFAULT_LIMITS: RunLimits = {
  max_steps: null,
  max_tool_calls: null,
  max_cost_micros: null,
  currency: null,
  wall_clock_ms: null,
  loop_threshold: 3,
  loop_window: 10,
};

export function sha(seed: string): string {
  return seed.padEnd(64, '0').slice(0, 64);
}

export function runStarted(limits: Partial<RunLimits> = {}, at = T0): RunStarted {
  return {
    type: 'RunStarted',
    run_id: RUN,
    tenant_id: TENANT,
    agent_id: AGENT,
    goal: 'refund ticket 42',
    limits: { ...DEFAULT_LIMITS, ...limits },
    mode: 'live',
    started_at: at,
  };
}

export function propose(actionId: string, overrides: Partial<ProposeAction> = {}): ProposeAction {
  return {
    type: 'ProposeAction',
    run_id: RUN,
    action_id: actionId,
    agent_id: AGENT,
    tool: 'refunds.create',
    tool_version: '1.0.0',
    arguments_json: `{"ticket":"${actionId}"}`,
    args_sha256: sha(actionId),
    idempotency_key: `key-${actionId}`,
    reason: 'the customer asked',
    estimated_cost_micros: 2_000,
    currency: 'USD',
    now: T0 + SECOND,
    ...overrides,
  };
}

export function proposalOf(command: ProposeAction): Proposal {
  return {
    agent_id: command.agent_id,
    tool: command.tool,
    tool_version: command.tool_version,
    arguments_json: command.arguments_json,
    args_sha256: command.args_sha256,
    idempotency_key: command.idempotency_key,
    reason: command.reason,
    estimated_cost_micros: command.estimated_cost_micros,
    currency: command.currency,
    proposed_at: command.now,
  };
}

/** The event of an admission of `propose(actionId, overrides)` with the given run stats. */
export function admission(actionId: string, overrides: Partial<ProposeAction> = {}, stats: Partial<ActionAdmitted['run_stats']> = {}): [ActionAdmitted] {
  const command = propose(actionId, overrides);
  return [
    {
      type: 'ActionAdmitted',
      run_id: RUN,
      action_id: actionId,
      proposal: proposalOf(command),
      run_stats: { steps: 0, spend_micros: 0, currency: 'USD', tool_calls_in_window: 0, ...stats },
      admitted_at: command.now,
      deadline: command.now + 30 * SECOND,
    },
  ];
}

export function warrantFor(actionId: string, overrides: Partial<Warrant> = {}): Warrant {
  return {
    key_id: 'pdp-key-1',
    agent_id: AGENT,
    tool: 'refunds.create',
    tool_version: '1.0.0',
    args_sha256: sha(actionId),
    policy_set_hash: sha('policies'),
    not_after: T0 + 10 * MINUTE,
    signature: `sig-w-${actionId}`,
    ...overrides,
  };
}

export function reservationFor(actionId: string, overrides: Partial<Reservation> = {}): Reservation {
  return {
    reservation_id: actionId,
    amount_micros: 2_000,
    currency: 'USD',
    expires_at: T0 + 60 * MINUTE,
    key_id: 'budget-key-1',
    signature: `sig-r-${actionId}`,
    ...overrides,
  };
}

export function completed(
  actionId: string,
  status: ActionTerminalStatus,
  reason_code: CompletionReason,
  reason: string,
  at: number,
  extra: Partial<ActionCompleted> = {},
): ActionCompleted {
  return {
    type: 'ActionCompleted',
    run_id: RUN,
    action_id: actionId,
    status,
    reason_code,
    reason,
    result_json: null,
    result_ref: null,
    cost_micros: 0,
    currency: 'USD',
    completed_at: at,
    ...extra,
  };
}

/** Events of an action that is executing: admitted, allowed, reserved, execution requested at `at`. */
export function executing(actionId: string, at = T0 + 2 * SECOND): PlannerEvent[] {
  const command = propose(actionId);
  return [
    ...admission(actionId),
    { type: 'WarrantRecorded', run_id: RUN, action_id: actionId, warrant: warrantFor(actionId), deadline: command.now + 30 * SECOND },
    { type: 'ReservationRecorded', run_id: RUN, action_id: actionId, reservation: reservationFor(actionId) },
    {
      type: 'ExecutionRequested',
      run_id: RUN,
      action_id: actionId,
      agent_id: AGENT,
      tool: command.tool,
      tool_version: command.tool_version,
      arguments_json: command.arguments_json,
      args_sha256: command.args_sha256,
      idempotency_key: command.idempotency_key,
      warrant: warrantFor(actionId),
      reservation: reservationFor(actionId),
      deadline: at + 10 * SECOND,
      outcome_deadline: at + 10 * SECOND + 5 * MINUTE,
      requested_at: at,
    },
  ];
}
