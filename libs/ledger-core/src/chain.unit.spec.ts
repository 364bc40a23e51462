import { describe, expect, it } from 'vitest';
import { deciderSpec } from '@writ/decider/testing';
import { evolveAll, handleCommand } from '@writ/decider';
import { GENESIS_HASH, chainHashInput, chainHashOf, entryChainHash, entryHashInput, eventHashOf } from './encoding.ts';
import type { HashedEntry } from './encoding.ts';
import { chainDecider, chainedSeqOf, headOf, nextCheckpointAt } from './chain.ts';
import type { AppendEvent, ChainEvent, ChainOptions } from './chain.ts';

const T0 = Date.UTC(2026, 0, 1);
const decider = chainDecider({ checkpointEvery: 3 });
const spec = deciderSpec(decider);

function append(eventId: string, offset = 0, chainId = 'acme', chainedAt = T0 + offset): AppendEvent {
  return {
    type: 'AppendEvent',
    chain_id: chainId,
    event_id: eventId,
    event_type: 'ActionProposed',
    event_hash: eventHashOf(Buffer.from(`bytes of ${eventId}`)),
    source: { topic: 'writ.proposals.v1', partition: 1, offset },
    run_id: 'run-1',
    action_id: `action-${eventId}`,
    occurred_at: T0 - 5,
    chained_at: chainedAt,
  };
}

function chainedEvents(ids: readonly string[], options: ChainOptions = { checkpointEvery: 3 }, at = (i: number) => T0 + i): ChainEvent[] {
  const chain = chainDecider(options);
  let state = chain.initialState();
  const events: ChainEvent[] = [];
  for (const [i, id] of ids.entries()) {
    const result = handleCommand(chain, state, append(id, i, 'acme', at(i)));
    events.push(...result.events);
    state = result.state;
  }
  return events;
}

/** The vector's entry: every field hash version 2 covers. */
const VECTOR: HashedEntry = {
  hash_version: 2,
  chain_id: 'acme',
  seq: 0,
  prev_hash: GENESIS_HASH,
  event_hash: 'bd998adfd46eaff944ee5125a9ffaff2ecbf67d11ee8a2a3d2afd0946bc8adbb', // sha256("writ")
  source_event_id: 'e0',
  event_type: 'ActionProposed',
  source_topic: 'writ.proposals.v1',
  source_partition: 1,
  source_offset: 7,
  source_run_id: 'run-1',
  source_action_id: 'a-1',
  source_occurred_at: 1767225600000,
};

