// `writ verify`: checks the ledger's hash chains and names the first bad entry.
import { loadKeyringFromDir } from '@writ/crypto';
import type { Keyring } from '@writ/crypto';
import { describeError } from '@writ/errors';
import { parseExport, verifyExport } from '@writ/ledger-core';
import type { Anchor, ExportVerification, VerifySuccess } from '@writ/ledger-core';
import { chainsAgainstAnchors, readAnchors } from './anchor.ts';
import { parseFlags } from './ledger-source.ts';

export interface CliIo {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
}

const stdio: CliIo = { out: (line) => console.log(line), err: (line) => console.error(line) };

export const VERIFY_USAGE = `usage: writ verify [--tenant <id>] [--url <ledger url> [--key <api key>] | --chdb <data folder> | --clickhouse <server url> | --file <export.jsonl>] [--keys <dir>] [--anchors <anchors.jsonl>] [--database <name>]
  Verifies each chain (every tenant unless --tenant): links, every entry's hash over all its fields,
  the events' bytes, the signed checkpoints against the public keys in --keys (default
  WRIT_LEDGER_KEYS_DIR), and with --anchors every head anchored outside Writ by \`writ anchor\`: the
  chain must still reach each with that hash (a removed tail fails, naming the anchor). Reports the
  entries after the last checked head as not yet anchored.
  Default source: the running ledger at WRIT_LEDGER_URL or ${'http://127.0.0.1:26085'}; --chdb reads
  a stopped ledger's chDB folder. Over HTTP, --key (default WRIT_API_KEY) is an auditor's API key
  (or a service key). Exit 0 when every chain verifies, 1 naming the first bad entry, 2 on usage errors.`;

/**
 * What a verified chain's heads vouch for: the entries up to the last signed head that matched are
 * anchored (removing or changing one fails), the tail after it is not yet (its removal would go
 * unseen until a checkpoint or an anchor covers it).
 */
export function anchoringOf(result: VerifySuccess, checked: boolean): string {
  if (result.entries === 0) return 'nothing to anchor';
  const tail = result.unanchored;
  if (!checked) return `${result.entries} entries not anchored: no signed head was checked (pass --keys or set WRIT_LEDGER_KEYS_DIR)`;
  if (tail === null) return `all ${result.entries} entries anchored by signed heads (through seq ${result.anchored_through})`;
  const range = tail.first_seq === tail.last_seq ? `seq ${tail.first_seq}` : `seq ${tail.first_seq}..${tail.last_seq}`;
  const anchored = result.entries - tail.count;
  return `${anchored} entries anchored by signed heads${result.anchored_through === null ? '' : ` (through seq ${result.anchored_through})`}, ${tail.count} not yet anchored (${range}: no signed head covers them yet)`;
}

/** The two lines of a chain that verified: what was checked, then what is anchored. */
function okLines(
  name: string,
  verification: ExportVerification,
  result: VerifySuccess,
  keyring: Keyring | undefined,
  anchorsFile: string | undefined,
): string[] {
  const head = result.head === null ? 'empty' : `head seq ${result.head.seq} ${result.head.chain_hash}`;
  const checkpoints =
    keyring === undefined
      ? `${verification.checkpoints} checkpoints not checked (no --keys)`
      : `${result.heads_checked - verification.anchors} signed checkpoints matched`;
  const anchors = anchorsFile === undefined ? '' : `, ${verification.anchors} anchors of ${anchorsFile} matched`;
  const legacy = result.legacy_entries === 0 ? '' : `, ${result.legacy_entries} under hash version 1 (written before every field was bound)`;
  return [
    `chain ${name}: OK — ${result.entries} entries, ${result.events_checked} event bytes rechecked, ${verification.withheld} withheld (sensitive; their hash and links checked)${legacy}, ${checkpoints}${anchors}; ${head}`,
    `chain ${name}: ${anchoringOf(result, keyring !== undefined || verification.anchors > 0)}`,
  ];
}

/** Runs `writ verify <args>`; returns the exit code (0 ok, 1 a chain failed or could not be read, 2 usage). */
export async function runVerify(args: readonly string[], io: CliIo = stdio, env: Readonly<Record<string, string | undefined>> = process.env): Promise<number> {
  let flags: Map<string, string>;
  try {
    flags = parseFlags(args, ['tenant', 'url', 'key', 'chdb', 'clickhouse', 'file', 'keys', 'anchors', 'database']);
  } catch (error) {
    io.err(describeError(error));
    io.err(VERIFY_USAGE);
    return 2;
  }
  try {
    const keysDir = flags.get('keys') ?? env['WRIT_LEDGER_KEYS_DIR'];
    const keyring: Keyring | undefined = keysDir === undefined ? undefined : await loadKeyringFromDir(keysDir);
    const anchorsFile = flags.get('anchors');
    const anchors: Anchor[] = anchorsFile === undefined ? [] : await readAnchors(anchorsFile, false);
    const tenant = flags.get('tenant');
    const { source, chains, removed } = await chainsAgainstAnchors(flags, env, anchors, 'verify', io);
    let failed = removed;
    if (chains.size === 0 && failed === 0) {
      io.out('[verify] no chain to verify');
      return 0;
    }
    for (const [name, text] of chains) {
      const verification = verifyExport(parseExport(text), keyring, {
        anchors,
        ...(source.kind === 'file' ? (tenant === undefined ? {} : { chainId: tenant }) : { chainId: name }),
      });
      const { result } = verification;
      if (result.ok) for (const line of okLines(name, verification, result, keyring, anchorsFile)) io.out(`[verify] ${line}`);
      else {
        failed += 1;
        const event = result.event_id === null ? '' : ` (event ${result.event_id})`;
        io.err(`[verify] chain ${name}: FAILED at seq ${result.seq}${event}: ${result.kind}: ${result.reason}; ${result.verified} entries verified before it`);
      }
    }
    return failed === 0 ? 0 : 1;
  } catch (error) {
    io.err(`[verify] ${describeError(error)}`);
    return 1;
  }
}
