import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { withoutIdentifiers } from '@writ/testing';
import type { ControlChanged, ExecutionRequested } from '@writ/contracts';
import { newMetadata } from '@writ/contracts';
import { TenantDataKey, createKeyring, generateSigningKey, sha256Canonical, canonicalJson, sha256Hex } from '@writ/crypto';
import { memoryTenantKeys } from '@writ/crypto/testing';
import { ControlBoard, createToolRegistry, loadToolRegistry } from '@writ/tools';
import type { ToolDefinition, ToolRegistry } from '@writ/tools';
import { Executor, MemoryIdempotencyStore, OUTCOME_UNKNOWN, parseJournal, journalLine } from './index.ts';
import type { ExecutionRecord, ExecutionResult, HttpFetch, HttpResponseLike } from './index.ts';
import { signedExecutionRequest } from './testing/index.ts';

// The repository's tools with a static credential (HELPDESK_TOKEN, a tool's declared fallback);
// the tokens minted per action for tools declaring credential.mint: credentials.unit.spec.ts.
const repoTools = createToolRegistry(
  loadToolRegistry(resolve(import.meta.dirname, '../../../tools'))
    .list()
    .map((tool) => ({ ...tool, credential: { env: 'HELPDESK_TOKEN' } })),
);
const warrantKey = generateSigningKey('warrant-1');
const reservationKey = generateSigningKey('reservation-1');
const warrantKeys = createKeyring({ 'warrant-1': warrantKey.publicKey });
const reservationKeys = createKeyring({ 'reservation-1': reservationKey.publicKey });
const ENV = { HELPDESK_URL: 'http://127.0.0.1:1', HELPDESK_TOKEN: 'secret-token' };
const acmeKey = TenantDataKey.generate('acme');
const refundTool = repoTools.get('refunds.issue', '1.2.0') as ToolDefinition;

const refundArgs = { ticket_id: 'T-1001', customer_id: 'C-501', amount_cents: 2500, ticket_tags: ['refund_approved'], reason: 'damaged', card_last4: '4242' };

interface Call {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: string | undefined;
}

type Script = (call: Call, signal: AbortSignal) => Promise<{ status: number; body?: unknown; headers?: Record<string, string> }>;

function fakeFetch(script: Script): { fetch: HttpFetch; calls: Call[] } {
  const calls: Call[] = [];
  const fetch: HttpFetch = async (url, init) => {
    const call = { url, method: init.method, headers: init.headers, body: init.body };
    calls.push(call);
    const reply = await script(call, init.signal);
    const response: HttpResponseLike = {
      status: reply.status,
      headers: { get: (name) => reply.headers?.[name.toLowerCase()] ?? null },
      text: () => Promise.resolve(reply.body === undefined ? '' : JSON.stringify(reply.body)),
    };
    return response;
  };
  return { fetch, calls };
}

const ok: Script = (call) =>
  Promise.resolve(
    call.method === 'GET'
      ? { status: 200, body: { refund_id: 'RF-0001' } }
      : { status: 201, body: { refund_id: 'RF-0001', status: 'issued', card_last4: '4242', amount_cents: 2500 } },
  );

const hang: Script = (_call, signal) =>
  new Promise((_resolve, reject) => {
    signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
  });

function setup(
  options: {
    script?: Script;
    registry?: ToolRegistry;
    store?: MemoryIdempotencyStore;
    env?: Record<string, string>;
    breaker?: { threshold: number; cooldownMs: number };
    now?: () => number;
    tenantKeys?: ReturnType<typeof memoryTenantKeys>;
  } = {},
) {
  const { fetch, calls } = fakeFetch(options.script ?? ok);
  const controls = new ControlBoard();
  const store = options.store ?? new MemoryIdempotencyStore();
  const sleeps: number[] = [];
  const env: Readonly<Record<string, string | undefined>> = options.env ?? ENV;
  const executor = new Executor({
    registry: options.registry ?? repoTools,
    warrantKeys,
    reservationKeys,
    controls,
    store,
    fetch,
    credential: (tool) => Promise.resolve(tool.credential !== undefined && 'env' in tool.credential ? env[tool.credential.env] : undefined),
    env,
    tenantKeys: options.tenantKeys ?? memoryTenantKeys([acmeKey]),
    now: () => Date.now(),
    sleep: (ms) => {
      sleeps.push(ms);
      return Promise.resolve();
    },
    random: () => 0.5,
    ...(options.breaker === undefined ? {} : { breaker: options.breaker }),
    ...(options.now === undefined ? {} : { now: options.now }),
  });
  return { executor, calls, controls, store, sleeps };
}

