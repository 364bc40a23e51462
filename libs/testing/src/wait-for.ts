import { WritError, describeError } from '@writ/errors';

export interface WaitForOptions {
  /** Overall deadline, including a check that never settles. Default 10 s. */
  readonly timeoutMs?: number;
  /** Pause between two checks. Default 100 ms. */
  readonly intervalMs?: number;
  /** What is awaited, for the error message; a function is called only when the wait fails. */
  readonly what: string | (() => string);
}

type Settled<T> = Exclude<Awaited<T>, undefined | null | false>;

const NOT_YET = Symbol('not yet');

/**
 * Calls `check` until it returns something other than undefined, null or false (returned), or
 * throws no more. Each failure is retried after `intervalMs`; at the deadline it fails with
 * WAIT_TIMEOUT naming `what` and the last error, so a stuck test says what it was waiting for.
 */
export async function waitFor<T>(check: () => T, options: WaitForOptions): Promise<Settled<T>> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const intervalMs = options.intervalMs ?? 100;
  const deadline = Date.now() + timeoutMs;
  let attempts = 0;
  let lastError: unknown;
  for (;;) {
    attempts += 1;
    const remaining = deadline - Date.now();
    try {
      const value = await withinMs(Promise.resolve().then(check), Math.max(remaining, 0));
      if (value !== NOT_YET && value !== undefined && value !== null && value !== false) {
        return value as Settled<T>;
      }
    } catch (error) {
      lastError = error;
    }
    const left = deadline - Date.now();
    if (left <= 0) break;
    await pause(Math.min(intervalMs, left));
  }
  const what = typeof options.what === 'function' ? options.what() : options.what;
  const last = lastError === undefined ? '' : `; last error: ${describeError(lastError)}`;
  throw new WritError('WAIT_TIMEOUT', `timed out after ${timeoutMs} ms waiting for ${what}${last}`, {
    cause: lastError,
    details: { attempts, timeoutMs },
  });
}

function withinMs<T>(work: Promise<T>, ms: number): Promise<T | typeof NOT_YET> {
  let timer: NodeJS.Timeout | undefined;
  const expiry = new Promise<typeof NOT_YET>((resolve) => {
    timer = setTimeout(() => resolve(NOT_YET), ms);
  });
  return Promise.race([work, expiry]).finally(() => clearTimeout(timer));
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
