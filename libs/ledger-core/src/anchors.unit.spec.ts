import { describe, expect, it } from 'vitest';
import { encodeEvent } from '@writ/contracts';
import { sampleEvent } from '@writ/contracts/testing';
import { createKeyring, generateSigningKey } from '@writ/crypto';
import { anchorLine, anchorsToAppend, parseAnchors } from './anchors.ts';
import type { Anchor } from './anchors.ts';
import { LedgerBook } from './book.ts';
import { signHead } from './checkpoint.ts';
import { dateTime64Ms, exportLine, parseExport, verifyExport } from './export.ts';
import type { ExportedEntry } from './export.ts';
import { dateTime64 } from './projection.ts';

const TENANT = 'tenant-anchors';
const key = generateSigningKey('ledger-a1');
const keyring = createKeyring({ 'ledger-a1': key.publicKey });
const T0 = Date.UTC(2026, 11, 7, 10, 0, 0);

/** An export of `n` real events, a checkpoint every 3, the bytes of `withheld` seqs left out (sensitive), as the ledger serves it. */
function exported(n: number, withheld: readonly number[] = []): { lines: string[]; heads: ReturnType<typeof signHead>[] } {
  const book = new LedgerBook({ checkpointEvery: 3 });
  const entries: string[] = [];
  const checkpoints: string[] = [];
  const heads: ReturnType<typeof signHead>[] = [];
  for (let i = 0; i < n; i++) {
    const payload = sampleEvent('ActionProposed', { tenant_id: TENANT, run_id: `run-${i % 2}`, occurred_at: T0 + i * 1_000 + 7 });
    const bytes = encodeEvent('ActionProposed', payload);
    for (const event of book.append({
      bytes,
      event_id: payload.meta.event_id,
      event_type: 'ActionProposed',
      tenant_id: TENANT,
      run_id: payload.meta.run_id,
      action_id: payload.meta.action_id,
      occurred_at: payload.meta.occurred_at,
      source: { topic: 'writ.proposals.v1', partition: 0, offset: i },
      chained_at: T0 + i * 1_000 + 9,
    })) {
      if (event.type === 'EventChained') {
        const { source_run_id, source_action_id, source_occurred_at, ...chain } = event.entry;
        const line: ExportedEntry = {
          kind: 'entry',
          ...chain,
          run_id: source_run_id,
          action_id: source_action_id,
          occurred_at: dateTime64(source_occurred_at),
          event_bytes: withheld.includes(i) ? '' : bytes.toString('base64'),
          event_bytes_withheld: withheld.includes(i) ? 1 : 0,
        };
        entries.push(exportLine(line));
      } else {
        const head = signHead(event.head, key);
        heads.push(head);
        checkpoints.push(exportLine({ kind: 'checkpoint', ...head, signed_at: dateTime64(T0 + event.head.seq * 1_000 + 10) }));
      }
    }
  }
  return { lines: [...entries, ...checkpoints], heads };
}

const verified = (lines: readonly string[], anchors: readonly Anchor[] = []) => verifyExport(parseExport(lines.join('\n')), keyring, { anchors }).result;

const anchorOf = (head: ReturnType<typeof signHead>, line: number): Anchor => ({
  tenant: head.chain_id,
  seq: head.seq,
  chain_hash: head.chain_hash,
  key_id: head.key_id,
  signature: head.signature,
  signed_at: null,
  anchored_at: '2026-12-07T10:00:30.000Z',
  origin: `anchors.jsonl:${line}`,
});

describe('the export, as an auditor reads it', () => {
  it('round-trips the time ClickHouse prints, to the millisecond', () => {
    expect(dateTime64Ms(dateTime64(T0 + 7))).toBe(T0 + 7);
    expect(dateTime64Ms('2026-12-07 10:00:00.123')).toBe(Date.UTC(2026, 11, 7, 10, 0, 0, 123));
    expect(dateTime64Ms('yesterday')).toBeNaN();
  });

  it('verifies an untouched export and says what is anchored: through the last checkpoint, the rest not yet', () => {
    const { lines } = exported(8, [2]);
    expect(verified(lines)).toMatchObject({
      ok: true,
      entries: 8,
      events_checked: 7,
      heads_checked: 2,
      anchored_through: 5,
      unanchored: { count: 2, first_seq: 6, last_seq: 7 },
    });
  });

  it("fails an edited run_id (a column outside the old hash) and a withheld entry's event type at that entry", () => {
    const { lines } = exported(6, [4]);
    const edit = (seq: number, patch: Record<string, unknown>) =>
      lines.map((line) => {
        const parsed = JSON.parse(line) as Record<string, unknown>;
        return parsed['kind'] === 'entry' && parsed['seq'] === seq ? JSON.stringify({ ...parsed, ...patch }) : line;
      });
    // Bytes withheld (no bytes to compare with): the entry's hash still binds them.
    expect(verified(edit(4, { run_id: 'run-other' }))).toMatchObject({ ok: false, seq: 4, kind: 'entry-changed' });
    expect(verified(edit(4, { event_type: 'ActionExecuted' }))).toMatchObject({ ok: false, seq: 4, kind: 'entry-changed' });
    expect(verified(edit(1, { run_id: 'run-other' }))).toMatchObject({ ok: false, seq: 1, kind: 'entry-changed' });
    expect(verified(edit(1, { occurred_at: '2026-12-07 10:00:01.008' }))).toMatchObject({ ok: false, seq: 1, kind: 'entry-changed' });
    expect(verified(edit(1, { action_id: null }))).toMatchObject({ ok: false, seq: 1, kind: 'entry-changed' });
    expect(verified(edit(1, { occurred_at: 'not a time' }))).toMatchObject({ ok: false, seq: 1, kind: 'malformed' });
  });

  it('reads an export written before hash version 2 (no hash_version) by the old rule', () => {
    const { lines } = exported(2);
    const parsed = parseExport(lines.map((line) => JSON.stringify({ ...(JSON.parse(line) as object), hash_version: undefined })).join('\n'));
    expect(parsed.entries.map((e) => e.hash_version)).toEqual([1, 1]);
    expect(parsed.checkpoints).toEqual([]);
  });
});

