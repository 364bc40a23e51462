import { nameBasedUuid } from '@writ/contracts';
import { WritError, httpStatusOf, isWritError } from '@writ/errors';
import type { ActionJson } from '@writ/gateway-core';
import { requestInvalid } from '@writ/gateway-core';
import type { DoorOpenRun, DoorOutcome, DoorProposal } from './codec.ts';

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

export function ended(action: ActionJson, ref: ProposalRef | null, now: number): DoorOutcome {
  return {
    ...EMPTY,
    kind: 'ended',
    idempotency_key: action.idempotency_key,
    run_id: action.run_id,
    action_id: action.action_id,
    status: action.status,
    reason: action.reason,
    reason_code: action.reason_code,
    decision: action.decision,
    determining_policies: [...action.determining_policies],
    result: action.result === null || action.result === undefined ? null : JSON.stringify(action.result),
    cost_micros: action.cost_micros,
    currency: action.currency,
    ...refFields(ref),
    occurred_at: now,
  };
}
