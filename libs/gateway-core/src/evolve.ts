import { assertNever } from '@writ/decider';
import type { Metadata } from '@writ/contracts';
import { isTerminalStatus } from './model.ts';
import type { ActionEvent, ActionState, ApprovalView, RunEvent, RunState } from './model.ts';

/** A state for an action first seen through another event than its proposal. */
function skeleton(meta: Metadata, actionId: string): ActionState {
  return {
    action_id: actionId,
    run_id: meta.run_id,
    tenant_id: meta.tenant_id,
    agent_id: null,
    tool: null,
    tool_version: null,
    arguments_json: null,
    args_sha256: null,
    proposal_reason: null,
    idempotency_key: null,
    run_mode: 'live',
    status: 'proposed',
    decision: null,
    determining_policies: [],
    policy_set_version: null,
    approval_requirement: null,
    approval_requested_at: null,
    run_spend_micros: null,
    run_spend_currency: null,
    denied_by: null,
    approvals: [],
    rejection: null,
    reason: null,
    reason_code: null,
    result_json: null,
    result_ref: null,
    result_body: null,
    cost_micros: null,
    currency: null,
    proposed_at: null,
    updated_at: meta.occurred_at,
    completed_at: null,
    unknown_outcome: null,
    reconciliation: null,
    trace_id: null,
    shadow_results: [],
  };
}

/** The trace id of a W3C traceparent (version-traceid-spanid-flags); null without one or for the all-zero id. */
export function traceIdOf(traceparent: string | null | undefined): string | null {
  const match = /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/.exec(traceparent ?? '');
  return match?.[1] === undefined || /^0+$/.test(match[1]) ? null : match[1];
}

/** The planner's reason code of an action whose outcome is unknown (planner-core's `outcome_unknown`). */
export const OUTCOME_UNKNOWN_REASON = 'OUTCOME_UNKNOWN';

/** A pending status never goes back, and a terminal one never changes. */
function advance(state: ActionState, next: ActionState['status']): ActionState['status'] {
  if (isTerminalStatus(state.status)) return state.status;
  if (next === 'admitted' && state.status !== 'proposed') return state.status;
  return next;
}

function touched(state: ActionState, meta: Metadata): number {
  return Math.max(state.updated_at, meta.occurred_at);
}

/**
 * The next state of one action given one event about it (pure). Redelivered or duplicate events
 * leave the state as it was; events of other topics may arrive in any order relative to the
 * action topic, so nothing assumes the proposal came first.
 */
