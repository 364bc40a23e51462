import { verify } from 'node:crypto';
import { canonicalJson } from './canonical-json.ts';
import type { Keyring, SigningKey } from './keys.ts';

/** A detached Ed25519 signature over the canonical JSON of a payload, with the id of its key. */
export interface CanonicalSignature {
  readonly key_id: string;
  /** Standard base64 of the 64-byte Ed25519 signature. */
  readonly signature: string;
}

export type SignatureCheck =
  | { readonly ok: true; readonly keyId: string }
  | { readonly ok: false; readonly keyId: string; readonly reason: 'unknown-key' | 'malformed-signature' | 'bad-signature' };

const ED25519_BASE64 = /^[A-Za-z0-9+/]{86}==$/;

/** Signs canonicalJson(payload); throws CANONICAL_JSON_INVALID when the payload is not plain JSON. */
export function signCanonical(payload: unknown, key: SigningKey): CanonicalSignature {
  const bytes = Buffer.from(canonicalJson(payload), 'utf8');
  return { key_id: key.keyId, signature: key.sign(bytes).toString('base64') };
}

/**
 * Checks a signature against canonicalJson(payload) with the keyring's key for its key id. Returns
 * why it failed rather than throwing, so callers map it to their own error (a forged warrant, a
 * tampered checkpoint...). Any change to the payload, the signature or the key id fails.
 */
export function verifyCanonical(payload: unknown, signature: CanonicalSignature, keyring: Keyring): SignatureCheck {
  const keyId = typeof signature.key_id === 'string' ? signature.key_id : '';
  const publicKey = keyring.get(keyId);
  if (publicKey === undefined) return { ok: false, keyId, reason: 'unknown-key' };
  if (typeof signature.signature !== 'string' || !ED25519_BASE64.test(signature.signature)) {
    return { ok: false, keyId, reason: 'malformed-signature' };
  }
  const bytes = Buffer.from(canonicalJson(payload), 'utf8');
  const valid = verify(null, bytes, publicKey, Buffer.from(signature.signature, 'base64'));
  return valid ? { ok: true, keyId } : { ok: false, keyId, reason: 'bad-signature' };
}
