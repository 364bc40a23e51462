import { describe, expect, it } from 'vitest';
import { sha256Hex } from '@writ/crypto';
import { outcomeEvents } from './outcome-events.ts';
import type { ExecutionResult } from './store.ts';

const BODY = '{"card_last4":"[redacted]","refund_id":"RF-1"}';
const executed: ExecutionResult = {
  type: 'ActionExecuted',
  payload: {
    outcome: 'succeeded',
    tool: 'refunds.issue',
    reservation_id: 'res-1',
    result_json: BODY,
    result_sha256: 'c'.repeat(64),
    cost_micros: 20_000,
    currency: 'USD',
    side_effect_refs: ['RF-1'],
    verified: true,
    attempts: 1,
    duration_ms: 12,
  },
};

describe('outcomeEvents', () => {
  it('sends a success as its body (detail tier) then the audited event that references it by digest, never the body', () => {
    const events = outcomeEvents(executed);
    expect(events.map((e) => e.type)).toEqual(['ToolResultRecorded', 'ActionExecuted']);
    const [body, audited] = events;
    expect(body?.payload).toEqual({ tool: 'refunds.issue', result_json: BODY, result_ref: sha256Hex(BODY) });
    expect(audited?.payload).toMatchObject({ result_json: null, result_ref: sha256Hex(BODY), result_sha256: 'c'.repeat(64), cost_micros: 20_000 });
    expect(JSON.stringify(audited?.payload)).not.toContain('RF-1"}');
  });

  it('sends a failure as it is: its message is the permanent record of what went wrong', () => {
    const failed: ExecutionResult = {
      type: 'ActionFailed',
      payload: {
        outcome: 'failed',
        tool: 'refunds.issue',
        reservation_id: 'res-1',
        error_code: 'UPSTREAM_5XX',
        message: 'HTTP 503',
        retriable: true,
        attempts: 3,
        cost_micros: 0,
        currency: 'USD',
      },
    };
    expect(outcomeEvents(failed)).toEqual([failed]);
  });
});
