// One tool call over HTTP with the tool's timeout, retries of retriable failures only (exponential
// backoff with jitter, up to the tool's max_attempts), and its circuit breaker. The HTTP client,
// clock, sleep and randomness are passed in.
import { WritError, backoffDelay } from '@writ/errors';
import type { ToolDefinition, ToolHttpRequest } from '@writ/tools';
import type { CircuitBreaker } from './breaker.ts';
import type { Refusal } from './checks.ts';

export interface HttpResponseLike {
  readonly status: number;
  readonly headers: { get(name: string): string | null };
  text(): Promise<string>;
}

/** The subset of fetch the executor uses; the global fetch fits. */
export type HttpFetch = (
  url: string,
  init: { method: string; headers: Record<string, string>; body?: string; signal: AbortSignal },
) => Promise<HttpResponseLike>;

export interface CallDeps {
  readonly fetch: HttpFetch;
  readonly now: () => number;
  readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** [0, 1) */
  readonly random: () => number;
}

export interface CallInput {
  readonly tool: ToolDefinition;
  readonly request: ToolHttpRequest;
  readonly headers: Readonly<Record<string, string>>;
  readonly breaker: CircuitBreaker;
  /** Stops a retry loop between attempts (kill switch, deadline). */
  readonly mayContinue: () => Refusal | undefined;
  /** The executor is stopping: abandon the call (its outcome is then unknown). */
  readonly signal?: AbortSignal;
}

export type CallOutcome =
  | { readonly ok: true; readonly status: number; readonly result: unknown; readonly attempts: number; readonly duration_ms: number }
  | {
      readonly ok: false;
      readonly code: string;
      readonly message: string;
      readonly retriable: boolean;
      /** The side effect may have happened (a timeout or a broken connection after sending). */
      readonly maybeDone: boolean;
      readonly attempts: number;
      readonly duration_ms: number;
    };

type Attempt =
  | { kind: 'ok'; status: number; result: unknown }
  | { kind: 'rejected'; status: number; error: string | undefined }
  | { kind: 'unavailable'; status: number; retryAfterMs: number | undefined }
  | { kind: 'timeout' }
  | { kind: 'network'; sent: boolean; code: string };

/**
 * Raised when the executor's own shutdown signal aborted a call. Retriable, so the consumer leaves
 * the request uncommitted: the next executor finds the "started" record and reports unknown.
 */
export class CallInterrupted extends WritError {
  constructor() {
    super('EXECUTION_INTERRUPTED', 'the executor stopped during the call', { retriable: true });
    this.name = 'CallInterrupted';
  }
}

const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT']);

function errorCode(error: unknown): string {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && typeof current === 'object' && current !== null; depth += 1) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    current = (current as { cause?: unknown }).cause;
  }
  return 'UNKNOWN';
}

function parseRetryAfter(value: string | null): number | undefined {
  if (value === null) return undefined;
  const seconds = Number(value);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : undefined;
}

