import type {
  ActionProposed,
  ApprovalRecorded,
  ApprovalSubmitted,
  BudgetReserved,
  MetadataFactory,
  PolicyDecided,
  RunStats,
  TraceContext,
} from '@writ/contracts';
import { canonicalJson, sha256Canonical, withoutSealedValues } from '@writ/crypto';
import type { SigningKey } from '@writ/crypto';
import { describeError, isWritError } from '@writ/errors';
import { BUDGET_APPROVAL_POLICY, issueWarrant } from '@writ/policy-engine';
import type {
  ApprovalEscalation,
  AgentIdentity,
  ApprovalGrant,
  HistoryIndex,
  Decision,
  DecisionPoint,
  DecisionRequest,
  ToolDescriptor,
  ToolEffect,
  ToolRisk,
} from '@writ/policy-engine';
import { proposedActionOf } from './state.ts';
import type { ActionRecord, PdpState, ProposedAction } from './state.ts';
import { toEventWarrant } from './warrant-event.ts';

/** An agent as the directory knows it. */
export interface DirectoryAgent {
  readonly id: string;
  readonly tenant: string;
  readonly role: string;
  readonly owner: string;
}

/** A user (approver) as the directory knows them. */
export interface DirectoryUser {
  readonly id: string;
  readonly tenant: string;
  readonly role: string;
}

/** What the PDP needs of a tool version from the registry (a `ToolDefinition` of `@writ/tools` is one). */
export interface ToolFacts {
  /** The exact version: the one the warrant binds. */
  readonly version: string;
  readonly effect: ToolEffect;
  readonly risk: ToolRisk;
  /** The currency of the run statistics (the tool's cost currency, as the planner estimates in). */
  readonly cost: { readonly currency: string };
}

/** Everything a decision depends on besides the state and the input event. */
export interface PdpEnvironment {
  readonly decisionPoint: DecisionPoint;
  agent(id: string): DirectoryAgent | undefined;
  user(id: string): DirectoryUser | undefined;
  /**
   * The registry's tool: that exact version, or the latest when version is undefined (a proposal
   * without tool_version), as the planner resolves it (`registry.get`).
   */
  tool(name: string, version: string | undefined): ToolFacts | undefined;
  readonly signingKey: SigningKey;
  /** A warrant is valid for this long after the decision. */
  readonly warrantTtlMs: number;
  /** service@version, for meta.producer. */
  readonly producer: string;
  readonly now: number;
  /** Stamps the outputs (the runtime passes newMetadata): the decider reads no clock and makes no ids. */
  readonly newMetadata: MetadataFactory;
  /** Trace context of the span deciding (meta.trace of the outputs). */
  readonly trace?: TraceContext | null;
}

export type PdpOutput =
  { readonly type: 'PolicyDecided'; readonly payload: PolicyDecided } | { readonly type: 'ApprovalRecorded'; readonly payload: ApprovalRecorded };

/** What a proposal led to: the outputs, or why it is left undecided (for the log; it is no error). */
export interface ProposalOutcome {
  readonly outputs: PdpOutput[];
  /** Set when the proposal is not decided for a reason worth logging; null otherwise. */
  readonly ignored: string | null;
}

/** A proposed action as it is decided: its tool resolved in the registry and the run statistics it is decided with. */
export interface ResolvedAction extends ProposedAction {
  /** The registry's version (the requested one, or the latest): the warrant binds it. */
  readonly tool_version: string;
  readonly effect: ToolEffect;
  readonly risk: ToolRisk;
  readonly run_stats: RunStats;
}

/**
 * Resolves the proposal's tool the way the planner does (the requested version, else the latest),
 * so the warrant binds the version the planner admits. `recorded`: the statistics of the action's
 * first decision, which a later decision reuses; without them, the counts taken at the proposal.
 */
