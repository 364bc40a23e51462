// A warrant is the PDP's signed permission for one action: Ed25519 over the canonical JSON of
// {action_id, tenant, agent, tool@version, args_sha256, decision, policy_set_hash, not_after}, plus
// `mode: "shadow"` for an action of a shadow run: such a warrant says what was allowed and can never
// pass as a live one (the executor verifies the live claims, whose signature it does not match).
import { signCanonical, verifyCanonical } from '@writ/crypto';
import type { Keyring, SigningKey } from '@writ/crypto';
import { WritError } from '@writ/errors';
import type { PolicyDecision } from './types.ts';

export interface WarrantClaims {
  readonly action_id: string;
  readonly tenant: string;
  readonly agent: string;
  readonly tool: string;
  readonly tool_version: string;
  /** sha256 hex of the canonical JSON of the exact arguments. */
  readonly args_sha256: string;
  readonly decision: PolicyDecision;
  readonly policy_set_hash: string;
  /** Last moment (epoch milliseconds) the warrant may be used. */
  readonly not_after: number;
  /** Set for an action of a shadow run (signed, so the warrant never runs a tool). */
  readonly mode?: 'shadow';
}

/** Exactly what is signed. `tool` is "name@version". */
export interface SignedWarrantClaims {
  readonly action_id: string;
  readonly tenant: string;
  readonly agent: string;
  readonly tool: string;
  readonly args_sha256: string;
  readonly decision: PolicyDecision;
  readonly policy_set_hash: string;
  readonly not_after: number;
  /** Present only for a shadow run's action: what a live warrant's claims never include. */
  readonly mode?: 'shadow';
}

/** The signed claims plus the signature and its key id; travels inside ExecutionRequested. */
export interface Warrant extends SignedWarrantClaims {
  readonly key_id: string;
  /** Standard base64 of the 64-byte Ed25519 signature. */
  readonly signature: string;
}

/** What the verifier (the executor) knows independently about the action it is about to run. */
export interface ExpectedWarrantClaims {
  readonly action_id: string;
  readonly tenant: string;
  readonly agent: string;
  readonly tool: string;
  readonly tool_version: string;
  /** Computed by the verifier from the arguments it is about to use. */
  readonly args_sha256: string;
  /** Defaults to "allow": only an allow warrant lets a tool run. */
  readonly decision?: PolicyDecision;
  /** Checked only when given (e.g. a verifier pinned to one policy set). */
  readonly policy_set_hash?: string;
}

export type WarrantCheck = { readonly ok: true; readonly claims: SignedWarrantClaims } | { readonly ok: false; readonly error: WritError };

const SHA256_HEX = /^[0-9a-f]{64}$/;
const DECISIONS: readonly string[] = ['allow', 'deny', 'approval_required'];
const CLAIM_ORDER = ['action_id', 'tenant', 'agent', 'tool', 'args_sha256', 'decision', 'policy_set_hash'] as const;

function issueInvalid(field: string, rule: string): WritError {
  return new WritError('WARRANT_CLAIMS_INVALID', `warrant claim ${field} ${rule}`, { field, rule });
}

function nonEmpty(value: unknown, field: string): string {
  if (typeof value !== 'string' || value === '') throw issueInvalid(field, 'must be a non-empty string');
  return value;
}

export function toolRef(tool: string, version: string): string {
  return `${tool}@${version}`;
}

