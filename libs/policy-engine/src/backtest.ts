// Backtest: replay recorded decisions (the request each PolicyDecided v5 carries, as Cedar saw it
// then: arguments, run statistics, approvals) against a candidate policy set, and report what would
// have been decided otherwise. Deterministic: the request is the recorded one, never rebuilt from
// today's directory or registry, so the enforced set replayed on its own history gives back every
// recorded decision. Identical requests are decided once (a history repeats itself a lot).
import { describeError, isWritError } from '@writ/errors';
import { backtestKey } from './backtest-key.ts';
import type { DecisionPoint } from './decision-point.ts';
import { HistoryIndex, longestWindowMs } from './history.ts';
import type { HistoryValue } from './history.ts';
import type { Decision, DecisionRequest, PolicyDecision } from './types.ts';
import { BUDGET_APPROVAL_POLICY } from './types.ts';

/** One recorded decision, with the request it was made on (undefined: recorded before v5, or refused without Cedar). */
export interface RecordedDecision {
  readonly actionId: string;
  readonly runId: string;
  readonly tenant: string;
  readonly tool: string;
  readonly occurredAt: number;
  readonly decision: PolicyDecision;
  readonly determiningPolicies: readonly string[];
  readonly policySetHash: string;
  readonly request: DecisionRequest | undefined;
}

/** The fields of a PolicyDecided payload a backtest reads (the event, or its JSON in ClickHouse's events table). */
export interface PolicyDecidedLike {
  readonly meta: { readonly tenant_id: string; readonly run_id: string; readonly action_id: string | null; readonly occurred_at: number };
  readonly decision: PolicyDecision;
  readonly determining_policies: readonly string[];
  readonly policy_set_hash: string;
  readonly request_json?: string;
  readonly approval_requirement?: { readonly policy_id: string } | null;
}

export interface BacktestExample {
  readonly actionId: string;
  readonly runId: string;
  readonly tenant: string;
  readonly tool: string;
  readonly occurredAt: number;
  readonly recorded: PolicyDecision;
  readonly candidate: PolicyDecision;
  readonly recordedPolicies: readonly string[];
  readonly candidatePolicies: readonly string[];
}

export interface BacktestTally {
  readonly replayed: number;
  readonly changed: number;
  /** "allow->deny" etc.: decisions that would change, by recorded and candidate decision. */
  readonly transitions: Readonly<Record<string, number>>;
}

export interface BacktestReport {
  readonly candidateHash: string;
  readonly candidateVersion: string;
  /** Recorded decisions read. */
  readonly total: number;
  /** Replayed against the candidate (the others carry no request). */
  readonly replayed: number;
  readonly skipped: number;
  readonly unchanged: number;
  /** A different decision. */
  readonly changed: number;
  /** Same decision, other determining policies (a rule that would now be the reason). */
  readonly reasonChanged: number;
  readonly transitions: Readonly<Record<string, number>>;
  /** Per policy that determines a changed decision, on either side. */
  readonly byPolicy: Readonly<Record<string, BacktestTally>>;
  readonly byTool: Readonly<Record<string, BacktestTally>>;
  /** A few changed decisions per transition, oldest first. */
  readonly examples: readonly BacktestExample[];
  /** Distinct requests put to Cedar (with a shared cache: by every call so far). */
  readonly distinctRequests: number;
}

/** A recorded decision from a PolicyDecided payload; undefined for one about no action. */
export function recordedDecisionOf(payload: PolicyDecidedLike, tool = ''): RecordedDecision | undefined {
  if (payload.meta.action_id === null) return undefined;
  let request: DecisionRequest | undefined;
  if (payload.request_json !== undefined && payload.request_json !== '') request = JSON.parse(payload.request_json) as DecisionRequest;
  return {
    actionId: payload.meta.action_id,
    runId: payload.meta.run_id,
    tenant: payload.meta.tenant_id,
    tool: request?.tool.name ?? tool,
    occurredAt: payload.meta.occurred_at,
    // A budget's approval step asked for that approval: what the policies decided was an allow.
    decision: payload.approval_requirement?.policy_id === BUDGET_APPROVAL_POLICY ? 'allow' : payload.decision,
    determiningPolicies: payload.determining_policies,
    policySetHash: payload.policy_set_hash,
    request,
  };
}

