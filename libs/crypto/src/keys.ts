import { createPrivateKey, createPublicKey, generateKeyPairSync, sign } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { inspect } from 'node:util';
import { WritError } from '@writ/errors';

const KEY_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const KEY_ID_RULE = 'must be 1-64 characters of letters, digits, ".", "_" or "-", starting with a letter or digit';

function checkKeyId(keyId: string, field = 'key_id'): string {
  if (!KEY_ID.test(keyId)) {
    throw new WritError('KEY_INVALID', `key id "${keyId}" ${KEY_ID_RULE}`, { field, rule: KEY_ID_RULE });
  }
  return keyId;
}

/** PEM text from an environment variable often arrives with literal "\n" escapes. */
function normalisePem(pem: string): string {
  return pem.includes('\\n') ? pem.replaceAll('\\n', '\n') : pem;
}

/**
 * An Ed25519 private key with its id. The key material never leaves the object except through
 * sign() and an explicit exportPrivateKeyPem(); logging or serialising it prints "[redacted]".
 */
export class SigningKey {
  readonly keyId: string;
  readonly publicKey: KeyObject;
  readonly #privateKey: KeyObject;

  constructor(keyId: string, privateKey: KeyObject) {
    checkKeyId(keyId);
    if (privateKey.type !== 'private' || privateKey.asymmetricKeyType !== 'ed25519') {
      throw new WritError('KEY_INVALID', `signing key "${keyId}" must be an Ed25519 private key`, {
        field: 'key',
        rule: 'must be an Ed25519 private key',
      });
    }
    this.keyId = keyId;
    this.#privateKey = privateKey;
    this.publicKey = createPublicKey(privateKey);
  }

  /** Ed25519 signature (64 bytes) over the given bytes. */
  sign(data: Uint8Array): Buffer {
    return sign(null, data, this.#privateKey);
  }

  /** The public half as SPKI PEM, to publish into verifiers' keyrings. */
  exportPublicKeyPem(): string {
    return this.publicKey.export({ type: 'spki', format: 'pem' }).toString();
  }

  /** The private key as PKCS#8 PEM, for writing a key file. Handle the result as a secret. */
  exportPrivateKeyPem(): string {
    return this.#privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  }

  toJSON(): Record<string, string> {
    return { keyId: this.keyId, privateKey: '[redacted]' };
  }

  toString(): string {
    return `SigningKey(${this.keyId})`;
  }

  [inspect.custom](): string {
    return `SigningKey { keyId: '${this.keyId}', privateKey: [redacted] }`;
  }
}

/** A fresh Ed25519 key pair under the given id (tests, dev stacks, key rotation tooling). */
export function generateSigningKey(keyId: string): SigningKey {
  const { privateKey } = generateKeyPairSync('ed25519');
  return new SigningKey(keyId, privateKey);
}

/** A signing key from PKCS#8 PEM text, e.g. read from a secret file or an environment variable. */
export function signingKeyFromPem(keyId: string, pem: string): SigningKey {
  checkKeyId(keyId);
  let key: KeyObject;
  try {
    key = createPrivateKey(normalisePem(pem));
  } catch (cause) {
    throw new WritError('KEY_INVALID', `signing key "${keyId}" is not a PEM-encoded private key`, {
      field: 'key',
      rule: 'must be a PEM-encoded Ed25519 private key (PKCS#8)',
      cause,
    });
  }
  return new SigningKey(keyId, key);
}

/** An Ed25519 public key from SPKI PEM text. A private key is refused: verifiers must not hold one. */
export function publicKeyFromPem(pem: string, keyId = 'key'): KeyObject {
  const text = normalisePem(pem);
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text)) {
    throw new WritError('KEY_INVALID', `key "${keyId}" is a private key where a public key was expected`, {
      field: keyId,
      rule: 'verifiers hold public keys only',
    });
  }
  let key: KeyObject;
  try {
    key = createPublicKey(text);
  } catch (cause) {
    throw new WritError('KEY_INVALID', `key "${keyId}" is not a PEM-encoded public key`, {
      field: keyId,
      rule: 'must be a PEM-encoded Ed25519 public key (SPKI)',
      cause,
    });
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new WritError('KEY_INVALID', `key "${keyId}" is ${key.asymmetricKeyType ?? 'unknown'}, not Ed25519`, {
      field: keyId,
      rule: 'must be an Ed25519 public key',
    });
  }
  return key;
}

