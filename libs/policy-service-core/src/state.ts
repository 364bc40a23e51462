import { describeApprovalStep } from '@writ/contracts';
import type { ActionCompleted, ActionProposed, ApprovalRecorded, BudgetReserved, PolicyDecided, PolicyDecision, RunStats } from '@writ/contracts';
import { BUDGET_APPROVAL_POLICY, HistoryIndex } from '@writ/policy-engine';
import type { ApprovalGrant, DecisionRequest, HistoryDecision } from '@writ/policy-engine';

/**
 * What a run had done when one of its proposals arrived, as the PDP counts it from the log (the
 * currency of RunStats comes with the tool, resolved when deciding).
 */
export interface RunCounts {
  /** The run's proposals seen before this one (distinct action ids). */
  readonly steps: number;
  /** Sum of cost_micros of the run's ActionCompleted events seen before this proposal. */
  readonly spend_micros: number;
  /** The run's proposals of the same tool whose occurred_at lies within the rate window before this one's. */
  readonly tool_calls_in_window: number;
}

/** What the PDP remembers of a proposed action until it ends. */
export interface ProposedAction {
  readonly action_id: string;
  readonly tenant: string;
  readonly run_id: string;
  readonly agent_id: string;
  readonly tool: string;
  /** The version the agent asked for; null: the registry's latest (resolved when deciding). */
  readonly requested_version: string | null;
  readonly arguments_json: string;
  readonly args_sha256: string;
  /** meta.occurred_at of the proposal: the rate window is counted back from it. */
  readonly occurred_at: number;
  /** event_id of the ActionProposed: the causation of the first decision. */
  readonly proposed_event_id: string;
  /** The run's counts before this proposal, taken when it was first folded. */
  readonly counts: RunCounts;
  /** shadow: the proposal's run never executes (ActionProposed v2 `mode`); absent in states of before: live. */
  readonly shadow?: boolean;
}

export interface ActionRecord {
  /** Dropped once the action is terminal (its arguments are no longer needed). */
  readonly proposed: ProposedAction | undefined;
  /**
   * The proposal is counted in its run's tally. Kept after the action ended: a redelivered
   * proposal is never counted twice, and a proposal read after its ActionCompleted (the two are on
   * different topics) is still counted once.
   */
  readonly counted: boolean;
  /** The latest decision emitted; undefined while undecided. */
  readonly decision: PolicyDecision | undefined;
  /**
   * The run statistics the action's first decision saw (PolicyDecided v3). A re-decision after an
   * approval uses them, not a fresh count: the count a rebuild makes may differ from the live one
   * (its topics are read in another interleaving), and the approver approved what was decided.
   * null while undecided, and for decisions recorded before v3.
   */
  readonly run_stats: RunStats | null;
  /** occurred_at of the action's first approval_required decision: its escalation is counted from it. null: never pending. */
  readonly pending_since: number | null;
  /** The permit that asked for the approval (approval_requirement.policy_id of the latest pending decision). */
  readonly pending_policy: string | null;
  /** Accepted "approve" verdicts, in the order they were recorded (one per approver). */
  readonly approvals: readonly ApprovalGrant[];
  readonly terminal: boolean;
  /**
   * Why a budget wants a person's approval first (its reservation reached the budget's approval
   * step, BudgetReserved.approval_step): an allow without approvals becomes approval_required.
   */
  readonly budget_approval?: string;
}

/** One run's tally, the source of RunCounts. */
export interface RunTally {
  readonly steps: number;
  readonly spend_micros: number;
  /**
   * Per tool name, the occurred_at of the run's proposals of it. Only those within the rate window
   * of the newest are kept: an older one can no longer be in any window that matters, and a long
   * run's memory stays bounded by its rate.
   */
  readonly calls: ReadonlyMap<string, readonly number[]>;
}

/**
 * The PDP's memory, rebuilt at boot by folding writ.proposals.v1, writ.actions.v1,
 * writ.policy.v1 (its own outputs included) and writ.approvals.v1, then kept current by folding
 * each input and each output it produced.
 */
export interface PdpState {
  /** The rate window of tool_calls_in_window (WRIT_POLICY_RATE_WINDOW_MS). */
  readonly rateWindowMs: number;
  readonly actions: Map<string, ActionRecord>;
  /** Per run (keyed by runKey), what the PDP has counted of it. */
  readonly runs: Map<string, RunTally>;
  /** event_ids of the ApprovalSubmitted events already answered by an ApprovalRecorded. */
  readonly answeredSubmissions: Set<string>;
  /** The decisions of the history horizon (WRIT_POLICY_HISTORY_HORIZON_MS), which the policies' history facts are computed from. */
  readonly history: HistoryIndex;
}

