import { nameBasedUuid } from '@writ/contracts';
import { WritError, httpStatusOf, isWritError } from '@writ/errors';
import type { ActionJson, ActionState } from '@writ/gateway-core';
import { awaitsDetail, isTerminalStatus, requestInvalid } from '@writ/gateway-core';
import type { DoorApproval, DoorOpenRun, DoorOutcome, DoorProposal } from './codec.ts';

// From the door's Avro records to the HTTP door's request bodies (so that parseOpenRun, parsePropose
// and the tool contract judge them exactly as over HTTP) and from the gateway's answers back to
// DoorOutcome records. Pure: no clock (callers pass `now`), no I/O.

/** Where a proposal record sits on its topic: echoed in the answers. */
export interface ProposalRef {
  readonly partition: number;
  readonly offset: number;
}

/** The body of POST /v1/runs for an OpenRun (absent values left out, as an HTTP client would). */
export function openRunBody(run: DoorOpenRun): Record<string, unknown> {
  const body: Record<string, unknown> = { goal: run.goal };
  if (run.mode !== null) body['mode'] = run.mode;
  if (run.limits !== null) body['limits'] = Object.fromEntries(Object.entries(run.limits).filter(([, value]) => value !== null));
  return body;
}

/** The body of POST /v1/runs/{run_id}/actions; `arguments` must be a JSON object as text. */
export function proposeBody(proposal: DoorProposal): Record<string, unknown> {
  let args: unknown;
  try {
    args = JSON.parse(proposal.arguments);
  } catch {
    throw requestInvalid('arguments', 'type', 'must be a JSON object as text (e.g. "{}"), and is not valid JSON');
  }
  const body: Record<string, unknown> = {
    tool: proposal.tool,
    arguments: args,
    reason: proposal.reason,
    idempotency_key: proposal.idempotency_key,
  };
  if (proposal.tool_version !== null) body['tool_version'] = proposal.tool_version;
  if (proposal.provenance !== null) body['provenance'] = proposal.provenance;
  return body;
}

/** An error of the run part of the request, named as the proposal's field (`run.goal`, `run.limits.currency`). */
export function underRun(error: unknown): unknown {
  if (!isWritError(error) || error.field === undefined || error.field.startsWith('run')) return error;
  return new WritError(error.code, `run.${error.message}`, {
    field: `run.${error.field}`,
    ...(error.rule === undefined ? {} : { rule: error.rule }),
    cause: error,
  });
}

/**
 * The run an OpenRun proposal opens: named after the agent and the idempotency key, so a re-sent
 * proposal finds the run it opened (and so the same action) instead of opening another.
 */
export function doorRunId(tenant: string, agentId: string, idempotencyKey: string): string {
  return nameBasedUuid(['kafka-door-run', tenant, agentId, idempotencyKey]);
}

/** An error the agent is told about (its request, 4xx), rather than one to retry (5xx: Writ's). */
export function isAgentError(error: unknown): error is WritError {
  return isWritError(error) && httpStatusOf(error) < 500;
}

const EMPTY = {
  idempotency_key: null,
  run_id: null,
  action_id: null,
  status: null,
  reason: null,
  reason_code: null,
  decision: null,
  determining_policies: [],
  result: null,
  cost_micros: null,
  currency: null,
  error: null,
  proposal_partition: null,
  proposal_offset: null,
  approval: null,
} as const;

function refFields(ref: ProposalRef | null): Pick<DoorOutcome, 'proposal_partition' | 'proposal_offset'> {
  return ref === null ? { proposal_partition: null, proposal_offset: null } : { proposal_partition: ref.partition, proposal_offset: ref.offset };
}

export function rejected(error: unknown, idempotencyKey: string | null, ref: ProposalRef | null, now: number): DoorOutcome {
  const writ = isWritError(error) ? error : undefined;
  return {
    ...EMPTY,
    kind: 'rejected',
    idempotency_key: idempotencyKey,
    error: {
      code: writ?.code ?? 'HANDLER_FAILED',
      message: writ?.message ?? 'the proposal could not be handled',
      field: writ?.field ?? null,
      rule: writ?.rule ?? null,
    },
    ...refFields(ref),
    occurred_at: now,
  };
}

export function accepted(
  action: { action_id: string; run_id: string; status: string },
  idempotencyKey: string,
  ref: ProposalRef | null,
  now: number,
): DoorOutcome {
  return {
    ...EMPTY,
    kind: 'accepted',
    idempotency_key: idempotencyKey,
    run_id: action.run_id,
    action_id: action.action_id,
    status: action.status,
    ...refFields(ref),
    occurred_at: now,
  };
}

/** What `ended` and `held` say alike: the action, its status and its decision. */
function actionFields(
  action: ActionJson,
): Pick<DoorOutcome, 'idempotency_key' | 'run_id' | 'action_id' | 'status' | 'reason' | 'reason_code' | 'decision' | 'determining_policies'> {
  return {
    idempotency_key: action.idempotency_key,
    run_id: action.run_id,
    action_id: action.action_id,
    status: action.status,
    reason: action.reason,
    reason_code: action.reason_code,
    decision: action.decision,
    determining_policies: [...action.determining_policies],
  };
}

export function ended(action: ActionJson, ref: ProposalRef | null, now: number): DoorOutcome {
  return {
    ...EMPTY,
    kind: 'ended',
    ...actionFields(action),
    result: action.result === null || action.result === undefined ? null : JSON.stringify(action.result),
    cost_micros: action.cost_micros,
    currency: action.currency,
    ...refFields(ref),
    occurred_at: now,
  };
}

/**
 * The action waits for a person's approval (DoorOutcome v2): the decision, the policies that
 * determined it (the permit that asks), and what it asks for when the read model has the
 * requirement (count, roles, the permit's reason, when it was asked and when it fails closed).
 */
export function held(action: ActionJson, ref: ProposalRef | null, now: number): DoorOutcome {
  const requirement = action.approval_requirement;
  const request = action.approval_request;
  const approval: DoorApproval | null =
    requirement === null
      ? null
      : {
          policy_id: requirement.policy_id,
          count: requirement.count,
          roles: [...requirement.roles],
          reason: requirement.reason ?? null,
          requested_at: epochMillis(request?.requested_at),
          expires_at: epochMillis(request?.expires_at),
        };
  return {
    ...EMPTY,
    kind: 'held',
    ...actionFields(action),
    approval,
    ...refFields(ref),
    occurred_at: now,
  };
}

function epochMillis(iso: string | null | undefined): number | null {
  if (iso === null || iso === undefined) return null;
  const millis = Date.parse(iso);
  return Number.isNaN(millis) ? null : millis;
}

/** What a change of an accepted, not yet ended action tells its agent. */
export interface ToTell {
  /** `held`: it waits for a person's approval now, and this instance has not said so yet (never for a shadow run's action: nobody approves it). */
  readonly held: boolean;
  /** Its end: now, after the grace for its decision or result body (read from other topics), or not yet. */
  readonly end: 'now' | 'after-grace' | null;
}

export function toTell(action: ActionState, heldSent: boolean): ToTell {
  const isHeld = !heldSent && action.status === 'awaiting_approval' && action.run_mode !== 'shadow';
  if (!isTerminalStatus(action.status)) return { held: isHeld, end: null };
  return { held: false, end: awaitsDetail(action) ? 'after-grace' : 'now' };
}
