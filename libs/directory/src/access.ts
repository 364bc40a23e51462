import { PLATFORM_TENANT } from './directory.ts';
import type { AccessRole, Principal } from './directory.ts';

/** What a door can ask of a caller: an access role of a user, or that it is an agent or a service. */
export type Requirement = AccessRole | 'agent' | 'service';

/** Roles an admin holds besides `admin` within its tenant. Approving is not among them: a held action needs an approver. */
const ADMIN_IMPLIES: readonly AccessRole[] = ['operator', 'analyst', 'auditor'];

/** The tenant a principal acts in: a service and a platform admin act platform-wide ("*"). */
export function tenantOf(principal: Principal): string {
  switch (principal.kind) {
    case 'agent':
      return principal.agent.tenant;
    case 'user':
      return principal.user.tenant;
    case 'service':
      return PLATFORM_TENANT;
  }
}

export function principalId(principal: Principal): string {
  switch (principal.kind) {
    case 'agent':
      return principal.agent.id;
    case 'user':
      return principal.user.id;
    case 'service':
      return principal.service.id;
  }
}

/** Whether the principal holds the requirement (an admin also holds operator, analyst and auditor). */
export function holds(principal: Principal, requirement: Requirement): boolean {
  if (requirement === 'agent' || requirement === 'service') return principal.kind === requirement;
  if (principal.kind !== 'user') return false;
  const roles = principal.user.roles;
  return roles.includes(requirement) || (roles.includes('admin') && ADMIN_IMPLIES.includes(requirement));
}

/** A platform admin: a user of the platform tenant with the admin role. */
export function isPlatformAdmin(principal: Principal): boolean {
  return principal.kind === 'user' && principal.user.tenant === PLATFORM_TENANT && principal.user.roles.includes('admin');
}

/**
 * Whether the principal may read or write the data of `tenant`: its own tenant only. Platform
 * principals (services, platform admins) name the tenant they act on explicitly.
 */
export function mayActIn(principal: Principal, tenant: string): boolean {
  const own = tenantOf(principal);
  return own === PLATFORM_TENANT || own === tenant;
}
