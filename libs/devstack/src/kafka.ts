import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { probeBrokers } from '@writ/bus';
import type { KafkaSasl } from '@writ/bus';
import { WritError, describeError } from '@writ/errors';
import { parseProperties, renderServerProperties } from './broker-config.ts';
import {
  brokerConfigInput,
  exitedWithin,
  exitOf,
  formatStorageOnce,
  javaBinary,
  portAccepts,
  prepareHome,
  rotateLog,
  seconds,
  signal,
  spawnBroker,
  waitUntilReady,
} from './broker-process.ts';
import { withFileLock } from './file-lock.ts';
import { inspectPidFile, isRunning, removeFile, writePidFile } from './pid-file.ts';
import { loadAclTableWithKafkaDoor } from './kafka-door.ts';
import type { AclTable } from './acl-table.ts';
import { ensureKafkaSecrets, passwordFileOf, provisionSecurity, renderSecurityPlan, securityFingerprint, superUserSasl } from './security.ts';
import type { BrokerSecurity } from './security.ts';
import { localBrokers, resolveKafkaSettings } from './settings.ts';
import type { KafkaSettings, KafkaStackOptions } from './settings.ts';

export interface KafkaUp {
  readonly brokers: string[];
  /** True when this call started the broker; false when one was already there (or external). */
  readonly started: boolean;
  /** True when WRIT_KAFKA_BROKERS named the cluster: nothing local was looked at. */
  readonly external: boolean;
  /** The local broker's process, when devstack runs it. */
  readonly pid?: number;
  /** Time from the call until the broker answered a metadata request. */
  readonly elapsedMs: number;
  /** With SASL (the local default): the folder of every principal's password file. */
  readonly secretsDir?: string;
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
  /** With SASL: the folder of every principal's password file. */
  readonly secretsDir?: string;
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
 * Makes sure a broker is answering and says where. With WRIT_KAFKA_BROKERS set it only checks that
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
    return { ...up, release: () => Promise.resolve({ stopped: false, reason: 'WRIT_KAFKA_BROKERS names the cluster; nothing local to stop' }) };
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
    const probe = await tryProbeAs(brokers, undefined);
    return { mode: 'external', brokers, running: probe.healthy, ...probe };
  }
  const { layout } = settings;
  const brokers = localBrokers(settings);
  const existing = existingSecurity(settings);
  const sasl = existing?.admin ?? null;
  const tryProbe = (list: string[]) => tryProbeAs(list, sasl);
  const secrets = existing === undefined ? {} : { secretsDir: layout.secretsDir };
  const state = inspectPidFile(layout.pidFile, layout.serverProperties);
  if (state.kind === 'running') {
    const running = { mode: 'local', brokers, running: true, pid: state.pid, logFile: layout.logFile, ...secrets } as const;
    const mismatch = listenerMismatch(settings, state.pid);
    if (mismatch !== undefined) return { ...running, healthy: false, problem: mismatch };
    if (!(await portAccepts(settings.host, settings.port, 1_000))) {
      return { ...running, healthy: false, problem: `the process runs but nothing listens on ${brokers.join(',')} yet` };
    }
    return { ...running, ...(await tryProbe(brokers)) };
  }
  const staleNote = state.kind === 'stale' ? `stale pid file: ${state.reason}` : undefined;
  if (await portAccepts(settings.host, settings.port, 1_000)) {
    const probe = await tryProbe(brokers);
    const foreign = `port ${settings.port} is held by a process devstack did not start`;
    return { mode: 'local', brokers, running: probe.healthy, ...probe, problem: probe.problem ?? foreign, ...secrets };
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
  const security = prepareSecurity(settings);
  const sasl = security?.admin ?? null;
  const secrets = security === undefined ? {} : { secretsDir: layout.secretsDir };
  let state = inspectPidFile(layout.pidFile, layout.serverProperties);
  let startOwner = owner;
  if (state.kind === 'running') {
    assertSameListeners(settings, state.pid);
    const drift = configDrift(settings, security?.broker);
    if (drift === undefined) {
      const { pid } = state;
      await waitUntilReady(settings, pid, () => (isRunning(pid) ? undefined : 'it exited'), deadline, sasl);
      await applySecurity(settings, security);
      // A person asking for the broker adopts it: test runs will no longer stop it on teardown.
      if (owner === '') writeFileSync(layout.ownerFile, '');
      return { brokers, started: false, external: false, pid, elapsedMs: performance.now() - startedAt, ...secrets };
    }
    // Started with another configuration (e.g. before SASL and ACLs): clients configured for this
    // one could not use it, so it is restarted with the configuration asked for, data kept.
    log(`kafka: the running broker (pid ${state.pid}) was started with another configuration (${drift}); restarting it`);
    const previousOwner = readOwner(settings);
    await downLocked(settings);
    if (owner !== '' && previousOwner !== undefined) startOwner = previousOwner;
    state = inspectPidFile(layout.pidFile, layout.serverProperties);
  }
  if (state.kind === 'stale') {
    log(`kafka: removing a stale pid file (${state.reason})`);
    removeFile(layout.pidFile);
    removeFile(layout.ownerFile);
  }
  if (await portAccepts(settings.host, settings.port, 1_000)) {
    try {
      await probeBrokers(brokers, PROBE_TIMEOUT_MS, sasl);
    } catch (error) {
      throw new WritError(
        'KAFKA_PORT_BUSY',
        `${brokers.join(',')} is taken by a process that does not answer as a Kafka broker${security === undefined ? '' : ' of this configuration (SASL as the super user)'} (${describeError(error)})`,
        { field: 'WRIT_KAFKA_PORT', rule: 'must be a free port', cause: error },
      );
    }
    log(`kafka: a broker devstack did not start already answers on ${brokers.join(',')}; using it`);
    return { brokers, started: false, external: false, elapsedMs: performance.now() - startedAt, ...secrets };
  }
  prepareHome(settings, security?.broker);
  await formatStorageOnce(settings);
  rotateLog(layout.logFile);
  log(`kafka: starting on ${brokers.join(',')} (log: ${layout.logFile})`);
  const child = await spawnBroker(settings);
  const pid = child.pid ?? 0;
  writePidFile(layout.pidFile, pid);
  writeFileSync(layout.ownerFile, startOwner);
  try {
    await waitUntilReady(settings, pid, () => exitOf(child), deadline, sasl);
    await applySecurity(settings, security);
  } catch (error) {
    if (exitOf(child) === undefined) child.kill('SIGKILL');
    removeFile(layout.pidFile);
    removeFile(layout.ownerFile);
    throw error;
  }
  return { brokers, started: true, external: false, pid, elapsedMs: performance.now() - startedAt, ...secrets };
}

