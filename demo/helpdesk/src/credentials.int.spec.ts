// The helpdesk's check of per-action tokens, with hostile input: only a token the executor's key
// signed for exactly this call (tool, arguments, idempotency key, tenant, audience, in time) gets
// through; the static token only where a tool declares it as its fallback. The helpdesk's own
// count of side effects is the ground truth that a refused call did nothing.
import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import { SignJWT, createLocalJWKSet, importPKCS8 } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSigningKey } from '@writ/crypto';
import { ActionTokenSigner, createToolRegistry, loadToolRegistry } from '@writ/tools';
import type { ActionTokenClaims } from '@writ/tools';
import { startHelpdesk } from './index.ts';
import type { RunningHelpdesk } from './index.ts';

const STATIC = 'static-token-of-the-helpdesk';
const executorPem = generateSigningKey('tool-token-1').exportPrivateKeyPem();
const executor = await ActionTokenSigner.fromPem('tool-token-1', executorPem);
// The repository's tools (credential.mint, audience "helpdesk"), plus tickets.list declaring the static fallback.
const tools = createToolRegistry(
  loadToolRegistry(resolve(import.meta.dirname, '../../../tools'))
    .list()
    .map((tool) => (tool.name === 'tickets.list' ? { ...tool, credential: { env: 'HELPDESK_TOKEN' } } : tool)),
);

const refund = { ticket_id: 'T-1001', customer_id: 'C-501', amount_cents: 2500, ticket_tags: ['refund_approved'], reason: 'damaged' };
// sha256 of the canonical JSON of `refund`, written out: {"amount_cents":2500,"customer_id":"C-501","reason":"damaged","ticket_id":"T-1001","ticket_tags":["refund_approved"]}
const REFUND_SHA256 = createHash('sha256')
  .update('{"amount_cents":2500,"customer_id":"C-501","reason":"damaged","ticket_id":"T-1001","ticket_tags":["refund_approved"]}')
  .digest('hex');

let helpdesk: RunningHelpdesk;
let now = Date.now();
let actions = 0;

beforeAll(async () => {
  helpdesk = await startHelpdesk({
    port: 0,
    token: STATIC,
    tools,
    minted: { keys: createLocalJWKSet(executor.jwks()), issuer: 'writ-executor', audience: 'helpdesk', tenants: ['acme'] },
    now: () => now,
  });
});
afterAll(async () => {
  await helpdesk.close();
});

/** The claims the executor would mint for a refund of `refund` under a fresh action and key. */
function refundClaims(overrides: Partial<ActionTokenClaims> = {}): ActionTokenClaims {
  actions += 1;
  const iat = Math.floor(now / 1000);
  return {
    iss: 'writ-executor',
    aud: 'helpdesk',
    sub: 'triage-bot',
    jti: `action-${actions}`,
    iat,
    exp: iat + 29,
    tenant: 'acme',
    tool: 'refunds.issue',
    tool_version: '1.2.0',
    args_sha256: REFUND_SHA256,
    idempotency_key: `acme:key-${actions}`,
    ...overrides,
  };
}