let counter = 0;
function request(overrides: Partial<Parameters<typeof signedExecutionRequest>[0]> = {}): ExecutionRequested {
  counter += 1;
  return signedExecutionRequest({
    tenant: 'acme',
    runId: `run-${counter}`,
    agent: 'support-bot-1',
    tool: 'refunds.issue',
    toolVersion: '1.2.0',
    args: refundArgs,
    idempotencyKey: `key-${counter}`,
    warrantKey,
    reservationKey,
    // Sealed by "the gateway", as every proposal of refunds.issue is.
    ...((overrides.tool ?? 'refunds.issue') === 'refunds.issue' ? { sealWith: { key: acmeKey, tool: refundTool } } : {}),
    ...overrides,
  });
}

function control(kind: ControlChanged['kind'], target: string, enabled = true): ControlChanged {
  return {
    meta: newMetadata({ tenant_id: 'acme', run_id: 'ops', producer: 'gateway@test' }),
    control_key: `${kind}:${target}`,
    kind,
    target,
    enabled,
    value: null,
    reason: 'test',
    set_by: 'oscar',
  };
}

function failure(result: ExecutionResult): { outcome: string; error_code: string; message: string; retriable: boolean; attempts: number } {
  if (result.type !== 'ActionFailed') throw new Error(`expected ActionFailed, got ${result.type}`);
  return result.payload;
}

describe('sensitive values', () => {
  it('the request carries the card sealed; the tool gets it in clear; nothing clear comes back in the outcome', async () => {
    const { executor, calls } = setup();
    const req = request();
    expect(JSON.stringify(req)).not.toContain('"4242"');
    const report = await executor.execute(req);
    expect(report.result.type).toBe('ActionExecuted');
    expect(JSON.parse((calls[0] as Call).body ?? '')).toMatchObject({ card_last4: '4242' });
    expect(JSON.stringify(report.result)).not.toContain('"4242"');
  });

  it('refuses a clear value where a sealed one belongs, and a sealed value whose tenant key was erased, before any call', async () => {
    const clear = setup();
    const unsealed = await clear.executor.execute(request({ sealWith: undefined }));
    expect(failure(unsealed.result)).toMatchObject({ error_code: 'SENSITIVE_NOT_SEALED', attempts: 0 });
    expect(failure(unsealed.result).message).toContain('arguments.card_last4');
    expect(failure(unsealed.result).message).not.toContain('4242');
    expect(clear.calls).toHaveLength(0);

    const keys = memoryTenantKeys([acmeKey]);
    const erased = setup({ tenantKeys: keys });
    keys.erase('acme');
    const report = await erased.executor.execute(request());
    expect(failure(report.result)).toMatchObject({ error_code: 'TENANT_KEY_MISSING', attempts: 0 });
    expect(erased.calls).toHaveLength(0);

    const rotated = setup({ tenantKeys: memoryTenantKeys([TenantDataKey.generate('acme')]) });
    expect(failure((await rotated.executor.execute(request())).result).error_code).toBe('SEALED_KEY_UNKNOWN');
    expect(rotated.calls).toHaveLength(0);
  });

  it('a sealed value swapped for another of the same tenant no longer matches the warrant', async () => {
    const { executor, calls } = setup();
    const genuine = request();
    const swapped = JSON.parse(genuine.arguments_json) as Record<string, unknown>;
    swapped['card_last4'] = acmeKey.seal('1111', '$.card_last4');
    const report = await executor.execute({ ...genuine, arguments_json: canonicalJson(swapped), args_sha256: sha256Canonical(swapped) });
    expect(failure(report.result).error_code).toBe('WARRANT_MISMATCH');
    expect(calls).toHaveLength(0);
  });

  it('scrubs clear sensitive values and the credential out of tool errors and results', async () => {
    const echoError = setup({ script: () => Promise.resolve({ status: 422, body: { error: 'card 4242 declined for token secret-token' } }) });
    const failed = failure((await echoError.executor.execute(request())).result);
    expect(failed.error_code).toBe('TOOL_REJECTED');
    expect(failed.message).toBe('refunds.issue answered HTTP 422 (card [redacted] declined for token [redacted])');

    const echoResult = setup({
      script: (call) =>
        Promise.resolve(
          call.method === 'GET'
            ? { status: 200, body: {} }
            : { status: 201, body: { refund_id: 'RF-0002', note: 'refunded to card ending 4242', auth: 'secret-token' } },
        ),
    });
    const report = await echoResult.executor.execute(request());
    if (report.result.type !== 'ActionExecuted') throw new Error('expected ActionExecuted');
    expect(JSON.parse(report.result.payload.result_json)).toEqual({ refund_id: 'RF-0002', note: 'refunded to card ending [redacted]', auth: '[redacted]' });
  });
});

