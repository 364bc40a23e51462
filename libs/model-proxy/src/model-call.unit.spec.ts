import { describe, expect, it } from 'vitest';
import { upstreamDigest } from './chat-request.ts';
import { ModelCallDoor, withModelCalls } from './model-call.ts';
import type { ModelCallSink, ModelFetchLike } from './model-call.ts';
import type { RelayLogged } from './relay.ts';
import { modelEndpointUrl } from './tools.ts';

const URL = modelEndpointUrl('http://provider.test/v1', 'small-1');
const CALL = '11111111-1111-4111-8111-111111111111';
const body = { messages: [{ role: 'user', content: 'hi' }], max_tokens: 5, stream: true, stream_options: { include_usage: true } };

function recordingSink(): ModelCallSink & { status?: number; text: string; ended: boolean; logged?: RelayLogged } {
  const decoder = new TextDecoder();
  const sink = {
    text: '',
    ended: false,
    logged: undefined as RelayLogged | undefined,
    status: undefined as number | undefined,
    begin: (status: number) => {
      sink.status = status;
    },
    write: (chunk: Uint8Array | string) => {
      sink.text += typeof chunk === 'string' ? chunk : decoder.decode(chunk);
    },
    end: (logged?: RelayLogged) => {
      sink.ended = true;
      sink.logged = logged;
    },
  };
  return sink;
}

const notCalled: ModelFetchLike = () => Promise.reject(new Error('not a model URL: the inner client is not called'));

function provider(chunks: string[], status = 200): { fetch: typeof fetch; seen: { url: string; body: unknown; authorization: string | null }[] } {
  const seen: { url: string; body: unknown; authorization: string | null }[] = [];
  const fake = (async (url: string | URL | Request, init?: RequestInit) => {
    seen.push({ url: String(url), body: JSON.parse(String(init?.body)), authorization: new Headers(init?.headers).get('authorization') });
    const encoder = new TextEncoder();
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (const chunk of chunks) controller.enqueue(encoder.encode(chunk));
        controller.close();
      },
    });
    return new Response(stream, { status, headers: { 'content-type': status === 200 ? 'text/event-stream' : 'application/json' } });
  }) as typeof fetch;
  return { fetch: fake, seen };
}

const init = (args: Record<string, unknown>) => ({
  method: 'POST',
  headers: { authorization: 'Bearer provider-key', 'idempotency-key': 'acme:x' },
  body: JSON.stringify(args),
  signal: new AbortController().signal,
});

describe('the executor’s model calls', () => {
  it('sends the parked body under the provider’s model name, relays every byte and reports the usage, not the completion', async () => {
    const door = new ModelCallDoor(60_000);
    const sink = recordingSink();
    door.park(CALL, body, sink, () => undefined);
    const chunks = [
      'data: {"id":"c1","choices":[{"delta":{"content":"Hel"}}]}\n\n',
      'data: {"id":"c1","choices":[{"delta":{"content":"lo"},"finish_reason":"stop"}]}\n\ndata: {"id":"c1","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":2}}\n\n',
      'data: [DONE]\n\n',
    ];
    const { fetch, seen } = provider(chunks);
    const call = withModelCalls(notCalled, { door, fetch });
    const answer = await call(URL, init({ model: 'small', call_id: CALL, request_sha256: upstreamDigest(body), stream: true }));
    expect(seen).toEqual([{ url: 'http://provider.test/v1/chat/completions', body: { ...body, model: 'small-1' }, authorization: 'Bearer provider-key' }]);
    // Relayed in full, the answer waits for the executor's outcome to be on the log.
    expect(sink).toMatchObject({ status: 200, text: chunks.join(''), ended: false });
    door.logged('acme:other', { outcome: 'executed', cost_micros: 1, currency: 'USD' });
    expect(sink.ended).toBe(false);
    door.logged('acme:x', { outcome: 'executed', cost_micros: 42, currency: 'USD' });
    expect(sink).toMatchObject({ ended: true, logged: { outcome: 'executed', cost_micros: 42, currency: 'USD' } });
    const summary = JSON.parse(await answer.text()) as Record<string, unknown>;
    expect(answer.status).toBe(200);
    expect(summary).toMatchObject({
      id: 'c1',
      model: 'small',
      upstream_model: 'small-1',
      usage: { prompt_tokens: 9, completion_tokens: 2, total_tokens: 11 },
      finish_reason: 'stop',
      chunks: 4,
    });
    expect(JSON.stringify(summary)).not.toContain('Hel');
    expect(door.size).toBe(0);
  });

  it('refuses a body that is not the one decided on, and a call whose body is not parked, without calling the provider', async () => {
    const door = new ModelCallDoor(60_000);
    const sink = recordingSink();
    door.park(CALL, body, sink, () => undefined);
    const { fetch, seen } = provider([]);
    const call = withModelCalls(notCalled, { door, fetch });
    const mismatch = await call(URL, init({ model: 'small', call_id: CALL, request_sha256: '0'.repeat(64), stream: true }));
    expect(mismatch.status).toBe(409);
    expect(sink.status).toBe(409);
    const missing = await call(URL, init({ model: 'small', call_id: CALL, request_sha256: upstreamDigest(body), stream: true }));
    expect(missing.status).toBe(404);
    expect(seen).toEqual([]);
  });

  it('relays a provider’s error with its status, for the executor to fail the action', async () => {
    const door = new ModelCallDoor(60_000);
    const sink = recordingSink();
    door.park(CALL, body, sink, () => undefined);
    const error = '{"error":{"message":"overloaded","type":"server_error"}}';
    const call = withModelCalls(notCalled, { door, fetch: provider([error], 503).fetch });
    const answer = await call(URL, init({ model: 'small', call_id: CALL, request_sha256: upstreamDigest(body), stream: true }));
    expect(answer.status).toBe(503);
    expect(sink).toMatchObject({ status: 503, text: error, ended: false });
    door.logged('acme:x', { outcome: 'failed', cost_micros: null, currency: null });
    expect(sink).toMatchObject({ ended: true, logged: { outcome: 'failed' } });
  });

  it('ends a relayed answer without the word of the log when it does not come in time', async () => {
    const door = new ModelCallDoor(60_000, 10, 20);
    const sink = recordingSink();
    door.park(CALL, body, sink, () => undefined);
    const call = withModelCalls(notCalled, { door, fetch: provider(['data: [DONE]\n\n']).fetch });
    await call(URL, init({ model: 'small', call_id: CALL, request_sha256: upstreamDigest(body), stream: true }));
    expect(sink.ended).toBe(false);
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(sink).toMatchObject({ ended: true, logged: undefined });
    door.logged('acme:x', { outcome: 'executed', cost_micros: 1, currency: 'USD' });
    expect(sink.logged).toBeUndefined();
  });

  it('passes any other URL to the inner client', async () => {
    const inner: ModelFetchLike = () => Promise.resolve({ status: 204, headers: { get: () => null }, text: () => Promise.resolve('') });
    const call = withModelCalls(inner, { door: new ModelCallDoor(1_000), fetch: provider([]).fetch });
    expect((await call('http://helpdesk.test/tickets/T-1', init({}))).status).toBe(204);
  });
});