interface LocalSecurity {
  readonly table: AclTable;
  readonly broker: BrokerSecurity;
  readonly admin: KafkaSasl;
}

/** With SASL: the ACL table and every principal's password (created when missing). */
function prepareSecurity(settings: KafkaSettings): LocalSecurity | undefined {
  if (settings.security !== 'sasl') return undefined;
  const table = loadAclTableWithKafkaDoor(settings.root);
  ensureKafkaSecrets(settings.layout.secretsDir, table);
  const admin = superUserSasl(settings.layout.secretsDir, table);
  return { table, admin, broker: { superUser: admin.username, superPassword: admin.password } };
}

/** Like prepareSecurity, but never writes: for status checks. */
function existingSecurity(settings: KafkaSettings): LocalSecurity | undefined {
  if (settings.security !== 'sasl') return undefined;
  const table = loadAclTableWithKafkaDoor(settings.root);
  if (!existsSync(passwordFileOf(settings.layout.secretsDir, table.superUser))) return undefined;
  const admin = superUserSasl(settings.layout.secretsDir, table);
  return { table, admin, broker: { superUser: admin.username, superPassword: admin.password } };
}

/**
 * Creates the SCRAM users and applies the ACL table when what this cluster holds is not what is
 * asked for (a new cluster, a changed table or password): the fingerprint of the last application
 * is kept beside the broker, so a reused broker costs no JVM start.
 */
