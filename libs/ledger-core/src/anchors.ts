// External anchors: signed chain heads recorded outside Writ, in an append-only place the auditor
// controls (a JSON-lines file, a git repository of it). A head anchored there pins every entry up
// to it: the chain must still reach its seq with that chain_hash, so removing the tail after it or
// changing any entry before it fails verification, even when the ledger's own checkpoints were
// removed with it. The format is normative (README.md of this lib, docs/security/ledger.md).
import { WritError } from '@writ/errors';
import type { SignedHead } from './checkpoint.ts';
import { isSha256Hex } from './encoding.ts';

/** One line of an anchors file. */
export interface AnchorRecord {
  /** The chain's tenant (its chain_id). */
  readonly tenant: string;
  /** seq of the head entry. */
  readonly seq: number;
  /** chain_hash of the head entry. */
  readonly chain_hash: string;
  /** The ledger key that signed it, and the Ed25519 signature (base64) over canonicalJson({chain_id, seq, chain_hash}). */
  readonly key_id: string;
  readonly signature: string;
  /** When the ledger signed it (ISO 8601, UTC; null when the source did not say). Not covered by the signature. */
  readonly signed_at: string | null;
  /** When it was appended to the anchors file (ISO 8601, UTC). */
  readonly anchored_at: string;
}

/** An anchor read back, with where it was read (`<file>:<line>`) to name it in a failure. */
export interface Anchor extends AnchorRecord {
  readonly origin: string;
}

/** The anchor's head as its checkpoint was signed. */
export function signedHeadOf(anchor: AnchorRecord): SignedHead {
  return { chain_id: anchor.tenant, seq: anchor.seq, chain_hash: anchor.chain_hash, key_id: anchor.key_id, signature: anchor.signature };
}

/** One line of an anchors file (no newline), its keys in the documented order. */
export function anchorLine(record: AnchorRecord): string {
  const { tenant, seq, chain_hash, key_id, signature, signed_at, anchored_at } = record;
  return JSON.stringify({ tenant, seq, chain_hash, key_id, signature, signed_at, anchored_at });
}

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;

/** Reads an anchors file (blank lines ignored); throws LEDGER_ANCHOR_INVALID naming `<name>:<line>` and the field. */
export function parseAnchors(text: string, name: string): Anchor[] {
  const anchors: Anchor[] = [];
  for (const [index, line] of text.split('\n').entries()) {
    if (line.trim() === '') continue;
    const origin = `${name}:${index + 1}`;
    const bad = (field: string, rule: string): WritError =>
      new WritError('LEDGER_ANCHOR_INVALID', `${origin}: ${field} ${rule}`, { field: `${origin} ${field}`, rule });
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      throw bad('line', 'is not JSON (one JSON object per line)');
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw bad('line', 'is not a JSON object');
    const record = parsed as Record<string, unknown>;
    const stringOf = (field: string): string => {
      const value = record[field];
      if (typeof value !== 'string' || value === '') throw bad(field, 'must be a non-empty string');
      return value;
    };
    const seq = record['seq'];
    if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0) throw bad('seq', 'must be a whole number >= 0');
    const chainHash = stringOf('chain_hash');
    if (!isSha256Hex(chainHash)) throw bad('chain_hash', 'must be 64 lowercase hex digits');
    const signedAt = record['signed_at'] ?? null;
    if (signedAt !== null && (typeof signedAt !== 'string' || !ISO.test(signedAt))) throw bad('signed_at', 'must be null or an ISO 8601 UTC time');
    const anchoredAt = stringOf('anchored_at');
    if (!ISO.test(anchoredAt)) throw bad('anchored_at', 'must be an ISO 8601 UTC time');
    anchors.push({
      tenant: stringOf('tenant'),
      seq,
      chain_hash: chainHash,
      key_id: stringOf('key_id'),
      signature: stringOf('signature'),
      signed_at: signedAt,
      anchored_at: anchoredAt,
      origin,
    });
  }
  return anchors;
}

/** A signed head to anchor, and when it was signed (ms; null when unknown). */
export interface HeadToAnchor extends SignedHead {
  readonly signed_at: number | null;
}

/**
 * The lines to append to an anchors file that holds `existing`: every head of a chain past the
 * last one anchored for it, in (tenant, seq) order. A head at a seq already anchored with another
 * chain_hash is a fork of the chain and throws LEDGER_ANCHOR_CONFLICT naming the anchor.
 */
export function anchorsToAppend(existing: readonly Anchor[], heads: readonly HeadToAnchor[], anchoredAt: number): AnchorRecord[] {
  const last = new Map<string, number>();
  const known = new Map<string, Anchor>();
  for (const anchor of existing) {
    last.set(anchor.tenant, Math.max(last.get(anchor.tenant) ?? -1, anchor.seq));
    known.set(`${anchor.tenant}\n${anchor.seq}`, anchor);
  }
  const records: AnchorRecord[] = [];
  const sorted = [...heads].sort((a, b) => (a.chain_id === b.chain_id ? a.seq - b.seq : a.chain_id < b.chain_id ? -1 : 1));
  for (const head of sorted) {
    const anchored = known.get(`${head.chain_id}\n${head.seq}`);
    if (anchored !== undefined && anchored.chain_hash !== head.chain_hash) {
      throw new WritError(
        'LEDGER_ANCHOR_CONFLICT',
        `chain ${head.chain_id} seq ${head.seq}: the ledger's checkpoint says chain_hash ${head.chain_hash}, the anchor ${anchored.origin} says ${anchored.chain_hash}`,
        { field: anchored.origin, rule: 'an anchored head never changes' },
      );
    }
    if (head.seq <= (last.get(head.chain_id) ?? -1)) continue;
    records.push({
      tenant: head.chain_id,
      seq: head.seq,
      chain_hash: head.chain_hash,
      key_id: head.key_id,
      signature: head.signature,
      signed_at: head.signed_at === null ? null : new Date(head.signed_at).toISOString(),
      anchored_at: new Date(anchoredAt).toISOString(),
    });
    last.set(head.chain_id, head.seq);
  }
  return records;
}
