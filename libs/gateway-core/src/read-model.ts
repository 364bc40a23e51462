import { evolveAction, evolveRun } from './evolve.ts';
import { awaitsReconciliation, isTerminalStatus } from './model.ts';
import type { ActionState, ReadModelEvent, RunEvent, RunState } from './model.ts';

type RunEnded = Extract<RunEvent, { type: 'RunEnded' }>;

/** What one applied event changed, so the caller can wake whoever waits on it. */
export type ReadModelChange =
  | { readonly kind: 'run'; readonly before: RunState | undefined; readonly after: RunState }
  | { readonly kind: 'action'; readonly before: ActionState | undefined; readonly after: ActionState };

/**
 * The gateway's read model: runs and actions by id, built by folding events with the pure
 * evolveRun/evolveAction (the maps are the only mutable part, so one event costs O(1) and a
 * rebuild from the topics is linear). Also indexes the actions awaiting approval per tenant.
 */
/** Actions kept per agent and tool for previousSimilar (recent ones; older ones fall out). */
const SIMILAR_KEPT = 16;
const similarKey = (state: ActionState): string => `${state.tenant_id}|${state.agent_id ?? ''}|${state.tool ?? ''}`;

/** A tenant's actions waiting on a person (GatewayReadModel.queues). */
export interface TenantQueues {
  readonly tenant: string;
  readonly awaiting_approval: number;
  /** When the longest-waiting approval was asked for (ms since the epoch); null when none waits. */
  readonly oldest_approval_since: number | null;
  readonly awaiting_reconciliation: number;
}

export class GatewayReadModel {
  readonly #runs = new Map<string, RunState>();
  readonly #actions = new Map<string, ActionState>();
  readonly #awaitingApproval = new Map<string, Set<string>>();
  /** Actions of each tenant whose outcome is unknown and not reconciled yet (the operators' queue). */
  readonly #unreconciled = new Map<string, Set<string>>();
  /** The latest actions of each agent and tool of a tenant (SIMILAR_KEPT, ids), for an approver to compare with. */
  readonly #byAgentTool = new Map<string, string[]>();
  /**
   * RunEnded read before its run's RunStarted: the gateway's RunStarted (writ.proposals.v1) and the
   * planner's RunEnded (writ.actions.v1) are on two topics, read concurrently. Held (the run's
   * agent is not known yet, so the run cannot be shown) and applied when the start arrives.
   */
  readonly #earlyEnds = new Map<string, RunEnded>();

