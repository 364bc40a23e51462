import { describe, expect, it } from 'vitest';
import { WritError } from '@writ/errors';
import type { ActionJson } from '@writ/gateway-core';
import { jsonRpcErrorOf } from './mcp-errors.ts';
import { MCP_META, asToolError, proposalBody, runIdOf, toolResultOf, waitMsOf } from './mcp-results.ts';

function action(fields: Partial<ActionJson>): ActionJson {
  return {
    action_id: 'a-1',
    run_id: 'r-1',
    status: 'completed',
    terminal: true,
    result: null,
    reason: null,
    reason_code: null,
    denied_by: null,
    determining_policies: [],
    approval_request: null,
    rejection: null,
    cost_micros: null,
    currency: null,
    ...fields,
  } as ActionJson;
}

describe('the tool result of an action', () => {
  it('is the tool’s result when completed', () => {
    const result = toolResultOf(action({ result: { ticket: 'T-1' }, cost_micros: 1000, currency: 'USD' }));
    expect(result.isError).toBeUndefined();
    expect(result.structuredContent).toMatchObject({ action_id: 'a-1', status: 'completed', result: { ticket: 'T-1' }, cost_micros: 1000 });
    expect(result.content).toEqual([{ type: 'text', text: '{"ticket":"T-1"}' }]);
  });

  it('is a tool error naming the policy when denied', () => {
    const result = toolResultOf(action({ status: 'denied', denied_by: 'customer-delete-forbidden', reason: 'forbidden' }));
    expect(result.isError).toBe(true);
    expect(result.structuredContent).toMatchObject({ status: 'denied', policy: 'customer-delete-forbidden', reason: 'forbidden' });
    expect(result.content[0]).toEqual({ type: 'text', text: 'denied by policy customer-delete-forbidden: forbidden' });
  });

  it('is pending, with the action id and the approval asked for, while held', () => {
    const approval_request = {
      policy: 'refund-over-100',
      reason: 'big refund',
      needs: { count: 1, roles: ['manager'] },
    } as unknown as ActionJson['approval_request'];
    const result = toolResultOf(action({ status: 'awaiting_approval', terminal: false, approval_request }));
    expect(result.isError).toBeUndefined();
    expect(result.structuredContent).toMatchObject({ action_id: 'a-1', pending: true, approval: { policy: 'refund-over-100', needs: { count: 1 } } });
    expect(result._meta).toEqual({ [MCP_META.actionId]: 'a-1', [MCP_META.status]: 'awaiting_approval' });
    expect(JSON.stringify(result.content)).toContain('writ.await_outcome');
  });

  it('is a tool error with the reason code for every other end', () => {
    const result = toolResultOf(action({ status: 'rejected', reason: 'tool refunds.issue is switched off', reason_code: 'KILL_SWITCH' }));
    expect(result.isError).toBe(true);
    expect(result.structuredContent).toMatchObject({ status: 'rejected', policy: null, reason_code: 'KILL_SWITCH' });
  });
});

describe('a tools/call’s _meta', () => {
  it('names the run, else the header; neither is an error naming the field', () => {
    expect(runIdOf({ [MCP_META.runId]: 'r-meta' }, 'r-header')).toBe('r-meta');
    expect(runIdOf(undefined, 'r-header')).toBe('r-header');
    expect(() => runIdOf({}, undefined)).toThrow(expect.objectContaining({ field: '_meta.writ/run_id', rule: 'required' }) as Error);
    expect(() => runIdOf({ [MCP_META.runId]: 7 }, undefined)).toThrow(expect.objectContaining({ rule: 'type' }) as Error);
  });

  it('derives the same idempotency key for the same tool and arguments, another for others, and takes a given one', () => {
    const key = (tool: string, args: Record<string, unknown>) => proposalBody(tool, args, undefined)['idempotency_key'];
    expect(key('tickets.get', { a: 1, b: 2 })).toBe(key('tickets.get', { b: 2, a: 1 }));
    expect(key('tickets.get', { a: 1 })).not.toBe(key('tickets.get', { a: 2 }));
    expect(key('tickets.get', { a: 1 })).not.toBe(key('tickets.list', { a: 1 }));
    expect(proposalBody('tickets.get', {}, { [MCP_META.idempotencyKey]: 'k-1' })['idempotency_key']).toBe('k-1');
  });

  it('bounds the wait', () => {
    expect(waitMsOf(undefined)).toBe(10_000);
    expect(waitMsOf({ [MCP_META.waitMs]: 0 })).toBe(0);
    expect(() => waitMsOf({ [MCP_META.waitMs]: 30_001 })).toThrow(expect.objectContaining({ field: '_meta.writ/wait_ms' }) as Error);
  });
});

describe('errors', () => {
  it('a refused request is a tool error naming the field and the rule; a retriable one is left to the protocol', () => {
    const refused = asToolError(new WritError('ARGUMENTS_INVALID', 'bad', { field: 'arguments.amount_cents', rule: 'type' }));
    expect(refused).toMatchObject({
      isError: true,
      structuredContent: { error: { code: 'ARGUMENTS_INVALID', field: 'arguments.amount_cents', rule: 'type' } },
    });
    expect(asToolError(new WritError('TOO_MANY_WAITERS', 'busy', { retriable: true }))).toBeUndefined();
    expect(asToolError(new Error('boom'))).toBeUndefined();
  });

  it('the gateway’s own refusals on the MCP path are JSON-RPC errors', () => {
    expect(JSON.parse(jsonRpcErrorOf(400, { code: 'REQUEST_INVALID', message: 'x', field: 'method', rule: 'syntax' }))).toMatchObject({
      error: { code: -32700 },
    });
    expect(JSON.parse(jsonRpcErrorOf(415, { code: 'REQUEST_INVALID', message: 'x', field: 'content-type', rule: 'contentType' }))).toMatchObject({
      error: { code: -32600 },
    });
    expect(JSON.parse(jsonRpcErrorOf(401, { code: 'UNAUTHENTICATED', message: 'x', field: 'authorization' }))).toEqual({
      jsonrpc: '2.0',
      id: null,
      error: { code: -32001, message: 'x', data: { code: 'UNAUTHENTICATED', field: 'authorization' } },
    });
  });
});