describe('chain hash encoding', () => {
  it('hashes 72 bytes: prev_hash, event_hash (raw) and seq as unsigned 64-bit big-endian', () => {
    const prev = 'ab'.repeat(32);
    const event = 'cd'.repeat(32);
    const input = chainHashInput(prev, event, 258);
    expect(input).toHaveLength(72);
    expect(input.subarray(0, 32).toString('hex')).toBe(prev);
    expect(input.subarray(32, 64).toString('hex')).toBe(event);
    expect(input.subarray(64).toString('hex')).toBe('0000000000000102');
    // A fixed vector, so an accidental change of the encoding fails here.
    expect(chainHashOf(GENESIS_HASH, eventHashOf(Buffer.from('writ')), 0)).toBe(
      eventHashOf(Buffer.concat([Buffer.alloc(32), Buffer.from(eventHashOf(Buffer.from('writ')), 'hex'), Buffer.alloc(8)])),
    );
  });

  it('hash version 2: sha256 of the canonical JSON of every field (a fixed vector, computed with jq -cS and sha256sum)', () => {
    expect(eventHashOf(Buffer.from('writ'))).toBe(VECTOR.event_hash);
    expect(entryHashInput(VECTOR).toString('utf8')).toBe(
      '{"chain_id":"acme","event_hash":"bd998adfd46eaff944ee5125a9ffaff2ecbf67d11ee8a2a3d2afd0946bc8adbb","event_type":"ActionProposed","hash_version":2,' +
        '"prev_hash":"0000000000000000000000000000000000000000000000000000000000000000","seq":0,"source_action_id":"a-1","source_event_id":"e0",' +
        '"source_occurred_at":1767225600000,"source_offset":7,"source_partition":1,"source_run_id":"run-1","source_topic":"writ.proposals.v1"}',
    );
    expect(entryChainHash(VECTOR)).toBe('c6c49c8e4e892ac9a419f353422a9683b4862e5161673f7f3046f07a5c89804f');
    // The type is bound: a retyped entry has another hash (the tamper of a withheld entry's type).
    expect(entryChainHash({ ...VECTOR, event_type: 'ActionExecuted' })).toBe('9766fa6ca412ef6bff627c12f9183cf0a4da8fe10aa221e7e21d04b72a4dd0f8');
    // Every field counts: changing any one changes the hash.
    const changed: Record<keyof HashedEntry, unknown> = {
      hash_version: 1,
      chain_id: 'globex',
      seq: 1,
      prev_hash: 'ab'.repeat(32),
      event_hash: 'cd'.repeat(32),
      source_event_id: 'e1',
      event_type: 'ActionAdmitted',
      source_topic: 'writ.actions.v1',
      source_partition: 2,
      source_offset: 8,
      source_run_id: 'run-2',
      source_action_id: null,
      source_occurred_at: 1767225600001,
    };
    for (const [field, value] of Object.entries(changed)) {
      expect(entryChainHash({ ...VECTOR, [field]: value }), field).not.toBe(entryChainHash(VECTOR));
    }
    // Version 1 is the 72-byte rule, whatever the other fields say.
    expect(entryChainHash({ ...VECTOR, hash_version: 1 })).toBe(chainHashOf(GENESIS_HASH, VECTOR.event_hash, 0));
  });

  it('refuses an entry that is not what an entry holds, naming the field', () => {
    expect(() => entryChainHash({ ...VECTOR, hash_version: 3 })).toThrow(/hash_version must be one of 1, 2/);
    expect(() => entryChainHash({ ...VECTOR, source_run_id: '' })).toThrow(/source_run_id must be a non-empty string/);
    expect(() => entryChainHash({ ...VECTOR, source_occurred_at: Number.NaN })).toThrow(/source_occurred_at must be a whole number/);
    expect(() => entryChainHash({ ...VECTOR, source_action_id: '' })).toThrow(/source_action_id must be null or a non-empty string/);
  });

  it('refuses malformed hashes and seqs with the field named', () => {
    expect(() => chainHashOf('xyz', GENESIS_HASH, 0)).toThrow(/prev_hash must be 64 lowercase hex/);
    expect(() => chainHashOf(GENESIS_HASH, GENESIS_HASH.toUpperCase().replace(/0/g, 'A'), 0)).toThrow(/event_hash/);
    expect(() => chainHashOf(GENESIS_HASH, GENESIS_HASH, -1)).toThrow(/seq must be a whole number/);
  });
});

