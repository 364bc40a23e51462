import type { PolicyDecided, Warrant as EventWarrant } from '@writ/contracts';
import { toolRef } from '@writ/policy-engine';
import type { Warrant } from '@writ/policy-engine';

/**
 * The warrant as it travels in PolicyDecided / ExecutionRequested: the event's meta carries
 * action_id and tenant, and the tool is split into name and version.
 */
export function toEventWarrant(warrant: Warrant, tool: string, toolVersion: string): EventWarrant {
  return {
    key_id: warrant.key_id,
    agent_id: warrant.agent,
    tool,
    tool_version: toolVersion,
    args_sha256: warrant.args_sha256,
    policy_set_hash: warrant.policy_set_hash,
    not_after: warrant.not_after,
    signature: warrant.signature,
  };
}

/**
 * The signed warrant back from its event form, for verifyWarrant: action_id and tenant come from
 * the carrying event's meta, and only an allow decision ever carries a warrant. `mode` shadow for
 * a shadow run's warrant (the event does not carry it: the executor rebuilds a live one, always).
 */
export function warrantFromEvent(warrant: EventWarrant, actionId: string, tenant: string, mode?: 'shadow'): Warrant {
  return {
    action_id: actionId,
    tenant,
    agent: warrant.agent_id,
    tool: toolRef(warrant.tool, warrant.tool_version),
    args_sha256: warrant.args_sha256,
    decision: 'allow',
    policy_set_hash: warrant.policy_set_hash,
    not_after: warrant.not_after,
    key_id: warrant.key_id,
    signature: warrant.signature,
    ...(mode === 'shadow' ? { mode } : {}),
  };
}

/** Whether a decision was made for a shadow run's action (the PDP records the mode in request_json). */
function shadowOf(decided: PolicyDecided): boolean {
  try {
    return (JSON.parse(decided.request_json) as { runMode?: unknown } | null)?.runMode === 'shadow';
  } catch {
    return false;
  }
}

/** The warrant of an allow decision, in its signed form (undefined for any other decision). */
export function warrantOfDecision(decided: PolicyDecided): Warrant | undefined {
  const { meta, warrant } = decided;
  if (decided.decision !== 'allow' || warrant === null || meta.action_id === null) return undefined;
  return warrantFromEvent(warrant, meta.action_id, meta.tenant_id, shadowOf(decided) ? 'shadow' : undefined);
}
