import type { ActionStatus, ApprovalVerdict, EventPayloads, PolicyDecided, PolicyDecision, RunLimits, RunMode, RunStatus } from '@writ/contracts';

/** The events the gateway's read model is built from (runs, actions and policy topics). */
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
  /** The tool's result as the executor reported it (already redacted), canonical JSON. */
  readonly result_json: string | null;
  readonly cost_micros: number | null;
  readonly currency: string | null;
  readonly proposed_at: number | null;
  readonly updated_at: number;
  readonly completed_at: number | null;
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
