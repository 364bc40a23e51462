// `./dev writ <verb>` (or `node --conditions=writ-source libs/cli/src/main.ts <verb>`).
import { describeError } from '@writ/errors';
import { runFoundationDemo } from './foundation-demo.ts';
import { demoDoor, runHelpdeskDemo } from './helpdesk-demo.ts';
import { ensureDevKeys } from '@writ/devstack';
import { runAnalystDdl } from './analyst-ddl.ts';
import { runClusterDdl } from './cluster-ddl.ts';
import { runAnchor } from './anchor.ts';
import { runExport } from './ledger-export.ts';
import { runPolicy } from './policy.ts';
import { runEval } from './eval.ts';
import { runExplain } from './explain.ts';
import { runMcpImport } from './mcp-import.ts';
import { runModelsImport } from './models-import.ts';
import { runReplay } from './replay.ts';
import { runVerify } from './verify.ts';
import { runWhoCan } from './who-can.ts';

const say = (line: string) => console.log(`[demo] ${line}`);

const verbs: Record<string, () => Promise<void>> = {
  async verify() {
    process.exitCode = await runVerify(process.argv.slice(3));
  },
  async export() {
    process.exitCode = await runExport(process.argv.slice(3));
  },
  async anchor() {
    process.exitCode = await runAnchor(process.argv.slice(3));
  },
  async 'who-can'() {
    process.exitCode = await runWhoCan(process.argv.slice(3));
  },
  async explain() {
    process.exitCode = await runExplain(process.argv.slice(3));
  },
  async policy() {
    process.exitCode = await runPolicy(process.argv.slice(3));
  },
  async 'mcp-import'() {
    process.exitCode = await runMcpImport(process.argv.slice(3));
  },
  async 'models-import'() {
    process.exitCode = runModelsImport(process.argv.slice(3));
  },
  async replay() {
    process.exitCode = await runReplay(process.argv.slice(3));
  },
  async eval() {
    process.exitCode = await runEval(process.argv.slice(3));
  },
  async 'analyst-ddl'() {
    process.exitCode = runAnalystDdl(process.argv.slice(3));
  },
  async 'clickhouse-cluster-ddl'() {
    process.exitCode = runClusterDdl(process.argv.slice(3));
  },
  async keys() {
    const dir = process.env['WRIT_KEYS_DIR'] ?? '.local/keys';
    const { layout, created } = ensureDevKeys(dir);
    console.log(`[keys] ${created.length === 0 ? 'development keys already present' : `created ${created.join(', ')}`} in ${dir}`);
    for (const [name, value] of Object.entries(layout)) console.log(`[keys]   ${name}: ${value}`);
  },
  async demo() {
    const t0 = performance.now();
    await runHelpdeskDemo({ say, keep: process.argv.includes('--keep'), door: demoDoor(process.argv) });
    say(`done in ${((performance.now() - t0) / 1000).toFixed(1)} s. Next: ./dev stack status, ./dev stack down`);
  },
  async 'bus-demo'() {
    const t0 = performance.now();
    await runFoundationDemo({ say });
    say(`done in ${((performance.now() - t0) / 1000).toFixed(1)} s. Next: ./dev stack status, ./dev stack down`);
  },
};

const verb = process.argv[2] ?? '';
const run = verbs[verb];
if (run === undefined) {
  console.error(`usage: writ ${Object.keys(verbs).join('|')}`);
  process.exitCode = 2;
} else {
  try {
    await run();
  } catch (error) {
    console.error(`[writ] ${verb} failed: ${describeError(error)}`);
    process.exitCode = 1;
  }
}
