import kafkaJavascript from '@confluentinc/kafka-javascript';
import { describe, expect, it } from 'vitest';
import { WritError } from '@writ/errors';
import { DEFAULT_RETRY, retryDelay, classifyFailure, isKafkaRetriable, resolveRetryPolicy, sleep } from './retry.ts';

const { KafkaJSError, ErrorCodes } = kafkaJavascript.KafkaJS;

describe('resolveRetryPolicy', () => {
  it('fills defaults', () => {
    expect(resolveRetryPolicy()).toEqual(DEFAULT_RETRY);
    expect(resolveRetryPolicy({ maxAttempts: 2 })).toEqual({ ...DEFAULT_RETRY, maxAttempts: 2 });
  });

  it.each([
    [{ maxAttempts: 0 }, 'retry.maxAttempts'],
    [{ maxAttempts: 1.5 }, 'retry.maxAttempts'],
    [{ initialBackoffMs: -1 }, 'retry.initialBackoffMs'],
    [{ initialBackoffMs: 500, maxBackoffMs: 100 }, 'retry.maxBackoffMs'],
    [{ maxAttempts: 100, maxBackoffMs: 10_000 }, 'retry.maxAttempts'],
  ])('rejects %j naming %s', (policy, field) => {
    expect(() => resolveRetryPolicy(policy)).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID', field }));
  });
});

describe('retryDelay', () => {
  const policy = { maxAttempts: 10, initialBackoffMs: 100, maxBackoffMs: 1_000 };

  it('doubles per attempt up to the cap, with equal jitter between half and all of it', () => {
    expect([1, 2, 3, 4, 5].map((a) => retryDelay(a, policy, () => 1))).toEqual([100, 200, 400, 800, 1_000]);
    expect([1, 2, 3, 4, 5].map((a) => retryDelay(a, policy, () => 0))).toEqual([50, 100, 200, 400, 500]);
    expect(retryDelay(3, policy, () => 0.5)).toBe(300);
  });
});

describe('classifyFailure', () => {
  it('keeps a WritError code and its retriable flag', () => {
    expect(classifyFailure(new WritError('DB_BUSY', 'busy', { retriable: true }))).toEqual({
      code: 'DB_BUSY',
      retriable: true,
      reason: 'DB_BUSY: busy',
    });
    expect(classifyFailure(new WritError('EVENT_INVALID', 'bad'))).toMatchObject({ code: 'EVENT_INVALID', retriable: false });
  });

  it('retries transient Kafka errors but never fatal ones', () => {
    const transport = new KafkaJSError('broker down', { code: ErrorCodes.ERR__TRANSPORT });
    expect(isKafkaRetriable(transport)).toBe(true);
    expect(classifyFailure(transport)).toMatchObject({ code: 'KAFKA_ERR__TRANSPORT', retriable: true });
    const fenced = new KafkaJSError('fenced', { code: ErrorCodes.ERR__FENCED, fatal: true, retriable: true });
    expect(isKafkaRetriable(fenced)).toBe(false);
    const tooLarge = new KafkaJSError('too large', { code: ErrorCodes.ERR_MSG_SIZE_TOO_LARGE });
    expect(classifyFailure(tooLarge)).toMatchObject({ retriable: false });
  });

  it('treats an unknown error as a non-retriable handler failure', () => {
    expect(classifyFailure(new TypeError('x is undefined'))).toEqual({
      code: 'HANDLER_FAILED',
      retriable: false,
      reason: 'x is undefined',
    });
    expect(classifyFailure({ status: 'error', message: 'Internal server error' })).toMatchObject({
      code: 'HANDLER_FAILED',
      reason: 'Internal server error',
    });
  });
});

describe('sleep', () => {
  it('ends early, with false, when the signal aborts', async () => {
    const controller = new AbortController();
    const pending = sleep(60_000, controller.signal);
    controller.abort();
    await expect(pending).resolves.toBe(false);
    await expect(sleep(1)).resolves.toBe(true);
  });
});
