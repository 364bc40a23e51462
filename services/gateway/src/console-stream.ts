// The console's live updates (GET /v1/console/stream): server-sent events telling a signed-in
// person's page that something it shows changed (the inbox, a run's timeline), so it reloads that
// view at once instead of waiting for its next poll. Only "what changed" travels (ids), never the
// data: the page reads it through the same routes, roles and tenant checks as ever. Streams are
// limited per API key, get a heartbeat, and are forgotten when the connection closes.
import { createHash } from 'node:crypto';
import type { ControlChanged } from '@writ/contracts';
import { WritError } from '@writ/errors';
import type { ReadModelChange } from '@writ/gateway-core';
import type { GatewayBusObserver } from './gateway-bus.ts';

/** One open stream: who it is for and where its bytes go. */
export interface StreamClient {
  readonly tenant: string;
  /** Gets `approvals` events (an approver's inbox). */
  readonly approvals: boolean;
  /** Gets `run` events (timelines). */
  readonly runs: boolean;
  /** A digest of the API key (the limit's key; the key itself is never kept). */
  readonly keyId: string;
  write(chunk: string): void;
  end(): void;
}

/** The digest a stream is counted under: sha256 of the presented key. */
export function streamKeyId(authorization: string): string {
  return createHash('sha256')
    .update(authorization.replace(/^Bearer\s+/i, ''))
    .digest('hex');
}

/** One server-sent event: its name and one line of JSON. */
export function sseEvent(name: string, data: unknown): string {
  return `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** What a change of the read model tells a tenant's pages: the inbox changed, and which run did. */
export function streamNewsOf(change: ReadModelChange | undefined): { tenant: string; approvals: boolean; run: string } | undefined {
  if (change === undefined) return undefined;
  if (change.kind === 'run') return { tenant: change.after.tenant_id, approvals: false, run: change.after.run_id };
  const { before, after } = change;
  const held = (state: typeof after | undefined) => state?.status === 'awaiting_approval';
  // The inbox shows held actions and their approvals, and the history those that were held.
  const approvals = held(before) || held(after) || (before?.approvals.length ?? 0) !== after.approvals.length;
  return { tenant: after.tenant_id, approvals, run: after.run_id };
}

interface Pending {
  readonly openedAt: number;
  approvals: boolean;
  readonly runs: Set<string>;
  timer: ReturnType<typeof setTimeout> | undefined;
}

export interface ConsoleStreamsOptions {
  readonly maxPerKey: number;
  readonly heartbeatMs: number;
  /** Changes within this window go out as one message per kind (a burst of events is one reload). */
  readonly coalesceMs?: number;
  /**
   * A stream is ended this long after it opened (at a heartbeat): the console reconnects at once,
   * authenticating again, so a revoked key's stream does not outlive it by more than this.
   */
  readonly maxAgeMs?: number;
}

/**
 * The open streams: the gateway's read model tells it every change (an observer of the bus); it
 * tells each stream of the change's tenant what changed, coalesced, and beats every heartbeatMs.
 */
export class ConsoleStreams implements GatewayBusObserver {
  readonly #clients = new Map<StreamClient, Pending>();
  readonly #options: Required<ConsoleStreamsOptions>;
  #heartbeat: ReturnType<typeof setInterval> | undefined;

  constructor(options: ConsoleStreamsOptions) {
    this.#options = { coalesceMs: 150, maxAgeMs: 10 * 60_000, ...options };
  }

  get size(): number {
    return this.#clients.size;
  }

  /** The first bytes of a stream: the reconnect delay and a `ready` event. */
  get preamble(): string {
    return `retry: 3000\n\n${sseEvent('ready', { heartbeat_ms: this.#options.heartbeatMs })}`;
  }

  /** Opens a stream (429 past the key's limit; nothing written yet); returns what closes it. */
  open(client: StreamClient): () => void {
    const open = [...this.#clients.keys()].filter((other) => other.keyId === client.keyId).length;
    if (open >= this.#options.maxPerKey) {
      throw new WritError('CONSOLE_STREAMS_EXCEEDED', `this key has ${open} console streams open already, the most it may`, {
        field: 'authorization',
        rule: `at most ${this.#options.maxPerKey} streams per key (WRIT_CONSOLE_STREAM_MAX_PER_KEY)`,
      });
    }
    this.#clients.set(client, { openedAt: Date.now(), approvals: false, runs: new Set(), timer: undefined });
    this.#heartbeat ??= setInterval(() => this.#beat(), this.#options.heartbeatMs);
    return () => this.#close(client);
  }

  onControl(_control: ControlChanged): void {
    // Controls are not streamed: the controls view polls.
  }

  onChange(change: ReadModelChange): void {
    const news = streamNewsOf(change);
    if (news === undefined || this.#clients.size === 0) return;
    for (const [client, pending] of this.#clients) {
      if (client.tenant !== news.tenant) continue;
      const approvals = news.approvals && client.approvals;
      if (!approvals && !client.runs) continue;
      if (approvals) pending.approvals = true;
      if (client.runs) pending.runs.add(news.run);
      pending.timer ??= setTimeout(() => this.#flush(client), this.#options.coalesceMs);
    }
  }

  /** Ends every stream (the gateway is stopping). */
  closeAll(): void {
    for (const client of [...this.#clients.keys()]) {
      this.#close(client);
      client.end();
    }
  }

  #flush(client: StreamClient): void {
    const pending = this.#clients.get(client);
    if (pending === undefined) return;
    pending.timer = undefined;
    let chunk = pending.approvals ? sseEvent('approvals', {}) : '';
    for (const run of pending.runs) chunk += sseEvent('run', { run_id: run });
    pending.approvals = false;
    pending.runs.clear();
    if (chunk !== '') client.write(chunk);
  }

  #beat(): void {
    const now = Date.now();
    for (const [client, pending] of [...this.#clients]) {
      if (now - pending.openedAt >= this.#options.maxAgeMs) {
        this.#close(client);
        client.end();
      } else client.write(': heartbeat\n\n');
    }
  }

  #close(client: StreamClient): void {
    const pending = this.#clients.get(client);
    if (pending?.timer !== undefined) clearTimeout(pending.timer);
    this.#clients.delete(client);
    if (this.#clients.size === 0 && this.#heartbeat !== undefined) {
      clearInterval(this.#heartbeat);
      this.#heartbeat = undefined;
    }
  }
}
