import { describe, expect, it } from 'vitest';
import { PipelineGate } from './pipeline-gate.ts';

const gate = (targetMs = 100, max = 20, min = 2) => new PipelineGate({ max, min, targetMs, decreaseEveryMs: 100 });

describe('PipelineGate', () => {
  it('lets calls in up to its limit, then refuses; a call that leaves makes room', () => {
    const g = gate(100, 3);
    expect([g.enter(), g.enter(), g.enter(), g.enter()]).toEqual([true, true, true, false]);
    expect(g.inside).toBe(3);
    g.leave(null, 0);
    expect(g.enter()).toBe(true);
  });

  it('lowers its limit for a slow call in proportion (a tenth to a half), once per period, never below min', () => {
    const g = gate(100, 20, 5);
    g.enter();
    g.leave(105, 1_000);
    expect(g.limit).toBe(18);
    // More slow calls within the same period: one congestion signal.
    for (let i = 0; i < 5; i += 1) {
      g.enter();
      g.leave(500, 1_050);
    }
    expect(g.limit).toBe(18);
    // Twice the target: 18 × 100/200.
    g.enter();
    g.leave(200, 1_100);
    expect(g.limit).toBe(9);
    // Ten times: halved at most.
    g.enter();
    g.leave(1_000, 1_200);
    expect(g.limit).toBe(5);
    for (let t = 1_300; t < 3_000; t += 100) {
      g.enter();
      g.leave(500, t);
    }
    expect(g.limit).toBe(5);
  });

  it('raises it by one for each call within the target, up to max', () => {
    const g = gate(100, 20, 2);
    for (let t = 0; t < 3_000; t += 100) {
      g.enter();
      g.leave(1_000, t);
    }
    expect(g.limit).toBe(2);
    for (let i = 0; i < 5; i += 1) {
      g.enter();
      g.leave(50, 4_000);
    }
    expect(g.limit).toBe(7);
    for (let i = 0; i < 100; i += 1) {
      g.enter();
      g.leave(50, 4_000);
    }
    expect(g.limit).toBe(20);
  });

  it('settles where calls take about the target: a queue that grows with what is let in', () => {
    // A pipeline that takes 20 ms a call plus 10 ms for each other call inside: 100 ms at 9 inside.
    const g = gate(100, 256, 4);
    let now = 0;
    for (let step = 0; step < 5_000; step += 1) {
      while (g.enter()) {
        // Offered more than it carries: the gate is always full.
      }
      now += 10;
      g.leave(20 + 10 * (g.inside - 1), now);
    }
    expect(g.limit).toBeGreaterThanOrEqual(7);
    expect(g.limit).toBeLessThanOrEqual(12);
  });

  it('stays at max with the target 0 (off), and measures nothing of calls that left without one', () => {
    const off = gate(0, 5);
    off.enter();
    off.leave(60_000, 0);
    expect(off.limit).toBe(5);
    const on = gate(100, 5);
    on.enter();
    on.leave(null, 0);
    expect(on.limit).toBe(5);
    expect(on.inside).toBe(0);
  });

  it('refuses a min outside [1, max]', () => {
    expect(() => gate(100, 5, 0)).toThrow(/min must be within/);
    expect(() => gate(100, 5, 6)).toThrow(/min must be within/);
  });
});
