import { describe, expect, it } from 'vitest';
import { InFlightWindow } from './window.ts';
import type { MessageOutcome } from './window.ts';

/** Handlers whose calls finish when the test says so, and what the window reported. */
function harness(limit: number) {
  const started: string[] = [];
  const reported: string[] = [];
  const finishers = new Map<string, (outcome: MessageOutcome | Error) => void>();
  const window = new InFlightWindow(limit, (topic, partition, next) => reported.push(`${topic}/${partition}@${next}`));
  const handle = (id: string) => () =>
    new Promise<MessageOutcome>((resolve, reject) => {
      started.push(id);
      finishers.set(id, (outcome) => (outcome instanceof Error ? reject(outcome) : resolve(outcome)));
    });
  // One message after another per partition, as the consumer's batch loop offers them.
  const chains = new Map<number, Promise<unknown>>();
  /** Waits for room, then starts message `offset` of t/`partition`; resolves once it is handled. */
  const offer = (partition: number, offset: number): Promise<MessageOutcome> => {
    const started = (chains.get(partition) ?? Promise.resolve()).then(async () => {
      await window.room('t', partition);
      return { handled: window.start('t', partition, String(offset), handle(`${partition}:${offset}`)) };
    });
    chains.set(partition, started);
    return started.then(({ handled }) => handled);
  };
  const finish = (id: string, outcome: MessageOutcome | Error = 'done') => finishers.get(id)?.(outcome);
  return { window, started, reported, offer, finish };
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

describe('InFlightWindow: messages in hand across batches, committed only as a prefix', () => {
  it('runs at most `limit` of a partition at once, in offset order, and reports only the handled prefix', async () => {
    const h = harness(2);
    const offered = [0, 1, 2, 3].map((offset) => h.offer(0, offset));
    await tick();
    expect(h.started).toEqual(['0:0', '0:1']);
    h.finish('0:1');
    await tick();
    // 1 is handled but 0 is not: nothing may be committed yet.
    expect(h.reported).toEqual([]);
    expect(h.started).toEqual(['0:0', '0:1', '0:2']);
    h.finish('0:0');
    await tick();
    expect(h.reported).toEqual(['t/0@2']);
    h.finish('0:2');
    await tick();
    h.finish('0:3');
    await Promise.all(offered);
    expect(h.reported).toEqual(['t/0@2', 't/0@3', 't/0@4']);
  });

  it('keeps partitions apart: a full partition does not hold another back', async () => {
    const h = harness(1);
    void h.offer(0, 10);
    const second = h.offer(0, 11);
    void h.offer(1, 5);
    await tick();
    expect(h.started).toEqual(['0:10', '1:5']);
    h.finish('1:5');
    await tick();
    expect(h.reported).toEqual(['t/1@6']);
    h.finish('0:10');
    await tick();
    expect(h.started).toEqual(['0:10', '1:5', '0:11']);
    h.finish('0:11');
    await second;
    expect(h.reported).toEqual(['t/1@6', 't/0@11', 't/0@12']);
  });

  it('never reports a message cut short by stop(), nor anything after it', async () => {
    const h = harness(3);
    const offered = [0, 1, 2].map((offset) => h.offer(0, offset));
    await tick();
    h.finish('0:0');
    h.finish('0:1', 'interrupted');
    h.finish('0:2');
    expect(await Promise.all(offered.map((p) => p.catch(() => 'rejected')))).toEqual(['done', 'interrupted', 'done']);
    expect(h.reported).toEqual(['t/0@1']);
  });

  it('passes an unexpected error on, counts the message as never handled, and frees its room', async () => {
    const h = harness(1);
    const failing = h.offer(0, 0);
    const next = h.offer(0, 1);
    await tick();
    h.finish('0:0', new Error('bug'));
    await expect(failing).rejects.toThrow('bug');
    await tick();
    expect(h.started).toEqual(['0:0', '0:1']);
    h.finish('0:1');
    expect(await next).toBe('done');
    expect(h.reported).toEqual([]);
  });

  it('settles a partition once its messages in hand have, and forgets a partition taken away', async () => {
    const h = harness(2);
    const first = h.offer(0, 0);
    const other = h.offer(1, 0);
    await tick();
    let settled = false;
    const waiting = h.window.settled([{ topic: 't', partition: 0 }]).then(() => {
      settled = true;
    });
    h.finish('1:0');
    await other;
    await tick();
    expect(settled).toBe(false);
    h.finish('0:0');
    await first;
    await waiting;
    expect(settled).toBe(true);
    h.window.forget([{ topic: 't', partition: 0 }]);
    // Consumed again from the committed offset after an assignment: a fresh prefix.
    const again = h.offer(0, 0);
    await tick();
    h.finish('0:0');
    await again;
    expect(h.reported).toEqual(['t/1@1', 't/0@1', 't/0@1']);
  });
});