export function resolveAction(
  proposed: ProposedAction,
  recorded: RunStats | null,
  env: PdpEnvironment,
): { readonly ok: true; readonly action: ResolvedAction } | { readonly ok: false; readonly reason: string } {
  const tool = env.tool(proposed.tool, proposed.requested_version ?? undefined);
  if (tool === undefined) {
    return {
      ok: false,
      reason:
        proposed.requested_version === null
          ? `no tool ${proposed.tool} in the registry`
          : `tool ${proposed.tool} has no version ${proposed.requested_version} in the registry`,
    };
  }
  return {
    ok: true,
    action: {
      ...proposed,
      tool_version: tool.version,
      effect: tool.effect,
      risk: tool.risk,
      run_stats: recorded ?? { ...proposed.counts, currency: tool.cost.currency },
    },
  };
}

function metaFor(action: ProposedAction, causationId: string, env: PdpEnvironment): PolicyDecided['meta'] {
  return env.newMetadata({
    tenant_id: action.tenant,
    run_id: action.run_id,
    action_id: action.action_id,
    causation_id: causationId,
    producer: env.producer,
    trace: env.trace ?? null,
    occurred_at: env.now,
  });
}

/** A deny that no policy determined: the request could not even be put to Cedar. */
function refusal(reason: string, env: PdpEnvironment): Decision {
  return { decision: 'deny', determiningPolicies: [], errors: [reason], policySetHash: env.decisionPoint.policySetHash, warnings: [], shadowResults: [] };
}

type Prepared = { readonly ok: true; readonly request: DecisionRequest; readonly agent: DirectoryAgent } | { readonly ok: false; readonly reason: string };

/**
 * What a decision sees of the PDP's state besides the action: the history, whether its approval
 * escalated, and why a budget wants an approval first (ActionRecord.budget_approval).
 */
export interface DecisionSight {
  readonly history?: HistoryIndex;
  readonly escalated?: boolean;
  readonly budgetApproval?: string | undefined;
}

/**
 * A budget at its approval step turns an allow without approvals into approval_required: one
 * approval, by any approver the policies' `approve` permits for the action (Cedar's rules for
 * who may approve stay in force). With an approval, Cedar's allow stands.
 */
function withBudgetApproval(decision: Decision, approvals: readonly ApprovalGrant[], reason: string | undefined): Decision {
  if (reason === undefined || decision.decision !== 'allow' || approvals.length > 0) return decision;
  return { ...decision, decision: 'approval_required', approval: { policyId: BUDGET_APPROVAL_POLICY, count: 1, roles: [], reason } };
}

/**
 * Builds the Cedar request of a resolved action from the directory and the arguments; with the
 * history index, each history fact of the policy set computed for the action at env.now.
 */
export function decisionRequestOf(action: ResolvedAction, approvals: readonly ApprovalGrant[], env: PdpEnvironment, sight: DecisionSight = {}): Prepared {
  const { history, escalated } = sight;
  const agent = env.agent(action.agent_id);
  if (agent === undefined) return { ok: false, reason: `agent "${action.agent_id}" is not in the directory` };
  if (agent.tenant !== action.tenant) {
    return { ok: false, reason: `agent "${action.agent_id}" does not belong to tenant "${action.tenant}"` };
  }
  let args: unknown;
  try {
    args = JSON.parse(action.arguments_json);
  } catch {
    return { ok: false, reason: 'arguments_json is not valid JSON' };
  }
  if (typeof args !== 'object' || args === null || Array.isArray(args)) return { ok: false, reason: 'arguments_json must be a JSON object' };
  if (sha256Canonical(args as Record<string, unknown>) !== action.args_sha256) {
    return { ok: false, reason: 'args_sha256 is not the sha256 of the canonical arguments' };
  }
  const identity: AgentIdentity = { id: agent.id, role: agent.role, owner: agent.owner };
  const descriptor: ToolDescriptor = { name: action.tool, version: action.tool_version, effect: action.effect, risk: action.risk };
  const visible = withoutSealedValues(args) as Record<string, unknown>;
  const facts = env.decisionPoint.history;
  const subject = { actionId: action.action_id, tenant: action.tenant, runId: action.run_id, agent: action.agent_id, arguments: visible };
  return {
    ok: true,
    agent,
    request: {
      tenant: action.tenant,
      agent: identity,
      tool: descriptor,
      arguments: visible,
      ...(history === undefined || facts.length === 0
        ? {}
        : { history: history.values(facts, subject, env.now), historyFacts: Object.fromEntries(facts.map((f) => [f.name, f.text])) }),
      ...(escalated === true ? { escalated } : {}),
      ...(action.shadow === true ? { runMode: 'shadow' as const } : {}),
      runStats: {
        steps: action.run_stats.steps,
        spendMicros: action.run_stats.spend_micros,
        callsInWindow: action.run_stats.tool_calls_in_window,
      },
      approvals,
    },
  };
}

