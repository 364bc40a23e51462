import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { probeBrokers } from '@writ/bus';
import { WritError, describeError } from '@writ/errors';
import { newClusterId, renderLog4j2Config, renderServerProperties } from './broker-config.ts';
import type { BrokerConfigInput } from './broker-config.ts';
import type { BrokerSecurity } from './security.ts';
import type { KafkaSasl } from '@writ/bus';
import { logExcerpt } from './log-tail.ts';
import { isRunning } from './pid-file.ts';
import { localBrokers } from './settings.ts';
import type { Env, KafkaSettings } from './settings.ts';

// The broker as an operating-system process: its files, its command line, its start and stop.

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
      ...(settings.jmxPort === undefined ? [] : jmxFlags(settings.jmxPort)),
      '-cp',
      join(layout.libs, '*'),
      'kafka.Kafka',
      layout.serverProperties,
    ],
  };
}

/** JMX on loopback only, without authentication: for a benchmark's broker (KafkaStackOptions.jmxPort). */
function jmxFlags(port: number): string[] {
  return [
    `-Dcom.sun.management.jmxremote.port=${port}`,
    `-Dcom.sun.management.jmxremote.rmi.port=${port}`,
    '-Dcom.sun.management.jmxremote.host=127.0.0.1',
    '-Djava.rmi.server.hostname=127.0.0.1',
    '-Dcom.sun.management.jmxremote.authenticate=false',
    '-Dcom.sun.management.jmxremote.ssl=false',
  ];
}

/**
 * How many requests of each API the broker has handled since it started, read over its JMX port
 * by deploy/kafka/RequestCounts.java (Java's single-file source launch).
 */
export async function brokerRequestCounts(settings: Pick<KafkaSettings, 'env' | 'jmxPort' | 'root'>): Promise<Record<string, number>> {
  if (settings.jmxPort === undefined)
    throw new WritError('CONFIG_INVALID', 'the broker was started without a JMX port', { field: 'jmxPort', rule: 'set KafkaStackOptions.jmxPort' });
  const program = join(settings.root, 'deploy', 'kafka', 'RequestCounts.java');
  const output = await new Promise<string>((resolve, reject) => {
    const child = spawn(javaBinary(settings.env), ['-Xmx64m', '-XX:TieredStopAtLevel=1', '-XX:+UseSerialGC', program, String(settings.jmxPort)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let text = '';
    let errors = '';
    child.stdout.on('data', (chunk: Buffer) => (text += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (errors += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0
        ? resolve(text)
        : reject(
            new WritError(
              'KAFKA_METRICS_UNREADABLE',
              `reading the broker's request counts failed (exit ${code}): ${errors.trim().split('\n').slice(-3).join(' ')}`,
            ),
          ),
    );
  });
  return JSON.parse(output.trim()) as Record<string, number>;
}

export function brokerConfigInput(settings: KafkaSettings, security?: BrokerSecurity): BrokerConfigInput {
  return {
    host: settings.host,
    port: settings.port,
    controllerPort: settings.controllerPort,
    dataDir: settings.layout.dataDir,
    ...(security === undefined ? {} : { security }),
  };
}

export function javaBinary(env: Env): string {
  const home = env['JAVA_HOME']?.trim();
  return home ? join(home, 'bin', 'java') : 'java';
}

export function prepareHome(settings: KafkaSettings, security?: BrokerSecurity): void {
  const { layout } = settings;
  const jars = existsSync(layout.libs) ? readdirSync(layout.libs) : [];
  if (!jars.some((name) => /^kafka_2\.13-.*\.jar$/.test(name))) {
    throw new WritError('KAFKA_NOT_INSTALLED', `no Kafka jars in ${layout.libs}: run ./dev setup (deploy/local/toolchain.sh resolves them from Maven Central)`);
  }
  for (const dir of [layout.configDir, layout.dataDir, layout.logsDir]) mkdirSync(dir, { recursive: true });
  // 0600: with SASL it holds the super user's password.
  writeFileSync(layout.serverProperties, renderServerProperties(brokerConfigInput(settings, security)), { mode: 0o600 });
  chmodSync(layout.serverProperties, 0o600);
  writeFileSync(layout.log4jConfig, renderLog4j2Config());
}

/** KRaft storage is formatted once per data folder; meta.properties is the marker. */
export async function formatStorageOnce(settings: KafkaSettings): Promise<void> {
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
export function rotateLog(logFile: string): void {
  if (existsSync(logFile) && statSync(logFile).size > 0) renameSync(logFile, `${logFile}.1`);
}

export async function spawnBroker(settings: KafkaSettings): Promise<ChildProcess> {
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

export function exitOf(child: ChildProcess): string | undefined {
  if (child.exitCode !== null) return `exit code ${child.exitCode}`;
  if (child.signalCode !== null) return `signal ${child.signalCode}`;
  return undefined;
}

/**
 * Polls until a metadata request is answered: a cheap TCP connect first (the port opens a few
 * seconds into the JVM's start), then probeBrokers. Fails at once, with the log's last lines,
 * when the process dies, and at the deadline otherwise.
 */
export async function waitUntilReady(
  settings: KafkaSettings,
  pid: number,
  exited: () => string | undefined,
  deadline: number,
  sasl: KafkaSasl | null,
): Promise<void> {
  const brokers = localBrokers(settings);
  const { logFile } = settings.layout;
  let lastProblem = 'the port is not open yet';
  for (;;) {
    const exit = exited();
    if (exit !== undefined) {
      throw new WritError('KAFKA_START_FAILED', `the broker (pid ${pid}) stopped before answering (${exit}); from ${logFile}:\n${logExcerpt(logFile)}`);
    }
    const left = deadline - Date.now();
    if (left <= 0) break;
    if (await portAccepts(settings.host, settings.port, Math.min(1_000, left))) {
      try {
        await probeBrokers(brokers, Math.max(500, Math.min(3_000, deadline - Date.now())), sasl);
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

export function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

export async function exitedWithin(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!isRunning(pid)) return true;
    await pause(100);
  }
  return !isRunning(pid);
}

export function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}
