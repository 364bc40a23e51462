import type { RunLimits, RunMode } from '@writ/contracts';
import { isTerminalStatus, resultJsonOf } from './model.ts';
import type { ActionState, ActionViewStatus, ApprovalRequirement, ApprovalView, RejectionView, RunState } from './model.ts';

/** An instant (ms since the epoch) as the API shows it: ISO 8601. */
export function iso(ms: number | null): string | null {
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

/** One argument that differs from the agent's previous similar action (sensitive values masked on both sides). */
export interface ArgumentChange {
  readonly field: string;
  /** undefined: the argument was absent. */
  readonly before: unknown;
  readonly after: unknown;
}

/** What an approver needs to decide in seconds, on an action the policy holds for approval. */
export interface ApprovalRequestJson {
  readonly tool: string | null;
  readonly tool_version: string | null;
  readonly effect: string | null;
  readonly risk: string | null;
  /** The permit that would allow once approved, why it asks (its @reason, if it gives one), and what it asks for. */
  readonly policy: string;
  readonly reason: string | null;
  readonly needs: { readonly count: number; readonly roles: readonly string[] };
  /** Accepted approvals so far. */
  readonly approved_by: readonly string[];
  readonly requested_at: string | null;
  /** When an unanswered request fails closed (the policy's @approval_expires_in); null: the planner's default wait. */
  readonly expires_at: string | null;
  readonly proposal_reason: string | null;
  /** The run's spend when the policy decided. */
  readonly run_spend: { readonly micros: number; readonly currency: string | null } | null;
  /** The same agent's latest earlier action of the same tool, and how the arguments differ from it. */
  readonly previous_similar: {
    readonly action_id: string;
    readonly run_id: string;
    readonly status: string;
    readonly proposed_at: string | null;
    readonly changes: readonly ArgumentChange[];
  } | null;
}

/** What presentAction may add about an action beyond its own state. */
export interface PresentContext {
  readonly tool?: { readonly effect: string; readonly risk: string };
  readonly previous?: ActionState;
}

/** The top-level arguments that differ between two (redacted) argument objects, by name. */
export function argumentChanges(before: unknown, after: unknown): ArgumentChange[] {
  const asRecord = (value: unknown): Record<string, unknown> =>
    typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
  const left = asRecord(before);
  const right = asRecord(after);
  return [...new Set([...Object.keys(left), ...Object.keys(right)])]
    .sort()
    .filter((field) => JSON.stringify(left[field]) !== JSON.stringify(right[field]))
    .map((field) => ({ field, before: left[field], after: right[field] }));
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
  /**
   * The action belongs to a shadow run: it was decided, budgeted and recorded but never executed.
   * Its status is what would have happened (completed: `result.would` says "execute" or
   * "await_approval"; denied, refused, rejected as they would have been).
   */
  readonly shadow: boolean;
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
  /** Present while the action awaits approval: the request as an approver sees it. */
  readonly approval_request: ApprovalRequestJson | null;
  readonly denied_by: string | null;
  /** Approvals the policy service judged: accepted (it counts) or refused (with the reason). */
  readonly approvals: readonly ApprovalJson[];
  /** Approvals submitted that the policy service has not judged yet. */
  readonly submitted_approvals: readonly ApprovalJson[];
  readonly rejection: RejectionView | null;
  /** The result; null when there is none, or when its body is no longer kept (the detail tier's retention). */
  readonly result: unknown;
  /** sha256 of the tool result's body, which the permanent record keeps in its stead; null when there is none. */
  readonly result_ref: string | null;
  readonly cost_micros: number | null;
  readonly currency: string | null;
  readonly proposed_at: string | null;
  readonly updated_at: string | null;
  readonly completed_at: string | null;
  /**
   * Present when the executor could not tell whether the side effect happened (status failed,
   * reason code OUTCOME_UNKNOWN): what it reported, and since when. Operators resolve it
   * (`POST /v1/reconciliation/{action_id}`); `reconciliation` then says how.
   */
  readonly unknown_outcome: {
    readonly error_code: string | null;
    readonly message: string;
    readonly attempts: number | null;
    readonly since: string | null;
  } | null;
  readonly reconciliation: {
    readonly outcome: string;
    readonly note: string;
    readonly resolved_by: string;
    readonly resolver_role: string;
    readonly resolved_at: string | null;
  } | null;
}

/** The JSON the API answers for an action (GET /v1/actions/{id}, the long-poll, the approvals list). */
export function presentAction(state: ActionState, redact: ArgumentsRedactor, context: PresentContext = {}): ActionJson {
  const shownArguments = (of: ActionState): unknown => {
    const args = parseJson(of.arguments_json);
    return of.tool === null || args === null ? null : (redact(of.tool, of.tool_version, args) ?? null);
  };
  const shown = shownArguments(state);
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
    shadow: state.run_mode === 'shadow',
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
    approval_request:
      state.status === 'awaiting_approval' && state.approval_requirement !== null ? approvalRequest(state, shown, approvals, context, shownArguments) : null,
    denied_by: state.denied_by,
    approvals,
    submitted_approvals: submittedApprovals,
    rejection: state.rejection,
    result: parseJson(resultJsonOf(state)),
    result_ref: state.result_ref,
    cost_micros: state.cost_micros,
    currency: state.currency,
    proposed_at: iso(state.proposed_at),
    updated_at: iso(state.updated_at),
    completed_at: iso(state.completed_at),
    unknown_outcome:
      state.unknown_outcome === null
        ? null
        : {
            error_code: state.unknown_outcome.error_code,
            message: state.unknown_outcome.message,
            attempts: state.unknown_outcome.attempts,
            since: iso(state.unknown_outcome.since),
          },
    reconciliation:
      state.reconciliation === null
        ? null
        : {
            outcome: state.reconciliation.outcome,
            note: state.reconciliation.note,
            resolved_by: state.reconciliation.resolved_by,
            resolver_role: state.reconciliation.resolver_role,
            resolved_at: iso(state.reconciliation.resolved_at),
          },
  };
}

