// Who may call the helpdesk's tool routes. A tool declaring `credential.mint` is called with a
// token the executor minted for that one action: it must verify against the executor's JWKS and
// fit the request exactly (its tool's endpoint, the sha256 of the arguments received, the
// Idempotency-Key, a tenant served here), or be the read-back of the side effect its own action
// made. The static token passes only where a tool declares it as its fallback (`env` / `file`),
// and on routes that are no tool's (the operator's). Everything else is a 401.
import { timingSafeEqual } from 'node:crypto';
import type { JWTVerifyGetKey } from 'jose';
import { sha256Canonical } from '@writ/crypto';
import { isWritError } from '@writ/errors';
import { argumentsOfRequest, fitsToolEndpoint, fitsVerifyRequest, mintsCredential, verifyActionToken, verifyPathOf } from '@writ/tools';
import type { ActionTokenClaims, ReceivedRequest, ToolDefinition, ToolRegistry } from '@writ/tools';

export interface MintedTokenOptions {
  /** The executor's published keys: jose's createRemoteJWKSet(url) or createLocalJWKSet(jwks). */
  readonly keys: JWTVerifyGetKey;
  /** The executor's `iss` (default "writ-executor"). */
  readonly issuer?: string;
  /** This helpdesk's name in the tools' `credential.mint.audience` (default "helpdesk"). */
  readonly audience?: string;
  /** The tenants this helpdesk serves; absent: any. */
  readonly tenants?: readonly string[];
}

export interface CallGuardOptions {
  /** The static token: the operator's, and the declared fallback of tools with `credential.env` / `.file`. */
  readonly staticToken: string;
  /** The tool contracts of the tools that call this helpdesk. */
  readonly tools: ToolRegistry;
  /** Without it, no per-action token verifies (tools declaring `mint` are refused). */
  readonly minted?: MintedTokenOptions;
  readonly now: () => number;
}

export interface CallRequest extends ReceivedRequest {
  readonly authorization: string | undefined;
  readonly idempotencyKey: string | undefined;
}

export type Admission =
  | { readonly ok: true; readonly via: 'static' }
  | {
      readonly ok: true;
      readonly via: 'minted';
      readonly claims: ActionTokenClaims;
      readonly tool: ToolDefinition;
      /** The call's arguments; undefined for a read-back. */
      readonly args: Record<string, unknown> | undefined;
    }
  | { readonly ok: false; readonly reason: string };

const JWS_COMPACT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const READ_BACKS_KEPT = 10_000;

function refuse(reason: string): Admission {
  return { ok: false, reason };
}

function sameSecret(presented: string, expected: string): boolean {
  const a = Buffer.from(presented, 'utf8');
  const b = Buffer.from(expected, 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}

const ref = (tool: Pick<ToolDefinition, 'name' | 'version'>) => `${tool.name}@${tool.version}`;

export class CallGuard {
  readonly #options: CallGuardOptions;
  /** Action id -> the read-back its token may make: the path of the side effect that action made. */
  readonly #readBacks = new Map<string, { readonly tool: string; readonly path: string }>();

  constructor(options: CallGuardOptions) {
    this.#options = options;
  }

  /** The operator's routes (/_stats, /_control): the static token only. */
  operator(authorization: string | undefined): boolean {
    const bearer = /^Bearer (.+)$/.exec(authorization ?? '')?.[1];
    return bearer !== undefined && sameSecret(bearer, this.#options.staticToken);
  }

  async admit(request: CallRequest): Promise<Admission> {
    const bearer = /^Bearer (.+)$/.exec(request.authorization ?? '')?.[1];
    if (bearer === undefined) return refuse('a bearer token is required');
    return JWS_COMPACT.test(bearer) ? this.#minted(bearer, request) : this.#static(bearer, request);
  }

  /** After a call admitted with a minted token succeeded: its token may then read back what it made. */
  succeeded(admission: Admission, result: unknown): void {
    if (!admission.ok || admission.via !== 'minted' || admission.args === undefined) return;
    const path = verifyPathOf(admission.tool, admission.args, result);
    if (path === undefined) return;
    if (this.#readBacks.size >= READ_BACKS_KEPT) this.#readBacks.delete(this.#readBacks.keys().next().value ?? '');
    this.#readBacks.set(admission.claims.jti, { tool: ref(admission.tool), path });
  }

  #static(bearer: string, request: CallRequest): Admission {
    if (!sameSecret(bearer, this.#options.staticToken)) return refuse('the bearer token is not valid here');
    const fitting = this.#options.tools.list().filter((tool) => fitsToolEndpoint(tool, request) || fitsVerifyRequest(tool, request));
    if (fitting.length === 0 || fitting.some((tool) => tool.credential !== undefined && !mintsCredential(tool))) return { ok: true, via: 'static' };
    return refuse(`${fitting.map(ref).join(', ')} take a token minted per action: the static token is refused`);
  }

  async #minted(token: string, request: CallRequest): Promise<Admission> {
    const minted = this.#options.minted;
    if (minted === undefined) return refuse('this helpdesk has no JWKS to verify per-action tokens with');
    const audience = minted.audience ?? 'helpdesk';
    let claims: ActionTokenClaims;
    try {
      claims = await verifyActionToken(token, minted.keys, { issuer: minted.issuer ?? 'writ-executor', audience, now: this.#options.now() });
    } catch (error) {
      if (isWritError(error, 'ACTION_TOKEN_INVALID')) return refuse(error.message);
      throw error;
    }
    if (minted.tenants !== undefined && !minted.tenants.includes(claims.tenant)) return refuse(`tenant ${claims.tenant} is not served by this helpdesk`);
    if (!claims.idempotency_key.startsWith(`${claims.tenant}:`)) return refuse(`the token's idempotency key is not of tenant ${claims.tenant}`);
    const tool = this.#options.tools.get(claims.tool, claims.tool_version);
    if (tool === undefined) return refuse(`the token is for ${claims.tool}@${claims.tool_version}, a tool this helpdesk does not know`);
    if (!mintsCredential(tool) || tool.credential.mint.audience !== audience) {
      return refuse(`${ref(tool)} does not declare a minted credential for audience ${audience}`);
    }
    const args = argumentsOfRequest(tool, request);
    if (args !== undefined) {
      if (sha256Canonical(args) !== claims.args_sha256) return refuse(`the arguments received are not those the token was minted for (${ref(tool)})`);
      if (request.idempotencyKey !== claims.idempotency_key) return refuse('the Idempotency-Key is not the one the token was minted for');
      return { ok: true, via: 'minted', claims, tool, args };
    }
    if (fitsVerifyRequest(tool, request)) {
      const readBack = this.#readBacks.get(claims.jti);
      if (readBack?.tool === ref(tool) && readBack.path === request.path) return { ok: true, via: 'minted', claims, tool, args: undefined };
      return refuse(`the token of ${ref(tool)} reads back only the side effect of its own action`);
    }
    return refuse(`the token is for ${ref(tool)}, not for ${request.method} ${request.path}`);
  }
}
