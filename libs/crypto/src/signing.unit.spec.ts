import { generateKeyPairSync } from 'node:crypto';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { isWritError } from '@writ/errors';
import { Keyring, createKeyring, generateSigningKey, publicKeyFromPem, signingKeyFromPem } from './keys.ts';
import { signCanonical, verifyCanonical } from './signing.ts';

const payload = { action_id: 'act-1', args_sha256: 'ab'.repeat(32), amount: 10_000, tags: ['refund_approved'] };

function flipFirstByte(base64: string): string {
  const bytes = Buffer.from(base64, 'base64');
  bytes[0] = (bytes[0] ?? 0) ^ 0x01;
  return bytes.toString('base64');
}

function codeOf(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    if (isWritError(error)) return error.code;
    throw error;
  }
  throw new Error('expected a WritError');
}

describe('signCanonical / verifyCanonical', () => {
  const key = generateSigningKey('pdp-2026-01');
  const keyring = createKeyring({ [key.keyId]: key.publicKey });

  it('verifies its own signature, whatever the key order of the payload', () => {
    const signature = signCanonical(payload, key);
    expect(signature.key_id).toBe('pdp-2026-01');
    expect(Buffer.from(signature.signature, 'base64')).toHaveLength(64);
    const reordered = { tags: ['refund_approved'], amount: 10_000, args_sha256: 'ab'.repeat(32), action_id: 'act-1' };
    expect(verifyCanonical(reordered, signature, keyring)).toEqual({ ok: true, keyId: 'pdp-2026-01' });
  });

  it.each([
    ['a changed value', { ...payload, amount: 10_001 }],
    ['an added key', { ...payload, extra: null }],
    ['a removed key', { action_id: payload.action_id, args_sha256: payload.args_sha256, amount: payload.amount }],
    ['a changed array', { ...payload, tags: ['refund_approved', 'vip'] }],
  ])('rejects a payload with %s', (_what, tampered) => {
    const signature = signCanonical(payload, key);
    expect(verifyCanonical(tampered, signature, keyring)).toEqual({ ok: false, keyId: key.keyId, reason: 'bad-signature' });
  });

  it('rejects a tampered signature, a malformed one and an unknown key id', () => {
    const signature = signCanonical(payload, key);
    expect(verifyCanonical(payload, { ...signature, signature: flipFirstByte(signature.signature) }, keyring).ok).toBe(false);
    expect(verifyCanonical(payload, { ...signature, signature: 'not base64!' }, keyring)).toMatchObject({ reason: 'malformed-signature' });
    expect(verifyCanonical(payload, { ...signature, key_id: 'someone-else' }, keyring)).toMatchObject({ reason: 'unknown-key' });
  });

  it('rejects a signature presented under another trusted key id', () => {
    const other = generateSigningKey('pdp-2025-12');
    const both = createKeyring({ [key.keyId]: key.publicKey, [other.keyId]: other.publicKey });
    const signature = signCanonical(payload, key);
    expect(verifyCanonical(payload, { ...signature, key_id: other.keyId }, both)).toMatchObject({ ok: false, reason: 'bad-signature' });
  });

  it('rotates: a keyring with old and new keys verifies both, and dropping the old key retires it', () => {
    const previous = generateSigningKey('pdp-2025-12');
    const rotating = createKeyring({ [previous.keyId]: previous.exportPublicKeyPem(), [key.keyId]: key.exportPublicKeyPem() });
    const oldSignature = signCanonical(payload, previous);
    expect(rotating.keyIds).toEqual(['pdp-2025-12', 'pdp-2026-01']);
    expect(verifyCanonical(payload, oldSignature, rotating).ok).toBe(true);
    expect(verifyCanonical(payload, signCanonical(payload, key), rotating).ok).toBe(true);
    expect(verifyCanonical(payload, oldSignature, keyring)).toMatchObject({ ok: false, reason: 'unknown-key' });
  });

  it('refuses to sign what is not plain JSON', () => {
    expect(codeOf(() => signCanonical({ amount: Number.NaN }, key))).toBe('CANONICAL_JSON_INVALID');
  });
});

describe('keys', () => {
  it('round-trips through PEM, also with escaped newlines as env variables carry them', () => {
    const key = generateSigningKey('k1');
    const restored = signingKeyFromPem('k1', key.exportPrivateKeyPem().replaceAll('\n', '\\n'));
    const keyring = createKeyring({ k1: key.exportPublicKeyPem() });
    expect(verifyCanonical(payload, signCanonical(payload, restored), keyring).ok).toBe(true);
  });

  it('never prints the private key when logged or serialised', () => {
    const key = generateSigningKey('k1');
    const body = key.exportPrivateKeyPem().split('\n')[1] ?? '';
    expect(body.length).toBeGreaterThan(20);
    for (const shown of [inspect(key), JSON.stringify(key), String(key), `${inspect({ nested: key })}`]) {
      expect(shown).not.toContain(body);
      expect(shown).toContain('k1');
    }
    expect(JSON.stringify({ key })).toBe('{"key":{"keyId":"k1","privateKey":"[redacted]"}}');
  });

  it('refuses a private key where a public one belongs, non-Ed25519 keys, garbage and bad key ids', () => {
    const key = generateSigningKey('k1');
    expect(codeOf(() => publicKeyFromPem(key.exportPrivateKeyPem()))).toBe('KEY_INVALID');
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 });
    expect(codeOf(() => publicKeyFromPem(rsa.publicKey.export({ type: 'spki', format: 'pem' }).toString()))).toBe('KEY_INVALID');
    expect(codeOf(() => signingKeyFromPem('k2', rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()))).toBe('KEY_INVALID');
    expect(codeOf(() => signingKeyFromPem('k2', 'not a key'))).toBe('KEY_INVALID');
    expect(codeOf(() => generateSigningKey('bad id with spaces'))).toBe('KEY_INVALID');
    expect(
      codeOf(
        () =>
          new Keyring([
            ['k1', key.publicKey],
            ['k1', key.publicKey],
          ]),
      ),
    ).toBe('KEYRING_INVALID');
  });
});
