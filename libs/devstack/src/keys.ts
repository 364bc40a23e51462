import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { generateSigningKey } from '@writ/crypto';

/**
 * Where each service finds its keys under a keys folder; see docs/design/pipeline.md. Each private
 * key lives in its own service's folder (`<keys>/<service>/private/`, 0700, files 0600): a
 * service is given the path of its own key only. Public halves sit in `<keys>/public/<kind>/`.
 */
export interface KeyLayout {
  readonly warrantSigningKey: string;
  readonly reservationSigningKey: string;
  readonly warrantKeysDir: string;
  readonly reservationKeysDir: string;
  readonly ledgerSigningKey: string;
  readonly ledgerKeysDir: string;
  /** The executor's key for the tokens it mints per action (tools verify them with its JWKS). */
  readonly toolTokenSigningKey: string;
  readonly toolTokenKeysDir: string;
}

export function keyLayout(keysDir: string): KeyLayout {
  const root = resolve(keysDir);
  return {
    warrantSigningKey: join(root, 'policy', 'private', 'warrant-1.pem'),
    reservationSigningKey: join(root, 'budget', 'private', 'reservation-1.pem'),
    warrantKeysDir: join(root, 'public', 'warrants'),
    reservationKeysDir: join(root, 'public', 'reservations'),
    ledgerSigningKey: join(root, 'ledger', 'private', 'ledger-1.pem'),
    ledgerKeysDir: join(root, 'public', 'ledger'),
    toolTokenSigningKey: join(root, 'executor', 'private', 'tool-token-1.pem'),
    toolTokenKeysDir: join(root, 'public', 'tool-tokens'),
  };
}

/** Every key variable of a layout (tools and tests that play several services at once). */
export function keyEnvironment(layout: KeyLayout): Record<string, string> {
  return {
    WRIT_POLICY_SIGNING_KEY: layout.warrantSigningKey,
    WRIT_BUDGET_SIGNING_KEY: layout.reservationSigningKey,
    WRIT_EXECUTOR_WARRANT_KEYS_DIR: layout.warrantKeysDir,
    WRIT_EXECUTOR_RESERVATION_KEYS_DIR: layout.reservationKeysDir,
    WRIT_LEDGER_SIGNING_KEY: layout.ledgerSigningKey,
    WRIT_LEDGER_KEYS_DIR: layout.ledgerKeysDir,
    WRIT_EXECUTOR_TOKEN_SIGNING_KEY: layout.toolTokenSigningKey,
  };
}

/**
 * The key variables of one service: its own signing key and the public folders it verifies with,
 * never another service's private key. policy signs warrants, budget reservations, the ledger its
 * checkpoints; the executor verifies warrants and reservations and signs the tokens it mints per
 * action for the tools; gateway and planner hold none.
 */
export function serviceKeyEnvironment(layout: KeyLayout, service: string): Record<string, string> {
  switch (service) {
    case 'policy':
      return { WRIT_POLICY_SIGNING_KEY: layout.warrantSigningKey };
    case 'budget':
      return { WRIT_BUDGET_SIGNING_KEY: layout.reservationSigningKey };
    case 'ledger':
      return { WRIT_LEDGER_SIGNING_KEY: layout.ledgerSigningKey, WRIT_LEDGER_KEYS_DIR: layout.ledgerKeysDir };
    case 'executor':
      return {
        WRIT_EXECUTOR_WARRANT_KEYS_DIR: layout.warrantKeysDir,
        WRIT_EXECUTOR_RESERVATION_KEYS_DIR: layout.reservationKeysDir,
        WRIT_EXECUTOR_TOKEN_SIGNING_KEY: layout.toolTokenSigningKey,
      };
    default:
      return {};
  }
}

function ensureKeyPair(privatePath: string, publicDir: string, keyId: string): boolean {
  const publicPath = join(publicDir, `${keyId}.pub.pem`);
  if (existsSync(privatePath) && existsSync(publicPath)) return false;
  const key = generateSigningKey(keyId);
  // <service>/ and <service>/private/ both 0700: nothing of one service's folder is readable by another user.
  mkdirSync(join(privatePath, '..'), { recursive: true, mode: 0o700 });
  chmodSync(join(privatePath, '..', '..'), 0o700);
  chmodSync(join(privatePath, '..'), 0o700);
  mkdirSync(publicDir, { recursive: true });
  writeFileSync(privatePath, key.exportPrivateKeyPem(), { mode: 0o600 });
  chmodSync(privatePath, 0o600);
  writeFileSync(publicPath, key.exportPublicKeyPem());
  return true;
}

/**
 * Makes the development signing keys (Ed25519) if they are missing: warrants (policy service),
 * reservations (budget service), chain checkpoints (ledger) and the tokens the executor mints per
 * action for the tools, each public half in its own folder.
 * Returns the layout and which keys were created. Production keys come from a secret store.
 */
export function ensureDevKeys(keysDir: string): { layout: KeyLayout; created: string[] } {
  const layout = keyLayout(keysDir);
  const created: string[] = [];
  if (ensureKeyPair(layout.warrantSigningKey, layout.warrantKeysDir, 'warrant-1')) created.push('warrant-1');
  if (ensureKeyPair(layout.reservationSigningKey, layout.reservationKeysDir, 'reservation-1')) created.push('reservation-1');
  if (ensureKeyPair(layout.ledgerSigningKey, layout.ledgerKeysDir, 'ledger-1')) created.push('ledger-1');
  if (ensureKeyPair(layout.toolTokenSigningKey, layout.toolTokenKeysDir, 'tool-token-1')) created.push('tool-token-1');
  return { layout, created };
}
