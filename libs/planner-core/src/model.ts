import type { RunMode } from '@writ/contracts';
import type { PersistentMap } from '@writ/decider';
import type { BudgetResult, PolicyVerdict } from './commands.ts';

/**
 * The planner's view of one run and its actions. Data only: the collections that grow with the
 * run are PersistentMaps (a change copies a path, not the collection; `toJSON` gives a record for
 * snapshots). Money is integer micro-units (1/1,000,000) of an ISO 4217 currency.
 */

/** Hard caps of a run, as recorded in RunStarted (defaults applied). */
export interface RunLimits {
  /** Admitted actions allowed in the run; null: no cap. */
  readonly max_steps: number | null;
  /** Tool executions allowed in the run; enforced by the accountant (run scope), carried here. */
  readonly max_tool_calls: number | null;
  /** Spend allowed in the run; enforced by the accountant (run scope), carried here. */
  readonly max_cost_micros: number | null;
  /** Currency of max_cost_micros; required when it is set. */
  readonly currency: string | null;
  /** The run expires this long after it started; null: no wall-clock cap. */
  readonly wall_clock_ms: number | null;
  /**
   * A proposal that would be the loop_threshold-th identical call (same tool and args_sha256)
   * among the last loop_window admitted actions is a loop and is rejected. At least 2.
   */
  readonly loop_threshold: number;
  /** How many of the most recent admitted actions loop detection looks at (at least loop_threshold - 1). */
  readonly loop_window: number;
}

export type RunLimitsInput = { readonly [K in keyof RunLimits]?: RunLimits[K] };

/** What the agent asked for, resolved and validated by the planner service before it decides. */
export interface Proposal {
  readonly agent_id: string;
  readonly tool: string;
  /** Exact tool version, resolved from the registry. */
  readonly tool_version: string;
  /** Canonical JSON of the validated arguments. */
  readonly arguments_json: string;
  /** sha256 (hex) of arguments_json. */
  readonly args_sha256: string;
  readonly idempotency_key: string;
  /** Why the agent wants this, in its own words. */
  readonly reason: string;
  /** The tool's cost model applied to these arguments. */
  readonly estimated_cost_micros: number;
  readonly currency: string;
  readonly proposed_at: number;
}

/** The PDP's signed permission for one action with exactly these arguments (opaque to the planner but for the binding checks). */
export interface Warrant {
  readonly key_id: string;
  readonly agent_id: string;
  readonly tool: string;
  readonly tool_version: string;
  readonly args_sha256: string;
  readonly policy_set_hash: string;
  readonly not_after: number;
  readonly signature: string;
}

/** The accountant's signed reservation for one action; reservation_id is the action_id. */
export interface Reservation {
  readonly reservation_id: string;
  readonly amount_micros: number;
  readonly currency: string;
  readonly expires_at: number;
  readonly key_id: string;
  readonly signature: string;
}

/** What the policy and the run have done so far, for the PDP's context. */
export interface RunStats {
  /** Actions admitted in the run before this one. */
  readonly steps: number;
  /** Actual cost of the run's finished actions. */
  readonly spend_micros: number;
  readonly currency: string;
  /** Admitted calls of this tool in the run during the rate window before this one. */
  readonly tool_calls_in_window: number;
}

export type RunPhase = 'not_started' | 'active' | 'ended';
export type RunEndStatus = 'completed' | 'failed' | 'killed' | 'expired';

/** Why the planner refused a proposal before policy. destination_not_allowed: an argument names a destination the tool's allowlist refuses. */
export type RejectionReason =
  | 'duplicate'
  | 'agent_mismatch'
  | 'args_invalid'
  | 'destination_not_allowed'
  | 'tool_unknown'
  | 'kill_switch'
  | 'run_closed'
  | 'wall_clock_exceeded'
  | 'step_limit'
  | 'loop_detected';

export type ActionTerminalStatus = 'completed' | 'failed' | 'denied' | 'rejected' | 'refused' | 'expired';
export type ActionOpenStatus = 'awaiting_run' | 'pending' | 'awaiting_approval' | 'executing';
export type ActionStatus = ActionOpenStatus | ActionTerminalStatus;

