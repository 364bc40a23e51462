// The planner's events on the wire and back: Avro input events into commands (ActionProposed
// aside: it needs the tool registry and the kill switches, see the planner service), planner-core
// events into the Avro events the planner publishes, and those published events back into
// planner-core events for the rebuild at boot. Envelopes (ids, producer, trace) come from the caller.
import type { ActionProposed, EventPayloads, EventType, Metadata } from '@writ/contracts';
import { describeApprovalStep } from '@writ/contracts';
import { WritError } from '@writ/errors';
import type { PlannerCommand } from './commands.ts';
import type { PlannerConfig } from './config.ts';
import type { PlannerEvent, PlannerPublishedEvent } from './events.ts';
import type { CompletionReason, RejectionReason } from './model.ts';

/** A wire event of the given types: its type narrows its payload. */
export type WireEvent<T extends EventType = EventType> = { readonly [K in T]: { readonly type: K; readonly payload: EventPayloads[K] } }[T];

/**
 * The events the planner publishes (it reads them back at boot, and ignores them live).
 * BudgetReservationRequested: published before the accountant reacted to proposals itself; still
 * recognised as the planner's own in older records.
 */
export type PlannerOutputType = 'ActionAdmitted' | 'ActionRejected' | 'ActionCompleted' | 'BudgetReservationRequested' | 'ExecutionRequested' | 'RunEnded';
export type PlannerOutputWire = WireEvent<PlannerOutputType>;

export const PLANNER_OUTPUT_TYPES: ReadonlySet<string> = new Set<PlannerOutputType>([
  'ActionAdmitted',
  'ActionRejected',
  'ActionCompleted',
  'BudgetReservationRequested',
  'ExecutionRequested',
  'RunEnded',
]);

/** meta.producer of every planner instance starts with this. */
export const PLANNER_PRODUCER_PREFIX = 'planner@';

export function isPlannerOutput(event: WireEvent): event is PlannerOutputWire {
  return PLANNER_OUTPUT_TYPES.has(event.type);
}

/** Published by a planner: one of its output types, from a planner@... producer. */
export function isOwnOutput(type: string, meta: Metadata): boolean {
  return PLANNER_OUTPUT_TYPES.has(type) && meta.producer.startsWith(PLANNER_PRODUCER_PREFIX);
}

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
 * The command of an input event other than ActionProposed; null for events the planner does not
 * act on. Throws PLANNER_INVALID_COMMAND when a required field is missing.
 */
