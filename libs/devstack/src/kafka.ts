import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { probeBrokers } from '@writ/bus';
import { WritError, describeError } from '@writ/errors';
import { newClusterId, renderLog4j2Config, renderServerProperties } from './broker-config.ts';
import { withFileLock } from './file-lock.ts';
import { logExcerpt } from './log-tail.ts';
import { inspectPidFile, isRunning, removeFile, writePidFile } from './pid-file.ts';
import { localBrokers, resolveKafkaSettings } from './settings.ts';
import type { Env, KafkaSettings, KafkaStackOptions } from './settings.ts';

export interface KafkaUp {
  readonly brokers: string[];
  /** True when this call started the broker; false when one was already there (or external). */
  readonly started: boolean;
  /** True when KAFKA_BROKERS named the cluster: nothing local was looked at. */
  readonly external: boolean;
  /** The local broker's process, when devstack runs it. */
  readonly pid?: number;
  /** Time from the call until the broker answered a metadata request. */
  readonly elapsedMs: number;
}

export interface KafkaDown {
  readonly stopped: boolean;
  readonly pid?: number;
  /** True when the broker ignored SIGTERM until the deadline and was killed. */
  readonly forced: boolean;
  readonly elapsedMs: number;
  /** One line for a person: what happened. */
  readonly note: string;
}

export interface KafkaStatus {
  readonly mode: 'local' | 'external';
  readonly brokers: string[];
  /** Local: the process from the pid file is our broker and alive (or some broker holds the port). */
  readonly running: boolean;
  /** A metadata request was answered. */
  readonly healthy: boolean;
  readonly pid?: number;
  readonly topics?: number;
  /** Why it is not running or not healthy, or what is unusual. */
  readonly problem?: string;
  readonly logFile?: string;
}

export interface KafkaRelease {
  readonly stopped: boolean;
  readonly reason: string;
}

/** A broker held by a test run: `release` stops it only when nobody else needs it. */
export interface KafkaHandle extends KafkaUp {
  release(): Promise<KafkaRelease>;
}

const STOP_GRACE_MS = 30_000;
const KILL_WAIT_MS = 5_000;
const PROBE_TIMEOUT_MS = 5_000;

/**
 * Makes sure a broker is answering and says where. With KAFKA_BROKERS set it only checks that
 * cluster. Otherwise it reuses the local broker when its pid file names a live one (started=false)
 * and starts one when not: config written, storage formatted once, `java kafka.Kafka` detached in
 * its own process group with its output in logs/server.log, then polled with real metadata
 * requests until it answers or the deadline passes. A broker started or reused here is left
 * running for whoever comes next: stop it with kafkaDown.
 */
export async function kafkaUp(options: KafkaStackOptions = {}): Promise<KafkaUp> {
  const settings = resolveKafkaSettings(options);
  if (settings.externalBrokers !== undefined) return useExternal(settings);
  return withFileLock(settings.layout.lockFile, lockTimeout(settings), () => upLocked(settings, ''));
}

/**
 * kafkaUp for a test run (`holder` names it, e.g. "int"): it records a lease, and `release`
 * stops the broker only if no other live test run holds a lease and the broker was started by a
 * test run (this one, or one that is gone). A broker started with `./dev stack up` is left alone.
 */
export async function acquireKafka(holder: string, options: KafkaStackOptions = {}): Promise<KafkaHandle> {
  const settings = resolveKafkaSettings(options);
  if (settings.externalBrokers !== undefined) {
    const up = await useExternal(settings);
    return { ...up, release: () => Promise.resolve({ stopped: false, reason: 'KAFKA_BROKERS names the cluster; nothing local to stop' }) };
  }
  const { layout } = settings;
  const lease = `${process.pid}.${holder.replace(/[^A-Za-z0-9_-]/g, '_')}`;
  const up = await withFileLock(layout.lockFile, lockTimeout(settings), async () => {
    const result = await upLocked(settings, lease);
    mkdirSync(layout.leasesDir, { recursive: true });
    writeFileSync(join(layout.leasesDir, lease), `${new Date().toISOString()}\n`);
    return result;
  });
  const release = () =>
    withFileLock(layout.lockFile, lockTimeout(settings), async (): Promise<KafkaRelease> => {
      removeFile(join(layout.leasesDir, lease));
      const others = liveLeases(layout.leasesDir);
      if (others.length > 0) return { stopped: false, reason: `still held by ${others.length} other test run(s)` };
      const owner = readOwner(settings);
      if (owner === undefined || owner === '') {
        return { stopped: false, reason: 'not started by a test run' };
      }
      const down = await downLocked(settings);
      const by = owner === lease ? 'this run' : 'a test run that has finished';
      return { stopped: down.stopped, reason: down.stopped ? `started by ${by}; ${down.note}` : down.note };
    });
  return { ...up, release };
}

