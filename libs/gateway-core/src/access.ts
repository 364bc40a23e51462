import { WritError } from '@writ/errors';
import { holds } from '@writ/directory';
import type { AccessRole, Principal, User } from '@writ/directory';
import type { ActionState, RunState } from './model.ts';

/**
 * Whether a principal may see a run: its own agent, or a user of its tenant. Anything else is
 * answered like a run that does not exist, so ids of other tenants leak nothing. Platform
 * principals (tenant "*") see no tenant's runs.
 */
export function maySeeRun(principal: Principal, run: RunState): boolean {
  if (principal.kind === 'agent') return run.tenant_id === principal.agent.tenant && run.agent_id === principal.agent.id;
  return principal.kind === 'user' && run.tenant_id === principal.user.tenant;
}

/** Whether a principal may see an action: the agent that proposed it, or a user of its tenant. */
export function maySeeAction(principal: Principal, action: ActionState): boolean {
  if (principal.kind === 'agent') return action.tenant_id === principal.agent.tenant && action.agent_id === principal.agent.id;
  return principal.kind === 'user' && action.tenant_id === principal.user.tenant;
}

const NOT_FOUND = { run: 'RUN_NOT_FOUND', action: 'ACTION_NOT_FOUND', agent: 'AGENT_NOT_FOUND', tool: 'TOOL_NOT_FOUND' } as const;

export function notFound(what: keyof typeof NOT_FOUND, id: string): WritError {
  return new WritError(NOT_FOUND[what], `${what} ${id} not found`, { field: `${what}_id`, rule: 'must exist and be yours' });
}

export function forbidden(message: string): WritError {
  return new WritError('FORBIDDEN', message);
}

/** The agent of an agent key; users are refused with FORBIDDEN. */
export function requireAgent(principal: Principal) {
  if (principal.kind !== 'agent') throw forbidden('this operation needs an agent API key');
  return principal.agent;
}

/** A user holding the access role (an admin holds operator, analyst and auditor too); anyone else is FORBIDDEN. */
export function requireRole(principal: Principal, role: AccessRole): User {
  if (principal.kind !== 'user') throw forbidden(`this operation needs a user API key with the role ${role}, not an ${principal.kind} key`);
  if (!holds(principal, role)) {
    throw forbidden(`this operation needs the role ${role}; ${principal.user.id} has the roles ${principal.user.roles.join(', ')}`);
  }
  return principal.user;
}