describe('a valid request', () => {
  it('calls the tool once with the credential, idempotency key and traceparent, and reports a redacted result', async () => {
    const { executor, calls, store } = setup();
    const req = request();
    const report = await executor.execute(req, { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' });
    expect(report).toMatchObject({ called: true, replayed: false, refused: false });
    expect(calls.map((c) => `${c.method} ${c.url}`)).toEqual(['POST http://127.0.0.1:1/refunds', 'GET http://127.0.0.1:1/refunds/RF-0001']);
    const post = calls[0] as Call;
    expect(post.headers['authorization']).toBe('Bearer secret-token');
    expect(post.headers['idempotency-key']).toBe(`acme:${req.idempotency_key}`);
    expect(post.headers['traceparent']).toMatch(/^00-0af7/);
    expect(JSON.parse(post.body ?? '')).toEqual(refundArgs);
    expect(report.result.type).toBe('ActionExecuted');
    if (report.result.type !== 'ActionExecuted') return;
    const payload = report.result.payload;
    expect(payload.result_json).not.toContain('4242');
    expect(JSON.parse(payload.result_json)).toMatchObject({ card_last4: '[redacted]', refund_id: 'RF-0001' });
    // Keyed: a plain sha256 of a result whose only unknown is 4 digits would be reversed by 10,000 guesses.
    const full = canonicalJson({ refund_id: 'RF-0001', status: 'issued', card_last4: '4242', amount_cents: 2500 });
    expect(payload.result_sha256).toBe(acmeKey.keyedDigest('result', full));
    expect(payload.result_sha256).not.toBe(sha256Hex(full));
    expect(payload).toMatchObject({
      outcome: 'succeeded',
      tool: 'refunds.issue',
      cost_micros: 20_000,
      currency: 'USD',
      side_effect_refs: ['RF-0001'],
      verified: true,
      attempts: 1,
    });
    expect(payload.reservation_id).toBe(req.reservation.reservation_id);
    expect(store.get(req.meta.action_id ?? '')?.outcome).toEqual(report.result);
  });

  it('records "started" before the first byte goes to a write tool', async () => {
    const store = new MemoryIdempotencyStore();
    let seen: ExecutionRecord | undefined;
    const req = request();
    const { executor } = setup({
      store,
      script: (call) => {
        if (call.method === 'POST') seen = store.get(req.meta.action_id ?? '');
        return ok(call, new AbortController().signal);
      },
    });
    await executor.execute(req);
    expect(seen).toMatchObject({ action_id: req.meta.action_id, tool: 'refunds.issue' });
    expect(seen?.outcome).toBeUndefined();
    expect(withoutIdentifiers(JSON.stringify(seen))).not.toContain('4242');
  });
});

describe('refusals never reach the tool', () => {
  const otherKey = generateSigningKey('warrant-1');
  const cases: [string, () => ExecutionRequested, string][] = [
    ['unknown tool', () => ({ ...request(), tool: 'emails.send' }), 'TOOL_UNKNOWN'],
    ['unknown version', () => ({ ...request(), tool_version: '9.9.9' }), 'TOOL_UNKNOWN'],
    ['arguments not JSON', () => ({ ...request(), arguments_json: '{nope' }), 'ARGUMENTS_NOT_JSON'],
    ['hash mismatch', () => ({ ...request(), arguments_json: canonicalJson({ ...refundArgs, amount_cents: 999_999 }) }), 'ARGS_HASH_MISMATCH'],
    [
      'schema-invalid arguments',
      () => {
        const args = { ...refundArgs, amount_cents: -5 };
        return request({ args });
      },
      'ARGUMENTS_INVALID',
    ],
    ['another idempotency key', () => ({ ...request(), idempotency_key: 'replayed-under-a-new-key' }), 'ACTION_ID_MISMATCH'],
    ['forged warrant', () => request({ warrantKey: otherKey }), 'WARRANT_FORGED'],
    ['expired warrant', () => request({ warrantTtlMs: -1 }), 'WARRANT_EXPIRED'],
    [
      'warrant for other arguments',
      () => {
        const genuine = request();
        const args = { ...refundArgs, amount_cents: 9_000 };
        return { ...genuine, arguments_json: canonicalJson(args), args_sha256: sha256Canonical(args) };
      },
      'WARRANT_MISMATCH',
    ],
    ['warrant of another agent', () => ({ ...request(), agent_id: 'sales-bot-1' }), 'WARRANT_MISMATCH'],
    ['reservation signed with a warrant key', () => request({ reservationKey: warrantKey }), 'RESERVATION_FORGED'],
    ['expired reservation', () => request({ reservationTtlMs: -1 }), 'RESERVATION_EXPIRED'],
    ['deadline passed', () => request({ deadline: Date.now() - 1 }), 'DEADLINE_PASSED'],
    [
      'a destination off the allowlist',
      () =>
        request({
          tool: 'notifications.send',
          toolVersion: '1.0.0',
          args: { ticket_id: 'T-1001', to: 'eve@evil.example', subject: 'hello', body: 'exfiltrated' },
        }),
      'DESTINATION_NOT_ALLOWED',
    ],
  ];

  it.each(cases)('%s', async (_name, make, code) => {
    const { executor, calls, store } = setup();
    const report = await executor.execute(make());
    expect(failure(report.result)).toMatchObject({ outcome: 'failed', error_code: code, retriable: false, attempts: 0 });
    expect(report.refused).toBe(true);
    expect(calls).toHaveLength(0);
    expect(store.records.size).toBe(0);
  });

  it('names the field and rule of invalid arguments', async () => {
    const { executor } = setup();
    const args = { ...refundArgs, amount_cents: 'lots' };
    const report = await executor.execute(request({ args }));
    expect(failure(report.result).message).toContain('amount_cents (type)');
  });

  it('honours tool and agent kill switches and safe mode (reads still run in safe mode)', async () => {
    const { executor, calls, controls } = setup({
      script: (call) => Promise.resolve(call.url.includes('/tickets/') ? { status: 200, body: { id: 'T-1001' } } : { status: 201, body: {} }),
    });
    controls.apply(control('tool_kill_switch', 'refunds.issue'));
    expect(failure((await executor.execute(request())).result).error_code).toBe('TOOL_KILL_SWITCH');
    controls.apply(control('tool_kill_switch', 'refunds.issue', false));
    controls.apply(control('agent_kill_switch', 'support-bot-1'));
    expect(failure((await executor.execute(request())).result).error_code).toBe('AGENT_KILL_SWITCH');
    controls.apply(control('agent_kill_switch', 'support-bot-1', false));
    controls.apply(control('safe_mode', '*'));
    expect(failure((await executor.execute(request())).result).error_code).toBe('SAFE_MODE');
    expect(calls).toHaveLength(0);
    const read = await executor.execute(request({ tool: 'tickets.get', toolVersion: '1.0.0', args: { ticket_id: 'T-1001' } }));
    expect(read.result.type).toBe('ActionExecuted');
    expect(calls).toHaveLength(1);
  });

  it('refuses when the credential is missing', async () => {
    const { executor, calls } = setup({ env: { HELPDESK_URL: 'http://127.0.0.1:1' } });
    expect(failure((await executor.execute(request())).result).error_code).toBe('CREDENTIAL_UNAVAILABLE');
    expect(calls).toHaveLength(0);
  });
});

describe('at most once per action', () => {
  it('re-emits the recorded outcome of a redelivered request without calling again', async () => {
    const { executor, calls } = setup();
    const req = request();
    const first = await executor.execute(req);
    const again = await executor.execute(req);
    expect(again).toMatchObject({ called: false, replayed: true });
    expect(again.result).toEqual(first.result);
    expect(calls.filter((c) => c.method === 'POST')).toHaveLength(1);
  });

  it('shares one call between two deliveries of the same action in flight', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    const { executor, calls } = setup({ script: async (call) => (await gate, ok(call, new AbortController().signal)) });
    const req = request();
    const a = executor.execute(req);
    const b = executor.execute(req);
    release();
    const [ra, rb] = await Promise.all([a, b]);
    expect(rb.result).toEqual(ra.result);
    expect(calls.filter((c) => c.method === 'POST')).toHaveLength(1);
  });

  it('reports unknown, never calling, for a call that started and never finished (redelivery and boot)', async () => {
    const store = new MemoryIdempotencyStore();
    const req = request();
    const record: ExecutionRecord = {
      action_id: req.meta.action_id ?? '',
      tenant_id: 'acme',
      run_id: req.meta.run_id,
      agent_id: 'support-bot-1',
      tool: 'refunds.issue',
      tool_version: '1.2.0',
      args_sha256: req.args_sha256,
      reservation_id: req.reservation.reservation_id,
      currency: 'USD',
      cost_micros: 20_000,
      causation_id: req.meta.event_id,
      trace: null,
      started_at: Date.now(),
    };
    await store.start(record);
    const { executor, calls } = setup({ store });
    const report = await executor.execute(req);
    expect(failure(report.result)).toMatchObject({ outcome: 'unknown', error_code: OUTCOME_UNKNOWN, retriable: false });
    expect(calls).toHaveLength(0);
    expect((await executor.execute(req)).result).toEqual(report.result);

    const other = new MemoryIdempotencyStore();
    await other.start({ ...record, action_id: 'crashed' });
    const booted = setup({ store: other });
    const recovered = await booted.executor.recoverUnfinished();
    expect(recovered.map((r) => [r.record.action_id, failure(r.result).outcome])).toEqual([['crashed', 'unknown']]);
    expect(other.unfinished()).toEqual([]);
    expect(booted.calls).toHaveLength(0);
  });

  it('journals records as lines and ignores only a torn last line', () => {
    const store = new MemoryIdempotencyStore();
    const record = { action_id: 'a1' } as ExecutionRecord;
    const text = journalLine({ op: 'start', record }) + '{"op":"fin';
    for (const entry of parseJournal(text)) store.replay(entry);
    expect(store.unfinished().map((r) => r.action_id)).toEqual(['a1']);
    expect(() => parseJournal('{bad\n' + journalLine({ op: 'start', record }))).toThrow(/line 1/);
  });
});

describe('retries, timeouts and the circuit breaker', () => {
  function fastTool(overrides: Partial<ToolDefinition> = {}): ToolRegistry {
    const refund = repoTools.get('refunds.issue') as ToolDefinition;
    const { verify: _verify, ...rest } = refund;
    return createToolRegistry([{ ...rest, timeout_ms: 30, ...overrides }]);
  }

  it('retries a 503 with backoff and succeeds', async () => {
    let n = 0;
    const { executor, calls, sleeps } = setup({
      registry: fastTool(),
      script: () => Promise.resolve((n += 1) === 1 ? { status: 503, body: { error: 'unavailable' } } : { status: 201, body: { refund_id: 'RF-9' } }),
    });
    const report = await executor.execute(request());
    expect(report.result.type).toBe('ActionExecuted');
    if (report.result.type === 'ActionExecuted') expect(report.result.payload.attempts).toBe(2);
    expect(calls).toHaveLength(2);
    expect(calls[0]?.headers['idempotency-key']).toBe(calls[1]?.headers['idempotency-key']);
    expect(sleeps).toEqual([75]);
  });

  it('does not retry a 4xx', async () => {
    const { executor, calls } = setup({ registry: fastTool(), script: () => Promise.resolve({ status: 404, body: { error: 'ticket_not_found' } }) });
    const f = failure((await executor.execute(request())).result);
    expect(f).toMatchObject({ outcome: 'failed', error_code: 'TOOL_REJECTED', retriable: false, attempts: 1 });
    expect(f.message).toContain('ticket_not_found');
    expect(calls).toHaveLength(1);
  });

  it('reports unknown when a write timed out on every attempt, failed when a read did', async () => {
    const write = setup({ registry: fastTool(), script: hang });
    const w = failure((await write.executor.execute(request())).result);
    expect(w).toMatchObject({ outcome: 'unknown', error_code: 'TOOL_TIMEOUT', attempts: 3 });
    expect(write.calls).toHaveLength(3);

    const read = setup({ registry: fastTool({ effect: 'read' }), script: hang });
    expect(failure((await read.executor.execute(request())).result)).toMatchObject({ outcome: 'failed', error_code: 'TOOL_TIMEOUT', retriable: true });
  });

  it('reports a read without waiting for its outcome to be durable, a write only once it is', async () => {
    // A store whose durable writes never complete: what waits for one hangs.
    class SlowDisk extends MemoryIdempotencyStore {
      override finish(): Promise<void> {
        return new Promise<void>(() => undefined);
      }
    }
    const read = setup({ registry: fastTool({ effect: 'read' }), store: new SlowDisk() });
    const req = request();
    const report = await read.executor.execute(req);
    expect(report.result.type).toBe('ActionExecuted');
    // Remembered at once: a redelivery finds it and the tool is not called again.
    expect(read.store.get(req.meta.action_id ?? '')?.outcome).toEqual(report.result);
    expect((await read.executor.execute(req)).replayed).toBe(true);
    expect(read.calls).toHaveLength(1);

    const write = setup({ registry: fastTool(), store: new SlowDisk() });
    const pending = write.executor.execute(request());
    const settled = await Promise.race([pending.then(() => 'reported'), new Promise((resolve) => setTimeout(() => resolve('waiting'), 50))]);
    expect(settled).toBe('waiting');
  });

  it('never retries a non-idempotent write after a 500', async () => {
    const { executor, calls } = setup({ registry: fastTool({ idempotent: false }), script: () => Promise.resolve({ status: 500 }) });
    expect(failure((await executor.execute(request())).result)).toMatchObject({ outcome: 'failed', error_code: 'TOOL_UNAVAILABLE', attempts: 1 });
    expect(calls).toHaveLength(1);
  });

  it('stops retrying when the kill switch is pulled between attempts', async () => {
    const controls: ControlBoard[] = [];
    const env = setup({
      registry: fastTool(),
      script: () => {
        controls[0]?.apply(control('tool_kill_switch', 'refunds.*'));
        return Promise.resolve({ status: 503 });
      },
    });
    controls.push(env.controls);
    const f = failure((await env.executor.execute(request())).result);
    expect(env.calls).toHaveLength(1);
    expect(f).toMatchObject({ outcome: 'failed', error_code: 'TOOL_UNAVAILABLE', attempts: 1 });
    expect(f.message).toContain('kill switch');
  });

  it('opens the breaker after consecutive failures, refuses without calling, then lets one trial through', async () => {
    let clock = 1_000_000;
    let healthy = false;
    const { executor, calls } = setup({
      registry: fastTool({ retry: { max_attempts: 1, initial_backoff_ms: 1, max_backoff_ms: 1 } }),
      breaker: { threshold: 2, cooldownMs: 5_000 },
      now: () => clock,
      script: () => Promise.resolve(healthy ? { status: 201, body: { refund_id: 'RF-1' } } : { status: 503 }),
    });
    const at = () => request({ now: clock });
    await executor.execute(at());
    await executor.execute(at());
    expect(calls).toHaveLength(2);
    expect(failure((await executor.execute(at())).result)).toMatchObject({ error_code: 'CIRCUIT_OPEN', attempts: 0 });
    expect(calls).toHaveLength(2);
    clock += 5_000;
    healthy = true;
    expect((await executor.execute(at())).result.type).toBe('ActionExecuted');
    expect((await executor.execute(at())).result.type).toBe('ActionExecuted');
    expect(calls).toHaveLength(4);
  });
});

describe('verified outcomes: the read-back decides by evidence', () => {
  const created = { status: 201, body: { refund_id: 'RF-0001', status: 'issued', card_last4: '4242', amount_cents: 2500 } };
  /** The refund is created; the read-back answers what `readBack` says, one answer per GET. */
  function readBackScript(...answers: (number | 'hang')[]): Script {
    let reads = 0;
    return (call, signal) => {
      if (call.method !== 'GET') return Promise.resolve(created);
      const answer = answers[Math.min(reads, answers.length - 1)] ?? 200;
      reads += 1;
      if (answer === 'hang') return hang(call, signal);
      return Promise.resolve({ status: answer, body: answer < 300 ? { refund_id: 'RF-0001' } : { error: 'not_found' } });
    };
  }
  const gets = (calls: Call[]) => calls.filter((c) => c.method === 'GET').length;
  const posts = (calls: Call[]) => calls.filter((c) => c.method === 'POST').length;
  function executed(result: ExecutionResult) {
    if (result.type !== 'ActionExecuted') throw new Error(`expected ActionExecuted, got ${result.type}: ${JSON.stringify(result.payload)}`);
    return result.payload;
  }

  it('confirmed (2xx): succeeded and verified', async () => {
    const { executor, calls } = setup({ script: readBackScript(200) });
    const report = await executor.execute(request());
    expect(executed(report.result)).toMatchObject({ outcome: 'succeeded', verified: true, side_effect_refs: ['RF-0001'] });
    expect([posts(calls), gets(calls)]).toEqual([1, 1]);
    // The read carries the credential and the trace, never the idempotency key of the write.
    expect(calls[1]?.headers['authorization']).toBe('Bearer secret-token');
    expect(calls[1]?.headers['idempotency-key']).toBeUndefined();
  });

  it.each([404, 410])('refuted (%i): unknown, charged at the maximum, recorded, and replayed on redelivery without a second call', async (status) => {
    const store = new MemoryIdempotencyStore();
    const { executor, calls } = setup({ store, script: readBackScript(status) });
    const req = request();
    const report = await executor.execute(req);
    const payload = failure(report.result);
    expect(payload).toMatchObject({ outcome: 'unknown', error_code: 'VERIFICATION_REFUTED', retriable: false, attempts: 1 });
    expect(report.result.payload).toMatchObject({ cost_micros: 20_000, currency: 'USD', reservation_id: req.reservation.reservation_id });
    expect(payload.message).toContain('RF-0001');
    expect(payload.message).toContain(`HTTP ${status}`);
    expect(payload.message).toContain('/refunds/RF-0001');
    expect(payload.message).not.toContain('4242');
    // Durable before it is reported: a redelivery (or a restart) re-emits it and calls nothing.
    expect(store.get(req.meta.action_id ?? '')?.outcome).toEqual(report.result);
    const again = await executor.execute(req);
    expect(again).toMatchObject({ called: false, replayed: true });
    expect(again.result).toEqual(report.result);
    expect([posts(calls), gets(calls)]).toEqual([1, 1]);
  });

  it('a transient read-back failure is read again with backoff; a later 2xx verifies', async () => {
    const { executor, calls, sleeps } = setup({ script: readBackScript(503, 200) });
    const report = await executor.execute(request());
    expect(executed(report.result)).toMatchObject({ outcome: 'succeeded', verified: true });
    expect([posts(calls), gets(calls)]).toEqual([1, 2]);
    expect(sleeps).toEqual([75]);
  });

  it('inconclusive (5xx on every read, retries exhausted): the tool’s success stands, unverified', async () => {
    const { executor, calls } = setup({ script: readBackScript(503) });
    const report = await executor.execute(request());
    expect(executed(report.result)).toMatchObject({ outcome: 'succeeded', verified: false, cost_micros: 20_000 });
    expect([posts(calls), gets(calls)]).toEqual([1, refundTool.retry.max_attempts]);
  });

  it('inconclusive (a read-back that times out, a 403 not retried, a result without the reference to read by)', async () => {
    const refund = repoTools.get('refunds.issue') as ToolDefinition;
    const slow = setup({ registry: createToolRegistry([{ ...refund, timeout_ms: 30 }]), script: readBackScript('hang') });
    expect(executed((await slow.executor.execute(request())).result)).toMatchObject({ verified: false });
    expect(gets(slow.calls)).toBe(refund.retry.max_attempts);

    const forbidden = setup({ script: readBackScript(403) });
    expect(executed((await forbidden.executor.execute(request())).result)).toMatchObject({ verified: false });
    expect(gets(forbidden.calls)).toBe(1);

    const noRef = setup({ script: (call) => Promise.resolve(call.method === 'POST' ? { status: 201, body: { status: 'issued' } } : { status: 404 }) });
    expect(executed((await noRef.executor.execute(request())).result)).toMatchObject({ verified: false });
    expect(gets(noRef.calls)).toBe(0);
  });

  it('no verification declared: verified is null', async () => {
    const { verify: _verify, ...rest } = repoTools.get('refunds.issue') as ToolDefinition;
    const { executor, calls } = setup({ registry: createToolRegistry([rest]), script: readBackScript(404) });
    expect(executed((await executor.execute(request())).result)).toMatchObject({ outcome: 'succeeded', verified: null });
    expect(gets(calls)).toBe(0);
  });

  it('the executor stopping during the read-back leaves the call started: reported unknown, never called again', async () => {
    const store = new MemoryIdempotencyStore();
    const stop = new AbortController();
    const { executor, calls } = setup({
      store,
      script: (call, signal) => {
        if (call.method === 'POST') return Promise.resolve(created);
        const pending = hang(call, signal);
        stop.abort();
        return pending;
      },
    });
    const req = request();
    await expect(executor.execute(req, { signal: stop.signal })).rejects.toMatchObject({ code: 'EXECUTION_INTERRUPTED' });
    expect(store.unfinished().map((r) => r.action_id)).toEqual([req.meta.action_id]);
    const redelivered = await executor.execute(req);
    expect(failure(redelivered.result)).toMatchObject({ outcome: 'unknown', error_code: OUTCOME_UNKNOWN });
    expect([posts(calls), gets(calls)]).toEqual([1, 1]);
  });
});
