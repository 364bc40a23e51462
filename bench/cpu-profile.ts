// A CPU profile (node --cpu-prof) as a short table: where a process spent its time, by function
// (self time) and by package or source folder. Used by `BENCH_PROFILE=1 ./dev bench pipeline`.
import { readFileSync } from 'node:fs';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly children?: readonly number[];
}
interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly startTime: number;
  readonly endTime: number;
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

/** Where a frame's code lives: an npm package, a folder of this repository, node itself, or V8. */
function areaOf(url: string, functionName: string): string {
  if (url === '') return `(${functionName || 'native'})`;
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg?.[1] !== undefined) return pkg[1];
  if (url.startsWith('node:')) return 'node';
  const own = /\/((?:libs|services)\/[^/]+)\//.exec(url);
  return own?.[1] ?? url;
}

export interface ProfileSummary {
  readonly totalMs: number;
  readonly byFunction: readonly { readonly name: string; readonly ms: number }[];
  readonly byArea: readonly { readonly name: string; readonly ms: number }[];
}

export function summarizeCpuProfile(path: string, top = 12): ProfileSummary {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfMs = new Map<number, number>();
  profile.samples.forEach((id, i) => selfMs.set(id, (selfMs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000));
  const fn = new Map<string, number>();
  const area = new Map<string, number>();
  let busy = 0;
  for (const [id, ms] of selfMs) {
    const frame = byId.get(id)?.callFrame;
    if (frame === undefined || frame.functionName === '(idle)') continue;
    busy += ms;
    const file = frame.url.split('/').slice(-2).join('/');
    const name = `${frame.functionName || '(anonymous)'} ${file}:${frame.lineNumber + 1}`;
    fn.set(name, (fn.get(name) ?? 0) + ms);
    const where = areaOf(frame.url, frame.functionName);
    area.set(where, (area.get(where) ?? 0) + ms);
  }
  const sorted = (m: Map<string, number>) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, ms]) => ({ name, ms }));
  return { totalMs: busy, byFunction: sorted(fn), byArea: sorted(area) };
}

// As a command: node --conditions=writ-source bench/cpu-profile.ts FILE.cpuprofile...
if (import.meta.url === `file://${process.argv[1]}`) {
  for (const path of process.argv.slice(2)) {
    const summary = summarizeCpuProfile(path);
    console.log(`${path}: ${summary.totalMs.toFixed(0)} ms on the CPU`);
    for (const { name, ms } of summary.byArea) console.log(`  ${((100 * ms) / summary.totalMs).toFixed(1).padStart(5)} %  ${name}`);
    console.log('  top functions (self time):');
    for (const { name, ms } of summary.byFunction) console.log(`  ${((100 * ms) / summary.totalMs).toFixed(1).padStart(5)} %  ${name}`);
  }
}
