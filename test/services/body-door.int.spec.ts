// The ledger's and the policy service's HTTP doors, booted for real (dist/main.js through
// runService, the real broker): every rule of the strict JSON body is answered 4xx naming it, in
// the same `{ error: { code, message, field, rule } }` shape as the gateway (whose door is tested
// in services/gateway/src/input-limits.int.spec.ts), before any guard, filter or handler.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSigningKey } from '@writ/crypto';
import { stopChild } from '@writ/devstack';
import { BODY_DOOR_LIMITS, bodyDoorCases, freePort, send, testKafkaBrokers, testKafkaCredentials, uniqueName, waitFor } from '@writ/testing';

const root = fileURLToPath(new URL('../../', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'writ-body-door-'));
const agent = new Agent({ keepAlive: true });
const children: ReturnType<typeof spawn>[] = [];

async function boot(service: string, env: Record<string, string>): Promise<string> {
  const entry = join(root, 'services', service, 'dist', 'main.js');
  if (!existsSync(entry)) throw new Error(`${entry} is missing: build first (./dev build)`);
  const port = await freePort();
  const child = spawn(process.execPath, [entry], {
    // The test broker's credentials (WRIT_KAFKA_SASL_*, set by the global setup when it runs with SASL).
    env: {
      PATH: process.env['PATH'] ?? '',
      ...testKafkaCredentials(),
      WRIT_KAFKA_BROKERS: testKafkaBrokers().join(','),
      WRIT_HTTP_PORT: String(port),
      WRIT_LOG_FORMAT: 'text',
      ...BODY_DOOR_LIMITS,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const url = `http://127.0.0.1:${port}`;
  await waitFor(
    async () => {
      if (child.exitCode !== null) throw new Error(`${service} exited with code ${child.exitCode}:\n${output}`);
      return (await fetch(`${url}/health`).catch(() => undefined))?.ok === true ? true : undefined;
    },
    { timeoutMs: 60_000, what: () => `${service} health; output so far:\n${output}` },
  );
  return url;
}

const urls: Record<string, string> = {};

beforeAll(async () => {
  const key = generateSigningKey('warrant-door');
  const keyPath = join(work, 'warrant-door.pem');
  writeFileSync(keyPath, key.exportPrivateKeyPem(), { mode: 0o600 });
  writeFileSync(join(work, 'directory.json'), JSON.stringify({ agents: [], users: [] }));
  const [ledger, policy] = await Promise.all([
    boot('ledger', {
      WRIT_KAFKA_GROUP_ID: uniqueName('door_ledger'),
      // Only its own (empty) tenants' chains: other tests leave broken chains on the shared topics.
      WRIT_LEDGER_TENANTS: `${uniqueName('door')}*`,
      WRIT_CHDB_PATH: join(work, 'chdb'),
      WRIT_TOOLS_DIR: join(root, 'tools'),
      WRIT_DIRECTORY_FILE: join(work, 'directory.json'),
    }),
    boot('policy', {
      WRIT_KAFKA_GROUP_ID: uniqueName('door_policy'),
      WRIT_POLICY_DIR: join(root, 'policies'),
      WRIT_POLICY_BOOTSTRAP: 'differs',
      WRIT_TOOLS_DIR: join(root, 'tools'),
      WRIT_DIRECTORY_FILE: join(work, 'directory.json'),
      WRIT_POLICY_SIGNING_KEY: keyPath,
      WRIT_POLICY_TENANTS: uniqueName('nobody'),
    }),
  ]);
  urls['ledger'] = ledger;
  urls['policy'] = policy;
}, 120_000);

afterAll(async () => {
  agent.destroy();
  // Waited for, and killed if SIGTERM is not enough: no service of this file outlives it.
  await Promise.all(children.map((child) => stopChild(child)));
}, 30_000);

const DOORS = [
  ['ledger', 'POST', '/v1/query'],
  ['policy', 'POST', '/v1/decide'],
] as const;

describe.each(DOORS)('the %s door (%s %s)', (service, method, path) => {
  it.each(bodyDoorCases(method, path).map((c) => [c.name, c] as const))('refuses %s naming the rule', async (_, door) => {
    const answer = await send(urls[service] ?? '', door.request, agent);
    expect(answer?.status).toBe(door.status);
    const body = JSON.parse(answer?.text ?? '') as { error?: Record<string, unknown> };
    expect(body.error).toMatchObject({ code: 'REQUEST_INVALID', rule: door.rule, field: door.field });
    expect(body.error?.['message']).toEqual(expect.any(String));
  });
});
