// The chain export: JSON lines, one object per line, as served by the ledger's
// GET /v1/ledger/{tenant} and written by `writ export`. Entry lines carry the chain fields and the
// event's bytes (base64, '' when withheld because the event holds sensitive values: the entry's
// event_hash then stands for them, and its chain_hash still binds its type, ids and source);
// checkpoint lines carry a signed head. Verification needs nothing else, but for external anchors.
import type { Keyring } from '@writ/crypto';
import { WritError } from '@writ/errors';
import { signedHeadOf } from './anchors.ts';
import type { Anchor } from './anchors.ts';
import type { ChainEntry } from './chain.ts';
import { verifyHead } from './checkpoint.ts';
import type { SignedHead } from './checkpoint.ts';
import { verifyChain } from './verify.ts';
import type { TrustedHead, VerifyFailure, VerifyResult } from './verify.ts';

/** An entry line: the chain entry, with the event's run, action and time under their column names, and its bytes. */
export interface ExportedEntry extends Omit<ChainEntry, 'source_run_id' | 'source_action_id' | 'source_occurred_at'> {
  readonly kind: 'entry';
  /** The event's meta.run_id (source_run_id). */
  readonly run_id: string;
  /** The event's meta.action_id (source_action_id). */
  readonly action_id: string | null;
  /** The event's meta.occurred_at (source_occurred_at) as ClickHouse DateTime64(3) text in UTC: `2026-12-07 10:11:12.345`. */
  readonly occurred_at: string;
  readonly event_bytes: string;
  readonly event_bytes_withheld: number;
}

export interface ExportedCheckpoint extends SignedHead {
  readonly kind: 'checkpoint';
  /** When the ledger signed it, as ClickHouse DateTime64(3) text in UTC (absent in older exports). */
  readonly signed_at?: string;
}

export type ExportLine = ExportedEntry | ExportedCheckpoint;

/** A checkpoint line, read back: the signed head and when it was signed (ms; null when the line does not say). */
export interface ParsedCheckpoint extends SignedHead {
  readonly signed_at: number | null;
}

export interface ParsedExport {
  readonly entries: ChainEntry[];
  readonly eventsById: Map<string, Buffer>;
  readonly checkpoints: ParsedCheckpoint[];
  readonly withheld: number;
}

const num = (value: unknown): number => (typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : (value as number));

const DATE_TIME_64 = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?)$/;

/** Milliseconds of ClickHouse DateTime64(3) text in UTC (`2026-12-07 10:11:12.345`); NaN when it is not such text. */
export function dateTime64Ms(text: unknown): number {
  const match = typeof text === 'string' ? DATE_TIME_64.exec(text) : null;
  return match === null ? Number.NaN : Date.parse(`${match[1]}T${match[2]}Z`);
}

/** Parses export lines (blank lines ignored); throws LEDGER_EXPORT_INVALID naming the line. */
export function parseExport(text: string): ParsedExport {
  const entries: ChainEntry[] = [];
  const eventsById = new Map<string, Buffer>();
  const checkpoints: ParsedCheckpoint[] = [];
  let withheld = 0;
  for (const [index, line] of text.split('\n').entries()) {
    if (line.trim() === '') continue;
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(line) as Record<string, unknown>;
    } catch {
      throw new WritError('LEDGER_EXPORT_INVALID', `line ${index + 1} is not JSON`, { field: `line ${index + 1}`, rule: 'one JSON object per line' });
    }
    if (parsed['kind'] === 'checkpoint') {
      const signedAt = dateTime64Ms(parsed['signed_at']);
      checkpoints.push({
        chain_id: String(parsed['chain_id']),
        seq: num(parsed['seq']),
        chain_hash: String(parsed['chain_hash']),
        key_id: String(parsed['key_id']),
        signature: String(parsed['signature']),
        signed_at: Number.isNaN(signedAt) ? null : signedAt,
      });
      continue;
    }
    if (parsed['kind'] !== 'entry') {
      throw new WritError('LEDGER_EXPORT_INVALID', `line ${index + 1} is neither an entry nor a checkpoint`, {
        field: `line ${index + 1}`,
        rule: 'kind is entry or checkpoint',
      });
    }
    const entry: ChainEntry = {
      // Exports written before hash version 2 have no hash_version: their entries follow version 1.
      hash_version: parsed['hash_version'] === undefined ? 1 : num(parsed['hash_version']),
      chain_id: parsed['chain_id'] as string,
      seq: num(parsed['seq']),
      prev_hash: parsed['prev_hash'] as string,
      event_hash: parsed['event_hash'] as string,
      chain_hash: parsed['chain_hash'] as string,
      source_event_id: parsed['source_event_id'] as string,
      event_type: parsed['event_type'] as string,
      source_topic: parsed['source_topic'] as string,
      source_partition: num(parsed['source_partition']),
      source_offset: num(parsed['source_offset']),
      source_run_id: parsed['run_id'] as string,
      source_action_id: (parsed['action_id'] ?? null) as string | null,
      source_occurred_at: dateTime64Ms(parsed['occurred_at']),
    };
    entries.push(entry);
    const bytes = typeof parsed['event_bytes'] === 'string' ? parsed['event_bytes'] : '';
    if (bytes !== '') eventsById.set(entry.source_event_id, Buffer.from(bytes, 'base64'));
    else withheld += 1;
  }
  return { entries, eventsById, checkpoints, withheld };
}

