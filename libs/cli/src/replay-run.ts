// `writ replay`'s core: a run rebuilt from its record alone, without I/O. Every policy decision is
// put to Cedar again with the policy set recorded for it (or a candidate set) on the request the PDP
// recorded (PolicyDecided v5 request_json), every approval is authorized again, the run's budget is
// decided again by the accountant (@writ/budget-core, run-budget.ts) from the events that asked for
// each reservation, settlement and release, and the tools' outcomes are taken from the record
// (nothing is called). What the record says and what the replay finds are compared step
// by step; a difference is a divergence.
//
// What is not recomputed, and why: history facts (context.history) keep the values the PDP computed
// from the tenant's decisions, which lie outside the run; the calls of a tool in the rate window
// depend on the PDP's window setting; the agent's, tool's and tenant's budgets count other runs, so
// a refusal of theirs is taken as recorded (the run's own budget is recomputed).
import type { EventPayloads, Metadata } from '@writ/contracts';
import { describeError, isWritError } from '@writ/errors';
import { BUDGET_APPROVAL_POLICY, failClosedDecisionPoint, policySetHash, recordedDecisionOf, withCandidateFacts } from '@writ/policy-engine';
import type { ApprovalAuthorization, Decision, DecisionPoint, DecisionRequest, PolicyDecidedLike } from '@writ/policy-engine';
import { replayRunBudget } from './run-budget.ts';
import type { RunBudgetReplay, RunBudgets, ToolLookup } from './run-budget.ts';
import type { RecordedEvent } from './run-record.ts';

/** same: the replay agrees with the record; differs: a divergence; recorded: taken from the record, not recomputed. */
export type StepVerdict = 'same' | 'differs' | 'recorded';

export interface ReplayStep {
  readonly what: 'run' | 'proposed' | 'admitted' | 'rejected' | 'policy' | 'approval' | 'budget' | 'execution' | 'reconciled' | 'end';
  /** What the record says. */
  readonly text: string;
  readonly verdict: StepVerdict;
  /** What the replay found (same), or why it was not recomputed (recorded). */
  readonly detail?: string;
  /** How the replay differs from the record (differs). */
  readonly differences?: readonly string[];
  /** A policy step whose decision differs: recorded and replayed (or candidate) decision. */
  readonly change?: { readonly from: string; readonly to: string };
}

export interface ActionReplay {
  readonly actionId: string;
  readonly tool: string;
  readonly toolVersion: string | null;
  /** The terminal status recorded (ActionCompleted), undefined while the action is open. */
  readonly status: string | undefined;
  readonly reasonCode: string | undefined;
  readonly steps: readonly ReplayStep[];
  /** With a candidate set whose last decision differs: what would have become of the action. */
  readonly consequence?: string;
}

/** One step that differs, and how. */
export interface Divergence {
  readonly actionId: string | null;
  readonly what: ReplayStep['what'];
  readonly differences: readonly string[];
}

export interface ReplayReport {
  readonly runId: string;
  readonly tenant: string;
  readonly agent: string;
  readonly mode: string;
  readonly candidate: { readonly hash: string; readonly version: string } | undefined;
  readonly events: number;
  readonly run: readonly ReplayStep[];
  readonly actions: readonly ActionReplay[];
  readonly divergences: readonly Divergence[];
  readonly counts: {
    readonly decisions: number;
    readonly decisionsReplayed: number;
    readonly approvals: number;
    readonly approvalsReplayed: number;
    readonly reservations: number;
    readonly settlements: number;
  };
  readonly spend: { readonly settledMicros: number; readonly executedMicros: number; readonly completedMicros: number; readonly currency: string };
  /** The run's budget as the accountant replays it: its caps and degradation steps, and where they come from. */
  readonly budget: string;
  /** Things the replay could not check that are no divergence (an action still open, a settlement not projected yet). */
  readonly notes: readonly string[];
}

export interface ReplaySets {
  /** The decision point of a policy set recorded on the log, by hash; undefined when it is not found. */
  recorded(hash: string): DecisionPoint | undefined;
  /** Decide every request with this set instead (writ replay --policies). */
  readonly candidate?: DecisionPoint;
}

export interface ReplayOptions {
  readonly sets: ReplaySets;
  /** The registry's entry of a tool version, as the accountant resolves it to reserve. Undefined: reservations are not recomputed. */
  readonly tool?: ToolLookup;
  /** The budgets file the accountant ran with: the run budget's defaults. Undefined: the run's RunStarted caps alone. */
  readonly budgets?: RunBudgets;
}

type Payload<T extends keyof EventPayloads> = EventPayloads[T];

/** The set a PDP without a policy set decides with (failClosedDecisionPoint): its decisions deny with the reason as their error. */
const FAIL_CLOSED_HASH = policySetHash('', {});
const REJECTION_CODES = new Set([
  'DUPLICATE',
  'AGENT_MISMATCH',
  'ARGS_INVALID',
  'DESTINATION_NOT_ALLOWED',
  'TOOL_UNKNOWN',
  'KILL_SWITCH',
  'RUN_CLOSED',
  'WALL_CLOCK_EXCEEDED',
  'STEP_LIMIT',
  'LOOP_DETECTED',
]);

