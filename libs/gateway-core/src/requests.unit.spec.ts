import { describe, expect, it } from 'vitest';
import { LONG_POLL_DEFAULT_MS, parseApproval, parseApprovalStatus, parseLongPollTimeout, parseOpenRun, parsePropose, parseSwitch } from './index.ts';

function rejects(run: () => unknown, field: string, rule: string): void {
  try {
    run();
  } catch (error) {
    expect(error).toMatchObject({ code: 'REQUEST_INVALID', field, rule });
    expect((error as Error).message.startsWith(field)).toBe(true);
    return;
  }
  throw new Error(`expected REQUEST_INVALID on ${field}`);
}

describe('parseOpenRun', () => {
  it('takes a goal and optional limits, absent limits as null', () => {
    expect(parseOpenRun({ goal: 'triage', limits: { max_steps: 10, max_cost_micros: 5_000_000, currency: 'USD' } })).toEqual({
      goal: 'triage',
      mode: 'live',
      limits: { max_steps: 10, max_cost_micros: 5_000_000, max_tool_calls: null, wall_clock_ms: null, currency: 'USD' },
    });
    expect(parseOpenRun({ goal: 'g' }).limits.max_steps).toBeNull();
  });

  it('takes the run mode: live by default, or shadow; anything else names the field mode and the rule enum', () => {
    expect(parseOpenRun({ goal: 'g' }).mode).toBe('live');
    expect(parseOpenRun({ goal: 'g', mode: 'live' }).mode).toBe('live');
    expect(parseOpenRun({ goal: 'g', mode: 'shadow' }).mode).toBe('shadow');
    rejects(() => parseOpenRun({ goal: 'g', mode: 'dry-run' }), 'mode', 'enum');
    rejects(() => parseOpenRun({ goal: 'g', mode: 'SHADOW' }), 'mode', 'enum');
    rejects(() => parseOpenRun({ goal: 'g', mode: true }), 'mode', 'enum');
    expect(() => parseOpenRun({ goal: 'g', mode: 'dry-run' })).toThrow('mode must be "live" or "shadow"');
  });

  it('names the field and rule of every mistake', () => {
    rejects(() => parseOpenRun(undefined), 'body', 'type');
    rejects(() => parseOpenRun([]), 'body', 'type');
    rejects(() => parseOpenRun({}), 'goal', 'required');
    rejects(() => parseOpenRun({ goal: 7 }), 'goal', 'type');
    rejects(() => parseOpenRun({ goal: '   ' }), 'goal', 'minLength');
    rejects(() => parseOpenRun({ goal: 'x'.repeat(2001) }), 'goal', 'maxLength');
    rejects(() => parseOpenRun({ goal: 'g', agent: 'someone-else' }), 'agent', 'additionalProperties');
    rejects(() => parseOpenRun({ goal: 'g', limits: 5 }), 'limits', 'type');
    rejects(() => parseOpenRun({ goal: 'g', limits: { max_steps: 0 } }), 'limits.max_steps', 'minimum');
    rejects(() => parseOpenRun({ goal: 'g', limits: { max_steps: 1.5 } }), 'limits.max_steps', 'type');
    rejects(() => parseOpenRun({ goal: 'g', limits: { max_cost_micros: -1, currency: 'USD' } }), 'limits.max_cost_micros', 'minimum');
    rejects(() => parseOpenRun({ goal: 'g', limits: { max_cost_micros: 1 } }), 'limits.currency', 'required');
    rejects(() => parseOpenRun({ goal: 'g', limits: { currency: 'usd' } }), 'limits.currency', 'pattern');
    rejects(() => parseOpenRun({ goal: 'g', limits: { max_stepz: 1 } }), 'limits.max_stepz', 'additionalProperties');
  });
});

describe('parsePropose', () => {
  const good = { tool: 'refunds.issue', arguments: { a: 1 }, reason: 'because', idempotency_key: 'ticket-1:refund' };

  it('takes tool, arguments, reason and idempotency key', () => {
    expect(parsePropose(good)).toEqual({ ...good, tool_version: null });
    expect(parsePropose({ ...good, tool_version: '1.2.0' }).tool_version).toBe('1.2.0');
  });

  it('names the field and rule of every mistake', () => {
    rejects(() => parsePropose({ ...good, tool: undefined }), 'tool', 'required');
    rejects(() => parsePropose({ ...good, tool: 'Refunds' }), 'tool', 'pattern');
    rejects(() => parsePropose({ ...good, tool_version: 'latest' }), 'tool_version', 'pattern');
    rejects(() => parsePropose({ ...good, arguments: undefined }), 'arguments', 'required');
    rejects(() => parsePropose({ ...good, arguments: [1] }), 'arguments', 'type');
    rejects(() => parsePropose({ ...good, reason: '' }), 'reason', 'minLength');
    rejects(() => parsePropose({ ...good, idempotency_key: 'has space' }), 'idempotency_key', 'pattern');
    rejects(() => parsePropose({ ...good, idempotency_key: 'k'.repeat(201) }), 'idempotency_key', 'maxLength');
    rejects(() => parsePropose({ ...good, run_id: 'x' }), 'run_id', 'additionalProperties');
  });
});

describe('parseApproval, parseSwitch and query strings', () => {
  it('approval verdicts', () => {
    expect(parseApproval({ verdict: 'approve' })).toEqual({ verdict: 'approve', comment: null });
    expect(parseApproval({ verdict: 'deny', comment: 'too much' })).toEqual({ verdict: 'deny', comment: 'too much' });
    rejects(() => parseApproval({}), 'verdict', 'required');
    rejects(() => parseApproval({ verdict: 'yes' }), 'verdict', 'enum');
    rejects(() => parseApproval({ verdict: 'approve', comment: 3 }), 'comment', 'type');
  });

  it('switches', () => {
    expect(parseSwitch({ enabled: true, reason: 'incident 42' })).toEqual({ enabled: true, reason: 'incident 42' });
    rejects(() => parseSwitch({ reason: 'r' }), 'enabled', 'required');
    rejects(() => parseSwitch({ enabled: 'true', reason: 'r' }), 'enabled', 'type');
    rejects(() => parseSwitch({ enabled: false }), 'reason', 'required');
  });

  it('long-poll timeout: default, bounds, and type', () => {
    expect(parseLongPollTimeout({})).toBe(LONG_POLL_DEFAULT_MS);
    expect(parseLongPollTimeout({ timeout_ms: '0' })).toBe(0);
    expect(parseLongPollTimeout({ timeout_ms: '30000' })).toBe(30000);
    rejects(() => parseLongPollTimeout({ timeout_ms: '30001' }), 'timeout_ms', 'maximum');
    rejects(() => parseLongPollTimeout({ timeout_ms: '-1' }), 'timeout_ms', 'type');
    rejects(() => parseLongPollTimeout({ timeout_ms: ['1', '2'] }), 'timeout_ms', 'type');
  });

  it('approvals status', () => {
    expect(parseApprovalStatus({})).toBe('pending');
    expect(parseApprovalStatus({ status: 'pending' })).toBe('pending');
    rejects(() => parseApprovalStatus({ status: 'done' }), 'status', 'enum');
  });
});
