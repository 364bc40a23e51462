// The executor's side of a model call. The gateway hands the executor the request body over the
// executor's model door (POST /internal/model-calls/{call_id}) and keeps that connection open; the
// body is parked here, never on the log. When the action's ExecutionRequested arrives (warrant and
// reservation checked by the executor as for any tool), the executor's HTTP client is asked for the
// model's registry URL (tools.ts): withModelCalls takes the parked body, checks it is the one the
// policy and budget decided on (its sha256 is in the arguments), calls the provider with the
// provider's credential, relays every byte to the parked connection as it comes, and answers the
// executor a summary (ids, usage, digests; never the completion) that becomes the action's result,
// settled at the tokens used.
import { sha256Hex } from '@writ/crypto';
import { upstreamDigest } from './chat-request.ts';
import type { RelayLogged } from './relay.ts';
import { modelTargetOf } from './tools.ts';

/** Where a parked call's answer goes: the gateway's open connection. */
export interface ModelCallSink {
  /** The provider's answer begins (its status and content type, after `providerMs`; undefined: the provider was not called). */
  begin(status: number, contentType: string, providerMs?: number): void;
  write(chunk: Uint8Array | string): void;
  /** The answer is over; with `logged` once the call's outcome is on the log. */
  end(logged?: RelayLogged): void;
}

interface Parked {
  readonly body: Readonly<Record<string, unknown>>;
  readonly sink: ModelCallSink;
  readonly timer: ReturnType<typeof setTimeout>;
}

/** How long a relayed answer waits for its outcome to be on the log before it ends without saying so. */
const LOG_WAIT_MS = 10_000;

/**
 * Request bodies waiting for their action's execution, by call id; and answers relayed, waiting
 * for their outcome on the log, by the call's Idempotency-Key header (tenant and key).
 */
export class ModelCallDoor {
  readonly #parked = new Map<string, Parked>();
  readonly #relayed = new Map<string, { readonly sink: ModelCallSink; readonly timer: ReturnType<typeof setTimeout> }>();
  readonly #parkMs: number;
  readonly #limit: number;
  readonly #logWaitMs: number;

  constructor(parkMs: number, limit = 10_000, logWaitMs = LOG_WAIT_MS) {
    this.#parkMs = parkMs;
    this.#limit = limit;
    this.#logWaitMs = logWaitMs;
  }

  get size(): number {
    return this.#parked.size;
  }