/** A decision and the request put to Cedar for it (none when the request could not be built). */
export interface Evaluated {
  readonly decision: Decision;
  readonly request: DecisionRequest | undefined;
}

/** Cedar's decision, or a deny naming why the request is not decidable (never an exception). */
export function evaluate(action: ResolvedAction, approvals: readonly ApprovalGrant[], env: PdpEnvironment, sight: DecisionSight): Evaluated {
  const prepared = decisionRequestOf(action, approvals, env, sight);
  if (!prepared.ok) return { decision: refusal(prepared.reason, env), request: undefined };
  try {
    return { decision: withBudgetApproval(env.decisionPoint.decide(prepared.request), approvals, sight.budgetApproval), request: prepared.request };
  } catch (error) {
    // A request Cedar refuses (e.g. a declared argument of the wrong type) fails closed; a backtest replays that refusal too.
    if (isWritError(error)) return { decision: refusal(describeError(error), env), request: prepared.request };
    throw error;
  }
}

function decidedEvent(
  action: ResolvedAction,
  { decision, request }: Evaluated,
  approvals: readonly ApprovalGrant[],
  causationId: string,
  env: PdpEnvironment,
  deniedBy: string | null = null,
): PdpOutput {
  const warrant =
    decision.decision === 'allow'
      ? toEventWarrant(
          issueWarrant(
            {
              action_id: action.action_id,
              tenant: action.tenant,
              agent: action.agent_id,
              tool: action.tool,
              tool_version: action.tool_version,
              args_sha256: action.args_sha256,
              decision: 'allow',
              policy_set_hash: decision.policySetHash,
              not_after: env.now + env.warrantTtlMs,
              ...(action.shadow === true ? { mode: 'shadow' as const } : {}),
            },
            env.signingKey,
          ),
          action.tool,
          action.tool_version,
        )
      : null;
  return {
    type: 'PolicyDecided',
    payload: {
      meta: metaFor(action, causationId, env),
      decision: decision.decision,
      determining_policies: [...decision.determiningPolicies],
      policy_set_hash: decision.policySetHash,
      warrant,
      errors: [...decision.errors],
      approval_requirement:
        decision.decision === 'approval_required' && decision.approval !== undefined
          ? {
              policy_id: decision.approval.policyId,
              count: decision.approval.count,
              roles: [...decision.approval.roles],
              expires_in_ms: decision.approval.expiresInMs ?? null,
              reason: decision.approval.reason ?? null,
            }
          : null,
      approvals: approvals.map((a) => ({ approver_id: a.approverId, role: a.role })),
      denied_by: deniedBy,
      policy_set_version: env.decisionPoint.version,
      run_stats: action.run_stats,
      warnings: [...decision.warnings],
      shadow_results: decision.shadowResults.map((r) => ({ policy_id: r.policyId, decision: r.decision, determining_policies: [...r.determiningPolicies] })),
      request_json: request === undefined ? '' : canonicalJson(request),
    },
  };
}

