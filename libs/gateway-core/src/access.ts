import { WritError } from '@writ/errors';
import type { Principal } from '@writ/directory';
import type { ActionState, RunState } from './model.ts';

/** Roles that may pull kill switches and switch safe mode. */
export const CONTROL_ROLES: readonly string[] = ['operator', 'admin'];

export function tenantOf(principal: Principal): string {
  return principal.kind === 'agent' ? principal.agent.tenant : principal.user.tenant;
}

export function principalId(principal: Principal): string {
  return principal.kind === 'agent' ? principal.agent.id : principal.user.id;
}

/**
 * Whether a principal may see a run: its own agent, or a user of its tenant. Anything else is
 * answered like a run that does not exist, so ids of other tenants leak nothing.
 */
export function maySeeRun(principal: Principal, run: RunState): boolean {
  if (principal.kind === 'agent') return run.tenant_id === principal.agent.tenant && run.agent_id === principal.agent.id;
  return run.tenant_id === principal.user.tenant;
}

/** Whether a principal may see an action: the agent that proposed it, or a user of its tenant. */
export function maySeeAction(principal: Principal, action: ActionState): boolean {
  if (principal.kind === 'agent') return action.tenant_id === principal.agent.tenant && action.agent_id === principal.agent.id;
  return action.tenant_id === principal.user.tenant;
}

export function notFound(what: 'run' | 'action' | 'agent' | 'tool', id: string): WritError {
  return new WritError(`${what.toUpperCase()}_NOT_FOUND`, `${what} ${id} not found`, { field: `${what}_id`, rule: 'must exist and be yours' });
}

export function forbidden(message: string): WritError {
  return new WritError('FORBIDDEN', message);
}

/** The agent of an agent key; users are refused with FORBIDDEN. */
export function requireAgent(principal: Principal) {
  if (principal.kind !== 'agent') throw forbidden('this operation needs an agent API key');
  return principal.agent;
}

/** The user of a user key (approver, operator); agents are refused with FORBIDDEN. */
export function requireUser(principal: Principal) {
  if (principal.kind !== 'user') throw forbidden('this operation needs a user API key (approver or operator), not an agent key');
  return principal.user;
}

/** A user allowed to change controls (role operator or admin). */
export function requireOperator(principal: Principal) {
  const user = requireUser(principal);
  if (!CONTROL_ROLES.includes(user.role)) {
    throw forbidden(`changing controls needs the role ${CONTROL_ROLES.join(' or ')}; ${user.id} has the role ${user.role}`);
  }
  return user;
}
