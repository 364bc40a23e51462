import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { probeBrokers } from '@writ/bus';
import { isWritError } from '@writ/errors';
import { acquireKafka, kafkaDown, kafkaStatus, kafkaUp } from './kafka.ts';
import { isRunning } from './pid-file.ts';
import { loadAclTable } from './acl-table.ts';
import { loadAclTableWithKafkaDoor } from './kafka-door.ts';
import { superUserSasl } from './security.ts';
import { resolveKafkaSettings, writRoot } from './settings.ts';
import type { KafkaStackOptions } from './settings.ts';

// Each test runs its own broker in a temporary home on free ports, apart from the shared test
// broker the global setup provides; `env: {}` keeps the WRIT_KAFKA_BROKERS that setup exported out.
const libs = resolveKafkaSettings({ env: {} }).layout.libs;
const homes: KafkaStackOptions[] = [];

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

async function freshHome(): Promise<KafkaStackOptions> {
  const options: KafkaStackOptions = {
    home: mkdtempSync(join(tmpdir(), 'writ-kafka-')),
    libs,
    port: await freePort(),
    controllerPort: await freePort(),
    env: {},
  };
  homes.push(options);
  return options;
}

function superUser(options: KafkaStackOptions) {
  return superUserSasl(resolveKafkaSettings(options).layout.secretsDir, loadAclTable(writRoot()));
}

afterAll(async () => {
  for (const options of homes) {
    await kafkaDown(options).catch(() => undefined);
    rmSync(options.home ?? '', { recursive: true, force: true });
  }
});

