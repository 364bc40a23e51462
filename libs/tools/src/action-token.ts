// The per-action credential: a JWT (RFC 7519) that the executor signs with Ed25519 (JWS alg
// EdDSA, RFC 8037) for one action of one tool, and that the tool verifies with the executor's
// published JWKS. Minting and verifying share this file so the format is defined once; the JOSE
// work is jose's. Pure: the clock is passed in (`iat`/`exp` when signing, `now` when verifying).
import { SignJWT, exportJWK, importPKCS8, jwtVerify } from 'jose';
import type { CryptoKey, JSONWebKeySet, JWK, JWTVerifyGetKey } from 'jose';
import { inspect } from 'node:util';
import { signingKeyFromPem } from '@writ/crypto';
import { WritError } from '@writ/errors';

/** The `typ` header of an action token (RFC 8725 §3.11: explicit typing, so no other JWT passes as one). */
export const ACTION_TOKEN_TYPE = 'writ-action+jwt';
export const ACTION_TOKEN_ALGORITHM = 'EdDSA';

/** The claims of an action token; times in seconds since the epoch (NumericDate). */
export interface ActionTokenClaims {
  /** The executor that minted it. */
  readonly iss: string;
  /** The tool's `credential.mint.audience`. */
  readonly aud: string;
  /** The agent the action is for. */
  readonly sub: string;
  /** The action id: one action, one scope (the retries and read-back of that action share it). */
  readonly jti: string;
  readonly iat: number;
  readonly exp: number;
  readonly tenant: string;
  readonly tool: string;
  readonly tool_version: string;
  /** sha256 (hex) of the canonical JSON of the clear arguments the tool receives. */
  readonly args_sha256: string;
  /** The Idempotency-Key header the executor sends with the call (`<tenant>:<key>`). */
  readonly idempotency_key: string;
}

const STRING_CLAIMS = ['iss', 'aud', 'sub', 'jti', 'tenant', 'tool', 'tool_version', 'args_sha256', 'idempotency_key'] as const;
const SHA256_HEX = /^[0-9a-f]{64}$/;

/**
 * The executor's signing key for action tokens. The private half is imported non-extractable and
 * never leaves the object; logging or serialising it prints the key id only.
 */
export class ActionTokenSigner {
  readonly keyId: string;
  /** The public half as a JWK (`kid`, `alg`, `use` set), for the JWKS. */
  readonly publicJwk: JWK;
  readonly #key: CryptoKey;

  private constructor(keyId: string, key: CryptoKey, publicJwk: JWK) {
    this.keyId = keyId;
    this.#key = key;
    this.publicJwk = publicJwk;
  }

  /** From a PKCS#8 PEM Ed25519 private key (throws KEY_INVALID, naming the key, for anything else). */
  static async fromPem(keyId: string, pem: string): Promise<ActionTokenSigner> {
    const checked = signingKeyFromPem(keyId, pem);
    const key = await importPKCS8(checked.exportPrivateKeyPem(), ACTION_TOKEN_ALGORITHM, { extractable: false });
    const publicJwk: JWK = { ...(await exportJWK(checked.publicKey)), kid: keyId, alg: ACTION_TOKEN_ALGORITHM, use: 'sig' };
    return new ActionTokenSigner(keyId, key, publicJwk);
  }

  /** The JWKS (RFC 7517) verifiers fetch: this key's public half. */
  jwks(): JSONWebKeySet {
    return { keys: [this.publicJwk] };
  }

