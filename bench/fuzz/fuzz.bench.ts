// Fuzz run of the public API (not a test): a real gateway (services/gateway/dist/main.js, booted
// by runService like in production, with its strict JSON door) on the broker, and a few minutes
// of seeded random and mutated requests: bodies (byte flips, truncations, raw invalid UTF-8, lone
// surrogates, duplicate keys, huge numbers, deep nesting, long strings, large bodies), headers,
// content types, paths and methods. Prints the figures (requests, statuses, mutations) and saves
// every 5xx with its request under .local/fuzz/ for replay (send() of @writ/testing); then checks
// that the gateway still answers /health/ready and a valid proposal. Replaces the "Fuzz" section
// of docs/benchmarks.md. A broker of its own starts on 127.0.0.1:27592 (like the pipeline bench).
// From the repository root, after ./dev build:
//   node --conditions=writ-source bench/fuzz/fuzz.bench.ts
// BENCH_SECONDS (180), BENCH_SEED (1), BENCH_CONCURRENCY (8) and BENCH_NO_DOC=1 (print only)
// change what it does.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { acquireKafka, actAsSuperUser, provisionTopology } from '@writ/devstack';
import { hashApiKey } from '@writ/directory';
import { freePort, jsonRequest, replayable, runFuzz, send, testKafkaCredentials } from '@writ/testing';
import type { FuzzReport, FuzzRequest } from '@writ/testing';
import { ROOT, machineLine, removeWorkDir, writeBenchmarkSection } from '../bench-doc.ts';

