import type { RunMode } from '@writ/contracts';
import type {
  ActionTerminalStatus,
  HeldAnswer,
  CompletionReason,
  Proposal,
  RejectionReason,
  Reservation,
  RunEndStatus,
  RunLimits,
  RunStats,
  Warrant,
} from './model.ts';

/**
 * Events of one run. The published ones are what the planner produces for the other services
 * (mapped to their Avro payloads at the edge); the internal ones only record the planner's own
 * progress so that its state can be rebuilt from events (see isPlannerInternalEvent).
 */

export interface RunStarted {
  readonly type: 'RunStarted';
  readonly run_id: string;
  readonly tenant_id: string;
  readonly agent_id: string;
  readonly goal: string;
  readonly limits: RunLimits;
  readonly mode: RunMode;
  readonly started_at: number;
}

export interface RunEnded {
  readonly type: 'RunEnded';
  readonly run_id: string;
  readonly status: RunEndStatus;
  readonly reason: string;
  readonly ended_at: number;
}

/** Internal: a proposal arrived before its run started; it is admitted when RunStarted comes, or expires. */
export interface ActionParked {
  readonly type: 'ActionParked';
  readonly run_id: string;
  readonly action_id: string;
  readonly proposal: Proposal;
  readonly deadline: number;
}

/** The proposal passed the planner's checks; the PDP decides on it (PolicyEvaluationRequested in effect). */
export interface ActionAdmitted {
  readonly type: 'ActionAdmitted';
  readonly run_id: string;
  readonly action_id: string;
  readonly proposal: Proposal;
  readonly run_stats: RunStats;
  readonly admitted_at: number;
  readonly deadline: number;
}

/** The planner refused the proposal before policy; an ActionCompleted (rejected) always follows. */
export interface ActionRejected {
  readonly type: 'ActionRejected';
  readonly run_id: string;
  readonly action_id: string;
  readonly idempotency_key: string;
  readonly reason_code: RejectionReason;
  readonly message: string;
  readonly field: string | null;
  /** For duplicate: the action that already holds the idempotency key (its outcome answers this proposal). */
  readonly existing_action_id: string | null;
  readonly rejected_at: number;
}

/**
 * Internal: the PDP or the accountant answered before this planner admitted the action. They
 * react to the same ActionProposed as the planner (docs/design/pipeline.md), so their answer can
 * be read first; it waits here and is applied right after the admission.
 */
export interface AnswerHeld {
  readonly type: 'AnswerHeld';
  readonly run_id: string;
  readonly action_id: string;
  readonly answer: HeldAnswer;
}

/** Internal: the PDP allowed the action; its warrant waits here for the reservation. */
export interface WarrantRecorded {
  readonly type: 'WarrantRecorded';
  readonly run_id: string;
  readonly action_id: string;
  readonly warrant: Warrant;
  readonly deadline: number;
  /** The allow came after a person's approval. */
  readonly approved?: boolean;
}

/**
 * Internal: the PDP, or a budget at its approval step, wants an approval first; the action waits
 * with a longer deadline, and a warrant it holds without an approval is set aside (the approved
 * decision brings a new one).
 */
export interface ActionAwaitingApproval {
  readonly type: 'ActionAwaitingApproval';
  readonly run_id: string;
  readonly action_id: string;
  readonly deadline: number;
}

/** Internal: the accountant reserved the budget; the reservation waits here for the warrant. */
export interface ReservationRecorded {
  readonly type: 'ReservationRecorded';
  readonly run_id: string;
  readonly action_id: string;
  readonly reservation: Reservation;
  /** Why the budget wants an approval first (BudgetResult.approval); absent or null: it does not. */
  readonly approval?: string | null;
}

/** Policy allowed and budget reserved: the executor may run the tool (it verifies both signatures). */
export interface ExecutionRequested {
  readonly type: 'ExecutionRequested';
  readonly run_id: string;
  readonly action_id: string;
  readonly agent_id: string;
  readonly tool: string;
  readonly tool_version: string;
  readonly arguments_json: string;
  readonly args_sha256: string;
  readonly idempotency_key: string;
  readonly warrant: Warrant;
  readonly reservation: Reservation;
  /** The executor must not start the call after this instant (Avro ExecutionRequested.deadline). */
  readonly deadline: number;
  /** The planner expires the action if no outcome arrives by this instant. */
  readonly outcome_deadline: number;
  readonly requested_at: number;
}

/** The action will not execute on its reservation: the accountant gives the amount back. */
export interface BudgetReleaseRequested {
  readonly type: 'BudgetReleaseRequested';
  readonly run_id: string;
  readonly action_id: string;
  readonly reservation_id: string;
  readonly reason_code: CompletionReason | 'action_ended';
}

/** The one terminal event of every action. */
export interface ActionCompleted {
  readonly type: 'ActionCompleted';
  readonly run_id: string;
  readonly action_id: string;
  readonly status: ActionTerminalStatus;
  readonly reason_code: CompletionReason;
  /** For humans (never secrets). */
  readonly reason: string;
  /** Writ's own result (a shadow action's would-be call), or a tool's result inline before ActionExecuted v2. */
  readonly result_json: string | null;
  /** sha256 of the tool result's body, which travels by reference (writ.results.v1). */
  readonly result_ref: string | null;
  readonly cost_micros: number;
  readonly currency: string;
  readonly completed_at: number;
}

export type PlannerPublishedEvent = RunStarted | RunEnded | ActionAdmitted | ActionRejected | ExecutionRequested | BudgetReleaseRequested | ActionCompleted;

export type PlannerInternalEvent = ActionParked | AnswerHeld | WarrantRecorded | ActionAwaitingApproval | ReservationRecorded;

export type PlannerEvent = PlannerPublishedEvent | PlannerInternalEvent;

const INTERNAL: ReadonlySet<string> = new Set<PlannerInternalEvent['type']>([
  'ActionParked',
  'AnswerHeld',
  'WarrantRecorded',
  'ActionAwaitingApproval',
  'ReservationRecorded',
]);

/** Internal events rebuild the planner's state; they are not for the other services. */
export function isPlannerInternalEvent(event: PlannerEvent): event is PlannerInternalEvent {
  return INTERNAL.has(event.type);
}
