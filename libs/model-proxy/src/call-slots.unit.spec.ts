import { describe, expect, it } from 'vitest';
import { CallSlots } from './call-slots.ts';
import { PipelineGate } from './pipeline-gate.ts';

describe('the model proxy’s call slots', () => {
  it('refuses an agent past its own limit while others still get slots, and the gateway past its total', () => {
    const slots = new CallSlots(3, 2);
    expect(slots.take('acme/a')).toBeUndefined();
    expect(slots.take('acme/a')).toBeUndefined();
    expect(slots.take('acme/a')).toEqual({ scope: 'agent', held: 2, limit: 2 });
    expect(slots.take('acme/b')).toBeUndefined();
    expect(slots.take('globex/c')).toEqual({ scope: 'gateway', held: 3, limit: 3 });
    expect(slots.held).toBe(3);
  });

  it('gives slots back, never below nothing, and an agent’s freed slot is its own again', () => {
    const slots = new CallSlots(2, 1);
    expect(slots.take('acme/a')).toBeUndefined();
    slots.release('acme/a');
    slots.release('acme/a');
    slots.release('acme/never');
    expect(slots.held).toBe(0);
    expect(slots.take('acme/a')).toBeUndefined();
    expect(slots.take('acme/a')).toEqual({ scope: 'agent', held: 1, limit: 1 });
  });

  it('refuses a call the pipeline gate has no room for, taking no slot; a call that left the gate makes room', () => {
    const gate = new PipelineGate({ max: 2, min: 2, targetMs: 100, decreaseEveryMs: 100 });
    const slots = new CallSlots(10, 10, gate);
    expect(slots.take('acme/a')).toBeUndefined();
    expect(slots.take('acme/b')).toBeUndefined();
    expect(slots.take('acme/c')).toEqual({ scope: 'pipeline', held: 2, limit: 2 });
    expect(slots.held).toBe(2);
    // The first call is being answered by its provider: out of the pipeline, still holding its slot.
    gate.leave(50, 0);
    expect(slots.take('acme/c')).toBeUndefined();
    expect(slots.held).toBe(3);
  });

  it('caps the per-agent limit at the total', () => {
    const slots = new CallSlots(1, 64);
    expect(slots.take('acme/a')).toBeUndefined();
    expect(slots.take('acme/a')).toEqual({ scope: 'agent', held: 1, limit: 1 });
  });
});
