// Model proxy benchmark (issue 13, "Model proxy"): side by side in one run, on the same simulated
// OpenAI-compatible provider (a node HTTP server in this process, answering at once with fixed
// tokens), a direct call, LiteLLM's proxy (pip-installed into .local/bench by this bench, pinned) and
// Writ's model proxy (the whole stack: every call a governed action, durably budgeted and ledgered).
// Figures: latency one request at a time, and at 200 requests/s (open loop), each minus the direct
// call's (the added latency); then the highest rate each sustains. Replaces the "Model proxy" section
// of docs/benchmarks.md. From the repository root:
//   ./dev bench models        (or node --conditions=writ-source bench/models/models.bench.ts after ./dev build)
// BENCH_SERIAL (200 calls), BENCH_RATE_SECONDS (10), BENCH_NO_DOC=1 (print only), BENCH_NO_LITELLM=1,
// BENCH_ONE_AT_A_TIME=1 (only the calls one at a time; print only), BENCH_STACK_ENV (variables for
// Writ's services, for an A/B run of a setting: bench/bench-doc.ts).
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { acquireKafka, actAsSuperUser, provisionTopology, startWritStack } from '@writ/devstack';
import type { WritStack } from '@writ/devstack';
import { parseModelCatalogue, writeModelTools } from '@writ/model-proxy';
import { WritClient } from '@writ/sdk';
import { writeLargeBudgets } from '../../test/e2e/fault-run.ts';
import { kafkaChainFloor } from '../floor.ts';
import type { FloorResult } from '../floor.ts';
import { ROOT, machineLine, percentile, removeWorkDir, stackEnvOverrides, writeBenchmarkSection } from '../bench-doc.ts';

const LITELLM_VERSION = '1.80.0';
const SERIAL = Number(process.env['BENCH_SERIAL'] ?? 200);
const RATE_SECONDS = Number(process.env['BENCH_RATE_SECONDS'] ?? 10);
const BASE_PORT = 27280;
const KAFKA = { port: 27892, controllerPort: 27893 } as const;
const PROVIDER_PORT = BASE_PORT + 15;
const LITELLM_PORT = BASE_PORT + 16;
const PROVIDER_KEY = 'bench-provider-key';
const DOOR_TOKEN = 'bench-model-door-token';
const STEPS = [50, 100, 200, 400, 800];

const say = (line: string) => console.log(`[models] ${line}`);
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const ms = (value: number) => (Number.isNaN(value) ? '—' : `${value.toFixed(1)} ms`);

const BODY = { model: 'sim-small', messages: [{ role: 'user', content: 'Say hello.' }], max_tokens: 16 };

function startProvider(): Promise<Server> {
  const answer = JSON.stringify({
    id: 'chatcmpl-bench',
    object: 'chat.completion',
    created: 1,
    model: 'small-1',
    choices: [{ index: 0, message: { role: 'assistant', content: 'Hello.' }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 10, completion_tokens: 2, total_tokens: 12 },
  });
  const server = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(answer);
    });
  });
  server.keepAliveTimeout = 60_000;
  return new Promise((resolve) => server.listen(PROVIDER_PORT, '127.0.0.1', () => resolve(server)));
}

interface Target {
  readonly name: string;
  /** true, or why the call failed (its HTTP status and error code). */
  readonly call: () => Promise<true | string>;
}

function target(name: string, url: string, headers: Record<string, string>): Target {
  return {
    name,
    call: async () => {
      const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(BODY) });
      const text = await response.text();
      if (response.status === 200 && text.includes('Hello.')) return true;
      const code = /"code"\s*:\s*"([A-Za-z_]+)"/.exec(text)?.[1];
      return `HTTP ${response.status}${code === undefined ? '' : ` ${code}`}`;
    },
  };
}

/** Why calls failed, counted over the whole run (printed after the tables). */
const failures = new Map<string, number>();

