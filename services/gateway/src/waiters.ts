import { WritError } from '@writ/errors';

interface Waiter {
  readonly resolve: (notified: boolean) => void;
  readonly timer: ReturnType<typeof setTimeout>;
}

/**
 * Long-poll waiters keyed by id (an action's outcome, a run or action becoming known). wait()
 * resolves true when notify(key) runs, false when the timeout passes or the signal aborts; there
 * is at most `limit` waiters at once, so a flood of long-polls cannot exhaust the process.
 */
export class KeyedWaiters {
  readonly #waiters = new Map<string, Set<Waiter>>();
  #count = 0;

  constructor(readonly limit = 10_000) {}

  get pending(): number {
    return this.#count;
  }

  wait(key: string, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    if (this.#count >= this.limit) {
      return Promise.reject(new WritError('TOO_MANY_WAITERS', `more than ${this.limit} requests are waiting; retry later`, { retriable: true }));
    }
    if (signal?.aborted === true || timeoutMs <= 0) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      const set = this.#waiters.get(key) ?? new Set<Waiter>();
      this.#waiters.set(key, set);
      const finish = (notified: boolean): void => {
        if (!set.delete(waiter)) return;
        this.#count -= 1;
        if (set.size === 0 && this.#waiters.get(key) === set) this.#waiters.delete(key);
        clearTimeout(waiter.timer);
        signal?.removeEventListener('abort', onAbort);
        resolve(notified);
      };
      const onAbort = (): void => finish(false);
      const waiter: Waiter = { resolve: finish, timer: setTimeout(() => finish(false), timeoutMs) };
      set.add(waiter);
      this.#count += 1;
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** How many wait for `key` now. */
  waiting(key: string): number {
    return this.#waiters.get(key)?.size ?? 0;
  }

  /** Wakes every waiter of `key`; returns how many there were. */
  notify(key: string): number {
    const set = this.#waiters.get(key);
    if (set === undefined) return 0;
    const waiters = [...set];
    for (const waiter of waiters) waiter.resolve(true);
    return waiters.length;
  }

  /** Wakes every waiter with false (shutdown). */
  releaseAll(): void {
    for (const set of [...this.#waiters.values()]) for (const waiter of [...set]) waiter.resolve(false);
  }
}
