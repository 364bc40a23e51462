// `writ verify`: checks the ledger's hash chains and names the first bad entry.
import { loadKeyringFromDir } from '@writ/crypto';
import type { Keyring } from '@writ/crypto';
import { describeError } from '@writ/errors';
import { parseExport, verifyExport } from '@writ/ledger-core';
import { parseFlags, readChains, sourceOf } from './ledger-source.ts';

export interface CliIo {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
}

const stdio: CliIo = { out: (line) => console.log(line), err: (line) => console.error(line) };

export const VERIFY_USAGE = `usage: writ verify [--tenant <id>] [--url <ledger url> [--key <api key>] | --chdb <data folder> | --clickhouse <server url> | --file <export.jsonl>] [--keys <dir>] [--database <name>]
  Verifies each chain (every tenant unless --tenant): links, hashes, the events' bytes, and the
  signed checkpoints against the public keys in --keys (default WRIT_LEDGER_KEYS_DIR).
  Default source: the running ledger at WRIT_LEDGER_URL or ${'http://127.0.0.1:26085'}; --chdb reads
  a stopped ledger's chDB folder. Over HTTP, --key (default WRIT_API_KEY) is an auditor's API key
  (or a service key). Exit 0 when every chain verifies, 1 naming the first bad entry, 2 on usage errors.`;

/** Runs `writ verify <args>`; returns the exit code (0 ok, 1 a chain failed or could not be read, 2 usage). */
export async function runVerify(args: readonly string[], io: CliIo = stdio, env: Readonly<Record<string, string | undefined>> = process.env): Promise<number> {
  let flags: Map<string, string>;
  try {
    flags = parseFlags(args, ['tenant', 'url', 'key', 'chdb', 'clickhouse', 'file', 'keys', 'database']);
  } catch (error) {
    io.err(describeError(error));
    io.err(VERIFY_USAGE);
    return 2;
  }
  try {
    const keysDir = flags.get('keys') ?? env['WRIT_LEDGER_KEYS_DIR'];
    const keyring: Keyring | undefined = keysDir === undefined ? undefined : await loadKeyringFromDir(keysDir);
    const source = sourceOf(flags, env);
    const chains = await readChains(source, flags.get('tenant'));
    if (chains.size === 0) {
      io.out('[verify] no chain to verify');
      return 0;
    }
    let failed = 0;
    for (const [tenant, text] of chains) {
      const verification = verifyExport(parseExport(text), keyring);
      const { result } = verification;
      if (result.ok) {
        const head = result.head === null ? 'empty' : `head seq ${result.head.seq} ${result.head.chain_hash}`;
        const checkpoints =
          keyring === undefined ? `${verification.checkpoints} checkpoints not checked (no --keys)` : `${result.heads_checked} signed checkpoints matched`;
        io.out(
          `[verify] chain ${tenant}: OK — ${result.entries} entries, ${result.events_checked} event bytes rechecked, ${verification.withheld} withheld (sensitive; links checked), ${checkpoints}; ${head}`,
        );
      } else {
        failed += 1;
        const event = result.event_id === null ? '' : ` (event ${result.event_id})`;
        io.err(
          `[verify] chain ${tenant}: FAILED at seq ${result.seq}${event}: ${result.kind}: ${result.reason}; ${result.verified} entries verified before it`,
        );
      }
    }
    return failed === 0 ? 0 : 1;
  } catch (error) {
    io.err(`[verify] ${describeError(error)}`);
    return 1;
  }
}
