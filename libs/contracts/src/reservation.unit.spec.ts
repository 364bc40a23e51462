import { describe, expect, it } from 'vitest';
import { createKeyring, generateSigningKey, verifyCanonical } from '@writ/crypto';
import { isWritError } from '@writ/errors';
import { issueReservation, verifyReservation } from './reservation.ts';
import type { ExpectedReservationClaims, ReservationCheck, ReservationClaims, SignedReservation } from './reservation.ts';

const budgetKey = generateSigningKey('reservation-1');
const keyring = createKeyring({ [budgetKey.keyId]: budgetKey.publicKey });
const NOW = Date.UTC(2026, 6, 1, 12, 0, 0);
const ACTION = '0190f1a2-7c3e-7a11-9f00-000000000042';

const claims: ReservationClaims = {
  reservation_id: ACTION,
  action_id: ACTION,
  tenant: 'acme',
  run_id: 'run-7',
  agent: 'triage-bot',
  tool: 'refunds.issue',
  amount_micros: 2_500_000,
  currency: 'USD',
  expires_at: NOW + 60_000,
};
const expected: ExpectedReservationClaims = { action_id: ACTION, tenant: 'acme', run_id: 'run-7', agent: 'triage-bot', tool: 'refunds.issue' };

function failure(check: ReservationCheck) {
  if (check.ok) throw new Error('expected the reservation to be rejected');
  return check.error;
}

function flipFirstByte(base64: string): string {
  const bytes = Buffer.from(base64, 'base64');
  bytes[0] = (bytes[0] ?? 0) ^ 0x01;
  return bytes.toString('base64');
}

describe('issueReservation', () => {
  it('returns the carried fields and a signature over exactly the nine claims', () => {
    const reservation = issueReservation(claims, budgetKey);
    expect(Object.keys(reservation).sort()).toEqual(['amount_micros', 'currency', 'expires_at', 'key_id', 'reservation_id', 'signature']);
    expect(reservation).toMatchObject({ reservation_id: ACTION, amount_micros: 2_500_000, currency: 'USD', expires_at: NOW + 60_000, key_id: 'reservation-1' });
    // Another implementation reproducing the payload (any key order) verifies the same signature.
    const payload = {
      tool: 'refunds.issue',
      tenant: 'acme',
      run_id: 'run-7',
      reservation_id: ACTION,
      expires_at: NOW + 60_000,
      currency: 'USD',
      amount_micros: 2_500_000,
      agent: 'triage-bot',
      action_id: ACTION,
    };
    expect(verifyCanonical(payload, reservation, keyring).ok).toBe(true);
    expect(verifyCanonical({ ...payload, extra: 1 }, reservation, keyring).ok).toBe(false);
  });

  it('refuses malformed claims instead of signing them, naming the field', () => {
    const attempt = (bad: Partial<ReservationClaims>) => {
      try {
        issueReservation({ ...claims, ...bad }, budgetKey);
      } catch (error) {
        if (isWritError(error, 'RESERVATION_CLAIMS_INVALID')) return error.field;
        throw error;
      }
      return 'signed';
    };
    expect(attempt({ amount_micros: -1 })).toBe('amount_micros');
    expect(attempt({ amount_micros: 1.5 })).toBe('amount_micros');
    expect(attempt({ currency: 'usd' })).toBe('currency');
    expect(attempt({ expires_at: 0 })).toBe('expires_at');
    expect(attempt({ tenant: '' })).toBe('tenant');
    expect(attempt({ tool: undefined as never })).toBe('tool');
    expect(attempt({})).toBe('signed');
  });
});

