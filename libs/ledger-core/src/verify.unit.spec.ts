import { describe, expect, it } from 'vitest';
import { encodeEvent } from '@writ/contracts';
import { sampleEvent } from '@writ/contracts/testing';
import { createKeyring, generateSigningKey } from '@writ/crypto';
import { handleCommand } from '@writ/decider';
import { chainDecider } from './chain.ts';
import type { ChainEntry, ChainState } from './chain.ts';
import { signHead, verifyHead } from './checkpoint.ts';
import { chainHashOf, entryChainHash, eventHashOf } from './encoding.ts';
import { verifyChain } from './verify.ts';
import type { VerifyResult } from './verify.ts';

const TENANT = 'tenant-verify';
const decider = chainDecider({ checkpointEvery: 0 });

/** An entry with `patch` applied and its own chain_hash recomputed (a forger who knows the rule). */
function reHashed(entry: ChainEntry, patch: Partial<ChainEntry>): ChainEntry {
  const changed = { ...entry, ...patch };
  return { ...changed, chain_hash: entryChainHash(changed) };
}

/** `entries` with the entry at `seq` patched and every hash from it on recomputed: a consistent forged history. */
function rewritten(entries: readonly ChainEntry[], seq: number, patch: Partial<ChainEntry>): ChainEntry[] {
  const out: ChainEntry[] = [];
  for (const entry of entries) {
    const prev = out.at(-1);
    out.push(entry.seq < seq ? entry : reHashed(entry, { ...(entry.seq === seq ? patch : {}), ...(prev === undefined ? {} : { prev_hash: prev.chain_hash }) }));
  }
  return out;
}

/** A chain of `n` real Avro events of one tenant, with their bytes by event id. */
function buildChain(n: number) {
  let state: ChainState = decider.initialState();
  const entries: ChainEntry[] = [];
  const eventsById = new Map<string, Buffer>();
  for (let i = 0; i < n; i++) {
    const payload = sampleEvent('ActionProposed', { tenant_id: TENANT, run_id: `run-${i % 2}` });
    const bytes = encodeEvent('ActionProposed', payload);
    eventsById.set(payload.meta.event_id, bytes);
    const result = handleCommand(decider, state, {
      type: 'AppendEvent',
      chain_id: TENANT,
      event_id: payload.meta.event_id,
      event_type: 'ActionProposed',
      event_hash: eventHashOf(bytes),
      source: { topic: 'writ.proposals.v1', partition: i % 3, offset: i },
      run_id: payload.meta.run_id,
      action_id: payload.meta.action_id,
      occurred_at: payload.meta.occurred_at,
      chained_at: payload.meta.occurred_at + 1,
    });
    state = result.state;
    for (const event of result.events) if (event.type === 'EventChained') entries.push(event.entry);
  }
  return { entries, eventsById };
}

function failure(result: VerifyResult) {
  if (result.ok) throw new Error('verification passed, a failure was expected');
  return result;
}

const flipHex = (hex: string, at = 10): string => hex.slice(0, at) + (hex[at] === '0' ? '1' : '0') + hex.slice(at + 1);

