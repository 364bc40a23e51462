// The real Prometheus in tests: Debian's binaries, unpacked by the setup into .local/prometheus/bin
// (deploy/local/toolchain.sh, install_prometheus), started on a loopback port with a generated
// configuration, asked through its HTTP API, and stopped by its pid; promtool for the rules.
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './free-port.ts';
import { waitFor } from './wait-for.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** Where the setup put a Prometheus binary (`prometheus` or `promtool`); throws, saying how to get it, when it is missing. */
export function prometheusBinary(name: 'prometheus' | 'promtool'): string {
  const path = join(ROOT, '.local', 'prometheus', 'bin', name);
  if (!existsSync(path)) throw new Error(`${path} is missing: \`./dev setup\` unpacks Debian's prometheus package there (deploy/local/toolchain.sh)`);
  return path;
}

/** Runs promtool; resolves with its exit code and output whatever the code. */
export function runPromtool(args: readonly string[], cwd: string): Promise<{ readonly code: number; readonly output: string }> {
  return new Promise((resolve, reject) => {
    execFile(prometheusBinary('promtool'), [...args], { cwd, timeout: 60_000 }, (error, stdout, stderr) => {
      const output = `${stdout}${stderr}`;
      if (error === null) resolve({ code: 0, output });
      else if (typeof error.code === 'number') resolve({ code: error.code, output });
      else reject(error);
    });
  });
}

/** One series of an instant query's answer. */
export interface PrometheusSample {
  readonly metric: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface PrometheusScrapeTarget {
  /** The `service` label of its series. */
  readonly service: string;
  /** Its /metrics URL. */
  readonly url: string;
}

export interface RunningPrometheus {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly pid: number;
  /** An instant query; throws with Prometheus's error (a PromQL syntax error, say). */
  query(expr: string): Promise<PrometheusSample[]>;
  /** The sum of an instant query's values (0 when it has no series). */
  sum(expr: string): Promise<number>;
  /** Every metric name Prometheus has series of. */
  metricNames(): Promise<string[]>;
  /** Its loaded rules with their health (`GET /api/v1/rules`). */
  rules(): Promise<readonly { readonly name: string; readonly health: string; readonly lastError?: string }[]>;
  /** SIGTERM to its pid (SIGKILL if it has not exited within 10 s). */
  stop(): Promise<void>;
}

export interface PrometheusOptions {
  readonly targets: readonly PrometheusScrapeTarget[];
  /** Its configuration and data go here. */
  readonly workDir: string;
  /** Scrape and rule evaluation interval, in seconds. Default 1. */
  readonly intervalSeconds?: number;
  /** Rule files to load (absolute paths). */
  readonly ruleFiles?: readonly string[];
}

interface ApiAnswer<T> {
  readonly status: 'success' | 'error';
  readonly data?: T;
  readonly errorType?: string;
  readonly error?: string;
}

/**
 * Starts Prometheus on a free loopback port, scraping `targets` (job `writ`, each with its
 * `service` label) every `intervalSeconds`; resolves once it is ready.
 */
export async function startPrometheus(options: PrometheusOptions): Promise<RunningPrometheus> {
  const interval = `${options.intervalSeconds ?? 1}s`;
  mkdirSync(options.workDir, { recursive: true });
  const config = join(options.workDir, 'prometheus.yml');
  const lines = [
    'global:',
    `  scrape_interval: ${interval}`,
    `  scrape_timeout: ${interval}`,
    `  evaluation_interval: ${interval}`,
    ...(options.ruleFiles === undefined ? [] : ['rule_files:', ...options.ruleFiles.map((file) => `  - ${JSON.stringify(file)}`)]),
    'scrape_configs:',
    '  - job_name: writ',
    '    static_configs:',
    ...options.targets.flatMap((target) => {
      const url = new URL(target.url);
      return [`      - targets: [${JSON.stringify(url.host)}]`, `        labels: { service: ${JSON.stringify(target.service)} }`];
    }),
  ];
  writeFileSync(config, `${lines.join('\n')}\n`);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(
    prometheusBinary('prometheus'),
    [`--config.file=${config}`, `--storage.tsdb.path=${join(options.workDir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  child.stderr.on('data', (chunk: Buffer) => {
    log = `${log}${chunk.toString('utf8')}`.slice(-4_000);
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`prometheus did not start: ${log}`);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    process.kill(pid, 'SIGTERM');
    const killer = setTimeout(() => process.kill(pid, 'SIGKILL'), 10_000);
    await exited;
    clearTimeout(killer);
  };

  async function api<T>(path: string): Promise<T> {
    const response = await fetch(`${url}${path}`, { signal: AbortSignal.timeout(10_000) });
    const answer = (await response.json()) as ApiAnswer<T>;
    if (answer.status !== 'success' || answer.data === undefined)
      throw new Error(`prometheus ${path}: ${answer.errorType ?? response.status}: ${answer.error ?? ''}`);
    return answer.data;
  }
  const query = async (expr: string): Promise<PrometheusSample[]> => {
    const data = await api<{ resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] }>(
      `/api/v1/query?query=${encodeURIComponent(expr)}`,
    );
    if (data.resultType !== 'vector') throw new Error(`prometheus: ${expr} is a ${data.resultType}, not an instant vector`);
    return data.result.map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
  };

  try {
    await waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`prometheus exited with code ${child.exitCode}: ${log}`);
        const ready = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1_000) }).catch(() => undefined);
        return ready?.status === 200 || undefined;
      },
      { timeoutMs: 30_000, what: `prometheus ready on ${url}` },
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    url,
    pid,
    query,
    sum: async (expr) => (await query(expr)).reduce((total, sample) => total + sample.value, 0),
    metricNames: () => api<string[]>('/api/v1/label/__name__/values'),
    rules: async () =>
      (await api<{ groups: { rules: { name: string; health: string; lastError?: string }[] }[] }>('/api/v1/rules')).groups.flatMap((g) => g.rules),
    stop,
  };
}
