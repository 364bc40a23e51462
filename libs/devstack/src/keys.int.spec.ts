import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { loadKeyringFromDir, loadSigningKey, signCanonical, verifyCanonical } from '@writ/crypto';
import { describe, expect, it } from 'vitest';
import { ensureDevKeys, keyEnvironment, serviceKeyEnvironment } from './keys.ts';
import { WRIT_SERVICES } from './services.ts';

describe('ensureDevKeys', () => {
  it('creates a warrant and a reservation key pair once, each public half in its own trust folder', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'writ-keys-'));
    const first = ensureDevKeys(dir);
    expect(first.created).toEqual(['warrant-1', 'reservation-1', 'ledger-1', 'tool-token-1']);
    const pem = readFileSync(first.layout.warrantSigningKey, 'utf8');
    expect(statSync(first.layout.warrantSigningKey).mode & 0o777).toBe(0o600);

    const second = ensureDevKeys(dir);
    expect(second.created).toEqual([]);
    expect(readFileSync(second.layout.warrantSigningKey, 'utf8')).toBe(pem);

    const warrantKey = await loadSigningKey(first.layout.warrantSigningKey);
    const signature = signCanonical({ a: 1 }, warrantKey);
    const warrants = await loadKeyringFromDir(first.layout.warrantKeysDir);
    const reservations = await loadKeyringFromDir(first.layout.reservationKeysDir);
    expect(verifyCanonical({ a: 1 }, signature, warrants).ok).toBe(true);
    expect(verifyCanonical({ a: 1 }, signature, reservations)).toMatchObject({ ok: false, reason: 'unknown-key' });
  });

  it("keeps each private key in its own service's folder (0700, file 0600)", () => {
    const dir = mkdtempSync(join(tmpdir(), 'writ-keys-'));
    const { layout } = ensureDevKeys(dir);
    const owners = {
      policy: layout.warrantSigningKey,
      budget: layout.reservationSigningKey,
      ledger: layout.ledgerSigningKey,
      executor: layout.toolTokenSigningKey,
    };
    for (const [service, key] of Object.entries(owners)) {
      expect(key).toBe(join(dir, service, 'private', key.split('/').pop() ?? ''));
      expect(statSync(key).mode & 0o777).toBe(0o600);
      expect(statSync(dirname(key)).mode & 0o777).toBe(0o700);
      expect(statSync(join(dir, service)).mode & 0o777).toBe(0o700);
    }
  });

  it('gives every service the path of its own private key only, and gateway and planner none', () => {
    const dir = mkdtempSync(join(tmpdir(), 'writ-keys-'));
    const { layout } = ensureDevKeys(dir);
    const privateKeys = {
      policy: layout.warrantSigningKey,
      budget: layout.reservationSigningKey,
      ledger: layout.ledgerSigningKey,
      executor: layout.toolTokenSigningKey,
    } as Record<string, string>;
    for (const service of WRIT_SERVICES) {
      const values = Object.values(serviceKeyEnvironment(layout, service));
      for (const [owner, key] of Object.entries(privateKeys)) {
        const reaches = values.some((value) => key.startsWith(value) || value.startsWith(dirname(dirname(key))));
        expect(reaches, `${service} reaches ${owner}'s key`).toBe(owner === service);
      }
    }
    expect(serviceKeyEnvironment(layout, 'gateway')).toEqual({});
    expect(serviceKeyEnvironment(layout, 'planner')).toEqual({});
    expect(serviceKeyEnvironment(layout, 'executor')).toEqual({
      WRIT_EXECUTOR_WARRANT_KEYS_DIR: layout.warrantKeysDir,
      WRIT_EXECUTOR_RESERVATION_KEYS_DIR: layout.reservationKeysDir,
      WRIT_EXECUTOR_TOKEN_SIGNING_KEY: layout.toolTokenSigningKey,
    });
    // Every variable of the whole layout is handed to exactly the services that use it.
    const handed = WRIT_SERVICES.flatMap((service) => Object.keys(serviceKeyEnvironment(layout, service))).sort();
    expect(handed).toEqual(Object.keys(keyEnvironment(layout)).sort());
  });
});
