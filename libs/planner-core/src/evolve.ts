import { PersistentMap, assertNever, lookup } from '@writ/decider';
import type { PlannerEvent } from './events.ts';
import { callKey, isTerminalStatus } from './model.ts';
import type { ActionState, PlannerState, RunLimits } from './model.ts';

const NO_LIMITS: RunLimits = {
  max_steps: null,
  max_tool_calls: null,
  max_cost_micros: null,
  currency: null,
  wall_clock_ms: null,
  loop_threshold: 3,
  loop_window: 10,
};

export function initialPlannerState(): PlannerState {
  return {
    run_id: null,
    phase: 'not_started',
    tenant_id: null,
    agent_id: null,
    limits: NO_LIMITS,
    mode: 'live',
    started_at: null,
    end: null,
    steps: 0,
    spend_micros: 0,
    recent_calls: [],
    actions: PersistentMap.empty(),
    open: PersistentMap.empty(),
    admissions: PersistentMap.empty(),
    idempotency_keys: PersistentMap.empty(),
    parked: [],
    held: PersistentMap.empty(),
  };
}

function openAction(state: PlannerState, action_id: string, idempotency_key: string): ActionState {
  return {
    action_id,
    seq: state.actions.size,
    idempotency_key,
    status: 'rejected',
    proposal: null,
    admitted_at: null,
    deadline: null,
    warrant: null,
    reservation: null,
    release_requested: false,
    reason_code: null,
    cost_micros: 0,
  };
}

function withKey(state: PlannerState, key: string, actionId: string): PlannerState['idempotency_keys'] {
  return state.idempotency_keys.has(key) ? state.idempotency_keys : state.idempotency_keys.set(key, actionId);
}

/** The action set as given, and the index of open actions kept in step with it. */
function putAction(state: PlannerState, action: ActionState): Pick<PlannerState, 'actions' | 'open'> {
  const open = isTerminalStatus(action.status) ? state.open.delete(action.action_id) : state.open.set(action.action_id, action.deadline);
  return { actions: state.actions.set(action.action_id, action), open };
}

function updateAction(state: PlannerState, actionId: string, change: (action: ActionState) => ActionState): PlannerState {
  const action = lookup(state.actions, actionId);
  if (action === undefined) return state;
  return { ...state, ...putAction(state, change(action)) };
}

/** Still waiting for policy or budget (not executing, not ended). */
function isWaiting(action: ActionState): boolean {
  return action.status === 'pending' || action.status === 'awaiting_approval' || action.status === 'awaiting_run';
}

/** The action is admitted, rejected or ended: what waited for it has been applied or no longer matters. */
function release(held: PlannerState['held'], actionId: string): PlannerState['held'] {
  return held.has(actionId) ? held.delete(actionId) : held;
}

function unpark(parked: readonly string[], actionId: string): readonly string[] {
  return parked.includes(actionId) ? parked.filter((id) => id !== actionId) : parked;
}

