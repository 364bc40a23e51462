import { evolveAction, evolveRun } from './evolve.ts';
import { isTerminalStatus } from './model.ts';
import type { ActionState, ReadModelEvent, RunState } from './model.ts';

/** What one applied event changed, so the caller can wake whoever waits on it. */
export type ReadModelChange =
  | { readonly kind: 'run'; readonly before: RunState | undefined; readonly after: RunState }
  | { readonly kind: 'action'; readonly before: ActionState | undefined; readonly after: ActionState };

/**
 * The gateway's read model: runs and actions by id, built by folding events with the pure
 * evolveRun/evolveAction (the maps are the only mutable part, so one event costs O(1) and a
 * rebuild from the topics is linear). Also indexes the actions awaiting approval per tenant.
 */
export class GatewayReadModel {
  readonly #runs = new Map<string, RunState>();
  readonly #actions = new Map<string, ActionState>();
  readonly #awaitingApproval = new Map<string, Set<string>>();

  /** Applies one event; returns the change, or undefined when the event changed nothing. */
  apply(event: ReadModelEvent): ReadModelChange | undefined {
    if (event.type === 'RunStarted' || event.type === 'RunEnded') {
      const before = this.#runs.get(event.payload.meta.run_id);
      const after = evolveRun(before, event);
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
      if (isTerminalStatus(state.status) && state.updated_at < olderThan) {
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
    return dropped;
  }

  #indexApproval(state: ActionState): void {
    let ids = this.#awaitingApproval.get(state.tenant_id);
    if (state.status === 'awaiting_approval') {
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
