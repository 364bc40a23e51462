import type { RunLimits } from '@writ/contracts';
import { isTerminalStatus } from './model.ts';
import type { ActionState, ActionViewStatus, ApprovalRequirement, ApprovalView, RejectionView, RunState } from './model.ts';

function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

function parseJson(text: string | null): unknown {
  if (text === null) return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return null;
  }
}

/**
 * How arguments are shown: with the sensitive fields of the tool's schema redacted. Returning
 * undefined (the tool is unknown) hides them altogether.
 */
export type ArgumentsRedactor = (tool: string, version: string | null, args: unknown) => unknown;

export interface ApprovalJson {
  readonly approver_id: string;
  readonly approver_role: string;
  readonly verdict: string;
  readonly comment: string | null;
  readonly state: ApprovalView['state'];
  readonly accepted: boolean | null;
  readonly reason: string | null;
  readonly determining_policies: readonly string[];
  readonly submitted_at: string | null;
  readonly recorded_at: string | null;
}

/** An action as the API shows it (times are ISO 8601, JSON texts parsed, sensitive arguments redacted). */
export interface ActionJson {
  readonly action_id: string;
  readonly run_id: string;
  readonly tenant_id: string;
  readonly agent_id: string | null;
  readonly tool: string | null;
  readonly tool_version: string | null;
  readonly status: ActionViewStatus;
  readonly terminal: boolean;
  readonly reason: string | null;
  readonly reason_code: string | null;
  readonly arguments: unknown;
  readonly args_sha256: string | null;
  readonly proposal_reason: string | null;
  readonly idempotency_key: string | null;
  readonly decision: string | null;
  readonly determining_policies: readonly string[];
  readonly policy_set_version: string | null;
  readonly approval_requirement: ApprovalRequirement | null;
  readonly denied_by: string | null;
  /** Approvals the policy service judged: accepted (it counts) or refused (with the reason). */
  readonly approvals: readonly ApprovalJson[];
  /** Approvals submitted that the policy service has not judged yet. */
  readonly submitted_approvals: readonly ApprovalJson[];
  readonly rejection: RejectionView | null;
  readonly result: unknown;
  readonly cost_micros: number | null;
  readonly currency: string | null;
  readonly proposed_at: string | null;
  readonly updated_at: string | null;
  readonly completed_at: string | null;
}

/** The JSON the API answers for an action (GET /v1/actions/{id}, the long-poll, the approvals list). */
export function presentAction(state: ActionState, redact: ArgumentsRedactor): ActionJson {
  const args = parseJson(state.arguments_json);
  const shown = state.tool === null || args === null ? null : (redact(state.tool, state.tool_version, args) ?? null);
  const all: ApprovalJson[] = state.approvals.map((approval) => ({
    approver_id: approval.approver_id,
    approver_role: approval.approver_role,
    verdict: approval.verdict,
    comment: approval.comment,
    state: approval.state,
    accepted: approval.accepted,
    reason: approval.reason,
    determining_policies: approval.determining_policies,
    submitted_at: iso(approval.submitted_at),
    recorded_at: iso(approval.recorded_at),
  }));
  // `approvals` holds what the PDP judged (accepted or refused); submissions it has not judged yet wait apart.
  const approvals = all.filter((approval) => approval.state !== 'submitted');
  const submittedApprovals = all.filter((approval) => approval.state === 'submitted');
  return {
    action_id: state.action_id,
    run_id: state.run_id,
    tenant_id: state.tenant_id,
    agent_id: state.agent_id,
    tool: state.tool,
    tool_version: state.tool_version,
    status: state.status,
    terminal: isTerminalStatus(state.status),
    reason: state.reason,
    reason_code: state.reason_code,
    arguments: shown,
    args_sha256: state.args_sha256,
    proposal_reason: state.proposal_reason,
    idempotency_key: state.idempotency_key,
    decision: state.decision,
    determining_policies: state.determining_policies,
    policy_set_version: state.policy_set_version,
    approval_requirement: state.approval_requirement,
    denied_by: state.denied_by,
    approvals,
    submitted_approvals: submittedApprovals,
    rejection: state.rejection,
    result: parseJson(state.result_json),
    cost_micros: state.cost_micros,
    currency: state.currency,
    proposed_at: iso(state.proposed_at),
    updated_at: iso(state.updated_at),
    completed_at: iso(state.completed_at),
  };
}

export interface RunJson {
  readonly run_id: string;
  readonly tenant_id: string;
  readonly agent_id: string;
  readonly goal: string;
  readonly limits: RunLimits;
  readonly status: RunState['status'];
  readonly reason: string | null;
  readonly started_at: string | null;
  readonly ended_at: string | null;
}

/** The JSON the API answers for a run. */
export function presentRun(state: RunState): RunJson {
  return {
    run_id: state.run_id,
    tenant_id: state.tenant_id,
    agent_id: state.agent_id,
    goal: state.goal,
    limits: state.limits,
    status: state.status,
    reason: state.reason,
    started_at: iso(state.started_at),
    ended_at: iso(state.ended_at),
  };
}
