import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort, testKafkaBrokers, testKafkaCredentials, uniqueName, waitFor } from '@writ/testing';

const SERVICES = ['gateway', 'planner', 'policy', 'budget', 'executor', 'ledger'] as const;
const root = fileURLToPath(new URL('../../', import.meta.url));

interface Exit {
  code: number | null;
  stderr: string;
  elapsedMs: number;
}

const running = new Set<ReturnType<typeof spawn>>();

function start(service: string, env: Record<string, string>) {
  const entry = `${root}services/${service}/dist/main.js`;
  if (!existsSync(entry)) throw new Error(`${entry} is missing: build first (./dev build)`);
  const child = spawn(process.execPath, [entry], {
    env: { PATH: process.env['PATH'] ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  let stderr = '';
  let stdout = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  const t0 = Date.now();
  const exited = new Promise<Exit>((resolve) => {
    child.on('exit', (code) => {
      running.delete(child);
      resolve({ code, stderr, elapsedMs: Date.now() - t0 });
    });
  });
  return { child, exited, output: () => stdout + stderr };
}

afterEach(() => {
  for (const child of running) child.kill('SIGKILL');
});

describe('service boot', () => {
  it.each(SERVICES)('%s stops at boot naming a missing or malformed variable', async (service) => {
    const { exited } = start(service, { WRIT_KAFKA_BROKERS: 'not-a-broker-list', WRIT_HTTP_PORT: '99999' });
    const exit = await exited;
    expect(exit.code).toBe(78);
    expect(exit.stderr).toContain(`[${service}] invalid configuration`);
    expect(exit.stderr).toContain('WRIT_KAFKA_BROKERS must be a comma-separated list of host:port, got "not-a-broker-list"');
    expect(exit.stderr).toContain('WRIT_HTTP_PORT must be between 1 and 65535, got 99999');
  });

  it('exits non-zero with a clear error when the broker is unreachable, without hanging', async () => {
    const { exited } = start('planner', { WRIT_KAFKA_BROKERS: '127.0.0.1:1', WRIT_KAFKA_STARTUP_TIMEOUT_MS: '1500' });
    const exit = await exited;
    expect(exit.code).toBe(69);
    expect(exit.stderr).toContain('KAFKA_UNREACHABLE: cannot reach Kafka at 127.0.0.1:1');
    expect(exit.elapsedMs).toBeLessThan(15_000);
  });

  it('boots against the real broker and answers health and readiness', async () => {
    const port = await freePort();
    const { child, output } = start('ledger', {
      WRIT_KAFKA_BROKERS: testKafkaBrokers().join(','),
      ...testKafkaCredentials(),
      WRIT_DIRECTORY_FILE: join(root, 'deploy', 'demo', 'directory.json'),
      WRIT_HTTP_PORT: String(port),
      WRIT_LOG_FORMAT: 'text',
      // Its own consumer group, chains and chDB folder: nothing shared with other tests (the ACL
      // test writes sample ledger events to the shared broker) or the demo.
      WRIT_KAFKA_GROUP_ID: uniqueName('boot_ledger'),
      WRIT_LEDGER_TENANTS: `${uniqueName('boot')}*`,
      WRIT_CHDB_PATH: join(mkdtempSync(join(tmpdir(), 'writ-boot-')), 'chdb'),
    });
    const health = await waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`ledger exited with code ${child.exitCode}:\n${output()}`);
        const response = await fetch(`http://127.0.0.1:${port}/health`).catch(() => undefined);
        return response?.ok ? ((await response.json()) as Record<string, unknown>) : undefined;
      },
      { timeoutMs: 30_000, what: () => `ledger health on port ${port}; output so far:\n${output()}` },
    );
    expect(health).toMatchObject({ status: 'ok', service: 'ledger', version: '0.1.0' });
    const ready = (await (await fetch(`http://127.0.0.1:${port}/health/ready`)).json()) as Record<string, unknown>;
    expect(ready).toMatchObject({ status: 'ready', kafka: 'reachable' });
    child.kill('SIGTERM');
  });
});