export interface ExportVerification {
  readonly result: VerifyResult;
  /** Entries whose bytes were not in the export (withheld: sensitive), checked by their links and hash (event_hash standing for the bytes). */
  readonly withheld: number;
  readonly checkpoints: number;
  /** Anchors of this chain that were checked against it. */
  readonly anchors: number;
  /** Checkpoints (and anchors) whose signature failed, or that name no known key: never trusted. */
  readonly badCheckpoints: readonly { readonly head: SignedHead; readonly reason: string }[];
}

export interface VerifyExportOptions {
  /** External anchors (an anchors file): those of this chain are trusted heads too, their signatures checked with the keyring when given. */
  readonly anchors?: readonly Anchor[];
  /** The chain whose anchors apply (default: the export's own chain id). */
  readonly chainId?: string;
}

/**
 * Verifies an exported chain: checkpoint signatures (with the keyring, when given), then the
 * chain against the trusted heads (verified checkpoints, and the chain's external anchors) and
 * every event's bytes. A bad checkpoint or anchor signature fails too.
 */
export function verifyExport(parsed: ParsedExport, keyring?: Keyring, options: VerifyExportOptions = {}): ExportVerification {
  const bad: { head: SignedHead; reason: string }[] = [];
  const trusted: TrustedHead[] = [];
  for (const head of parsed.checkpoints) {
    if (keyring === undefined) continue;
    const check = verifyHead(head, keyring);
    if (check.ok) trusted.push({ chain_id: head.chain_id, seq: head.seq, chain_hash: head.chain_hash, origin: 'signed checkpoint' });
    else bad.push({ head, reason: `checkpoint of seq ${head.seq}: ${check.reason} (key ${check.keyId})` });
  }
  const chainId = options.chainId ?? parsed.entries[0]?.chain_id ?? parsed.checkpoints[0]?.chain_id;
  const anchors = (options.anchors ?? []).filter((anchor) => anchor.tenant === chainId);
  for (const anchor of anchors) {
    const head = signedHeadOf(anchor);
    const check = keyring === undefined ? undefined : verifyHead(head, keyring);
    if (check === undefined || check.ok)
      trusted.push({ chain_id: head.chain_id, seq: head.seq, chain_hash: head.chain_hash, origin: `anchor ${anchor.origin}` });
    else bad.push({ head, reason: `anchor ${anchor.origin} (seq ${anchor.seq}): ${check.reason} (key ${check.keyId})` });
  }
  let result = verifyChain(parsed.entries, { eventsById: parsed.eventsById, trustedHeads: trusted });
  const firstBad = bad[0];
  if (result.ok && firstBad !== undefined) {
    const failure: VerifyFailure = {
      ok: false,
      chain_id: result.chain_id,
      index: Math.min(firstBad.head.seq, parsed.entries.length),
      seq: firstBad.head.seq,
      event_id: null,
      kind: 'checkpoint-mismatch',
      reason: firstBad.reason,
      verified: parsed.entries.length,
    };
    result = failure;
  }
  return { result, withheld: parsed.withheld, checkpoints: parsed.checkpoints.length, anchors: anchors.length, badCheckpoints: bad };
}

/** One line of the export for an entry. */
export function exportLine(line: ExportLine): string {
  return JSON.stringify(line);
}
