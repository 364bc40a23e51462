import { canonicalJson, sha256Hex } from '@writ/crypto';
import { WritError } from '@writ/errors';

/**
 * The byte encoding of the chain, fixed here and in this lib's README.md:
 *
 *   event_hash = SHA-256(the event's Kafka record value, byte for byte)      -> 64 lowercase hex
 *   chain_hash, hash version 2 (every entry written since LedgerEntry v3):
 *              = SHA-256(UTF-8 of canonicalJson(every field of the entry but chain_hash))
 *   chain_hash, hash version 1 (entries written before):
 *              = SHA-256(prev_hash[32] ‖ event_hash[32] ‖ seq[8])            -> 64 lowercase hex
 *
 * where, in version 1, prev_hash and event_hash enter as their 32 raw bytes (the hex decoded), and
 * seq as an unsigned 64-bit big-endian integer: 72 bytes in all. Version 1 left the event's type,
 * ids and source outside the hash (an entry whose bytes are withheld could be retyped unseen);
 * version 2 binds them all. The first entry of a chain has seq 0 and prev_hash GENESIS_HASH
 * (32 zero bytes, 64 "0" characters).
 */
export const GENESIS_HASH = '0'.repeat(64);

/** The hash rule new entries follow. */
export const CURRENT_HASH_VERSION = 2;

/** The rules a verifier knows. */
export const HASH_VERSIONS: readonly number[] = [1, 2];

/** Every field of a chain entry but its chain_hash: what hash version 2 covers. */
export interface HashedEntry {
  /** 1 (legacy: prev_hash, event_hash, seq only) or 2 (every field below). */
  readonly hash_version: number;
  readonly chain_id: string;
  readonly seq: number;
  readonly prev_hash: string;
  /** sha256 of the event's bytes: the commitment that stands for them where they are withheld. */
  readonly event_hash: string;
  readonly source_event_id: string;
  readonly event_type: string;
  readonly source_topic: string;
  readonly source_partition: number;
  readonly source_offset: number;
  /** meta.run_id of the chained event. */
  readonly source_run_id: string;
  /** meta.action_id of the chained event. */
  readonly source_action_id: string | null;
  /** meta.occurred_at of the chained event (ms since the epoch). */
  readonly source_occurred_at: number;
}

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

/** Hash version 1: chain_hash = sha256(prev_hash ‖ event_hash ‖ seq), see the encoding above. */
export function chainHashOf(prevHash: string, eventHash: string, seq: number): string {
  return sha256Hex(chainHashInput(prevHash, eventHash, seq));
}

const isWhole = (value: unknown): value is number => typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;

/**
 * Hash version 2's input: the UTF-8 bytes of canonicalJson (RFC 8785 style: keys sorted, no
 * whitespace) of the object of every field of HashedEntry, hash_version included. Throws
 * LEDGER_HASH_INVALID naming the first field that is not what an entry holds.
 */
export function entryHashInput(entry: HashedEntry): Buffer {
  if (entry.hash_version === 1) return chainHashInput(entry.prev_hash, entry.event_hash, entry.seq);
  if (entry.hash_version !== 2) {
    throw new WritError('LEDGER_HASH_INVALID', `hash_version must be one of ${HASH_VERSIONS.join(', ')}, got ${JSON.stringify(entry.hash_version)}`, {
      field: 'hash_version',
      rule: `one of ${HASH_VERSIONS.join(', ')}`,
    });
  }
  for (const field of ['prev_hash', 'event_hash'] as const) if (!isSha256Hex(entry[field])) throw invalid(field, String(entry[field]));
  for (const field of ['chain_id', 'source_event_id', 'event_type', 'source_topic', 'source_run_id'] as const) {
    if (typeof entry[field] !== 'string' || entry[field] === '') {
      throw new WritError('LEDGER_HASH_INVALID', `${field} must be a non-empty string`, { field, rule: 'non-empty string' });
    }
  }
  if (entry.source_action_id !== null && (typeof entry.source_action_id !== 'string' || entry.source_action_id === '')) {
    throw new WritError('LEDGER_HASH_INVALID', 'source_action_id must be null or a non-empty string', {
      field: 'source_action_id',
      rule: 'null or non-empty string',
    });
  }
  for (const field of ['seq', 'source_partition', 'source_offset', 'source_occurred_at'] as const) {
    if (!isWhole(entry[field])) {
      throw new WritError('LEDGER_HASH_INVALID', `${field} must be a whole number >= 0, got ${JSON.stringify(entry[field])}`, {
        field,
        rule: 'a whole number >= 0',
      });
    }
  }
  const fields: Record<keyof HashedEntry, string | number | null> = {
    hash_version: entry.hash_version,
    chain_id: entry.chain_id,
    seq: entry.seq,
    prev_hash: entry.prev_hash,
    event_hash: entry.event_hash,
    source_event_id: entry.source_event_id,
    event_type: entry.event_type,
    source_topic: entry.source_topic,
    source_partition: entry.source_partition,
    source_offset: entry.source_offset,
    source_run_id: entry.source_run_id,
    source_action_id: entry.source_action_id,
    source_occurred_at: entry.source_occurred_at,
  };
  return Buffer.from(canonicalJson(fields), 'utf8');
}

/** An entry's chain_hash by the rule of its hash_version (1 or 2). */
export function entryChainHash(entry: HashedEntry): string {
  return sha256Hex(entryHashInput(entry));
}

function invalid(field: string, value: string): WritError {
  return new WritError('LEDGER_HASH_INVALID', `${field} must be 64 lowercase hex digits, got ${JSON.stringify(value.slice(0, 80))}`, {
    field,
    rule: 'sha256-hex',
  });
}