/** Stops the broker named by the pid file (SIGTERM, then SIGKILL after 30 s), and only that process. */
export async function kafkaDown(options: KafkaStackOptions = {}): Promise<KafkaDown> {
  const settings = resolveKafkaSettings(options);
  return withFileLock(settings.layout.lockFile, lockTimeout(settings), () => downLocked(settings));
}

/** What is running and whether it answers, without starting or stopping anything. */
export async function kafkaStatus(options: KafkaStackOptions = {}): Promise<KafkaStatus> {
  const settings = resolveKafkaSettings(options);
  if (settings.externalBrokers !== undefined) {
    const brokers = [...settings.externalBrokers];
    const probe = await tryProbe(brokers);
    return { mode: 'external', brokers, running: probe.healthy, ...probe };
  }
  const { layout } = settings;
  const brokers = localBrokers(settings);
  const state = inspectPidFile(layout.pidFile, layout.serverProperties);
  if (state.kind === 'running') {
    const probe = await tryProbe(brokers);
    return { mode: 'local', brokers, running: true, pid: state.pid, logFile: layout.logFile, ...probe };
  }
  const staleNote = state.kind === 'stale' ? `stale pid file: ${state.reason}` : undefined;
  if (await portAccepts(settings.host, settings.port, 1_000)) {
    const probe = await tryProbe(brokers);
    const foreign = `port ${settings.port} is held by a process devstack did not start`;
    return { mode: 'local', brokers, running: probe.healthy, ...probe, problem: probe.problem ?? foreign };
  }
  return { mode: 'local', brokers, running: false, healthy: false, problem: staleNote ?? 'not running', logFile: layout.logFile };
}

async function useExternal(settings: KafkaSettings): Promise<KafkaUp> {
  const started = performance.now();
  const brokers = [...(settings.externalBrokers ?? [])];
  await probeBrokers(brokers, PROBE_TIMEOUT_MS);
  return { brokers, started: false, external: true, elapsedMs: performance.now() - started };
}

/** `owner` goes into the owner file when this call starts the broker ('' = a person, via kafkaUp). */
async function upLocked(settings: KafkaSettings, owner: string): Promise<KafkaUp> {
  const startedAt = performance.now();
  const deadline = Date.now() + settings.readyTimeoutMs;
  const { layout, log } = settings;
  const brokers = localBrokers(settings);
  mkdirSync(layout.home, { recursive: true });
  const state = inspectPidFile(layout.pidFile, layout.serverProperties);
  if (state.kind === 'running') {
    await waitUntilReady(settings, state.pid, () => (isRunning(state.pid) ? undefined : 'it exited'), deadline);
    // A person asking for the broker adopts it: test runs will no longer stop it on teardown.
    if (owner === '') writeFileSync(layout.ownerFile, '');
    return { brokers, started: false, external: false, pid: state.pid, elapsedMs: performance.now() - startedAt };
  }
  if (state.kind === 'stale') {
    log(`kafka: removing a stale pid file (${state.reason})`);
    removeFile(layout.pidFile);
    removeFile(layout.ownerFile);
  }
  if (await portAccepts(settings.host, settings.port, 1_000)) {
    try {
      await probeBrokers(brokers, PROBE_TIMEOUT_MS);
    } catch (error) {
      throw new WritError(
        'KAFKA_PORT_BUSY',
        `${brokers.join(',')} is taken by a process that does not answer as a Kafka broker (${describeError(error)})`,
        { field: 'WRIT_KAFKA_PORT', rule: 'must be a free port', cause: error },
      );
    }
    log(`kafka: a broker devstack did not start already answers on ${brokers.join(',')}; using it`);
    return { brokers, started: false, external: false, elapsedMs: performance.now() - startedAt };
  }
  prepareHome(settings);
  await formatStorageOnce(settings);
  rotateLog(layout.logFile);
  log(`kafka: starting on ${brokers.join(',')} (log: ${layout.logFile})`);
  const child = await spawnBroker(settings);
  const pid = child.pid ?? 0;
  writePidFile(layout.pidFile, pid);
  writeFileSync(layout.ownerFile, owner);
  try {
    await waitUntilReady(settings, pid, () => exitOf(child), deadline);
  } catch (error) {
    if (exitOf(child) === undefined) child.kill('SIGKILL');
    removeFile(layout.pidFile);
    removeFile(layout.ownerFile);
    throw error;
  }
  return { brokers, started: true, external: false, pid, elapsedMs: performance.now() - startedAt };
}

