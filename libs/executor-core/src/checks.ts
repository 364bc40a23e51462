// Everything the executor checks before a tool may be called, in a fixed order; the first that
// fails refuses the request. A refusal never reaches the tool.
import type { ExecutionRequested } from '@writ/contracts';
import { actionIdFor, verifyReservation } from '@writ/contracts';
import { sha256Canonical } from '@writ/crypto';
import type { Keyring, TenantDataKey } from '@writ/crypto';
import { WritError, isWritError } from '@writ/errors';
import { toolRef, verifyWarrant } from '@writ/policy-engine';
import type { Warrant } from '@writ/policy-engine';
import type { ControlBoard, ToolDefinition, ToolRegistry } from '@writ/tools';
import { checkDestinations, scrubberOf, sensitiveTexts, unsealArguments, validateArguments } from '@writ/tools';

export interface Refusal {
  readonly code: string;
  readonly message: string;
}

export type CheckResult =
  | { readonly ok: true; readonly tool: ToolDefinition; readonly args: unknown }
  | { readonly ok: false; readonly refusal: Refusal; readonly tool: ToolDefinition | undefined };

export interface CheckDeps {
  readonly registry: ToolRegistry;
  readonly warrantKeys: Keyring;
  readonly reservationKeys: Keyring;
  readonly controls: ControlBoard;
}

function refuse(code: string, message: string, tool?: ToolDefinition): CheckResult {
  return { ok: false, refusal: { code, message }, tool };
}

/** The event's warrant as @writ/policy-engine signs it: action and tenant come from the carrying event. */
export function warrantOf(request: ExecutionRequested): Warrant {
  const w = request.warrant;
  return {
    action_id: request.meta.action_id ?? '',
    tenant: request.meta.tenant_id,
    agent: w.agent_id,
    tool: toolRef(w.tool, w.tool_version),
    args_sha256: w.args_sha256,
    decision: 'allow',
    policy_set_hash: w.policy_set_hash,
    not_after: w.not_after,
    key_id: w.key_id,
    signature: w.signature,
  };
}

/** Whether a call may still start at `now` (checked again before every retry). */
export function runtimeRefusal(request: ExecutionRequested, tool: ToolDefinition, controls: ControlBoard, now: number): Refusal | undefined {
  const control = controls.refusal(tool, request.agent_id, request.meta.tenant_id);
  if (control !== undefined) return control;
  if (now > request.deadline) {
    return { code: 'DEADLINE_PASSED', message: `the deadline ${new Date(request.deadline).toISOString()} has passed` };
  }
  return undefined;
}

/**
 * In order: the tool and version are registered; arguments_json parses and hashes to args_sha256
 * (the digest of the sealed form the warrant binds); the action id is the one of this tenant, run
 * and idempotency key; the warrant is genuine, unexpired and for exactly this action; so is the
 * reservation; every sensitive argument is sealed and opens under the tenant's data key (its keyed
 * hash rechecked); the clear arguments satisfy the tool's schema; every destination they name is
 * on the tool's allowlist (sensitive ones included, which only the executor sees); no kill switch or safe mode
 * forbids the call; the deadline has not passed. `args` of an accepted request are the clear ones.
 */
export function checkRequest(request: ExecutionRequested, deps: CheckDeps, now: number, tenantKey?: TenantDataKey): CheckResult {
  const tool = deps.registry.get(request.tool, request.tool_version);
  if (tool === undefined) {
    const known = deps.registry.get(request.tool) !== undefined;
    return refuse('TOOL_UNKNOWN', known ? `tool ${request.tool} has no version ${request.tool_version}` : `no tool ${request.tool} is registered`);
  }

  let args: unknown;
  try {
    args = JSON.parse(request.arguments_json);
  } catch {
    return refuse('ARGUMENTS_NOT_JSON', 'arguments_json is not valid JSON', tool);
  }
  let digest: string;
  try {
    digest = sha256Canonical(args);
  } catch {
    return refuse('ARGUMENTS_NOT_JSON', 'arguments_json is not plain JSON (canonical form impossible)', tool);
  }
  if (digest !== request.args_sha256) return refuse('ARGS_HASH_MISMATCH', 'args_sha256 is not the sha256 of the canonical arguments', tool);

  const actionId = request.meta.action_id;
  if (actionId === null || actionId !== actionIdFor(request.meta.tenant_id, request.meta.run_id, request.idempotency_key)) {
    return refuse('ACTION_ID_MISMATCH', 'meta.action_id is not the action of this tenant, run and idempotency_key', tool);
  }

  const warrant = verifyWarrant(
    warrantOf(request),
    {
      action_id: actionId,
      tenant: request.meta.tenant_id,
      agent: request.agent_id,
      tool: tool.name,
      tool_version: tool.version,
      args_sha256: digest,
      decision: 'allow',
    },
    deps.warrantKeys,
    now,
  );
  if (!warrant.ok) return refuse(warrant.error.code, warrant.error.message, tool);

  const reservation = verifyReservation(
    request.reservation,
    { action_id: actionId, tenant: request.meta.tenant_id, run_id: request.meta.run_id, agent: request.agent_id, tool: tool.name },
    deps.reservationKeys,
    now,
  );
  if (!reservation.ok) return refuse(reservation.error.code, reservation.error.message, tool);

  let clear: unknown;
  try {
    clear = unsealArguments(tool, args, (sealed, path) => {
      if (tenantKey === undefined) {
        throw new WritError(
          'TENANT_KEY_MISSING',
          `tenant "${request.meta.tenant_id}" has no data key here (erased, or never created), so ${path} cannot be opened`,
        );
      }
      return tenantKey.unseal(sealed, path);
    });
  } catch (error) {
    if (isWritError(error)) return refuse(error.code, error.message, tool);
    throw error;
  }

  const validity = validateArguments(tool, clear);
  if (!validity.ok) {
    const list = validity.problems.map((p) => `${p.field} (${p.rule}): ${p.message}`).join('; ');
    return refuse('ARGUMENTS_INVALID', scrubberOf(sensitiveTexts(tool, clear)).text(`arguments do not match ${tool.name}@${tool.version}: ${list}`), tool);
  }

  const destinations = checkDestinations(tool, clear);
  if (destinations.length > 0) {
    const list = destinations.map((p) => p.message).join('; ');
    return refuse('DESTINATION_NOT_ALLOWED', scrubberOf(sensitiveTexts(tool, clear)).text(`${tool.name}@${tool.version} refuses ${list}`), tool);
  }

  const runtime = runtimeRefusal(request, tool, deps.controls, now);
  if (runtime !== undefined) return refuse(runtime.code, runtime.message, tool);
  return { ok: true, tool, args: clear };
}
