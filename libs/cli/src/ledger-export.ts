// `writ export`: a run's (or a tenant's) ledger entries with their proofs, as JSON lines.
import { writeFile } from 'node:fs/promises';
import { describeError } from '@writ/errors';
import { parseFlags, readChains, sourceOf } from './ledger-source.ts';
import type { CliIo } from './verify.ts';

export const EXPORT_USAGE = `usage: writ export --tenant <id> [--run <run id>] [--out <file>] [--url <ledger url> [--key <api key>] | --chdb <data folder> | --clickhouse <server url>] [--database <name>]
  Writes the chain entries (seq, hashes, source, the event's bytes in base64) and signed
  checkpoints as JSON lines; with --run only that run's entries. \`writ verify --file\` checks a full export.
  Over HTTP, --key (default WRIT_API_KEY) is an auditor's API key of the tenant (or a service key).`;

/** Runs `writ export <args>`; returns the exit code. */
export async function runExport(args: readonly string[], io: CliIo = { out: (l) => console.log(l), err: (l) => console.error(l) }): Promise<number> {
  let flags: Map<string, string>;
  try {
    flags = parseFlags(args, ['tenant', 'run', 'out', 'url', 'key', 'chdb', 'clickhouse', 'database']);
    if (flags.get('tenant') === undefined) throw new Error('--tenant is required');
  } catch (error) {
    io.err(describeError(error));
    io.err(EXPORT_USAGE);
    return 2;
  }
  try {
    const chains = await readChains(sourceOf(flags), flags.get('tenant'), flags.get('run'));
    const text = [...chains.values()].join('');
    const out = flags.get('out');
    if (out === undefined) io.out(text.trimEnd());
    else {
      await writeFile(out, text);
      io.err(`[export] ${text.split('\n').filter((l) => l !== '').length} lines written to ${out}`);
    }
    return 0;
  } catch (error) {
    io.err(`[export] ${describeError(error)}`);
    return 1;
  }
}
