// The read-back a tool declares as `verify`, after a call the tool answered with success: does the
// system of record show the side effect? The answer is evidence, and the outcome follows it
// (executor.ts): confirmed → succeeded (verified), refuted → unknown (a person reconciles),
// inconclusive → succeeded, unverified. Why each: docs/design/pipeline.md, "Verified outcomes".
import { describeError } from '@writ/errors';
import { buildVerifyRequest } from '@writ/tools';
import type { ToolDefinition } from '@writ/tools';
import { CallInterrupted, backoffMs } from './call.ts';
import type { CallDeps } from './call.ts';

export type Verification =
  /** The tool declares no read-back. */
  | { readonly kind: 'none' }
  /** The read-back found the side effect (2xx). */
  | { readonly kind: 'confirmed'; readonly attempts: number }
  /** The read-back says the side effect is not there (404 or 410): the tool's success is contradicted. */
  | { readonly kind: 'refuted'; readonly status: number; readonly target: string; readonly attempts: number }
  /** No read-back could be made (5xx, 408, 429, timeout or network after the retries, another 4xx, no reference to read by). */
  | { readonly kind: 'inconclusive'; readonly reason: string; readonly attempts: number };

/** Statuses that say the thing read does not exist (any more). */
const ABSENT = new Set([404, 410]);
/** Statuses worth another read: the system of record could not answer now. */
const TRANSIENT = (status: number): boolean => status === 408 || status === 429 || status >= 500;

export interface VerifyInput {
  readonly tool: ToolDefinition;
  /** The clear arguments and the tool's (unredacted) result the read-back url is filled from. */
  readonly args: unknown;
  readonly result: unknown;
  /** The call's headers (credential, traceparent); the idempotency key is not sent on a read. */
  readonly headers: Readonly<Record<string, string>>;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly signal?: AbortSignal;
}

/**
 * Reads the side effect back, retrying a transient failure as the tool's retry policy says (a
 * read may be repeated). Throws CallInterrupted when the executor stops meanwhile: the record
 * stays "started", so the outcome is reported unknown, never guessed.
 */
export async function verifySideEffect(deps: CallDeps, input: VerifyInput): Promise<Verification> {
  const { tool, signal } = input;
  let request;
  try {
    request = buildVerifyRequest(tool, input.args, input.result, input.env);
  } catch (error) {
    return { kind: 'inconclusive', reason: `the read-back could not be built from the result (${describeError(error)})`, attempts: 0 };
  }
  if (request === undefined) return { kind: 'none' };
  const target = new URL(request.url).pathname;
  const { 'idempotency-key': _key, ...headers } = input.headers;
  for (let attempt = 1; ; attempt += 1) {
    const timeout = AbortSignal.timeout(tool.timeout_ms);
    let reason: string;
    let again: boolean;
    try {
      const response = await deps.fetch(request.url, {
        method: 'GET',
        headers,
        signal: signal === undefined ? timeout : AbortSignal.any([timeout, signal]),
      });
      await response.text();
      const status = response.status;
      if (status >= 200 && status < 300) return { kind: 'confirmed', attempts: attempt };
      if (ABSENT.has(status)) return { kind: 'refuted', status, target, attempts: attempt };
      reason = `the read-back GET ${target} answered HTTP ${status}`;
      again = TRANSIENT(status);
    } catch {
      if (signal?.aborted === true) throw new CallInterrupted();
      reason = timeout.aborted ? `the read-back GET ${target} did not answer within ${tool.timeout_ms} ms` : `the read-back GET ${target} could not be made`;
      again = true;
    }
    if (!again || attempt >= tool.retry.max_attempts) return { kind: 'inconclusive', reason, attempts: attempt };
    await deps.sleep(backoffMs(tool, attempt, deps.random), signal);
    if (signal?.aborted === true) throw new CallInterrupted();
  }
}
