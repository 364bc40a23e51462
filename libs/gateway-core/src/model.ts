import type {
  ActionStatus,
  ApprovalVerdict,
  EventPayloads,
  PolicyDecided,
  PolicyDecision,
  ReconciledOutcome,
  RunLimits,
  RunMode,
  RunStatus,
  ShadowResult,
} from '@writ/contracts';

/** The events the gateway's read model is built from (runs, actions, policy, approvals and outcomes topics). */
export const READ_MODEL_EVENT_TYPES = [
  'RunStarted',
  'RunEnded',
  'ActionProposed',
  'ActionAdmitted',
  'ActionRejected',
  'ActionCompleted',
  'PolicyDecided',
  'ApprovalSubmitted',
  'ApprovalRecorded',
  'ActionFailed',
  'ToolResultRecorded',
  'OutcomeReconciled',
] as const;

export type ReadModelEventType = (typeof READ_MODEL_EVENT_TYPES)[number];
export type ActionEventType = Exclude<ReadModelEventType, 'RunStarted' | 'RunEnded'>;

/** One event as the read model takes it: a type and its decoded payload. */
export type ReadModelEvent = { [T in ReadModelEventType]: { readonly type: T; readonly payload: EventPayloads[T] } }[ReadModelEventType];
export type ActionEvent = Extract<ReadModelEvent, { type: ActionEventType }>;
export type RunEvent = Extract<ReadModelEvent, { type: 'RunStarted' | 'RunEnded' }>;

export function isReadModelEvent(event: { readonly type: string; readonly payload: unknown }): event is ReadModelEvent {
  return (READ_MODEL_EVENT_TYPES as readonly string[]).includes(event.type);
}

export const TERMINAL_STATUSES: readonly ActionStatus[] = ['completed', 'failed', 'denied', 'rejected', 'refused', 'expired'];

/**
 * Where an action stands as the gateway sees it: `proposed` (sent), `admitted` (the planner took it),
 * `awaiting_approval` (policy asks for an approval), `allowed` (policy allowed; budget and execution
 * follow), then one terminal status of ActionCompleted.
 */
export type PendingStatus = 'proposed' | 'admitted' | 'awaiting_approval' | 'allowed';
export type ActionViewStatus = PendingStatus | ActionStatus;

export function isTerminalStatus(status: ActionViewStatus): status is ActionStatus {
  return (TERMINAL_STATUSES as readonly string[]).includes(status);
}

/** One approval submitted for an action, and what the PDP made of it. */
export interface ApprovalView {
  /** event_id of the ApprovalSubmitted; null when only the PDP's record was seen. */
  readonly submission_id: string | null;
  readonly approver_id: string;
  readonly approver_role: string;
  readonly verdict: ApprovalVerdict;
  readonly comment: string | null;
  readonly submitted_at: number | null;
  /** submitted: waiting for the PDP; accepted: it counts; refused: it does not (reason says why). */
  readonly state: 'submitted' | 'accepted' | 'refused';
  readonly accepted: boolean | null;
  readonly reason: string | null;
  readonly determining_policies: readonly string[];
  readonly recorded_at: number | null;
}

/** What an approval-gated permit asks for: the permit's id, how many approvers, which roles. */
export type ApprovalRequirement = NonNullable<PolicyDecided['approval_requirement']>;

/**
 * An outcome nobody knows: the executor could not tell whether the side effect happened (a crash
 * mid-call, a timeout after sending, a read-back that contradicted the tool). From the executor's
 * ActionFailed(unknown), or from the planner's ActionCompleted (reason code OUTCOME_UNKNOWN) when
 * that was read first; the executor's details then fill in.
 */
export interface UnknownOutcomeView {
  /** The executor's error code (OUTCOME_UNKNOWN, VERIFICATION_REFUTED, TOOL_TIMEOUT...); null while only the completion was seen. */
  readonly error_code: string | null;
  readonly message: string;
  /** Attempts the executor made; null while only the completion was seen. */
  readonly attempts: number | null;
  /** What was charged for it (the tool's declared maximum: the side effect may have happened). */
  readonly cost_micros: number | null;
  readonly currency: string | null;
  /** When the outcome became unknown (the first of the two events seen). */
  readonly since: number;
}

/** An operator's resolution of an unknown outcome (OutcomeReconciled): the first one on the topic counts. */
export interface ReconciliationView {
  readonly event_id: string;
  readonly outcome: ReconciledOutcome;
  readonly note: string;
  readonly resolved_by: string;
  readonly resolver_role: string;
  readonly resolved_at: number;
}

