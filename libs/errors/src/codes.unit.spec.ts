import { describe, expect, it } from 'vitest';
import { ERROR_HTTP_STATUS, httpStatusOf, kafkaErrorCode } from './codes.ts';
import { WritError, isWritError } from './writ-error.ts';

describe('error codes: one closed union, one HTTP mapping', () => {
  it('answers a code with its status, and a retriable internal failure with 503', () => {
    expect(httpStatusOf(new WritError('REQUEST_INVALID', 'x'))).toBe(400);
    expect(httpStatusOf(new WritError('UNAUTHENTICATED', 'x'))).toBe(401);
    expect(httpStatusOf(new WritError('FORBIDDEN', 'x'))).toBe(403);
    expect(httpStatusOf(new WritError('ACTION_NOT_FOUND', 'x'))).toBe(404);
    expect(httpStatusOf(new WritError('IDEMPOTENCY_CONFLICT', 'x'))).toBe(409);
    expect(httpStatusOf(new WritError('LEDGER_NOT_READY', 'x'))).toBe(503);
    expect(httpStatusOf(new WritError('KAFKA_UNREACHABLE', 'x'))).toBe(500);
    expect(httpStatusOf(new WritError('KAFKA_UNREACHABLE', 'x', { retriable: true }))).toBe(503);
    // A client error stays one even when marked retriable.
    expect(httpStatusOf(new WritError('REQUEST_INVALID', 'x', { retriable: true }))).toBe(400);
  });

  it("names the Kafka client's failures by librdkafka's name", () => {
    expect(kafkaErrorCode('ERR__TRANSPORT')).toBe('KAFKA_ERR__TRANSPORT');
    expect(kafkaErrorCode('ERR_MSG_SIZE_TOO_LARGE')).toBe('KAFKA_ERR_MSG_SIZE_TOO_LARGE');
    expect(kafkaErrorCode(10)).toBe('KAFKA_ERR_10');
    expect(httpStatusOf(new WritError(kafkaErrorCode('ERR__TRANSPORT'), 'x', { retriable: true }))).toBe(503);
  });

  it('uses only the statuses a door answers with', () => {
    const statuses = new Set<number>(Object.values(ERROR_HTTP_STATUS));
    expect([...statuses].sort()).toEqual([400, 401, 403, 404, 409, 429, 500, 503]);
    for (const code of Object.keys(ERROR_HTTP_STATUS)) expect(code).toMatch(/^[A-Z][A-Z0-9_]*$/);
  });

  it('refuses, at compile time, a code outside the union (tsc -p tsconfig.spec.json checks these lines)', () => {
    // @ts-expect-error: not an ErrorCode
    const unknown = new WritError('NOT_A_WRIT_CODE', 'x');
    // @ts-expect-error: isWritError filters by an ErrorCode only
    expect(isWritError(unknown, 'NOT_A_WRIT_CODE')).toBe(true);
    // A client of another Writ carries whatever code the server answered, when it says so.
    expect(new WritError<string>('HTTP_418', 'teapot').code).toBe('HTTP_418');
  });
});
