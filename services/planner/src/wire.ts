// The planner's edge: Avro events in, planner-core commands; planner-core events out, Avro events.
// Also the way back (the planner's own published Avro events into planner-core events) for replay.
import type {
  ActionAdmitted as AvroActionAdmitted,
  ActionCompleted as AvroActionCompleted,
  ActionExecuted,
  ActionFailed,
  ActionProposed,
  ActionRejected as AvroActionRejected,
  BudgetRefused,
  BudgetReservationRequested as AvroBudgetReservationRequested,
  BudgetReserved,
  EventPayloads,
  EventType,
  ExecutionRequested as AvroExecutionRequested,
  Metadata,
  PolicyDecided,
  RunEnded as AvroRunEnded,
  RunStarted as AvroRunStarted,
  TraceContext,
} from '@writ/contracts';
import { newMetadata } from '@writ/contracts';
import { writEvent } from '@writ/bus';
import type { OutgoingEvent } from '@writ/bus';
import { WritError } from '@writ/errors';
import type {
  ActionTerminalStatus,
  CompletionReason,
  PlannerCommand,
  PlannerConfig,
  PlannerEvent,
  PlannerPublishedEvent,
  RejectionReason,
  RunEndStatus,
  RunLimits as PlannerRunLimits,
} from '@writ/planner-core';

/** Event types the planner publishes (it reads them back at boot, and ignores them live). */
export const PLANNER_OUTPUT_TYPES: ReadonlySet<string> = new Set<EventType>([
  'ActionAdmitted',
  'ActionRejected',
  'ActionCompleted',
  'BudgetReservationRequested',
  'ExecutionRequested',
  'RunEnded',
]);

export const PLANNER_PRODUCER_PREFIX = 'planner@';

/** Stable codes travel upper snake case on the wire (ActionRejected.reason_code, ActionCompleted.reason_code). */
export function wireCode(code: string): string {
  return code.toUpperCase();
}

function coreCode<T extends string>(code: string): T {
  return code.toLowerCase() as T;
}

function requireActionId(meta: Metadata, type: string): string {
  if (meta.action_id === null || meta.action_id.trim() === '') {
    throw new WritError('PLANNER_INVALID_COMMAND', `${type} has no meta.action_id`, { field: 'meta.action_id', rule: `required on ${type}` });
  }
  return meta.action_id;
}

/**
 * The command of an input event other than ActionProposed (which needs the tool registry and the
 * kill switches, see proposals.ts); null for events the planner does not act on.
 */
export function commandOf(type: string, payload: unknown, now: number): PlannerCommand | null {
  switch (type) {
    case 'RunStarted': {
      const event = payload as AvroRunStarted;
      const { limits } = event;
      return {
        type: 'StartRun',
        run_id: event.meta.run_id,
        tenant_id: event.meta.tenant_id,
        agent_id: event.agent_id,
        goal: event.goal,
        limits: {
          max_steps: limits.max_steps,
          max_tool_calls: limits.max_tool_calls,
          max_cost_micros: limits.max_cost_micros,
          currency: limits.currency,
          wall_clock_ms: limits.wall_clock_ms,
        },
        now,
      };
    }
    case 'PolicyDecided': {
      const event = payload as PolicyDecided;
      const base = { type: 'RecordPolicyDecision', run_id: event.meta.run_id, action_id: requireActionId(event.meta, type), now } as const;
      switch (event.decision) {
        case 'allow':
          if (event.warrant === null) {
            throw new WritError('PLANNER_INVALID_COMMAND', 'PolicyDecided allow without a warrant', { field: 'warrant', rule: 'present when the decision is allow' });
          }
          return { ...base, verdict: { decision: 'allow', warrant: { ...event.warrant } } };
        case 'deny':
          return { ...base, verdict: { decision: 'deny', determining_policies: [...event.determining_policies] } };
        case 'approval_required':
          return { ...base, verdict: { decision: 'approval_required' } };
        default:
          return null;
      }
    }
    case 'BudgetReserved': {
      const event = payload as BudgetReserved;
      return {
        type: 'RecordBudgetResult',
        run_id: event.meta.run_id,
        action_id: requireActionId(event.meta, type),
        result: {
          outcome: 'reserved',
          reservation: {
            reservation_id: event.reservation_id,
            amount_micros: event.amount_micros,
            currency: event.currency,
            expires_at: event.expires_at,
            key_id: event.key_id,
            signature: event.signature,
          },
        },
        now,
      };
    }
    case 'BudgetRefused': {
      const event = payload as BudgetRefused;
      return {
        type: 'RecordBudgetResult',
        run_id: event.meta.run_id,
        action_id: requireActionId(event.meta, type),
        result: { outcome: 'refused', scope: event.scope, kind: event.kind, limit: event.limit, used: event.used, requested: event.requested },
        now,
      };
    }
    case 'ActionExecuted': {
      const event = payload as ActionExecuted;
      return {
        type: 'RecordExecutionOutcome',
        run_id: event.meta.run_id,
        action_id: requireActionId(event.meta, type),
        outcome: 'succeeded',
        cost_micros: event.cost_micros,
        currency: event.currency,
        result_json: event.result_json,
        error_code: null,
        message: '',
        now,
      };
    }
    case 'ActionFailed': {
      const event = payload as ActionFailed;
      return {
        type: 'RecordExecutionOutcome',
        run_id: event.meta.run_id,
        action_id: requireActionId(event.meta, type),
        outcome: event.outcome,
        cost_micros: event.cost_micros,
        currency: event.currency,
        result_json: null,
        error_code: event.error_code,
        message: event.message,
        now,
      };
    }
    default:
      return null;
  }
}

