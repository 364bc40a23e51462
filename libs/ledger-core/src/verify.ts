import { decodeEvent } from '@writ/contracts';
import { GENESIS_HASH, HASH_VERSIONS, entryChainHash, eventHashOf, isSha256Hex } from './encoding.ts';
import type { ChainEntry, ChainHead } from './chain.ts';

/**
 * Why verification stopped at an entry:
 * - `gap`: the expected seq is nowhere in the chain (entries were removed);
 * - `reordered`: the expected seq appears later (entries were moved or swapped);
 * - `duplicate-seq`: a seq that was already seen (an entry was copied or the order rewritten);
 * - `broken-link`: prev_hash is not the previous entry's chain_hash;
 * - `entry-changed`: chain_hash is not the hash of the entry's fields by its hash_version (any
 *   field was edited: under version 2 every field, the type and ids of a withheld event too);
 * - `malformed`: a field is not what a chain entry holds (hash not hex, seq not a number, an
 *   unknown hash_version, or a version 1 entry after a version 2 one: a chain never goes back);
 * - `event-changed`: the event's stored bytes do not hash to event_hash;
 * - `event-mismatch`: the bytes decode to another event id, type, tenant (or, version 2, run,
 *   action or time) than the entry says;
 * - `event-missing`: bytes were required (requireEvents) but absent for this entry;
 * - `duplicate-event`: the same event id is chained twice;
 * - `wrong-chain`: the entry belongs to another chain;
 * - `checkpoint-mismatch`: a trusted head (a signed checkpoint, an external anchor) names another
 *   chain_hash at its seq;
 * - `truncated`: the chain ends before a trusted head's seq (entries removed from the tail).
 */
export type VerifyFailureKind =
  | 'gap'
  | 'reordered'
  | 'duplicate-seq'
  | 'broken-link'
  | 'entry-changed'
  | 'malformed'
  | 'event-changed'
  | 'event-mismatch'
  | 'event-missing'
  | 'duplicate-event'
  | 'wrong-chain'
  | 'checkpoint-mismatch'
  | 'truncated';

export interface VerifyFailure {
  readonly ok: false;
  readonly chain_id: string;
  /** Position in the given list (0-based) of the first bad entry; the list length for `truncated`. */
  readonly index: number;
  /** seq the entry claims (the expected seq for `truncated`). */
  readonly seq: number;
  readonly event_id: string | null;
  readonly kind: VerifyFailureKind;
  readonly reason: string;
  /** Entries that verified before it. */
  readonly verified: number;
}

/** Entries after the last trusted head: nothing outside the chain vouches for them yet. */
export interface Unanchored {
  readonly count: number;
  readonly first_seq: number;
  readonly last_seq: number;
}

export interface VerifySuccess {
  readonly ok: true;
  readonly chain_id: string;
  readonly entries: number;
  /** Entries whose event bytes were rechecked against event_hash. */
  readonly events_checked: number;
  /** Trusted heads (checkpoints, anchors) that matched. */
  readonly heads_checked: number;
  /**
   * The seq of the last trusted head that matched: entries up to it are anchored (removing or
   * changing any of them fails); null when no trusted head was given or reached.
   */
  readonly anchored_through: number | null;
  /**
   * Entries after `anchored_through` (all of them when it is null): their links and hashes check,
   * but removing them from the tail would go unseen until a checkpoint signs them. Null when none.
   */
  readonly unanchored: Unanchored | null;
  /** Entries under hash version 1 (written before LedgerEntry v3): their type, ids and source are not bound. */
  readonly legacy_entries: number;
  readonly head: ChainHead | null;
}

/** A head that verification trusts (a verified checkpoint signature, an anchor), and where it came from for the report. */
export interface TrustedHead extends ChainHead {
  /** e.g. "checkpoint" or "anchor anchors.jsonl:3"; named when the chain disagrees with it. */
  readonly origin?: string;
}

export type VerifyResult = VerifySuccess | VerifyFailure;

