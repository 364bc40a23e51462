// A policy stream: the sequence of policy sets published for the PDP instances that share its
// name (WRIT_POLICY_STREAM). Folded from writ.policysets.v1 in log order, so every instance
// reaches the same current set: a publication applies only if it names the stream's current set
// as its previous one (optimistic concurrency on the log), else it is a conflict and changes
// nothing (two admins publishing at once: the first on the log wins, the second is told).
import type { PolicySetPublished } from '@writ/contracts';

export interface PolicyStreamState {
  readonly stream: string;
  /** The publications that applied, in log order; the last is the current set. */
  readonly applied: PolicySetPublished[];
}

export type PublicationOutcome = { readonly applied: true } | { readonly applied: false; readonly reason: string };

export function emptyPolicyStream(stream: string): PolicyStreamState {
  return { stream, applied: [] };
}

export function currentSet(state: PolicyStreamState): PolicySetPublished | undefined {
  return state.applied.at(-1);
}

/** The latest applied publication of a policy set hash (a rollback republishes an earlier one's content). */
export function publicationOf(state: PolicyStreamState, hash: string): PolicySetPublished | undefined {
  return state.applied.findLast((p) => p.policy_set_hash === hash);
}

/** Applies a publication read from the log, or says why it does not apply. Deterministic: the same log gives the same stream. */
export function foldPublication(state: PolicyStreamState, event: PolicySetPublished): PublicationOutcome {
  if (event.stream !== state.stream) return { applied: false, reason: `it belongs to the stream ${event.stream}` };
  const head = currentSet(state);
  const expected = head?.policy_set_hash ?? null;
  if (event.previous_hash !== expected) {
    return {
      applied: false,
      reason: `it replaces ${event.previous_hash ?? 'no set'} but the stream's current set is ${expected ?? 'none'} (published meanwhile)`,
    };
  }
  if (event.sequence !== (head?.sequence ?? 0) + 1) {
    return { applied: false, reason: `its sequence is ${event.sequence}, the stream's next is ${(head?.sequence ?? 0) + 1}` };
  }
  state.applied.push(event);
  return { applied: true };
}