/** Where an output comes from: its tenant, its cause, the producer, the trace, the decision's instant. */
export interface OutputContext {
  readonly tenant_id: string;
  readonly causation_id: string | null;
  readonly producer: string;
  readonly trace: TraceContext | null;
  readonly now: number;
  /** Currency for events of actions that never got one (a proposal for an unknown tool). */
  readonly default_currency: string;
  /** The run's caps, carried on BudgetReservationRequested: the accountant may read it before RunStarted. */
  readonly run_limits?: PlannerRunLimits;
}

/** The run caps the accountant enforces, or null when the run has none. */
function budgetRunLimits(limits: PlannerRunLimits | undefined): EventPayloads['BudgetReservationRequested']['run_limits'] {
  if (limits === undefined || (limits.max_cost_micros === null && limits.max_tool_calls === null)) return null;
  return {
    max_steps: limits.max_steps,
    max_cost_micros: limits.max_cost_micros,
    max_tool_calls: limits.max_tool_calls,
    wall_clock_ms: limits.wall_clock_ms,
    currency: limits.currency,
  };
}

function out<T extends EventType>(type: T, body: Omit<EventPayloads[T], 'meta'>, ctx: OutputContext, runId: string, actionId: string | null): OutgoingEvent {
  const meta = newMetadata({
    tenant_id: ctx.tenant_id,
    run_id: runId,
    action_id: actionId,
    causation_id: ctx.causation_id,
    producer: ctx.producer,
    trace: ctx.trace,
    occurred_at: ctx.now,
  });
  return writEvent(type, { meta, ...body } as EventPayloads[T]);
}

/** The Avro event of a planner-core event, or null for what stays inside the planner. */
export function outputOf(event: PlannerEvent, ctx: OutputContext): OutgoingEvent | null {
  const currency = (value: string): string => (value === '' ? ctx.default_currency : value);
  switch (event.type) {
    case 'RunEnded':
      return out('RunEnded', { status: event.status, reason: event.reason }, ctx, event.run_id, null);
    case 'ActionAdmitted': {
      const { proposal, run_stats: stats } = event;
      return out(
          'ActionAdmitted',
          {
            agent_id: proposal.agent_id,
            tool: proposal.tool,
            tool_version: proposal.tool_version,
            arguments_json: proposal.arguments_json,
            args_sha256: proposal.args_sha256,
            run_stats: { steps: stats.steps, spend_micros: stats.spend_micros, currency: currency(stats.currency), tool_calls_in_window: stats.tool_calls_in_window },
          },
          ctx,
          event.run_id,
          event.action_id,
        );
    }
    case 'ActionRejected':
      return out('ActionRejected', { reason_code: wireCode(event.reason_code), message: event.message, field: event.field }, ctx, event.run_id, event.action_id);
    case 'BudgetReservationRequested':
      return out(
          'BudgetReservationRequested',
          {
            agent_id: event.agent_id,
            tool: event.tool,
            estimated_cost_micros: event.estimated_cost_micros,
            currency: currency(event.currency),
            tool_calls: event.tool_calls,
            run_limits: budgetRunLimits(ctx.run_limits),
          },
          ctx,
          event.run_id,
          event.action_id,
        );
    case 'ExecutionRequested':
      return out(
          'ExecutionRequested',
          {
            agent_id: event.agent_id,
            tool: event.tool,
            tool_version: event.tool_version,
            arguments_json: event.arguments_json,
            args_sha256: event.args_sha256,
            idempotency_key: event.idempotency_key,
            warrant: { ...event.warrant },
            reservation: { ...event.reservation },
            deadline: event.deadline,
          },
          ctx,
          event.run_id,
          event.action_id,
        );
    case 'ActionCompleted':
      return out(
          'ActionCompleted',
          {
            status: event.status,
            reason: event.reason,
            reason_code: wireCode(event.reason_code),
            result_json: event.result_json,
            cost_micros: event.cost_micros,
            currency: currency(event.currency),
          },
          ctx,
          event.run_id,
          event.action_id,
        );
    // The gateway published the run's start; the accountant releases a reservation itself when it
    // sees the action end without execution (ActionCompleted), or sees a reservation for an action
    // that has already ended (docs/design/pipeline.md).
    case 'RunStarted':
    case 'BudgetReleaseRequested':
    case 'ActionParked':
    case 'WarrantRecorded':
    case 'ActionAwaitingApproval':
    case 'ReservationRecorded':
      return null;
    default:
      return null;
  }
}

