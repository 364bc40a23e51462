// The console's client of the gateway: the key the person typed in, sent as a header on every call
// (never in a URL), kept in the tab's sessionStorage only (gone when the tab closes).
import { errorMessage, parseSse } from './logic.ts';
import type { StreamEvent } from './logic.ts';

/** The part of the Web Storage API the console uses (sessionStorage in the browser). */
export interface KeyStore {
  getItem(name: string): string | null;
  setItem(name: string, value: string): void;
  removeItem(name: string): void;
}

const KEY_ITEM = 'writ.console.key';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export class ConsoleApi {
  constructor(
    private readonly store: KeyStore,
    private readonly fetchImpl: typeof fetch = (input, init) => fetch(input, init),
  ) {}

  get signedIn(): boolean {
    return this.store.getItem(KEY_ITEM) !== null;
  }

  signIn(key: string): void {
    this.store.setItem(KEY_ITEM, key);
  }

  signOut(): void {
    this.store.removeItem(KEY_ITEM);
  }

  get<T>(path: string): Promise<T> {
    return this.#call<T>('GET', path);
  }

  post<T>(path: string, body: unknown): Promise<T> {
    return this.#call<T>('POST', path, body);
  }

  put<T>(path: string, body: unknown): Promise<T> {
    return this.#call<T>('PUT', path, body);
  }

  /** The raw text of an answer (the ledger's JSON lines export). */
  async text(path: string): Promise<string> {
    const response = await this.#send('GET', path);
    return response.text();
  }

  /**
   * Reads the gateway's live stream (server-sent events) with the key in its header (EventSource
   * cannot send one): every event to `onEvent` until `signal` aborts or the stream ends (resolves)
   * or fails (rejects; the caller reconnects or falls back to polling).
   */
  async stream(path: string, onEvent: (event: StreamEvent) => void, signal: AbortSignal): Promise<void> {
    const key = this.store.getItem(KEY_ITEM);
    if (key === null) throw new ApiError(401, 'not signed in');
    const response = await this.fetchImpl(path, {
      method: 'GET',
      headers: { authorization: `Bearer ${key}`, accept: 'text/event-stream' },
      cache: 'no-store',
      credentials: 'omit',
      signal,
    });
    if (!response.ok || response.body === null) {
      const parsed: unknown = await response.json().catch(() => null);
      throw new ApiError(response.status, errorMessage(response.status, parsed));
    }
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      const parsed = parseSse(buffer + value);
      buffer = parsed.rest;
      for (const event of parsed.events) onEvent(event);
    }
  }

  async #send(method: string, path: string, body?: unknown): Promise<Response> {
    const key = this.store.getItem(KEY_ITEM);
    if (key === null) throw new ApiError(401, 'not signed in');
    const response = await this.fetchImpl(path, {
      method,
      headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      cache: 'no-store',
      credentials: 'omit',
    });
    if (!response.ok) {
      const parsed: unknown = await response.json().catch(() => null);
      throw new ApiError(response.status, errorMessage(response.status, parsed));
    }
    return response;
  }

  async #call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await this.#send(method, path, body);
    return (await response.json()) as T;
  }
}
