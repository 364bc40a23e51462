import { actionIdFor } from '@writ/contracts';
import type { ActionProposed, ApprovalSubmitted, Metadata, MetadataFactory, RunMode, RunStarted, TraceContext } from '@writ/contracts';
import { canonicalJson, sha256Canonical } from '@writ/crypto';
import type { SealedValue } from '@writ/crypto';
import { WritError } from '@writ/errors';
import { hasSensitiveArguments, sealArguments, validateArguments } from '@writ/tools';
import type { ToolDefinition } from '@writ/tools';
import type { ActionState } from './model.ts';
import type { ApprovalRequest, OpenRunRequest, ProposeRequest } from './requests.ts';

/** What the gateway needs of the tool registry. */
export interface ToolCatalogue {
  get(name: string, version?: string): ToolDefinition | undefined;
}

/** Who is acting and how the event is stamped. */
export interface Stamp {
  /** `gateway@<version>` */
  readonly producer: string;
  readonly trace: TraceContext | null;
  /** Ids and times come from the caller (newMetadata, uuidv7): the commands read no clock and no randomness. */
  readonly newMetadata: MetadataFactory;
  readonly newRunId: () => string;
}

export function runStartedEvent(input: { tenant: string; agentId: string; request: OpenRunRequest; stamp: Stamp }): RunStarted {
  const runId = input.stamp.newRunId();
  return {
    meta: input.stamp.newMetadata({ tenant_id: input.tenant, run_id: runId, producer: input.stamp.producer, trace: input.stamp.trace }),
    agent_id: input.agentId,
    goal: input.request.goal,
    limits: input.request.limits,
    mode: input.request.mode,
  };
}

/** Seals one sensitive value at its path: the tenant's data key (`TenantDataKey` of `@writ/crypto`). */
export interface Sealer {
  seal(value: unknown, path: string): SealedValue;
}

/**
 * The ActionProposed of a request: the tool must be registered (TOOL_UNKNOWN) and the arguments
 * valid against its JSON Schema (ARGUMENTS_INVALID naming `arguments.<field>` and the schema
 * keyword, every problem in details.problems). Nothing is emitted for an invalid proposal.
 * Sensitive arguments are sealed with the tenant's key before anything leaves the gateway;
 * `arguments_json` and `args_sha256` are both of the sealed form (deterministic: a repeated
 * proposal has the same digest). Without a sealer, a proposal holding a sensitive value is refused
 * (SEALING_UNAVAILABLE) rather than emitted in clear. `runMode` is the run's (its RunStarted's),
 * copied onto the proposal for the services that keep no run state. `provenance` is the agent's,
 * recorded as given (shape and bounds checked by parsePropose).
 */
export function proposalEvent(input: {
  tools: ToolCatalogue;
  tenant: string;
  runId: string;
  runMode: RunMode;
  agentId: string;
  request: ProposeRequest;
  stamp: Stamp;
  sealer?: Sealer | undefined;
}): ActionProposed {
  const { request } = input;
  const tool = input.tools.get(request.tool, request.tool_version ?? undefined);
  if (tool === undefined) {
    const what = request.tool_version === null ? `tool "${request.tool}"` : `tool "${request.tool}" version ${request.tool_version}`;
    throw new WritError('TOOL_UNKNOWN', `${what} is not registered`, {
      field: request.tool_version === null ? 'tool' : 'tool_version',
      rule: 'must name a registered tool',
    });
  }
  const check = validateArguments(tool, request.arguments);
  if (!check.ok) {
    const problems = check.problems.map((problem) => ({
      field: problem.field === '(arguments)' ? 'arguments' : `arguments.${problem.field}`,
      rule: problem.rule,
      message: problem.message,
    }));
    const [first] = problems;
    throw new WritError('ARGUMENTS_INVALID', `arguments of ${tool.name}@${tool.version}: ${problems.map((p) => p.message).join('; ')}`, {
      field: first?.field ?? 'arguments',
      rule: first?.rule ?? 'schema',
      details: { tool: tool.name, tool_version: tool.version, problems },
    });
  }
  let args: unknown = request.arguments;
  if (hasSensitiveArguments(tool, args)) {
    const { sealer } = input;
    if (sealer === undefined) {
      throw new WritError(
        'SEALING_UNAVAILABLE',
        `${tool.name}@${tool.version} has sensitive arguments and no data key is available to seal them for tenant "${input.tenant}"`,
        {
          retriable: true,
        },
      );
    }
    args = sealArguments(tool, args, (value, path) => sealer.seal(value, path));
  }
  const actionId = actionIdFor(input.tenant, input.runId, request.idempotency_key);
  return {
    meta: input.stamp.newMetadata({
      tenant_id: input.tenant,
      run_id: input.runId,
      action_id: actionId,
      producer: input.stamp.producer,
      trace: input.stamp.trace,
    }),
    agent_id: input.agentId,
    tool: tool.name,
    tool_version: tool.version,
    arguments_json: canonicalJson(args),
    args_sha256: sha256Canonical(args),
    reason: request.reason,
    idempotency_key: request.idempotency_key,
    mode: input.runMode,
    provenance: request.provenance ?? null,
  };
}

/** The metadata of an event the gateway writes about an action (keyed by its run, with its other events). */
export function actionEventMeta(stamp: Stamp, action: Pick<ActionState, 'tenant_id' | 'run_id' | 'action_id'>): Metadata {
  return stamp.newMetadata({ tenant_id: action.tenant_id, run_id: action.run_id, action_id: action.action_id, producer: stamp.producer, trace: stamp.trace });
}

/**
 * A proposal again under an idempotency key the gateway has seen: the same tool and arguments
 * are the same action (nothing is emitted again); anything else is a conflict.
 */
export function checkRepeatedProposal(existing: ActionState, proposal: ActionProposed): void {
  if (existing.args_sha256 === null) return;
  if (existing.tool !== proposal.tool || existing.args_sha256 !== proposal.args_sha256) {
    throw new WritError(
      'IDEMPOTENCY_CONFLICT',
      `idempotency key "${proposal.idempotency_key}" was already used in this run for another tool or other arguments`,
      { field: 'idempotency_key', rule: 'must be new for a different tool or arguments' },
    );
  }
}

export function approvalSubmittedEvent(input: {
  action: ActionState;
  approverId: string;
  approverRole: string;
  request: ApprovalRequest;
  stamp: Stamp;
}): ApprovalSubmitted {
  const { action } = input;
  return {
    meta: actionEventMeta(input.stamp, action),
    approver_id: input.approverId,
    approver_role: input.approverRole,
    verdict: input.request.verdict,
    comment: input.request.comment,
  };
}
