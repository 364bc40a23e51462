// What the executor reports a call cost against its tool's declared cost: the expected cost, a
// cost the result reports, a report above the declared maximum (a breach, settled at what it
// reported) and a declared report that is missing (the maximum is charged). The declarations the
// registry refuses: libs/tools/src/cost.unit.spec.ts.
import { describe, expect, it } from 'vitest';
import { createKeyring, generateSigningKey } from '@writ/crypto';
import { ControlBoard, createToolRegistry } from '@writ/tools';
import { Executor, MemoryIdempotencyStore } from './index.ts';
import type { HttpFetch } from './index.ts';
import { signedExecutionRequest } from './testing/index.ts';

const warrantKey = generateSigningKey('warrant-1');
const reservationKey = generateSigningKey('reservation-1');

function quoteTool(version: string, cost: Record<string, unknown>): Record<string, unknown> {
  return {
    name: 'quotes.fetch',
    version,
    description: 'A priced lookup.',
    effect: 'read',
    risk: 'low',
    arguments: { type: 'object', properties: { q: { type: 'string' } }, required: ['q'], additionalProperties: false },
    cost: { currency: 'USD', ...cost },
    timeout_ms: 1000,
    retry: { max_attempts: 1, initial_backoff_ms: 0, max_backoff_ms: 0 },
    idempotent: true,
    endpoint: { method: 'GET', url: 'http://127.0.0.1:1/quotes' },
  };
}

const registry = createToolRegistry([quoteTool('1.0.0', { micros: 100 }), quoteTool('2.0.0', { micros: 100, max_micros: 500, actual: 'billing.fee_micros' })]);

async function callWith(version: string, answer: unknown) {
  const fetch: HttpFetch = () => Promise.resolve({ status: 200, headers: { get: () => null }, text: () => Promise.resolve(JSON.stringify(answer)) });
  const executor = new Executor({
    registry,
    warrantKeys: createKeyring({ 'warrant-1': warrantKey.publicKey }),
    reservationKeys: createKeyring({ 'reservation-1': reservationKey.publicKey }),
    controls: new ControlBoard(),
    store: new MemoryIdempotencyStore(),
    fetch,
    credential: () => Promise.resolve(undefined),
    env: {},
    now: () => Date.now(),
    sleep: () => Promise.resolve(),
    random: () => 0.5,
  });
  const request = signedExecutionRequest({
    tenant: 'acme',
    runId: `run-${version}`,
    agent: 'bot',
    tool: 'quotes.fetch',
    toolVersion: version,
    args: { q: 'x' },
    idempotencyKey: `key-${Math.random()}`,
    warrantKey,
    reservationKey,
    amountMicros: version === '1.0.0' ? 100 : 500,
  });
  const report = await executor.execute(request);
  if (report.result.type !== 'ActionExecuted') throw new Error(`expected ActionExecuted, got ${JSON.stringify(report.result)}`);
  return { cost: report.result.payload.cost_micros, report: report.cost };
}

describe('the cost of a call', () => {
  it('is the expected cost for a tool that reports none', async () => {
    expect(await callWith('1.0.0', { price: 3 })).toEqual({ cost: 100, report: { micros: 100, max_micros: 100, breach: null } });
  });

  it('is what the result reports, within the declared maximum', async () => {
    expect(await callWith('2.0.0', { billing: { fee_micros: 420 } })).toEqual({ cost: 420, report: { micros: 420, max_micros: 500, breach: null } });
    expect(await callWith('2.0.0', { billing: { fee_micros: 0 } })).toMatchObject({ cost: 0 });
  });

  it('above the maximum, is what the result reports and a breach of the contract', async () => {
    expect(await callWith('2.0.0', { billing: { fee_micros: 900 } })).toEqual({ cost: 900, report: { micros: 900, max_micros: 500, breach: 'over_max' } });
  });

  it('when the declared report is missing or not a whole number, is the maximum and a breach', async () => {
    for (const answer of [{}, { billing: { fee_micros: '420' } }, { billing: { fee_micros: -1 } }, { billing: { fee_micros: 1.5 } }]) {
      expect(await callWith('2.0.0', answer)).toEqual({ cost: 500, report: { micros: 500, max_micros: 500, breach: 'unreported' } });
    }
  });
});
