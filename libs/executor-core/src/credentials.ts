// The credential of one call: a token minted for this action (tools declaring `credential.mint`),
// or the tool's static token (its declared fallback, `env` / `file`). Never put into an event,
// a log or a span: the executor scrubs it out of everything a tool echoes.
import type { ExecutionRequested } from '@writ/contracts';
import { sha256Canonical } from '@writ/crypto';
import type { ActionTokenClaims, ActionTokenSigner, ToolDefinition } from '@writ/tools';

/** What the executor mints action tokens with. */
export interface ActionTokens {
  /** The tokens' `iss` (WRIT_EXECUTOR_TOKEN_ISSUER). */
  readonly issuer: string;
  readonly signer: ActionTokenSigner;
}

/** Slack for the clocks of executor and tool, on top of the time the calls may take. */
export const ACTION_TOKEN_MARGIN_MS = 5_000;

/**
 * How long an action's token must stay valid: every attempt at its timeout, the longest backoff
 * between attempts, the read-back, and a margin. Never more: a token outliving its action is a
 * token someone could replay.
 */
export function actionTokenLifetimeMs(tool: Pick<ToolDefinition, 'timeout_ms' | 'retry' | 'verify'>): number {
  const attempts = tool.retry.max_attempts;
  const verify = tool.verify === undefined ? 0 : tool.timeout_ms;
  return attempts * tool.timeout_ms + (attempts - 1) * tool.retry.max_backoff_ms + verify + ACTION_TOKEN_MARGIN_MS;
}

/** The Idempotency-Key header of an action's calls (a key is the agent's, scoped to its tenant). */
export function idempotencyHeader(request: Pick<ExecutionRequested, 'meta' | 'idempotency_key'>): string {
  return `${request.meta.tenant_id}:${request.idempotency_key}`;
}

/**
 * The claims of the token for one action: who (tenant, agent), what (tool@version and the sha256
 * of the clear arguments the tool receives), which call (action id, idempotency key) and until when.
 */
export function actionTokenClaims(input: {
  readonly request: ExecutionRequested;
  readonly tool: ToolDefinition & { readonly credential: { readonly mint: { readonly audience: string } } };
  /** The clear, validated arguments the tool is called with. */
  readonly args: unknown;
  readonly issuer: string;
  /** ms since the epoch. */
  readonly now: number;
}): ActionTokenClaims {
  const { request, tool, now } = input;
  return {
    iss: input.issuer,
    aud: tool.credential.mint.audience,
    sub: request.agent_id,
    jti: request.meta.action_id ?? '',
    iat: Math.floor(now / 1000),
    exp: Math.ceil((now + actionTokenLifetimeMs(tool)) / 1000),
    tenant: request.meta.tenant_id,
    tool: tool.name,
    tool_version: tool.version,
    args_sha256: sha256Canonical(input.args),
    idempotency_key: idempotencyHeader(request),
  };
}

/** Where a tool's credential comes from, for an error message (never the value). */
export function credentialSource(tool: Pick<ToolDefinition, 'credential'>): string {
  const credential = tool.credential;
  if (credential === undefined) return 'no credential';
  if ('mint' in credential) return `a token minted for audience ${credential.mint.audience} (WRIT_EXECUTOR_TOKEN_SIGNING_KEY)`;
  return 'env' in credential ? `the environment variable ${credential.env}` : `the file ${credential.file}`;
}
