import { describe, expect, it } from 'vitest';
import { ProposalOffsets, commitPoint } from './offsets.ts';

const TOPIC = 'writ.door.agent-acme-triage-bot.proposals.v1';
const OTHER = 'writ.door.agent-globex-bot.proposals.v1';

describe('commitPoint: the offset a partition may commit', () => {
  it('is one past the last record read when every record read is answered', () => {
    expect(commitPoint({ next: 8, open: new Set() })).toBe(8);
  });

  it('never passes a record not answered yet: the lowest open offset, wherever the others are', () => {
    expect(commitPoint({ next: 8, open: new Set([7, 5, 6]) })).toBe(5);
    expect(commitPoint({ next: 100, open: new Set([42]) })).toBe(42);
  });
});

describe('ProposalOffsets', () => {
  it('commits up to the lowest record still waiting for its end, then past it once it is answered', () => {
    const offsets = new ProposalOffsets();
    // 5: accepted, waits for approval; 6: rejected at once; 7: accepted, ended at once.
    for (const offset of [5, 6, 7]) offsets.read(TOPIC, 0, offset);
    offsets.answered(TOPIC, 0, 6);
    offsets.answered(TOPIC, 0, 7);
    expect(offsets.advanced()).toEqual([{ topic: TOPIC, partition: 0, offset: '5' }]);
    // Nothing moved: nothing to commit again.
    expect(offsets.advanced()).toEqual([]);
    offsets.read(TOPIC, 0, 8);
    offsets.answered(TOPIC, 0, 8);
    expect(offsets.advanced()).toEqual([]);
    // The held action ends: everything read so far is answered.
    offsets.answered(TOPIC, 0, 5);
    expect(offsets.advanced()).toEqual([{ topic: TOPIC, partition: 0, offset: '9' }]);
  });

  it('keeps partitions apart and moves only those whose point advanced', () => {
    const offsets = new ProposalOffsets();
    offsets.read(TOPIC, 0, 3);
    offsets.read(TOPIC, 1, 10);
    offsets.read(OTHER, 0, 0);
    expect(offsets.advanced()).toEqual([
      { topic: TOPIC, partition: 0, offset: '3' },
      { topic: TOPIC, partition: 1, offset: '10' },
      { topic: OTHER, partition: 0, offset: '0' },
    ]);
    offsets.answered(TOPIC, 1, 10);
    expect(offsets.advanced()).toEqual([{ topic: TOPIC, partition: 1, offset: '11' }]);
    expect(offsets.progress(TOPIC, 0)).toEqual({ next: 4, open: new Set([3]) });
  });

  it('reads a record again (a redelivery) without counting it twice', () => {
    const offsets = new ProposalOffsets();
    offsets.read(TOPIC, 0, 4);
    offsets.read(TOPIC, 0, 4);
    offsets.answered(TOPIC, 0, 4);
    expect(offsets.advanced()).toEqual([{ topic: TOPIC, partition: 0, offset: '5' }]);
  });

  it('forgets a revoked partition: a late answer of it commits nothing, and it starts afresh when read again', () => {
    const offsets = new ProposalOffsets();
    offsets.read(TOPIC, 0, 5);
    offsets.read(TOPIC, 0, 6);
    expect(offsets.advanced()).toEqual([{ topic: TOPIC, partition: 0, offset: '5' }]);
    offsets.forget(TOPIC, 0);
    expect(offsets.tracks(TOPIC, 0)).toBe(false);
    offsets.answered(TOPIC, 0, 5);
    expect(offsets.advanced()).toEqual([]);
    // Assigned again: read from the committed offset on.
    offsets.read(TOPIC, 0, 5);
    expect(offsets.tracks(TOPIC, 0)).toBe(true);
    expect(offsets.advanced()).toEqual([{ topic: TOPIC, partition: 0, offset: '5' }]);
  });
});