const metaOf = (event: RecordedEvent): Metadata => event.payload['meta'] as Metadata;
const payloadOf = <T extends keyof EventPayloads>(event: RecordedEvent): Payload<T> => event.payload as unknown as Payload<T>;
const byTopicOrder = (a: RecordedEvent, b: RecordedEvent): number => a.partition - b.partition || a.offset - b.offset;
const ids = (list: readonly string[] | undefined): string => (list === undefined || list.length === 0 ? 'none' : list.join(', '));
const short = (hash: string): string => hash.slice(0, 12);

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  const left = [...new Set(a)].sort();
  const right = [...new Set(b)].sort();
  return left.length === right.length && left.every((id, i) => id === right[i]);
}

/** A decision as compared: the enforced answer, its reasons, and what warn and shadow policies said. */
export interface DecisionView {
  readonly decision: string;
  readonly determining: readonly string[];
  readonly errors: readonly string[];
  /** undefined: not recorded (before PolicyDecided v4). */
  readonly warnings: readonly string[] | undefined;
  readonly shadow: readonly { readonly policy: string; readonly decision: string; readonly determining: readonly string[] }[] | undefined;
  readonly approval:
    | {
        readonly policy: string;
        readonly count: number;
        readonly roles: readonly string[];
        readonly expiresInMs: number | null;
        readonly reason: string | null;
      }
    | undefined;
}

export function recordedView(p: Payload<'PolicyDecided'>): DecisionView {
  const requirement = p.approval_requirement;
  return {
    decision: p.decision,
    determining: p.determining_policies,
    errors: p.errors,
    warnings: (p as Partial<Payload<'PolicyDecided'>>).warnings,
    shadow: (p as Partial<Payload<'PolicyDecided'>>).shadow_results?.map((s) => ({
      policy: s.policy_id,
      decision: s.decision,
      determining: s.determining_policies,
    })),
    approval:
      requirement === null || requirement === undefined
        ? undefined
        : {
            policy: requirement.policy_id,
            count: requirement.count,
            roles: requirement.roles,
            expiresInMs: requirement.expires_in_ms ?? null,
            reason: requirement.reason ?? null,
          },
  };
}

function viewOf(decision: Decision): DecisionView {
  const approval = decision.decision === 'approval_required' ? decision.approval : undefined;
  return {
    decision: decision.decision,
    determining: decision.determiningPolicies,
    errors: decision.errors,
    warnings: decision.warnings,
    shadow: decision.shadowResults.map((s) => ({ policy: s.policyId, decision: s.decision, determining: s.determiningPolicies })),
    approval:
      approval === undefined
        ? undefined
        : {
            policy: approval.policyId,
            count: approval.count,
            roles: approval.roles,
            expiresInMs: approval.expiresInMs ?? null,
            reason: approval.reason ?? null,
          },
  };
}

/** Cedar's decision on a request, or the deny the PDP records for a request Cedar refuses. */
function decideView(point: DecisionPoint, request: DecisionRequest): DecisionView {
  try {
    return viewOf(point.decide(request));
  } catch (error) {
    if (isWritError(error)) return { decision: 'deny', determining: [], errors: [describeError(error)], warnings: [], shadow: [], approval: undefined };
    throw error;
  }
}

/** How a replayed decision differs from the recorded one ([] when it does not); what the record lacks is not compared. */
export function decisionDifferences(recorded: DecisionView, replayed: DecisionView, label = 'replayed', enforcedOnly = false): string[] {
  const out: string[] = [];
  if (recorded.decision !== replayed.decision) out.push(`decision: recorded ${recorded.decision}, ${label} ${replayed.decision}`);
  if (!sameSet(recorded.determining, replayed.determining)) {
    out.push(`determining policies: recorded ${ids(recorded.determining)}, ${label} ${ids(replayed.determining)}`);
  }
  if (!enforcedOnly && !sameSet(recorded.errors, replayed.errors)) out.push(`errors: recorded ${ids(recorded.errors)}, ${label} ${ids(replayed.errors)}`);
  if (!enforcedOnly && recorded.warnings !== undefined && !sameSet(recorded.warnings, replayed.warnings ?? [])) {
    out.push(`warnings: recorded ${ids(recorded.warnings)}, ${label} ${ids(replayed.warnings)}`);
  }
  if (!enforcedOnly && recorded.shadow !== undefined) {
    const replayedShadow = new Map((replayed.shadow ?? []).map((s) => [s.policy, s]));
    for (const shadow of recorded.shadow) {
      const again = replayedShadow.get(shadow.policy);
      if (again === undefined) out.push(`shadow ${shadow.policy}: recorded ${shadow.decision}, ${label} not evaluated`);
      else if (again.decision !== shadow.decision || !sameSet(again.determining, shadow.determining)) {
        out.push(`shadow ${shadow.policy}: recorded ${shadow.decision} by ${ids(shadow.determining)}, ${label} ${again.decision} by ${ids(again.determining)}`);
      }
      replayedShadow.delete(shadow.policy);
    }
    for (const extra of replayedShadow.values()) out.push(`shadow ${extra.policy}: not recorded, ${label} ${extra.decision}`);
  }
  const a = recorded.approval;
  const b = replayed.approval;
  if (recorded.decision === 'approval_required' && replayed.decision === 'approval_required') {
    if (a === undefined || b === undefined) {
      if (a !== b) out.push(`approval asked for: recorded ${a === undefined ? 'none' : a.policy}, ${label} ${b === undefined ? 'none' : b.policy}`);
    } else {
      const ask = (x: NonNullable<DecisionView['approval']>) =>
        `${x.count} by ${ids(x.roles)} (${x.policy}${x.expiresInMs === null ? '' : `, expires in ${x.expiresInMs} ms`})`;
      if (a.policy !== b.policy || a.count !== b.count || !sameSet(a.roles, b.roles) || a.expiresInMs !== b.expiresInMs) {
        out.push(`approval asked for: recorded ${ask(a)}, ${label} ${ask(b)}`);
      }
      if (a.reason !== null && a.reason !== b.reason) out.push(`approval reason: recorded ${JSON.stringify(a.reason)}, ${label} ${JSON.stringify(b.reason)}`);
    }
  }
  return out;
}

