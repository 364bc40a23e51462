// Whether an agent may use a tool at all: Cedar's partial evaluation of `invoke` with everything
// that is only known per call left unknown (the arguments, the run, the history, the approvals).
// A tool the enforced policies deny whatever those turn out to be (an unconditional forbid, or no
// permit that could ever apply to this agent) is one the agent need not be shown.
import { isAuthorizedPartial } from './cedar.ts';
import type { CedarValueJson, EntityJson } from './cedar.ts';
import type { LoadedPolicySet } from './policy-set.ts';
import { agentEntity, tenantEntity, uid } from './request.ts';
import type { AgentIdentity, ToolDescriptor } from './types.ts';

export interface ToolReach {
  /** False only when every request of this agent for this tool is denied by the enforced policies. */
  readonly mayInvoke: boolean;
  /** The forbids that deny it whatever the call (empty for a default deny, or when it may be invoked). */
  readonly forbiddenBy: readonly string[];
  /** Cedar could not evaluate (the answer is then mayInvoke: true: the PDP still decides every call). */
  readonly errors: readonly string[];
}

/** The context records of `invoke` that only a call fills: unknown to the partial evaluation. */
const PER_CALL_CONTEXT = ['arguments', 'run', 'history', 'approval'] as const;

function unknown(name: string): CedarValueJson {
  return { __extn: { fn: 'unknown', arg: name } };
}

function toolEntityOf(tool: ToolDescriptor): EntityJson {
  return {
    uid: uid('Tool', tool.name),
    attrs: {
      effect: { __entity: uid('Effect', tool.effect) },
      risk: { __entity: uid('Risk', tool.risk) },
      version: tool.version,
    },
    parents: [],
  };
}

/**
 * Whether `agent` of `tenant` could ever be allowed (or asked an approval for) `tool` by the
 * enforced policies of `set`. Only a definite deny says no: anything that depends on the call
 * (a permit's condition on the arguments, an approval) says yes.
 */
export function toolReach(set: LoadedPolicySet, tenant: string, agent: AgentIdentity, tool: ToolDescriptor): ToolReach {
  const enforced = Object.values(set.metadata).filter((policy) => policy.mode === 'enforce');
  const principal = agentEntity(agent, tenant, 'agent');
  const resource = toolEntityOf(tool);
  const answer = isAuthorizedPartial({
    principal: principal.uid,
    action: uid('Action', 'invoke'),
    resource: resource.uid,
    context: Object.fromEntries(PER_CALL_CONTEXT.map((name) => [name, unknown(name)])),
    validateRequest: false,
    policies: { staticPolicies: Object.fromEntries(enforced.map((policy) => [policy.id, set.policies[policy.id] ?? ''])) },
    entities: [principal, resource, tenantEntity(tenant, 'tenant')],
  });
  if (answer.type === 'failure') return { mayInvoke: true, forbiddenBy: [], errors: answer.errors.map((error) => error.message) };
  const { response } = answer;
  if (response.decision !== 'deny') return { mayInvoke: true, forbiddenBy: [], errors: [] };
  const forbids = new Set(enforced.filter((policy) => policy.effect === 'forbid').map((policy) => policy.id));
  return { mayInvoke: false, forbiddenBy: response.satisfied.filter((id) => forbids.has(id)).sort(), errors: [] };
}
