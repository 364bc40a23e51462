import { resolve } from 'node:path';
import { SignJWT, UnsecuredJWT, createLocalJWKSet, importPKCS8 } from 'jose';
import { describe, expect, it } from 'vitest';
import { generateSigningKey } from '@writ/crypto';
import { ActionTokenSigner, argumentsOfRequest, buildToolRequest, loadToolRegistry, verifyActionToken, verifyPathOf } from './index.ts';
import type { ActionTokenClaims, ToolDefinition } from './index.ts';

const NOW = 1_700_000_000_000;
const pem = generateSigningKey('tool-token-1').exportPrivateKeyPem();
const signer = await ActionTokenSigner.fromPem('tool-token-1', pem);
const keys = createLocalJWKSet(signer.jwks());
const expected = { issuer: 'writ-executor', audience: 'helpdesk', now: NOW };
const claims: ActionTokenClaims = {
  iss: 'writ-executor',
  aud: 'helpdesk',
  sub: 'triage-bot',
  jti: '0190d6a2-0000-7000-8000-000000000001',
  iat: NOW / 1000,
  exp: NOW / 1000 + 30,
  tenant: 'acme',
  tool: 'refunds.issue',
  tool_version: '1.2.0',
  args_sha256: 'a'.repeat(64),
  idempotency_key: 'acme:k-1',
};

async function failure(token: string, options: Partial<typeof expected> & { maxLifetimeS?: number } = {}) {
  return verifyActionToken(token, keys, { ...expected, ...options }).then(
    () => undefined,
    (error: { code: string; field: string }) => ({ code: error.code, field: error.field }),
  );
}

describe('action tokens', () => {
  it('publish a JWKS of the public half only, and never print the private key', () => {
    expect(signer.jwks()).toEqual({ keys: [{ kty: 'OKP', crv: 'Ed25519', x: expect.any(String) as unknown, kid: 'tool-token-1', alg: 'EdDSA', use: 'sig' }] });
    expect(JSON.stringify(signer)).not.toContain('PRIVATE');
  });

  it('verify with every claim back', async () => {
    expect(await verifyActionToken(await signer.sign(claims), keys, expected)).toEqual(claims);
  });

  it('are refused when expired, for another audience or issuer, signed by another key, or living too long', async () => {
    const token = await signer.sign(claims);
    expect(await failure(token, { now: NOW + 40_000 })).toEqual({ code: 'ACTION_TOKEN_INVALID', field: 'exp' });
    expect(await failure(token, { audience: 'billing' })).toEqual({ code: 'ACTION_TOKEN_INVALID', field: 'aud' });
    expect(await failure(token, { issuer: 'someone-else' })).toEqual({ code: 'ACTION_TOKEN_INVALID', field: 'iss' });
    const thief = await ActionTokenSigner.fromPem('tool-token-1', generateSigningKey('tool-token-1').exportPrivateKeyPem());
    expect(await failure(await thief.sign(claims))).toEqual({ code: 'ACTION_TOKEN_INVALID', field: 'signature' });
    const stranger = await ActionTokenSigner.fromPem('tool-token-9', generateSigningKey('tool-token-9').exportPrivateKeyPem());
    expect(await failure(await stranger.sign(claims))).toEqual({ code: 'ACTION_TOKEN_INVALID', field: 'kid' });
    expect(await failure(await signer.sign({ ...claims, exp: claims.iat + 3_600 }))).toEqual({ code: 'ACTION_TOKEN_INVALID', field: 'exp' });
  });

  it('are refused unsigned, untyped, or missing a claim of the format', async () => {
    expect(await failure(new UnsecuredJWT({ ...claims }).encode())).toMatchObject({ code: 'ACTION_TOKEN_INVALID' });
    const key = await importPKCS8(pem, 'EdDSA');
    const untyped = await new SignJWT({ ...claims }).setProtectedHeader({ alg: 'EdDSA', kid: 'tool-token-1' }).sign(key);
    expect(await failure(untyped)).toEqual({ code: 'ACTION_TOKEN_INVALID', field: 'typ' });
    const { args_sha256: _dropped, ...partial } = claims;
    const incomplete = await new SignJWT(partial).setProtectedHeader({ alg: 'EdDSA', typ: 'writ-action+jwt', kid: 'tool-token-1' }).sign(key);
    expect(await failure(incomplete)).toEqual({ code: 'ACTION_TOKEN_INVALID', field: 'args_sha256' });
    expect(await failure('helpdesk-demo-token')).toMatchObject({ code: 'ACTION_TOKEN_INVALID', field: 'authorization' });
  });
});

