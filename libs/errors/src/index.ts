export { WritError, isWritError, isRetriable, describeError } from './writ-error.ts';
export type { WritErrorOptions } from './writ-error.ts';
export { ERROR_HTTP_STATUS, httpStatusOf, kafkaErrorCode } from './codes.ts';
export type { ErrorCode, KafkaErrorCode } from './codes.ts';
export { backoffDelay } from './backoff.ts';
export type { Backoff } from './backoff.ts';
