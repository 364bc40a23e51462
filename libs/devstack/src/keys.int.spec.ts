import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadKeyringFromDir, loadSigningKey, signCanonical, verifyCanonical } from '@writ/crypto';
import { describe, expect, it } from 'vitest';
import { ensureDevKeys } from './keys.ts';

describe('ensureDevKeys', () => {
  it('creates a warrant and a reservation key pair once, each public half in its own trust folder', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'writ-keys-'));
    const first = ensureDevKeys(dir);
    expect(first.created).toEqual(['warrant-1', 'reservation-1', 'ledger-1']);
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
});
