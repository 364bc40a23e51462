import { describe, expect, it } from 'vitest';
import { ApiError, ConsoleApi } from './api.ts';
import type { KeyStore } from './api.ts';
import {
  argumentLines,
  bars,
  budgetLimitOf,
  budgetStandings,
  budgetUsageSql,
  errorMessage,
  inboxCommand,
  moveSelection,
  niceMax,
  parseSse,
  pivotDaily,
  quorum,
  runOfStreamEvent,
  shadowOutcome,
  sortInbox,
  timeLeft,
  traceDisplay,
} from './logic.ts';
import type { BudgetLimit, StreamEvent } from './logic.ts';
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

describe('spend against budgets', () => {
  const limit = (patch: Partial<BudgetLimit>): BudgetLimit => ({
    scope: 'agent_day',
    level: 'agent',
    period: 'day',
    subject: 'triage-bot',
    window_ms: null,
    kind: 'money',
    limit: 5_000_000,
    thresholds: [50, 80, 100],
    currency: 'USD',
    time_zone: 'Europe/Berlin',
    ...patch,
  });
  const usage = [
    {
      agent_id: 'triage-bot',
      tool: 'refunds.issue',
      money_day: '250000',
      calls_day: '1',
      money_month: '900000',
      calls_month: '3',
      money_w3600000: '250000',
      calls_w3600000: '1',
    },
    {
      agent_id: 'triage-bot',
      tool: 'tickets.get',
      money_day: '0',
      calls_day: '4',
      money_month: '0',
      calls_month: '9',
      money_w3600000: '0',
      calls_w3600000: '2',
    },
    {
      agent_id: 'intake-bot',
      tool: 'tickets.get',
      money_day: '100000',
      calls_day: '2',
      money_month: '100000',
      calls_month: '2',
      money_w3600000: '0',
      calls_w3600000: '0',
    },
  ];

  it('reads the rows of current_budget_limits', () => {
    expect(
      budgetLimitOf({
        scope: 'tool_window',
        level: 'tool',
        period: 'window',
        subject: 'refunds.issue',
        window_ms: '3600000',
        kind: 'tool_calls',
        limit_value: '1000',
        thresholds_percent: [50],
        currency: 'USD',
        time_zone: 'UTC',
      }),
    ).toEqual({
      scope: 'tool_window',
      level: 'tool',
      period: 'window',
      subject: 'refunds.issue',
      window_ms: 3_600_000,
      kind: 'tool_calls',
      limit: 1000,
      thresholds: [50],
      currency: 'USD',
      time_zone: 'UTC',
    });
  });

  it('asks for the spend of each open period in the tenant’s time zone, and refuses a zone that is no name', () => {
    const sql = budgetUsageSql('Europe/Berlin', [3_600_000, 3_600_000]) ?? '';
    expect(sql).toContain("toStartOfDay(now('Europe/Berlin'))");
    expect(sql).toContain("toDateTime(toStartOfMonth(now('Europe/Berlin')), 'Europe/Berlin')");
    expect(sql.match(/AS money_w3600000/g)).toHaveLength(1);
    expect(sql).toContain("run_mode = 'live'");
    expect(budgetUsageSql("UTC') OR 1 --", [])).toBeNull();
  });

  it('puts each budget’s use in its period against its limit: an agent’s own, the tenant’s sum, a window', () => {
    const standings = budgetStandings(
      [
        limit({}),
        limit({ scope: 'tenant_month', level: 'tenant', period: 'month', subject: '*', limit: 1_000_000_000 }),
        limit({ scope: 'tool_window', level: 'tool', period: 'window', subject: 'refunds.issue', window_ms: 3_600_000, kind: 'tool_calls', limit: 1000 }),
        limit({ scope: 'run', level: 'run', period: 'run', subject: '*' }),
      ],
      usage,
    );
    expect(standings.map((s) => [s.scope, s.who, s.kind, s.used, s.limit])).toEqual([
      ['agent_day', 'triage-bot', 'money', 250_000, 5_000_000],
      ['tenant_month', '*', 'money', 1_000_000, 1_000_000_000],
      ['tool_window', 'refunds.issue', 'tool_calls', 1, 1000],
    ]);
    expect(standings[0]?.percent).toBe(5);
  });

  it('reports a default ("*") budget for each subject without its own that used it, or once at 0', () => {
    const standings = budgetStandings([limit({}), limit({ subject: '*', limit: 1_000_000 })], usage);
    expect(standings.map((s) => [s.subject, s.who, s.used])).toEqual([
      ['triage-bot', 'triage-bot', 250_000],
      ['*', 'intake-bot', 100_000],
    ]);
    expect(budgetStandings([limit({ subject: '*' })], [])).toMatchObject([{ who: '*', used: 0, percent: 0 }]);
  });
});