export interface VerifyOptions {
  /** The chain's original event bytes by event id: when given, each entry's event_hash is rechecked. */
  readonly eventsById?: ReadonlyMap<string, Uint8Array>;
  /** Fail an entry whose bytes are absent from eventsById (default false: such entries check their links and hash only). */
  readonly requireEvents?: boolean;
  /**
   * Decode the bytes and check event id, type and tenant (and, hash version 2, run, action and
   * time) against the entry (default true). Off for bytes that are not Writ events (tests of the chain alone).
   */
  readonly decodeEvents?: boolean;
  /** Heads from verified checkpoints and anchors: the chain must reach each seq with exactly that chain_hash. */
  readonly trustedHeads?: readonly TrustedHead[];
}

const originOf = (head: TrustedHead): string => head.origin ?? 'checkpoint';

const isSeq = (value: unknown): value is number => typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;

/**
 * Verifies one chain given in storage order, from its genesis (seq 0): returns ok with a summary,
 * or the first bad entry and why. Any change to an entry's fields (under hash version 2, every
 * one) or event bytes, any entry removed in the middle, and any reordering is caught at the first
 * entry it affects; removal at the tail, and a rewrite of every hash from the change on, only
 * against a trusted head (a signed checkpoint, an anchor): what follows the last one is reported
 * as `unanchored`.
 */
