export { WritError, isWritError, isRetriable, describeError } from './writ-error.ts';
export type { WritErrorOptions } from './writ-error.ts';