export function decisionText(view: Pick<DecisionView, 'decision' | 'determining' | 'approval'>): string {
  const asks = view.approval === undefined ? '' : `: ${view.approval.count} approval(s) by ${ids(view.approval.roles)}`;
  return `${view.decision} by ${ids(view.determining)}${asks}`;
}

/** Every policy set a run's decisions name (to fetch them before the replay). */
export function policySetHashesOf(events: readonly RecordedEvent[]): string[] {
  const hashes = new Set<string>();
  for (const event of events) {
    if (event.type === 'PolicyDecided') hashes.add(payloadOf<'PolicyDecided'>(event).policy_set_hash);
  }
  hashes.delete(FAIL_CLOSED_HASH);
  return [...hashes];
}

/** One action's events, sorted where their order matters. */
export interface ActionEvents {
  readonly actionId: string;
  proposals: RecordedEvent[];
  admitted: RecordedEvent | undefined;
  rejected: RecordedEvent | undefined;
  /** PolicyDecided and ApprovalRecorded, in the order of writ.policy.v1. */
  policy: RecordedEvent[];
  reserved: RecordedEvent | undefined;
  refused: RecordedEvent[];
  settlements: RecordedEvent[];
  execution: RecordedEvent | undefined;
  outcome: RecordedEvent | undefined;
  completions: RecordedEvent[];
  reconciled: RecordedEvent | undefined;
}

/** A run's events by action, in the order the run proposed them. */
export function groupActions(events: readonly RecordedEvent[]): ActionEvents[] {
  const actions = new Map<string, ActionEvents>();
  for (const event of events) {
    const actionId = metaOf(event).action_id;
    if (actionId === null || actionId === undefined) continue;
    let action = actions.get(actionId);
    if (action === undefined) {
      action = {
        actionId,
        proposals: [],
        admitted: undefined,
        rejected: undefined,
        policy: [],
        reserved: undefined,
        refused: [],
        settlements: [],
        execution: undefined,
        outcome: undefined,
        completions: [],
        reconciled: undefined,
      };
      actions.set(actionId, action);
    }
    switch (event.type) {
      case 'ActionProposed':
        action.proposals.push(event);
        break;
      case 'ActionAdmitted':
        action.admitted ??= event;
        break;
      case 'ActionRejected':
        action.rejected ??= event;
        break;
      case 'PolicyDecided':
      case 'ApprovalRecorded':
        action.policy.push(event);
        break;
      case 'BudgetReserved':
        action.reserved ??= event;
        break;
      case 'BudgetRefused':
        action.refused.push(event);
        break;
      case 'BudgetSettled':
        action.settlements.push(event);
        break;
      case 'ExecutionRequested':
        action.execution ??= event;
        break;
      case 'ActionExecuted':
      case 'ActionFailed':
        action.outcome ??= event;
        break;
      case 'ActionCompleted':
        action.completions.push(event);
        break;
      case 'OutcomeReconciled':
        action.reconciled ??= event;
        break;
      default:
        break;
    }
  }
  const all = [...actions.values()];
  for (const action of all) {
    action.proposals.sort(byTopicOrder);
    action.policy.sort(byTopicOrder);
    action.settlements.sort(byTopicOrder);
  }
  // In the order the run proposed them (one partition of writ.proposals.v1); an action without a proposal last.
  const first = (a: ActionEvents): RecordedEvent | undefined => a.proposals[0];
  return all.sort((a, b) => {
    const x = first(a);
    const y = first(b);
    if (x === undefined || y === undefined) return x === undefined ? (y === undefined ? 0 : 1) : -1;
    return byTopicOrder(x, y);
  });
}

interface RunContext {
  readonly options: ReplayOptions;
  /** Distinct actions proposed before each action, in the order of writ.proposals.v1 (the PDP's `steps`). */
  readonly stepsBefore: ReadonlyMap<string, number>;
  /** The run's spend after each of its completions, in the order of writ.actions.v1 (what the PDP's spend_micros can be). */
  readonly spendPrefixes: ReadonlySet<number>;
  /** The request each decision is replayed on, by event id (a candidate's history facts computed from the run's decisions). */
  readonly requests: ReadonlyMap<string, DecisionRequest>;
  /** live or shadow (RunStarted v2). */
  readonly mode: string;
  readonly notes: string[];
}

