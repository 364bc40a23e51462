import { describe, expect, it } from 'vitest';
import { encodeEvent } from '@writ/contracts';
import { sampleEvent } from '@writ/contracts/testing';
import { createKeyring, generateSigningKey } from '@writ/crypto';
import { handleCommand } from '@writ/decider';
import { chainDecider } from './chain.ts';
import type { ChainEntry, ChainState } from './chain.ts';
import { signHead, verifyHead } from './checkpoint.ts';
import { chainHashOf, eventHashOf } from './encoding.ts';
import { verifyChain } from './verify.ts';
import type { VerifyResult } from './verify.ts';

const TENANT = 'tenant-verify';
const decider = chainDecider({ checkpointEvery: 0 });

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
    entries[2] = { ...old, event_hash: forged, chain_hash: chainHashOf(old.prev_hash, forged, 2) };
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
    const twice = { ...again, seq: 4, prev_hash: last.chain_hash, chain_hash: chainHashOf(last.chain_hash, again.event_hash, 4) };
    expect(failure(verifyChain([...entries, twice]))).toMatchObject({ seq: 4, kind: 'duplicate-event' });
  });

  it('detects bytes of another event filed under an entry (event-mismatch) and missing bytes when required', () => {
    const { entries, eventsById } = buildChain(3);
    const a = entries[1] as ChainEntry;
    const b = entries[2] as ChainEntry;
    // Entry 1 claims event a but carries the hash of b's bytes: the hashes link up, the bytes say b.
    const forged = { ...a, event_hash: b.event_hash, chain_hash: chainHashOf(a.prev_hash, b.event_hash, 1) };
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

  it('names malformed fields and entries of another chain', () => {
    const { entries } = buildChain(3);
    expect(failure(verifyChain([entries[0] as ChainEntry, { ...(entries[1] as ChainEntry), chain_id: 'globex' }]))).toMatchObject({
      seq: 1,
      kind: 'wrong-chain',
    });
    expect(failure(verifyChain([{ ...(entries[0] as ChainEntry), chain_hash: 'XYZ' }]))).toMatchObject({ seq: 0, kind: 'malformed' });
  });
});
