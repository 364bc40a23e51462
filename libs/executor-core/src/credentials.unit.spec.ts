// The token the executor mints per action for tools declaring credential.mint (the repository's
// tools do): its claims, its expiry, its argument hash, one per action, and that it never leaves
// in an outcome or a record.
import { resolve } from 'node:path';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import type { ExecutionRequested } from '@writ/contracts';
import { TenantDataKey, createKeyring, generateSigningKey } from '@writ/crypto';
import { memoryTenantKeys } from '@writ/crypto/testing';
import { ActionTokenSigner, ControlBoard, loadToolRegistry } from '@writ/tools';
import type { ToolDefinition } from '@writ/tools';
import { Executor, MemoryIdempotencyStore, actionTokenLifetimeMs } from './index.ts';
import type { ExecutionResult, HttpFetch } from './index.ts';
import { signedExecutionRequest } from './testing/index.ts';

const repoTools = loadToolRegistry(resolve(import.meta.dirname, '../../../tools'));
const refundTool = repoTools.get('refunds.issue', '1.2.0') as ToolDefinition;
const warrantKey = generateSigningKey('warrant-1');
const reservationKey = generateSigningKey('reservation-1');
const acmeKey = TenantDataKey.generate('acme');
const signer = await ActionTokenSigner.fromPem('tool-token-1', generateSigningKey('tool-token-1').exportPrivateKeyPem());
const jwks = createLocalJWKSet(signer.jwks());
/** 2023-11-14T22:13:20.250Z: not on a whole second, so iat rounds down and exp up. */
const NOW = 1_700_000_000_250;

const refundArgs = { ticket_id: 'T-1001', customer_id: 'C-501', amount_cents: 2500, ticket_tags: ['refund_approved'], reason: 'damaged', card_last4: '4242' };
// sha256 of {"amount_cents":2500,"card_last4":"4242","customer_id":"C-501","reason":"damaged","ticket_id":"T-1001","ticket_tags":["refund_approved"]}:
// the clear arguments the tool receives (the card in clear, as the tool gets it), not the sealed ones the warrant binds.
const REFUND_ARGS_SHA256 = 'ea93af01a65f466dbd5775e4e2b52481517bb44d60e6868dd6ad0c6a4bf4f3f7';

interface Call {
  readonly method: string;
  readonly url: string;
  readonly headers: Record<string, string>;
}

function setup(options: { tokens?: boolean; reply?: (call: Call) => { status: number; body: unknown } } = {}) {
  const calls: Call[] = [];
  const reply =
    options.reply ??
    ((call: Call) => (call.method === 'GET' ? { status: 200, body: { refund_id: 'RF-0001' } } : { status: 201, body: { refund_id: 'RF-0001' } }));
  const fetch: HttpFetch = (url, init) => {
    const call = { method: init.method, url, headers: init.headers };
    calls.push(call);
    const { status, body } = reply(call);
    return Promise.resolve({ status, headers: { get: () => null }, text: () => Promise.resolve(JSON.stringify(body)) });
  };
  const store = new MemoryIdempotencyStore();
  const executor = new Executor({
    registry: repoTools,
    warrantKeys: createKeyring({ 'warrant-1': warrantKey.publicKey }),
    reservationKeys: createKeyring({ 'reservation-1': reservationKey.publicKey }),
    controls: new ControlBoard(),
    store,
    fetch,
    // A static token exists, but no repository tool declares it: it must never be sent.
    credential: () => Promise.resolve('static-token'),
    ...(options.tokens === false ? {} : { tokens: { issuer: 'writ-executor', signer } }),
    env: { HELPDESK_URL: 'http://127.0.0.1:1' },
    tenantKeys: memoryTenantKeys([acmeKey]),
    now: () => NOW,
    sleep: () => Promise.resolve(),
    random: () => 0.5,
  });
  return { executor, calls, store };
}

let counter = 0;
function refund(args: Record<string, unknown> = refundArgs): ExecutionRequested {
  counter += 1;
  return signedExecutionRequest({
    tenant: 'acme',
    runId: `run-${counter}`,
    agent: 'support-bot-1',
    tool: 'refunds.issue',
    toolVersion: '1.2.0',
    args,
    idempotencyKey: `key-${counter}`,
    warrantKey,
    reservationKey,
    now: NOW,
    sealWith: { key: acmeKey, tool: refundTool },
  });
}

function bearer(call: Call | undefined): string {
  const header = call?.headers['authorization'] ?? '';
  expect(header).toMatch(/^Bearer [\w-]+\.[\w-]+\.[\w-]+$/);
  return header.slice('Bearer '.length);
}