async function timed(t: Target): Promise<number> {
  const started = performance.now();
  const outcome = await t.call().catch((error: unknown) => {
    // fetch's own failures name what happened in their cause (a connect timeout, a reset).
    const cause = error instanceof Error ? (error.cause as { code?: unknown; name?: unknown } | undefined) : undefined;
    const detail = typeof cause?.code === 'string' ? cause.code : typeof cause?.name === 'string' ? cause.name : undefined;
    return `${error instanceof Error ? error.message : String(error)}${detail === undefined ? '' : ` (${detail})`}`;
  });
  if (outcome === true) return performance.now() - started;
  const why = `${t.name}: ${outcome}`;
  failures.set(why, (failures.get(why) ?? 0) + 1);
  return Number.NaN;
}

interface Figures {
  readonly p50: number;
  readonly p99: number;
  readonly failed: number;
  readonly achieved: number;
}

function figures(latencies: readonly number[], seconds: number): Figures {
  const ok = latencies.filter((value) => !Number.isNaN(value)).sort((a, b) => a - b);
  return { p50: percentile(ok, 50), p99: percentile(ok, 99), failed: latencies.length - ok.length, achieved: ok.length / seconds };
}

async function serial(t: Target, n: number): Promise<Figures> {
  const latencies: number[] = [];
  const started = performance.now();
  for (let i = 0; i < n; i += 1) latencies.push(await timed(t));
  return figures(latencies, (performance.now() - started) / 1000);
}

/** Offers `rate` calls a second for `seconds` (open loop: a call starts on time whether or not the last one ended). */
async function openLoop(t: Target, rate: number, seconds: number): Promise<Figures> {
  const total = Math.round(rate * seconds);
  const started = performance.now();
  const calls: Promise<number>[] = [];
  for (let i = 0; i < total; i += 1) {
    const due = started + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await pause(wait);
    calls.push(timed(t));
  }
  const latencies = await Promise.all(calls);
  return figures(latencies, (performance.now() - started) / 1000);
}

/** The highest step whose calls all succeeded, at 95 % of the offered rate or more, with p99 under a second. */
async function highestSustained(t: Target): Promise<{ rate: number; at: Figures | undefined }> {
  let best: { rate: number; at: Figures | undefined } = { rate: 0, at: undefined };
  for (const rate of STEPS) {
    const f = await openLoop(t, rate, 5);
    say(`  ${t.name} at ${rate}/s: ${f.achieved.toFixed(0)}/s done, p50 ${ms(f.p50)}, p99 ${ms(f.p99)}, ${f.failed} failed`);
    if (f.failed > 0 || f.achieved < rate * 0.95 || !(f.p99 < 1_000)) break;
    best = { rate, at: f };
    await pause(1_000);
  }
  return best;
}

function installLiteLlm(): string {
  const venv = join(ROOT, '.local', 'bench', `litellm-${LITELLM_VERSION}`);
  const bin = join(venv, 'bin', 'litellm');
  if (existsSync(bin)) return bin;
  say(`installing LiteLLM ${LITELLM_VERSION} from PyPI into ${venv}`);
  mkdirSync(join(ROOT, '.local', 'bench'), { recursive: true });
  for (const [cmd, args] of [
    ['python3', ['-m', 'venv', venv]],
    [join(venv, 'bin', 'pip'), ['install', '-q', `litellm[proxy]==${LITELLM_VERSION}`]],
  ] as const) {
    const run = spawnSync(cmd, [...args], { stdio: 'inherit' });
    if (run.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed`);
  }
  return bin;
}

async function startLiteLlm(workDir: string): Promise<ChildProcess> {
  const bin = installLiteLlm();
  const config = join(workDir, 'litellm.yaml');
  writeFileSync(
    config,
    [
      'model_list:',
      '  - model_name: sim-small',
      '    litellm_params:',
      '      model: openai/small-1',
      `      api_base: http://127.0.0.1:${PROVIDER_PORT}/v1`,
      `      api_key: ${PROVIDER_KEY}`,
      'litellm_settings:',
      '  telemetry: false',
      '',
    ].join('\n'),
  );
  const child = spawn(bin, ['--config', config, '--host', '127.0.0.1', '--port', String(LITELLM_PORT), '--num_workers', '1'], {
    stdio: ['ignore', 'ignore', 'ignore'],
    env: { ...process.env, LITELLM_TELEMETRY: 'False', LITELLM_LOCAL_MODEL_COST_MAP: 'True' },
  });
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    const ok = await fetch(`http://127.0.0.1:${LITELLM_PORT}/health/liveliness`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return child;
    await pause(500);
  }
  child.kill('SIGTERM');
  throw new Error('LiteLLM did not start within 120 s');
}