const sameIds = (a: readonly string[], b: readonly string[]): boolean => {
  const left = [...new Set(a)].sort();
  const right = [...new Set(b)].sort();
  return left.length === right.length && left.every((id, i) => id === right[i]);
};

/**
 * Cedar evaluations a backtest's decision point remembers (createDecisionPoint's evaluationCache):
 * requests that differ only in arguments no policy reads (a ticket id, a currency) are
 * evaluated by Cedar once. Each is a sha256 and an answer, so a few tens of MB at most.
 */
export const BACKTEST_EVALUATION_CACHE = 100_000;

/** The candidate's answer to a request, as backtest() caches it. */
export type BacktestAnswer = Pick<Decision, 'decision' | 'determiningPolicies'>;

/** The candidate's answer to a recorded request (what backtest() caches); exported for callers that decide elsewhere (a worker thread). */
export function decideOrRefuse(candidate: DecisionPoint, request: DecisionRequest): BacktestAnswer {
  try {
    return candidate.decide(request);
  } catch (error) {
    // The PDP refuses (denies) a request Cedar cannot evaluate; so does the replay.
    if (isWritError(error)) return { decision: 'deny', determiningPolicies: [] };
    throw new Error(`backtest: ${describeError(error)}`);
  }
}

interface MutableTally {
  replayed: number;
  changed: number;
  transitions: Record<string, number>;
}

const tallyOf = (tallies: Map<string, MutableTally>, key: string): MutableTally => {
  let tally = tallies.get(key);
  if (tally === undefined) {
    tally = { replayed: 0, changed: 0, transitions: {} };
    tallies.set(key, tally);
  }
  return tally;
};

/** The candidate's answers by request digest: pass one to several backtest() calls (pages of one history) to decide each distinct request once. */
export type BacktestCache = Map<string, BacktestAnswer>;

/**
 * The candidate's history facts for a recorded request: a fact recorded with the same definition
 * keeps the value the PDP computed then; any other (a new or changed fact) is computed from the
 * decisions replayed before it, as the PDP would have computed it.
 */
function withCandidateHistory(record: RecordedDecision, request: DecisionRequest, candidate: DecisionPoint, index: HistoryIndex): DecisionRequest {
  const subject = { actionId: record.actionId, tenant: record.tenant, runId: record.runId, agent: request.agent.id, arguments: request.arguments };
  const history: Record<string, HistoryValue> = {};
  for (const fact of candidate.history) {
    const recorded = request.historyFacts?.[fact.name] === fact.text ? request.history?.[fact.name] : undefined;
    history[fact.name] = recorded ?? index.value(fact, subject, record.occurredAt);
  }
  return { ...request, history, historyFacts: Object.fromEntries(candidate.history.map((f) => [f.name, f.text])) };
}

/** Where the candidate's history facts come from, and which records only feed them. */
export interface BacktestHistoryOptions {
  /**
   * The history the candidate's facts are computed from, shared by the pages of one backtest
   * (pass the same index to each call). Default: a new one per call.
   */
  readonly history?: HistoryIndex;
  /** Records before this time (ms) only feed the history (a window's warm-up): they are neither replayed nor counted. */
  readonly reportFrom?: number;
}

/**
 * The records a backtest replays, in order, each with the request the candidate decides: its
 * history facts computed from the records before it (what happened then, not what the candidate
 * would have decided). Warm-up records feed the history and are left out. Applying it twice changes
 * nothing (a fact already computed for the candidate keeps its value), so a caller may compute the
 * requests first and hand them to backtest() (the worker pool does).
 */