/** What replay needs besides the published event itself: the proposal it answered, the estimate. */
export interface ReplayJoin {
  readonly proposal?: ActionProposed | undefined;
  readonly reservationRequest?: AvroBudgetReservationRequested | undefined;
}

/** The planner-core event of one of the planner's own published Avro events (for replay). */
export function publishedOf(type: string, payload: unknown, join: ReplayJoin, config: PlannerConfig): PlannerPublishedEvent | null {
  const meta = (payload as { meta: Metadata }).meta;
  const at = meta.occurred_at;
  const actionId = meta.action_id ?? '';
  switch (type) {
    case 'RunEnded': {
      const event = payload as AvroRunEnded;
      return { type: 'RunEnded', run_id: meta.run_id, status: event.status as RunEndStatus, reason: event.reason, ended_at: at };
    }
    case 'ActionAdmitted': {
      const event = payload as AvroActionAdmitted;
      const estimate = join.reservationRequest;
      return {
        type: 'ActionAdmitted',
        run_id: meta.run_id,
        action_id: actionId,
        proposal: {
          agent_id: event.agent_id,
          tool: event.tool,
          tool_version: event.tool_version,
          arguments_json: event.arguments_json,
          args_sha256: event.args_sha256,
          idempotency_key: join.proposal?.idempotency_key ?? actionId,
          reason: join.proposal?.reason ?? '',
          estimated_cost_micros: estimate?.estimated_cost_micros ?? 0,
          currency: estimate?.currency ?? event.run_stats.currency,
          proposed_at: at,
        },
        run_stats: { ...event.run_stats },
        admitted_at: at,
        deadline: at + config.decision_timeout_ms,
      };
    }
    case 'ActionRejected': {
      const event = payload as AvroActionRejected;
      return {
        type: 'ActionRejected',
        run_id: meta.run_id,
        action_id: actionId,
        idempotency_key: join.proposal?.idempotency_key ?? actionId,
        reason_code: coreCode<RejectionReason>(event.reason_code),
        message: event.message,
        field: event.field,
        existing_action_id: null,
        rejected_at: at,
      };
    }
    case 'BudgetReservationRequested': {
      const event = payload as AvroBudgetReservationRequested;
      return {
        type: 'BudgetReservationRequested',
        run_id: meta.run_id,
        action_id: actionId,
        reservation_id: actionId,
        agent_id: event.agent_id,
        tool: event.tool,
        estimated_cost_micros: event.estimated_cost_micros,
        currency: event.currency,
        tool_calls: event.tool_calls,
      };
    }
    case 'ExecutionRequested': {
      const event = payload as AvroExecutionRequested;
      return {
        type: 'ExecutionRequested',
        run_id: meta.run_id,
        action_id: actionId,
        agent_id: event.agent_id,
        tool: event.tool,
        tool_version: event.tool_version,
        arguments_json: event.arguments_json,
        args_sha256: event.args_sha256,
        idempotency_key: event.idempotency_key,
        warrant: { ...event.warrant },
        reservation: { ...event.reservation },
        deadline: event.deadline,
        outcome_deadline: event.deadline + config.execution_timeout_ms,
        requested_at: at,
      };
    }
    case 'ActionCompleted': {
      const event = payload as AvroActionCompleted;
      return {
        type: 'ActionCompleted',
        run_id: meta.run_id,
        action_id: actionId,
        status: event.status as ActionTerminalStatus,
        reason_code: coreCode<CompletionReason>(event.reason_code),
        reason: event.reason,
        result_json: event.result_json,
        cost_micros: event.cost_micros,
        currency: event.currency,
        completed_at: at,
      };
    }
    default:
      return null;
  }
}

/** Order of a decision's events when they share an instant (the order planner-core emits them in). */
export const PUBLISHED_RANK: Readonly<Record<string, number>> = {
  ActionAdmitted: 1,
  ActionRejected: 1,
  BudgetReservationRequested: 2,
  ExecutionRequested: 3,
  ActionCompleted: 4,
  RunEnded: 5,
};