async function downLocked(settings: KafkaSettings): Promise<KafkaDown> {
  const startedAt = performance.now();
  const { layout } = settings;
  const state = inspectPidFile(layout.pidFile, layout.serverProperties);
  const elapsed = () => performance.now() - startedAt;
  if (state.kind === 'absent') return { stopped: false, forced: false, elapsedMs: elapsed(), note: 'not running' };
  if (state.kind === 'stale') {
    removeFile(layout.pidFile);
    removeFile(layout.ownerFile);
    return { stopped: false, forced: false, elapsedMs: elapsed(), note: `removed a stale pid file (${state.reason})` };
  }
  const { pid } = state;
  signal(pid, 'SIGTERM');
  let forced = false;
  if (!(await exitedWithin(pid, STOP_GRACE_MS))) {
    forced = true;
    signal(pid, 'SIGKILL');
    if (!(await exitedWithin(pid, KILL_WAIT_MS))) {
      throw new WritError('KAFKA_STOP_FAILED', `the broker (pid ${pid}) survived SIGKILL for ${KILL_WAIT_MS} ms`);
    }
  }
  removeFile(layout.pidFile);
  removeFile(layout.ownerFile);
  const how = forced ? `killed pid ${pid} after it ignored SIGTERM for ${STOP_GRACE_MS / 1000} s` : `stopped pid ${pid}`;
  return { stopped: true, pid, forced, elapsedMs: elapsed(), note: `${how} in ${seconds(elapsed())}` };
}

/** The java command line that runs the broker: pure, so tests can read it. */
export function brokerCommand(settings: KafkaSettings): { command: string; args: string[] } {
  const { layout } = settings;
  return {
    command: javaBinary(settings.env),
    args: [
      '-Xms256m',
      '-Xmx512m',
      '-XX:+UseG1GC',
      '-XX:MaxGCPauseMillis=20',
      '-XX:+ExitOnOutOfMemoryError',
      '-Djava.awt.headless=true',
      `-Dlog4j2.configurationFile=${layout.log4jConfig}`,
      `-Dkafka.logs.dir=${layout.logsDir}`,
      '-cp',
      join(layout.libs, '*'),
      'kafka.Kafka',
      layout.serverProperties,
    ],
  };
}

function javaBinary(env: Env): string {
  const home = env['JAVA_HOME']?.trim();
  return home ? join(home, 'bin', 'java') : 'java';
}

function prepareHome(settings: KafkaSettings): void {
  const { layout } = settings;
  const jars = existsSync(layout.libs) ? readdirSync(layout.libs) : [];
  if (!jars.some((name) => /^kafka_2\.13-.*\.jar$/.test(name))) {
    throw new WritError(
      'KAFKA_NOT_INSTALLED',
      `no Kafka jars in ${layout.libs}: run ./dev setup (deploy/local/toolchain.sh resolves them from Maven Central)`,
    );
  }
  for (const dir of [layout.configDir, layout.dataDir, layout.logsDir]) mkdirSync(dir, { recursive: true });
  writeFileSync(
    layout.serverProperties,
    renderServerProperties({
      host: settings.host,
      port: settings.port,
      controllerPort: settings.controllerPort,
      dataDir: layout.dataDir,
    }),
  );
  writeFileSync(layout.log4jConfig, renderLog4j2Config());
}

/** KRaft storage is formatted once per data folder; meta.properties is the marker. */
async function formatStorageOnce(settings: KafkaSettings): Promise<void> {
  const { layout, log } = settings;
  if (existsSync(join(layout.dataDir, 'meta.properties'))) return;
  const clusterId = newClusterId();
  log(`kafka: formatting ${layout.dataDir} (cluster ${clusterId})`);
  const args = [
    '-Xmx256m',
    '-XX:TieredStopAtLevel=1',
    `-Dlog4j2.configurationFile=${layout.log4jConfig}`,
    '-cp',
    join(layout.libs, '*'),
    'kafka.tools.StorageTool',
    'format',
    '-t',
    clusterId,
    '-c',
    layout.serverProperties,
    '--standalone',
    '--ignore-formatted',
  ];
  const { code, output } = await runToEnd(javaBinary(settings.env), args);
  if (code !== 0) {
    const tail = output.split('\n').slice(-20).join('\n');
    throw new WritError('KAFKA_FORMAT_FAILED', `formatting ${layout.dataDir} failed (exit ${code}):\n${tail}`);
  }
}

