import { describe, expect, it } from 'vitest';
import { newMetadata, uuidv7 } from './metadata.ts';
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
