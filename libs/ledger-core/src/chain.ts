import { assertNever } from '@writ/decider';
import type { Decider } from '@writ/decider';
import { WritError } from '@writ/errors';
import { CURRENT_HASH_VERSION, GENESIS_HASH, entryChainHash, isSha256Hex } from './encoding.ts';
import type { HashedEntry } from './encoding.ts';

/** Where a chained event was read: its topic, partition and offset. */
export interface EventSource {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
}

/**
 * One link of a chain: the fields of the LedgerEntry event without its envelope and its bytes.
 * chain_hash covers every other field (hash version 2; see encoding.ts).
 */
export interface ChainEntry extends HashedEntry {
  readonly chain_hash: string;
}

/** The head of a chain: what a signed checkpoint attests. */
export interface ChainHead {
  readonly chain_id: string;
  readonly seq: number;
  readonly chain_hash: string;
}

/** Append one consumed event (by its hash) to the chain of its tenant. */
export interface AppendEvent {
  readonly type: 'AppendEvent';
  readonly chain_id: string;
  readonly event_id: string;
  readonly event_type: string;
  /** eventHashOf(the record value's bytes). */
  readonly event_hash: string;
  readonly source: EventSource;
  /** The event's meta.run_id, meta.action_id and meta.occurred_at: bound by the entry's hash. */
  readonly run_id: string;
  readonly action_id: string | null;
  readonly occurred_at: number;
  /** When it is chained (the caller's clock): starts the time a new entry may wait for its checkpoint. */
  readonly chained_at: number;
}

/** Sign the head if an entry has waited `checkpointIntervalMs` since the last checkpoint (a timer's command). */
export interface CheckpointHead {
  readonly type: 'CheckpointHead';
  readonly chain_id: string;
  readonly now: number;
}

export type ChainCommand = AppendEvent | CheckpointHead;

export interface EventChained {
  readonly type: 'EventChained';
  readonly entry: ChainEntry;
  /** When it was chained (a LedgerEntry's meta.occurred_at, read back). */
  readonly chained_at: number;
}

/**
 * The head is due to be signed and published: every `checkpointEvery` entries, and once an entry
 * has waited `checkpointIntervalMs` unsigned.
 */
export interface CheckpointDue {
  readonly type: 'CheckpointDue';
  readonly head: ChainHead;
}

export type ChainEvent = EventChained | CheckpointDue;

/**
 * Which event ids a chain holds, shared between the successive states of one chain so that
 * appending stays O(1) (a chain holds millions of ids; copying them per append would not do).
 * It is a log with truncation: an id counts as chained in a state only if its slot is below that
 * state's next_seq and still holds that id. A state that was rolled back (an aborted transaction)
 * and then extended differently overwrites the slots, so no state ever sees another's ids.
 */
export class ChainIndex {
  readonly #seqOf = new Map<string, number>();
  readonly #idAt = new Map<number, string>();

  /** The seq at which `eventId` is chained in a chain whose next seq is `nextSeq`, if it is. */
  seqOf(eventId: string, nextSeq: number): number | undefined {
    const seq = this.#seqOf.get(eventId);
    return seq !== undefined && seq < nextSeq && this.#idAt.get(seq) === eventId ? seq : undefined;
  }

  record(eventId: string, seq: number): void {
    this.#seqOf.set(eventId, seq);
    this.#idAt.set(seq, eventId);
  }

  get size(): number {
    return this.#idAt.size;
  }
}

export interface ChainState {
  /** '' until the first entry. */
  readonly chain_id: string;
  readonly next_seq: number;
  /** chain_hash of the last entry, GENESIS_HASH when empty. */
  readonly head_hash: string;
  /** Entries since the last checkpoint. */
  readonly since_checkpoint: number;
  /** When the first entry since the last checkpoint was chained; null when there is none. */
  readonly unanchored_since: number | null;
  readonly index: ChainIndex;
}

export interface ChainOptions {
  /** Sign the head every this many entries; 0 never. */
  readonly checkpointEvery: number;
  /** Sign the head once an entry has waited this long without a checkpoint (ms); 0 or absent: never by time. */
  readonly checkpointIntervalMs?: number;
}

export function initialChainState(): ChainState {
  return { chain_id: '', next_seq: 0, head_hash: GENESIS_HASH, since_checkpoint: 0, unanchored_since: null, index: new ChainIndex() };
}

/**
 * When the head is next due by time: `checkpointIntervalMs` after the first entry since the last
 * checkpoint was chained; null when every entry is signed or the interval is off.
 */
export function nextCheckpointAt(options: ChainOptions, state: ChainState): number | null {
  const interval = options.checkpointIntervalMs ?? 0;
  if (interval === 0 || state.since_checkpoint === 0) return null;
  return (state.unanchored_since ?? 0) + interval;
}

/** The seq at which an event is already chained, if it is (appending it again does nothing). */
export function chainedSeqOf(state: ChainState, eventId: string): number | undefined {
  return state.index.seqOf(eventId, state.next_seq);
}

/** The head of a non-empty chain. */
export function headOf(state: ChainState): ChainHead | undefined {
  return state.next_seq === 0 ? undefined : { chain_id: state.chain_id, seq: state.next_seq - 1, chain_hash: state.head_hash };
}

