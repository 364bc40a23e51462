export { canonicalJson } from './canonical-json.ts';
export { sha256Hex, sha256Canonical } from './hash.ts';
export {
  SigningKey,
  Keyring,
  generateSigningKey,
  signingKeyFromPem,
  publicKeyFromPem,
  createKeyring,
  loadSigningKey,
  loadKeyringFromDir,
} from './keys.ts';
export { signCanonical, verifyCanonical } from './signing.ts';
export { SEALED_MEMBER, TenantDataKey, checkTenantId, isSealedValue, sealedKeyId } from './sealing.ts';
export { TenantKeyDir } from './tenant-keys.ts';
export type { CanonicalJsonValue } from './canonical-json.ts';
export type { CanonicalSignature, SignatureCheck } from './signing.ts';
export type { SealedValue } from './sealing.ts';
export type { TenantKeyStore } from './tenant-keys.ts';