async function claimsOf(token: string) {
  return (await jwtVerify(token, jwks, { currentDate: new Date(NOW), typ: 'writ-action+jwt', algorithms: ['EdDSA'] })).payload;
}

describe('a token minted per action', () => {
  it('lives as long as every attempt, the backoffs, the read-back and a 5 s margin: 29 s for refunds.issue', () => {
    // 3 attempts x 5,000 ms + 2 backoffs x 2,000 ms + a 5,000 ms read-back + 5,000 ms.
    expect(actionTokenLifetimeMs(refundTool)).toBe(29_000);
    // tickets.get: 3 x 3,000 + 2 x 1,000, no read-back, + 5,000.
    expect(actionTokenLifetimeMs(repoTools.get('tickets.get') as ToolDefinition)).toBe(16_000);
  });

  it('is sent instead of any static token, signed with the EdDSA key of the JWKS, scoped to this action', async () => {
    const { executor, calls } = setup();
    const request = refund();
    const report = await executor.execute(request);
    expect(report.result.type).toBe('ActionExecuted');
    const token = bearer(calls[0]);
    expect(decodeProtectedHeader(token)).toEqual({ alg: 'EdDSA', typ: 'writ-action+jwt', kid: 'tool-token-1' });
    expect(await claimsOf(token)).toEqual({
      iss: 'writ-executor',
      aud: 'helpdesk',
      sub: 'support-bot-1',
      jti: request.meta.action_id,
      iat: 1_700_000_000,
      exp: 1_700_000_030,
      tenant: 'acme',
      tool: 'refunds.issue',
      tool_version: '1.2.0',
      args_sha256: REFUND_ARGS_SHA256,
      idempotency_key: `acme:${request.idempotency_key}`,
    });
    expect(calls[0]?.headers['idempotency-key']).toBe(`acme:${request.idempotency_key}`);
    // The read-back of the refund carries the same action's token.
    expect(calls.map((call) => `${call.method} ${call.url}`)).toEqual(['POST http://127.0.0.1:1/refunds', 'GET http://127.0.0.1:1/refunds/RF-0001']);
    expect(calls[1]?.headers['authorization']).toBe(`Bearer ${token}`);
  });

  it('expires: a verifier after exp refuses it', async () => {
    const { executor, calls } = setup();
    await executor.execute(refund());
    const token = bearer(calls[0]);
    await expect(jwtVerify(token, jwks, { currentDate: new Date(NOW + 29_000 + 1_000) })).rejects.toMatchObject({ code: 'ERR_JWT_EXPIRED' });
  });

  it('differs per action: another action, or other arguments, get another token', async () => {
    const { executor, calls } = setup();
    await executor.execute(refund());
    await executor.execute(refund({ ...refundArgs, amount_cents: 2501 }));
    const [first, second] = [bearer(calls[0]), bearer(calls[2])];
    expect(second).not.toBe(first);
    const [a, b] = [await claimsOf(first), await claimsOf(second)];
    expect(b.jti).not.toBe(a.jti);
    expect(a.args_sha256).toBe(REFUND_ARGS_SHA256);
    expect(b.args_sha256).not.toBe(REFUND_ARGS_SHA256);
  });

  it('is refused before any call when the executor has no signing key', async () => {
    const { executor, calls } = setup({ tokens: false });
    const report = await executor.execute(refund());
    if (report.result.type !== 'ActionFailed') throw new Error('expected ActionFailed');
    expect(report.result.payload).toMatchObject({ error_code: 'CREDENTIAL_UNAVAILABLE', attempts: 0 });
    expect(report.result.payload.message).toContain('WRIT_EXECUTOR_TOKEN_SIGNING_KEY');
    expect(calls).toHaveLength(0);
  });

  it('never leaves in an outcome or a record, even when the tool echoes it', async () => {
    let token = '';
    const echo = (status: number) => (call: Call) => {
      token = (call.headers['authorization'] ?? '').slice('Bearer '.length);
      return { status, body: { refund_id: 'RF-0009', error: `rejected ${token}`, note: `seen ${call.headers['authorization'] ?? ''}` } };
    };
    const outcomes: ExecutionResult[] = [];
    const ok = setup({ reply: echo(201) });
    outcomes.push((await ok.executor.execute(refund())).result);
    const rejected = setup({ reply: echo(422) });
    outcomes.push((await rejected.executor.execute(refund())).result);
    expect(token.length).toBeGreaterThan(100);
    expect(outcomes.map((o) => o.type)).toEqual(['ActionExecuted', 'ActionFailed']);
    for (const outcome of outcomes) expect(JSON.stringify(outcome)).not.toContain(token.split('.')[2]);
    expect(JSON.stringify([...ok.store.records.values(), ...rejected.store.records.values()])).not.toContain(token.split('.')[2]);
  });
});