export function evolveAction(current: ActionState | undefined, event: ActionEvent): ActionState | undefined {
  const { meta } = event.payload;
  const actionId = meta.action_id;
  if (actionId === null || actionId === '') return current;
  const state = current ?? skeleton(meta, actionId);
  switch (event.type) {
    case 'ActionProposed': {
      if (state.proposed_at !== null) return current;
      const p = event.payload;
      return {
        ...state,
        agent_id: p.agent_id,
        tool: p.tool,
        tool_version: p.tool_version,
        arguments_json: p.arguments_json,
        args_sha256: p.args_sha256,
        proposal_reason: p.reason,
        idempotency_key: p.idempotency_key,
        run_mode: p.mode,
        trace_id: traceIdOf(meta.trace?.traceparent),
        proposed_at: meta.occurred_at,
        updated_at: touched(state, meta),
      };
    }
    case 'ActionAdmitted':
      return {
        ...state,
        agent_id: state.agent_id ?? event.payload.agent_id,
        tool: state.tool ?? event.payload.tool,
        tool_version: event.payload.tool_version,
        status: advance(state, 'admitted'),
        updated_at: touched(state, meta),
      };
    case 'ActionRejected': {
      const p = event.payload;
      return { ...state, rejection: { code: p.reason_code, message: p.message, field: p.field }, updated_at: touched(state, meta) };
    }
    case 'ActionCompleted': {
      if (isTerminalStatus(state.status)) return current;
      const p = event.payload;
      const unknown =
        state.unknown_outcome ??
        (p.reason_code === OUTCOME_UNKNOWN_REASON
          ? { error_code: null, message: p.reason, attempts: null, cost_micros: p.cost_micros, currency: p.currency, since: meta.occurred_at }
          : null);
      return {
        ...state,
        unknown_outcome: unknown,
        status: p.status,
        reason: p.reason,
        reason_code: p.reason_code === '' ? null : p.reason_code,
        result_json: p.result_json,
        result_ref: p.result_ref,
        cost_micros: p.cost_micros,
        currency: p.currency,
        completed_at: meta.occurred_at,
        updated_at: touched(state, meta),
      };
    }
    case 'PolicyDecided': {
      const p = event.payload;
      const status = p.decision === 'approval_required' ? 'awaiting_approval' : p.decision === 'allow' ? 'allowed' : state.status;
      return {
        ...state,
        decision: p.decision,
        determining_policies: p.determining_policies,
        policy_set_version: p.policy_set_version === '' ? null : p.policy_set_version,
        approval_requirement: p.approval_requirement,
        approval_requested_at: state.approval_requested_at ?? (p.decision === 'approval_required' ? meta.occurred_at : null),
        run_spend_micros: p.run_stats?.spend_micros ?? state.run_spend_micros,
        run_spend_currency: p.run_stats?.currency ?? state.run_spend_currency,
        denied_by: p.denied_by,
        shadow_results: p.shadow_results,
        status: advance(state, status),
        updated_at: touched(state, meta),
      };
    }
    case 'ApprovalSubmitted': {
      const p = event.payload;
      // The gateway applies its own submission at once and meets it again on the topic.
      if (state.approvals.some((approval) => approval.submission_id === meta.event_id)) {
        return current;
      }
      // ApprovalSubmitted (writ.approvals.v1) and the PDP's ApprovalRecorded (writ.policy.v1) travel
      // on two topics, so a reader may meet the record first: complete that entry, do not add one.
      const judged = state.approvals.findIndex(
        (a) => a.submission_id === null && a.submitted_at === null && a.approver_id === p.approver_id && a.verdict === p.verdict,
      );
      if (judged >= 0) {
        const approvals = state.approvals.map((a, i) =>
          i === judged ? { ...a, submission_id: meta.event_id, comment: p.comment, submitted_at: meta.occurred_at } : a,
        );
        return { ...state, approvals, updated_at: touched(state, meta) };
      }
      const approval: ApprovalView = {
        submission_id: meta.event_id,
        approver_id: p.approver_id,
        approver_role: p.approver_role,
        verdict: p.verdict,
        comment: p.comment,
        submitted_at: meta.occurred_at,
        state: 'submitted',
        accepted: null,
        reason: null,
        determining_policies: [],
        recorded_at: null,
      };
      return { ...state, approvals: [...state.approvals, approval], updated_at: touched(state, meta) };
    }
    case 'ApprovalRecorded': {
      const p = event.payload;
      const recorded = {
        state: p.accepted ? ('accepted' as const) : ('refused' as const),
        accepted: p.accepted,
        reason: p.reason,
        determining_policies: p.determining_policies,
        recorded_at: meta.occurred_at,
      };
      // The oldest submission of this approver and verdict still waiting for the PDP.
      const index = state.approvals.findIndex((a) => a.approver_id === p.approver_id && a.verdict === p.verdict && a.state === 'submitted');
      const approvals =
        index >= 0
          ? state.approvals.map((approval, i) => (i === index ? { ...approval, ...recorded } : approval))
          : [
              ...state.approvals,
              {
                submission_id: null,
                approver_id: p.approver_id,
                approver_role: p.approver_role,
                verdict: p.verdict,
                comment: null,
                submitted_at: null,
                ...recorded,
              },
            ];
      return { ...state, approvals, updated_at: touched(state, meta) };
    }
    case 'ActionFailed': {
      const p = event.payload;
      if (p.outcome !== 'unknown') return current;
      // The executor's details; "since" stays the first sighting (the completion may have come first).
      const since = Math.min(state.unknown_outcome?.since ?? meta.occurred_at, meta.occurred_at);
      const unknown = { error_code: p.error_code, message: p.message, attempts: p.attempts, cost_micros: p.cost_micros, currency: p.currency, since };
      return { ...state, unknown_outcome: unknown, updated_at: touched(state, meta) };
    }
    case 'ToolResultRecorded': {
      // A redelivered request publishes the body again: the first one stays.
      if (state.result_body !== null) return current;
      const p = event.payload;
      return { ...state, result_body: { ref: p.result_ref, json: p.result_json }, updated_at: touched(state, meta) };
    }
    case 'OutcomeReconciled': {
      // The first resolution on the topic counts; a second (two operators at once) is in the ledger, not here.
      if (state.reconciliation !== null) return current;
      const p = event.payload;
      const reconciliation = {
        event_id: meta.event_id,
        outcome: p.outcome,
        note: p.note,
        resolved_by: p.resolved_by,
        resolver_role: p.resolver_role,
        resolved_at: meta.occurred_at,
      };
      return { ...state, reconciliation, updated_at: touched(state, meta) };
    }
    default:
      return assertNever(event, 'event');
  }
}

/** The next state of one run (pure); a second RunStarted and events after the end change nothing. */
export function evolveRun(current: RunState | undefined, event: RunEvent): RunState | undefined {
  switch (event.type) {
    case 'RunStarted': {
      if (current !== undefined) return current;
      const p = event.payload;
      return {
        run_id: p.meta.run_id,
        tenant_id: p.meta.tenant_id,
        agent_id: p.agent_id,
        goal: p.goal,
        limits: p.limits,
        mode: p.mode,
        status: 'open',
        reason: null,
        started_at: p.meta.occurred_at,
        ended_at: null,
      };
    }
    case 'RunEnded': {
      if (current === undefined || current.status !== 'open') return current;
      return { ...current, status: event.payload.status, reason: event.payload.reason, ended_at: event.payload.meta.occurred_at };
    }
    default:
      return assertNever(event, 'event');
  }
}