/** Signs a warrant for one action. Refuses malformed claims rather than signing them. */
export function issueWarrant(claims: WarrantClaims, signingKey: SigningKey): Warrant {
  const tool = nonEmpty(claims.tool, 'tool');
  if (tool.includes('@')) throw issueInvalid('tool', 'must be the tool name without "@version"');
  const signed: SignedWarrantClaims = {
    action_id: nonEmpty(claims.action_id, 'action_id'),
    tenant: nonEmpty(claims.tenant, 'tenant'),
    agent: nonEmpty(claims.agent, 'agent'),
    tool: toolRef(tool, nonEmpty(claims.tool_version, 'tool_version')),
    args_sha256: claims.args_sha256,
    decision: claims.decision,
    policy_set_hash: claims.policy_set_hash,
    not_after: claims.not_after,
    ...(claims.mode === 'shadow' ? { mode: 'shadow' as const } : {}),
  };
  if (!SHA256_HEX.test(signed.args_sha256)) throw issueInvalid('args_sha256', 'must be 64 lower-case hex digits');
  if (!SHA256_HEX.test(signed.policy_set_hash)) throw issueInvalid('policy_set_hash', 'must be 64 lower-case hex digits');
  if (!DECISIONS.includes(signed.decision)) throw issueInvalid('decision', `must be one of ${DECISIONS.join(', ')}`);
  if (!Number.isSafeInteger(signed.not_after) || signed.not_after <= 0) throw issueInvalid('not_after', 'must be epoch milliseconds');
  const { key_id, signature } = signCanonical(signed, signingKey);
  return { ...signed, key_id, signature };
}

function forged(reason: string, keyId?: string): WarrantCheck {
  return {
    ok: false,
    error: new WritError('WARRANT_FORGED', `warrant rejected: ${reason}`, {
      field: 'warrant.signature',
      rule: 'must be a valid signature by a trusted PDP key',
      ...(keyId === undefined ? {} : { details: { key_id: keyId } }),
    }),
  };
}

function signedPart(warrant: Warrant): SignedWarrantClaims | undefined {
  if (typeof warrant !== 'object' || warrant === null) return undefined;
  const { action_id, tenant, agent, tool, args_sha256, decision, policy_set_hash, not_after, mode } = warrant;
  const strings = [action_id, tenant, agent, tool, args_sha256, decision, policy_set_hash];
  if (!strings.every((s) => typeof s === 'string') || typeof not_after !== 'number') return undefined;
  if (mode !== undefined && mode !== 'shadow') return undefined;
  return { action_id, tenant, agent, tool, args_sha256, decision, policy_set_hash, not_after, ...(mode === 'shadow' ? { mode } : {}) };
}

/**
 * Verifies a warrant for the action about to run, in this order: the signature is by a key in the
 * keyring over exactly the carried claims (else WARRANT_FORGED); now <= not_after (else
 * WARRANT_EXPIRED); every claim equals what the verifier expects (else WARRANT_MISMATCH naming the
 * claim in `field` and details.claim). `now` is epoch milliseconds.
 */
export function verifyWarrant(warrant: Warrant, expected: ExpectedWarrantClaims, keyring: Keyring, now: number): WarrantCheck {
  const claims = signedPart(warrant);
  if (claims === undefined) return forged('it is malformed (missing or mistyped claims)');
  const check = verifyCanonical(claims, { key_id: warrant.key_id, signature: warrant.signature }, keyring);
  if (!check.ok) {
    const why = {
      'unknown-key': `key id "${check.keyId}" is not in the keyring`,
      'malformed-signature': 'its signature is not a base64 Ed25519 signature',
      'bad-signature': 'its signature does not match its claims',
    }[check.reason];
    return forged(why, check.keyId);
  }
  if (now > claims.not_after) {
    return {
      ok: false,
      error: new WritError('WARRANT_EXPIRED', `warrant expired at ${new Date(claims.not_after).toISOString()}`, {
        field: 'warrant.not_after',
        rule: 'must not be in the past',
        details: { not_after: claims.not_after, now },
      }),
    };
  }
  const wanted: Record<(typeof CLAIM_ORDER)[number], string | undefined> = {
    action_id: expected.action_id,
    tenant: expected.tenant,
    agent: expected.agent,
    tool: toolRef(expected.tool, expected.tool_version),
    args_sha256: expected.args_sha256,
    decision: expected.decision ?? 'allow',
    policy_set_hash: expected.policy_set_hash,
  };
  for (const claim of CLAIM_ORDER) {
    const want = wanted[claim];
    if (want !== undefined && claims[claim] !== want) {
      return {
        ok: false,
        error: new WritError('WARRANT_MISMATCH', `warrant was issued for ${claim} "${claims[claim]}", not "${want}"`, {
          field: `warrant.${claim}`,
          rule: 'must match the action being executed',
          details: { claim, expected: want, actual: claims[claim] },
        }),
      };
    }
  }
  return { ok: true, claims };
}