async function call(method: string, path: string, options: { token?: string; key?: string; body?: unknown } = {}) {
  const headers: Record<string, string> = {};
  if (options.token !== undefined) headers['authorization'] = `Bearer ${options.token}`;
  if (options.key !== undefined) headers['idempotency-key'] = options.key;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${helpdesk.url}${path}`, {
    method,
    headers,
    ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
    signal: AbortSignal.timeout(5_000),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** POSTs the refund with this token, under the idempotency key the claims name. */
async function postRefund(token: string, claims: ActionTokenClaims, body: unknown = refund) {
  return call('POST', '/refunds', { token, key: claims.idempotency_key, body });
}

const effects = () => helpdesk.stats().effects_total;

describe('helpdesk: per-action tokens', () => {
  it("accepts the executor's token for exactly its call, and its read-back of the refund it made only", async () => {
    const claims = refundClaims();
    const token = await executor.sign(claims);
    const made = await postRefund(token, claims);
    expect(made.status).toBe(201);
    const refundId = made.body['refund_id'] as string;
    expect((await call('GET', `/refunds/${refundId}`, { token })).status).toBe(200);
    // Another refund of the same helpdesk: not this action's side effect.
    const other = refundClaims();
    const otherId = (await postRefund(await executor.sign(other), other)).body['refund_id'] as string;
    expect((await call('GET', `/refunds/${otherId}`, { token })).status).toBe(401);
    expect(helpdesk.stats().credentials.minted).toBeGreaterThanOrEqual(3);
  });

  it('refuses a call without a token, with the static token, or with garbage, and nothing happens', async () => {
    const before = effects();
    const claims = refundClaims();
    for (const token of [undefined, STATIC, 'not-a-token', 'a.b.c']) {
      const answer = await call('POST', '/refunds', { ...(token === undefined ? {} : { token }), key: claims.idempotency_key, body: refund });
      expect(answer.status, `token ${token}`).toBe(401);
      expect(answer.body['error']).toBe('invalid_token');
    }
    expect((await call('GET', '/tickets/T-1001', { token: STATIC })).body['message']).toContain('tickets.get@1.0.0 take a token minted per action');
    expect(effects()).toBe(before);
  });

  it('refuses a token signed by another key, expired, unsigned or typed otherwise', async () => {
    const before = effects();
    const thief = await ActionTokenSigner.fromPem('tool-token-1', generateSigningKey('tool-token-1').exportPrivateKeyPem());
    const forged = refundClaims();
    expect((await postRefund(await thief.sign(forged), forged)).status).toBe(401);

    const expired = refundClaims({ iat: Math.floor(now / 1000) - 120, exp: Math.floor(now / 1000) - 60 });
    const late = await postRefund(await executor.sign(expired), expired);
    expect(late).toMatchObject({ status: 401, body: { message: 'the action token has expired' } });

    const key = await importPKCS8(executorPem, 'EdDSA');
    const plain = refundClaims();
    const untyped = await new SignJWT({ ...plain }).setProtectedHeader({ alg: 'EdDSA', kid: 'tool-token-1' }).sign(key);
    expect((await postRefund(untyped, plain)).status).toBe(401);
    const header = Buffer.from(JSON.stringify({ alg: 'none', typ: 'writ-action+jwt' })).toString('base64url');
    const unsigned = `${header}.${Buffer.from(JSON.stringify(plain)).toString('base64url')}.AAAA`;
    expect((await postRefund(unsigned, plain)).status).toBe(401);
    expect(effects()).toBe(before);
  });

  it('refuses a genuine token for other arguments, another tool, tenant, audience or idempotency key', async () => {
    const before = effects();
    const genuine = refundClaims();
    const token = await executor.sign(genuine);
    const answer = await postRefund(token, genuine, { ...refund, amount_cents: 250_000 });
    expect(answer).toMatchObject({ status: 401, body: { message: 'the arguments received are not those the token was minted for (refunds.issue@1.2.0)' } });
    expect((await call('POST', '/refunds', { token, key: 'acme:another-key', body: refund })).status).toBe(401);
    // A read tool's token cannot make the refund, nor read another route.
    const read = refundClaims({ tool: 'tickets.get', tool_version: '1.0.0' });
    expect((await postRefund(await executor.sign(read), read)).status).toBe(401);
    expect((await call('GET', '/customers/C-501', { token: await executor.sign(read), key: read.idempotency_key })).status).toBe(401);

    const globex = refundClaims({ tenant: 'globex' });
    const other = await postRefund(await executor.sign({ ...globex, idempotency_key: `globex:${globex.jti}` }), {
      ...globex,
      idempotency_key: `globex:${globex.jti}`,
    });
    expect(other).toMatchObject({ status: 401, body: { message: 'tenant globex is not served by this helpdesk' } });
    const billing = refundClaims({ aud: 'billing' });
    expect((await postRefund(await executor.sign(billing), billing)).status).toBe(401);
    const unknown = refundClaims({ tool_version: '9.9.9' });
    expect((await postRefund(await executor.sign(unknown), unknown)).status).toBe(401);
    expect(effects()).toBe(before);
    // The genuine call still goes through afterwards: nothing above consumed or blocked it.
    expect((await postRefund(token, genuine)).status).toBe(201);
  });

  it('accepts the typed query arguments of a read tool, and the static token only where a tool declares it', async () => {
    const args = { ticket_id: 'T-1001' };
    const read = refundClaims({
      tool: 'tickets.get',
      tool_version: '1.0.0',
      args_sha256: createHash('sha256').update('{"ticket_id":"T-1001"}').digest('hex'),
    });
    const token = await executor.sign(read);
    expect((await call('GET', `/tickets/${args.ticket_id}`, { token, key: read.idempotency_key })).status).toBe(200);
    expect((await call('GET', '/tickets/T-1002', { token, key: read.idempotency_key })).status).toBe(401);
    // tickets.list declares the static token: it passes there, and a minted token for it does not.
    expect((await call('GET', '/tickets?limit=2', { token: STATIC })).status).toBe(200);
    const list = refundClaims({ tool: 'tickets.list', tool_version: '1.0.0', args_sha256: createHash('sha256').update('{"limit":2}').digest('hex') });
    expect((await call('GET', '/tickets?limit=2', { token: await executor.sign(list), key: list.idempotency_key })).body['message']).toBe(
      'tickets.list@1.0.0 does not declare a minted credential for audience helpdesk',
    );
    // The operator's routes take the static token only.
    expect((await call('GET', '/_stats', { token: STATIC })).status).toBe(200);
    expect((await call('GET', '/_stats', { token })).status).toBe(401);
  });

  it('refuses a token once the clock is past its expiry', async () => {
    const claims = refundClaims();
    const token = await executor.sign(claims);
    now += 40_000;
    try {
      expect((await postRefund(token, claims)).status).toBe(401);
    } finally {
      now -= 40_000;
    }
  });
});
