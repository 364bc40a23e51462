// Per-tenant envelope encryption of sensitive values (invariant 6). A tenant's data key is 32
// random bytes kept outside Kafka; three subkeys are derived from it with HKDF-SHA256: one for
// AES-256-GCM, one for the synthetic nonce, one for the keyed hash. Deleting the key erases every
// value sealed under it, while the events that carry the sealed values stay byte for byte the same.
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { inspect } from 'node:util';
import { WritError } from '@writ/errors';
import type { ErrorCode } from '@writ/errors';
import { canonicalJson } from './canonical-json.ts';

/** The member that marks a sealed value inside arguments: `{"$sealed": "v1.<key id>.<base64url>", "hmac": "<hex>"}`. */
export const SEALED_MEMBER = '$sealed';

/** A sensitive value as it travels: ciphertext under the tenant's data key, and its keyed hash. */
export interface SealedValue {
  /** `v1.<key id>.<base64url(nonce ‖ ciphertext ‖ tag)>` */
  readonly $sealed: string;
  /** HMAC-SHA256 (hex) of the value under the tenant's hash key: equal values, equal hashes, within one tenant only. */
  readonly hmac: string;
}

const VERSION = 'v1';
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const SECRET_BYTES = 32;
const TENANT_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const TENANT_RULE = 'must be 1-128 letters, digits, ".", "_" or "-", starting with a letter or digit';
const TOKEN = /^v1\.([0-9a-f]{16})\.([A-Za-z0-9_-]+)$/;
const HMAC_HEX = /^[0-9a-f]{64}$/;

/** Checks a tenant id that names a key (and its key file): no path separators, no surprises. */
export function checkTenantId(tenant: string): string {
  if (!TENANT_ID.test(tenant)) {
    throw new WritError('TENANT_KEY_INVALID', `tenant id "${tenant}" cannot name a data key: it ${TENANT_RULE}`, { field: 'tenant', rule: TENANT_RULE });
  }
  return tenant;
}

/** Whether a JSON value is a sealed value (exactly the two members, both strings). */
export function isSealedValue(value: unknown): value is SealedValue {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const keys = Object.keys(value);
  const record = value as Record<string, unknown>;
  return keys.length === 2 && typeof record[SEALED_MEMBER] === 'string' && typeof record['hmac'] === 'string';
}

/**
 * A JSON value with every sealed value left out (arrays and objects, at any depth): the arguments
 * as a policy sees them. The PDP holds no tenant data key, and a policy must not depend on a value
 * it cannot see (the digest of the arguments still binds them in the warrant).
 */
export function withoutSealedValues(value: unknown): unknown {
  if (Array.isArray(value)) return value.filter((item) => !isSealedValue(item)).map(withoutSealedValues);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([, item]) => !isSealedValue(item))
      .map(([key, item]) => [key, withoutSealedValues(item)]),
  );
}

function sealedError(code: ErrorCode, message: string, path: string, cause?: unknown): WritError {
  return new WritError(code, message, { field: path, rule: 'must be a value sealed for this tenant at this place', ...(cause === undefined ? {} : { cause }) });
}

function derive(secret: Uint8Array, tenant: string, purpose: string): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, Buffer.from(`writ.tenant.${tenant}`, 'utf8'), Buffer.from(`writ.sealing.${VERSION}.${purpose}`, 'utf8'), 32));
}

/**
 * A tenant's data key. Sealing is deterministic (AES-256-GCM with a synthetic nonce: HMAC of the
 * associated data and the plaintext), so the same value at the same place seals to the same bytes
 * and a digest over sealed arguments still tests equality; it reveals nothing more than the keyed
 * hash already does. The associated data binds tenant, key id and the field's path: a sealed value
 * moved to another tenant or another field does not open. The key material never leaves the
 * object; logging or serialising it prints "[redacted]".
 */
export class TenantDataKey {
  readonly tenant: string;
  /** First 8 bytes (hex) of an HMAC of a fixed label under the key: names the key, reveals nothing. */
  readonly keyId: string;
  readonly #encryption: Buffer;
  readonly #nonce: Buffer;
  readonly #hash: Buffer;

  constructor(tenant: string, secret: Uint8Array) {
    checkTenantId(tenant);
    if (secret.length !== SECRET_BYTES) {
      throw new WritError('TENANT_KEY_INVALID', `data key of tenant "${tenant}" must be ${SECRET_BYTES} bytes, got ${secret.length}`, {
        field: 'key',
        rule: `must be ${SECRET_BYTES} random bytes`,
      });
    }
    this.tenant = tenant;
    this.#encryption = derive(secret, tenant, 'aes-256-gcm');
    this.#nonce = derive(secret, tenant, 'nonce');
    this.#hash = derive(secret, tenant, 'hmac-sha256');
    this.keyId = createHmac('sha256', derive(secret, tenant, 'key-id'))
      .update('writ key id')
      .digest('hex')
      .slice(0, 16);
  }