export function commandOf(event: WireEvent, now: number): PlannerCommand | null {
  switch (event.type) {
    case 'RunStarted': {
      const { payload } = event;
      const { limits } = payload;
      return {
        type: 'StartRun',
        run_id: payload.meta.run_id,
        tenant_id: payload.meta.tenant_id,
        agent_id: payload.agent_id,
        goal: payload.goal,
        limits: {
          max_steps: limits.max_steps,
          max_tool_calls: limits.max_tool_calls,
          max_cost_micros: limits.max_cost_micros,
          currency: limits.currency,
          wall_clock_ms: limits.wall_clock_ms,
        },
        mode: payload.mode,
        now,
      };
    }
    case 'PolicyDecided': {
      const { payload } = event;
      const base = { type: 'RecordPolicyDecision', run_id: payload.meta.run_id, action_id: requireActionId(payload.meta, event.type), now } as const;
      switch (payload.decision) {
        case 'allow':
          if (payload.warrant === null) {
            throw new WritError('PLANNER_INVALID_COMMAND', 'PolicyDecided allow without a warrant', {
              field: 'warrant',
              rule: 'present when the decision is allow',
            });
          }
          return { ...base, verdict: { decision: 'allow', warrant: { ...payload.warrant }, approved: payload.approvals.length > 0 } };
        case 'deny':
          return { ...base, verdict: { decision: 'deny', determining_policies: [...payload.determining_policies] } };
        case 'approval_required':
          return { ...base, verdict: { decision: 'approval_required', expires_in_ms: payload.approval_requirement?.expires_in_ms ?? null } };
        default:
          return null;
      }
    }
    case 'BudgetReserved': {
      const { payload } = event;
      return {
        type: 'RecordBudgetResult',
        run_id: payload.meta.run_id,
        action_id: requireActionId(payload.meta, event.type),
        result: {
          outcome: 'reserved',
          reservation: {
            reservation_id: payload.reservation_id,
            amount_micros: payload.amount_micros,
            currency: payload.currency,
            expires_at: payload.expires_at,
            key_id: payload.key_id,
            signature: payload.signature,
          },
          approval: payload.approval_step === null ? null : describeApprovalStep(payload.approval_step),
        },
        now,
      };
    }
    case 'BudgetRefused': {
      const { payload } = event;
      return {
        type: 'RecordBudgetResult',
        run_id: payload.meta.run_id,
        action_id: requireActionId(payload.meta, event.type),
        result: {
          outcome: 'refused',
          scope: payload.scope,
          kind: payload.kind,
          limit: payload.limit,
          used: payload.used,
          requested: payload.requested,
          rule: payload.rule ?? 'cap',
          period: payload.period,
        },
        now,
      };
    }
    case 'ActionExecuted': {
      const { payload } = event;
      return {
        type: 'RecordExecutionOutcome',
        run_id: payload.meta.run_id,
        action_id: requireActionId(payload.meta, event.type),
        outcome: 'succeeded',
        cost_micros: payload.cost_micros,
        currency: payload.currency,
        result_json: payload.result_json,
        result_ref: payload.result_ref,
        error_code: null,
        message: '',
        now,
      };
    }
    case 'ActionFailed': {
      const { payload } = event;
      return {
        type: 'RecordExecutionOutcome',
        run_id: payload.meta.run_id,
        action_id: requireActionId(payload.meta, event.type),
        outcome: payload.outcome,
        cost_micros: payload.cost_micros,
        currency: payload.currency,
        result_json: null,
        result_ref: null,
        error_code: payload.error_code,
        message: payload.message,
        now,
      };
    }
    default:
      return null;
  }
}

/** What the caller supplies for the events of one decision: their envelope, instant and defaults. */
export interface OutputContext {
  /** The envelope of one output event (the caller draws its event_id and adds tenant, cause, producer, trace). */
  readonly meta: (fields: { readonly run_id: string; readonly action_id: string | null; readonly occurred_at: number }) => Metadata;
  /** The decision's instant: every output's meta.occurred_at. */
  readonly now: number;
  /** Currency for events of actions that never got one (a proposal for an unknown tool). */
  readonly default_currency: string;
}