export interface RejectionView {
  readonly code: string;
  readonly message: string;
  readonly field: string | null;
}

/**
 * The gateway's state of one action. Fields of the proposal are null when the first event seen
 * about the action was not its ActionProposed (topics are consumed in parallel).
 */
export interface ActionState {
  readonly action_id: string;
  readonly run_id: string;
  readonly tenant_id: string;
  readonly agent_id: string | null;
  readonly tool: string | null;
  readonly tool_version: string | null;
  readonly arguments_json: string | null;
  readonly args_sha256: string | null;
  readonly proposal_reason: string | null;
  readonly idempotency_key: string | null;
  /** The mode of the action's run, from its proposal (live until the proposal is seen). */
  readonly run_mode: RunMode;
  readonly status: ActionViewStatus;
  readonly decision: PolicyDecision | null;
  readonly determining_policies: readonly string[];
  readonly policy_set_version: string | null;
  readonly approval_requirement: ApprovalRequirement | null;
  /** When the policy first asked for an approval (its PolicyDecided's time); the request expires after approval_requirement.expires_in_ms. */
  readonly approval_requested_at: number | null;
  /** The run's spend the policy saw when it decided (PolicyDecided.run_stats); null before a decision or without statistics. */
  readonly run_spend_micros: number | null;
  readonly run_spend_currency: string | null;
  readonly denied_by: string | null;
  readonly approvals: readonly ApprovalView[];
  readonly rejection: RejectionView | null;
  /** Why the action ended (ActionCompleted.reason); null while pending. */
  readonly reason: string | null;
  /** Stable code of how it ended (ActionCompleted.reason_code, e.g. POLICY_DENIED); null while pending or unknown. */
  readonly reason_code: string | null;
  /**
   * The result carried inline by ActionCompleted, canonical JSON: Writ's own (a shadow action's
   * would-be call), or a tool's in events written before results travelled by reference.
   */
  readonly result_json: string | null;
  /** sha256 of the tool result's body (ActionCompleted.result_ref); the body comes from writ.results.v1. */
  readonly result_ref: string | null;
  /** The first ToolResultRecorded seen for the action (it may come before or after the completion). */
  readonly result_body: { readonly ref: string; readonly json: string } | null;
  readonly cost_micros: number | null;
  readonly currency: string | null;
  readonly proposed_at: number | null;
  readonly updated_at: number;
  readonly completed_at: number | null;
  /** Set when the outcome is unknown (needs reconciliation); stays once resolved. */
  readonly unknown_outcome: UnknownOutcomeView | null;
  readonly reconciliation: ReconciliationView | null;
  /** The trace of the proposal (its ActionProposed's traceparent): the action's spans across services share it. */
  readonly trace_id: string | null;
  /** What each shadow-mode policy would have decided (the latest PolicyDecided's), recorded, never enforced. */
  readonly shadow_results: readonly ShadowResult[];
}

/**
 * The action's result as canonical JSON: inline, or the body on writ.results.v1 whose digest its
 * completion references; null when there is none, or when the body is not (or no longer) there.
 */
export function resultJsonOf(state: ActionState): string | null {
  if (state.result_json !== null) return state.result_json;
  return state.result_ref !== null && state.result_body?.ref === state.result_ref ? state.result_body.json : null;
}

/** Terminal statuses whose outcome explains a policy decision (the decision travels on another topic). */
const DECIDED_STATUSES: ReadonlySet<ActionStatus> = new Set(['completed', 'failed', 'denied']);

/**
 * An ended action whose outcome still lacks something that travels on another topic, read
 * independently: the policy decision it rests on, or the body of its result. Its long-polls are
 * answered once it arrives, or after a short grace.
 */
export function awaitsDetail(state: ActionState): boolean {
  if (!isTerminalStatus(state.status)) return false;
  if (state.decision === null && DECIDED_STATUSES.has(state.status)) return true;
  return resultJsonOf(state) === null && state.result_ref !== null;
}

/** An action in its tenant's reconciliation queue: its outcome is unknown and nobody resolved it yet. */
export function awaitsReconciliation(state: ActionState): boolean {
  return state.unknown_outcome !== null && state.reconciliation === null && state.run_mode !== 'shadow';
}

export interface RunState {
  readonly run_id: string;
  readonly tenant_id: string;
  readonly agent_id: string;
  readonly goal: string;
  readonly limits: RunLimits;
  readonly mode: RunMode;
  readonly status: 'open' | RunStatus;
  readonly reason: string | null;
  readonly started_at: number;
  readonly ended_at: number | null;
}