  /** A fresh random key (dev stacks, tests, the file store's first use). */
  static generate(tenant: string): TenantDataKey {
    return new TenantDataKey(tenant, randomBytes(SECRET_BYTES));
  }

  /** HMAC-SHA256 (hex) of the canonical JSON of a value at a path: the keyed hash that replaces plain sha256. */
  keyedHash(value: unknown, path: string): string {
    return createHmac('sha256', this.#hash)
      .update(`${path}\u0000${canonicalJson(value)}`, 'utf8')
      .digest('hex');
  }

  /** HMAC-SHA256 (hex) of raw bytes or text under the hash key, with a label saying what it is (e.g. "result"). */
  keyedDigest(label: string, data: string | Uint8Array): string {
    return createHmac('sha256', this.#hash).update(`${label}\u0000`, 'utf8').update(data).digest('hex');
  }

  #aad(path: string): Buffer {
    return Buffer.from(`writ.sealed.${VERSION}\u0000${this.tenant}\u0000${this.keyId}\u0000${path}`, 'utf8');
  }

  /** Seals a JSON value that sits at `path` (e.g. `$.card_last4`). */
  seal(value: unknown, path: string): SealedValue {
    const plaintext = Buffer.from(canonicalJson(value), 'utf8');
    const aad = this.#aad(path);
    const nonce = createHmac('sha256', this.#nonce).update(aad).update(plaintext).digest().subarray(0, NONCE_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#encryption, nonce, { authTagLength: TAG_BYTES });
    cipher.setAAD(aad);
    const body = Buffer.concat([nonce, cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
    return { $sealed: `${VERSION}.${this.keyId}.${body.toString('base64url')}`, hmac: this.keyedHash(value, path) };
  }

  /**
   * The clear value of a sealed one at `path`. Fails with SEALED_KEY_UNKNOWN when it was sealed
   * under another key (erased or another tenant's), SEALED_VALUE_INVALID when it was altered, moved
   * or its keyed hash does not match the value.
   */
  unseal(sealed: unknown, path: string): unknown {
    if (!isSealedValue(sealed)) throw sealedError('SEALED_VALUE_INVALID', `${path} is not a sealed value ({"$sealed", "hmac"})`, path);
    const match = TOKEN.exec(sealed.$sealed);
    if (match === null || !HMAC_HEX.test(sealed.hmac)) throw sealedError('SEALED_VALUE_INVALID', `${path}: sealed value is malformed`, path);
    const [, keyId = '', encoded = ''] = match;
    if (keyId !== this.keyId) {
      throw sealedError(
        'SEALED_KEY_UNKNOWN',
        `${path} was sealed under data key ${keyId}, but tenant "${this.tenant}" now holds key ${this.keyId} (the old key was erased or belongs to another tenant)`,
        path,
      );
    }
    const body = Buffer.from(encoded, 'base64url');
    if (body.length < NONCE_BYTES + TAG_BYTES) throw sealedError('SEALED_VALUE_INVALID', `${path}: sealed value is too short`, path);
    const decipher = createDecipheriv('aes-256-gcm', this.#encryption, body.subarray(0, NONCE_BYTES), { authTagLength: TAG_BYTES });
    decipher.setAAD(this.#aad(path));
    decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
    let value: unknown;
    try {
      const plaintext = Buffer.concat([decipher.update(body.subarray(NONCE_BYTES, body.length - TAG_BYTES)), decipher.final()]);
      value = JSON.parse(plaintext.toString('utf8'));
    } catch (cause) {
      throw sealedError(
        'SEALED_VALUE_INVALID',
        `${path}: sealed value does not open under tenant "${this.tenant}"'s key (altered, or sealed for another field)`,
        path,
        cause,
      );
    }
    const expected = Buffer.from(this.keyedHash(value, path), 'hex');
    if (!timingSafeEqual(expected, Buffer.from(sealed.hmac, 'hex'))) {
      throw sealedError('SEALED_VALUE_INVALID', `${path}: keyed hash does not match the sealed value`, path);
    }
    return value;
  }

  toJSON(): Record<string, string> {
    return { tenant: this.tenant, keyId: this.keyId, key: '[redacted]' };
  }

  toString(): string {
    return `TenantDataKey(${this.tenant}, ${this.keyId})`;
  }

  [inspect.custom](): string {
    return `TenantDataKey { tenant: '${this.tenant}', keyId: '${this.keyId}', key: [redacted] }`;
  }
}

/** The key id a sealed value names (undefined when it is not a v1 sealed value). */
export function sealedKeyId(sealed: SealedValue): string | undefined {
  return TOKEN.exec(sealed.$sealed)?.[1];
}