export interface RunJson {
  readonly run_id: string;
  readonly tenant_id: string;
  readonly agent_id: string;
  readonly goal: string;
  readonly limits: RunLimits;
  /** live: allowed actions execute; shadow: they are decided, budgeted and recorded but never executed. */
  readonly mode: RunMode;
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
    mode: state.mode,
    status: state.status,
    reason: state.reason,
    started_at: iso(state.started_at),
    ended_at: iso(state.ended_at),
  };
}

function approvalRequest(
  state: ActionState,
  shown: unknown,
  approvals: readonly ApprovalJson[],
  context: PresentContext,
  shownArguments: (of: ActionState) => unknown,
): ApprovalRequestJson | null {
  const requirement = state.approval_requirement;
  if (requirement === null) return null;
  const previous = context.previous;
  const expiresIn = requirement.expires_in_ms;
  return {
    tool: state.tool,
    tool_version: state.tool_version,
    effect: context.tool?.effect ?? null,
    risk: context.tool?.risk ?? null,
    policy: requirement.policy_id,
    reason: requirement.reason,
    needs: { count: requirement.count, roles: requirement.roles },
    approved_by: approvals.filter((a) => a.accepted === true && a.verdict === 'approve').map((a) => a.approver_id),
    requested_at: iso(state.approval_requested_at),
    expires_at: state.approval_requested_at === null || expiresIn === null ? null : iso(state.approval_requested_at + expiresIn),
    proposal_reason: state.proposal_reason,
    run_spend: state.run_spend_micros === null ? null : { micros: state.run_spend_micros, currency: state.run_spend_currency },
    previous_similar:
      previous === undefined
        ? null
        : {
            action_id: previous.action_id,
            run_id: previous.run_id,
            status: previous.status,
            proposed_at: iso(previous.proposed_at),
            changes: argumentChanges(shownArguments(previous), shown),
          },
  };
}
