import { TenantDataKey } from '../sealing.ts';
import type { TenantKeyStore } from '../tenant-keys.ts';

/** Keys held in memory (tests). */
export function memoryTenantKeys(initial: readonly TenantDataKey[] = []): TenantKeyStore & { erase(tenant: string): void } {
  const keys = new Map(initial.map((key) => [key.tenant, key]));
  return {
    get: (tenant) => Promise.resolve(keys.get(tenant)),
    getOrCreate: (tenant) => {
      const key = keys.get(tenant) ?? TenantDataKey.generate(tenant);
      keys.set(tenant, key);
      return Promise.resolve(key);
    },
    erase: (tenant) => {
      keys.delete(tenant);
    },
  };
}
