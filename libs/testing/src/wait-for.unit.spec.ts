import { describe, expect, it } from 'vitest';
import { isWritError } from '@writ/errors';
import { waitFor } from './wait-for.ts';

describe('waitFor', () => {
  it('returns the first value that is not undefined, null or false', async () => {
    let calls = 0;
    const value = await waitFor(
      () => {
        calls += 1;
        return calls < 3 ? undefined : { calls };
      },
      { what: 'the third call', intervalMs: 1 },
    );
    expect(value).toEqual({ calls: 3 });
  });

  it('retries a check that throws until it passes', async () => {
    let calls = 0;
    const value = await waitFor(
      async () => {
        calls += 1;
        if (calls < 4) throw new Error(`not yet (${calls})`);
        return 'done';
      },
      { what: 'a flaky check', intervalMs: 1 },
    );
    expect(value).toBe('done');
    expect(calls).toBe(4);
  });

  it('fails at the deadline with WAIT_TIMEOUT naming what it waited for and the last error', async () => {
    const started = Date.now();
    const failure = await waitFor(
      () => {
        throw new Error('offset still 0');
      },
      { what: 'the consumer to commit', timeoutMs: 150, intervalMs: 10 },
    ).catch((error: unknown) => error);
    expect(isWritError(failure, 'WAIT_TIMEOUT')).toBe(true);
    expect((failure as Error).message).toBe('timed out after 150 ms waiting for the consumer to commit; last error: offset still 0');
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('is bounded even when a check never settles, and builds the message lazily', async () => {
    let described = 0;
    const failure = await waitFor(() => new Promise<never>(() => undefined), {
      what: () => {
        described += 1;
        return 'a hanging check';
      },
      timeoutMs: 100,
    }).catch((error: unknown) => error);
    expect((failure as Error).message).toBe('timed out after 100 ms waiting for a hanging check');
    expect(described).toBe(1);
  });

  it('keeps polling on false and null', async () => {
    const answers = [false, null, 0] as const;
    let index = 0;
    const value = await waitFor(() => answers[index++], { what: 'a number', intervalMs: 1 });
    expect(value).toBe(0);
  });
});
