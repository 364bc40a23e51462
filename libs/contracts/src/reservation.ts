// A reservation is the accountant's signed promise that budget is held for one action: Ed25519 over
// the canonical JSON of {reservation_id, action_id, tenant, run_id, agent, tool, amount_micros,
// currency, expires_at}. Only the budget service holds the signing key; the executor verifies it with
// its own keyring of reservation keys (never the warrant keyring).
import { signCanonical, verifyCanonical } from '@writ/crypto';
import type { Keyring, SignatureCheck, SigningKey } from '@writ/crypto';
import { WritError } from '@writ/errors';

/** Exactly what is signed. */
export interface ReservationClaims {
  readonly reservation_id: string;
  readonly action_id: string;
  readonly tenant: string;
  readonly run_id: string;
  readonly agent: string;
  /** The tool name, as in BudgetReservationRequested.tool and ExecutionRequested.tool. */
  readonly tool: string;
  /** Integer micro-units (1/1,000,000) of currency. */
  readonly amount_micros: number;
  /** ISO 4217 code. */
  readonly currency: string;
  /** Last moment (epoch milliseconds) the reservation may be used. */
  readonly expires_at: number;
}

/**
 * What travels (BudgetReserved, ExecutionRequested.reservation): the claims the action does not
 * already carry, plus the signature and its key id. The verifier supplies the rest from the action.
 */
export interface SignedReservation {
  readonly reservation_id: string;
  readonly amount_micros: number;
  readonly currency: string;
  readonly expires_at: number;
  readonly key_id: string;
  /** Standard base64 of the 64-byte Ed25519 signature. */
  readonly signature: string;
}

/** What the verifier (the executor) knows independently about the action it is about to run. */
export interface ExpectedReservationClaims {
  readonly action_id: string;
  readonly tenant: string;
  readonly run_id: string;
  readonly agent: string;
  readonly tool: string;
}

export type ReservationCheck = { readonly ok: true; readonly claims: ReservationClaims } | { readonly ok: false; readonly error: WritError };

const CURRENCY = /^[A-Z]{3}$/;
const EXPECTED_ORDER = ['action_id', 'tenant', 'run_id', 'agent', 'tool'] as const;

function issueInvalid(field: string, rule: string): WritError {
  return new WritError('RESERVATION_CLAIMS_INVALID', `reservation claim ${field} ${rule}`, { field, rule });
}

function nonEmpty(value: unknown, field: string): string {
  if (typeof value !== 'string' || value === '') throw issueInvalid(field, 'must be a non-empty string');
  return value;
}

function wholeNumber(value: unknown, field: string, rule: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw issueInvalid(field, rule);
  return value;
}

/** Signs a reservation for one action. Refuses malformed claims rather than signing them. */
export function issueReservation(claims: ReservationClaims, signingKey: SigningKey): SignedReservation {
  const signed: ReservationClaims = {
    reservation_id: nonEmpty(claims.reservation_id, 'reservation_id'),
    action_id: nonEmpty(claims.action_id, 'action_id'),
    tenant: nonEmpty(claims.tenant, 'tenant'),
    run_id: nonEmpty(claims.run_id, 'run_id'),
    agent: nonEmpty(claims.agent, 'agent'),
    tool: nonEmpty(claims.tool, 'tool'),
    amount_micros: wholeNumber(claims.amount_micros, 'amount_micros', 'must be a whole number of micro-units from 0'),
    currency: claims.currency,
    expires_at: wholeNumber(claims.expires_at, 'expires_at', 'must be epoch milliseconds'),
  };
  if (typeof signed.currency !== 'string' || !CURRENCY.test(signed.currency)) throw issueInvalid('currency', 'must be an ISO 4217 code such as USD');
  if (signed.expires_at === 0) throw issueInvalid('expires_at', 'must be epoch milliseconds');
  const { key_id, signature } = signCanonical(signed, signingKey);
  return {
    reservation_id: signed.reservation_id,
    amount_micros: signed.amount_micros,
    currency: signed.currency,
    expires_at: signed.expires_at,
    key_id,
    signature,
  };
}

function forged(reason: string, keyId?: string): ReservationCheck {
  return {
    ok: false,
    error: new WritError('RESERVATION_FORGED', `reservation rejected: ${reason}`, {
      field: 'reservation.signature',
      rule: 'must be a valid signature by a trusted accountant key',
      ...(keyId === undefined ? {} : { details: { key_id: keyId } }),
    }),
  };
}

/** The claims that ride with a reservation when its carrier has room for them (otherwise the verifier's own are used). */
export type CarriedReservation = SignedReservation & { readonly [K in 'action_id' | 'tenant' | 'run_id' | 'agent' | 'tool']?: string | null };

type Carried = Pick<ReservationClaims, 'reservation_id' | 'amount_micros' | 'currency' | 'expires_at'> &
  Partial<Pick<ReservationClaims, (typeof EXPECTED_ORDER)[number]>>;

