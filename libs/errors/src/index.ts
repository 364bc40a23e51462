export { WritError, isWritError, isRetriable, describeError } from './writ-error.ts';
export type { WritErrorOptions } from './writ-error.ts';
export { ERROR_HTTP_STATUS, httpStatusOf, kafkaErrorCode } from './codes.ts';
export type { ErrorCode, KafkaErrorCode } from './codes.ts';
