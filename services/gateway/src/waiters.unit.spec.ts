import { describe, expect, it } from 'vitest';
import { KeyedWaiters } from './waiters.ts';

describe('KeyedWaiters', () => {
  it('wakes the waiters of one key, times out the others, and honours abort', async () => {
    const waiters = new KeyedWaiters();
    const a1 = waiters.wait('a', 5_000);
    const a2 = waiters.wait('a', 5_000);
    const b = waiters.wait('b', 20);
    const controller = new AbortController();
    const c = waiters.wait('c', 5_000, controller.signal);
    expect(waiters.pending).toBe(4);
    expect(waiters.notify('a')).toBe(2);
    await expect(Promise.all([a1, a2])).resolves.toEqual([true, true]);
    await expect(b).resolves.toBe(false);
    controller.abort();
    await expect(c).resolves.toBe(false);
    expect(waiters.pending).toBe(0);
    expect(waiters.notify('a')).toBe(0);
    await expect(waiters.wait('z', 0)).resolves.toBe(false);
  });

  it('refuses more than its limit, and releases everyone on shutdown', async () => {
    const waiters = new KeyedWaiters(2);
    const first = waiters.wait('x', 5_000);
    const second = waiters.wait('y', 5_000);
    await expect(waiters.wait('z', 5_000)).rejects.toMatchObject({ code: 'TOO_MANY_WAITERS', retriable: true });
    waiters.releaseAll();
    await expect(Promise.all([first, second])).resolves.toEqual([false, false]);
    expect(waiters.pending).toBe(0);
  });
});