function runToEnd(command: string, args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', (error) => reject(javaMissing(command, error)));
    child.on('close', (code) => resolve({ code, output }));
  });
}

/** Keeps the previous run's log as server.log.1 so a failure tail shows only this start. */
function rotateLog(logFile: string): void {
  if (existsSync(logFile) && statSync(logFile).size > 0) renameSync(logFile, `${logFile}.1`);
}

async function spawnBroker(settings: KafkaSettings): Promise<ChildProcess> {
  const { command, args } = brokerCommand(settings);
  const out = openSync(settings.layout.logFile, 'a');
  let child: ChildProcess;
  try {
    // detached: its own process group, so a Ctrl-C in the terminal that ran `up` does not reach it.
    child = spawn(command, args, { cwd: settings.layout.home, detached: true, stdio: ['ignore', out, out] });
  } finally {
    closeSync(out);
  }
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', () => resolve());
    child.once('error', (error) => reject(javaMissing(command, error)));
  });
  child.unref();
  return child;
}

function javaMissing(command: string, error: Error): WritError {
  return new WritError('KAFKA_JAVA_MISSING', `cannot run ${command}: ${error.message} (Java 17+ must be on PATH or in JAVA_HOME)`, {
    field: 'JAVA_HOME',
    rule: 'must hold a Java 17+ runtime',
    cause: error,
  });
}

function exitOf(child: ChildProcess): string | undefined {
  if (child.exitCode !== null) return `exit code ${child.exitCode}`;
  if (child.signalCode !== null) return `signal ${child.signalCode}`;
  return undefined;
}

/**
 * Polls until a metadata request is answered: a cheap TCP connect first (the port opens a few
 * seconds into the JVM's start), then probeBrokers. Fails at once, with the log's last lines,
 * when the process dies, and at the deadline otherwise.
 */
async function waitUntilReady(
  settings: KafkaSettings,
  pid: number,
  exited: () => string | undefined,
  deadline: number,
): Promise<void> {
  const brokers = localBrokers(settings);
  const { logFile } = settings.layout;
  let lastProblem = 'the port is not open yet';
  for (;;) {
    const exit = exited();
    if (exit !== undefined) {
      throw new WritError(
        'KAFKA_START_FAILED',
        `the broker (pid ${pid}) stopped before answering (${exit}); from ${logFile}:\n${logExcerpt(logFile)}`,
      );
    }
    const left = deadline - Date.now();
    if (left <= 0) break;
    if (await portAccepts(settings.host, settings.port, Math.min(1_000, left))) {
      try {
        await probeBrokers(brokers, Math.max(500, Math.min(3_000, deadline - Date.now())));
        return;
      } catch (error) {
        lastProblem = describeError(error);
      }
    }
    await pause(Math.min(250, Math.max(0, deadline - Date.now())));
  }
  throw new WritError(
    'KAFKA_START_TIMEOUT',
    `the broker (pid ${pid}) did not answer on ${brokers.join(',')} within ${seconds(settings.readyTimeoutMs)} (${lastProblem}); from ${logFile}:\n${logExcerpt(logFile)}`,
    { retriable: true },
  );
}

export function portAccepts(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (open: boolean) => {
      socket.destroy();
      resolve(open);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

async function tryProbe(brokers: string[]): Promise<{ healthy: boolean; topics?: number; problem?: string }> {
  try {
    const { topics } = await probeBrokers(brokers, PROBE_TIMEOUT_MS);
    return { healthy: true, topics };
  } catch (error) {
    return { healthy: false, problem: describeError(error) };
  }
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

async function exitedWithin(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!isRunning(pid)) return true;
    await pause(100);
  }
  return !isRunning(pid);
}

function liveLeases(leasesDir: string): string[] {
  if (!existsSync(leasesDir)) return [];
  const live: string[] = [];
  for (const name of readdirSync(leasesDir)) {
    const pid = Number(name.split('.')[0]);
    if (Number.isInteger(pid) && pid > 1 && isRunning(pid)) live.push(name);
    else removeFile(join(leasesDir, name));
  }
  return live;
}

function readOwner(settings: KafkaSettings): string | undefined {
  try {
    return readFileSync(settings.layout.ownerFile, 'utf8').trim();
  } catch {
    return undefined;
  }
}

function lockTimeout(settings: KafkaSettings): number {
  return settings.readyTimeoutMs + STOP_GRACE_MS + KILL_WAIT_MS;
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}
