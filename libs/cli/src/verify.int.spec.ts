// `writ verify` and `writ export` on a real chDB folder holding a chain (as a stopped ledger leaves
// it) and on an export file: passes untouched, fails naming the entry after one flipped byte.
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClickHouse } from '@writ/clickhouse';
import { encodeEvent } from '@writ/contracts';
import { sampleEvent } from '@writ/contracts/testing';
import { generateSigningKey } from '@writ/crypto';
import { LedgerBook, dateTime64, signHead } from '@writ/ledger-core';
import { runExport } from './ledger-export.ts';
import { runVerify } from './verify.ts';

const SQL_DIR = fileURLToPath(new URL('../../../deploy/clickhouse/', import.meta.url));
const TENANT = 'tenant-cli-verify';
const root = mkdtempSync(join(tmpdir(), 'writ-verify-'));
const dataPath = join(root, 'chdb');
const keysDir = join(root, 'keys');

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l) }, out, err };
}

beforeAll(async () => {
  const key = generateSigningKey('ledger-cli-1');
  const { mkdirSync } = await import('node:fs');
  mkdirSync(keysDir);
  writeFileSync(join(keysDir, 'ledger-cli-1.pub.pem'), key.exportPublicKeyPem());

  const book = new LedgerBook({ checkpointEvery: 3 });
  const ledgerRows: Record<string, unknown>[] = [];
  const checkpointRows: Record<string, unknown>[] = [];
  for (let i = 0; i < 7; i++) {
    const payload = sampleEvent('RunStarted', { tenant_id: TENANT, run_id: `run-${i % 2}` });
    const bytes = encodeEvent('RunStarted', payload);
    for (const event of book.append({
      bytes,
      event_id: payload.meta.event_id,
      event_type: 'RunStarted',
      tenant_id: TENANT,
      source: { topic: 'writ.proposals.v1', partition: 0, offset: i },
    })) {
      if (event.type === 'EventChained') {
        ledgerRows.push({
          ...event.entry,
          run_id: payload.meta.run_id,
          action_id: null,
          occurred_at: dateTime64(payload.meta.occurred_at),
          event_bytes: bytes.toString('base64'),
          event_bytes_withheld: 0,
          ledger_partition: 0,
          ledger_offset: i,
        });
      } else {
        checkpointRows.push({ ...signHead(event.head, key), signed_at: dateTime64(Date.now()), ledger_partition: 0, ledger_offset: i });
      }
    }
  }
  const client = createClickHouse({ dataPath });
  try {
    for (const file of readdirSync(SQL_DIR)
      .filter((f) => f.endsWith('.sql'))
      .sort()) {
      const text = readFileSync(join(SQL_DIR, file), 'utf8')
        .split('\n')
        .filter((l) => !l.trimStart().startsWith('--'))
        .join('\n');
      for (const query of text
        .split(/;\s*$/m)
        .map((s) => s.trim())
        .filter((s) => s !== ''))
        await client.command({ query });
    }
    await client.insert({ table: 'ledger', values: ledgerRows, format: 'JSONEachRow' });
    await client.insert({ table: 'checkpoints', values: checkpointRows, format: 'JSONEachRow' });
  } finally {
    await client.close();
  }
});

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

describe('writ verify / writ export', () => {
  it('verifies a stopped ledger’s chDB folder and an exported file', async () => {
    const run = capture();
    expect(await runVerify(['--chdb', dataPath, '--keys', keysDir], run.io, {})).toBe(0);
    expect(run.out.join('\n')).toMatch(new RegExp(`chain ${TENANT}: OK — 7 entries, 7 event bytes rechecked, 0 withheld .*2 signed checkpoints matched`));

    const file = join(root, 'chain.jsonl');
    const exported = capture();
    expect(await runExport(['--chdb', dataPath, '--tenant', TENANT, '--out', file], exported.io)).toBe(0);
    expect(readFileSync(file, 'utf8').trim().split('\n')).toHaveLength(9);
    expect(await runVerify(['--file', file, '--keys', keysDir], capture().io, {})).toBe(0);
  });

  it('fails naming the entry whose event bytes or hash in the file had one byte flipped', async () => {
    const file = join(root, 'chain.jsonl');
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    const entry = JSON.parse(lines[4] ?? '{}') as { seq: number; source_event_id: string; event_bytes: string; prev_hash: string };
    const bytes = Buffer.from(entry.event_bytes, 'base64');
    bytes[20] = (bytes[20] ?? 0) ^ 0x01;
    const tampered = [...lines];
    tampered[4] = JSON.stringify({ ...entry, event_bytes: bytes.toString('base64') });
    writeFileSync(join(root, 'bytes.jsonl'), tampered.join('\n'));
    const run = capture();
    expect(await runVerify(['--file', join(root, 'bytes.jsonl')], run.io, {})).toBe(1);
    expect(run.err.join('\n')).toContain(`FAILED at seq 4 (event ${entry.source_event_id}): event-changed`);

    const relinked = [...lines];
    relinked[4] = JSON.stringify({ ...entry, prev_hash: `${entry.prev_hash[0] === 'a' ? 'b' : 'a'}${entry.prev_hash.slice(1)}` });
    writeFileSync(join(root, 'hash.jsonl'), relinked.join('\n'));
    const run2 = capture();
    expect(await runVerify(['--file', join(root, 'hash.jsonl')], run2.io, {})).toBe(1);
    expect(run2.err.join('\n')).toContain('FAILED at seq 4');
    expect(run2.err.join('\n')).toContain('broken-link');

    const removed = lines.filter((_, i) => i !== 2);
    writeFileSync(join(root, 'gap.jsonl'), removed.join('\n'));
    const run3 = capture();
    expect(await runVerify(['--file', join(root, 'gap.jsonl')], run3.io, {})).toBe(1);
    expect(run3.err.join('\n')).toContain('FAILED at seq 3');
    expect(run3.err.join('\n')).toContain('gap');
  });

  it('fails at the entry changed in the chDB folder itself (ALTER UPDATE), and reports usage errors with 2', async () => {
    const client = createClickHouse({ dataPath });
    try {
      await client.command({
        query: `ALTER TABLE ledger UPDATE chain_hash = concat(if(substring(chain_hash, 1, 1) = 'f', 'e', 'f'), substring(chain_hash, 2)) WHERE chain_id = {t:String} AND seq = 5`,
        query_params: { t: TENANT },
        clickhouse_settings: { mutations_sync: '2' },
      });
    } finally {
      await client.close();
    }
    const run = capture();
    expect(await runVerify(['--chdb', dataPath, '--tenant', TENANT], run.io, {})).toBe(1);
    expect(run.err.join('\n')).toMatch(/FAILED at seq 5 \(event [0-9a-f-]+\): (entry-changed|broken-link)/);

    const usage = capture();
    expect(await runVerify(['--bogus'], usage.io, {})).toBe(2);
    expect(usage.err.join('\n')).toContain('usage: writ verify');
  });
});
