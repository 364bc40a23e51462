// Kill switches and safe mode as the gateway sets and shows them: who may change a control of
// which scope, the ControlChanged it writes, and the JSON of a control. The model itself (keys,
// scopes, what a control stops) is @writ/tools' (controls.ts), shared with the planner and executor.
import type { ControlChanged } from '@writ/contracts';
import { PLATFORM_TENANT, holds, isPlatformAdmin } from '@writ/directory';
import type { Principal, User } from '@writ/directory';
import { PLATFORM_SCOPE, decodeControl, encodeControl } from '@writ/tools';
import type { ControlSetting, ControlSubject } from '@writ/tools';
import { forbidden, requireRole } from './access.ts';
import type { Stamp } from './commands.ts';
import type { SwitchRequest } from './requests.ts';

export type { ControlSubject };

/** What a switch request changes, before its scope is known. */
export interface ControlTarget {
  readonly control: 'kill_switch' | 'safe_mode';
  readonly subject: ControlSubject;
}

/**
 * The operator (or admin) of a tenant, for the tenant's own controls. A platform admin is sent to
 * the platform routes: its tenant "*" would silently make a tenant route platform-wide.
 */
export function requireTenantOperator(principal: Principal): User {
  const user = requireRole(principal, 'operator');
  if (user.tenant === PLATFORM_TENANT) {
    throw forbidden('a platform admin changes platform-wide controls under /v1/controls/platform/...; tenant controls are set by the tenant’s operators');
  }
  return user;
}

/** A platform admin (tenant "*", role admin): the only one who changes platform-wide controls. */
export function requirePlatformAdmin(principal: Principal): User {
  if (principal.kind !== 'user' || !isPlatformAdmin(principal))
    throw forbidden('platform-wide controls need a platform admin (a user of tenant "*" with the role admin)');
  return principal.user;
}

/** Who may list controls: operators, auditors and admins of a tenant, and platform admins. */
export function requireControlsReader(principal: Principal): User {
  if (principal.kind === 'user' && (isPlatformAdmin(principal) || holds(principal, 'operator') || holds(principal, 'auditor'))) return principal.user;
  throw forbidden(
    `listing controls needs the role operator, auditor or admin${principal.kind === 'user' ? `; ${principal.user.id} has the roles ${principal.user.roles.join(', ')}` : `, not an ${principal.kind} key`}`,
  );
}

/** A ControlChanged of `scope` (a tenant, or "*"); outside any run, its meta.run_id is the id of the request that caused it. */
export function controlChangedEvent(input: { scope: string; target: ControlTarget; setBy: string; request: SwitchRequest; stamp: Stamp }): ControlChanged {
  const setting: ControlSetting = { scope: input.scope, ...input.target };
  return {
    meta: input.stamp.newMetadata({ tenant_id: input.scope, run_id: input.stamp.newRunId(), producer: input.stamp.producer, trace: input.stamp.trace }),
    ...encodeControl(setting),
    enabled: input.request.enabled,
    value: null,
    reason: input.request.reason,
    set_by: input.setBy,
  };
}

export interface ControlJson {
  readonly control_key: string;
  /** The tenant it applies to, or "*" for every tenant. */
  readonly scope: string;
  readonly control: 'kill_switch' | 'safe_mode';
  /** What it stops within its scope: "all" (every tool and agent), a "tool" or an "agent". */
  readonly subject: 'all' | 'tool' | 'agent';
  readonly tool?: string;
  readonly agent?: string;
  readonly kind: string;
  readonly target: string;
  readonly enabled: boolean;
  readonly reason: string;
  readonly set_by: string;
  /** ISO 8601, when it was changed. */
  readonly set_at: string;
}

export function presentControl(event: ControlChanged): ControlJson {
  const setting = decodeControl(event) ?? { scope: event.meta.tenant_id, control: 'kill_switch' as const, subject: { kind: 'all' as const } };
  const { subject } = setting;
  return {
    control_key: encodeControl(setting).control_key,
    scope: setting.scope,
    control: setting.control,
    subject: subject.kind,
    ...(subject.kind === 'tool' ? { tool: subject.tool } : {}),
    ...(subject.kind === 'agent' ? { agent: subject.agent } : {}),
    kind: event.kind,
    target: event.target,
    enabled: event.enabled,
    reason: event.reason,
    set_by: event.set_by,
    set_at: new Date(Number(event.meta.occurred_at)).toISOString(),
  };
}

export { PLATFORM_SCOPE };