function decide(options: ChainOptions, command: ChainCommand, state: ChainState): readonly ChainEvent[] {
  switch (command.type) {
    case 'CheckpointHead': {
      if (state.chain_id !== '' && state.chain_id !== command.chain_id) {
        throw new WritError('LEDGER_APPEND_INVALID', `checkpoint of chain ${command.chain_id} sent to chain ${state.chain_id}`, {
          field: 'chain_id',
          rule: 'must be the chain of this state',
        });
      }
      const due = nextCheckpointAt(options, state);
      const head = headOf(state);
      return due === null || command.now < due || head === undefined ? [] : [{ type: 'CheckpointDue', head }];
    }
    case 'AppendEvent': {
      if (command.chain_id.trim() === '') {
        throw new WritError('LEDGER_APPEND_INVALID', 'chain_id must not be empty', { field: 'chain_id', rule: 'non-empty' });
      }
      if (state.chain_id !== '' && state.chain_id !== command.chain_id) {
        throw new WritError('LEDGER_APPEND_INVALID', `event of chain ${command.chain_id} sent to chain ${state.chain_id}`, {
          field: 'chain_id',
          rule: 'must be the chain of this state',
        });
      }
      if (!isSha256Hex(command.event_hash)) {
        throw new WritError('LEDGER_APPEND_INVALID', 'event_hash must be 64 lowercase hex digits', {
          field: 'event_hash',
          rule: 'sha256-hex',
        });
      }
      if (!Number.isSafeInteger(command.chained_at)) {
        throw new WritError('LEDGER_APPEND_INVALID', 'chained_at must be a time in ms', { field: 'chained_at', rule: 'a whole number' });
      }
      // Exactly once: an event id already in the chain is never appended again.
      if (chainedSeqOf(state, command.event_id) !== undefined) return [];
      const seq = state.next_seq;
      const fields: HashedEntry = {
        hash_version: CURRENT_HASH_VERSION,
        chain_id: command.chain_id,
        seq,
        prev_hash: state.head_hash,
        event_hash: command.event_hash,
        source_event_id: command.event_id,
        event_type: command.event_type,
        source_topic: command.source.topic,
        source_partition: command.source.partition,
        source_offset: command.source.offset,
        source_run_id: command.run_id,
        source_action_id: command.action_id,
        source_occurred_at: command.occurred_at,
      };
      // Throws LEDGER_HASH_INVALID naming a field that is not what an entry holds.
      const entry: ChainEntry = { ...fields, chain_hash: entryChainHash(fields) };
      const chained: EventChained = { type: 'EventChained', entry, chained_at: command.chained_at };
      if (options.checkpointEvery > 0 && state.since_checkpoint + 1 >= options.checkpointEvery) {
        return [chained, { type: 'CheckpointDue', head: { chain_id: entry.chain_id, seq, chain_hash: entry.chain_hash } }];
      }
      return [chained];
    }
    default:
      return assertNever(command, 'ledger command');
  }
}

function evolve(state: ChainState, event: ChainEvent): ChainState {
  switch (event.type) {
    case 'EventChained': {
      const { entry } = event;
      // The chain in Kafka is the authority: a state rebuilt from it must link up exactly.
      if (entry.seq !== state.next_seq || entry.prev_hash !== state.head_hash || (state.chain_id !== '' && entry.chain_id !== state.chain_id)) {
        throw new WritError(
          'LEDGER_CHAIN_BROKEN',
          `entry ${entry.chain_id}#${entry.seq} does not follow ${state.chain_id || entry.chain_id}#${state.next_seq - 1} (expected seq ${state.next_seq}, prev_hash ${state.head_hash})`,
        );
      }
      state.index.record(entry.source_event_id, entry.seq);
      return {
        chain_id: entry.chain_id,
        next_seq: entry.seq + 1,
        head_hash: entry.chain_hash,
        since_checkpoint: state.since_checkpoint + 1,
        unanchored_since: state.since_checkpoint === 0 ? event.chained_at : (state.unanchored_since ?? event.chained_at),
        index: state.index,
      };
    }
    case 'CheckpointDue': {
      // Counted from the checkpointed seq, so a checkpoint read back after later entries still counts right.
      if (event.head.seq >= state.next_seq) return state;
      const since = state.next_seq - 1 - event.head.seq;
      // Entries left after it keep the earlier start: their checkpoint comes sooner, never later.
      return { ...state, since_checkpoint: since, unanchored_since: since === 0 ? null : state.unanchored_since };
    }
    default:
      return assertNever(event, 'ledger event');
  }
}

/**
 * One chain (one tenant) as a decider: AppendEvent -> EventChained (and CheckpointDue every
 * `checkpointEvery` entries), nothing when the event id is already chained; CheckpointHead (a
 * timer) -> CheckpointDue once an entry has waited `checkpointIntervalMs` unsigned.
 */
export function chainDecider(options: ChainOptions): Decider<ChainCommand, ChainEvent, ChainState> {
  for (const [field, value] of [
    ['checkpointEvery', options.checkpointEvery],
    ['checkpointIntervalMs', options.checkpointIntervalMs ?? 0],
  ] as const) {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new WritError('CONFIG_INVALID', `${field} must be a whole number >= 0, got ${value}`, { field, rule: 'a whole number >= 0' });
    }
  }
  return {
    decide: (command, state) => decide(options, command, state),
    evolve,
    initialState: initialChainState,
  };
}