const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 180);
const FIRST_SEED = Number(process.env['BENCH_SEED'] ?? 1);
const CONCURRENCY = Number(process.env['BENCH_CONCURRENCY'] ?? 8);
const BATCH = 2_000;
const LIMITS = { maxBytes: 1_048_576, maxDepth: 32, maxStringLength: 65_536 };

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'writ-fuzz-'));
  mkdirSync(join(work, 'kafka'), { recursive: true });
  const kafka = await acquireKafka('bench', { home: join(work, 'kafka'), port: 27592, controllerPort: 27593 });
  // The local broker runs with SASL: the bench and its gateway authenticate as the provisioning user.
  actAsSuperUser(kafka.secretsDir);
  await provisionTopology(kafka.brokers);
  const brokers = kafka.brokers.join(',');
  const key = `key-fuzz-${randomBytes(12).toString('hex')}`;
  const tenant = `fuzz_${randomBytes(4).toString('hex')}`;
  writeFileSync(
    join(work, 'directory.json'),
    JSON.stringify({
      agents: [{ id: 'fuzz-bot', tenant, role: 'support', owner: 'fuzz-owner', api_key_sha256: hashApiKey(key) }],
      users: [{ id: 'fuzz-owner', tenant, role: 'manager', roles: ['approver'], api_key_sha256: hashApiKey(`${key}-owner`) }],
    }),
  );
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const gateway = spawn(process.execPath, [join(ROOT, 'services', 'gateway', 'dist', 'main.js')], {
    env: {
      PATH: process.env['PATH'] ?? '',
      ...testKafkaCredentials(),
      WRIT_KAFKA_BROKERS: brokers,
      WRIT_HTTP_PORT: String(port),
      WRIT_LOG_FORMAT: 'text',
      WRIT_KAFKA_GROUP_ID: `writ.gateway.fuzz.${randomBytes(4).toString('hex')}`,
      WRIT_DIRECTORY_FILE: join(work, 'directory.json'),
      WRIT_TOOLS_DIR: join(ROOT, 'tools'),
      WRIT_TENANT_KEYS_DIR: join(work, 'keys'),
      WRIT_GATEWAY_SYNC_WAIT_MS: '200',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  gateway.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  gateway.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const agent = new Agent({ keepAlive: true });
  const auth = { authorization: `Bearer ${key}` };
  try {
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (gateway.exitCode !== null) throw new Error(`the gateway exited (${gateway.exitCode}):\n${output}`);
      const ready = await send(url, jsonRequest('GET', '/health/ready', undefined), agent, 2_000);
      if (ready?.status === 200) break;
      if (Date.now() > deadline) throw new Error(`the gateway did not get ready:\n${output}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    const run = await send(url, jsonRequest('POST', '/v1/runs', { goal: 'fuzz', limits: { max_steps: 1_000_000 } }, auth), agent);
    if (run?.status !== 201) throw new Error(`cannot open a run: ${run?.status} ${run?.text}`);
    const runId = (JSON.parse(run.text) as { run_id: string }).run_id;
    const refund = { ticket_id: 'T-1', customer_id: 'C-1', amount_cents: 500, ticket_tags: ['refund_approved'], reason: 'charged twice', card_last4: '4242' };
    const seeds: FuzzRequest[] = [
      jsonRequest('POST', '/v1/runs', { goal: 'fuzz', limits: { max_steps: 10 } }, auth),
      jsonRequest('POST', `/v1/runs/${runId}/actions`, { tool: 'refunds.issue', arguments: refund, reason: 'fuzz', idempotency_key: 'fuzz-1' }, auth),
      jsonRequest('GET', `/v1/runs/${runId}`, undefined, auth),
      jsonRequest('GET', '/v1/approvals', undefined, auth),
      jsonRequest('POST', '/v1/approvals/00000000-0000-7000-8000-000000000000', { decision: 'approve', reason: 'ok' }, auth),
      jsonRequest('GET', '/v1/actions/00000000-0000-7000-8000-000000000000', undefined, auth),
      jsonRequest('PUT', '/v1/controls/kill-switch', { engaged: false, reason: 'fuzz' }, auth),
      jsonRequest('GET', '/v1/openapi.json', undefined),
      jsonRequest('GET', '/health/ready', undefined),
    ];

    const reports: FuzzReport[] = [];
    const started = Date.now();
    for (let seed = FIRST_SEED; Date.now() - started < SECONDS * 1_000; seed += 1) {
      reports.push(await runFuzz({ baseUrl: url, seeds, count: BATCH, seed, concurrency: CONCURRENCY, limits: LIMITS }));
      if (gateway.exitCode !== null) break;
    }
    const seconds = (Date.now() - started) / 1_000;
    const sum = (pick: (r: FuzzReport) => Readonly<Record<string, number>>): Record<string, number> => {
      const total: Record<string, number> = {};
      for (const report of reports) for (const [k, v] of Object.entries(pick(report))) total[k] = (total[k] ?? 0) + v;
      return total;
    };
    const byStatus = sum((r) => r.byStatus);
    const byMutation = sum((r) => r.byMutation);
    const requests = reports.reduce((n, r) => n + r.requests, 0);
    const unsendable = reports.reduce((n, r) => n + r.unsendable, 0);
    const noAnswer = reports.reduce((n, r) => n + r.noAnswer, 0);
    const failures = reports.flatMap((r) => r.serverErrors.map((f) => ({ seed: r.seed, failure: f })));
    const saved: string[] = [];
    if (failures.length > 0) {
      const dir = join(ROOT, '.local', 'fuzz');
      mkdirSync(dir, { recursive: true });
      failures.forEach(({ seed, failure }, n) => {
        const file = join(dir, `seed-${seed}-${n}.json`);
        writeFileSync(file, replayable(failure));
        saved.push(file);
      });
    }
    const ready = await send(url, jsonRequest('GET', '/health/ready', undefined), agent);
    const after = await send(
      url,
      jsonRequest(
        'POST',
        `/v1/runs/${runId}/actions`,
        { tool: 'refunds.issue', arguments: refund, reason: 'after', idempotency_key: `after-${Date.now()}` },
        auth,
      ),
      agent,
    );

    const statuses = Object.entries(byStatus).sort(([a], [b]) => Number(a) - Number(b));
    const mutations = Object.entries(byMutation).sort(([, a], [, b]) => b - a);
    const lines = [
      `requests: ${requests} in ${seconds.toFixed(0)} s (${(requests / seconds).toFixed(0)}/s, ${CONCURRENCY} at a time), seeds ${FIRST_SEED}..${FIRST_SEED + reports.length - 1}`,
      `statuses: ${statuses.map(([s, n]) => `${s}: ${n}`).join(', ')}; not sendable by node:http: ${unsendable}; closed without an answer: ${noAnswer}`,
      `5xx: ${failures.length}${saved.length > 0 ? ` (saved: ${saved.join(', ')})` : ''}`,
      `afterwards: /health/ready ${ready?.status}, a valid proposal ${after?.status}`,
      `mutations: ${mutations.map(([m, n]) => `${m} ${n}`).join(', ')}`,
    ];
    for (const line of lines) process.stdout.write(`${line}\n`);

    if (process.env['BENCH_NO_DOC'] !== '1') {
      const text = [
        '## Fuzz',
        '',
        `Measured on ${machineLine()}, ${new Date().toISOString().slice(0, 10)}: \`./dev bench fuzz\` (BENCH_SECONDS=${SECONDS}).`,
        'One gateway (dist/main.js, default limits) on a local broker, seeded random and mutated requests',
        'over node:http (see bench/fuzz/fuzz.bench.ts and libs/testing/src/http-fuzz.ts).',
        '',
        ...lines.map((line) => `- ${line}`),
        '',
      ].join('\n');
      process.stdout.write(`wrote ${await writeBenchmarkSection('Fuzz', text)}\n`);
    }
    if (failures.length > 0 || ready?.status !== 200 || after?.status !== 202) process.exitCode = 1;
  } finally {
    agent.destroy();
    gateway.kill('SIGTERM');
    await new Promise((resolve) => (gateway.exitCode === null ? gateway.once('exit', resolve) : resolve(undefined)));
    await kafka.release();
    removeWorkDir(work);
  }
}

await main();