describe('the live stream', () => {
  it('reads server-sent events across chunks, skipping heartbeats and retry lines', () => {
    const first = parseSse('retry: 3000\n\nevent: ready\ndata: {"heartbeat_ms":15000}\n\n: heartbeat\n\nevent: run\ndata: {"run_');
    expect(first.events).toEqual([{ event: 'ready', data: '{"heartbeat_ms":15000}' }]);
    const second = parseSse(`${first.rest}id":"r1"}\r\n\r\nevent: approvals\ndata: {}\n\n`);
    expect(second.events).toEqual([
      { event: 'run', data: '{"run_id":"r1"}' },
      { event: 'approvals', data: '{}' },
    ]);
    expect(second.rest).toBe('');
    expect(runOfStreamEvent(second.events[0] as StreamEvent)).toBe('r1');
    expect(runOfStreamEvent({ event: 'run', data: 'not json' })).toBeUndefined();
    expect(runOfStreamEvent({ event: 'approvals', data: '{"run_id":"r1"}' })).toBeUndefined();
  });

  it('reads the stream with the key in its header, never in the address', async () => {
    const calls: { url: string; init: RequestInit | undefined }[] = [];
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('event: ready\ndata: {}\n\nevent: appro'));
        controller.enqueue(new TextEncoder().encode('vals\ndata: {}\n\n'));
        controller.close();
      },
    });
    const store = new Map<string, string>();
    const keys: KeyStore = { getItem: (n) => store.get(n) ?? null, setItem: (n, v) => store.set(n, v), removeItem: (n) => store.delete(n) };
    const api = new ConsoleApi(keys, async (url, init) => {
      calls.push({ url: String(url), init });
      return new Response(body, { status: 200, headers: { 'content-type': 'text/event-stream' } });
    });
    api.signIn('wk_secret');
    const seen: string[] = [];
    await api.stream('/v1/console/stream', (event) => seen.push(event.event), new AbortController().signal);
    expect(seen).toEqual(['ready', 'approvals']);
    expect(calls[0]?.url).toBe('/v1/console/stream');
    expect((calls[0]?.init?.headers as Record<string, string>)['authorization']).toBe('Bearer wk_secret');
  });

  it('rejects a refused stream with the gateway’s message (the console then polls)', async () => {
    const store = new Map<string, string>([['writ.console.key', 'k']]);
    const keys: KeyStore = { getItem: (n) => store.get(n) ?? null, setItem: (n, v) => store.set(n, v), removeItem: (n) => store.delete(n) };
    const api = new ConsoleApi(keys, async () => Response.json({ error: { message: 'too many', field: 'authorization', rule: 'at most 4' } }, { status: 429 }));
    await expect(api.stream('/v1/console/stream', () => undefined, new AbortController().signal)).rejects.toMatchObject({
      status: 429,
      message: 'too many (authorization: at most 4)',
    });
  });
});

describe('the timeline’s trace and shadow results', () => {
  it('links the trace when the gateway has a template, else shows the id to copy', () => {
    expect(traceDisplay('abc', 'https://tempo.example/trace/abc')).toEqual({ kind: 'link', href: 'https://tempo.example/trace/abc', id: 'abc' });
    expect(traceDisplay('abc', null)).toEqual({ kind: 'text', id: 'abc' });
    expect(traceDisplay('abc', 'javascript:alert(1)')).toEqual({ kind: 'text', id: 'abc' });
    expect(traceDisplay(null, 'https://x')).toEqual({ kind: 'none' });
  });

  it('shows each shadow policy against the enforced decision, and a shadow run’s outcome as what would have happened', () => {
    const action = {
      shadow: false,
      status: 'completed',
      decision: 'allow',
      reason_code: 'SUCCEEDED',
      shadow_results: [
        { policy_id: 'refunds-new-cap', decision: 'deny', determining_policies: ['refunds-new-cap'] },
        { policy_id: 'refunds-audit', decision: 'allow', determining_policies: [] },
      ],
    };
    expect(shadowOutcome(action)).toEqual([
      { key: 'policy:refunds-new-cap', text: 'shadow policy refunds-new-cap would have decided deny by refunds-new-cap (enforced: allow)', disagrees: true },
      { key: 'policy:refunds-audit', text: 'shadow policy refunds-audit would have decided allow (agrees)', disagrees: false },
    ]);
    expect(shadowOutcome({ ...action, shadow: true, shadow_results: [] })).toEqual([
      { key: 'run', text: 'shadow run: nothing was executed; would have ended completed (SUCCEEDED)', disagrees: false },
    ]);
    expect(shadowOutcome({ ...action, shadow_results: [] })).toEqual([]);
  });
});
