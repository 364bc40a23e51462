// OpenAI's error shape ({ error: { message, type, param, code } }) for every answer of the model
// proxy that is not a completion, with Writ's own `field`, `rule` and `action_id` beside it, so an
// OpenAI client shows the message and a Writ-aware one can act on the rest.
import { httpStatusOf, isWritError } from '@writ/errors';

export interface OpenAiErrorBody {
  readonly error: {
    readonly message: string;
    readonly type: string;
    readonly param: string | null;
    readonly code: string;
    readonly field?: string;
    readonly rule?: string;
    readonly action_id?: string;
    readonly policies?: readonly string[];
  };
}

export interface OpenAiError {
  readonly status: number;
  readonly body: OpenAiErrorBody;
}

function typeOf(status: number): string {
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status === 404) return 'not_found_error';
  if (status === 429) return 'rate_limit_error';
  if (status >= 500) return 'api_error';
  return 'invalid_request_error';
}

export function openAiError(
  status: number,
  code: string,
  message: string,
  extra: { field?: string; rule?: string; action_id?: string; policies?: readonly string[]; type?: string } = {},
): OpenAiError {
  const { type, ...rest } = extra;
  return { status, body: { error: { message, type: type ?? typeOf(status), param: extra.field ?? null, code, ...rest } } };
}

/** A thrown error as OpenAI's shape (a WritError keeps its status, code, field and rule). */
export function openAiErrorOf(error: unknown): OpenAiError {
  if (isWritError(error)) {
    const status = httpStatusOf(error);
    return openAiError(status, error.code, error.message, {
      ...(error.field === undefined ? {} : { field: error.field }),
      ...(error.rule === undefined ? {} : { rule: error.rule }),
    });
  }
  return openAiError(500, 'INTERNAL', 'internal error');
}

/** The provider's own error body, when it is OpenAI-shaped, else one saying what it answered. */
export function providerError(status: number, text: string, actionId: string): OpenAiError {
  try {
    const parsed = JSON.parse(text) as { error?: { message?: unknown; type?: unknown; code?: unknown } };
    if (typeof parsed.error === 'object' && parsed.error !== null && typeof parsed.error.message === 'string') {
      return openAiError(status, typeof parsed.error.code === 'string' ? parsed.error.code : 'PROVIDER_ERROR', parsed.error.message, {
        action_id: actionId,
        type: typeof parsed.error.type === 'string' ? parsed.error.type : typeOf(status),
      });
    }
  } catch {
    // not JSON: described below
  }
  return openAiError(status >= 500 ? 502 : status, 'PROVIDER_ERROR', `the model provider answered HTTP ${status}`, { action_id: actionId });
}
