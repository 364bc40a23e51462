// `writ verify` and `writ export` on a real chDB folder holding a chain (as a stopped ledger leaves
// it) and on an export file: passes untouched, fails naming the entry after one flipped byte; the
// auditor's tampers (a run_id edited, a withheld entry retyped, the tail deleted with its
// checkpoints) fail too, the last against the heads `writ anchor` kept in a file (and a git repository).
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClickHouse } from '@writ/clickhouse';
import { encodeEvent } from '@writ/contracts';
import { sampleEvent } from '@writ/contracts/testing';
import { generateSigningKey } from '@writ/crypto';
import { LedgerBook, dateTime64, signHead } from '@writ/ledger-core';
import type { SigningKey } from '@writ/crypto';
import { runAnchor } from './anchor.ts';
import { runExport } from './ledger-export.ts';
import { runVerify } from './verify.ts';

const SQL_DIR = fileURLToPath(new URL('../../../deploy/clickhouse/', import.meta.url));
const TENANT = 'tenant-cli-verify';
/** The tampered chain: 7 entries, a checkpoint every 3 (seq 2 and 5), the bytes of seq 4 withheld (sensitive). */
const TAMPERED = 'tenant-cli-tamper';
const WITHHELD_SEQ = 4;
const root = mkdtempSync(join(tmpdir(), 'writ-verify-'));
const dataPath = join(root, 'chdb');
const keysDir = join(root, 'keys');

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l) }, out, err };
}

/** The rows a ledger projects for a chain of 7 RunStarted events of `tenant` (a checkpoint every 3), `withheld` seqs without their bytes. */
function chainRows(tenant: string, key: SigningKey, withheld: readonly number[] = []) {
  const book = new LedgerBook({ checkpointEvery: 3 });
  const ledgerRows: Record<string, unknown>[] = [];
  const checkpointRows: Record<string, unknown>[] = [];
  for (let i = 0; i < 7; i++) {
    const payload = sampleEvent('RunStarted', { tenant_id: tenant, run_id: `run-${i % 2}` });
    const bytes = encodeEvent('RunStarted', payload);
    for (const event of book.append({
      bytes,
      event_id: payload.meta.event_id,
      event_type: 'RunStarted',
      tenant_id: tenant,
      run_id: payload.meta.run_id,
      action_id: payload.meta.action_id,
      occurred_at: payload.meta.occurred_at,
      source: { topic: 'writ.proposals.v1', partition: 0, offset: i },
      chained_at: Date.now(),
    })) {
      if (event.type === 'EventChained') {
        const { source_run_id, source_action_id, source_occurred_at, ...entry } = event.entry;
        const hidden = withheld.includes(entry.seq);
        ledgerRows.push({
          ...entry,
          run_id: source_run_id,
          action_id: source_action_id,
          occurred_at: dateTime64(source_occurred_at),
          event_bytes: hidden ? '' : bytes.toString('base64'),
          event_bytes_withheld: hidden ? 1 : 0,
          ledger_partition: 0,
          ledger_offset: i,
        });
      } else {
        checkpointRows.push({ ...signHead(event.head, key), signed_at: dateTime64(Date.now()), ledger_partition: 0, ledger_offset: i });
      }
    }
  }
  return { ledgerRows, checkpointRows };
}

