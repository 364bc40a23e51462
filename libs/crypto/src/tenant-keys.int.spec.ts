import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isWritError } from '@writ/errors';
import { TenantKeyDir } from './tenant-keys.ts';

describe('TenantKeyDir', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'writ-tenant-keys-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('creates a key once (mode 0600), shares it between readers, and erases it when the file is deleted', async () => {
    const gateway = new TenantKeyDir(join(dir, 'tenants'));
    const executor = new TenantKeyDir(join(dir, 'tenants'));
    expect(await executor.get('acme')).toBeUndefined();
    const [a, b] = await Promise.all([gateway.getOrCreate('acme'), gateway.getOrCreate('acme')]);
    expect(a.keyId).toBe(b.keyId);
    expect((await stat(gateway.pathOf('acme'))).mode & 0o777).toBe(0o600);
    expect(Buffer.from((await readFile(gateway.pathOf('acme'), 'utf8')).trim(), 'base64')).toHaveLength(32);
    const sealed = a.seal('4242', '$.card_last4');
    expect((await executor.get('acme'))?.unseal(sealed, '$.card_last4')).toBe('4242');

    await rm(gateway.pathOf('acme'));
    expect(await executor.get('acme')).toBeUndefined();
    const fresh = await gateway.getOrCreate('acme');
    expect(fresh.keyId).not.toBe(a.keyId);
    expect(() => fresh.unseal(sealed, '$.card_last4')).toThrow(/sealed under data key .* erased/);
  });

  it('names a key file that is not a key, without printing it', async () => {
    const keys = new TenantKeyDir(dir);
    await writeFile(keys.pathOf('acme'), 'not-a-key');
    const error = await keys.get('acme').catch((e: unknown) => e);
    expect(isWritError(error, 'TENANT_KEY_INVALID')).toBe(true);
    expect((error as Error).message).toContain(keys.pathOf('acme'));
    expect(() => keys.pathOf('../x')).toThrow(/cannot name a data key/);
  });
});