/** Stable code of how an action ended (ActionCompleted.reason_code), by status. */
export type CompletionReason =
  // completed
  | 'succeeded'
  // completed in a shadow run, nothing executed: it would have executed, or would have waited for an approval
  | 'shadow_would_execute'
  | 'shadow_approval_required'
  // failed
  | 'execution_failed'
  | 'outcome_unknown'
  // denied
  | 'policy_denied'
  | 'warrant_mismatch'
  // rejected: at proposal (any RejectionReason), or an admitted action cancelled because its run ended
  | RejectionReason
  // refused
  | 'budget_refused'
  // expired
  | 'run_not_started'
  | 'decision_timeout'
  | 'approval_timeout'
  | 'execution_timeout'
  | 'run_wall_clock'
  | 'warrant_expired'
  | 'reservation_expired';

export interface ActionState {
  readonly action_id: string;
  /** Its place in the run: how many actions the run knew before it (the order open actions are visited in). */
  readonly seq: number;
  readonly idempotency_key: string;
  readonly status: ActionStatus;
  /** null for proposals rejected on arrival (they never became actions). */
  readonly proposal: Proposal | null;
  readonly admitted_at: number | null;
  /** The action expires at this instant unless it moves on; null once terminal. */
  readonly deadline: number | null;
  readonly warrant: Warrant | null;
  /** The warrant came with a person's approval (an allow decided after approvals). */
  readonly approved?: boolean;
  readonly reservation: Reservation | null;
  /** Why the budget wants an approval before execution (its approval step was reached); absent: it does not. */
  readonly budget_approval?: string | null;
  /** A BudgetReleaseRequested was emitted for this action's reservation. */
  readonly release_requested: boolean;
  readonly reason_code: CompletionReason | null;
  readonly cost_micros: number;
}

/**
 * An answer read before its action was admitted (AnswerHeld): applied in order right after the
 * admission, as of the instant it was read (`at`), so that a rebuild, which meets the admission
 * first and the answer after, reaches the same deadlines.
 */
export type HeldAnswer =
  | { readonly kind: 'policy'; readonly verdict: PolicyVerdict; readonly at: number }
  | { readonly kind: 'budget'; readonly result: BudgetResult; readonly at: number };

export interface RunEnd {
  readonly status: RunEndStatus;
  readonly reason: string;
  readonly ended_at: number;
}

export interface PlannerState {
  /** Set by the first event of the run. */
  readonly run_id: string | null;
  readonly phase: RunPhase;
  readonly tenant_id: string | null;
  readonly agent_id: string | null;
  readonly limits: RunLimits;
  /** shadow: no action of the run executes; each ends saying what would have happened (live until RunStarted). */
  readonly mode: RunMode;
  readonly started_at: number | null;
  readonly end: RunEnd | null;
  /** Admitted actions so far. */
  readonly steps: number;
  /** Actual cost of finished actions so far. */
  readonly spend_micros: number;
  /** Call keys (tool and args_sha256) of the most recent admitted actions, oldest first, at most loop_window. */
  readonly recent_calls: readonly string[];
  /** Every proposal of the run by action_id, rejected ones included (so redelivery is recognised). */
  readonly actions: PersistentMap<ActionState>;
  /**
   * action_id -> deadline of the actions not yet terminal: what expiry and the timer visit (a long
   * run holds thousands of ended actions and a few open ones).
   */
  readonly open: PersistentMap<number | null>;
  /** Per tool, when each admitted action of it was admitted, in admission order: the rate window's count. */
  readonly admissions: PersistentMap<readonly number[]>;
  /** idempotency_key -> action_id of the first proposal that used it. */
  readonly idempotency_keys: PersistentMap<string>;
  /** Actions proposed before the run started, in arrival order. */
  readonly parked: readonly string[];
  /**
   * action_id -> answers of the PDP and the accountant read before the action's admission, in
   * arrival order. Emptied by the admission or rejection (or the action's end) that they wait for.
   */
  readonly held: PersistentMap<readonly HeldAnswer[]>;
}

const TERMINAL: ReadonlySet<ActionStatus> = new Set<ActionStatus>(['completed', 'failed', 'denied', 'rejected', 'refused', 'expired']);

export function isTerminalStatus(status: ActionStatus): status is ActionTerminalStatus {
  return TERMINAL.has(status);
}

/** Identical calls share this key: the same tool with the same canonical arguments. */
export function callKey(tool: string, argsSha256: string): string {
  return `${tool}\u0000${argsSha256}`;
}
