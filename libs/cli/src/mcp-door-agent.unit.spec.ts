import { describe, expect, it } from 'vitest';
import { isWritError } from '@writ/errors';
import { viewOfToolAnswer } from './mcp-door-agent.ts';

const base = { action_id: 'a-1', run_id: 'r-1' };

describe('the MCP door as the triage agent reads it', () => {
  it('reads a completed call with its result and the policies that allowed it', () => {
    expect(viewOfToolAnswer({ ...base, status: 'completed', result: { tickets: [] }, determining_policies: ['tickets-read'], cost_micros: 900 })).toEqual({
      ...base,
      status: 'completed',
      result: { tickets: [] },
      determining_policies: ['tickets-read'],
      cost_micros: 900,
    });
  });

  it('names the policy that holds a pending call, and the one that denied a call', () => {
    expect(viewOfToolAnswer({ ...base, status: 'awaiting_approval', approval: { policy: 'refund-over-100' } })).toMatchObject({
      status: 'awaiting_approval',
      determining_policies: ['refund-over-100'],
    });
    // A quorum: how many approvals it needs, from which roles (the demo asks a second manager for two).
    expect(
      viewOfToolAnswer({ ...base, status: 'awaiting_approval', approval: { policy: 'refund-over-500', needs: { count: 2, roles: ['manager'] } } }),
    ).toMatchObject({ approval_requirement: { policy_id: 'refund-over-500', count: 2, roles: ['manager'] } });
    expect(viewOfToolAnswer({ ...base, status: 'denied', policy: 'customer-delete-forbidden', reason: 'never' })).toMatchObject({
      status: 'denied',
      determining_policies: ['customer-delete-forbidden'],
      reason: 'never',
    });
  });

  it('turns a refused request into the error naming its field and rule, and refuses an answer without an action', () => {
    let caught: unknown;
    try {
      viewOfToolAnswer({ error: { code: 'ARGUMENTS_INVALID', message: 'bad', field: 'arguments.amount_cents', rule: 'type' } });
    } catch (error) {
      caught = error;
    }
    expect(isWritError(caught) && { code: caught.code, field: caught.field, rule: caught.rule }).toEqual({
      code: 'ARGUMENTS_INVALID',
      field: 'arguments.amount_cents',
      rule: 'type',
    });
    expect(() => viewOfToolAnswer({ status: 'completed' })).toThrow('without action_id');
  });
});