/** The events the PDP folds; anything else on its topics (ActionAdmitted included) is ignored. */
export type PdpEvent =
  | { readonly type: 'ActionProposed'; readonly payload: ActionProposed }
  | { readonly type: 'PolicyDecided'; readonly payload: PolicyDecided }
  | { readonly type: 'ApprovalRecorded'; readonly payload: ApprovalRecorded }
  | { readonly type: 'ActionCompleted'; readonly payload: ActionCompleted }
  /** Only those with an approval_step matter. */
  | { readonly type: 'BudgetReserved'; readonly payload: BudgetReserved };

export const DEFAULT_RATE_WINDOW_MS = 60_000;
export const DEFAULT_HISTORY_HORIZON_MS = 24 * 60 * 60_000;

export function emptyPdpState(rateWindowMs: number = DEFAULT_RATE_WINDOW_MS, historyHorizonMs: number = DEFAULT_HISTORY_HORIZON_MS): PdpState {
  if (!Number.isSafeInteger(rateWindowMs) || rateWindowMs <= 0) {
    throw new RangeError(`rateWindowMs must be a positive integer of milliseconds, got ${rateWindowMs}`);
  }
  return { rateWindowMs, actions: new Map(), runs: new Map(), answeredSubmissions: new Set(), history: new HistoryIndex(historyHorizonMs) };
}

/** A decision as the history index reads it (with the request it carries in request_json); undefined for one about no action. */
export function historyDecisionOf(decided: PolicyDecided): HistoryDecision | undefined {
  if (decided.meta.action_id === null) return undefined;
  let request: DecisionRequest | undefined;
  try {
    request = decided.request_json === '' ? undefined : (JSON.parse(decided.request_json) as DecisionRequest);
  } catch {
    request = undefined;
  }
  return {
    actionId: decided.meta.action_id,
    tenant: decided.meta.tenant_id,
    runId: decided.meta.run_id,
    occurredAt: decided.meta.occurred_at,
    decision: decided.decision,
    ...(request === undefined ? {} : { request }),
  };
}

const EMPTY: ActionRecord = {
  proposed: undefined,
  counted: false,
  decision: undefined,
  run_stats: null,
  pending_since: null,
  pending_policy: null,
  approvals: [],
  terminal: false,
};
const EMPTY_TALLY: RunTally = { steps: 0, spend_micros: 0, calls: new Map() };

/** The key of a run in PdpState.runs (run ids are unique per tenant only). */
export function runKey(tenant: string, runId: string): string {
  return JSON.stringify([tenant, runId]);
}

/** The run's counts as a proposal of `tool` at `occurredAt` would see them now (it not counted yet). */
export function countsBefore(state: PdpState, tenant: string, runId: string, tool: string, occurredAt: number): RunCounts {
  const tally = state.runs.get(runKey(tenant, runId)) ?? EMPTY_TALLY;
  const from = occurredAt - state.rateWindowMs;
  let calls = 0;
  for (const at of tally.calls.get(tool) ?? []) if (at > from && at <= occurredAt) calls += 1;
  return { steps: tally.steps, spend_micros: tally.spend_micros, tool_calls_in_window: calls };
}

/** The proposal as the PDP remembers it, with the run's counts it sees; undefined without an action_id. */
export function proposedActionOf(state: PdpState, event: ActionProposed): ProposedAction | undefined {
  const { meta } = event;
  if (meta.action_id === null) return undefined;
  return {
    action_id: meta.action_id,
    tenant: meta.tenant_id,
    run_id: meta.run_id,
    agent_id: event.agent_id,
    tool: event.tool,
    requested_version: event.tool_version,
    arguments_json: event.arguments_json,
    args_sha256: event.args_sha256,
    occurred_at: meta.occurred_at,
    proposed_event_id: meta.event_id,
    counts: countsBefore(state, meta.tenant_id, meta.run_id, event.tool, meta.occurred_at),
    ...(event.mode === 'shadow' ? { shadow: true } : {}),
  };
}

/** The decision is the approval a budget's approval step asks for, of an action allowed without approvals. */
function isBudgetApproval(decided: PolicyDecided, record: ActionRecord): boolean {
  return decided.decision === 'approval_required' && decided.approval_requirement?.policy_id === BUDGET_APPROVAL_POLICY && record.approvals.length === 0;
}

