// The reconciliation queue: actions whose outcome is unknown (the executor could not tell whether
// the side effect happened), listed for their tenant's operators, who look the call up in the
// system of record and resolve it (OutcomeReconciled). Who may, what may be resolved, the event,
// and the JSON of a queue entry.
import type { OutcomeReconciled } from '@writ/contracts';
import { PLATFORM_TENANT } from '@writ/directory';
import type { Principal, User } from '@writ/directory';
import { WritError } from '@writ/errors';
import { forbidden, requireRole } from './access.ts';
import { actionEventMeta } from './commands.ts';
import type { Stamp } from './commands.ts';
import type { ActionState } from './model.ts';
import { iso } from './present.ts';
import type { ResolutionRequest } from './requests.ts';

/**
 * An operator (or admin) of a tenant. A platform admin (tenant "*") has no tenant's actions to
 * resolve: the queue is per tenant, kept by its operators.
 */
export function requireReconciler(principal: Principal): User {
  const user = requireRole(principal, 'operator');
  if (user.tenant === PLATFORM_TENANT) {
    throw forbidden('the reconciliation queue belongs to a tenant: its operators and admins list and resolve it, not a platform admin');
  }
  return user;
}

/** Refuses (409) an action whose outcome is not unknown, or that an operator already resolved. */
export function checkResolvable(action: ActionState): void {
  if (action.reconciliation !== null) {
    const r = action.reconciliation;
    throw new WritError(
      'OUTCOME_ALREADY_RECONCILED',
      `action ${action.action_id} was already reconciled as ${r.outcome} by ${r.resolved_by} at ${new Date(r.resolved_at).toISOString()}`,
      { field: 'action_id', rule: 'must not be reconciled yet' },
    );
  }
  if (action.unknown_outcome === null) {
    throw new WritError(
      'OUTCOME_NOT_UNKNOWN',
      `action ${action.action_id} is ${action.status}${action.reason_code === null ? '' : ` (${action.reason_code})`}: only an action whose outcome is unknown is reconciled`,
      { field: 'action_id', rule: 'must have an unknown outcome' },
    );
  }
  if (action.run_mode === 'shadow') {
    throw new WritError('OUTCOME_NOT_UNKNOWN', `action ${action.action_id} belongs to a shadow run: nothing was executed`, {
      field: 'action_id',
      rule: 'must be an action of a live run',
    });
  }
}

/** OutcomeReconciled on writ.approvals.v1 (keyed by the run, with the action's other events). */
export function outcomeReconciledEvent(input: { action: ActionState; resolver: User; request: ResolutionRequest; stamp: Stamp }): OutcomeReconciled {
  const { action } = input;
  return {
    meta: actionEventMeta(input.stamp, action),
    outcome: input.request.outcome,
    note: input.request.note,
    resolved_by: input.resolver.id,
    resolver_role: input.resolver.roles.includes('operator') ? 'operator' : (input.resolver.roles[0] ?? input.resolver.role),
    previous_error_code: action.unknown_outcome?.error_code ?? '',
  };
}

/** One entry of `GET /v1/reconciliation`: what is known, and what to look the call up by. */
export interface ReconciliationItemJson {
  readonly action_id: string;
  readonly run_id: string;
  readonly tenant_id: string;
  readonly agent_id: string | null;
  readonly tool: string | null;
  readonly tool_version: string | null;
  /** The agent's key; the tool got `<tenant>:<key>` as its Idempotency-Key header. */
  readonly idempotency_key: string | null;
  readonly tool_idempotency_key: string | null;
  readonly args_sha256: string | null;
  readonly error_code: string | null;
  readonly message: string;
  readonly attempts: number | null;
  readonly cost_micros: number | null;
  readonly currency: string | null;
  readonly proposed_at: string | null;
  /** ISO 8601: since when the outcome is unknown. */
  readonly unknown_since: string;
}

export function presentReconciliationItem(action: ActionState): ReconciliationItemJson {
  const unknown = action.unknown_outcome;
  return {
    action_id: action.action_id,
    run_id: action.run_id,
    tenant_id: action.tenant_id,
    agent_id: action.agent_id,
    tool: action.tool,
    tool_version: action.tool_version,
    idempotency_key: action.idempotency_key,
    tool_idempotency_key: action.idempotency_key === null ? null : `${action.tenant_id}:${action.idempotency_key}`,
    args_sha256: action.args_sha256,
    error_code: unknown?.error_code ?? null,
    message: unknown?.message ?? action.reason ?? '',
    attempts: unknown?.attempts ?? null,
    cost_micros: unknown?.cost_micros ?? action.cost_micros,
    currency: unknown?.currency ?? action.currency,
    proposed_at: iso(action.proposed_at),
    unknown_since: iso(unknown?.since ?? action.updated_at) ?? '',
  };
}