function stepsBeforeOf(events: readonly RecordedEvent[]): Map<string, number> {
  const proposals = events.filter((e) => e.type === 'ActionProposed').sort(byTopicOrder);
  const seen = new Set<string>();
  const before = new Map<string, number>();
  for (const proposal of proposals) {
    const actionId = metaOf(proposal).action_id ?? '';
    if (seen.has(actionId)) continue;
    before.set(actionId, seen.size);
    seen.add(actionId);
  }
  return before;
}

function spendPrefixesOf(events: readonly RecordedEvent[]): Set<number> {
  const prefixes = new Set<number>([0]);
  let spent = 0;
  for (const completion of events.filter((e) => e.type === 'ActionCompleted').sort(byTopicOrder)) {
    spent += payloadOf<'ActionCompleted'>(completion).cost_micros;
    prefixes.add(spent);
  }
  return prefixes;
}

/** The request each recorded decision is decided on again: as recorded, or with a candidate's history facts. */
function requestsOf(events: readonly RecordedEvent[], candidate: DecisionPoint | undefined): Map<string, DecisionRequest> {
  const decided = events.filter((e) => e.type === 'PolicyDecided').sort(byTopicOrder);
  const withRequests: { eventId: string; record: NonNullable<ReturnType<typeof recordedDecisionOf>> }[] = [];
  for (const event of decided) {
    const record = recordedDecisionOf(event.payload as unknown as PolicyDecidedLike);
    if (record?.request !== undefined) withRequests.push({ eventId: event.eventId, record });
  }
  const requests = new Map<string, DecisionRequest>();
  if (candidate === undefined || candidate.history.length === 0) {
    for (const { eventId, record } of withRequests) if (record.request !== undefined) requests.set(eventId, record.request);
    return requests;
  }
  const replayed = [
    ...withCandidateFacts(
      withRequests.map((w) => w.record),
      candidate,
    ),
  ];
  replayed.forEach((record, i) => {
    const eventId = withRequests[i]?.eventId;
    if (eventId !== undefined && record.request !== undefined) requests.set(eventId, record.request);
  });
  return requests;
}

/** The point a recorded decision is replayed with: the candidate, else its own set (undefined when not on the log). */
function pointFor(hash: string, context: RunContext, reason: string): DecisionPoint | undefined {
  if (context.options.sets.candidate !== undefined) return context.options.sets.candidate;
  if (hash === FAIL_CLOSED_HASH) return failClosedDecisionPoint(reason);
  return context.options.sets.recorded(hash);
}

/** Against a candidate set only what is enforced is compared: its warn and shadow policies are its own. */
function candidateMode(context: RunContext): boolean {
  return context.options.sets.candidate !== undefined;
}

function replayedLabel(context: RunContext): string {
  return context.options.sets.candidate === undefined ? 'replayed' : 'candidate';
}

/** A step comparing a replayed answer with the record. */
function compared(what: ReplayStep['what'], text: string, replayed: string, differences: readonly string[]): ReplayStep {
  return differences.length === 0 ? { what, text, verdict: 'same', detail: replayed } : { what, text, verdict: 'differs', detail: replayed, differences };
}

/** The latest decision of the action before index `i` of its policy events that carries a request (the pending action an approver saw). */
function pendingBefore(action: ActionEvents, i: number): RecordedEvent | undefined {
  for (let j = i - 1; j >= 0; j--) {
    const event = action.policy[j];
    if (event?.type === 'PolicyDecided' && (payloadOf<'PolicyDecided'>(event).request_json ?? '') !== '') return event;
  }
  return undefined;
}

function authorize(point: DecisionPoint, request: DecisionRequest, approver: { id: string; role: string }, actionId: string): ApprovalAuthorization {
  return point.authorizeApproval({
    approver: { id: approver.id, role: approver.role, tenant: request.tenant },
    pendingAction: { actionId, tenant: request.tenant, agent: request.agent, tool: request.tool, arguments: request.arguments },
  });
}

interface PolicyCounts {
  decisions: number;
  decisionsReplayed: number;
  approvals: number;
  approvalsReplayed: number;
}

