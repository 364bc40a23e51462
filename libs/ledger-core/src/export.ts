// The chain export: JSON lines, one object per line, as served by the ledger's
// GET /v1/ledger/{tenant} and written by `writ export`. Entry lines carry the chain fields and the
// event's bytes (base64, '' when withheld because the event holds sensitive values); checkpoint
// lines carry a signed head. Verification needs nothing else.
import type { Keyring } from '@writ/crypto';
import { WritError } from '@writ/errors';
import type { ChainEntry, ChainHead } from './chain.ts';
import { verifyHead } from './checkpoint.ts';
import type { SignedHead } from './checkpoint.ts';
import { verifyChain } from './verify.ts';
import type { VerifyFailure, VerifyResult } from './verify.ts';

export interface ExportedEntry extends ChainEntry {
  readonly kind: 'entry';
  readonly run_id: string;
  readonly action_id: string | null;
  readonly occurred_at: string;
  readonly event_bytes: string;
  readonly event_bytes_withheld: number;
}

export interface ExportedCheckpoint extends SignedHead {
  readonly kind: 'checkpoint';
}

export type ExportLine = ExportedEntry | ExportedCheckpoint;

export interface ParsedExport {
  readonly entries: ChainEntry[];
  readonly eventsById: Map<string, Buffer>;
  readonly checkpoints: SignedHead[];
  readonly withheld: number;
}

const num = (value: unknown): number => (typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : (value as number));

/** Parses export lines (blank lines ignored); throws LEDGER_EXPORT_INVALID naming the line. */
export function parseExport(text: string): ParsedExport {
  const entries: ChainEntry[] = [];
  const eventsById = new Map<string, Buffer>();
  const checkpoints: SignedHead[] = [];
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
      checkpoints.push({
        chain_id: String(parsed['chain_id']),
        seq: num(parsed['seq']),
        chain_hash: String(parsed['chain_hash']),
        key_id: String(parsed['key_id']),
        signature: String(parsed['signature']),
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
  /** Entries whose bytes were not in the export (withheld: sensitive), checked by their links only. */
  readonly withheld: number;
  readonly checkpoints: number;
  /** Checkpoints whose signature failed, or that name no known key: never trusted. */
  readonly badCheckpoints: readonly { readonly head: SignedHead; readonly reason: string }[];
}

/**
 * Verifies an exported chain: checkpoint signatures (with the keyring, when given), then the
 * chain against the trusted heads and every event's bytes. A bad checkpoint signature fails too.
 */
export function verifyExport(parsed: ParsedExport, keyring?: Keyring): ExportVerification {
  const bad: { head: SignedHead; reason: string }[] = [];
  const trusted: ChainHead[] = [];
  for (const head of parsed.checkpoints) {
    if (keyring === undefined) continue;
    const check = verifyHead(head, keyring);
    if (check.ok) trusted.push(head);
    else bad.push({ head, reason: `checkpoint of seq ${head.seq}: ${check.reason} (key ${check.keyId})` });
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
  return { result, withheld: parsed.withheld, checkpoints: parsed.checkpoints.length, badCheckpoints: bad };
}

/** One line of the export for an entry. */
export function exportLine(line: ExportLine): string {
  return JSON.stringify(line);
}
