import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { generateSigningKey } from '@writ/crypto';

/** Where each service finds its keys under a keys folder; see docs/design/pipeline.md. */
export interface KeyLayout {
  readonly warrantSigningKey: string;
  readonly reservationSigningKey: string;
  readonly warrantKeysDir: string;
  readonly reservationKeysDir: string;
  readonly ledgerSigningKey: string;
  readonly ledgerKeysDir: string;
}

export function keyLayout(keysDir: string): KeyLayout {
  const root = resolve(keysDir);
  return {
    warrantSigningKey: join(root, 'private', 'warrant-1.pem'),
    reservationSigningKey: join(root, 'private', 'reservation-1.pem'),
    warrantKeysDir: join(root, 'public', 'warrants'),
    reservationKeysDir: join(root, 'public', 'reservations'),
    ledgerSigningKey: join(root, 'private', 'ledger-1.pem'),
    ledgerKeysDir: join(root, 'public', 'ledger'),
  };
}

/** The environment variables that point the services at a key layout. */
export function keyEnvironment(layout: KeyLayout): Record<string, string> {
  return {
    WRIT_WARRANT_SIGNING_KEY: layout.warrantSigningKey,
    WRIT_RESERVATION_SIGNING_KEY: layout.reservationSigningKey,
    WRIT_WARRANT_KEYS_DIR: layout.warrantKeysDir,
    WRIT_RESERVATION_KEYS_DIR: layout.reservationKeysDir,
    WRIT_LEDGER_SIGNING_KEY: layout.ledgerSigningKey,
    WRIT_LEDGER_KEYS_DIR: layout.ledgerKeysDir,
  };
}

function ensureKeyPair(privatePath: string, publicDir: string, keyId: string): boolean {
  const publicPath = join(publicDir, `${keyId}.pub.pem`);
  if (existsSync(privatePath) && existsSync(publicPath)) return false;
  const key = generateSigningKey(keyId);
  mkdirSync(join(privatePath, '..'), { recursive: true, mode: 0o700 });
  mkdirSync(publicDir, { recursive: true });
  writeFileSync(privatePath, key.exportPrivateKeyPem(), { mode: 0o600 });
  writeFileSync(publicPath, key.exportPublicKeyPem());
  return true;
}

/**
 * Makes the development signing keys (Ed25519) if they are missing: warrants (policy service),
 * reservations (budget service) and chain checkpoints (ledger), each public half in its own folder.
 * Returns the layout and which keys were created. Production keys come from a secret store.
 */
export function ensureDevKeys(keysDir: string): { layout: KeyLayout; created: string[] } {
  const layout = keyLayout(keysDir);
  const created: string[] = [];
  if (ensureKeyPair(layout.warrantSigningKey, layout.warrantKeysDir, 'warrant-1')) created.push('warrant-1');
  if (ensureKeyPair(layout.reservationSigningKey, layout.reservationKeysDir, 'reservation-1')) created.push('reservation-1');
  if (ensureKeyPair(layout.ledgerSigningKey, layout.ledgerKeysDir, 'ledger-1')) created.push('ledger-1');
  return { layout, created };
}