  /** Applies one event; returns the change, or undefined when the event changed nothing. */
  apply(event: ReadModelEvent): ReadModelChange | undefined {
    if (event.type === 'RunStarted' || event.type === 'RunEnded') {
      const runId = event.payload.meta.run_id;
      const before = this.#runs.get(runId);
      if (event.type === 'RunEnded' && before === undefined) {
        if (!this.#earlyEnds.has(runId)) this.#earlyEnds.set(runId, event);
        return undefined;
      }
      let after = evolveRun(before, event);
      const early = this.#earlyEnds.get(runId);
      if (early !== undefined && after !== undefined) {
        this.#earlyEnds.delete(runId);
        after = evolveRun(after, early);
      }
      if (after === undefined || after === before) return undefined;
      this.#runs.set(after.run_id, after);
      return { kind: 'run', before, after };
    }
    const actionId = event.payload.meta.action_id;
    if (actionId === null) return undefined;
    const before = this.#actions.get(actionId);
    const after = evolveAction(before, event);
    if (after === undefined || after === before) return undefined;
    this.#actions.set(actionId, after);
    this.#indexApproval(after);
    this.#indexReconciliation(after);
    if (before?.tool == null && after.tool !== null) this.#indexSimilar(after);
    return { kind: 'action', before, after };
  }

  run(runId: string): RunState | undefined {
    return this.#runs.get(runId);
  }

  action(actionId: string): ActionState | undefined {
    return this.#actions.get(actionId);
  }

  /** Actions of a tenant awaiting approval, oldest proposal first. */
  awaitingApproval(tenantId: string): ActionState[] {
    const ids = this.#awaitingApproval.get(tenantId);
    if (ids === undefined) return [];
    return [...ids]
      .map((id) => this.#actions.get(id))
      .filter((state): state is ActionState => state !== undefined)
      .sort((a, b) => (a.proposed_at ?? a.updated_at) - (b.proposed_at ?? b.updated_at));
  }

  /** Actions of a tenant whose outcome is unknown and unresolved, the longest unknown first. */
  awaitingReconciliation(tenantId: string): ActionState[] {
    const ids = this.#unreconciled.get(tenantId);
    if (ids === undefined) return [];
    return [...ids]
      .map((id) => this.#actions.get(id))
      .filter((state): state is ActionState => state !== undefined)
      .sort((a, b) => (a.unknown_outcome?.since ?? a.updated_at) - (b.unknown_outcome?.since ?? b.updated_at));
  }

  /**
   * Per tenant with actions waiting on a person: how many await approval and since when the oldest
   * has waited (the policy's request, else its proposal), and how many await reconciliation.
   * O(actions waiting), not O(actions).
   */
  queues(): TenantQueues[] {
    const tenants = new Set([...this.#awaitingApproval.keys(), ...this.#unreconciled.keys()]);
    return [...tenants].map((tenant) => {
      let oldest: number | null = null;
      for (const id of this.#awaitingApproval.get(tenant) ?? []) {
        const state = this.#actions.get(id);
        if (state === undefined) continue;
        const since = state.approval_requested_at ?? state.proposed_at ?? state.updated_at;
        if (oldest === null || since < oldest) oldest = since;
      }
      return {
        tenant,
        awaiting_approval: this.#awaitingApproval.get(tenant)?.size ?? 0,
        oldest_approval_since: oldest,
        awaiting_reconciliation: this.#unreconciled.get(tenant)?.size ?? 0,
      };
    });
  }

  /**
   * The same agent's latest action of the same tool proposed before this one (any run of the
   * tenant), still in the model: what an approver compares a request with.
   */
  previousSimilar(state: ActionState): ActionState | undefined {
    if (state.agent_id === null || state.tool === null || state.proposed_at === null) return undefined;
    const proposedAt = state.proposed_at;
    let found: ActionState | undefined;
    for (const id of this.#byAgentTool.get(similarKey(state)) ?? []) {
      const other = this.#actions.get(id);
      if (other === undefined || other.action_id === state.action_id || other.proposed_at === null || other.proposed_at >= proposedAt) continue;
      if (found === undefined || (found.proposed_at ?? 0) < other.proposed_at) found = other;
    }
    return found;
  }

  /**
   * A tenant's runs in the model, the latest started first, at most `limit`; `search` keeps those
   * whose id, agent or goal contains it (case-insensitive). O(runs): for the console, not the hot path.
   */
  runsOf(tenantId: string, options: { readonly search?: string; readonly limit: number }): RunState[] {
    const needle = options.search?.trim().toLowerCase() ?? '';
    const matches = (run: RunState): boolean =>
      needle === '' || run.run_id.includes(needle) || run.agent_id.toLowerCase().includes(needle) || run.goal.toLowerCase().includes(needle);
    return [...this.#runs.values()]
      .filter((run) => run.tenant_id === tenantId && matches(run))
      .sort((a, b) => b.started_at - a.started_at)
      .slice(0, options.limit);
  }

  /** A run's actions in the model, in the order they were proposed (the run's timeline). O(actions). */
  actionsOfRun(runId: string): ActionState[] {
    return [...this.#actions.values()]
      .filter((state) => state.run_id === runId)
      .sort((a, b) => (a.proposed_at ?? a.updated_at) - (b.proposed_at ?? b.updated_at));
  }

  /** A tenant's actions that asked for an approval and no longer wait for one (approved, denied, expired), the latest change first. O(actions). */
  decidedApprovals(tenantId: string, limit: number): ActionState[] {
    return [...this.#actions.values()]
      .filter((state) => state.tenant_id === tenantId && state.approval_requested_at !== null && state.status !== 'awaiting_approval')
      .sort((a, b) => b.updated_at - a.updated_at)
      .slice(0, limit);
  }

  get size(): { readonly runs: number; readonly actions: number } {
    return { runs: this.#runs.size, actions: this.#actions.size };
  }

  /**
   * Forgets terminal actions and ended runs whose last change is older than `olderThan` (ms since
   * the epoch), so the model does not grow forever. Returns how many entries were dropped.
   */
  prune(olderThan: number): number {
    let dropped = 0;
    for (const [id, state] of this.#actions) {
      // An unknown outcome stays until an operator resolves it, however old (it is in their queue).
      if (isTerminalStatus(state.status) && state.updated_at < olderThan && !awaitsReconciliation(state)) {
        this.#actions.delete(id);
        dropped += 1;
      }
    }
    for (const [id, state] of this.#runs) {
      if (state.ended_at !== null && state.ended_at < olderThan) {
        this.#runs.delete(id);
        dropped += 1;
      }
    }
    for (const [key, ids] of this.#byAgentTool) {
      const kept = ids.filter((id) => this.#actions.has(id));
      if (kept.length === 0) this.#byAgentTool.delete(key);
      else if (kept.length !== ids.length) this.#byAgentTool.set(key, kept);
    }
    for (const [id, end] of this.#earlyEnds) {
      if (end.payload.meta.occurred_at < olderThan) {
        this.#earlyEnds.delete(id);
        dropped += 1;
      }
    }
    return dropped;
  }

  #indexSimilar(state: ActionState): void {
    const key = similarKey(state);
    const ids = [...(this.#byAgentTool.get(key) ?? []).filter((id) => this.#actions.has(id)), state.action_id];
    this.#byAgentTool.set(key, ids.slice(-SIMILAR_KEPT));
  }

  #indexReconciliation(state: ActionState): void {
    let ids = this.#unreconciled.get(state.tenant_id);
    if (awaitsReconciliation(state)) {
      if (ids === undefined) {
        ids = new Set();
        this.#unreconciled.set(state.tenant_id, ids);
      }
      ids.add(state.action_id);
    } else if (ids?.delete(state.action_id) === true && ids.size === 0) {
      this.#unreconciled.delete(state.tenant_id);
    }
  }

  #indexApproval(state: ActionState): void {
    let ids = this.#awaitingApproval.get(state.tenant_id);
    // A shadow run's action never waits for an approver (the planner ends it as "would await approval").
    if (state.status === 'awaiting_approval' && state.run_mode !== 'shadow') {
      if (ids === undefined) {
        ids = new Set();
        this.#awaitingApproval.set(state.tenant_id, ids);
      }
      ids.add(state.action_id);
    } else if (ids?.delete(state.action_id) === true && ids.size === 0) {
      this.#awaitingApproval.delete(state.tenant_id);
    }
  }
}