/** The Avro event of a planner-core event, or null for what stays inside the planner. */
export function toWire(event: PlannerEvent, ctx: OutputContext): PlannerOutputWire | null {
  const currency = (value: string): string => (value === '' ? ctx.default_currency : value);
  const meta = (actionId: string | null): Metadata => ctx.meta({ run_id: event.run_id, action_id: actionId, occurred_at: ctx.now });
  switch (event.type) {
    case 'RunEnded':
      return { type: 'RunEnded', payload: { meta: meta(null), status: event.status, reason: event.reason } };
    case 'ActionAdmitted': {
      const { proposal, run_stats: stats } = event;
      return {
        type: 'ActionAdmitted',
        payload: {
          meta: meta(event.action_id),
          agent_id: proposal.agent_id,
          tool: proposal.tool,
          tool_version: proposal.tool_version,
          arguments_json: proposal.arguments_json,
          args_sha256: proposal.args_sha256,
          run_stats: {
            steps: stats.steps,
            spend_micros: stats.spend_micros,
            currency: currency(stats.currency),
            tool_calls_in_window: stats.tool_calls_in_window,
          },
        },
      };
    }
    case 'ActionRejected':
      return {
        type: 'ActionRejected',
        payload: { meta: meta(event.action_id), reason_code: wireCode(event.reason_code), message: event.message, field: event.field },
      };
    case 'ExecutionRequested':
      return {
        type: 'ExecutionRequested',
        payload: {
          meta: meta(event.action_id),
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
      };
    case 'ActionCompleted':
      return {
        type: 'ActionCompleted',
        payload: {
          meta: meta(event.action_id),
          status: event.status,
          reason: event.reason,
          reason_code: wireCode(event.reason_code),
          result_json: event.result_json,
          result_ref: event.result_ref,
          cost_micros: event.cost_micros,
          currency: currency(event.currency),
        },
      };
    // The gateway published the run's start; the accountant releases a reservation itself when it
    // sees the action end without execution (ActionCompleted), or sees a reservation for an action
    // that has already ended (docs/design/pipeline.md).
    case 'RunStarted':
    case 'BudgetReleaseRequested':
    case 'ActionParked':
    case 'AnswerHeld':
    case 'WarrantRecorded':
    case 'ActionAwaitingApproval':
    case 'ReservationRecorded':
      return null;
    default:
      return event satisfies never;
  }
}

/** What replay needs besides the published event itself: the proposal it answered, the estimate. */
export interface ReplayJoin {
  readonly proposal?: ActionProposed | undefined;
  readonly reservationRequest?: EventPayloads['BudgetReservationRequested'] | undefined;
}

/**
 * The planner-core event that one of the planner's own published events records (for replay);
 * null for a BudgetReservationRequested, which planners published before the accountant reacted
 * to proposals itself: it only fills in the estimate of its action's admission (ReplayJoin).
 */
export function fromWire(wire: PlannerOutputWire, join: ReplayJoin, config: PlannerConfig): PlannerPublishedEvent | null {
  const meta = wire.payload.meta;
  const at = meta.occurred_at;
  const actionId = meta.action_id ?? '';
  switch (wire.type) {
    case 'RunEnded':
      return { type: 'RunEnded', run_id: meta.run_id, status: wire.payload.status, reason: wire.payload.reason, ended_at: at };
    case 'ActionAdmitted': {
      const p = wire.payload;
      const estimate = join.reservationRequest;
      return {
        type: 'ActionAdmitted',
        run_id: meta.run_id,
        action_id: actionId,
        proposal: {
          agent_id: p.agent_id,
          tool: p.tool,
          tool_version: p.tool_version,
          arguments_json: p.arguments_json,
          args_sha256: p.args_sha256,
          idempotency_key: join.proposal?.idempotency_key ?? actionId,
          reason: join.proposal?.reason ?? '',
          estimated_cost_micros: estimate?.estimated_cost_micros ?? 0,
          currency: estimate?.currency ?? p.run_stats.currency,
          proposed_at: at,
        },
        run_stats: { ...p.run_stats },
        admitted_at: at,
        deadline: at + config.decision_timeout_ms,
      };
    }
    case 'ActionRejected': {
      const p = wire.payload;
      return {
        type: 'ActionRejected',
        run_id: meta.run_id,
        action_id: actionId,
        idempotency_key: join.proposal?.idempotency_key ?? actionId,
        reason_code: coreCode<RejectionReason>(p.reason_code),
        message: p.message,
        field: p.field,
        existing_action_id: null,
        rejected_at: at,
      };
    }
    case 'BudgetReservationRequested':
      return null;
    case 'ExecutionRequested': {
      const p = wire.payload;
      return {
        type: 'ExecutionRequested',
        run_id: meta.run_id,
        action_id: actionId,
        agent_id: p.agent_id,
        tool: p.tool,
        tool_version: p.tool_version,
        arguments_json: p.arguments_json,
        args_sha256: p.args_sha256,
        idempotency_key: p.idempotency_key,
        warrant: { ...p.warrant },
        reservation: { ...p.reservation },
        deadline: p.deadline,
        outcome_deadline: p.deadline + config.execution_timeout_ms,
        requested_at: at,
      };
    }
    case 'ActionCompleted': {
      const p = wire.payload;
      return {
        type: 'ActionCompleted',
        run_id: meta.run_id,
        action_id: actionId,
        status: p.status,
        reason_code: coreCode<CompletionReason>(p.reason_code),
        reason: p.reason,
        result_json: p.result_json,
        result_ref: p.result_ref,
        cost_micros: p.cost_micros,
        currency: p.currency,
        completed_at: at,
      };
    }
    default:
      return wire satisfies never;
  }
}