function decisionStep(action: ActionEvents, index: number, context: RunContext, counts: PolicyCounts): ReplayStep {
  const event = action.policy[index] as RecordedEvent;
  const p = payloadOf<'PolicyDecided'>(event);
  counts.decisions++;
  const recorded = recordedView(p);
  const set = `set ${p.policy_set_version || '?'} ${short(p.policy_set_hash)}`;
  const text = `${decisionText(recorded)} (${set})`;
  const label = replayedLabel(context);

  // An approver's authorized denial: the PDP asked Cedar whether they may decide, not whether the action may run.
  if (p.denied_by !== null && p.denied_by !== undefined) {
    const approval = action.policy.find(
      (e) => e.type === 'ApprovalRecorded' && metaOf(e).causation_id === metaOf(event).causation_id && payloadOf<'ApprovalRecorded'>(e).accepted,
    );
    const pending = pendingBefore(action, index);
    const point = pointFor(p.policy_set_hash, context, p.errors[0] ?? '');
    const request = pending === undefined ? undefined : context.requests.get(pending.eventId);
    const role = approval === undefined ? '' : (payloadOf<'ApprovalRecorded'>(approval).approver_role ?? '');
    if (point === undefined) return missingSet(text, p.policy_set_hash);
    if (request === undefined || role === '') {
      return {
        what: 'policy',
        text: `${text}, denied by approver ${p.denied_by}`,
        verdict: 'recorded',
        detail: 'the pending request or the approver’s role is not recorded',
      };
    }
    counts.decisionsReplayed++;
    // The denial stands when the approver may decide: its determining policies are those that let them.
    const answer = authorize(point, request, { id: p.denied_by, role }, action.actionId);
    const differences =
      answer.decision === 'allow'
        ? decisionDifferences(recorded, { ...recorded, determining: answer.determiningPolicies }, label, candidateMode(context))
        : [
            `approver ${p.denied_by} (${role}) may not decide: ${answer.determiningPolicies.length > 0 ? `forbidden by ${ids(answer.determiningPolicies)}` : 'no policy permits it'}`,
          ];
    return compared(
      'policy',
      `${text}, denied by approver ${p.denied_by}`,
      `${label}: ${p.denied_by} may decide (${ids(answer.determiningPolicies)})`,
      differences,
    );
  }

  const request = context.requests.get(event.eventId);
  if (request === undefined) {
    const why =
      p.request_json === undefined
        ? 'recorded before PolicyDecided v5: the request Cedar saw is not known'
        : `decided without Cedar (${p.errors.join('; ') || 'no request'})`;
    return { what: 'policy', text, verdict: 'recorded', detail: why };
  }
  const point = pointFor(p.policy_set_hash, context, p.errors[0] ?? '');
  if (point === undefined) return missingSet(text, p.policy_set_hash);
  counts.decisionsReplayed++;
  let replayed = decideView(point, request);
  // A budget at its approval step turns an allow without approvals into a request for one (the reservation says so).
  const approvalStep = action.reserved === undefined ? null : (payloadOf<'BudgetReserved'>(action.reserved).approval_step ?? null);
  if (
    recorded.approval?.policy === BUDGET_APPROVAL_POLICY &&
    approvalStep !== null &&
    replayed.decision === 'allow' &&
    (request.approvals ?? []).length === 0
  ) {
    replayed = { ...replayed, decision: 'approval_required', approval: recorded.approval };
  }
  const differences = decisionDifferences(recorded, replayed, label, candidateMode(context));
  differences.push(...runStatsDifferences(action, p, request, context));
  const answer = compared('policy', text, `${label}: ${decisionText(replayed)}`, differences);
  return recorded.decision === replayed.decision ? answer : { ...answer, change: { from: recorded.decision, to: replayed.decision } };
}

function missingSet(text: string, hash: string): ReplayStep {
  return { what: 'policy', text, verdict: 'differs', differences: [`policy set ${hash} is not on the log: the decision cannot be replayed`] };
}

/** The run statistics a decision saw, against the run's record: its steps exactly, its spend as some spend the run had. */
function runStatsDifferences(action: ActionEvents, p: Payload<'PolicyDecided'>, request: DecisionRequest, context: RunContext): string[] {
  const out: string[] = [];
  const steps = context.stepsBefore.get(action.actionId);
  if (steps !== undefined && request.runStats.steps !== steps) {
    out.push(`run statistics: the decision saw ${request.runStats.steps} steps, the run had proposed ${steps} actions before it`);
  }
  if (p.run_stats !== null && p.run_stats !== undefined && p.run_stats.steps !== request.runStats.steps) {
    out.push(`run statistics: run_stats says ${p.run_stats.steps} steps, the request ${request.runStats.steps}`);
  }
  if (!context.spendPrefixes.has(request.runStats.spendMicros)) {
    out.push(`run statistics: the decision saw ${request.runStats.spendMicros} micros spent, which the run never had after any of its completions`);
  }
  return out;
}

