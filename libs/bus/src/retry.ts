import kafkaJavascript from '@confluentinc/kafka-javascript';
import { WritError, backoffDelay, describeError, isWritError, kafkaErrorCode } from '@writ/errors';
import type { ErrorCode } from '@writ/errors';

const { ErrorCodes } = kafkaJavascript.KafkaJS;

/** How a consumer retries a handler that failed with a retriable error. */
export interface RetryPolicy {
  /** Handler calls in total, the first included (1 = no retry). */
  readonly maxAttempts: number;
  readonly initialBackoffMs: number;
  readonly maxBackoffMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 5, initialBackoffMs: 100, maxBackoffMs: 5_000 };

/**
 * librdkafka's max.poll.interval.ms as this package configures it: a handler (all its retries
 * included) that blocks a partition longer than this makes the consumer leave its group.
 */
export const MAX_POLL_INTERVAL_MS = 300_000;

function invalid(field: string, rule: string, got: unknown): WritError {
  return new WritError('CONFIG_INVALID', `retry.${field} ${rule}, got ${String(got)}`, {
    field: `retry.${field}`,
    rule,
  });
}

/** Fills defaults and checks the policy; the worst case must fit in one poll interval. */
export function resolveRetryPolicy(partial: Partial<RetryPolicy> = {}): RetryPolicy {
  const policy = { ...DEFAULT_RETRY, ...partial };
  if (!Number.isInteger(policy.maxAttempts) || policy.maxAttempts < 1) {
    throw invalid('maxAttempts', 'must be a whole number >= 1', policy.maxAttempts);
  }
  if (!Number.isFinite(policy.initialBackoffMs) || policy.initialBackoffMs < 0) {
    throw invalid('initialBackoffMs', 'must be a number >= 0', policy.initialBackoffMs);
  }
  if (!Number.isFinite(policy.maxBackoffMs) || policy.maxBackoffMs < policy.initialBackoffMs) {
    throw invalid('maxBackoffMs', 'must be a number >= initialBackoffMs', policy.maxBackoffMs);
  }
  const worstCase = policy.maxBackoffMs * (policy.maxAttempts - 1);
  if (worstCase >= MAX_POLL_INTERVAL_MS) {
    throw invalid(
      'maxAttempts',
      `times maxBackoffMs must stay under the ${MAX_POLL_INTERVAL_MS} ms poll interval`,
      `${policy.maxAttempts} x ${policy.maxBackoffMs} ms`,
    );
  }
  return policy;
}

/** Delay before attempt `attempt + 1` after `attempt` failed (attempt counts from 1): Writ's one backoff, with the policy's bounds. */
export function retryDelay(attempt: number, policy: RetryPolicy, random: () => number = Math.random): number {
  return backoffDelay(attempt, { initialMs: policy.initialBackoffMs, maxMs: policy.maxBackoffMs }, random);
}

/** Kafka error codes worth retrying from inside a handler (the broker or the network was busy). */
const TRANSIENT_KAFKA_CODES: ReadonlySet<number> = new Set(
  [
    ErrorCodes.ERR__TRANSPORT,
    ErrorCodes.ERR__TIMED_OUT,
    ErrorCodes.ERR__MSG_TIMED_OUT,
    ErrorCodes.ERR__ALL_BROKERS_DOWN,
    ErrorCodes.ERR__QUEUE_FULL,
    ErrorCodes.ERR_REQUEST_TIMED_OUT,
    ErrorCodes.ERR_NOT_LEADER_FOR_PARTITION,
    ErrorCodes.ERR_LEADER_NOT_AVAILABLE,
    ErrorCodes.ERR_NOT_ENOUGH_REPLICAS,
    ErrorCodes.ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND,
    ErrorCodes.ERR_NETWORK_EXCEPTION,
    ErrorCodes.ERR_COORDINATOR_LOAD_IN_PROGRESS,
    ErrorCodes.ERR_COORDINATOR_NOT_AVAILABLE,
    ErrorCodes.ERR_NOT_COORDINATOR,
  ].filter((code): code is number => typeof code === 'number'),
);

interface KafkaLikeError {
  readonly name: string;
  readonly code: number;
  readonly retriable?: boolean;
  readonly fatal?: boolean;
  readonly type?: string;
  readonly message: string;
}

function isKafkaError(error: unknown): error is KafkaLikeError {
  if (typeof error !== 'object' || error === null) return false;
  const candidate = error as { name?: unknown; code?: unknown };
  return typeof candidate.code === 'number' && typeof candidate.name === 'string' && candidate.name.startsWith('KafkaJS');
}

/** True for a Kafka client error that a later attempt may not hit (never for fatal ones). */
export function isKafkaRetriable(error: unknown): boolean {
  if (!isKafkaError(error) || error.fatal === true) return false;
  return error.retriable === true || TRANSIENT_KAFKA_CODES.has(error.code);
}

export interface Failure {
  readonly code: ErrorCode;
  readonly retriable: boolean;
  readonly reason: string;
}

/** What went wrong, in the terms the retry loop and the DLQ headers use. */
export function classifyFailure(error: unknown): Failure {
  if (isWritError(error)) return { code: error.code, retriable: error.retriable, reason: describeError(error) };
  if (isKafkaError(error)) {
    return {
      code: kafkaErrorCode(error.type ?? error.code),
      retriable: isKafkaRetriable(error),
      reason: error.message,
    };
  }
  const message = (error as { message?: unknown } | null)?.message;
  const reason = error instanceof Error || typeof message !== 'string' ? describeError(error) : message;
  return { code: 'HANDLER_FAILED', retriable: false, reason };
}

/** Resolves after `ms`, or early (to false) when the signal aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
