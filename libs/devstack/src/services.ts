import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { WritError, backoffDelay, describeError } from '@writ/errors';
import { ensureDevKeys, serviceKeyEnvironment } from './keys.ts';
import type { KeyLayout } from './keys.ts';
import { serviceKafkaEnv } from './security.ts';

/** The six services; they start together and stop in reverse order of this list. */
export const WRIT_SERVICES = ['ledger', 'budget', 'policy', 'executor', 'planner', 'gateway'] as const;
export type WritServiceName = (typeof WRIT_SERVICES)[number];

const PORT_OFFSETS: Readonly<Record<WritServiceName, number>> = {
  gateway: 0,
  planner: 1,
  policy: 2,
  budget: 3,
  executor: 4,
  ledger: 5,
};
const HELPDESK_OFFSET = 10;
/** Ports of a service's further instances: instance i listens on its offset + 20 × i. */
const REPLICA_PORT_STEP = 20;
/**
 * Each instance's Prometheus endpoint (WRIT_METRICS_PORT, `GET /metrics` on 127.0.0.1) is its HTTP
 * port + 30: 26110-26115 for the demo's six services, +30..+35, +50..+55 and +70..+75 of a stack's
 * base port for instances 0, 1 and 2. Free in every stack the repository starts (bases 100 apart,
 * HTTP on +0..+5, +20..+25 and +40..+45, the helpdesk on +10).
 */
export const METRICS_PORT_OFFSET = 30;

/**
 * How many instances of a service may run against one cluster (docs/design/pipeline.md, "Scaling
 * out"): three partitions per stream; the accountant and the ledger keep one sequence per tenant,
 * and the executor's idempotency journal is a file of its own.
 */
export const MAX_REPLICAS: Readonly<Record<WritServiceName, number>> = {
  gateway: 3,
  planner: 3,
  policy: 3,
  budget: 1,
  executor: 1,
  ledger: 1,
};
export const HELPDESK_DEMO_TOKEN = 'helpdesk-demo-token';

/**
 * V8 flags every service runs with. The young generation's semi-spaces grow to 16 MiB each by
 * default, and a busy service keeps them there: capped at 2 MiB a service's resident memory was
 * 20-25 MiB lower idle and about 90 MiB lower under load, on the same run (docs/benchmarks.md,
 * "Pipeline"). Short-lived garbage (decoded events, spans) is collected more often, in smaller steps.
 */
export const SERVICE_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=2'];

/**
 * Further V8 flags of one service. The services that load Cedar run its WebAssembly on V8's
 * baseline compiler only. In the policy service, optimising it doubled the memory Cedar takes
 * (66 MiB resident over the process with the demo policies loaded, against 33 MiB), for decisions
 * 1.7 times as fast (median 233 µs against 404 µs on the demo policies,
 * `bench/policy/decide.bench.ts`): a fifth of a millisecond per action is worth the 33 MiB that
 * keep the service within 150 MiB idle. The gateway loads Cedar for the MCP door's `tools/list`
 * (partial evaluation of the policy set, once per set, agent and tool): no call waits on it.
 */
const CEDAR_SERVICES: ReadonlySet<WritServiceName> = new Set(['policy', 'gateway']);

export function serviceNodeFlags(name: WritServiceName): readonly string[] {
  return CEDAR_SERVICES.has(name) ? [...SERVICE_NODE_FLAGS, '--liftoff-only'] : SERVICE_NODE_FLAGS;
}

export interface WritStackOptions {
  /** The checkout: services' dist/, tools/, policies/ and deploy/demo/ are read from here. */
  readonly root: string;
  readonly brokers: readonly string[];
  /** Keys, executor records, chDB data, traces and logs of this stack. */
  readonly workDir: string;
  /** Gateway port; the others follow (+1 .. +5), the demo helpdesk at +10, each service's metrics at its port + 30. Default 26080. */
  readonly basePort?: number;
  /** Appended to every consumer group id, so two stacks on one cluster never share a group. */
  readonly groupSuffix?: string;
  /** Instances per service (default one each; at most MAX_REPLICAS). */
  readonly replicas?: Partial<Readonly<Record<WritServiceName, number>>>;
  /** Extra environment for every service (e.g. shorter timeouts in tests). */
  readonly env?: Readonly<Record<string, string>>;
  /**
   * The broker's password files (KafkaUp.secretsDir); each service gets only its own principal
   * (deploy/kafka/acls.json). Default WRIT_KAFKA_SECRETS_DIR; unset: no SASL.
   */
  readonly kafkaSecretsDir?: string;
  readonly log?: (line: string) => void;
}

