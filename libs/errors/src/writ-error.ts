import type { ErrorCode } from './codes.ts';

/**
 * The one error shape of Writ: a stable `code` to branch on (never `instanceof` across packages),
 * a `retriable` flag that decides between retry-with-backoff and the dead-letter topic, and, for
 * bad input, the `field` and the `rule` it broke so a user can fix it.
 */
export interface WritErrorOptions {
  readonly retriable?: boolean;
  readonly field?: string;
  readonly rule?: string;
  readonly cause?: unknown;
  readonly details?: Readonly<Record<string, unknown>>;
}

/**
 * `C` is the code's type: Writ's own errors carry an `ErrorCode` (the closed union of codes.ts);
 * a client of another Writ (the SDK) may carry whatever code the server answered.
 */
export class WritError<C extends string = ErrorCode> extends Error {
  readonly code: C;
  readonly retriable: boolean;
  readonly field: string | undefined;
  readonly rule: string | undefined;
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(code: NoInfer<C>, message: string, options: WritErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'WritError';
    this.code = code;
    this.retriable = options.retriable ?? false;
    this.field = options.field;
    this.rule = options.rule;
    this.details = options.details;
  }

  toJSON(): Record<string, unknown> {
    return {
      code: this.code,
      message: this.message,
      retriable: this.retriable,
      ...(this.field === undefined ? {} : { field: this.field }),
      ...(this.rule === undefined ? {} : { rule: this.rule }),
      ...(this.details === undefined ? {} : { details: this.details }),
    };
  }
}

/** Structural check, so errors thrown by another copy of this package are recognised too. */
export function isWritError(value: unknown, code?: ErrorCode): value is WritError {
  if (typeof value !== 'object' || value === null) return false;
  const candidate = value as { code?: unknown; retriable?: unknown };
  if (typeof candidate.code !== 'string' || typeof candidate.retriable !== 'boolean') return false;
  return code === undefined || candidate.code === code;
}

/** True when a failure is worth retrying: a WritError marked retriable. Unknown errors are not. */
export function isRetriable(error: unknown): boolean {
  return isWritError(error) && error.retriable;
}

export function describeError(error: unknown): string {
  if (isWritError(error)) return `${error.code}: ${error.message}`;
  if (error instanceof Error) return error.message;
  return String(error);
}
