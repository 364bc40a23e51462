import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isWritError } from '@writ/errors';
import { generateSigningKey, loadKeyringFromDir, loadSigningKey } from './keys.ts';
import { signCanonical, verifyCanonical } from './signing.ts';

async function failure(run: () => Promise<unknown>) {
  try {
    await run();
  } catch (error) {
    if (isWritError(error)) return error;
    throw error;
  }
  throw new Error('expected a WritError');
}

describe('key files', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'writ-keys-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('loads a signing key named after its file and a keyring of public keys for rotation', async () => {
    const current = generateSigningKey('pdp-2026-02');
    const previous = generateSigningKey('pdp-2026-01');
    await writeFile(join(dir, 'pdp-2026-02.pem'), current.exportPrivateKeyPem(), { mode: 0o600 });
    const keyringDir = join(dir, 'keyring');
    await mkdir(keyringDir);
    await writeFile(join(keyringDir, 'pdp-2026-02.pub.pem'), current.exportPublicKeyPem());
    await writeFile(join(keyringDir, 'pdp-2026-01.pem'), previous.exportPublicKeyPem());
    await writeFile(join(keyringDir, 'README.txt'), 'ignored');

    const signer = await loadSigningKey(join(dir, 'pdp-2026-02.pem'));
    const keyring = await loadKeyringFromDir(keyringDir);
    expect(signer.keyId).toBe('pdp-2026-02');
    expect(keyring.keyIds).toEqual(['pdp-2026-01', 'pdp-2026-02']);
    const payload = { hello: 'world' };
    expect(verifyCanonical(payload, signCanonical(payload, signer), keyring).ok).toBe(true);
    expect(verifyCanonical(payload, signCanonical(payload, previous), keyring).ok).toBe(true);
    expect((await loadSigningKey(join(dir, 'pdp-2026-02.pem'), { keyId: 'explicit' })).keyId).toBe('explicit');
  });

  it('refuses a private key in a keyring directory, naming the file without printing the key', async () => {
    const key = generateSigningKey('leaked');
    await writeFile(join(dir, 'leaked.pem'), key.exportPrivateKeyPem());
    const error = await failure(() => loadKeyringFromDir(dir));
    expect(error.code).toBe('KEYRING_INVALID');
    expect(error.message).toContain(join(dir, 'leaked.pem'));
    expect(error.message).toContain('private key where a public key was expected');
    expect(error.message).not.toContain('PRIVATE KEY-----');
  });

  it('names a missing key file, an empty keyring directory and a file that is not a key', async () => {
    expect((await failure(() => loadSigningKey(join(dir, 'absent.pem')))).field).toBe(join(dir, 'absent.pem'));
    expect((await failure(() => loadKeyringFromDir(dir))).rule).toBe('must hold at least one <key-id>.pub.pem file');
    await writeFile(join(dir, 'garbage.pem'), 'hello');
    const error = await failure(() => loadSigningKey(join(dir, 'garbage.pem')));
    expect(error.code).toBe('KEY_INVALID');
    expect(error.message).toContain('garbage.pem');
  });
});