describe('verifyReservation', () => {
  const reservation = issueReservation(claims, budgetKey);

  it('accepts a genuine, unexpired reservation for the same action', () => {
    expect(verifyReservation(reservation, expected, keyring, NOW)).toEqual({ ok: true, claims });
    // Up to and including expires_at.
    expect(verifyReservation(reservation, expected, keyring, NOW + 60_000).ok).toBe(true);
  });

  it.each<[string, Partial<SignedReservation>]>([
    ['a raised amount', { amount_micros: 250_000_000 }],
    ['a lowered amount', { amount_micros: 1 }],
    ['another currency', { currency: 'EUR' }],
    ['a later expiry', { expires_at: NOW + 3_600_000 }],
  ])('rejects a reservation with %s as forged', (_what, tampered) => {
    const error = failure(verifyReservation({ ...reservation, ...tampered }, expected, keyring, NOW));
    expect(error.code).toBe('RESERVATION_FORGED');
    expect(error.field).toBe('reservation.signature');
  });

  it('rejects a tampered or malformed signature, an unknown key and a warrant key', () => {
    expect(failure(verifyReservation({ ...reservation, signature: flipFirstByte(reservation.signature) }, expected, keyring, NOW)).code).toBe(
      'RESERVATION_FORGED',
    );
    expect(failure(verifyReservation({ ...reservation, signature: 'not base64!' }, expected, keyring, NOW)).message).toContain('not a base64');
    const unknown = failure(verifyReservation({ ...reservation, key_id: 'someone-else' }, expected, keyring, NOW));
    expect(unknown.code).toBe('RESERVATION_FORGED');
    expect(unknown.details).toEqual({ key_id: 'someone-else' });
    // Signed by a key that is not in the accountant keyring (e.g. the PDP's): forged.
    const pdpKey = generateSigningKey('reservation-1');
    expect(failure(verifyReservation(issueReservation(claims, pdpKey), expected, keyring, NOW)).code).toBe('RESERVATION_FORGED');
  });

  it('rejects malformed reservations without throwing', () => {
    expect(failure(verifyReservation({ ...reservation, amount_micros: '5' as never }, expected, keyring, NOW)).code).toBe('RESERVATION_FORGED');
    expect(failure(verifyReservation({ ...reservation, amount_micros: Number.NaN }, expected, keyring, NOW)).code).toBe('RESERVATION_FORGED');
    expect(failure(verifyReservation(null as never, expected, keyring, NOW)).code).toBe('RESERVATION_FORGED');
  });

  it('rejects an expired reservation after checking its signature', () => {
    const error = failure(verifyReservation(reservation, expected, keyring, NOW + 60_001));
    expect(error.code).toBe('RESERVATION_EXPIRED');
    expect(error.field).toBe('reservation.expires_at');
    // A forged expiry is a forgery, not an expiry.
    expect(failure(verifyReservation({ ...reservation, expires_at: NOW - 1 }, expected, keyring, NOW)).code).toBe('RESERVATION_FORGED');
  });

  it('names the action when a genuine reservation of another action is presented', () => {
    const error = failure(verifyReservation(reservation, { ...expected, action_id: 'another-action' }, keyring, NOW));
    expect(error.code).toBe('RESERVATION_MISMATCH');
    expect(error.field).toBe('reservation.action_id');
    expect(error.details).toEqual({ claim: 'action_id', expected: 'another-action', actual: ACTION });
  });

  it.each(['tenant', 'run_id', 'agent', 'tool'] as const)('names the %s when the reservation carries its claims', (claim) => {
    const carriedReservation = { ...reservation, action_id: ACTION, tenant: 'acme', run_id: 'run-7', agent: 'triage-bot', tool: 'refunds.issue' };
    expect(verifyReservation(carriedReservation, expected, keyring, NOW).ok).toBe(true);
    const error = failure(verifyReservation(carriedReservation, { ...expected, [claim]: 'other' }, keyring, NOW));
    expect(error.code).toBe('RESERVATION_MISMATCH');
    expect(error.field).toBe(`reservation.${claim}`);
    expect(error.details).toMatchObject({ claim, expected: 'other', actual: claims[claim] });
    // Changing a carried claim breaks the signature.
    expect(failure(verifyReservation({ ...carriedReservation, [claim]: 'other' }, { ...expected, [claim]: 'other' }, keyring, NOW)).code).toBe(
      'RESERVATION_FORGED',
    );
  });

  it.each(['tenant', 'run_id', 'agent', 'tool'] as const)('never accepts a reservation made for another %s', (claim) => {
    const error = failure(verifyReservation(reservation, { ...expected, [claim]: 'other' }, keyring, NOW));
    expect(error.code).toBe('RESERVATION_FORGED');
  });

  it('verifies across key rotation and refuses an empty expectation', () => {
    const next = generateSigningKey('reservation-2');
    const rotating = createKeyring({ [budgetKey.keyId]: budgetKey.publicKey, [next.keyId]: next.publicKey });
    expect(verifyReservation(reservation, expected, rotating, NOW).ok).toBe(true);
    expect(verifyReservation(issueReservation(claims, next), expected, rotating, NOW).ok).toBe(true);
    expect(() => verifyReservation(reservation, { ...expected, tool: '' }, keyring, NOW)).toThrow(
      expect.objectContaining({ code: 'RESERVATION_EXPECTATION_INVALID' }),
    );
  });
});
