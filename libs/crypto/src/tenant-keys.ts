// Tenants' data keys in a folder (`WRIT_TENANT_KEYS_DIR/<tenant>.key`, base64 of 32 random bytes,
// mode 0600). Production replaces the folder with a secret store or KMS behind the same interface.
// Every lookup reads the file again: deleting a key file erases the tenant's sensitive data at once,
// without a restart of the services that hold the folder.
import { randomBytes, randomUUID } from 'node:crypto';
import { link, mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { WritError } from '@writ/errors';
import { TenantDataKey, checkTenantId } from './sealing.ts';

/** Where the services that handle clear sensitive values (gateway, executor) find tenants' data keys. */
export interface TenantKeyStore {
  /** The tenant's key, or undefined when it has none (never created, or erased). */
  get(tenant: string): Promise<TenantDataKey | undefined>;
  /** The tenant's key, created on first use. Only the service that seals (the gateway) calls this. */
  getOrCreate(tenant: string): Promise<TenantDataKey>;
}

function keyFromText(tenant: string, text: string, path: string): TenantDataKey {
  const secret = Buffer.from(text.trim(), 'base64');
  try {
    return new TenantDataKey(tenant, secret);
  } catch (cause) {
    throw new WritError('TENANT_KEY_INVALID', `tenant key file ${path} must hold the base64 of 32 random bytes`, {
      field: path,
      rule: 'must be base64 of 32 bytes',
      cause,
    });
  }
}

/** A folder of `<tenant>.key` files. */
export class TenantKeyDir implements TenantKeyStore {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = resolve(dir);
  }

  pathOf(tenant: string): string {
    return join(this.dir, `${checkTenantId(tenant)}.key`);
  }

  async get(tenant: string): Promise<TenantDataKey | undefined> {
    const path = this.pathOf(tenant);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (cause) {
      if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new WritError('TENANT_KEY_UNREADABLE', `cannot read tenant key file ${path}`, { field: path, rule: 'must be readable', cause, retriable: true });
    }
    return keyFromText(tenant, text, path);
  }

  async getOrCreate(tenant: string): Promise<TenantDataKey> {
    const existing = await this.get(tenant);
    if (existing !== undefined) return existing;
    const path = this.pathOf(tenant);
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    // Written whole under a temporary name, then linked into place: a reader never sees half a key,
    // and of two processes creating the same tenant's key at once, exactly one wins.
    const temporary = join(this.dir, `.${tenant}.${randomUUID()}.tmp`);
    await writeFile(temporary, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
    try {
      await link(temporary, path);
    } catch (cause) {
      if ((cause as NodeJS.ErrnoException).code !== 'EEXIST') throw cause;
    } finally {
      await unlink(temporary).catch(() => undefined);
    }
    const created = await this.get(tenant);
    if (created === undefined) throw new WritError('TENANT_KEY_UNREADABLE', `tenant key file ${path} vanished right after it was created`, { retriable: true });
    return created;
  }
}
