import 'reflect-metadata';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { AccessRole, Principal } from '@writ/directory';
import type { ActionState, ReadModelChange } from '@writ/gateway-core';
import { ConsoleStreams, sseEvent, streamKeyId, streamNewsOf } from './console-stream.ts';
import type { StreamClient } from './console-stream.ts';
import { CONSOLE_CSP, consoleSession, traceUrlOf, traceUrlTemplate } from './console.controller.ts';

const user = (roles: AccessRole[], tenant = 'acme'): Principal => ({
  kind: 'user',
  user: { id: 'u', tenant, role: 'staff', roles, api_keys_sha256: [], name: 'U' },
});

describe('the console session', () => {
  it('opens the views of the caller’s roles only, and refuses agents and services', () => {
    expect(consoleSession(user(['approver'])).views).toEqual(['approvals', 'runs']);
    expect(consoleSession(user(['operator'])).views).toEqual(['runs', 'controls']);
    expect(consoleSession(user(['analyst'])).views).toEqual(['runs', 'spend']);
    expect(consoleSession(user(['auditor'])).views).toEqual(['runs', 'controls', 'spend', 'ledger']);
    // An admin is operator, analyst and auditor, never approver (the directory's rule).
    expect(consoleSession(user(['admin'])).views).toEqual(['runs', 'controls', 'spend', 'ledger']);
    expect(consoleSession(user(['analyst'])).tenant).toBe('acme');
    const agent: Principal = { kind: 'agent', agent: { id: 'bot', tenant: 'acme' } as never };
    expect(() => consoleSession(agent)).toThrow(expect.objectContaining({ code: 'FORBIDDEN', field: 'authorization', rule: 'must be a user API key' }));
    const service: Principal = { kind: 'service', service: { id: 'cli' } as never };
    expect(() => consoleSession(service)).toThrow(expect.objectContaining({ code: 'FORBIDDEN' }));
  });

  it('serves the page under a CSP with no inline script or style and no other origin', () => {
    expect(CONSOLE_CSP).toContain("default-src 'none'");
    expect(CONSOLE_CSP).toContain("script-src 'self'");
    expect(CONSOLE_CSP).toContain("connect-src 'self'");
    expect(CONSOLE_CSP).toContain("frame-ancestors 'none'");
    expect(CONSOLE_CSP).not.toMatch(/unsafe-|https?:/);
  });
});

describe('the trace link', () => {
  it('fills WRIT_CONSOLE_TRACE_URL with the trace id, and shows none without a template or a trace', () => {
    const template = traceUrlTemplate('https://tempo.example/trace/{trace_id}?from=writ');
    expect(traceUrlOf(template, '4bf92f3577b34da6a3ce929d0e0e4736')).toBe('https://tempo.example/trace/4bf92f3577b34da6a3ce929d0e0e4736?from=writ');
    expect(traceUrlOf(template, null)).toBeNull();
    expect(traceUrlOf(traceUrlTemplate(undefined), 'abc')).toBeNull();
    expect(traceUrlTemplate('')).toBeUndefined();
  });

  it('refuses a template that is no http(s) URL or has no {trace_id}, naming the setting and the rule', () => {
    for (const bad of ['https://tempo.example/trace/', 'javascript:alert({trace_id})', 'tempo/{trace_id}']) {
      expect(() => traceUrlTemplate(bad), bad).toThrow(
        expect.objectContaining({ code: 'CONFIG_INVALID', field: 'WRIT_CONSOLE_TRACE_URL', rule: 'an http(s) URL containing {trace_id}' }),
      );
    }
  });
});