const UNDECIDED: ProposalOutcome = { outputs: [], ignored: null };

/**
 * The escalation of an action awaiting approval, once it is due at env.now: the permit that asked
 * for the approval escalates (@approval_escalate_after) and the action has waited that long since it
 * first awaited approval. Undefined otherwise (not pending, no escalation, not yet).
 */
export function escalationDue(
  record: ActionRecord,
  env: Pick<PdpEnvironment, 'decisionPoint' | 'now'>,
): (ApprovalEscalation & { readonly since: number }) | undefined {
  if (record.decision !== 'approval_required' || record.terminal || record.pending_since === null || record.pending_policy === null) return undefined;
  const escalation = env.decisionPoint.escalations[record.pending_policy];
  if (escalation === undefined || env.now - record.pending_since < escalation.afterMs) return undefined;
  return { ...escalation, since: record.pending_since };
}

/**
 * ActionProposed -> PolicyDecided, in parallel with the planner's admission, with the run
 * statistics the PDP counted itself (recorded in the decision). An action already decided (or
 * already over) gets nothing: a redelivered proposal never produces a second, different decision.
 * A tool (or version) the registry does not know gets no decision either: the planner rejects
 * the proposal as tool_unknown, and a warrant could bind no version.
 */
export function onActionProposed(state: PdpState, event: ActionProposed, env: PdpEnvironment): ProposalOutcome {
  const actionId = event.meta.action_id;
  if (actionId === null) return { outputs: [], ignored: 'ActionProposed has no meta.action_id (the planner refuses it)' };
  const record = state.actions.get(actionId);
  if (record !== undefined && (record.decision !== undefined || record.terminal)) return UNDECIDED;
  // Already folded (decided nothing before a restart, or a duplicate of the action): the first
  // proposal and the counts it saw; a proposal is never counted twice.
  const proposed = record?.proposed ?? proposedActionOf(state, event);
  if (proposed === undefined) return UNDECIDED;
  const resolved = resolveAction(proposed, null, env);
  if (!resolved.ok) return { outputs: [], ignored: `${resolved.reason}: the planner rejects it (tool_unknown), no decision` };
  const approvals = record?.approvals ?? [];
  const action = resolved.action;
  return {
    outputs: [
      decidedEvent(
        action,
        evaluate(action, approvals, env, { history: state.history, budgetApproval: record?.budget_approval }),
        approvals,
        proposed.proposed_event_id,
        env,
      ),
    ],
    ignored: null,
  };
}

/**
 * BudgetReserved with an approval step -> the approval it asks for, when the action was allowed
 * without one: a new decision (approval_required, policy BUDGET_APPROVAL_POLICY) with the first
 * decision's run statistics, which the gateway lists for approvers and an approval answers as any
 * other. An action not yet decided is asked at its decision; one pending, denied or ended already
 * needs nothing more. Call it with the reservation folded into the state.
 */
export function onBudgetApprovalStep(state: PdpState, reserved: BudgetReserved, env: PdpEnvironment): PdpOutput[] {
  const actionId = reserved.meta.action_id;
  const record = actionId === null ? undefined : state.actions.get(actionId);
  if (record?.proposed === undefined || record.budget_approval === undefined || record.terminal) return [];
  if (record.decision !== 'allow' || record.approvals.length > 0) return [];
  const resolved = resolveAction(record.proposed, record.run_stats, env);
  if (!resolved.ok) return [];
  const action = resolved.action;
  const sight = { history: state.history, budgetApproval: record.budget_approval };
  return [decidedEvent(action, evaluate(action, [], env, sight), [], reserved.meta.event_id, env)];
}