beforeAll(async () => {
  const key = generateSigningKey('ledger-cli-1');
  mkdirSync(keysDir);
  writeFileSync(join(keysDir, 'ledger-cli-1.pub.pem'), key.exportPublicKeyPem());
  const plain = chainRows(TENANT, key);
  const tampered = chainRows(TAMPERED, key, [WITHHELD_SEQ]);
  const ledgerRows = [...plain.ledgerRows, ...tampered.ledgerRows];
  const checkpointRows = [...plain.checkpointRows, ...tampered.checkpointRows];
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
    expect(await runVerify(['--chdb', dataPath, '--keys', keysDir, '--tenant', TENANT], run.io, {})).toBe(0);
    expect(run.out.join('\n')).toMatch(
      new RegExp(
        `chain ${TENANT}: OK — 7 entries, 7 event bytes rechecked, 0 withheld .*2 signed checkpoints matched;[^\\n]*\\n.*chain ${TENANT}: 6 entries anchored by signed heads \\(through seq 5\\), 1 not yet anchored \\(seq 6:`,
      ),
    );

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

  it("fails a run_id edited and a withheld entry's type changed in the chDB folder; catches a deleted tail against the anchored heads", async () => {
    const alter = async (query: string, params: Record<string, unknown> = {}) => {
      const client = createClickHouse({ dataPath });
      try {
        await client.command({ query, query_params: { t: TAMPERED, ...params }, clickhouse_settings: { mutations_sync: '2' } });
      } finally {
        await client.close();
      }
    };
    const verify = async (...extra: string[]) => {
      const run = capture();
      const code = await runVerify(['--chdb', dataPath, '--tenant', TAMPERED, '--keys', keysDir, ...extra], run.io, {});
      return { code, out: run.out.join('\n'), err: run.err.join('\n') };
    };
    const untouched = await verify();
    expect(untouched.code).toBe(0);
    expect(untouched.out).toContain('6 event bytes rechecked, 1 withheld');
    expect(untouched.out).toContain(
      `chain ${TAMPERED}: 6 entries anchored by signed heads (through seq 5), 1 not yet anchored (seq 6: no signed head covers them yet)`,
    );

    // The auditor anchors the signed heads outside Writ: a file in a git repository of their own.
    const repo = join(root, 'audit-repo');
    mkdirSync(repo);
    const git = (...args: string[]) => execFileSync('git', ['-C', repo, ...args], { encoding: 'utf8' });
    git('init', '--quiet');
    git('config', 'user.name', 'Auditor');
    git('config', 'user.email', 'auditor@example.test');
    const anchors = join(repo, 'anchors.jsonl');
    const anchored = capture();
    expect(
      await runAnchor(['--chdb', dataPath, '--tenant', TAMPERED, '--keys', keysDir, '--to', anchors, '--commit'], anchored.io, {}),
      anchored.err.join('\n'),
    ).toBe(0);
    expect(anchored.out.join('\n')).toContain(`chain ${TAMPERED}: 2 signed heads appended to ${anchors}, through seq 5`);
    const lines = readFileSync(anchors, 'utf8').trim().split('\n');
    expect(lines.map((l) => JSON.parse(l) as { tenant: string; seq: number })).toMatchObject([
      { tenant: TAMPERED, seq: 2 },
      { tenant: TAMPERED, seq: 5 },
    ]);
    expect(git('log', '--format=%s')).toContain(`writ anchor: ${TAMPERED}@5`);
    const again = capture();
    expect(await runAnchor(['--chdb', dataPath, '--tenant', TAMPERED, '--keys', keysDir, '--to', anchors], again.io, {})).toBe(0);
    expect(again.out.join('\n')).toContain('no new signed head (anchored through seq 5)');
    expect(readFileSync(anchors, 'utf8').trim().split('\n')).toHaveLength(2);
    expect(await verify('--anchors', anchors)).toMatchObject({ code: 0, out: expect.stringContaining(`2 anchors of ${anchors} matched`) as unknown });

    // 1. A column outside the old hash: the entry's run_id.
    await alter("ALTER TABLE ledger UPDATE run_id = 'run-forged' WHERE chain_id = {t:String} AND seq = 1");
    const runEdited = await verify();
    expect(runEdited.code).toBe(1);
    expect(runEdited.err).toMatch(/FAILED at seq 1 \(event [0-9a-f-]+\): entry-changed/);
    // Nothing is anchored for a chain that does not verify.
    const refused = capture();
    expect(await runAnchor(['--chdb', dataPath, '--tenant', TAMPERED, '--keys', keysDir, '--to', anchors], refused.io, {})).toBe(1);
    expect(refused.err.join('\n')).toContain('nothing anchored for it');
    await alter("ALTER TABLE ledger UPDATE run_id = 'run-1' WHERE chain_id = {t:String} AND seq = 1");
    expect((await verify()).code).toBe(0);

    // 2. The event type of the entry whose bytes are withheld.
    await alter("ALTER TABLE ledger UPDATE event_type = 'ActionExecuted' WHERE chain_id = {t:String} AND seq = {s:UInt64}", { s: WITHHELD_SEQ });
    const retyped = await verify();
    expect(retyped.code).toBe(1);
    expect(retyped.err).toMatch(new RegExp(`FAILED at seq ${WITHHELD_SEQ} \\(event [0-9a-f-]+\\): entry-changed`));
    await alter("ALTER TABLE ledger UPDATE event_type = 'RunStarted' WHERE chain_id = {t:String} AND seq = {s:UInt64}", { s: WITHHELD_SEQ });
    expect((await verify()).code).toBe(0);

    // 3. The tail deleted with the checkpoint that covered it: the chain alone still links up...
    await alter('ALTER TABLE ledger DELETE WHERE chain_id = {t:String} AND seq >= 3');
    await alter('ALTER TABLE checkpoints DELETE WHERE chain_id = {t:String} AND seq >= 3');
    const cut = await verify();
    expect(cut).toMatchObject({ code: 0, out: expect.stringContaining('OK — 3 entries') as unknown });
    expect(cut.out).toContain('all 3 entries anchored by signed heads (through seq 2)');
    // ...the anchors kept outside do not.
    const caught = await verify('--anchors', anchors);
    expect(caught.code).toBe(1);
    expect(caught.err).toContain(`FAILED at seq 3: truncated: the chain ends at seq 2 but the anchor ${anchors}:2 attests seq 5`);
    // So does an export of what is left, checked as a file.
    const file = join(root, 'cut.jsonl');
    expect(await runExport(['--chdb', dataPath, '--tenant', TAMPERED, '--out', file], capture().io)).toBe(0);
    const fromFile = capture();
    expect(await runVerify(['--file', file, '--keys', keysDir, '--anchors', anchors], fromFile.io, {})).toBe(1);
    expect(fromFile.err.join('\n')).toContain('truncated');
    // And a chain removed whole is named by its anchor.
    await alter('ALTER TABLE ledger DELETE WHERE chain_id = {t:String}');
    const gone = capture();
    expect(await runVerify(['--chdb', dataPath, '--keys', keysDir, '--anchors', anchors], gone.io, {})).toBe(1);
    expect(gone.err.join('\n')).toContain(`chain ${TAMPERED}: FAILED: anchored at seq 5 (${anchors}:2) but the ledger has no such chain: it was removed`);
  });
});
