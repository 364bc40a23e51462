// `writ anchor`: appends the ledger's signed chain heads to an append-only file the auditor keeps
// outside Writ (optionally committing it in a git repository), after verifying each chain against
// the heads already anchored there. `writ verify --anchors FILE` then checks the chain against
// every anchored head, so a tail removed together with its checkpoints is still caught.
import { execFile } from 'node:child_process';
import { appendFile, readFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { promisify } from 'node:util';
import { loadKeyringFromDir } from '@writ/crypto';
import { WritError, describeError } from '@writ/errors';
import { anchorLine, anchorsToAppend, parseAnchors, parseExport, verifyExport } from '@writ/ledger-core';
import type { Anchor, HeadToAnchor } from '@writ/ledger-core';
import { parseFlags, readChains, sourceOf } from './ledger-source.ts';
import type { LedgerSource } from './ledger-source.ts';
import type { CliIo } from './verify.ts';

export const ANCHOR_USAGE = `usage: writ anchor --to <anchors.jsonl> [--tenant <id>] [--url <ledger url> [--key <api key>] | --chdb <data folder> | --clickhouse <server url> | --file <export.jsonl>] [--keys <dir>] [--database <name>] [--commit]
  Verifies each chain (every tenant unless --tenant) against its signed checkpoints (public keys in
  --keys, default WRIT_LEDGER_KEYS_DIR: required) and the heads already in --to, then appends every
  signed head past the last one anchored, one JSON line each: {"tenant","seq","chain_hash","key_id",
  "signature","signed_at","anchored_at"}. The file is created if absent and only ever appended to;
  keep it where the ledger's operators cannot write (another host, an append-only mount, a git
  remote). --commit commits it in the git repository that holds it. A chain that does not verify
  is not anchored. Exit 0 when every chain verified, 1 otherwise, 2 on usage errors.`;

const run = promisify(execFile);

/** The anchors already in `path` (none when the file does not exist yet). */
export async function readAnchors(path: string, missingOk: boolean): Promise<Anchor[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if (missingOk && (error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new WritError('LEDGER_ANCHOR_INVALID', `cannot read the anchors file ${path}: ${describeError(error)}`, {
      field: '--anchors',
      rule: 'a readable anchors file (JSON lines written by writ anchor)',
      cause: error,
    });
  }
  return parseAnchors(text, path);
}

/**
 * The tenants anchored in `anchors` that the read chains must include: from an export file, only
 * its own chain counts; with --tenant, that tenant's; otherwise every anchored tenant (a chain the
 * ledger no longer lists was removed).
 */
function anchoredChainsMissing(anchors: readonly Anchor[], chains: ReadonlyMap<string, string>, source: LedgerSource, tenant: string | undefined): Anchor[] {
  if (source.kind === 'file') return [];
  const missing = new Map<string, Anchor>();
  for (const anchor of anchors) {
    if (tenant !== undefined && anchor.tenant !== tenant) continue;
    if (chains.has(anchor.tenant)) continue;
    const known = missing.get(anchor.tenant);
    if (known === undefined || anchor.seq > known.seq) missing.set(anchor.tenant, anchor);
  }
  return [...missing.values()];
}

/**
 * The chains a command checks (the ledger source of its flags, one tenant's with --tenant), and how
 * many anchored chains the ledger no longer has: each reported on `io.err` as FAILED, under `tag`.
 */
export async function chainsAgainstAnchors(
  flags: ReadonlyMap<string, string>,
  env: Readonly<Record<string, string | undefined>>,
  anchors: readonly Anchor[],
  tag: string,
  io: CliIo,
): Promise<{ readonly source: LedgerSource; readonly chains: ReadonlyMap<string, string>; readonly removed: number }> {
  const tenant = flags.get('tenant');
  const source = sourceOf(flags, env);
  const chains = await readChains(source, tenant);
  const missing = anchoredChainsMissing(anchors, chains, source, tenant);
  for (const anchor of missing) {
    io.err(`[${tag}] chain ${anchor.tenant}: FAILED: anchored at seq ${anchor.seq} (${anchor.origin}) but the ledger has no such chain: it was removed`);
  }
  return { source, chains, removed: missing.length };
}

/** Runs `writ anchor <args>`; returns the exit code (0 ok, 1 a chain failed or could not be read or written, 2 usage). */
export async function runAnchor(
  args: readonly string[],
  io: CliIo = { out: (l) => console.log(l), err: (l) => console.error(l) },
  env: Readonly<Record<string, string | undefined>> = process.env,
  now: () => number = Date.now,
): Promise<number> {
  let flags: Map<string, string>;
  let keysDir: string | undefined;
  let to: string | undefined;
  try {
    flags = parseFlags(args, ['to', 'tenant', 'url', 'key', 'chdb', 'clickhouse', 'file', 'keys', 'database'], ['commit']);
    to = flags.get('to');
    if (to === undefined) throw new WritError('USAGE', '--to is required', { field: '--to', rule: 'the anchors file to append to' });
    keysDir = flags.get('keys') ?? env['WRIT_LEDGER_KEYS_DIR'];
    if (keysDir === undefined) {
      throw new WritError('USAGE', 'only signed heads whose signature checks are anchored: name the public keys', {
        field: '--keys',
        rule: "the ledger's public key folder (--keys or WRIT_LEDGER_KEYS_DIR)",
      });
    }
  } catch (error) {
    io.err(describeError(error));
    io.err(ANCHOR_USAGE);
    return 2;
  }
  try {
    const keyring = await loadKeyringFromDir(keysDir);
    const existing = await readAnchors(to, true);
    const { source, chains, removed } = await chainsAgainstAnchors(flags, env, existing, 'anchor', io);
    let failed = removed;
    const heads: HeadToAnchor[] = [];
    for (const [name, text] of chains) {
      const parsed = parseExport(text);
      const { result } = verifyExport(parsed, keyring, { anchors: existing, ...(source.kind === 'file' ? {} : { chainId: name }) });
      if (!result.ok) {
        failed += 1;
        io.err(`[anchor] chain ${name}: FAILED at seq ${result.seq}: ${result.kind}: ${result.reason}; nothing anchored for it`);
        continue;
      }
      heads.push(...parsed.checkpoints);
    }
    const records = anchorsToAppend(existing, heads, now());
    if (records.length > 0) await appendFile(to, records.map((record) => `${anchorLine(record)}\n`).join(''), { mode: 0o644 });
    const byTenant = new Map<string, number[]>();
    for (const record of records) byTenant.set(record.tenant, [...(byTenant.get(record.tenant) ?? []), record.seq]);
    for (const [name, text] of chains) {
      const chainId = source.kind === 'file' ? (parseExport(text).entries[0]?.chain_id ?? name) : name;
      const seqs = byTenant.get(chainId);
      const last = existing.filter((a) => a.tenant === chainId).reduce((max, a) => Math.max(max, a.seq), -1);
      if (seqs !== undefined)
        io.out(`[anchor] chain ${chainId}: ${seqs.length} signed head${seqs.length === 1 ? '' : 's'} appended to ${to}, through seq ${seqs.at(-1)}`);
      else io.out(`[anchor] chain ${chainId}: no new signed head${last >= 0 ? ` (anchored through seq ${last})` : ''}`);
    }
    if (flags.get('commit') === 'true' && records.length > 0) {
      const dir = dirname(to);
      const file = basename(to);
      const summary = [...byTenant].map(([name, seqs]) => `${name}@${seqs.at(-1)}`).join(', ');
      try {
        await run('git', ['-C', dir, 'add', '--', file]);
        await run('git', ['-C', dir, 'commit', '--quiet', '-m', `writ anchor: ${summary}`, '--', file]);
      } catch (error) {
        throw new WritError('LEDGER_ANCHOR_INVALID', `the heads were appended to ${to} but not committed: ${describeError(error)}`, {
          field: '--commit',
          rule: 'the anchors file inside a git work tree with a committer identity',
          cause: error,
        });
      }
      io.out(`[anchor] committed ${file} in ${dir}: writ anchor: ${summary}`);
    }
    return failed === 0 ? 0 : 1;
  } catch (error) {
    io.err(`[anchor] ${describeError(error)}`);
    return 1;
  }
}