describe('the arguments of a received request', () => {
  const tools = loadToolRegistry(resolve(import.meta.dirname, '../../../tools'));
  const tool = (name: string) => tools.get(name) as ToolDefinition;
  const received = (request: { method: string; url: string; body: string | undefined }) => {
    const url = new URL(request.url);
    return { method: request.method, path: url.pathname, query: url.searchParams, body: request.body };
  };
  const env = { HELPDESK_URL: 'http://helpdesk.test:8080' };

  it('come back from what the executor sends, typed by the schema (path, query, body)', () => {
    const cases: [string, Record<string, unknown>][] = [
      ['tickets.list', { status: 'open', tag: 'refund approved/ü', limit: 5 }],
      ['tickets.get', { ticket_id: 'T-1001' }],
      ['customers.delete', { customer_id: 'C-501', reason: 'gdpr request' }],
      ['refunds.issue', { ticket_id: 'T-1', customer_id: 'C-1', amount_cents: 10, ticket_tags: ['a'], reason: 'r' }],
    ];
    for (const [name, args] of cases) expect(argumentsOfRequest(tool(name), received(buildToolRequest(tool(name), args, env)))).toEqual(args);
  });

  it('are refused for another method or path, an extra query value, or a path that differs from the body', () => {
    const get = received(buildToolRequest(tool('tickets.get'), { ticket_id: 'T-1001' }, env));
    expect(argumentsOfRequest(tool('tickets.get'), { ...get, method: 'DELETE' })).toBeUndefined();
    expect(argumentsOfRequest(tool('tickets.get'), { ...get, path: '/customers/T-1001' })).toBeUndefined();
    expect(argumentsOfRequest(tool('tickets.get'), { ...get, path: '/tickets/T-1001/extra' })).toBeUndefined();
    // An extra query value is an argument the token's hash did not cover: it comes back, and the hash differs.
    expect(argumentsOfRequest(tool('tickets.get'), { ...get, query: new URLSearchParams('admin=1') })).toEqual({ ticket_id: 'T-1001', admin: '1' });
    const limit = argumentsOfRequest(tool('tickets.list'), { ...get, path: '/tickets', query: new URLSearchParams('limit=1&limit=2') });
    expect(limit).toBeUndefined();
    const body = JSON.stringify({ ticket_id: 'T-1', customer_id: 'C-1', amount_cents: 10, ticket_tags: [], reason: 'r' });
    expect(argumentsOfRequest(tool('refunds.issue'), { method: 'POST', path: '/refunds', query: new URLSearchParams(), body: '[1]' })).toBeUndefined();
    expect(argumentsOfRequest(tool('refunds.issue'), { method: 'POST', path: '/refunds', query: new URLSearchParams('x=1'), body })).toBeUndefined();
  });

  it("name the read-back's path from the call's arguments and result", () => {
    expect(verifyPathOf(tool('refunds.issue'), {}, { refund_id: 'RF 1/2' })).toBe('/refunds/RF%201%2F2');
    expect(verifyPathOf(tool('refunds.issue'), {}, {})).toBeUndefined();
    expect(verifyPathOf(tool('tickets.get'), {}, { id: 'x' })).toBeUndefined();
  });
});
