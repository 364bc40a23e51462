import { sha256Hex } from '@writ/crypto';
import { WritError } from '@writ/errors';

/**
 * The byte encoding of the chain, fixed here and in this lib's README.md:
 *
 *   event_hash = SHA-256(the event's Kafka record value, byte for byte)      -> 64 lowercase hex
 *   chain_hash = SHA-256(prev_hash[32] ‖ event_hash[32] ‖ seq[8])            -> 64 lowercase hex
 *
 * where prev_hash and event_hash enter as their 32 raw bytes (the hex decoded), and seq as an
 * unsigned 64-bit big-endian integer: 72 bytes in all. The first entry of a chain has seq 0 and
 * prev_hash GENESIS_HASH (32 zero bytes, 64 "0" characters).
 */
export const GENESIS_HASH = '0'.repeat(64);

const SHA256_HEX = /^[0-9a-f]{64}$/;

export function isSha256Hex(value: unknown): value is string {
  return typeof value === 'string' && SHA256_HEX.test(value);
}

/** sha256 (lowercase hex) of an event's exact bytes as they were read from Kafka. */
export function eventHashOf(bytes: Uint8Array): string {
  return sha256Hex(bytes);
}

/** The 72 bytes a chain hash is taken over; throws LEDGER_HASH_INVALID on malformed input. */
export function chainHashInput(prevHash: string, eventHash: string, seq: number): Buffer {
  if (!isSha256Hex(prevHash)) throw invalid('prev_hash', prevHash);
  if (!isSha256Hex(eventHash)) throw invalid('event_hash', eventHash);
  if (!Number.isSafeInteger(seq) || seq < 0) {
    throw new WritError('LEDGER_HASH_INVALID', `seq must be a whole number >= 0, got ${seq}`, {
      field: 'seq',
      rule: 'a whole number >= 0',
    });
  }
  const input = Buffer.alloc(72);
  input.write(prevHash, 0, 'hex');
  input.write(eventHash, 32, 'hex');
  input.writeBigUInt64BE(BigInt(seq), 64);
  return input;
}

/** chain_hash = sha256(prev_hash ‖ event_hash ‖ seq), see the encoding above. */
export function chainHashOf(prevHash: string, eventHash: string, seq: number): string {
  return sha256Hex(chainHashInput(prevHash, eventHash, seq));
}

function invalid(field: string, value: string): WritError {
  return new WritError('LEDGER_HASH_INVALID', `${field} must be 64 lowercase hex digits, got ${JSON.stringify(value.slice(0, 80))}`, {
    field,
    rule: 'sha256-hex',
  });
}
