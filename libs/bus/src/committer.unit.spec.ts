import { describe, expect, it, vi } from 'vitest';
import type { KafkaJS } from '@confluentinc/kafka-javascript';
import { OffsetCommitter } from './committer.ts';
import { silentLogger } from './logger.ts';

function harness(intervalMs: number, owned: readonly number[] = [0, 1, 2]) {
  const commits: KafkaJS.TopicPartitionOffset[][] = [];
  let release: () => void = () => undefined;
  let hold = false;
  const committer = new OffsetCommitter({
    intervalMs,
    logger: silentLogger,
    owns: (topic, partition) => topic === 't' && owned.includes(partition),
    commit: (offsets) => {
      commits.push(offsets);
      return hold ? new Promise<void>((resolve) => (release = resolve)) : Promise.resolve();
    },
  });
  return {
    committer,
    commits,
    holdNext: () => (hold = true),
    release: () => {
      hold = false;
      release();
    },
  };
}

describe('OffsetCommitter', () => {
  it('coalesces marks within the interval into one commit of the latest offset per partition', async () => {
    vi.useFakeTimers();
    try {
      const { committer, commits } = harness(100);
      committer.mark('t', 0, '5');
      committer.mark('t', 0, '9');
      committer.mark('t', 1, '3');
      expect(commits).toEqual([]);
      await vi.advanceTimersByTimeAsync(100);
      expect(commits).toEqual([
        [
          { topic: 't', partition: 0, offset: '9' },
          { topic: 't', partition: 1, offset: '3' },
        ],
      ]);
      await vi.advanceTimersByTimeAsync(1_000);
      expect(commits).toHaveLength(1);
    } finally {
      vi.useRealTimers();
    }
  });

  it('keeps one commit in flight and sends what arrived meanwhile afterwards', async () => {
    const { committer, commits, holdNext, release } = harness(0);
    holdNext();
    committer.mark('t', 0, '1');
    committer.mark('t', 0, '2');
    committer.mark('t', 0, '3');
    await Promise.resolve();
    expect(commits).toEqual([[{ topic: 't', partition: 0, offset: '1' }]]);
    release();
    await committer.flush();
    expect(commits.at(-1)).toEqual([{ topic: 't', partition: 0, offset: '3' }]);
    expect(commits.length).toBeLessThanOrEqual(3);
  });

  it('drops offsets of partitions this member no longer owns, and flushes the rest on demand', async () => {
    const { committer, commits } = harness(60_000, [0, 2]);
    committer.mark('t', 0, '4');
    committer.mark('t', 1, '8');
    await committer.flush();
    committer.close();
    expect(commits).toEqual([[{ topic: 't', partition: 0, offset: '4' }]]);
  });

  it('commits the partitions being handed over in a revocation, though no longer owned', async () => {
    const { committer, commits } = harness(60_000, [0]);
    committer.mark('t', 0, '4');
    committer.mark('t', 1, '8');
    committer.mark('t', 2, '9');
    await committer.flush([{ topic: 't', partition: 1 }]);
    committer.close();
    expect(commits).toEqual([
      [
        { topic: 't', partition: 0, offset: '4' },
        { topic: 't', partition: 1, offset: '8' },
      ],
    ]);
  });
});