export interface ServiceProcess {
  readonly name: string;
  readonly url: string;
  /** Its Prometheus endpoint (`http://127.0.0.1:<WRIT_METRICS_PORT>/metrics`); undefined for the helpdesk. */
  readonly metricsUrl: string | undefined;
  readonly logFile: string;
  pid(): number | undefined;
  /** SIGKILL: a crash, no shutdown hooks. */
  kill(): Promise<void>;
  /** SIGTERM and wait for the exit. */
  stop(): Promise<void>;
  /** Start again after kill/stop, with the same environment; resolves when ready. */
  start(): Promise<void>;
}

export interface WritStack {
  /** The first gateway's URL; gatewayUrls has one per instance. */
  readonly gatewayUrl: string;
  readonly gatewayUrls: readonly string[];
  readonly helpdeskUrl: string;
  readonly helpdeskToken: string;
  /** Where each service's keys are: for tools and tests that play a thief of one (never given to a service whole). */
  readonly keys: KeyLayout;
  readonly tracesFile: string;
  readonly chdbPath: string;
  readonly env: Readonly<Record<string, string>>;
  /** A service's first instance (the helpdesk's only one). */
  service(name: WritServiceName | 'helpdesk'): ServiceProcess;
  /** Every instance of a service, the first first. */
  instances(name: WritServiceName): readonly ServiceProcess[];
  stop(): Promise<void>;
}

function waitForExit(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/**
 * Stops a process this run started: SIGTERM, SIGKILL after `graceMs` if it has not exited (a
 * service whose broker is already gone may hang in its shutdown), and resolves once it is gone.
 */
export async function stopChild(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await waitForExit(child);
  clearTimeout(timer);
}

async function waitUntilReady(url: string, process: () => ChildProcess | undefined, logFile: string, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const child = process();
    if (child === undefined || child.exitCode !== null) {
      throw new WritError('SERVICE_EXITED', `${url} exited with code ${child?.exitCode ?? '?'} while starting; see ${logFile}`);
    }
    const response = await fetch(url, { signal: AbortSignal.timeout(2_000) }).catch(() => undefined);
    if (response?.ok) {
      const body = (await response.json().catch(() => ({}))) as { status?: string };
      if (body.status === undefined || body.status === 'ok' || body.status === 'ready') return;
    }
    await new Promise((resolve) => setTimeout(resolve, 150));
  }
  throw new WritError('SERVICE_NOT_READY', `${url} was not ready within ${timeoutMs} ms; see ${logFile}`, { retriable: true });
}

/** The first restart of a service that exited on its own waits this long; each further one twice as long. */
const RESTART_DELAY_MS = 1_000;
const MAX_RESTART_DELAY_MS = 30_000;
/** A service up this long counts as healthy again: its next unexpected exit restarts after RESTART_DELAY_MS. */
const STABLE_AFTER_MS = 60_000;

export interface ProcessSpec {
  readonly name: string;
  readonly url: string;
  readonly metricsUrl?: string;
  /** Answers 2xx with no status, or status ok/ready, once the process is ready. */
  readonly readyUrl: string;
  readonly command: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly cwd: string;
  readonly logFile: string;
  readonly log: (line: string) => void;
}

/**
 * One service process of a stack: started on start(), supervised from then on (an exit nobody
 * asked for is restarted, with backoff), and not restarted after kill() or stop().
 */