function update(state: PdpState, actionId: string | null, change: (record: ActionRecord) => ActionRecord): void {
  if (actionId === null) return;
  state.actions.set(actionId, change(state.actions.get(actionId) ?? EMPTY));
}

function tally(state: PdpState, tenant: string, runId: string, change: (tally: RunTally) => RunTally): void {
  const key = runKey(tenant, runId);
  state.runs.set(key, change(state.runs.get(key) ?? EMPTY_TALLY));
}

/** The run's tally with one more proposal of `tool` at `at`, pruned to the rate window of the newest. */
function withProposal(current: RunTally, tool: string, at: number, windowMs: number): RunTally {
  const times = [...(current.calls.get(tool) ?? []), at];
  // The newest, not this one: a proposal stamped earlier than one already seen prunes nothing newer.
  const newest = times.reduce((max, t) => (t > max ? t : max), at);
  const calls = new Map(current.calls);
  calls.set(
    tool,
    times.filter((t) => t > newest - windowMs),
  );
  return { ...current, steps: current.steps + 1, calls };
}

/**
 * Folds one event into the state (in place: the state is the service's working memory). Folding
 * the same event twice changes nothing, so a redelivered input or a replayed output is harmless.
 */
export function evolvePdpState(state: PdpState, event: PdpEvent): void {
  switch (event.type) {
    case 'ActionProposed': {
      const proposal = event.payload;
      const actionId = proposal.meta.action_id;
      if (actionId === null || state.actions.get(actionId)?.counted === true) return;
      const proposed = proposedActionOf(state, proposal);
      update(state, actionId, (record) => ({ ...record, counted: true, proposed: record.terminal ? undefined : proposed }));
      tally(state, proposal.meta.tenant_id, proposal.meta.run_id, (current) =>
        withProposal(current, proposal.tool, proposal.meta.occurred_at, state.rateWindowMs),
      );
      return;
    }
    case 'PolicyDecided': {
      const decided = event.payload;
      update(state, decided.meta.action_id, (record) => ({
        ...record,
        // A final decision is never replaced by a pending one (a redelivery cannot reopen it), except
        // an allow without approvals by the approval a budget asks for once it reached its step.
        decision: record.decision === 'deny' || (record.decision === 'allow' && !isBudgetApproval(decided, record)) ? record.decision : decided.decision,
        // The first decision's statistics stay: every later decision of the action reuses them.
        run_stats: record.run_stats ?? decided.run_stats,
        ...(decided.decision === 'approval_required'
          ? {
              pending_since: record.pending_since ?? decided.meta.occurred_at,
              pending_policy: decided.approval_requirement?.policy_id ?? record.pending_policy,
            }
          : {}),
      }));
      const forHistory = historyDecisionOf(decided);
      if (forHistory !== undefined) state.history.record(forHistory);
      return;
    }
    case 'ApprovalRecorded': {
      const recorded = event.payload;
      const submission = recorded.meta.causation_id;
      if (submission !== null) state.answeredSubmissions.add(submission);
      if (!recorded.accepted || recorded.verdict !== 'approve') return;
      update(state, recorded.meta.action_id, (record) =>
        record.approvals.some((a) => a.approverId === recorded.approver_id)
          ? record
          : { ...record, approvals: [...record.approvals, { approverId: recorded.approver_id, role: recorded.approver_role }] },
      );
      return;
    }
    case 'BudgetReserved': {
      const step = event.payload.approval_step;
      if (step === null) return;
      update(state, event.payload.meta.action_id, (record) =>
        record.budget_approval === undefined ? { ...record, budget_approval: describeApprovalStep(step) } : record,
      );
      return;
    }
    case 'ActionCompleted': {
      const completed = event.payload;
      const actionId = completed.meta.action_id;
      // One terminal event per action: a redelivered one is not spent twice.
      if (actionId === null || state.actions.get(actionId)?.terminal === true) return;
      update(state, actionId, (record) => ({ ...record, proposed: undefined, terminal: true }));
      if (completed.cost_micros !== 0) {
        tally(state, completed.meta.tenant_id, completed.meta.run_id, (current) => ({
          ...current,
          spend_micros: current.spend_micros + completed.cost_micros,
        }));
      }
      return;
    }
    default: {
      const never: never = event;
      throw new Error(`unexpected event ${JSON.stringify(never)}`);
    }
  }
}