function recorded(
  submission: ApprovalSubmitted,
  accepted: boolean,
  reason: string,
  determiningPolicies: readonly string[],
  role: string,
  env: PdpEnvironment,
): PdpOutput {
  return {
    type: 'ApprovalRecorded',
    payload: {
      meta: env.newMetadata({
        tenant_id: submission.meta.tenant_id,
        run_id: submission.meta.run_id,
        action_id: submission.meta.action_id,
        causation_id: submission.meta.event_id,
        producer: env.producer,
        trace: env.trace ?? null,
        occurred_at: env.now,
      }),
      approver_id: submission.approver_id,
      verdict: submission.verdict,
      accepted,
      reason,
      approver_role: role,
      determining_policies: [...determiningPolicies],
    },
  };
}

/**
 * ApprovalSubmitted -> ApprovalRecorded, and when an authorized approver's verdict changes the
 * decision, a new PolicyDecided: allow (with a warrant) once the approvals suffice, still
 * approval_required while a quorum is short, deny when an authorized approver denies.
 * Whether the approver may decide at all is Cedar's `approve` action; their role comes from the
 * directory, not from the submission.
 */
export function onApprovalSubmitted(state: PdpState, submission: ApprovalSubmitted, env: PdpEnvironment): PdpOutput[] {
  if (state.answeredSubmissions.has(submission.meta.event_id)) return [];
  const actionId = submission.meta.action_id;
  const record = actionId === null ? undefined : state.actions.get(actionId);
  const user = env.user(submission.approver_id);
  const role = user?.role ?? '';
  const refuse = (reason: string, policies: readonly string[] = []): PdpOutput[] => [recorded(submission, false, reason, policies, role, env)];

  if (record?.proposed === undefined) return refuse(`action ${actionId ?? '(none)'} is not pending with the policy service`);
  const proposed = record.proposed;
  if (record.decision !== 'approval_required') {
    return refuse(`action ${proposed.action_id} is not awaiting approval (${record.decision ?? 'undecided'})`);
  }
  if (submission.meta.tenant_id !== proposed.tenant) return refuse(`the approval names tenant "${submission.meta.tenant_id}", not the action's`);
  if (user === undefined) return refuse(`approver "${submission.approver_id}" is not in the directory`);
  // The statistics of the first decision: the approver approved the action as it was decided.
  const resolved = resolveAction(proposed, record.run_stats, env);
  if (!resolved.ok) return refuse(resolved.reason);
  const action = resolved.action;
  const prepared = decisionRequestOf(action, record.approvals, env);
  if (!prepared.ok) return refuse(prepared.reason);

  let authorization;
  try {
    authorization = env.decisionPoint.authorizeApproval({
      approver: { id: user.id, role: user.role, tenant: user.tenant },
      pendingAction: {
        actionId: action.action_id,
        tenant: action.tenant,
        agent: prepared.request.agent,
        tool: prepared.request.tool,
        arguments: prepared.request.arguments,
      },
    });
  } catch (error) {
    if (isWritError(error)) return refuse(describeError(error));
    throw error;
  }
  const policies = authorization.determiningPolicies;
  if (authorization.decision !== 'allow') {
    const why = policies.length > 0 ? `forbidden by ${policies.join(', ')}` : 'no policy permits this approver to approve it';
    return refuse(why, policies);
  }
  const accepted = recorded(submission, true, `permitted by ${policies.join(', ')}`, policies, user.role, env);

  if (submission.verdict === 'deny') {
    const denial: Decision = {
      decision: 'deny',
      determiningPolicies: policies,
      errors: [],
      policySetHash: authorization.policySetHash,
      warnings: [],
      shadowResults: [],
    };
    return [accepted, decidedEvent(action, { decision: denial, request: undefined }, record.approvals, submission.meta.event_id, env, user.id)];
  }
  const approvals = record.approvals.some((a) => a.approverId === user.id) ? record.approvals : [...record.approvals, { approverId: user.id, role: user.role }];
  const sight = { history: state.history, escalated: escalationDue(record, env) !== undefined, budgetApproval: record.budget_approval };
  return [accepted, decidedEvent(action, evaluate(action, approvals, env, sight), approvals, submission.meta.event_id, env)];
}