async function startWrit(workDir: string): Promise<{ stack: WritStack; brokers: readonly string[]; release: () => Promise<void>; runId: string; key: string }> {
  const models = {
    providers: { sim: { base_url: `http://127.0.0.1:${PROVIDER_PORT}/v1`, credential: { env: 'WRIT_BENCH_PROVIDER_KEY' } } },
    models: {
      'sim-small': {
        provider: 'sim',
        upstream_model: 'small-1',
        tier: 'small',
        currency: 'USD',
        input_micros_per_million: 150_000,
        output_micros_per_million: 600_000,
        context_tokens: 16_000,
        max_output_tokens: 1_000,
      },
    },
  };
  writeFileSync(join(workDir, 'models.json'), JSON.stringify(models));
  const toolsDir = join(workDir, 'tools');
  cpSync(join(ROOT, 'tools'), toolsDir, { recursive: true });
  writeModelTools(parseModelCatalogue(models), toolsDir);
  mkdirSync(join(workDir, 'kafka'), { recursive: true });
  const kafka = await acquireKafka('bench-models', { home: join(workDir, 'kafka'), ...KAFKA });
  actAsSuperUser(kafka.secretsDir);
  let stack: WritStack;
  try {
    await provisionTopology(kafka.brokers);
    stack = await startWritStack({
      root: ROOT,
      brokers: kafka.brokers,
      workDir,
      basePort: BASE_PORT,
      env: {
        WRIT_BUDGET_LIMITS_FILE: writeLargeBudgets(workDir),
        WRIT_TOOLS_DIR: toolsDir,
        WRIT_MODELS_FILE: join(workDir, 'models.json'),
        WRIT_GATEWAY_EXECUTOR_URL: `http://127.0.0.1:${BASE_PORT + 4}`,
        WRIT_MODEL_DOOR_TOKEN: DOOR_TOKEN,
        WRIT_BENCH_PROVIDER_KEY: PROVIDER_KEY,
        ...stackEnvOverrides(),
      },
      log: (line) => console.log(`  ${line}`),
    });
  } catch (error) {
    await kafka.release();
    throw error;
  }
  const keys = (JSON.parse(readFileSync(join(ROOT, 'deploy', 'demo', 'keys.json'), 'utf8')) as { demoKeys: Record<string, string> }).demoKeys;
  const key = keys['triage-bot'] ?? '';
  const { run_id: runId } = await new WritClient(stack.gatewayUrl, key).openRun('model proxy bench');
  return {
    stack,
    brokers: kafka.brokers,
    runId,
    key,
    release: async () => {
      await stack.stop();
      await kafka.release();
    },
  };
}

function row(name: string, f: Figures, direct: Figures): string {
  return `| ${name} | ${ms(f.p50)} | ${ms(f.p99)} | ${ms(f.p50 - direct.p50)} | ${ms(f.p99 - direct.p99)} | ${f.failed} |`;
}

/** Kafka hops a governed call crosses before the provider is called: gateway → policy ∥ budget → planner → executor. */
const HOPS_TO_CALL = 3;