function carried(reservation: CarriedReservation): Carried | undefined {
  if (typeof reservation !== 'object' || (reservation as unknown) === null) return undefined;
  const { reservation_id, amount_micros, currency, expires_at } = reservation;
  if (typeof reservation_id !== 'string' || typeof currency !== 'string') return undefined;
  if (typeof amount_micros !== 'number' || typeof expires_at !== 'number') return undefined;
  const result: Record<string, unknown> = { reservation_id, amount_micros, currency, expires_at };
  for (const claim of EXPECTED_ORDER) {
    const value = reservation[claim];
    if (value === undefined || value === null) continue;
    if (typeof value !== 'string') return undefined;
    result[claim] = value;
  }
  return result as Carried;
}

function signatureCheck(claims: ReservationClaims, reservation: SignedReservation, keyring: Keyring): SignatureCheck | undefined {
  try {
    return verifyCanonical(claims, { key_id: reservation.key_id, signature: reservation.signature }, keyring);
  } catch {
    // Not canonical JSON (e.g. a non-finite amount): nothing a genuine accountant signed.
    return undefined;
  }
}

/**
 * Verifies a reservation for the action about to run. The signed payload is the carried fields plus
 * the action's claims: those the reservation carries (CarriedReservation), else the verifier's own
 * (expected). In this order:
 * - the signature is by a key in the keyring over exactly those claims, else RESERVATION_FORGED;
 * - now <= expires_at, else RESERVATION_EXPIRED;
 * - every claim equals what the verifier expects, else RESERVATION_MISMATCH naming the claim in
 *   `field` (reservation.<claim>) and details.claim.
 * When the carrier has no room for the claims (ExecutionRequested v1 carries only reservation_id,
 * amount, currency, expiry, key id and signature), a reservation genuinely signed for another
 * tenant, run, agent or tool cannot be told apart from a forgery and is RESERVATION_FORGED; one of
 * another action is still named (the accountant's reservation_id is the action id).
 * `now` is epoch milliseconds.
 */
export function verifyReservation(
  reservation: CarriedReservation,
  expected: ExpectedReservationClaims,
  keyring: Keyring,
  now: number = Date.now(),
): ReservationCheck {
  for (const claim of EXPECTED_ORDER) {
    if (typeof expected[claim] !== 'string' || expected[claim] === '') {
      throw new WritError('RESERVATION_EXPECTATION_INVALID', `expected ${claim} must be a non-empty string`, {
        field: claim,
        rule: 'must be a non-empty string',
      });
    }
  }
  const fields = carried(reservation);
  if (fields === undefined) return forged('it is malformed (missing or mistyped fields)');
  const claimsWith = (actionId: string): ReservationClaims => ({
    reservation_id: fields.reservation_id,
    action_id: actionId,
    tenant: fields.tenant ?? expected.tenant,
    run_id: fields.run_id ?? expected.run_id,
    agent: fields.agent ?? expected.agent,
    tool: fields.tool ?? expected.tool,
    amount_micros: fields.amount_micros,
    currency: fields.currency,
    expires_at: fields.expires_at,
  });
  let claims = claimsWith(fields.action_id ?? expected.action_id);
  let check = signatureCheck(claims, reservation, keyring);
  if (check !== undefined && !check.ok && check.reason === 'bad-signature' && fields.action_id === undefined && fields.reservation_id !== expected.action_id) {
    // Perhaps a genuine reservation of another action (reservation_id = its action id): name it.
    const other = claimsWith(fields.reservation_id);
    const otherCheck = signatureCheck(other, reservation, keyring);
    if (otherCheck?.ok === true) {
      claims = other;
      check = otherCheck;
    }
  }
  if (check === undefined) return forged('it is malformed (a field is not plain JSON)');
  if (!check.ok) {
    const why = {
      'unknown-key': `key id "${check.keyId}" is not in the keyring of accountant keys`,
      'malformed-signature': 'its signature is not a base64 Ed25519 signature',
      'bad-signature': 'its signature does not match its fields and this action (action, tenant, run, agent, tool)',
    }[check.reason];
    return forged(why, check.keyId);
  }
  if (now > claims.expires_at) {
    return {
      ok: false,
      error: new WritError('RESERVATION_EXPIRED', `reservation expired at ${new Date(claims.expires_at).toISOString()}`, {
        field: 'reservation.expires_at',
        rule: 'must not be in the past',
        details: { expires_at: claims.expires_at, now },
      }),
    };
  }
  for (const claim of EXPECTED_ORDER) {
    if (claims[claim] !== expected[claim]) return mismatch(claim, expected[claim], claims[claim]);
  }
  return { ok: true, claims };
}

function mismatch(claim: string, want: string, actual: string): ReservationCheck {
  return {
    ok: false,
    error: new WritError('RESERVATION_MISMATCH', `reservation was made for ${claim} "${actual}", not "${want}"`, {
      field: `reservation.${claim}`,
      rule: 'must match the action being executed',
      details: { claim, expected: want, actual },
    }),
  };
}