export function superviseProcess(spec: ProcessSpec): ServiceProcess {
  let child: ChildProcess | undefined;
  // Set by kill() and stop(): an exit that was asked for is not restarted.
  let wanted = false;
  let failures = 0;
  let restartTimer: NodeJS.Timeout | undefined;
  const [executable, ...args] = spec.command;
  // If the process that started the stack dies without stopping it, take the services along.
  process.once('exit', () => child?.kill('SIGKILL'));

  // A service exits on its own when it cannot go on (a Kafka client that failed for good exits 70):
  // like a Kubernetes restart policy, start it again, backing off while it keeps failing.
  const scheduleRestart = (why: string) => {
    // No jitter: one process restarts, there is no herd to spread.
    const delay = backoffDelay(failures + 1, { initialMs: RESTART_DELAY_MS, maxMs: MAX_RESTART_DELAY_MS }, () => 1);
    failures += 1;
    spec.log(`${spec.name}: ${why}; restarting in ${(delay / 1000).toFixed(0)} s (restart ${failures}); see ${spec.logFile}`);
    restartTimer = setTimeout(() => {
      restartTimer = undefined;
      if (wanted) return;
      launch().catch((error: unknown) => {
        if (wanted) return;
        child?.kill('SIGKILL');
        scheduleRestart(`restart failed: ${describeError(error)}`);
      });
    }, delay);
    restartTimer.unref();
  };

  const launch = async () => {
    const out = createWriteStream(spec.logFile, { flags: 'a' });
    const started = spawn(executable ?? process.execPath, args, {
      cwd: spec.cwd,
      env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '', ...spec.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    started.stdout?.pipe(out);
    started.stderr?.pipe(out);
    child = started;
    const t0 = Date.now();
    await waitUntilReady(spec.readyUrl, () => child, spec.logFile, 60_000);
    spec.log(`${spec.name}: ready on ${spec.url} (pid ${started.pid}, ${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    const readyAt = Date.now();
    started.once('exit', (code, signal) => {
      if (wanted || child !== started) return;
      if (Date.now() - readyAt >= STABLE_AFTER_MS) failures = 0;
      scheduleRestart(`exited on its own (${signal ?? `code ${code ?? '?'}`})`);
    });
  };

  const halt = () => {
    wanted = true;
    clearTimeout(restartTimer);
    restartTimer = undefined;
  };

  return {
    name: spec.name,
    url: spec.url,
    metricsUrl: spec.metricsUrl,
    logFile: spec.logFile,
    pid: () => child?.pid,
    async start() {
      halt();
      wanted = false;
      if (child !== undefined && child.exitCode === null && child.signalCode === null) {
        await waitUntilReady(spec.readyUrl, () => child, spec.logFile, 60_000);
        return;
      }
      failures = 0;
      await launch();
    },
    async kill() {
      halt();
      if (child === undefined) return;
      child.kill('SIGKILL');
      await waitForExit(child);
    },
    async stop() {
      halt();
      if (child === undefined) return;
      await stopChild(child);
    },
  };
}

/**
 * Starts the demo helpdesk and the six Writ services as separate processes (from their built
 * dist/), each configured for this stack, and waits until every one answers /health/ready.
 * Used by the end-to-end tests and by `./dev demo`.
 */
export async function startWritStack(options: WritStackOptions): Promise<WritStack> {
  const { root, workDir } = options;
  const log = options.log ?? (() => undefined);
  const basePort = options.basePort ?? 26080;
  const suffix = options.groupSuffix ?? '';
  for (const name of WRIT_SERVICES) {
    const entry = join(root, 'services', name, 'dist', 'main.js');
    if (!existsSync(entry)) throw new WritError('SERVICE_NOT_BUILT', `${entry} is missing: run ./dev build first`);
  }
  const logsDir = join(workDir, 'logs');
  mkdirSync(logsDir, { recursive: true });
  const { layout } = ensureDevKeys(join(workDir, 'keys'));
  // Tenants' data keys (sensitive arguments): only the gateway (seals) and the executor (opens) get the folder.
  const tenantKeysDir = join(workDir, 'keys', 'tenants');
  mkdirSync(tenantKeysDir, { recursive: true, mode: 0o700 });
  const tenantKeys = (name: WritServiceName): Record<string, string> =>
    name === 'gateway' || name === 'executor' ? { WRIT_TENANT_KEYS_DIR: tenantKeysDir } : {};
  const secretsDir = options.kafkaSecretsDir ?? process.env['WRIT_KAFKA_SECRETS_DIR'] ?? '';
  const kafkaPrincipal = (name: WritServiceName) => (secretsDir === '' ? {} : serviceKafkaEnv(secretsDir, name, root));
  const helpdeskUrl = `http://127.0.0.1:${basePort + HELPDESK_OFFSET}`;
  const tracesFile = join(workDir, 'traces.jsonl');
  const chdbPath = join(workDir, 'chdb');
  const env: Record<string, string> = {
    WRIT_KAFKA_BROKERS: options.brokers.join(','),
    WRIT_LOG_FORMAT: 'json',
    WRIT_ROOT: root,
    WRIT_TRACES_FILE: tracesFile,
    WRIT_TOOLS_DIR: join(root, 'tools'),
    WRIT_POLICY_DIR: join(root, 'policies'),
    // The checkout's policies are the stream's: published at boot when they differ from its current set.
    WRIT_POLICY_BOOTSTRAP: 'differs',
    WRIT_DIRECTORY_FILE: join(root, 'deploy', 'demo', 'directory.json'),
    WRIT_BUDGET_LIMITS_FILE: join(root, 'deploy', 'demo', 'budgets.json'),
    // Automatic safe mode (the gateway): thresholds the demo never reaches; a stack may bring its own.
    WRIT_GATEWAY_SAFE_MODE_FILE: join(root, 'deploy', 'demo', 'safe-mode.json'),
    WRIT_EXECUTOR_DATA_DIR: join(workDir, 'executor'),
    WRIT_CHDB_PATH: chdbPath,
    HELPDESK_URL: helpdeskUrl,
    ...options.env,
  };
  // The helpdesk's static token (its operator's, and the declared fallback of a tool with
  // credential.env) reaches the tool proxy and the demo's system of record only. The tools in
  // tools/ declare credential.mint: the executor signs a token per action with its own key, and the
  // helpdesk verifies it against the executor's JWKS, for acme (the demo's tenant) only.
  const helpdeskToken = env['HELPDESK_TOKEN'] ?? HELPDESK_DEMO_TOKEN;
  delete env['HELPDESK_TOKEN'];
  const helpdeskTokens = {
    HELPDESK_JWKS_URL: `http://127.0.0.1:${basePort + PORT_OFFSETS.executor}/.well-known/jwks.json`,
    HELPDESK_TENANTS: env['HELPDESK_TENANTS'] ?? 'acme',
  };
  const toolCredential = (name: WritServiceName | 'helpdesk'): Record<string, string> =>
    name === 'executor' || name === 'helpdesk' ? { HELPDESK_TOKEN: helpdeskToken } : {};
  // The console (served by the gateway) reads spend and chains through the ledger's own door, with the person's key.
  const consoleLedger = (name: WritServiceName): Record<string, string> =>
    name === 'gateway' ? { WRIT_CONSOLE_LEDGER_URL: env['WRIT_CONSOLE_LEDGER_URL'] ?? `http://127.0.0.1:${basePort + PORT_OFFSETS.ledger}` } : {};

  const instances = new Map<WritServiceName, ServiceProcess[]>();
  for (const name of WRIT_SERVICES) {
    const count = options.replicas?.[name] ?? 1;
    if (!Number.isInteger(count) || count < 1 || count > MAX_REPLICAS[name]) {
      throw new WritError('CONFIG_INVALID', `replicas.${name} must be a whole number from 1 to ${MAX_REPLICAS[name]}, got ${count}`, {
        field: `replicas.${name}`,
        rule: `1 to ${MAX_REPLICAS[name]} (docs/design/pipeline.md, "Scaling out")`,
      });
    }
    const list: ServiceProcess[] = [];
    for (let i = 0; i < count; i += 1) {
      const port = basePort + PORT_OFFSETS[name] + REPLICA_PORT_STEP * i;
      const url = `http://127.0.0.1:${port}`;
      const metricsPort = port + METRICS_PORT_OFFSET;
      const label = i === 0 ? name : `${name}-${i}`;
      list.push(
        superviseProcess({
          name: label,
          url,
          metricsUrl: `http://127.0.0.1:${metricsPort}/metrics`,
          readyUrl: `${url}/health/ready`,
          command: [process.execPath, ...serviceNodeFlags(name), join(root, 'services', name, 'dist', 'main.js')],
          // Each service gets its own private key's path only (serviceKeyEnvironment).
          env: {
            ...env,
            ...serviceKeyEnvironment(layout, name),
            ...kafkaPrincipal(name),
            ...tenantKeys(name),
            ...toolCredential(name),
            ...consoleLedger(name),
            WRIT_HTTP_PORT: String(port),
            WRIT_METRICS_PORT: String(metricsPort),
            WRIT_KAFKA_GROUP_ID: `writ.${name}${suffix}`,
            WRIT_INSTANCE_ID: String(i),
          },
          cwd: root,
          logFile: join(logsDir, `${label}.log`),
          log,
        }),
      );
    }
    instances.set(name, list);
  }
  const helpdesk = superviseProcess({
    name: 'helpdesk',
    url: helpdeskUrl,
    readyUrl: `${helpdeskUrl}/health`,
    command: [process.execPath, '--conditions=writ-source', join(root, 'demo', 'helpdesk', 'src', 'main.ts')],
    env: { ...env, ...toolCredential('helpdesk'), ...helpdeskTokens, HELPDESK_PORT: String(basePort + HELPDESK_OFFSET) },
    cwd: root,
    logFile: join(logsDir, 'helpdesk.log'),
    log,
  });
  const all = (name: WritServiceName): ServiceProcess[] => instances.get(name) ?? [];

  const stack: WritStack = {
    gatewayUrl: `http://127.0.0.1:${basePort}`,
    gatewayUrls: all('gateway').map((gateway) => gateway.url),
    helpdeskUrl,
    helpdeskToken,
    keys: layout,
    tracesFile,
    chdbPath,
    // What callers of the stack may use (the ledger's public keys, for writ verify); no private key.
    env: { ...env, WRIT_LEDGER_KEYS_DIR: layout.ledgerKeysDir },
    service(name) {
      const found = name === 'helpdesk' ? helpdesk : all(name)[0];
      if (found === undefined) throw new WritError('SERVICE_UNKNOWN', `no service ${name} in this stack`);
      return found;
    },
    instances: all,
    async stop() {
      for (const name of [...WRIT_SERVICES].reverse()) await Promise.all(all(name).map((instance) => instance.stop()));
      await helpdesk.stop();
    },
  };
  try {
    await helpdesk.start();
    await Promise.all(WRIT_SERVICES.flatMap((name) => all(name).map((instance) => instance.start())));
  } catch (error) {
    await stack.stop();
    throw error;
  }
  return stack;
}