export function* withCandidateFacts(
  records: Iterable<RecordedDecision>,
  candidate: DecisionPoint,
  options: BacktestHistoryOptions = {},
): Generator<RecordedDecision> {
  const facts = candidate.history.length > 0;
  const index = options.history ?? (facts ? new HistoryIndex(longestWindowMs(candidate.history)) : undefined);
  for (const record of records) {
    const recorded = record.request;
    const warmUp = options.reportFrom !== undefined && record.occurredAt < options.reportFrom;
    const request = recorded === undefined || warmUp || index === undefined || !facts ? recorded : withCandidateHistory(record, recorded, candidate, index);
    index?.record({
      actionId: record.actionId,
      tenant: record.tenant,
      runId: record.runId,
      occurredAt: record.occurredAt,
      decision: record.decision,
      ...(recorded === undefined ? {} : { request: recorded }),
    });
    if (!warmUp) yield request === recorded ? record : { ...record, request };
  }
}

/** Replays recorded decisions against a candidate policy set. */
export function backtest(
  records: Iterable<RecordedDecision>,
  candidate: DecisionPoint,
  options: BacktestHistoryOptions & {
    readonly examplesPerTransition?: number;
    readonly cache?: BacktestCache;
    /**
     * The key (backtestKey) of each record's request, in the records' order, when the caller has
     * computed them already (undefined for a record without one); not with `reportFrom`.
     */
    readonly keys?: readonly (string | undefined)[];
  } = {},
): BacktestReport {
  const examplesPerTransition = options.examplesPerTransition ?? 3;
  const cache: BacktestCache = options.cache ?? new Map();
  const transitions: Record<string, number> = {};
  const byPolicy = new Map<string, MutableTally>();
  const byTool = new Map<string, MutableTally>();
  const examples: BacktestExample[] = [];
  const examplesOf = new Map<string, number>();
  let total = 0;
  let replayed = 0;
  let changed = 0;
  let reasonChanged = 0;
  const replaying = candidate.history.length > 0 || options.reportFrom !== undefined ? withCandidateFacts(records, candidate, options) : records;
  // The given keys are the records' in order: withCandidateFacts keeps every record without reportFrom.
  const keys = options.reportFrom === undefined ? options.keys : undefined;
  for (const record of replaying) {
    const index = total++;
    const request = record.request;
    if (request === undefined) continue;
    replayed++;
    // A digest, not the canonical text, keys the cache: a long history holds many distinct requests.
    const key = keys?.[index] ?? backtestKey(request);
    let answer = cache.get(key);
    if (answer === undefined) {
      answer = decideOrRefuse(candidate, request);
      cache.set(key, answer);
    }
    const tool = tallyOf(byTool, record.tool);
    tool.replayed++;
    if (answer.decision === record.decision) {
      if (!sameIds(answer.determiningPolicies, record.determiningPolicies)) reasonChanged++;
      continue;
    }
    changed++;
    const transition = `${record.decision}->${answer.decision}`;
    transitions[transition] = (transitions[transition] ?? 0) + 1;
    tool.changed++;
    tool.transitions[transition] = (tool.transitions[transition] ?? 0) + 1;
    for (const policyId of new Set([...record.determiningPolicies, ...answer.determiningPolicies])) {
      const policy = tallyOf(byPolicy, policyId);
      policy.changed++;
      policy.transitions[transition] = (policy.transitions[transition] ?? 0) + 1;
    }
    const shown = examplesOf.get(transition) ?? 0;
    if (shown < examplesPerTransition) {
      examplesOf.set(transition, shown + 1);
      examples.push({
        actionId: record.actionId,
        runId: record.runId,
        tenant: record.tenant,
        tool: record.tool,
        occurredAt: record.occurredAt,
        recorded: record.decision,
        candidate: answer.decision,
        recordedPolicies: record.determiningPolicies,
        candidatePolicies: answer.determiningPolicies,
      });
    }
  }
  return {
    candidateHash: candidate.policySetHash,
    candidateVersion: candidate.version,
    total,
    replayed,
    skipped: total - replayed,
    unchanged: replayed - changed,
    changed,
    reasonChanged,
    transitions,
    byPolicy: Object.fromEntries([...byPolicy].sort(([a], [b]) => a.localeCompare(b))),
    byTool: Object.fromEntries([...byTool].sort(([a], [b]) => a.localeCompare(b))),
    examples,
    distinctRequests: cache.size,
  };
}