function approvalStep(action: ActionEvents, index: number, context: RunContext, counts: PolicyCounts): ReplayStep {
  const event = action.policy[index] as RecordedEvent;
  const p = payloadOf<'ApprovalRecorded'>(event);
  counts.approvals++;
  const role = p.approver_role ?? '';
  const text = `${p.verdict} of ${p.approver_id}${role === '' ? '' : ` (${role})`} ${p.accepted ? 'accepted' : 'refused'}: ${p.reason}`;
  const policies = p.determining_policies ?? [];
  // What Cedar answered for the approver, when the answer came from Cedar (a refusal may come before it: not pending, unknown approver).
  let expected: 'allow' | 'deny' | undefined;
  if (p.accepted) expected = 'allow';
  else if (p.reason.startsWith('forbidden by ') || p.reason === 'no policy permits this approver to approve it') expected = 'deny';
  if (expected === undefined) return { what: 'approval', text, verdict: 'recorded', detail: 'refused before Cedar was asked' };
  const pending = pendingBefore(action, index);
  const request = pending === undefined ? undefined : context.requests.get(pending.eventId);
  if (request === undefined || role === '') {
    return { what: 'approval', text, verdict: 'recorded', detail: 'the pending request or the approver’s role is not recorded' };
  }
  // The set of the decision this approval caused, else the one the action was pending under.
  const caused = action.policy.find((e) => e.type === 'PolicyDecided' && metaOf(e).causation_id === metaOf(event).causation_id);
  const hash = payloadOf<'PolicyDecided'>(caused ?? (pending as RecordedEvent)).policy_set_hash;
  const point = pointFor(hash, context, '');
  if (point === undefined) {
    return { what: 'approval', text, verdict: 'differs', differences: [`policy set ${hash} is not on the log: the approval cannot be replayed`] };
  }
  counts.approvalsReplayed++;
  const answer = authorize(point, request, { id: p.approver_id, role }, action.actionId);
  const differences: string[] = [];
  if (answer.decision !== expected) differences.push(`authorization: recorded ${expected}, ${replayedLabel(context)} ${answer.decision}`);
  if (!sameSet(answer.determiningPolicies, policies)) {
    differences.push(`determining policies: recorded ${ids(policies)}, ${replayedLabel(context)} ${ids(answer.determiningPolicies)}`);
  }
  return compared('approval', text, `${replayedLabel(context)}: ${answer.decision} by ${ids(answer.determiningPolicies)}`, differences);
}

/** The action's budget steps as the accountant replayed them (run-budget.ts): its reservation or refusals, then its settlements. */
function budgetSteps(
  action: ActionEvents,
  context: RunContext,
  budget: RunBudgetReplay,
): { readonly reservation: ReplayStep[]; readonly settlements: ReplayStep[] } {
  const checked = (event: RecordedEvent): ReplayStep =>
    budget.checks.get(event.eventId) ?? { what: 'budget', text: event.type, verdict: 'recorded', detail: 'not an event of the run’s books' };
  const reservation = [...(action.reserved === undefined ? [] : [action.reserved]), ...action.refused].map(checked);
  const settlements = [...action.settlements.map(checked), ...(budget.unrecorded.get(action.actionId) ?? [])];
  if (action.reserved !== undefined && action.settlements.length === 0 && action.completions.length > 0) {
    context.notes.push(`action ${action.actionId}: its reservation is not settled or released in the record (yet)`);
  }
  return { reservation, settlements };
}

/** Whether the recorded end follows from the record: the evidence each way of ending needs. */
function endStep(action: ActionEvents, decisions: readonly Payload<'PolicyDecided'>[], mode: string): ReplayStep | undefined {
  const [completion, ...more] = action.completions;
  if (completion === undefined) return undefined;
  const c = payloadOf<'ActionCompleted'>(completion);
  const code = (c.reason_code ?? '').toUpperCase();
  const text = `${c.status}${code === '' ? '' : ` (${code})`}${c.cost_micros > 0 ? `, cost ${c.cost_micros} micros ${c.currency}` : ''}: ${c.reason}`;
  const differences: string[] = [];
  if (more.length > 0) differences.push(`${action.completions.length} terminal events: an action ends once`);
  const decided = (d: string) => decisions.some((p) => p.decision === d);
  const outcome = action.outcome === undefined ? undefined : action.outcome.type;
  const outcomeCost = action.outcome === undefined ? 0 : payloadOf<'ActionExecuted'>(action.outcome).cost_micros;
  let because = '';
  switch (code) {
    case 'SUCCEEDED':
      if (outcome !== 'ActionExecuted') differences.push('completed as succeeded without an ActionExecuted');
      because = 'the tool’s recorded outcome';
      break;
    case 'EXECUTION_FAILED':
    case 'OUTCOME_UNKNOWN':
      if (outcome !== 'ActionFailed') differences.push(`${code.toLowerCase()} without an ActionFailed`);
      because = 'the tool’s recorded failure';
      break;
    case 'POLICY_DENIED':
      if (!decided('deny')) differences.push('denied, but no decision denied it');
      because = 'a deny';
      break;
    case 'BUDGET_REFUSED':
      if (action.refused.length === 0) differences.push('refused, but no budget refused it');
      because = 'a budget refusal';
      break;
    case 'SHADOW_WOULD_EXECUTE':
      if (!decided('allow')) differences.push('a shadow action that would execute without an allow');
      because = 'an allow in a shadow run';
      break;
    case 'SHADOW_APPROVAL_REQUIRED':
      if (!decided('approval_required')) differences.push('a shadow action that would wait for an approval without a decision asking for one');
      because = 'an approval asked for in a shadow run';
      break;
    case 'APPROVAL_TIMEOUT':
      if (!decided('approval_required')) differences.push('an approval timed out that no decision asked for');
      because = 'an approval never given';
      break;
    default:
      if (REJECTION_CODES.has(code)) {
        const rejected = action.rejected === undefined ? undefined : payloadOf<'ActionRejected'>(action.rejected).reason_code.toUpperCase();
        if (rejected !== undefined && rejected !== code) differences.push(`ended ${code}, the planner rejected it as ${rejected}`);
        because = rejected === undefined ? 'the planner' : 'the planner’s rejection';
      } else because = 'the planner’s clock (not recomputed)';
  }
  if (mode === 'shadow' && (action.execution !== undefined || outcome !== undefined)) {
    differences.push(
      `an action of a shadow run has ${outcome === undefined ? 'an execution request' : `an execution outcome (${outcomeText(action)})`}: the planner never asks to execute one`,
    );
  }
  // An action ended by its outcome carries the outcome's cost; one that expired first (its outcome late) carries none.
  const endedByOutcome = c.status === 'completed' || c.status === 'failed';
  if (c.cost_micros !== (endedByOutcome ? outcomeCost : 0))
    differences.push(`ended ${c.status} with a cost of ${c.cost_micros}, the outcome reported ${outcomeCost}`);
  return compared('end', text, `follows from ${because}`, differences);
}