describe('verifyChain', () => {
  it('passes an untouched chain and rechecks every event', () => {
    const { entries, eventsById } = buildChain(6);
    expect(verifyChain(entries, { eventsById, requireEvents: true })).toEqual({
      ok: true,
      chain_id: TENANT,
      entries: 6,
      events_checked: 6,
      heads_checked: 0,
      anchored_through: null,
      unanchored: { count: 6, first_seq: 0, last_seq: 5 },
      legacy_entries: 0,
      head: { chain_id: TENANT, seq: 5, chain_hash: entries[5]?.chain_hash },
    });
    expect(verifyChain([])).toMatchObject({ ok: true, entries: 0, head: null });
  });

  it('detects one flipped byte of an event at that entry', () => {
    const { entries, eventsById } = buildChain(6);
    const id = entries[3]?.source_event_id ?? '';
    const bytes = Buffer.from(eventsById.get(id) ?? Buffer.alloc(0));
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] ?? 0) ^ 0x01;
    eventsById.set(id, bytes);
    expect(failure(verifyChain(entries, { eventsById }))).toMatchObject({ seq: 3, index: 3, event_id: id, kind: 'event-changed', verified: 3 });
  });

  it('detects a changed event_hash, chain_hash or prev_hash at that entry', () => {
    for (const field of ['event_hash', 'chain_hash'] as const) {
      const { entries } = buildChain(5);
      entries[2] = { ...(entries[2] as ChainEntry), [field]: flipHex((entries[2] as ChainEntry)[field]) };
      expect(failure(verifyChain(entries))).toMatchObject({ seq: 2, kind: 'entry-changed' });
    }
    const { entries } = buildChain(5);
    entries[2] = { ...(entries[2] as ChainEntry), prev_hash: flipHex((entries[2] as ChainEntry).prev_hash) };
    expect(failure(verifyChain(entries))).toMatchObject({ seq: 2, kind: 'broken-link' });
  });

  it('detects a changed entry even when its chain_hash was recomputed (the next link breaks)', () => {
    const { entries } = buildChain(5);
    const forged = eventHashOf(Buffer.from('another event'));
    const old = entries[2] as ChainEntry;
    entries[2] = reHashed(old, { event_hash: forged });
    expect(failure(verifyChain(entries))).toMatchObject({ seq: 3, kind: 'broken-link' });
  });

  it('detects a removed entry (gap) at the entry after it, and a removal renumbered to hide it', () => {
    const { entries } = buildChain(6);
    const removed = entries.filter((e) => e.seq !== 2);
    expect(failure(verifyChain(removed))).toMatchObject({ index: 2, seq: 3, kind: 'gap' });
    const renumbered = removed.map((e, i) => ({ ...e, seq: i }));
    expect(failure(verifyChain(renumbered))).toMatchObject({ index: 2, seq: 2, kind: 'broken-link' });
  });

  it('detects reordered entries at the first one out of place', () => {
    const { entries } = buildChain(6);
    const swapped = [...entries];
    [swapped[1], swapped[4]] = [swapped[4] as ChainEntry, swapped[1] as ChainEntry];
    expect(failure(verifyChain(swapped))).toMatchObject({ index: 1, seq: 4, kind: 'reordered' });
  });

  it('detects a duplicated entry and an event chained twice', () => {
    const { entries } = buildChain(4);
    const duplicated = [...entries.slice(0, 3), entries[2] as ChainEntry, entries[3] as ChainEntry];
    expect(failure(verifyChain(duplicated))).toMatchObject({ index: 3, seq: 2, kind: 'duplicate-seq' });

    const again = entries[1] as ChainEntry;
    const last = entries[3] as ChainEntry;
    const twice = reHashed(again, { seq: 4, prev_hash: last.chain_hash });
    expect(failure(verifyChain([...entries, twice]))).toMatchObject({ seq: 4, kind: 'duplicate-event' });
  });

  it('detects bytes of another event filed under an entry (event-mismatch) and missing bytes when required', () => {
    const { entries, eventsById } = buildChain(3);
    const a = entries[1] as ChainEntry;
    const b = entries[2] as ChainEntry;
    // Entry 1 claims event a but carries the hash of b's bytes: the hashes link up, the bytes say b.
    const forged = reHashed(a, { event_hash: b.event_hash });
    eventsById.set(a.source_event_id, eventsById.get(b.source_event_id) ?? Buffer.alloc(0));
    expect(failure(verifyChain([entries[0] as ChainEntry, forged], { eventsById }))).toMatchObject({ seq: 1, kind: 'event-mismatch' });

    const { entries: full, eventsById: some } = buildChain(3);
    some.delete(full[2]?.source_event_id ?? '');
    expect(verifyChain(full, { eventsById: some }).ok).toBe(true);
    expect(failure(verifyChain(full, { eventsById: some, requireEvents: true }))).toMatchObject({ seq: 2, kind: 'event-missing' });
  });

  it('detects a removed tail and a rewritten history against signed checkpoints', () => {
    const key = generateSigningKey('ledger-1');
    const keyring = createKeyring({ 'ledger-1': key.publicKey });
    const { entries } = buildChain(6);
    const head = signHead({ chain_id: TENANT, seq: 5, chain_hash: (entries[5] as ChainEntry).chain_hash }, key);
    expect(verifyHead(head, keyring)).toEqual({ ok: true, keyId: 'ledger-1' });
    expect(verifyHead({ ...head, seq: 4 }, keyring)).toMatchObject({ ok: false, reason: 'bad-signature' });

    expect(verifyChain(entries, { trustedHeads: [head] })).toMatchObject({ ok: true, heads_checked: 1 });
    expect(failure(verifyChain(entries.slice(0, 4), { trustedHeads: [head] }))).toMatchObject({ index: 4, kind: 'truncated' });

    const { entries: other } = buildChain(6); // a whole different history of the same length
    expect(failure(verifyChain(other, { trustedHeads: [head] }))).toMatchObject({ seq: 5, kind: 'checkpoint-mismatch' });
  });

  it('detects an edited field that hash version 1 left outside: run, action, time, type, source', () => {
    const patches: Partial<ChainEntry>[] = [
      { source_run_id: 'run-forged' },
      { source_action_id: null },
      { source_occurred_at: 1 },
      { event_type: 'ActionExecuted' },
      { source_event_id: '00000000-0000-7000-8000-000000000000' },
      { source_topic: 'writ.actions.v1' },
      { source_partition: 9 },
      { source_offset: 12_345 },
    ];
    for (const patch of patches) {
      const { entries } = buildChain(5);
      entries[2] = { ...(entries[2] as ChainEntry), ...patch };
      // Without the bytes (withheld: sensitive) as with them, the entry's own hash fails at once.
      expect(failure(verifyChain(entries)), JSON.stringify(patch)).toMatchObject({ seq: 2, kind: 'entry-changed' });
    }
  });

  it("detects a withheld entry's retyping: its bytes are gone, the commitment still binds type and meta", () => {
    const { entries, eventsById } = buildChain(5);
    const withheld = entries[3] as ChainEntry;
    eventsById.delete(withheld.source_event_id);
    expect(verifyChain(entries, { eventsById }).ok).toBe(true);
    entries[3] = { ...withheld, event_type: 'PolicyDecided' };
    expect(failure(verifyChain(entries, { eventsById }))).toMatchObject({ seq: 3, event_id: withheld.source_event_id, kind: 'entry-changed' });
    // Recomputing that entry's hash breaks the next link.
    entries[3] = reHashed(withheld, { event_type: 'PolicyDecided' });
    expect(failure(verifyChain(entries, { eventsById }))).toMatchObject({ seq: 4, kind: 'broken-link' });
  });

  it('detects a run id changed beside its bytes even when every hash after it was recomputed', () => {
    const { entries, eventsById } = buildChain(5);
    const forged = rewritten(entries, 1, { source_run_id: 'run-forged' });
    expect(failure(verifyChain(forged, { eventsById }))).toMatchObject({ seq: 1, kind: 'event-mismatch' });
    expect(failure(verifyChain(forged, { eventsById })).reason).toContain('run-forged');
  });

  it('catches a consistent rewrite of withheld entries only at a trusted head, and reports what no head covers', () => {
    const { entries } = buildChain(6);
    const head = { chain_id: TENANT, seq: 4, chain_hash: (entries[4] as ChainEntry).chain_hash };
    const forged = rewritten(entries, 2, { event_type: 'ActionExecuted' });
    // Nothing outside the chain vouches for it: it links up, and every entry is reported as not yet anchored.
    expect(verifyChain(forged)).toMatchObject({ ok: true, anchored_through: null, unanchored: { count: 6, first_seq: 0, last_seq: 5 } });
    expect(failure(verifyChain(forged, { trustedHeads: [{ ...head, origin: 'signed checkpoint' }] }))).toMatchObject({
      seq: 4,
      kind: 'checkpoint-mismatch',
      reason: expect.stringContaining('the signed checkpoint of seq 4') as unknown,
    });
    // The original: anchored through seq 4, one entry after it not yet.
    expect(verifyChain(entries, { trustedHeads: [head] })).toMatchObject({
      ok: true,
      heads_checked: 1,
      anchored_through: 4,
      unanchored: { count: 1, first_seq: 5, last_seq: 5 },
    });
  });

  it('reports the entries after the last checkpoint as not yet anchored, and their removal fails against an anchor, naming it', () => {
    const { entries } = buildChain(8);
    const checkpoint = { chain_id: TENANT, seq: 3, chain_hash: (entries[3] as ChainEntry).chain_hash, origin: 'signed checkpoint' };
    const anchor = { chain_id: TENANT, seq: 6, chain_hash: (entries[6] as ChainEntry).chain_hash, origin: 'anchor anchors.jsonl:2' };
    expect(verifyChain(entries, { trustedHeads: [checkpoint] })).toMatchObject({
      ok: true,
      anchored_through: 3,
      unanchored: { count: 4, first_seq: 4, last_seq: 7 },
    });
    // The tail after the last checkpoint deleted: the chain alone cannot tell, and says so.
    const cut = entries.slice(0, 4);
    expect(verifyChain(cut, { trustedHeads: [checkpoint] })).toMatchObject({ ok: true, entries: 4, anchored_through: 3, unanchored: null });
    // An anchor kept outside Writ can.
    const truncated = failure(verifyChain(cut, { trustedHeads: [checkpoint, anchor] }));
    expect(truncated).toMatchObject({ index: 4, seq: 4, kind: 'truncated' });
    expect(truncated.reason).toContain('the anchor anchors.jsonl:2 attests seq 6');
    expect(verifyChain(entries, { trustedHeads: [checkpoint, anchor] })).toMatchObject({ ok: true, heads_checked: 2, anchored_through: 6 });
  });

  it('verifies hash version 1 entries (written before) by their rule and counts them; a chain never goes back to it', () => {
    const { entries } = buildChain(4);
    const legacy: ChainEntry[] = [];
    for (const entry of entries) {
      const prev = legacy.at(-1);
      const linked = { ...entry, hash_version: 1, prev_hash: prev?.chain_hash ?? entry.prev_hash, source_run_id: '', source_occurred_at: 0 };
      legacy.push({ ...linked, chain_hash: chainHashOf(linked.prev_hash, linked.event_hash, linked.seq) });
    }
    expect(verifyChain(legacy)).toMatchObject({ ok: true, legacy_entries: 4 });
    // Version 1 leaves the type outside: a retyped legacy entry still verifies (why version 2 exists).
    expect(verifyChain(legacy.map((e) => (e.seq === 2 ? { ...e, event_type: 'ActionExecuted' } : e))).ok).toBe(true);
    // Version 2 after version 1 is fine (an upgraded ledger); back to 1 after 2 is not.
    const mixed = [legacy[0] as ChainEntry, reHashed(entries[1] as ChainEntry, { prev_hash: legacy[0]?.chain_hash ?? '' })];
    expect(verifyChain(mixed)).toMatchObject({ ok: true, legacy_entries: 1 });
    const back = { ...(legacy[2] as ChainEntry), seq: 2, prev_hash: mixed[1]?.chain_hash ?? '' };
    const downgraded = [...mixed, { ...back, chain_hash: chainHashOf(back.prev_hash, back.event_hash, 2) }];
    expect(failure(verifyChain(downgraded))).toMatchObject({ seq: 2, kind: 'malformed', reason: expect.stringContaining('never goes back') as unknown });
    expect(failure(verifyChain([{ ...(entries[0] as ChainEntry), hash_version: 7 }]))).toMatchObject({ seq: 0, kind: 'malformed' });
  });

  it('names malformed fields and entries of another chain', () => {
    const { entries } = buildChain(3);
    expect(failure(verifyChain([entries[0] as ChainEntry, { ...(entries[1] as ChainEntry), chain_id: 'globex' }]))).toMatchObject({
      seq: 1,
      kind: 'wrong-chain',
    });
    expect(failure(verifyChain([{ ...(entries[0] as ChainEntry), chain_hash: 'XYZ' }]))).toMatchObject({ seq: 0, kind: 'malformed' });
  });
});
