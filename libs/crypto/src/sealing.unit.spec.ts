import { createHash } from 'node:crypto';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { isWritError } from '@writ/errors';
import { canonicalJson } from './canonical-json.ts';
import { sha256Canonical } from './hash.ts';
import { TenantDataKey, isSealedValue, sealedKeyId } from './sealing.ts';
import type { SealedValue } from './sealing.ts';

const secret = Buffer.alloc(32, 7);

function codeOf(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    if (isWritError(error)) return error.code;
    throw error;
  }
  throw new Error('expected a WritError');
}

function flip(sealed: SealedValue, index: number): SealedValue {
  const [version, keyId, body = ''] = sealed.$sealed.split('.');
  const bytes = Buffer.from(body, 'base64url');
  bytes[index] = (bytes[index] ?? 0) ^ 0x01;
  return { ...sealed, $sealed: `${version}.${keyId}.${bytes.toString('base64url')}` };
}

describe('TenantDataKey', () => {
  const acme = new TenantDataKey('acme', secret);

  it('round-trips strings, numbers and objects, and the sealed text holds no trace of the value', () => {
    for (const value of ['4242', 1234_5678, { number: '4111111111111111', cvc: '123' }, ['a', 'b']]) {
      const sealed = acme.seal(value, '$.card');
      expect(isSealedValue(sealed)).toBe(true);
      expect(acme.unseal(sealed, '$.card')).toEqual(value);
      expect(JSON.stringify(sealed)).not.toContain(typeof value === 'object' ? '4111' : String(value));
      expect(sealedKeyId(sealed)).toBe(acme.keyId);
    }
  });

  it('is deterministic: the same value at the same place seals to the same bytes, so a digest over sealed arguments is stable', () => {
    const args = (last4: string) => ({ amount_cents: 100, card_last4: acme.seal(last4, '$.card_last4') });
    expect(canonicalJson(args('4242'))).toBe(canonicalJson(args('4242')));
    expect(sha256Canonical(args('4242'))).toBe(sha256Canonical(args('4242')));
    expect(sha256Canonical(args('4242'))).not.toBe(sha256Canonical(args('4243')));
    expect(acme.seal('4242', '$.a').$sealed).not.toBe(acme.seal('4242', '$.b').$sealed);
  });

  it('a key made again from the same secret opens what the first sealed (the executor and the gateway share one key file)', () => {
    const again = new TenantDataKey('acme', Buffer.from(secret));
    expect(again.keyId).toBe(acme.keyId);
    expect(again.unseal(acme.seal('4242', '$.x'), '$.x')).toBe('4242');
  });

  it("fails with another tenant's key, a rotated/erased key, and when moved to another field", () => {
    const sealed = acme.seal('4242', '$.card_last4');
    const globex = new TenantDataKey('globex', secret); // even the same bytes: keys are derived per tenant
    expect(globex.keyId).not.toBe(acme.keyId);
    expect(codeOf(() => globex.unseal(sealed, '$.card_last4'))).toBe('SEALED_KEY_UNKNOWN');
    const replacement = TenantDataKey.generate('acme');
    expect(codeOf(() => replacement.unseal(sealed, '$.card_last4'))).toBe('SEALED_KEY_UNKNOWN');
    expect(codeOf(() => acme.unseal(sealed, '$.reason'))).toBe('SEALED_VALUE_INVALID');
  });

  it('fails on tampered ciphertext, tag, nonce, keyed hash and on a malformed envelope', () => {
    const sealed = acme.seal('4242', '$.card_last4');
    const length = Buffer.from(sealed.$sealed.split('.')[2] ?? '', 'base64url').length;
    for (const index of [0, 12, length - 1]) expect(codeOf(() => acme.unseal(flip(sealed, index), '$.card_last4'))).toBe('SEALED_VALUE_INVALID');
    const otherHash = acme.seal('4243', '$.card_last4').hmac;
    expect(codeOf(() => acme.unseal({ ...sealed, hmac: otherHash }, '$.card_last4'))).toBe('SEALED_VALUE_INVALID');
    expect(codeOf(() => acme.unseal('4242', '$.card_last4'))).toBe('SEALED_VALUE_INVALID');
    expect(codeOf(() => acme.unseal({ $sealed: 'v1.xyz.abc', hmac: sealed.hmac }, '$.card_last4'))).toBe('SEALED_VALUE_INVALID');
    expect(codeOf(() => acme.unseal({ ...sealed, extra: 1 }, '$.card_last4'))).toBe('SEALED_VALUE_INVALID');
  });

  it('keyed hash: stable per tenant, different across tenants, and not the plain sha256 of the value', () => {
    const globex = TenantDataKey.generate('globex');
    expect(acme.keyedHash('4242', '$.card_last4')).toBe(acme.keyedHash('4242', '$.card_last4'));
    expect(acme.keyedHash('4242', '$.card_last4')).toMatch(/^[0-9a-f]{64}$/);
    expect(acme.keyedHash('4242', '$.card_last4')).not.toBe(globex.keyedHash('4242', '$.card_last4'));
    const plain = [createHash('sha256').update('4242').digest('hex'), createHash('sha256').update('"4242"').digest('hex')];
    expect(plain).not.toContain(acme.keyedHash('4242', '$.card_last4'));
    expect(acme.seal('4242', '$.card_last4').hmac).toBe(acme.keyedHash('4242', '$.card_last4'));
    // The 10,000-guess attack on a plain hash finds nothing without the key.
    const target = acme.keyedHash('4242', '$.card_last4');
    let found = false;
    for (let i = 0; i < 10_000 && !found; i++)
      found = plain.includes(target) || createHash('sha256').update(String(i).padStart(4, '0')).digest('hex') === target;
    expect(found).toBe(false);
    expect(acme.keyedDigest('result', 'x')).not.toBe(globex.keyedDigest('result', 'x'));
  });

  it('refuses a key of the wrong size and a tenant id that could escape a key folder', () => {
    expect(codeOf(() => new TenantDataKey('acme', Buffer.alloc(16)))).toBe('TENANT_KEY_INVALID');
    expect(codeOf(() => new TenantDataKey('../etc', secret))).toBe('TENANT_KEY_INVALID');
    expect(codeOf(() => new TenantDataKey('a/b', secret))).toBe('TENANT_KEY_INVALID');
  });

  it('never prints its key material', () => {
    for (const shown of [inspect(acme), JSON.stringify(acme), String(acme)]) {
      expect(shown).toContain(acme.keyId);
      expect(shown).not.toContain(secret.toString('base64'));
      expect(shown).not.toContain(secret.toString('hex'));
    }
  });
});