async function main(): Promise<void> {
  const machine = machineLine();
  const onlyOneAtATime = process.env['BENCH_ONE_AT_A_TIME'] === '1';
  const workDir = mkdtempSync(join(tmpdir(), 'writ-bench-models-'));
  say(`machine: ${machine}; work dir ${workDir}`);
  const provider = await startProvider();
  const litellm = process.env['BENCH_NO_LITELLM'] === '1' ? undefined : await startLiteLlm(workDir);
  const writ = await startWrit(workDir);
  try {
    const targets: Target[] = [
      target('direct', `http://127.0.0.1:${PROVIDER_PORT}/v1/chat/completions`, { authorization: `Bearer ${PROVIDER_KEY}` }),
      ...(litellm === undefined ? [] : [target(`LiteLLM ${LITELLM_VERSION}`, `http://127.0.0.1:${LITELLM_PORT}/v1/chat/completions`, {})]),
      target('Writ', `${writ.stack.gatewayUrl}/v1/chat/completions`, { authorization: `Bearer ${writ.key}`, 'x-writ-run': writ.runId }),
    ];
    // Warm-up: connections, JIT, the first run's caches.
    for (const t of targets) for (let i = 0; i < 30; i += 1) await timed(t);
    failures.clear();
    // The floor, on Writ's broker in the same run: the bare Kafka hops the call crosses before the provider.
    const floors = [
      await kafkaChainFloor({ brokers: writ.brokers, hops: HOPS_TO_CALL, transactional: false, samples: 100, label: 'models_plain' }),
      await kafkaChainFloor({ brokers: writ.brokers, hops: HOPS_TO_CALL, transactional: true, samples: 100, label: 'models_tx' }),
    ];
    const [plainFloor, txFloor] = floors as [FloorResult, FloorResult];
    say(`floor: ${HOPS_TO_CALL} bare Kafka hops p50 ${ms(plainFloor.p50)}; every hop after the first a transaction p50 ${ms(txFloor.p50)}`);
    const one: Figures[] = [];
    for (const t of targets) {
      one.push(await serial(t, SERIAL));
      say(`one at a time, ${t.name}: p50 ${ms(one.at(-1)?.p50 ?? NaN)}, p99 ${ms(one.at(-1)?.p99 ?? NaN)}`);
    }
    if (onlyOneAtATime) return;
    const at200: Figures[] = [];
    for (const t of targets) {
      at200.push(await openLoop(t, 200, RATE_SECONDS));
      say(`at 200/s, ${t.name}: p50 ${ms(at200.at(-1)?.p50 ?? NaN)}, p99 ${ms(at200.at(-1)?.p99 ?? NaN)}, ${at200.at(-1)?.failed} failed`);
      await pause(2_000);
    }
    const sustained: { rate: number }[] = [];
    for (const t of targets) {
      sustained.push(await highestSustained(t));
      await pause(2_000);
    }
    const direct1 = one[0] as Figures;
    const direct200 = at200[0] as Figures;
    const date = new Date().toISOString().slice(0, 10);
    const text = [
      '## Model proxy',
      '',
      `Measured ${date} on ${machine} with \`./dev bench models\` (\`bench/models/models.bench.ts\`): one simulated`,
      'OpenAI-compatible provider (a node HTTP server in the bench process, answering at once with a fixed',
      "completion and usage), called directly, through LiteLLM's proxy (`litellm[proxy]==" + LITELLM_VERSION + '` from PyPI, one worker,',
      "no database, so no spend tracking) and through Writ's model proxy (the whole local stack, one process per service,",
      "every call a governed action: proposal, Cedar decision, budget reservation, the executor's call, settlement, the",
      'ledger). Non-streaming calls of 16 tokens at most; the client, the provider, LiteLLM and all of Writ share the',
      'machine\'s cores, so every figure includes their contention. "Added" is the figure minus the direct call\'s.',
      '',
      `One call at a time (${SERIAL} calls after a warm-up), and the floor of Writ's path on the same broker in the same run:`,
      '',
      '| path | p50 | p99 | added p50 | added p99 | failed |',
      '|---|---|---|---|---|---|',
      ...targets.map((t, i) => row(t.name, one[i] as Figures, direct1)),
      `| floor: a bare chain of ${HOPS_TO_CALL} Kafka hops (acks=all, one event at a time; no service, no call) | ${ms(plainFloor.p50)} | ${ms(plainFloor.p99)} | | | |`,
      `| floor with every hop after the first a transaction (as the accountant's and the planner's) | ${ms(txFloor.p50)} | ${ms(txFloor.p99)} | | | |`,
      '',
      `At 200 calls/s offered (open loop, ${RATE_SECONDS} s):`,
      '',
      '| path | p50 | p99 | added p50 | added p99 | failed |',
      '|---|---|---|---|---|---|',
      ...targets.map((t, i) => row(t.name, at200[i] as Figures, direct200)),
      '',
      'A call Writ failed at that rate is one it shed: answered 429 `MODEL_CALLS_EXCEEDED` with `Retry-After` at once,',
      'before anything was proposed, so that the calls it let in do not queue behind them (`docs/model-proxy.md`, "Load',
      'shedding"); its p50 and p99 are those of the calls it answered. LiteLLM queues every call.',
      '',
      `Highest rate sustained (steps of ${STEPS.join(', ')} calls/s for 5 s each; sustained: every call answered 200, at least`,
      '95 % of the offered rate completed, p99 under a second): ' +
        targets.map((t, i) => `${t.name} ${sustained[i]?.rate === 0 ? `under ${STEPS[0]}` : String(sustained[i]?.rate)}/s`).join(', ') +
        '.',
      '',
      failures.size === 0 ? 'No call failed.' : `Why calls failed (all runs above): ${[...failures].map(([why, n]) => `${why} ×${n}`).join('; ')}.`,
      '',
      "What bounds each figure: the direct call, the bench's own client and provider in one node process; LiteLLM, its",
      "single Python worker; Writ, the pipeline's hops through Kafka to the call (gateway → policy ∥ budget → planner →",
      'executor, each a produce and a consume, two of them transactions: `docs/benchmarks.md` "Pipeline"), then the',
      "executor's ActionExecuted acknowledged by the broker before the answer is released (the gateway answers on the",
      "executor's word at the end of its relay, without waiting for the planner's ActionCompleted), and the processes",
      'sharing the cores — the price of a call that is decided, reserved and recorded before its answer is released.',
      'LiteLLM records none of that. Writ\'s figures are those of its pipeline: the "Pipeline" section above measures',
      'the same path for a tool call on this box (propose → tool called one at a time, and the highest rate it',
      'sustains); the model proxy adds to it the hand-over of the body to the executor and the relay of the answer.',
      ...verdict(targets, one, direct1, plainFloor, txFloor),
      '',
    ].join('\n');
    console.log(text);
    if (process.env['BENCH_NO_DOC'] !== '1') say(`wrote ${await writeBenchmarkSection('Model proxy', text)}`);
  } finally {
    await writ.release();
    litellm?.kill('SIGTERM');
    await new Promise((resolve) => provider.close(resolve));
    removeWorkDir(workDir, say);
  }
}

