// Shared by the benchmarks: the machine line, the replacement of one "## <Title>" section of
// docs/benchmarks.md, leaving the others as they are, and the run's work folder.
import { readFileSync, rmSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

export function machineLine(): string {
  const cpus = os.cpus();
  const model = cpus[0]?.model.trim() ?? 'an unknown CPU';
  return `${model} (${cpus.length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB memory, load average ${os.loadavg()[0]?.toFixed(2) ?? '?'} at start)`;
}

/**
 * Removes a run's work folder (its broker's log, chDB, the spans: tens of MB a run), unless
 * BENCH_KEEP=1 asks to keep it for a look at its spans and logs.
 */
export function removeWorkDir(workDir: string, say: (line: string) => void = console.log): void {
  if (process.env['BENCH_KEEP'] === '1') {
    say(`kept the work folder (BENCH_KEEP=1): ${workDir}`);
    return;
  }
  rmSync(workDir, { recursive: true, force: true });
}

/**
 * Variables for every Writ service of a bench's stack, from BENCH_STACK_ENV (`NAME=value,NAME=value`):
 * an A/B run of one setting against its default in the same hour, e.g.
 * `BENCH_STACK_ENV=WRIT_BUDGET_SETTLEMENT_WAIT_MS=0` or `BENCH_STACK_ENV=OTEL_TRACES_SAMPLER=always_off`.
 */
export function stackEnvOverrides(spec: string = process.env['BENCH_STACK_ENV'] ?? ''): Record<string, string> {
  const env: Record<string, string> = {};
  for (const pair of spec
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '')) {
    const at = pair.indexOf('=');
    const name = pair.slice(0, at);
    if (at <= 0 || !/^(WRIT|OTEL)_[A-Z0-9_]+$/.test(name)) throw new Error(`BENCH_STACK_ENV: "${pair}" must be WRIT_NAME=value or OTEL_NAME=value`);
    env[name] = pair.slice(at + 1);
  }
  return env;
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? Number.NaN;
}

export async function writeBenchmarkSection(title: string, text: string): Promise<string> {
  const path = join(ROOT, 'docs', 'benchmarks.md');
  let doc: string;
  try {
    doc = await readFile(path, 'utf8');
  } catch {
    doc = '# Benchmarks\n\nFigures measured on the machines named in each section; rerun the command given there to refresh them.\n';
  }
  const heading = new RegExp(`^## ${title}\\s*$`, 'm');
  const start = doc.search(heading);
  if (start === -1) {
    doc = `${doc.trimEnd()}\n\n${text}`;
  } else {
    const next = doc.slice(start + 1).search(/^## /m);
    doc = next === -1 ? `${doc.slice(0, start)}${text}` : `${doc.slice(0, start)}${text}\n${doc.slice(start + 1 + next)}`;
  }
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, doc.endsWith('\n') ? doc : `${doc}\n`);
  return path;
}

/** CPU seconds (user + system) a process has used, from /proc (clock ticks of 10 ms); NaN when it is gone. */
export function cpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
}