describe('the console’s live stream', () => {
  const action = (patch: Partial<ActionState>): ActionState =>
    ({ action_id: 'a1', run_id: 'r1', tenant_id: 'acme', status: 'proposed', approvals: [], ...patch }) as ActionState;
  const change = (before: Partial<ActionState> | undefined, after: Partial<ActionState>): ReadModelChange => ({
    kind: 'action',
    before: before === undefined ? undefined : action(before),
    after: action(after),
  });

  interface Recorded {
    readonly client: StreamClient;
    readonly chunks: string[];
    ended: boolean;
  }
  const client = (tenant: string, keyId: string, views: { approvals?: boolean; runs?: boolean } = { approvals: true, runs: true }): Recorded => {
    const recorded: { client?: StreamClient; chunks: string[]; ended: boolean } = { chunks: [], ended: false };
    recorded.client = {
      tenant,
      keyId,
      approvals: views.approvals ?? false,
      runs: views.runs ?? false,
      write: (chunk) => recorded.chunks.push(chunk),
      end: () => {
        recorded.ended = true;
      },
    };
    return recorded as Recorded;
  };

  afterEach(() => {
    vi.useRealTimers();
  });

  it('tells the inbox when an action is held or leaves the hold, and a run’s pages when its actions change', () => {
    expect(streamNewsOf(change(undefined, { status: 'awaiting_approval' }))).toEqual({ tenant: 'acme', approvals: true, run: 'r1' });
    expect(streamNewsOf(change({ status: 'awaiting_approval' }, { status: 'completed' }))).toMatchObject({ approvals: true });
    expect(streamNewsOf(change({ status: 'proposed' }, { status: 'admitted' }))).toMatchObject({ approvals: false, run: 'r1' });
    expect(streamNewsOf(undefined)).toBeUndefined();
  });

  it('sends each stream its own tenant’s news only, by the views it serves, coalesced, with a heartbeat', () => {
    vi.useFakeTimers();
    const streams = new ConsoleStreams({ maxPerKey: 4, heartbeatMs: 1_000, coalesceMs: 100 });
    const approver = client('acme', 'k1', { approvals: true, runs: true });
    const operator = client('acme', 'k2', { runs: true });
    const other = client('globex', 'k3');
    for (const c of [approver, operator, other]) streams.open(c.client);
    expect(streams.preamble).toContain('event: ready');

    streams.onChange(change(undefined, { status: 'awaiting_approval' }));
    streams.onChange(change({ status: 'proposed' }, { status: 'awaiting_approval', approvals: [] }));
    expect(approver.chunks).toEqual([]);
    vi.advanceTimersByTime(100);
    // Two changes in the window: one message of each kind.
    expect(approver.chunks).toEqual([`${sseEvent('approvals', {})}${sseEvent('run', { run_id: 'r1' })}`]);
    expect(operator.chunks).toEqual([sseEvent('run', { run_id: 'r1' })]);
    expect(other.chunks).toEqual([]);

    vi.advanceTimersByTime(1_000);
    expect(other.chunks).toEqual([': heartbeat\n\n']);
  });

  it('holds at most WRIT_CONSOLE_STREAM_MAX_PER_KEY streams per key (429), and forgets a closed one and its timers', () => {
    vi.useFakeTimers();
    const streams = new ConsoleStreams({ maxPerKey: 2, heartbeatMs: 1_000 });
    const first = client('acme', 'k1');
    const close = streams.open(first.client);
    streams.open(client('acme', 'k1').client);
    expect(() => streams.open(client('acme', 'k1').client)).toThrow(
      expect.objectContaining({
        code: 'CONSOLE_STREAMS_EXCEEDED',
        field: 'authorization',
        rule: 'at most 2 streams per key (WRIT_CONSOLE_STREAM_MAX_PER_KEY)',
      }),
    );
    // Another key is counted apart.
    streams.open(client('acme', 'k2').client);
    expect(streams.size).toBe(3);

    streams.onChange(change(undefined, { status: 'awaiting_approval' }));
    close();
    vi.advanceTimersByTime(2_000);
    expect(first.chunks).toEqual([]);
    expect(streams.size).toBe(2);
    streams.open(client('acme', 'k1').client);

    streams.closeAll();
    expect(streams.size).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('counts streams under a digest of the key, never the key itself', () => {
    const id = streamKeyId('Bearer secret-key');
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    expect(id).toBe(streamKeyId('secret-key'));
    expect(id).not.toContain('secret');
  });
});

describe('the console’s live stream, over time', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('ends a stream once it is older than its maximum age (the console reconnects and is authenticated again)', () => {
    vi.useFakeTimers();
    const streams = new ConsoleStreams({ maxPerKey: 4, heartbeatMs: 1_000, maxAgeMs: 2_500 });
    const chunks: string[] = [];
    let ended = false;
    streams.open({
      tenant: 'acme',
      keyId: 'k',
      approvals: true,
      runs: true,
      write: (chunk) => chunks.push(chunk),
      end: () => {
        ended = true;
      },
    });
    vi.advanceTimersByTime(2_000);
    expect(chunks).toEqual([': heartbeat\n\n', ': heartbeat\n\n']);
    expect(ended).toBe(false);
    vi.advanceTimersByTime(1_000);
    expect(ended).toBe(true);
    expect(streams.size).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });
});