  /** The compact JWS of these claims, `kid` and `typ` in the protected header. */
  async sign(claims: ActionTokenClaims): Promise<string> {
    checkClaims(claims, 'claims');
    if (claims.exp <= claims.iat) {
      throw new WritError('ACTION_TOKEN_INVALID', 'an action token must expire after it is issued', { field: 'exp', rule: 'exp > iat' });
    }
    return new SignJWT({ ...claims }).setProtectedHeader({ alg: ACTION_TOKEN_ALGORITHM, typ: ACTION_TOKEN_TYPE, kid: this.keyId }).sign(this.#key);
  }

  toJSON(): Record<string, string> {
    return { keyId: this.keyId, privateKey: '[redacted]' };
  }

  [inspect.custom](): string {
    return `ActionTokenSigner { keyId: '${this.keyId}', privateKey: [redacted] }`;
  }
}

function rejected(message: string, field: string, rule: string, cause?: unknown): WritError {
  return new WritError('ACTION_TOKEN_INVALID', message, { field, rule, ...(cause === undefined ? {} : { cause }) });
}

function checkClaims(payload: Record<string, unknown> | ActionTokenClaims, where: string): asserts payload is ActionTokenClaims {
  const record = payload as Record<string, unknown>;
  for (const name of STRING_CLAIMS) {
    const value = record[name];
    if (typeof value !== 'string' || value === '') throw rejected(`${where}: ${name} must be a non-empty string`, name, 'required string');
  }
  for (const name of ['iat', 'exp'] as const) {
    const value = record[name];
    if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw rejected(`${where}: ${name} must be whole seconds`, name, 'NumericDate');
  }
  if (!SHA256_HEX.test(record['args_sha256'] as string)) {
    throw rejected(`${where}: args_sha256 must be 64 lower-case hex digits`, 'args_sha256', 'sha256 hex');
  }
}

export interface ActionTokenExpectation {
  /** The executor's `iss`. */
  readonly issuer: string;
  /** The verifier's own name (the tools' `credential.mint.audience`). */
  readonly audience: string;
  /** The verifier's clock (ms since the epoch). */
  readonly now: number;
  /** Clock skew allowed on `iat` and `exp`, in seconds (default 5). */
  readonly clockToleranceS?: number;
  /** The longest lifetime (`exp - iat`) accepted, in seconds (default 600): a long-lived token is refused whoever signed it. */
  readonly maxLifetimeS?: number;
}

/** jose's failure as one sentence naming the claim or part that failed; never the token itself. */
function describeJoseFailure(error: unknown): WritError {
  const code = typeof (error as { code?: unknown })?.code === 'string' ? (error as { code: string }).code : '';
  const claim = (error as { claim?: unknown }).claim;
  switch (code) {
    case 'ERR_JWT_EXPIRED':
      return rejected('the action token has expired', 'exp', 'not expired', error);
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED': {
      const name = typeof claim === 'string' ? claim : 'claims';
      return rejected(`the action token's ${name} is not accepted here (${(error as Error).message})`, name, 'expected value', error);
    }
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return rejected('the action token signature does not verify', 'signature', 'signed by a published key', error);
    case 'ERR_JWKS_NO_MATCHING_KEY':
    case 'ERR_JWKS_MULTIPLE_MATCHING_KEYS':
      return rejected('the action token names no key of the published JWKS', 'kid', 'a key of the JWKS', error);
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
      return rejected(`the action token is not signed with ${ACTION_TOKEN_ALGORITHM}`, 'alg', ACTION_TOKEN_ALGORITHM, error);
    case 'ERR_JWKS_TIMEOUT':
    case 'ERR_JWKS_INVALID':
      return rejected('the published JWKS could not be read', 'jwks', 'reachable and valid', error);
    default:
      return rejected('the bearer token is not a valid action token', 'authorization', 'a compact JWS of type writ-action+jwt', error);
  }
}

/**
 * Verifies an action token: EdDSA signature by a key of `keys` (a JWKS: jose's createLocalJWKSet
 * or createRemoteJWKSet), `typ`, `iss`, `aud`, `iat`/`exp` at `now` within the tolerance, a
 * lifetime no longer than the maximum, and every claim of the format present and well-formed.
 * Throws ACTION_TOKEN_INVALID naming what failed. What the token is for (tool, arguments, tenant,
 * idempotency key) is then the caller's to compare with the request it received.
 */
export async function verifyActionToken(token: string, keys: JWTVerifyGetKey, expected: ActionTokenExpectation): Promise<ActionTokenClaims> {
  const tolerance = expected.clockToleranceS ?? 5;
  let payload: Record<string, unknown>;
  try {
    ({ payload } = await jwtVerify(token, keys, {
      algorithms: [ACTION_TOKEN_ALGORITHM],
      typ: ACTION_TOKEN_TYPE,
      issuer: expected.issuer,
      audience: expected.audience,
      currentDate: new Date(expected.now),
      clockTolerance: tolerance,
      requiredClaims: ['iss', 'aud', 'sub', 'jti', 'iat', 'exp'],
    }));
  } catch (error) {
    throw describeJoseFailure(error);
  }
  checkClaims(payload, 'action token');
  if (payload.iat > Math.floor(expected.now / 1000) + tolerance) throw rejected('the action token is issued in the future', 'iat', 'not after now');
  const maxLifetime = expected.maxLifetimeS ?? 600;
  if (payload.exp - payload.iat > maxLifetime) {
    throw rejected(`the action token lives ${payload.exp - payload.iat} s, longer than the ${maxLifetime} s accepted`, 'exp', `exp - iat <= ${maxLifetime}`);
  }
  return payload;
}
