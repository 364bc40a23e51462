import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToolRegistry, loadToolRegistry } from '@writ/tools';
import { startHelpdesk } from './index.ts';
import type { RunningHelpdesk } from './index.ts';

const TOKEN = 'test-token';
let helpdesk: RunningHelpdesk;

async function call(method: string, path: string, options: { key?: string; body?: unknown; token?: string; timeoutMs?: number } = {}) {
  const headers: Record<string, string> = { authorization: `Bearer ${options.token ?? TOKEN}` };
  if (options.key !== undefined) headers['idempotency-key'] = options.key;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${helpdesk.url}${path}`, {
    method,
    headers,
    ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
    signal: AbortSignal.timeout(options.timeoutMs ?? 5_000),
  });
  return { status: response.status, headers: response.headers, body: (await response.json()) as Record<string, unknown> };
}

const refund = { ticket_id: 'T-1001', customer_id: 'C-501', amount_cents: 2500, ticket_tags: ['refund_approved'], reason: 'damaged' };

beforeAll(async () => {
  // The repository's tools declaring the static fallback (the per-action tokens: credentials.int.spec.ts).
  const tools = loadToolRegistry(resolve(import.meta.dirname, '../../../tools'))
    .list()
    .map((tool) => ({ ...tool, credential: { env: 'HELPDESK_TOKEN' } }));
  helpdesk = await startHelpdesk({ port: 0, token: TOKEN, tools: createToolRegistry(tools) });
});
afterAll(async () => {
  await helpdesk.close();
});

describe('helpdesk', () => {
  it('refuses every call without the bearer token, stats and control included', async () => {
    for (const [method, path] of [
      ['GET', '/tickets'],
      ['GET', '/_stats'],
      ['POST', '/_control'],
    ] as const) {
      expect((await call(method, path, { token: 'wrong' })).status).toBe(401);
    }
  });

  it('answers /health without a token, for supervisors', async () => {
    const response = await fetch(`${helpdesk.url}/health`);
    expect(response.status).toBe(200);
  });

  it('serves the seeded queue, filtered by tag', async () => {
    const { body } = await call('GET', '/tickets?tag=refund_approved');
    const tickets = body['tickets'] as { id: string; tags: string[] }[];
    expect(tickets.length).toBeGreaterThanOrEqual(3);
    expect(tickets.every((t) => t.tags.includes('refund_approved'))).toBe(true);
    expect((await call('GET', '/customers/C-501')).body['email']).toBe('ada@example.com');
    expect((await call('GET', '/tickets/T-9999')).status).toBe(404);
  });

  it('runs a write once per idempotency key and replays the first reply', async () => {
    const first = await call('POST', '/refunds', { key: 'idem-1', body: refund });
    const second = await call('POST', '/refunds', { key: 'idem-1', body: refund });
    expect(first.status).toBe(201);
    expect(second.body).toEqual(first.body);
    expect(second.headers.get('idempotent-replayed')).toBe('true');
    const reused = await call('POST', '/refunds', { key: 'idem-1', body: { ...refund, amount_cents: 1 } });
    expect(reused.status).toBe(422);
    const stats = helpdesk.stats();
    expect(stats.effects['idem-1']).toBe(1);
    expect(stats.calls_by_key['idem-1']).toBe(3);
    expect(stats.replays['idem-1']).toBe(1);
  });

  it('injects failures: 503 before the effect, and a lost reply after it', async () => {
    await call('POST', '/_control', { body: { mode: 'fail', count: 1, route: 'POST /refunds' } });
    expect((await call('POST', '/refunds', { key: 'idem-2', body: refund })).status).toBe(503);
    expect(helpdesk.stats().effects['idem-2']).toBeUndefined();
    expect((await call('POST', '/refunds', { key: 'idem-2', body: refund })).status).toBe(201);

    helpdesk.control({ mode: 'fail', route: 'POST /refunds', after_effect: true });
    expect((await call('POST', '/refunds', { key: 'idem-3', body: refund })).status).toBe(503);
    const retry = await call('POST', '/refunds', { key: 'idem-3', body: refund });
    expect(retry.status).toBe(201);
    expect(helpdesk.stats().effects['idem-3']).toBe(1);
  });

  it('hangs the next call until the caller gives up, then answers again', async () => {
    const before = helpdesk.stats().calls['GET /tickets/:id'] ?? 0;
    helpdesk.control({ mode: 'hang', route: 'GET /tickets/:id' });
    await expect(call('GET', '/tickets/T-1001', { timeoutMs: 300 })).rejects.toThrow();
    expect((await call('GET', '/tickets/T-1001')).status).toBe(200);
    expect(helpdesk.stats().calls['GET /tickets/:id']).toBe(before + 2);
  });
});
