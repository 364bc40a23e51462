import type { RunMode } from '@writ/contracts';
import type { RejectionReason, Reservation, RunLimitsInput, Warrant } from './model.ts';

/**
 * Commands the planner service builds from what it consumes (the gateway's ActionProposed and
 * control commands, the PDP's PolicyDecided, the accountant's BudgetReserved/Refused, the
 * executor's ActionExecuted/Failed, its own timer). Every command names its run (the Kafka key)
 * and carries `now`: the decider never reads a clock.
 */

export interface StartRun {
  readonly type: 'StartRun';
  readonly run_id: string;
  readonly tenant_id: string;
  readonly agent_id: string;
  readonly goal: string;
  readonly limits?: RunLimitsInput;
  /** shadow: the run's actions are decided and budgeted but never executed. Omitted: live. */
  readonly mode?: RunMode;
  readonly now: number;
}

/** Ends a run: the agent is done, the run failed, or a kill switch was pulled (status killed). */
export interface EndRun {
  readonly type: 'EndRun';
  readonly run_id: string;
  readonly status: 'completed' | 'failed' | 'killed';
  readonly reason: string;
  readonly now: number;
}

/** What the service found wrong with a proposal before deciding (schema validation, registry lookup). */
export interface InvalidProposal {
  readonly reason_code: Extract<RejectionReason, 'args_invalid' | 'destination_not_allowed' | 'tool_unknown'>;
  readonly field: string | null;
  readonly message: string;
}

export interface ProposeAction {
  readonly type: 'ProposeAction';
  readonly run_id: string;
  readonly action_id: string;
  readonly agent_id: string;
  readonly tool: string;
  /** Resolved from the registry (the agent's requested version or the current one). */
  readonly tool_version: string;
  readonly arguments_json: string;
  readonly args_sha256: string;
  readonly idempotency_key: string;
  readonly reason: string;
  readonly estimated_cost_micros: number;
  readonly currency: string;
  readonly now: number;
  /** The agent's kill switch is pulled (from the compacted controls topic). */
  readonly agent_killed?: boolean;
  /** The tool's kill switch is pulled. */
  readonly tool_killed?: boolean;
  /** Set when validation failed; the proposal is then rejected with its reason_code. */
  readonly invalid?: InvalidProposal | null;
}

export type PolicyVerdict =
  /** approved: the allow came after a person's approval (PolicyDecided.approvals not empty). */
  | { readonly decision: 'allow'; readonly warrant: Warrant; readonly approved?: boolean }
  | { readonly decision: 'deny'; readonly determining_policies: readonly string[] }
  /** expires_in_ms: the policy's own wait for the approval (null: the planner's approval_timeout_ms). */
  | { readonly decision: 'approval_required'; readonly expires_in_ms?: number | null };

export interface RecordPolicyDecision {
  readonly type: 'RecordPolicyDecision';
  readonly run_id: string;
  readonly action_id: string;
  readonly verdict: PolicyVerdict;
  readonly now: number;
}

export type BudgetResult =
  | {
      readonly outcome: 'reserved';
      readonly reservation: Reservation;
      /**
       * Set when a budget reached its approval step (BudgetReserved.approval_step): why the action
       * needs a person's approval before it executes, whatever policy said without one.
       */
      readonly approval?: string | null;
    }
  | {
      readonly outcome: 'refused';
      readonly scope: string;
      readonly kind: string;
      readonly limit: number;
      readonly used: number;
      readonly requested: number;
      /** cap (default): the reservation would cross the limit; reads_only: the budget has degraded to reads. */
      readonly rule?: 'cap' | 'reads_only';
      /** The refusing counter's period ("run", a day, week, month or window bucket), when published. */
      readonly period?: string | null;
    };

export interface RecordBudgetResult {
  readonly type: 'RecordBudgetResult';
  readonly run_id: string;
  readonly action_id: string;
  readonly result: BudgetResult;
  readonly now: number;
}

export interface RecordExecutionOutcome {
  readonly type: 'RecordExecutionOutcome';
  readonly run_id: string;
  readonly action_id: string;
  /** unknown: the side effect may have happened; the action fails and needs reconciliation. */
  readonly outcome: 'succeeded' | 'failed' | 'unknown';
  readonly cost_micros: number;
  readonly currency: string;
  /** The result inline (ActionExecuted before v2); null when it travels by reference. */
  readonly result_json: string | null;
  /** sha256 of the result's body on writ.results.v1 (ActionExecuted.result_ref), copied to ActionCompleted. */
  readonly result_ref: string | null;
  readonly error_code: string | null;
  readonly message: string;
  readonly now: number;
}

/** The timer: ends every open action past its deadline, and the run past its wall clock. */
export interface ExpireActions {
  readonly type: 'ExpireActions';
  readonly run_id: string;
  readonly now: number;
}

export type PlannerCommand = StartRun | EndRun | ProposeAction | RecordPolicyDecision | RecordBudgetResult | RecordExecutionOutcome | ExpireActions;