async function applySecurity(settings: KafkaSettings, security: LocalSecurity | undefined): Promise<void> {
  if (security === undefined) return;
  const { layout } = settings;
  const plan = renderSecurityPlan(localBrokers(settings).join(','), layout.secretsDir, security.table);
  const clusterId = parseProperties(readText(join(layout.dataDir, 'meta.properties')) ?? '').get('cluster.id') ?? '';
  const fingerprint = securityFingerprint(plan, layout.secretsDir, security.table, clusterId);
  if (readText(layout.securityApplied)?.trim() === fingerprint) return;
  mkdirSync(layout.configDir, { recursive: true });
  writeFileSync(layout.securityPlan, plan, { mode: 0o600 });
  const started = performance.now();
  const summary = await provisionSecurity({
    java: javaBinary(settings.env),
    libs: layout.libs,
    log4jConfig: layout.log4jConfig,
    program: join(settings.root, 'deploy', 'kafka', 'ProvisionSecurity.java'),
    planFile: layout.securityPlan,
  });
  writeFileSync(layout.securityApplied, `${fingerprint}\n`);
  settings.log(`kafka: ${summary} in ${seconds(performance.now() - started)}`);
}

/** Why the running broker's server.properties is not the one this call would write, if it is not. */
function configDrift(settings: KafkaSettings, security: BrokerSecurity | undefined): string | undefined {
  const running = parseProperties(readText(settings.layout.serverProperties) ?? '');
  const wanted = parseProperties(renderServerProperties(brokerConfigInput(settings, security)));
  const keys = [...new Set([...running.keys(), ...wanted.keys()])].filter((key) => running.get(key) !== wanted.get(key));
  if (keys.length === 0) return undefined;
  const secret = (key: string) => key.endsWith('jaas.config');
  return `differs in ${keys
    .map((key) => (secret(key) ? `${key} (secret)` : key))
    .slice(0, 4)
    .join(', ')}${keys.length > 4 ? ', ...' : ''}`;
}

/**
 * The running broker was started from the server.properties on disk (rewritten only on start):
 * if its listeners are not the ones asked for now (WRIT_KAFKA_PORT changed), say so at once
 * instead of waiting a minute on a port nobody listens on.
 */
function assertSameListeners(settings: KafkaSettings, pid: number): void {
  const mismatch = listenerMismatch(settings, pid);
  if (mismatch !== undefined) {
    throw new WritError('KAFKA_PORT_MISMATCH', `${mismatch}: stop it first (./dev stack down) or use its port`, {
      field: 'WRIT_KAFKA_PORT',
      rule: 'must match the running local broker',
    });
  }
}

function listenerMismatch(settings: KafkaSettings, pid: number): string | undefined {
  const { serverProperties, home } = settings.layout;
  const running = parseProperties(readText(serverProperties) ?? '').get('listeners');
  const wanted = parseProperties(renderServerProperties(brokerConfigInput(settings))).get('listeners');
  // Ports, not listener names: a PLAINTEXT broker on the same ports is restarted with SASL instead.
  const ports = (listeners: string | undefined) => (listeners ?? '').replace(/[A-Z_]+:\/\//g, '');
  if (ports(running) === ports(wanted)) return undefined;
  return `the broker in ${home} (pid ${pid}) listens on ${running ?? 'unknown ports'}, not ${wanted ?? '?'}`;
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

async function tryProbeAs(brokers: string[], sasl: KafkaSasl | null | undefined): Promise<{ healthy: boolean; topics?: number; problem?: string }> {
  try {
    const { topics } = await probeBrokers(brokers, PROBE_TIMEOUT_MS, sasl);
    return { healthy: true, topics };
  } catch (error) {
    return { healthy: false, problem: describeError(error) };
  }
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
  return readText(settings.layout.ownerFile)?.trim();
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

function lockTimeout(settings: KafkaSettings): number {
  return settings.readyTimeoutMs + STOP_GRACE_MS + KILL_WAIT_MS;
}