/** Issue 13's aim, one call at a time, as this run measured it: Writ's added p50 against LiteLLM's and the floor. */
function verdict(targets: readonly Target[], one: readonly Figures[], direct: Figures, plain: FloorResult, tx: FloorResult): string[] {
  const litellmAt = targets.findIndex((t) => t.name.startsWith('LiteLLM'));
  const writ = one.at(-1) as Figures;
  const added = writ.p50 - direct.p50;
  if (litellmAt < 0) return [`Writ's added latency one at a time: ${ms(added)} p50 (LiteLLM not measured in this run).`];
  const litellm = (one[litellmAt] as Figures).p50 - direct.p50;
  const met = added <= litellm;
  return [
    `The aim of issue 13 (Writ's added latency no more than LiteLLM's), one call at a time: ${met ? 'met' : 'not met'} on this machine in`,
    `this run (added p50 ${ms(added)} against ${ms(litellm)}). The floor of Writ's path alone, ${HOPS_TO_CALL} bare Kafka hops with no`,
    `service and no call, is ${ms(plain.p50)} p50 (${ms(tx.p50)} with the accountant's and the planner's hops transactions):`,
    `${plain.p50 > litellm ? 'more than LiteLLM adds in all' : 'within what LiteLLM adds'}, before Writ decides, reserves, calls or records anything.`,
  ];
}

await main();
