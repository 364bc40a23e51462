import { signCanonical, verifyCanonical } from '@writ/crypto';
import type { CanonicalSignature, Keyring, SignatureCheck, SigningKey } from '@writ/crypto';
import type { ChainHead } from './chain.ts';

/** A chain head with the Ed25519 signature over canonicalJson({chain_id, seq, chain_hash}). */
export interface SignedHead extends ChainHead, CanonicalSignature {}

/** Exactly what a checkpoint signature covers (and nothing else: no envelope, no time). */
export function checkpointPayload(head: ChainHead): { chain_id: string; seq: number; chain_hash: string } {
  return { chain_id: head.chain_id, seq: head.seq, chain_hash: head.chain_hash };
}

export function signHead(head: ChainHead, key: SigningKey): SignedHead {
  return { ...checkpointPayload(head), ...signCanonical(checkpointPayload(head), key) };
}

export function verifyHead(signed: SignedHead, keyring: Keyring): SignatureCheck {
  return verifyCanonical(checkpointPayload(signed), { key_id: signed.key_id, signature: signed.signature }, keyring);
}
