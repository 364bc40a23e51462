import { mkdtempSync, readFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ExecutedPayload, ExecutionRecord } from '@writ/executor-core';
import { FileIdempotencyStore } from './file-store.ts';

function record(i: number): ExecutionRecord {
  return {
    action_id: `act-${i}`,
    tenant_id: 'acme',
    run_id: 'run-1',
    agent_id: 'triage-bot',
    tool: 'tickets.get',
    tool_version: '1.0.0',
    args_sha256: 'a'.repeat(64),
    reservation_id: `act-${i}`,
    currency: 'USD',
    cost_micros: 0,
    causation_id: `evt-${i}`,
    trace: null,
    started_at: 1_000 + i,
  };
}

const EXECUTED: ExecutedPayload = {
  outcome: 'succeeded',
  tool: 'tickets.get',
  result_json: '{}',
  result_sha256: 'b'.repeat(64),
  side_effect_refs: [],
  cost_micros: 0,
  currency: 'USD',
  reservation_id: 'act-1',
  attempts: 1,
  verified: null,
  duration_ms: 1,
};

afterEach(() => {
  vi.restoreAllMocks();
});

/** A journal in a new folder, and a spy on the fdatasync of every node FileHandle (the journal's too). */
async function journalWithDatasyncSpy() {
  const dir = mkdtempSync(join(tmpdir(), 'writ-journal-'));
  const store = await FileIdempotencyStore.open(dir);
  const probe = await open(join(dir, 'probe'), 'w');
  const datasync = vi.spyOn(Object.getPrototypeOf(probe) as { datasync: () => Promise<void> }, 'datasync');
  await probe.close();
  datasync.mockClear();
  return { dir, store, datasync };
}

describe('the executor journal (FileIdempotencyStore)', () => {
  it('makes every line durable before it resolves, sharing one fdatasync among the lines written together', async () => {
    const { dir, store, datasync } = await journalWithDatasyncSpy();

    await Promise.all(Array.from({ length: 50 }, (_, i) => store.start(record(i))));
    expect(datasync.mock.calls.length).toBeGreaterThanOrEqual(1);
    expect(datasync.mock.calls.length).toBeLessThan(50);
    const lines = readFileSync(join(dir, 'journal.jsonl'), 'utf8').trim().split('\n');
    expect(lines).toHaveLength(50);
    expect(new Set(lines.map((line) => (JSON.parse(line) as { record: { action_id: string } }).record.action_id)).size).toBe(50);
    await store.close();

    // What resolved is on disk: a new process finds every start (and refuses to start one again).
    const reopened = await FileIdempotencyStore.open(dir);
    expect(reopened.unfinished()).toHaveLength(50);
    await expect(reopened.start(record(7))).rejects.toMatchObject({ code: 'EXECUTION_ALREADY_STARTED' });
    await reopened.close();
  });

  it('remembers a read at once and journals it with the next write, without waiting for the disk', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'writ-journal-'));
    const store = await FileIdempotencyStore.open(dir);
    const outcome = { type: 'ActionExecuted' as const, payload: EXECUTED };
    store.remember(record(1), outcome, 2_000);
    // Found at once: a redelivery replays it.
    expect(store.get('act-1')?.outcome).toEqual(outcome);
    // A durable line after it is written after it, in the same write or the next.
    await store.start(record(2));
    const ops = readFileSync(join(dir, 'journal.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { op: string; record: { action_id: string } });
    expect(ops.map((entry) => `${entry.op} ${entry.record.action_id}`)).toEqual(['finish act-1', 'start act-2']);
    await store.close();
    const reopened = await FileIdempotencyStore.open(dir);
    expect(reopened.get('act-1')?.outcome).toEqual(outcome);
    await reopened.close();
  });

  it('forgets finished records past their retention, in memory as it runs and in the file at the next boot; never a call in flight', async () => {
    const HOUR = 3_600_000;
    let now = 10 * HOUR;
    const retention = { retentionMs: 24 * HOUR, now: () => now };
    const dir = mkdtempSync(join(tmpdir(), 'writ-journal-'));
    const store = await FileIdempotencyStore.open(dir, retention);
    const outcome = { type: 'ActionExecuted' as const, payload: { ...EXECUTED, result_json: '{"refund_id":"RF-OLD"}' } };
    // Finished, its deadline an hour after it started; a record of before deadlines (finished_at counts); one still in flight.
    await store.finish({ ...record(1), deadline: now + HOUR }, outcome, now);
    await store.finish(record(2), outcome, now);
    await store.start({ ...record(3), deadline: now + HOUR });
    now += 24 * HOUR; // a day after act-2 finished, 23 h after act-1's deadline: both kept
    expect(store.prune()).toBe(0);
    now += 2 * HOUR;
    expect(store.prune()).toBe(2);
    expect(store.get('act-1')).toBeUndefined();
    expect(store.get('act-3')?.outcome).toBeUndefined();
    expect(readFileSync(join(dir, 'journal.jsonl'), 'utf8')).toContain('RF-OLD'); // the file keeps them until the next boot
    await store.close();

    const reopened = await FileIdempotencyStore.open(dir, retention);
    expect(reopened.compacted).toBe(2);
    const lines = readFileSync(join(dir, 'journal.jsonl'), 'utf8').trim().split('\n');
    expect(lines.map((line) => (JSON.parse(line) as { op: string; record: { action_id: string } }).record.action_id)).toEqual(['act-3']);
    expect(lines.join('')).not.toContain('RF-OLD');
    // The call in flight is still reported as unknown at recovery, never dropped.
    expect(reopened.unfinished().map((r) => r.action_id)).toEqual(['act-3']);
    await reopened.close();
    // 0 keeps everything.
    const keepAll = await FileIdempotencyStore.open(dir, { retentionMs: 0, now: () => now * 10 });
    expect(keepAll.compacted).toBe(0);
    await keepAll.close();
  });

  it('fails the lines of a write that failed, and goes on with the next ones', async () => {
    const { store, datasync } = await journalWithDatasyncSpy();
    datasync.mockRejectedValueOnce(new Error('EIO'));
    const failed = store.start(record(1));
    await expect(failed).rejects.toThrow('EIO');
    expect(store.get('act-1')).toBeUndefined();
    datasync.mockRestore();
    await store.start(record(2));
    expect(store.get('act-2')).toBeDefined();
    await store.close();
  });
});