function outcomeText(action: ActionEvents): string {
  if (action.outcome === undefined) return 'none';
  return action.outcome.type === 'ActionExecuted'
    ? 'executed'
    : `${payloadOf<'ActionFailed'>(action.outcome).outcome}: ${payloadOf<'ActionFailed'>(action.outcome).error_code}`;
}

/** Invariant 1: no tool runs without an allow and a reservation. */
function executionSteps(action: ActionEvents, decisions: readonly Payload<'PolicyDecided'>[]): ReplayStep[] {
  const steps: ReplayStep[] = [];
  if (action.execution !== undefined) {
    const differences: string[] = [];
    if (!decisions.some((d) => d.decision === 'allow')) differences.push('execution requested without an allow');
    if (action.reserved === undefined) differences.push('execution requested without a reservation');
    steps.push(compared('execution', 'execution requested (warrant and reservation attached)', 'an allow and a reservation precede it', differences));
  }
  if (action.outcome !== undefined) {
    const text =
      action.outcome.type === 'ActionExecuted'
        ? (() => {
            const o = payloadOf<'ActionExecuted'>(action.outcome);
            return `executed: cost ${o.cost_micros} micros ${o.currency}, ${o.attempts} attempt(s), ${o.duration_ms} ms`;
          })()
        : (() => {
            const o = payloadOf<'ActionFailed'>(action.outcome);
            return `${o.outcome}: ${o.error_code}: ${o.message}`;
          })();
    const differences = action.execution === undefined ? ['an outcome without an execution request'] : [];
    if (differences.length > 0) steps.push(compared('execution', text, '', differences));
    else steps.push({ what: 'execution', text, verdict: 'recorded', detail: 'the tool’s outcome, from the record (nothing is called)' });
  }
  if (action.reconciled !== undefined) {
    const r = payloadOf<'OutcomeReconciled'>(action.reconciled);
    steps.push({ what: 'reconciled', text: `reconciled as ${r.outcome} by ${r.resolved_by}: ${r.note}`, verdict: 'recorded', detail: 'a person’s finding' });
  }
  return steps;
}

