import { handleCommand } from '@writ/decider';
import { chainDecider, headOf } from './chain.ts';
import type { AppendEvent, ChainEntry, ChainEvent, ChainHead, ChainOptions, ChainState, EventSource } from './chain.ts';
import { eventHashOf } from './encoding.ts';

/** An event as the ledger consumed it: its exact bytes, what they decode to, and where they were read. */
export interface ConsumedEvent {
  readonly bytes: Uint8Array;
  readonly event_id: string;
  readonly event_type: string;
  /** The chain it goes to (chain_id = tenant). */
  readonly tenant_id: string;
  /** Its meta.run_id, meta.action_id and meta.occurred_at (the entry's hash binds them). */
  readonly run_id: string;
  readonly action_id: string | null;
  readonly occurred_at: number;
  readonly source: EventSource;
  /** When the ledger chains it (its clock). */
  readonly chained_at: number;
}

/** The command that chains a consumed event to its tenant's chain. */
export function appendCommandOf(event: ConsumedEvent): AppendEvent {
  return {
    type: 'AppendEvent',
    chain_id: event.tenant_id,
    event_id: event.event_id,
    event_type: event.event_type,
    event_hash: eventHashOf(event.bytes),
    source: event.source,
    run_id: event.run_id,
    action_id: event.action_id,
    occurred_at: event.occurred_at,
    chained_at: event.chained_at,
  };
}

/**
 * Every chain the ledger keeps (one per tenant), each folded by the chain decider. Not shared
 * between instances: exactly one writer per chain, or the chain forks.
 */
export class LedgerBook {
  readonly #decider;
  readonly #chains = new Map<string, ChainState>();

  constructor(options: ChainOptions) {
    this.#decider = chainDecider(options);
  }

  /** Chains the event (EventChained, maybe CheckpointDue), or nothing when its id is already chained. */
  append(event: ConsumedEvent): readonly ChainEvent[] {
    const state = this.#stateOf(event.tenant_id);
    const { events, state: next } = handleCommand(this.#decider, state, appendCommandOf(event));
    this.#chains.set(event.tenant_id, next);
    return events;
  }

  /** Folds an entry read back from the chain topic (boot, or after an aborted transaction). */
  restoreEntry(entry: ChainEntry, chainedAt: number): void {
    this.#chains.set(entry.chain_id, this.#decider.evolve(this.#stateOf(entry.chain_id), { type: 'EventChained', entry, chained_at: chainedAt }));
  }

  restoreCheckpoint(head: ChainHead): void {
    const state = this.#chains.get(head.chain_id);
    if (state !== undefined) this.#chains.set(head.chain_id, this.#decider.evolve(state, { type: 'CheckpointDue', head }));
  }

  head(chainId: string): ChainHead | undefined {
    const state = this.#chains.get(chainId);
    return state === undefined ? undefined : headOf(state);
  }

  heads(): ChainHead[] {
    return [...this.#chains.values()].flatMap((state) => headOf(state) ?? []);
  }

  clear(): void {
    this.#chains.clear();
  }

  #stateOf(chainId: string): ChainState {
    return this.#chains.get(chainId) ?? this.#decider.initialState();
  }
}