/**
 * The public keys a verifier trusts, by key id. Several ids at once is how keys rotate: a signer
 * moves to a new key while warrants signed with the previous one still verify until it is removed.
 */
export class Keyring {
  readonly #keys: ReadonlyMap<string, KeyObject>;

  constructor(entries: Iterable<readonly [string, KeyObject]>) {
    const keys = new Map<string, KeyObject>();
    for (const [keyId, key] of entries) {
      checkKeyId(keyId);
      if (key.type !== 'public' || key.asymmetricKeyType !== 'ed25519') {
        throw new WritError('KEYRING_INVALID', `keyring entry "${keyId}" must be an Ed25519 public key`, {
          field: keyId,
          rule: 'must be an Ed25519 public key',
        });
      }
      if (keys.has(keyId)) {
        throw new WritError('KEYRING_INVALID', `keyring has key id "${keyId}" twice`, { field: keyId, rule: 'key ids are unique' });
      }
      keys.set(keyId, key);
    }
    this.#keys = keys;
  }

  get(keyId: string): KeyObject | undefined {
    return this.#keys.get(keyId);
  }

  has(keyId: string): boolean {
    return this.#keys.has(keyId);
  }

  get keyIds(): string[] {
    return [...this.#keys.keys()].sort();
  }
}

/** A keyring from key id -> public key (KeyObject or SPKI PEM text). */
export function createKeyring(entries: Readonly<Record<string, KeyObject | string>>): Keyring {
  return new Keyring(Object.entries(entries).map(([keyId, key]) => [keyId, typeof key === 'string' ? publicKeyFromPem(key, keyId) : key] as const));
}

function keyIdFromFileName(file: string): string {
  return basename(file).replace(/(\.pub|\.public|\.key|\.private)?\.pem$/, '');
}

/**
 * Loads a signing key from a PKCS#8 PEM file. The key id is options.keyId, or the file name without
 * ".pem" (and without ".key"/".private"), so "warrant-2026-07.pem" signs as "warrant-2026-07".
 */
export async function loadSigningKey(path: string, options: { readonly keyId?: string } = {}): Promise<SigningKey> {
  let pem: string;
  try {
    pem = await readFile(path, 'utf8');
  } catch (cause) {
    throw new WritError('KEY_INVALID', `cannot read signing key file ${path}`, {
      field: path,
      rule: 'must be a readable PEM file',
      cause,
      details: { path },
    });
  }
  const keyId = options.keyId ?? keyIdFromFileName(path);
  try {
    return signingKeyFromPem(keyId, pem);
  } catch (error) {
    throw new WritError('KEY_INVALID', `signing key file ${path}: ${(error as Error).message}`, {
      field: path,
      rule: 'must be a PEM-encoded Ed25519 private key (PKCS#8)',
      cause: error,
      details: { path },
    });
  }
}

/**
 * Loads every "*.pem" public key in a directory (not recursive) into a keyring; the key id is the
 * file name without ".pub.pem"/".pem". A private key in the directory is an error: the verifying
 * side of segregation of duties must never hold signing material.
 */
export async function loadKeyringFromDir(dir: string): Promise<Keyring> {
  let files: string[];
  try {
    files = (await readdir(dir)).filter((name) => name.endsWith('.pem')).sort();
  } catch (cause) {
    throw new WritError('KEYRING_INVALID', `cannot read keyring directory ${dir}`, {
      field: dir,
      rule: 'must be a readable directory of PEM public keys',
      cause,
    });
  }
  if (files.length === 0) {
    throw new WritError('KEYRING_INVALID', `keyring directory ${dir} holds no .pem public keys`, {
      field: dir,
      rule: 'must hold at least one <key-id>.pub.pem file',
    });
  }
  const entries: [string, KeyObject][] = [];
  for (const file of files) {
    const keyId = keyIdFromFileName(file);
    const path = join(dir, file);
    try {
      entries.push([checkKeyId(keyId, path), publicKeyFromPem(await readFile(path, 'utf8'), keyId)]);
    } catch (error) {
      throw new WritError('KEYRING_INVALID', `keyring file ${path}: ${(error as Error).message}`, {
        field: path,
        rule: 'must be an Ed25519 public key named <key-id>.pub.pem',
        cause: error,
      });
    }
  }
  return new Keyring(entries);
}