describe('local Kafka broker', () => {
  it('starts once, is reused by the next kafkaUp, reports its status and stops by its pid', async () => {
    const options = await freshHome();
    const { layout } = resolveKafkaSettings(options);
    // A pid file naming a live process that is not the broker (this test) must be cleaned, not trusted.
    writeFileSync(layout.pidFile, `${process.pid}\n`);

    const first = await kafkaUp(options);
    console.info(`[devstack test] cold start (format + JVM + first metadata answer): ${(first.elapsedMs / 1000).toFixed(1)} s`);
    expect(first).toMatchObject({ started: true, external: false, brokers: [`127.0.0.1:${options.port}`] });
    expect(first.pid).not.toBe(process.pid);
    expect(first.elapsedMs).toBeLessThan(60_000);
    await expect(probeBrokers(first.brokers, 5_000, superUser(options))).resolves.toMatchObject({ topics: expect.any(Number) });
    // SASL and deny-by-default: no login, no answer.
    await expect(probeBrokers(first.brokers, 3_000, null)).rejects.toMatchObject({ code: 'KAFKA_UNREACHABLE' });
    expect(existsSync(join(layout.dataDir, 'meta.properties'))).toBe(true);
    expect(existsSync(layout.logFile)).toBe(true);

    const second = await kafkaUp(options);
    expect(second).toMatchObject({ started: false, pid: first.pid, brokers: first.brokers });

    const status = await kafkaStatus(options);
    expect(status).toMatchObject({ mode: 'local', running: true, healthy: true, pid: first.pid });

    // Asking the same home for other ports while it runs is a clear error, not a minute of waiting.
    const moved = await kafkaUp({ ...options, port: await freePort() }).catch((error: unknown) => error);
    expect(isWritError(moved, 'KAFKA_PORT_MISMATCH')).toBe(true);

    const down = await kafkaDown(options);
    expect(down).toMatchObject({ stopped: true, pid: first.pid, forced: false });
    expect(isRunning(first.pid ?? 0)).toBe(false);
    expect(existsSync(layout.pidFile)).toBe(false);
    expect(await kafkaStatus(options)).toMatchObject({ running: false, healthy: false });
    expect(await kafkaDown(options)).toMatchObject({ stopped: false, note: 'not running' });
  });

  it('stops a broker held by test runs when the last one releases it, and not before', async () => {
    const options = await freshHome();
    const first = await acquireKafka('first', options);
    const second = await acquireKafka('second', options);
    expect(first.started).toBe(true);
    expect(second).toMatchObject({ started: false, pid: first.pid });

    const early = await first.release();
    expect(early).toEqual({ stopped: false, reason: 'still held by 1 other test run(s)' });
    expect(isRunning(first.pid ?? 0)).toBe(true);

    const last = await second.release();
    expect(last.stopped).toBe(true);
    expect(last.reason).toContain('started by a test run that has finished');
    expect(isRunning(first.pid ?? 0)).toBe(false);
  });

  it('leaves a broker a person started (kafkaUp) running when a test run releases it', async () => {
    const options = await freshHome();
    const byPerson = await kafkaUp(options);
    const byTests = await acquireKafka('tests', options);
    expect(byTests).toMatchObject({ started: false, pid: byPerson.pid });
    expect(await byTests.release()).toEqual({ stopped: false, reason: 'not started by a test run' });
    expect(isRunning(byPerson.pid ?? 0)).toBe(true);
    expect(await kafkaDown(options)).toMatchObject({ stopped: true, pid: byPerson.pid });
  });

  it('fails with the tail of the log when the broker dies while starting', async () => {
    const options = await freshHome();
    // Hold the controller port so the broker cannot bind it and exits.
    const blocker: Server = createServer();
    await new Promise<void>((resolve) => blocker.listen(options.controllerPort, '127.0.0.1', resolve));
    try {
      const failure = await kafkaUp(options).catch((error: unknown) => error);
      expect(isWritError(failure, 'KAFKA_START_FAILED')).toBe(true);
      expect((failure as Error).message).toContain(`127.0.0.1:${options.controllerPort}: Address already in use`);
      expect(existsSync(resolveKafkaSettings(options).layout.pidFile)).toBe(false);
    } finally {
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
    }
  });

  it('restarts a broker that runs without SASL (started before it) with SASL, users and ACLs', async () => {
    const options = await freshHome();
    const plain = await kafkaUp({ ...options, security: 'none' });
    await expect(probeBrokers(plain.brokers, 5_000, null)).resolves.toMatchObject({ topics: expect.any(Number) });
    const { layout } = resolveKafkaSettings(options);
    const lines: string[] = [];
    const secured = await kafkaUp({ ...options, log: (line) => lines.push(line) });
    expect(secured).toMatchObject({ started: true, secretsDir: layout.secretsDir });
    expect(secured.pid).not.toBe(plain.pid);
    expect(isRunning(plain.pid ?? 0)).toBe(false);
    expect(lines.join('\n')).toMatch(/started with another configuration .*listener\.security\.protocol\.map|listeners/);
    // The six services and the demo's Kafka-door agents.
    const principals = Object.keys(loadAclTableWithKafkaDoor(writRoot()).principals).length;
    expect(principals).toBeGreaterThan(6);
    expect(lines.join('\n')).toMatch(new RegExp(`provisioned ${principals} SCRAM users, \\d+ ACLs`));
    await expect(probeBrokers(secured.brokers, 5_000, superUser(options))).resolves.toMatchObject({ topics: expect.any(Number) });
    const again = await kafkaUp(options);
    expect(again).toMatchObject({ started: false, pid: secured.pid });
  });

  it('does not start anything for an unreachable WRIT_KAFKA_BROKERS and fails fast with KAFKA_UNREACHABLE', async () => {
    const options = await freshHome();
    const env = { WRIT_KAFKA_BROKERS: '127.0.0.1:1' };
    const started = Date.now();
    const failure = await kafkaUp({ ...options, env }).catch((error: unknown) => error);
    expect(isWritError(failure, 'KAFKA_UNREACHABLE')).toBe(true);
    expect((failure as Error).message).toContain('cannot reach Kafka at 127.0.0.1:1');
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(existsSync(resolveKafkaSettings(options).layout.pidFile)).toBe(false);
    expect(await kafkaStatus({ ...options, env })).toMatchObject({ mode: 'external', healthy: false });
  });
});
