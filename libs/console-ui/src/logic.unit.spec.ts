import { describe, expect, it } from 'vitest';
import { ApiError, ConsoleApi } from './api.ts';
import type { KeyStore } from './api.ts';
import { argumentLines, bars, errorMessage, inboxCommand, moveSelection, niceMax, pivotDaily, quorum, sortInbox, timeLeft } from './logic.ts';
import type { ActionJson, ApprovalRequestJson } from './types.ts';

function held(id: string, request: Partial<ApprovalRequestJson>): ActionJson {
  return {
    action_id: id,
    run_id: 'run',
    tenant_id: 'acme',
    agent_id: 'triage-bot',
    tool: 'refunds.issue',
    status: 'awaiting_approval',
    terminal: false,
    shadow: false,
    reason: null,
    reason_code: null,
    arguments: {},
    proposal_reason: null,
    decision: 'approval_required',
    determining_policies: [],
    approval_requirement: { count: 2, roles: ['manager'] },
    approval_request: {
      tool: 'refunds.issue',
      effect: 'write',
      risk: 'medium',
      policy: 'p',
      reason: null,
      needs: { count: 2, roles: ['manager'] },
      approved_by: [],
      requested_at: '2026-01-01T00:00:00.000Z',
      expires_at: null,
      proposal_reason: null,
      run_spend: null,
      previous_similar: null,
      ...request,
    },
    denied_by: null,
    approvals: [],
    result: null,
    cost_micros: null,
    currency: null,
    proposed_at: '2026-01-01T00:00:00.000Z',
    updated_at: null,
    completed_at: null,
  };
}

describe('the approvals inbox', () => {
  it('puts the riskiest first, then the one expiring first, then the longest waiting', () => {
    const order = sortInbox([
      held('low', { risk: 'low' }),
      held('medium-late', { requested_at: '2026-01-01T00:05:00.000Z' }),
      held('medium-early', { requested_at: '2026-01-01T00:01:00.000Z' }),
      held('medium-expiring', { expires_at: '2026-01-01T01:00:00.000Z', requested_at: '2026-01-01T00:09:00.000Z' }),
      held('high', { risk: 'high' }),
    ]).map((action) => action.action_id);
    expect(order).toEqual(['high', 'medium-expiring', 'medium-early', 'medium-late', 'low']);
  });

  it('shows the time left, quorum progress and masks redacted arguments', () => {
    const now = Date.parse('2026-01-01T00:00:00.000Z');
    expect(timeLeft('2026-01-01T00:04:05.000Z', now)).toBe('4m 05s');
    expect(timeLeft('2026-01-01T01:02:00.000Z', now)).toBe('1h 02m');
    expect(timeLeft('2025-12-31T23:59:00.000Z', now)).toBe('expired');
    expect(timeLeft(null, now)).toBe('no deadline');
    expect(quorum(held('q', { approved_by: ['dana'] }))).toEqual({ have: 1, need: 2, label: '1 of 2 approvals (manager)' });
    expect(argumentLines({ ticket: 'T-1', amount: 120, card: { number: '[redacted]' }, tags: [] })).toEqual([
      { path: 'ticket', value: 'T-1', masked: false },
      { path: 'amount', value: '120', masked: false },
      { path: 'card.number', value: '••••••', masked: true },
      { path: 'tags', value: '[]', masked: false },
    ]);
  });

  it('maps keys to commands, never while typing or with a modifier, and moves within bounds', () => {
    const none = { ctrl: false, meta: false, alt: false };
    expect(inboxCommand('a', none, false)).toBe('approve');
    expect(inboxCommand('d', none, false)).toBe('deny');
    expect(inboxCommand('j', none, false)).toBe('next');
    expect(inboxCommand('a', none, true)).toBeUndefined();
    expect(inboxCommand('a', { ...none, ctrl: true }, false)).toBeUndefined();
    expect(moveSelection(0, 'previous', 3)).toBe(0);
    expect(moveSelection(1, 'next', 3)).toBe(2);
    expect(moveSelection(2, 'next', 3)).toBe(2);
    expect(moveSelection(5, 'previous', 3)).toBe(1);
    expect(moveSelection(0, 'next', 0)).toBe(-1);
  });
});

describe('charts', () => {
  it('scale bars to a nice maximum and pivot daily rows by series', () => {
    expect(niceMax([0, 0])).toBe(1);
    expect(niceMax([3])).toBe(5);
    expect(niceMax([120])).toBe(200);
    expect(niceMax([1000])).toBe(1000);
    expect(
      bars([
        { label: 'a', value: 50 },
        { label: 'b', value: 100 },
      ]),
    ).toEqual({
      max: 100,
      bars: [
        { label: 'a', value: 50, ratio: 0.5 },
        { label: 'b', value: 100, ratio: 1 },
      ],
    });
    const pivot = pivotDaily(
      [
        { day: '2026-01-02', decision: 'deny', n: '2' },
        { day: '2026-01-01', decision: 'allow', n: '5' },
        { day: '2026-01-01', decision: 'allow', n: 1 },
      ],
      'day',
      'decision',
      'n',
    );
    expect(pivot).toEqual({ days: ['2026-01-01', '2026-01-02'], series: ['allow', 'deny'], values: { '2026-01-01': { allow: 6 }, '2026-01-02': { deny: 2 } } });
  });
});

describe('ConsoleApi', () => {
  function memory(): KeyStore & { items: Map<string, string> } {
    const items = new Map<string, string>();
    return { items, getItem: (n) => items.get(n) ?? null, setItem: (n, v) => void items.set(n, v), removeItem: (n) => void items.delete(n) };
  }

  it('sends the key as a bearer header (never in the URL) and names the field and rule of an error', async () => {
    const store = memory();
    const seen: { url: string; init: RequestInit | undefined }[] = [];
    const api = new ConsoleApi(store, async (input, init) => {
      seen.push({ url: String(input), init });
      return String(input).endsWith('/bad')
        ? new Response(JSON.stringify({ error: { code: 'REQUEST_INVALID', message: 'limit must be an integer', field: 'limit', rule: '1 to 200' } }), {
            status: 400,
          })
        : new Response(JSON.stringify({ ok: true }), { status: 200 });
    });
    await expect(api.get('/v1/console/session')).rejects.toMatchObject({ status: 401 });
    api.signIn('secret-key');
    expect(await api.get('/v1/console/session')).toEqual({ ok: true });
    expect(seen[0]?.url).toBe('/v1/console/session');
    expect(seen[0]?.url).not.toContain('secret-key');
    expect((seen[0]?.init?.headers as Record<string, string>)['authorization']).toBe('Bearer secret-key');
    const failure = await api.get('/bad').catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(ApiError);
    expect((failure as ApiError).message).toBe('limit must be an integer (limit: 1 to 200)');
    api.signOut();
    expect(store.items.size).toBe(0);
    expect(errorMessage(401, null)).toBe('that key is not known (or was revoked)');
  });
});
