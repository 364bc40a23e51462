import { mkdtempSync, readFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ExecutionRecord } from '@writ/executor-core';
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
    const outcome = {
      type: 'ActionExecuted' as const,
      payload: {
        outcome: 'succeeded' as const,
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
      },
    };
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