export function verifyChain(entries: readonly ChainEntry[], options: VerifyOptions = {}): VerifyResult {
  const chainId = entries[0]?.chain_id ?? options.trustedHeads?.[0]?.chain_id ?? '';
  const seqs = new Set<number>();
  for (const entry of entries) seqs.add(entry.seq);
  const seenEvents = new Set<string>();
  const heads = new Map<number, TrustedHead[]>();
  for (const head of options.trustedHeads ?? []) heads.set(head.seq, [...(heads.get(head.seq) ?? []), head]);
  const decode = options.decodeEvents ?? true;
  let prevHash = GENESIS_HASH;
  let eventsChecked = 0;
  let headsChecked = 0;
  let anchoredThrough: number | null = null;
  let version = 0;
  let legacy = 0;

  for (const [index, entry] of entries.entries()) {
    const expected = index;
    const fail = (kind: VerifyFailureKind, reason: string): VerifyFailure => ({
      ok: false,
      chain_id: chainId,
      index,
      seq: isSeq(entry.seq) ? entry.seq : expected,
      event_id: typeof entry.source_event_id === 'string' ? entry.source_event_id : null,
      kind,
      reason,
      verified: index,
    });
    if (entry.chain_id !== chainId) return fail('wrong-chain', `entry belongs to chain ${JSON.stringify(entry.chain_id)}, not ${JSON.stringify(chainId)}`);
    if (!isSeq(entry.seq)) return fail('malformed', `seq ${JSON.stringify(entry.seq)} is not a whole number >= 0`);
    if (entry.seq !== expected) {
      if (entry.seq < expected) return fail('duplicate-seq', `seq ${entry.seq} comes again at position ${index} (expected ${expected})`);
      return seqs.has(expected)
        ? fail('reordered', `expected seq ${expected} here, found ${entry.seq}; seq ${expected} appears later`)
        : fail('gap', `seq ${expected}${entry.seq - expected > 1 ? `..${entry.seq - 1}` : ''} missing before seq ${entry.seq} (entries removed)`);
    }
    for (const field of ['prev_hash', 'event_hash', 'chain_hash'] as const) {
      if (!isSha256Hex(entry[field])) return fail('malformed', `${field} is not 64 lowercase hex digits`);
    }
    if (!HASH_VERSIONS.includes(entry.hash_version)) {
      return fail('malformed', `hash_version ${JSON.stringify(entry.hash_version)} is not one of ${HASH_VERSIONS.join(', ')}`);
    }
    if (entry.hash_version < version) {
      return fail('malformed', `hash_version ${entry.hash_version} after an entry of version ${version}: a chain never goes back to an older rule`);
    }
    version = entry.hash_version;
    if (entry.prev_hash !== prevHash) {
      return fail('broken-link', `prev_hash ${entry.prev_hash} is not the chain_hash of seq ${expected - 1} (${prevHash})`);
    }
    let recomputed: string;
    try {
      recomputed = entryChainHash(entry);
    } catch (error) {
      return fail('malformed', error instanceof Error ? error.message : String(error));
    }
    if (recomputed !== entry.chain_hash) {
      const rule = entry.hash_version === 1 ? 'sha256(prev_hash ‖ event_hash ‖ seq)' : 'the hash of its fields (hash version 2)';
      return fail('entry-changed', `chain_hash ${entry.chain_hash} is not ${rule} = ${recomputed}: a field of the entry was changed`);
    }
    if (entry.hash_version === 1) legacy += 1;
    if (seenEvents.has(entry.source_event_id)) return fail('duplicate-event', `event ${entry.source_event_id} is chained twice`);
    seenEvents.add(entry.source_event_id);

    const bytes = options.eventsById?.get(entry.source_event_id);
    if (bytes === undefined) {
      if (options.requireEvents === true) return fail('event-missing', `the bytes of event ${entry.source_event_id} are missing`);
    } else {
      const actual = eventHashOf(bytes);
      if (actual !== entry.event_hash) return fail('event-changed', `the event's bytes hash to ${actual}, the entry says ${entry.event_hash}`);
      if (decode) {
        const problem = eventMismatch(bytes, entry);
        if (problem !== undefined) return fail('event-mismatch', problem);
      }
      eventsChecked += 1;
    }
    for (const trusted of heads.get(entry.seq) ?? []) {
      if (trusted.chain_hash !== entry.chain_hash) {
        return fail(
          'checkpoint-mismatch',
          `the ${originOf(trusted)} of seq ${entry.seq} says chain_hash ${trusted.chain_hash}, the chain has ${entry.chain_hash}`,
        );
      }
      headsChecked += 1;
      anchoredThrough = entry.seq;
    }
    prevHash = entry.chain_hash;
  }

  const beyond = [...heads.values()]
    .flat()
    .filter((head) => head.seq >= entries.length)
    .sort((a, b) => a.seq - b.seq)[0];
  if (beyond !== undefined) {
    return {
      ok: false,
      chain_id: chainId,
      index: entries.length,
      seq: entries.length,
      event_id: null,
      kind: 'truncated',
      reason: `the chain ends at seq ${entries.length - 1} but the ${originOf(beyond)} attests seq ${beyond.seq} (chain_hash ${beyond.chain_hash}): entries were removed from the tail`,
      verified: entries.length,
    };
  }
  const last = entries.at(-1);
  const firstUnanchored = anchoredThrough === null ? 0 : anchoredThrough + 1;
  return {
    ok: true,
    chain_id: chainId,
    entries: entries.length,
    events_checked: eventsChecked,
    heads_checked: headsChecked,
    anchored_through: anchoredThrough,
    unanchored: firstUnanchored < entries.length ? { count: entries.length - firstUnanchored, first_seq: firstUnanchored, last_seq: entries.length - 1 } : null,
    legacy_entries: legacy,
    head: last === undefined ? null : { chain_id: chainId, seq: last.seq, chain_hash: last.chain_hash },
  };
}

function eventMismatch(bytes: Uint8Array, entry: ChainEntry): string | undefined {
  let decoded;
  try {
    decoded = decodeEvent(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  } catch (error) {
    return `the event's bytes do not decode: ${error instanceof Error ? error.message : String(error)}`;
  }
  const { meta } = decoded.payload;
  if (meta.event_id !== entry.source_event_id) return `the bytes are event ${meta.event_id}, the entry says ${entry.source_event_id}`;
  if (decoded.type !== entry.event_type) return `the bytes are a ${decoded.type}, the entry says ${entry.event_type}`;
  if (meta.tenant_id !== entry.chain_id) return `the event belongs to tenant ${meta.tenant_id}, not chain ${entry.chain_id}`;
  if (entry.hash_version >= 2) {
    if (meta.run_id !== entry.source_run_id) return `the event belongs to run ${meta.run_id}, the entry says ${entry.source_run_id}`;
    if (meta.action_id !== entry.source_action_id) return `the event is about action ${meta.action_id}, the entry says ${entry.source_action_id}`;
    if (meta.occurred_at !== entry.source_occurred_at) return `the event occurred at ${meta.occurred_at}, the entry says ${entry.source_occurred_at}`;
  }
  return undefined;
}
