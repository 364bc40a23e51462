import { describe, expect, it } from 'vitest';
import { actionIdFor, newMetadata, uuidv7 } from './metadata.ts';
import { RULES } from './rules.ts';

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

function millisOf(uuid: string): number {
  return Number.parseInt(uuid.replaceAll('-', '').slice(0, 12), 16);
}

describe('newMetadata', () => {
  it('fills a UUIDv7 event id, the time, and nulls for what is not given', () => {
    const before = Date.now();
    const meta = newMetadata({ tenant_id: 't', run_id: 'r', producer: 'planner@0.1.0' });
    expect(meta).toMatchObject({ tenant_id: 't', run_id: 'r', action_id: null, causation_id: null, trace: null, producer: 'planner@0.1.0' });
    expect(meta.event_id).toMatch(UUID_V7);
    expect(meta.occurred_at).toBeGreaterThanOrEqual(before);
    expect(meta.occurred_at).toBeLessThanOrEqual(Date.now());
    expect(millisOf(meta.event_id)).toBe(meta.occurred_at);
  });

  it('keeps what the producer gives', () => {
    const trace = { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', tracestate: 'k=v' };
    const meta = newMetadata({ tenant_id: 't', run_id: 'r', action_id: 'a', causation_id: 'c', producer: 'p@1', trace, occurred_at: 1_700_000_000_000 });
    expect(meta).toMatchObject({ action_id: 'a', causation_id: 'c', trace, occurred_at: 1_700_000_000_000 });
  });
});

describe('uuidv7', () => {
  it('is a valid UUID carrying the timestamp', () => {
    const id = uuidv7(1_750_000_000_123);
    expect(id).toMatch(UUID_V7);
    expect(RULES.uuid.test(id)).toBe(true);
  });

  it('sorts in creation order, also many within one millisecond', () => {
    const ids = Array.from({ length: 5_000 }, () => uuidv7());
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('still increases when the clock steps back a little', () => {
    const now = Date.now() + 60_000;
    const first = uuidv7(now);
    const second = uuidv7(now - 5);
    expect(second > first).toBe(true);
  });
});

describe('actionIdFor', () => {
  it('is the same for the same tenant, run and idempotency key, and a valid version-8 UUID', () => {
    const id = actionIdFor('acme', 'run-1', 'refund-42');
    expect(id).toBe(actionIdFor('acme', 'run-1', 'refund-42'));
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('differs when any part differs, including by where the parts split', () => {
    const base = actionIdFor('acme', 'run-1', 'k');
    expect(actionIdFor('acme2', 'run-1', 'k')).not.toBe(base);
    expect(actionIdFor('acme', 'run-2', 'k')).not.toBe(base);
    expect(actionIdFor('acme', 'run-1', 'k2')).not.toBe(base);
    expect(actionIdFor('ab', 'c', 'd')).not.toBe(actionIdFor('a', 'bc', 'd'));
  });
});