describe('chain decider', () => {
  it('chains the first event at seq 0 after the genesis hash, its hash binding every field (version 2)', () => {
    const command = { ...append('e0', 7), event_hash: VECTOR.event_hash, action_id: 'a-1', occurred_at: VECTOR.source_occurred_at };
    spec
      .given()
      .when(command)
      .then([
        {
          type: 'EventChained',
          entry: { ...VECTOR, chain_hash: 'c6c49c8e4e892ac9a419f353422a9683b4862e5161673f7f3046f07a5c89804f' },
          chained_at: T0 + 7,
        },
      ]);
  });

  it('links each entry to the previous chain hash', () => {
    const given = chainedEvents(['e0']);
    const first = given[0];
    if (first?.type !== 'EventChained') throw new Error('expected an entry');
    const [next] = decider.decide(append('e1', 1), evolveAll(decider, given));
    expect(next).toMatchObject({ type: 'EventChained', entry: { seq: 1, prev_hash: first.entry.chain_hash } });
  });

  it('does not append an event id that is already chained (redelivery): exactly once', () => {
    spec
      .given(chainedEvents(['e0', 'e1']))
      .when(append('e0', 99))
      .thenNothing();
  });

  it('is due for a checkpoint every N entries, and counts again after one', () => {
    const given = chainedEvents(['e0', 'e1']);
    const events = decider.decide(append('e2', 2), evolveAll(decider, given));
    expect(events.map((e) => e.type)).toEqual(['EventChained', 'CheckpointDue']);
    const state = evolveAll(decider, [...given, ...events]);
    expect(state.since_checkpoint).toBe(0);
    expect(headOf(state)).toEqual({ chain_id: 'acme', seq: 2, chain_hash: state.head_hash });
    expect(decider.decide(append('e3', 3), state).map((e) => e.type)).toEqual(['EventChained']);
  });

  it('is due by time once the oldest unsigned entry waited the interval, and only then (an injected clock)', () => {
    const options = { checkpointEvery: 100, checkpointIntervalMs: 5_000 };
    const timed = chainDecider(options);
    const timedSpec = deciderSpec(timed);
    // Entries chained at T0, T0+1s, T0+2s: the first one starts the wait.
    const given = chainedEvents(['e0', 'e1', 'e2'], options, (i) => T0 + i * 1_000);
    const state = evolveAll(timed, given);
    expect(state.unanchored_since).toBe(T0);
    expect(nextCheckpointAt(options, state)).toBe(T0 + 5_000);
    timedSpec
      .given(given)
      .when({ type: 'CheckpointHead', chain_id: 'acme', now: T0 + 4_999 })
      .thenNothing();
    const head = { chain_id: 'acme', seq: 2, chain_hash: state.head_hash };
    timedSpec
      .given(given)
      .when({ type: 'CheckpointHead', chain_id: 'acme', now: T0 + 5_000 })
      .then([{ type: 'CheckpointDue', head }]);
    // Signed: nothing waits, so nothing is due until the next entry, whose wait starts when it is chained.
    const signed = timed.evolve(state, { type: 'CheckpointDue', head });
    expect(nextCheckpointAt(options, signed)).toBeNull();
    timedSpec
      .given([...given, { type: 'CheckpointDue', head }])
      .when({ type: 'CheckpointHead', chain_id: 'acme', now: T0 + 60_000 })
      .thenNothing();
    const next = handleCommand(timed, signed, append('e3', 3, 'acme', T0 + 30_000)).state;
    expect(nextCheckpointAt(options, next)).toBe(T0 + 35_000);
    // A count checkpoint resets the wait too; an interval of 0 never signs by time.
    const counted = chainDecider({ checkpointEvery: 2, checkpointIntervalMs: 5_000 });
    expect(
      nextCheckpointAt({ checkpointEvery: 2, checkpointIntervalMs: 5_000 }, evolveAll(counted, chainedEvents(['e0', 'e1'], { checkpointEvery: 2 }))),
    ).toBeNull();
    expect(nextCheckpointAt({ checkpointEvery: 100 }, state)).toBeNull();
    expect(timed.decide({ type: 'CheckpointHead', chain_id: 'acme', now: T0 }, timed.initialState())).toEqual([]);
  });

  it('keeps the earlier wait when a checkpoint read back leaves entries after it (the rebuild)', () => {
    const options = { checkpointEvery: 0, checkpointIntervalMs: 5_000 };
    const timed = chainDecider(options);
    const events = chainedEvents(['e0', 'e1', 'e2'], options, (i) => T0 + i * 1_000);
    const first = events[0];
    if (first?.type !== 'EventChained') throw new Error('expected an entry');
    // The checkpoint of seq 0 is read after seq 1 and 2: two entries still wait, since T0 at the latest.
    const state = timed.evolve(evolveAll(timed, events), { type: 'CheckpointDue', head: { chain_id: 'acme', seq: 0, chain_hash: first.entry.chain_hash } });
    expect(state.since_checkpoint).toBe(2);
    expect(nextCheckpointAt(options, state)).toBe(T0 + 5_000);
  });

  it('refuses a negative or fractional interval', () => {
    expect(() => chainDecider({ checkpointEvery: 1, checkpointIntervalMs: -1 })).toThrow(/checkpointIntervalMs must be a whole number/);
  });

  it('forgets what a rolled-back state appended: the same ids are chained again after it', () => {
    const base = evolveAll(decider, chainedEvents(['e0']));
    const aborted = handleCommand(decider, base, append('e1', 1)).state; // a transaction that aborts
    expect(chainedSeqOf(aborted, 'e1')).toBe(1);
    expect(chainedSeqOf(base, 'e1')).toBeUndefined();
    // Redelivered in another order: e2 takes seq 1, then e1 is chained at seq 2.
    const other = handleCommand(decider, handleCommand(decider, base, append('e2', 2)).state, append('e1', 1));
    expect(other.events[0]).toMatchObject({ type: 'EventChained', entry: { seq: 2, source_event_id: 'e1' } });
    expect(chainedSeqOf(other.state, 'e1')).toBe(2);
    expect(chainedSeqOf(other.state, 'e2')).toBe(1);
  });

  it('refuses an empty chain id, a malformed hash and an event of another chain', () => {
    spec
      .given()
      .when({ ...append('e0'), chain_id: ' ' })
      .thenThrows('LEDGER_APPEND_INVALID', { field: 'chain_id' });
    spec
      .given()
      .when({ ...append('e0'), event_hash: 'nope' })
      .thenThrows('LEDGER_APPEND_INVALID', { field: 'event_hash' });
    spec
      .given(chainedEvents(['e0']))
      .when(append('e1', 1, 'globex'))
      .thenThrows('LEDGER_APPEND_INVALID', { field: 'chain_id' });
  });

  it('refuses to rebuild from entries that do not link up', () => {
    const events = chainedEvents(['e0', 'e1']);
    expect(() => evolveAll(decider, [events[1] as ChainEvent])).toThrow(/does not follow/);
  });
});