/** Folds one event into the run. Total: an event about an action it does not know changes nothing. */
export function evolvePlanner(state: PlannerState, event: PlannerEvent): PlannerState {
  const base = state.run_id === null ? { ...state, run_id: event.run_id } : state;
  switch (event.type) {
    case 'RunStarted':
      return {
        ...base,
        phase: 'active',
        tenant_id: event.tenant_id,
        agent_id: event.agent_id,
        limits: event.limits,
        mode: event.mode,
        started_at: event.started_at,
      };
    case 'RunEnded':
      return { ...base, phase: 'ended', end: { status: event.status, reason: event.reason, ended_at: event.ended_at } };
    case 'ActionParked':
      // Replay may meet the admission first (another topic): a known action is never parked again.
      if (lookup(base.actions, event.action_id) !== undefined) return base;
      return {
        ...base,
        ...putAction(base, {
          ...openAction(base, event.action_id, event.proposal.idempotency_key),
          status: 'awaiting_run',
          proposal: event.proposal,
          deadline: event.deadline,
        }),
        idempotency_keys: withKey(base, event.proposal.idempotency_key, event.action_id),
        parked: [...base.parked, event.action_id],
      };
    case 'ActionAdmitted': {
      const previous = lookup(base.actions, event.action_id);
      // Admitted once: a second admission (replayed twice) counts no second step.
      if (previous?.admitted_at != null) return base;
      const recent = [...base.recent_calls, callKey(event.proposal.tool, event.proposal.args_sha256)];
      const { tool } = event.proposal;
      return {
        ...base,
        ...putAction(base, {
          ...(previous ?? openAction(base, event.action_id, event.proposal.idempotency_key)),
          status: 'pending',
          proposal: event.proposal,
          admitted_at: event.admitted_at,
          deadline: event.deadline,
        }),
        admissions: base.admissions.set(tool, [...(base.admissions.get(tool) ?? []), event.admitted_at]),
        idempotency_keys: withKey(base, event.proposal.idempotency_key, event.action_id),
        parked: unpark(base.parked, event.action_id),
        held: release(base.held, event.action_id),
        steps: base.steps + 1,
        recent_calls: recent.slice(Math.max(0, recent.length - base.limits.loop_window)),
      };
    }
    case 'ActionRejected': {
      const previous = lookup(base.actions, event.action_id);
      return {
        ...base,
        ...putAction(base, {
          ...(previous ?? openAction(base, event.action_id, event.idempotency_key)),
          status: 'rejected',
          reason_code: event.reason_code,
          deadline: null,
        }),
        // A duplicate's key belongs to the action holding it (replay may meet the duplicate first).
        idempotency_keys: event.reason_code === 'duplicate' ? base.idempotency_keys : withKey(base, event.idempotency_key, event.action_id),
        parked: unpark(base.parked, event.action_id),
        held: release(base.held, event.action_id),
      };
    }
    case 'AnswerHeld':
      return { ...base, held: base.held.set(event.action_id, [...(base.held.get(event.action_id) ?? []), event.answer]) };
    case 'WarrantRecorded':
      // Internal events never move an action back (replay may fold them after a later step).
      return updateAction(base, event.action_id, (action) =>
        isWaiting(action)
          ? {
              ...action,
              warrant: event.warrant,
              approved: event.approved === true,
              status: action.status === 'awaiting_approval' ? 'pending' : action.status,
              deadline: event.deadline,
            }
          : { ...action, warrant: event.warrant, approved: event.approved === true },
      );
    case 'ActionAwaitingApproval':
      return updateAction(base, event.action_id, (action) =>
        action.status === 'pending' ? { ...action, status: 'awaiting_approval', warrant: null, approved: false, deadline: event.deadline } : action,
      );
    case 'ReservationRecorded':
      return updateAction(base, event.action_id, (action) => ({
        ...action,
        reservation: event.reservation,
        ...(event.approval == null ? {} : { budget_approval: event.approval }),
      }));
    case 'ExecutionRequested':
      return updateAction(base, event.action_id, (action) =>
        isTerminalStatus(action.status) ? action : { ...action, status: 'executing', deadline: event.outcome_deadline },
      );
    case 'BudgetReleaseRequested':
      return updateAction(base, event.action_id, (action) => ({ ...action, release_requested: true }));
    case 'ActionCompleted': {
      // One terminal state: a replayed ActionCompleted changes nothing and is not spent twice.
      if (isTerminalStatus(lookup(base.actions, event.action_id)?.status ?? 'pending')) return base;
      const updated = updateAction(base, event.action_id, (action) => ({
        ...action,
        status: event.status,
        reason_code: event.reason_code,
        cost_micros: event.cost_micros,
        deadline: null,
      }));
      return {
        ...updated,
        spend_micros: updated.spend_micros + event.cost_micros,
        parked: unpark(updated.parked, event.action_id),
        held: release(updated.held, event.action_id),
      };
    }
    default:
      return assertNever(event, 'planner event');
  }
}
