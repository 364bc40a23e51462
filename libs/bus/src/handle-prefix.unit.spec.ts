import { describe, expect, it } from 'vitest';
import { handlePrefix } from './consumer.ts';
import type { MessageOutcome } from './consumer.ts';

/** A handler whose calls finish when the test says so. */
function controlled() {
  const started: number[] = [];
  const finish = new Map<number, (outcome: MessageOutcome | Error) => void>();
  const handle = (item: number) =>
    new Promise<MessageOutcome>((resolve, reject) => {
      started.push(item);
      finish.set(item, (outcome) => (outcome instanceof Error ? reject(outcome) : resolve(outcome)));
    });
  return { started, finish: (item: number, outcome: MessageOutcome | Error = 'done') => finish.get(item)?.(outcome), handle };
}

const flush = () => new Promise((resolve) => setTimeout(resolve, 0));

describe('handlePrefix: several messages of a partition at once, committed only as a prefix', () => {
  it('starts at most `limit` at once, in order, and counts the prefix handled with none missing', async () => {
    const c = controlled();
    const result = handlePrefix([0, 1, 2, 3, 4], 3, c.handle, () => false);
    await flush();
    expect(c.started).toEqual([0, 1, 2]);
    c.finish(1);
    c.finish(2);
    await flush();
    expect(c.started).toEqual([0, 1, 2, 3, 4]);
    c.finish(3);
    c.finish(4);
    c.finish(0);
    expect(await result).toBe(5);
  });

  it('one at a time with limit 1, as before', async () => {
    const c = controlled();
    const result = handlePrefix([0, 1], 1, c.handle, () => false);
    await flush();
    expect(c.started).toEqual([0]);
    c.finish(0);
    await flush();
    expect(c.started).toEqual([0, 1]);
    c.finish(1);
    expect(await result).toBe(2);
  });

  it('an interrupted message ends the prefix before it, whatever came after it', async () => {
    const c = controlled();
    const result = handlePrefix([0, 1, 2, 3], 4, c.handle, () => false);
    await flush();
    c.finish(0);
    c.finish(2);
    c.finish(3);
    c.finish(1, 'interrupted');
    expect(await result).toBe(1);
  });

  it('starts none once stopped, and throws an unexpected error after the others settled', async () => {
    expect(await handlePrefix([0, 1], 2, () => Promise.resolve('done'), () => true)).toBe(0);
    const c = controlled();
    const result = handlePrefix([0, 1, 2], 3, c.handle, () => false);
    await flush();
    c.finish(1, new Error('handler bug'));
    let settled = false;
    void result.catch(() => {
      settled = true;
    });
    await flush();
    expect(settled).toBe(false);
    c.finish(0);
    c.finish(2);
    await expect(result).rejects.toThrow('handler bug');
  });
});