  /**
   * Parks a body until its call executes, at most parkMs (then `onExpire`). Returns false when the
   * id is already parked or the door is full. `unpark` (when the gateway goes away) drops it.
   */
  park(callId: string, body: Readonly<Record<string, unknown>>, sink: ModelCallSink, onExpire: () => void): boolean {
    if (this.#parked.has(callId) || this.#parked.size >= this.#limit) return false;
    const timer = setTimeout(() => {
      if (this.#parked.get(callId)?.sink === sink) {
        this.#parked.delete(callId);
        onExpire();
      }
    }, this.#parkMs);
    this.#parked.set(callId, { body, sink, timer });
    return true;
  }

  /** Drops a parked body that was not taken (its connection closed). */
  unpark(callId: string, sink: ModelCallSink): void {
    const parked = this.#parked.get(callId);
    if (parked?.sink !== sink) return;
    clearTimeout(parked.timer);
    this.#parked.delete(callId);
  }

  /** Takes a parked body for its execution (once). */
  take(callId: string): { body: Readonly<Record<string, unknown>>; sink: ModelCallSink } | undefined {
    const parked = this.#parked.get(callId);
    if (parked === undefined) return undefined;
    clearTimeout(parked.timer);
    this.#parked.delete(callId);
    return { body: parked.body, sink: parked.sink };
  }

  /**
   * The provider's answer is relayed in full: the sink waits for the executor's outcome event to be
   * acknowledged (`logged`), at most logWaitMs, then ends without that word.
   */
  relayed(idempotencyKey: string, sink: ModelCallSink): void {
    const previous = this.#relayed.get(idempotencyKey);
    if (previous !== undefined) {
      clearTimeout(previous.timer);
      previous.sink.end();
    }
    const timer = setTimeout(() => {
      if (this.#relayed.get(idempotencyKey)?.sink !== sink) return;
      this.#relayed.delete(idempotencyKey);
      sink.end();
    }, this.#logWaitMs);
    timer.unref();
    this.#relayed.set(idempotencyKey, { sink, timer });
  }

  /** The outcome of the call with this Idempotency-Key header is on the log: its relay ends saying so. */
  logged(idempotencyKey: string, logged: RelayLogged): void {
    const relayed = this.#relayed.get(idempotencyKey);
    if (relayed === undefined) return;
    clearTimeout(relayed.timer);
    this.#relayed.delete(idempotencyKey);
    relayed.sink.end(logged);
  }
}

/** What the executor's HTTP client answers (executor-core's HttpResponseLike). */
export interface ModelResponseLike {
  readonly status: number;
  readonly headers: { get(name: string): string | null };
  text(): Promise<string>;
}

/** The executor's HTTP client (executor-core's HttpFetch). */
export type ModelFetchLike = (
  url: string,
  init: { method: string; headers: Record<string, string>; body?: string; signal: AbortSignal },
) => Promise<ModelResponseLike>;

/** What a model call's result records: no prompt, no completion. */
export interface ModelCallSummary {
  readonly id: string | null;
  readonly model: string;
  readonly upstream_model: string;
  readonly usage: { readonly prompt_tokens: number; readonly completion_tokens: number; readonly total_tokens: number } | null;
  readonly finish_reason: string | null;
  readonly stream: boolean;
  /** Server-sent events relayed, the provider's [DONE] included (a stream), 0 otherwise. */
  readonly chunks: number;
  /** sha256 of the provider's answer as relayed, to match it with what the client got. */
  readonly response_sha256: string;
}

function response(status: number, body: unknown): ModelResponseLike {
  const text = JSON.stringify(body);
  return { status, headers: { get: (name) => (name.toLowerCase() === 'content-type' ? 'application/json' : null) }, text: () => Promise.resolve(text) };
}

function count(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : undefined;
}

/** Reads id, usage and finish reason from a completion or one stream chunk into `into`. */
function observe(into: { id: string | null; usage: ModelCallSummary['usage']; finish: string | null }, value: unknown): void {
  if (typeof value !== 'object' || value === null) return;
  const v = value as { id?: unknown; usage?: unknown; choices?: unknown };
  if (typeof v.id === 'string' && into.id === null) into.id = v.id;
  if (typeof v.usage === 'object' && v.usage !== null) {
    const u = v.usage as Record<string, unknown>;
    const prompt = count(u['prompt_tokens']);
    const completion = count(u['completion_tokens']);
    if (prompt !== undefined && completion !== undefined)
      into.usage = { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
  }
  if (Array.isArray(v.choices)) {
    for (const choice of v.choices as unknown[]) {
      const reason = (choice as { finish_reason?: unknown } | null)?.finish_reason;
      if (typeof reason === 'string') into.finish = reason;
    }
  }
}

/** Splits server-sent events as bytes arrive, handing each event's `data` to `onData`. */
export class SseSplitter {
  #buffer = '';
  readonly #onData: (data: string) => void;

  constructor(onData: (data: string) => void) {
    this.#onData = onData;
  }

  /** Feeds text; returns how many events completed. */
  feed(text: string): number {
    this.#buffer += text.replace(/\r\n/g, '\n');
    let events = 0;
    for (let at = this.#buffer.indexOf('\n\n'); at >= 0; at = this.#buffer.indexOf('\n\n')) {
      const block = this.#buffer.slice(0, at);
      this.#buffer = this.#buffer.slice(at + 2);
      const data = block
        .split('\n')
        .filter((line) => line.startsWith('data:'))
        .map((line) => line.slice(5).trimStart())
        .join('\n');
      if (data !== '') {
        events += 1;
        this.#onData(data);
      }
    }
    return events;
  }
}

export interface ModelCallDeps {
  readonly door: ModelCallDoor;
  /** The provider's HTTP client: the global fetch (it streams). */
  readonly fetch: typeof fetch;
}

/**
 * The executor's HTTP client, calling the providers of model tools (URLs with `#writ-model=`) as
 * above and passing any other URL to `inner`.
 */
export function withModelCalls(inner: ModelFetchLike, deps: ModelCallDeps): ModelFetchLike {
  return async (url, init) => {
    const target = modelTargetOf(url);
    if (target === undefined) return inner(url, init);
    let args: { call_id?: unknown; request_sha256?: unknown; model?: unknown; stream?: unknown };
    try {
      args = JSON.parse(init.body ?? '{}') as typeof args;
    } catch {
      return response(400, { error: 'the arguments of a model call are not JSON' });
    }
    const parked = typeof args.call_id === 'string' ? deps.door.take(args.call_id) : undefined;
    if (parked === undefined) {
      // 404: not retried; the call never reached the provider.
      return response(404, {
        error: `the request of model call ${String(args.call_id)} is not at this executor (its client went away, it waited too long, or it reached another executor)`,
      });
    }
    const { sink } = parked;
    // Its relay ends once the executor's outcome event is on the log (ModelCallDoor.logged).
    const key = init.headers['idempotency-key'] ?? '';
    if (upstreamDigest(parked.body) !== args.request_sha256) {
      sink.begin(409, 'application/json');
      sink.write(
        JSON.stringify({
          error: { message: 'the request handed to the executor is not the one decided on', type: 'invalid_request_error', code: 'REQUEST_MISMATCH' },
        }),
      );
      deps.door.relayed(key, sink);
      return response(409, { error: 'the request handed to the executor is not the one decided on (its sha256 differs from request_sha256)' });
    }
    const stream = args.stream === true;
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: stream ? 'text/event-stream' : 'application/json' };
    for (const name of ['authorization', 'traceparent']) if (init.headers[name] !== undefined) headers[name] = init.headers[name];
    let upstream: Response;
    const calling = performance.now();
    try {
      upstream = await deps.fetch(target.url, { method: 'POST', headers, body: JSON.stringify({ ...parked.body, model: target.model }), signal: init.signal });
    } catch (error) {
      sink.begin(502, 'application/json');
      sink.write(JSON.stringify({ error: { message: 'the model provider could not be reached', type: 'api_error', code: 'PROVIDER_UNREACHABLE' } }));
      deps.door.relayed(key, sink);
      throw error;
    }
    const providerMs = Math.round((performance.now() - calling) * 100) / 100;
    const contentType = upstream.headers.get('content-type') ?? (stream ? 'text/event-stream' : 'application/json');
    if (upstream.status < 200 || upstream.status >= 300 || upstream.body === null) {
      const text = await upstream.text();
      sink.begin(upstream.status, contentType, providerMs);
      sink.write(text);
      deps.door.relayed(key, sink);
      return { status: upstream.status, headers: upstream.headers, text: () => Promise.resolve(text) };
    }
    sink.begin(upstream.status, contentType, providerMs);
    const seen = { id: null as string | null, usage: null as ModelCallSummary['usage'], finish: null as string | null };
    const digest: Uint8Array[] = [];
    let chunks = 0;
    const decoder = new TextDecoder();
    const splitter = new SseSplitter((data) => {
      if (data === '[DONE]') return;
      try {
        observe(seen, JSON.parse(data));
      } catch {
        // a chunk that is not JSON is relayed as it is
      }
    });
    let whole = '';
    const reader = upstream.body.getReader();
    for (;;) {
      const { done, value: bytes } = await reader.read();
      if (done) break;
      digest.push(bytes);
      sink.write(bytes);
      const text = decoder.decode(bytes, { stream: true });
      if (stream) chunks += splitter.feed(text);
      else whole += text;
    }
    deps.door.relayed(key, sink);
    if (!stream) {
      try {
        observe(seen, JSON.parse(whole));
      } catch {
        // not JSON: no usage, the maximum is charged
      }
    }
    const summary: ModelCallSummary = {
      id: seen.id,
      model: typeof args.model === 'string' ? args.model : '',
      upstream_model: target.model,
      usage: seen.usage,
      finish_reason: seen.finish,
      stream,
      chunks,
      response_sha256: sha256Hex(Buffer.concat(digest)),
    };
    return response(200, summary);
  };
}
