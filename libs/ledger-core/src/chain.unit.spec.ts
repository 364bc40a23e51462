import { describe, expect, it } from 'vitest';
import { deciderSpec } from '@writ/decider/testing';
import { evolveAll, handleCommand } from '@writ/decider';
import { GENESIS_HASH, chainHashInput, chainHashOf, eventHashOf } from './encoding.ts';
import { chainDecider, chainedSeqOf, headOf } from './chain.ts';
import type { AppendEvent, ChainEvent } from './chain.ts';

const decider = chainDecider({ checkpointEvery: 3 });
const spec = deciderSpec(decider);

function append(eventId: string, offset = 0, chainId = 'acme'): AppendEvent {
  return {
    type: 'AppendEvent',
    chain_id: chainId,
    event_id: eventId,
    event_type: 'ActionProposed',
    event_hash: eventHashOf(Buffer.from(`bytes of ${eventId}`)),
    source: { topic: 'writ.proposals.v1', partition: 1, offset },
  };
}

function chainedEvents(ids: readonly string[]): ChainEvent[] {
  let state = decider.initialState();
  const events: ChainEvent[] = [];
  for (const [i, id] of ids.entries()) {
    const result = handleCommand(decider, state, append(id, i));
    events.push(...result.events);
    state = result.state;
  }
  return events;
}

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

  it('refuses malformed hashes and seqs with the field named', () => {
    expect(() => chainHashOf('xyz', GENESIS_HASH, 0)).toThrow(/prev_hash must be 64 lowercase hex/);
    expect(() => chainHashOf(GENESIS_HASH, GENESIS_HASH.toUpperCase().replace(/0/g, 'A'), 0)).toThrow(/event_hash/);
    expect(() => chainHashOf(GENESIS_HASH, GENESIS_HASH, -1)).toThrow(/seq must be a whole number/);
  });
});

describe('chain decider', () => {
  it('chains the first event at seq 0 after the genesis hash', () => {
    const command = append('e0', 7);
    spec
      .given()
      .when(command)
      .then([
        {
          type: 'EventChained',
          entry: {
            chain_id: 'acme',
            seq: 0,
            prev_hash: GENESIS_HASH,
            event_hash: command.event_hash,
            chain_hash: chainHashOf(GENESIS_HASH, command.event_hash, 0),
            source_event_id: 'e0',
            event_type: 'ActionProposed',
            source_topic: 'writ.proposals.v1',
            source_partition: 1,
            source_offset: 7,
          },
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