/** Replays a run from its recorded events (all of one run, any order). */
export function replayRun(runId: string, events: readonly RecordedEvent[], options: ReplayOptions): ReplayReport {
  const started = events.find((e) => e.type === 'RunStarted');
  const start = started === undefined ? undefined : payloadOf<'RunStarted'>(started);
  const tenant = start?.meta.tenant_id ?? (events[0] === undefined ? '' : metaOf(events[0]).tenant_id);
  const notes: string[] = [];
  const mode = start?.mode ?? 'live';
  const context: RunContext = {
    options,
    mode,
    stepsBefore: stepsBeforeOf(events),
    spendPrefixes: spendPrefixesOf(events),
    requests: requestsOf(events, options.sets.candidate),
    notes,
  };
  const groups = groupActions(events);
  const budget = replayRunBudget(runId, tenant, events, groups, options);
  notes.push(...budget.notes);
  const counts: PolicyCounts = { decisions: 0, decisionsReplayed: 0, approvals: 0, approvalsReplayed: 0 };
  const actions: ActionReplay[] = [];
  for (const action of groups) {
    const steps: ReplayStep[] = [];
    const proposal = action.proposals[0] === undefined ? undefined : payloadOf<'ActionProposed'>(action.proposals[0]);
    const admitted = action.admitted === undefined ? undefined : payloadOf<'ActionAdmitted'>(action.admitted);
    const decisions = action.policy.filter((e) => e.type === 'PolicyDecided').map((e) => payloadOf<'PolicyDecided'>(e));
    const requestVersion = decisions.map((d) => context.requests.get(d.meta.event_id)?.tool.version).find((v) => v !== undefined);
    const tool = proposal?.tool ?? admitted?.tool ?? '';
    const version = admitted?.tool_version ?? requestVersion ?? proposal?.tool_version ?? undefined;
    if (proposal === undefined) {
      steps.push({ what: 'proposed', text: 'no proposal recorded', verdict: 'differs', differences: ['events of an action the run never proposed'] });
    } else {
      steps.push({
        what: 'proposed',
        text: `by ${proposal.agent_id}: ${proposal.arguments_json} (${JSON.stringify(proposal.reason)})`,
        verdict: 'recorded',
        detail: `${action.proposals.length > 1 ? `proposed ${action.proposals.length} times (one action); ` : ''}${context.stepsBefore.get(action.actionId) ?? 0} actions before it`,
      });
    }
    if (admitted !== undefined) steps.push({ what: 'admitted', text: `admitted as ${admitted.tool}@${admitted.tool_version}`, verdict: 'recorded' });
    if (action.rejected !== undefined) {
      const r = payloadOf<'ActionRejected'>(action.rejected);
      steps.push({
        what: 'rejected',
        text: `rejected ${r.reason_code}${r.field ? ` (${r.field})` : ''}: ${r.message}`,
        verdict: 'recorded',
        detail: 'the planner’s admission',
      });
    }
    action.policy.forEach((event, i) => {
      steps.push(event.type === 'PolicyDecided' ? decisionStep(action, i, context, counts) : approvalStep(action, i, context, counts));
    });
    const budgeted = budgetSteps(action, context, budget);
    steps.push(...budgeted.reservation, ...executionSteps(action, decisions), ...budgeted.settlements);
    const end = endStep(action, decisions, mode);
    if (end === undefined) notes.push(`action ${action.actionId} (${tool}): not ended in the record (yet)`);
    else steps.push(end);
    const completion = action.completions[0] === undefined ? undefined : payloadOf<'ActionCompleted'>(action.completions[0]);
    const consequence = options.sets.candidate === undefined ? undefined : consequenceOf(steps, action);
    actions.push({
      actionId: action.actionId,
      tool,
      toolVersion: version ?? null,
      status: completion?.status,
      reasonCode: completion === undefined ? undefined : (completion.reason_code ?? '').toUpperCase(),
      steps,
      ...(consequence === undefined ? {} : { consequence }),
    });
  }

  const executed = actions.reduce((sum, a) => sum + outcomeCostOf(events, a.actionId), 0);
  const completed = events.filter((e) => e.type === 'ActionCompleted').reduce((sum, e) => sum + payloadOf<'ActionCompleted'>(e).cost_micros, 0);
  const currency = start?.limits.currency ?? (events.find((e) => e.type === 'BudgetReserved')?.payload['currency'] as string | undefined) ?? 'USD';
  const run: ReplayStep[] = [];
  if (start === undefined) run.push({ what: 'run', text: 'no RunStarted recorded', verdict: 'differs', differences: ['the run’s start is not in the record'] });
  // What the actions' ends carry is checked action by action (an action that expired before its late outcome carries none).
  const spendDifferences = budget.settledMicros === executed ? [] : [`settled ${budget.settledMicros} micros, the tools' outcomes report ${executed}`];
  run.push(
    compared(
      'run',
      `spend ${budget.settledMicros} micros ${currency} settled`,
      `= the outcomes' costs (${executed}); the actions' ends carry ${completed}; ${budget.heldMicros} micros still held`,
      spendDifferences,
    ),
  );
  const ended = events.find((e) => e.type === 'RunEnded');
  if (ended !== undefined) {
    const r = payloadOf<'RunEnded'>(ended);
    run.push({ what: 'run', text: `ended ${r.status}: ${r.reason}`, verdict: 'recorded' });
  }

  const divergences: Divergence[] = [];
  const diverging = (actionId: string | null, step: ReplayStep) => {
    if (step.verdict === 'differs') divergences.push({ actionId, what: step.what, differences: step.differences ?? [] });
  };
  for (const action of actions) for (const step of action.steps) diverging(action.actionId, step);
  for (const step of run) diverging(null, step);
  const candidate = options.sets.candidate;
  return {
    runId,
    tenant,
    agent: start?.agent_id ?? '',
    mode,
    candidate: candidate === undefined ? undefined : { hash: candidate.policySetHash, version: candidate.version },
    events: events.length,
    run,
    actions,
    divergences,
    counts: {
      ...counts,
      reservations: events.filter((e) => e.type === 'BudgetReserved').length,
      settlements: events.filter((e) => e.type === 'BudgetSettled').length,
    },
    spend: { settledMicros: budget.settledMicros, executedMicros: executed, completedMicros: completed, currency },
    budget: budget.setup,
    notes,
  };
}

/** What a candidate's last decision on an action would have made of it, when it differs from the recorded one. */
function consequenceOf(steps: readonly ReplayStep[], action: ActionEvents): string | undefined {
  const last = steps.filter((s) => s.what === 'policy').at(-1);
  if (last?.change === undefined) return undefined;
  const { from, to } = last.change;
  const ran = action.outcome !== undefined;
  const cost = action.outcome === undefined ? 0 : payloadOf<'ActionExecuted'>(action.outcome).cost_micros;
  if (ran && to === 'deny') return `${from} → ${to}: the tool would not have been called (it was, at a cost of ${cost} micros)`;
  if (ran && to === 'approval_required') return `${from} → ${to}: the tool call (cost ${cost} micros) would have waited for an approval`;
  if (to === 'allow') return `${from} → ${to}: the action would have gone on to its budget and the tool (what the tool would have done is not simulated)`;
  return `${from} → ${to}`;
}

/** The cost the tool's outcome reported for an action (0 without one). */
function outcomeCostOf(events: readonly RecordedEvent[], actionId: string): number {
  const outcome = events.find((e) => (e.type === 'ActionExecuted' || e.type === 'ActionFailed') && metaOf(e).action_id === actionId);
  return outcome === undefined ? 0 : payloadOf<'ActionExecuted'>(outcome).cost_micros;
}