describe('external anchors', () => {
  it('writes the documented line, keys in order', () => {
    expect(
      anchorLine({
        tenant: 'acme',
        seq: 99,
        chain_hash: 'ab'.repeat(32),
        key_id: 'ledger-1',
        signature: 'c2ln',
        signed_at: '2026-12-07T10:00:00.000Z',
        anchored_at: '2026-12-07T10:00:05.000Z',
      }),
    ).toBe(
      `{"tenant":"acme","seq":99,"chain_hash":"${'ab'.repeat(32)}","key_id":"ledger-1","signature":"c2ln","signed_at":"2026-12-07T10:00:00.000Z","anchored_at":"2026-12-07T10:00:05.000Z"}`,
    );
  });

  it('reads an anchors file back, naming the line and field of a bad one', () => {
    const { heads } = exported(6);
    const text = heads.map((head) => anchorLine({ ...anchorOf(head, 0), signed_at: '2026-12-07T10:00:00.000Z' })).join('\n');
    expect(parseAnchors(`${text}\n\n`, 'a.jsonl').map((a) => [a.seq, a.origin])).toEqual([
      [2, 'a.jsonl:1'],
      [5, 'a.jsonl:2'],
    ]);
    expect(() => parseAnchors('{"tenant":"acme"', 'a.jsonl')).toThrow(/a\.jsonl:1: line is not JSON/);
    const good = JSON.parse(text.split('\n')[0] ?? '') as Record<string, unknown>;
    for (const [field, value, rule] of [
      ['seq', -1, /seq must be a whole number/],
      ['chain_hash', 'XYZ', /chain_hash must be 64 lowercase hex/],
      ['tenant', '', /tenant must be a non-empty string/],
      ['anchored_at', 'now', /anchored_at must be an ISO 8601 UTC time/],
      ['signed_at', 5, /signed_at must be null or an ISO/],
    ] as const) {
      expect(() => parseAnchors(`\n${JSON.stringify({ ...good, [field]: value })}`, 'a.jsonl'), field).toThrow(rule);
      try {
        parseAnchors(`\n${JSON.stringify({ ...good, [field]: value })}`, 'a.jsonl');
      } catch (error) {
        expect(error).toMatchObject({ code: 'LEDGER_ANCHOR_INVALID', field: `a.jsonl:2 ${field}` });
      }
    }
  });

  it('appends only the heads past the last one anchored per chain, and refuses a fork', () => {
    const { heads } = exported(9);
    const at = Date.UTC(2026, 11, 7, 11);
    const first = anchorsToAppend(
      [],
      heads.slice(0, 1).map((h) => ({ ...h, signed_at: T0 })),
      at,
    );
    expect(first).toEqual([
      {
        tenant: TENANT,
        seq: 2,
        chain_hash: heads[0]?.chain_hash,
        key_id: 'ledger-a1',
        signature: heads[0]?.signature,
        signed_at: '2026-12-07T10:00:00.000Z',
        anchored_at: '2026-12-07T11:00:00.000Z',
      },
    ]);
    const existing = parseAnchors(first.map(anchorLine).join('\n'), 'a.jsonl');
    const all = heads.map((h) => ({ ...h, signed_at: null }));
    expect(anchorsToAppend(existing, all, at).map((r) => r.seq)).toEqual([5, 8]);
    const forked = [{ ...all[0], chain_hash: 'ee'.repeat(32) } as (typeof all)[number]];
    expect(() => anchorsToAppend(existing, forked, at)).toThrow(/seq 2: the ledger's checkpoint says chain_hash e+, the anchor a\.jsonl:1 says/);
  });

  it('catches a deleted tail with its checkpoints at the anchor, and an anchor whose signature fails', () => {
    const { lines, heads } = exported(9);
    const anchors = [anchorOf(heads[2] ?? heads[0]!, 1)];
    expect(verified(lines, anchors)).toMatchObject({ ok: true, anchored_through: 8, unanchored: null });
    // Entries 6..8 and the checkpoint of seq 8 removed: the ledger's own checkpoints cannot tell.
    const cut = lines.filter((line) => {
      const parsed = JSON.parse(line) as { seq: number };
      return parsed.seq < 6;
    });
    expect(verified(cut)).toMatchObject({ ok: true, entries: 6, anchored_through: 5, unanchored: null });
    expect(verified(cut, anchors)).toMatchObject({
      ok: false,
      kind: 'truncated',
      reason: expect.stringContaining('anchor anchors.jsonl:1 attests seq 8') as unknown,
    });
    // An anchor of another tenant is not this chain's.
    expect(verified(cut, [{ ...anchors[0]!, tenant: 'someone-else' }]).ok).toBe(true);
    // A forged anchor line (its hash changed, the signature no longer fits) is never trusted.
    const forged = { ...anchors[0]!, seq: 5 };
    expect(verified(lines, [forged])).toMatchObject({
      ok: false,
      kind: 'checkpoint-mismatch',
      reason: expect.stringContaining('anchor anchors.jsonl:1 (seq 5)') as unknown,
    });
  });
});