function parseBody(text: string): unknown {
  if (text.trim() === '') return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

async function attemptOnce(deps: CallDeps, input: CallInput): Promise<Attempt> {
  const timeout = AbortSignal.timeout(input.tool.timeout_ms);
  const signal = input.signal === undefined ? timeout : AbortSignal.any([timeout, input.signal]);
  let response: HttpResponseLike;
  let text: string;
  try {
    response = await deps.fetch(input.request.url, {
      method: input.request.method,
      headers: { ...input.headers, ...(input.request.body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(input.request.body === undefined ? {} : { body: input.request.body }),
      signal,
    });
    text = await response.text();
  } catch (error) {
    if (input.signal?.aborted === true) throw new CallInterrupted();
    if (timeout.aborted) return { kind: 'timeout' };
    const code = errorCode(error);
    return { kind: 'network', sent: !NOT_SENT.has(code), code };
  }
  const status = response.status;
  if (status >= 200 && status < 300) return { kind: 'ok', status, result: parseBody(text) };
  if (status === 408 || status === 429 || status >= 500)
    return { kind: 'unavailable', status, retryAfterMs: parseRetryAfter(response.headers.get('retry-after')) };
  const body = parseBody(text);
  const error =
    typeof body === 'object' && body !== null && typeof (body as { error?: unknown }).error === 'string' ? (body as { error: string }).error : undefined;
  return { kind: 'rejected', status, error };
}

/** Backoff before attempt n+1 (n >= 1): exponential, capped, with "equal jitter" (half fixed, half random). */
export function backoffMs(tool: Pick<ToolDefinition, 'retry'>, attempt: number, random: () => number, retryAfterMs?: number): number {
  const jittered = backoffDelay(attempt, { initialMs: tool.retry.initial_backoff_ms, maxMs: tool.retry.max_backoff_ms }, random);
  const wanted = retryAfterMs === undefined ? jittered : Math.max(jittered, retryAfterMs);
  return Math.round(Math.min(wanted, tool.retry.max_backoff_ms));
}

/** May this failure be retried for this tool without risking a second side effect? */
function retriable(tool: ToolDefinition, attempt: Attempt): boolean {
  if (attempt.kind === 'ok' || attempt.kind === 'rejected') return false;
  if (tool.effect === 'read' || tool.idempotent) return true;
  // A write without idempotency support is retried only when it certainly did not run.
  if (attempt.kind === 'network') return !attempt.sent;
  if (attempt.kind === 'unavailable') return attempt.status === 429 || attempt.status === 503;
  return false;
}

function failureOf(attempt: Exclude<Attempt, { kind: 'ok' }>, tool: ToolDefinition): { code: string; message: string; retriable: boolean } {
  switch (attempt.kind) {
    case 'rejected':
      return {
        code: 'TOOL_REJECTED',
        message: `${tool.name} answered HTTP ${attempt.status}${attempt.error === undefined ? '' : ` (${attempt.error})`}`,
        retriable: false,
      };
    case 'unavailable':
      return { code: 'TOOL_UNAVAILABLE', message: `${tool.name} answered HTTP ${attempt.status}`, retriable: true };
    case 'timeout':
      return { code: 'TOOL_TIMEOUT', message: `${tool.name} did not answer within ${tool.timeout_ms} ms`, retriable: true };
    case 'network':
      return { code: 'TOOL_UNREACHABLE', message: `${tool.name} could not be reached (${attempt.code})`, retriable: true };
    default: {
      const never: never = attempt;
      return never;
    }
  }
}

export async function callTool(deps: CallDeps, input: CallInput): Promise<CallOutcome> {
  const { tool, breaker } = input;
  const started = deps.now();
  let maybeDone = false;
  let last: { code: string; message: string; retriable: boolean } | undefined;
  for (let attempt = 1; ; attempt += 1) {
    const made = attempt - 1;
    const stop = (code: string, message: string, isRetriable: boolean): CallOutcome => ({
      ok: false,
      code: last?.code ?? code,
      message: last === undefined ? message : `${last.message}; then ${message}`,
      retriable: last?.retriable ?? isRetriable,
      maybeDone,
      attempts: made,
      duration_ms: deps.now() - started,
    });
    // Checked before every attempt: a kill switch pulled a moment ago stops the next call.
    const refusal = input.mayContinue();
    if (refusal !== undefined) return stop(refusal.code, attempt > 1 ? `no retry: ${refusal.message}` : refusal.message, false);
    if (!breaker.tryAcquire(deps.now())) return stop('CIRCUIT_OPEN', `the circuit breaker of ${tool.name} is open`, true);

    const result = await attemptOnce(deps, input);
    if (result.kind === 'ok') {
      breaker.success();
      return { ok: true, status: result.status, result: result.result, attempts: attempt, duration_ms: deps.now() - started };
    }
    if (result.kind === 'rejected') breaker.success();
    else breaker.failure(deps.now());
    if (result.kind === 'timeout' || (result.kind === 'network' && result.sent)) maybeDone = true;
    last = failureOf(result, tool);

    const more = attempt < tool.retry.max_attempts && retriable(tool, result);
    if (!more) {
      return { ok: false, ...last, maybeDone, attempts: attempt, duration_ms: deps.now() - started };
    }
    const wait = backoffMs(tool, attempt, deps.random, result.kind === 'unavailable' ? result.retryAfterMs : undefined);
    await deps.sleep(wait, input.signal);
    if (input.signal?.aborted === true) throw new CallInterrupted();
  }
}
