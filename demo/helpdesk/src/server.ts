// The helpdesk over HTTP (node:http): a bearer token on every call (minted per action by the
// executor for the tools that declare it, see credentials.ts), Idempotency-Key on writes,
// GET /_stats for tests, POST /_control to inject failures and hangs (the operator's static token).
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { loadToolRegistry } from '@writ/tools';
import type { ToolRegistry } from '@writ/tools';
import { CallGuard } from './credentials.ts';
import type { MintedTokenOptions } from './credentials.ts';
import { Helpdesk } from './helpdesk.ts';
import type { Fault, HelpdeskStats, Reply } from './helpdesk.ts';
import { seedData } from './seed.ts';
import type { Seed } from './seed.ts';

export const DEFAULT_HELPDESK_PORT = 26090;
export const DEFAULT_HELPDESK_TOKEN = 'helpdesk-demo-token';

export interface HelpdeskOptions {
  /** TCP port; 0 picks a free one. Default 26090. */
  readonly port?: number;
  /** Default 127.0.0.1. */
  readonly host?: string;
  /**
   * The static bearer token: the operator's (/_stats, /_control) and the declared fallback of tools
   * with `credential.env` / `.file`. Default "helpdesk-demo-token".
   */
  readonly token?: string;
  /** The contracts of the tools that call the helpdesk. Default: the repository's tools/ folder. */
  readonly tools?: ToolRegistry;
  /** How per-action tokens verify (the executor's JWKS); without it, tools declaring `credential.mint` are refused. */
  readonly minted?: MintedTokenOptions;
  /** The clock tokens are checked against (default Date.now). */
  readonly now?: () => number;
  /** Data to start with; default the demo's seed. */
  readonly seed?: Seed;
}

export interface ControlRequest {
  readonly mode?: Fault['mode'];
  readonly count?: number;
  readonly route?: string;
  readonly status?: number;
  readonly delay_ms?: number;
  readonly after_effect?: boolean;
  readonly reset?: boolean;
}

export interface RunningHelpdesk {
  /** Base URL, e.g. http://127.0.0.1:26090 */
  readonly url: string;
  readonly port: number;
  /** The live statistics (a copy). */
  stats(): HelpdeskStats;
  /** Same as POST /_control. */
  control(request: ControlRequest): void;
  close(): Promise<void>;
}

const MAX_BODY = 1024 * 1024;

interface Route {
  readonly name: string;
  readonly method: string;
  readonly pattern: RegExp;
  readonly write: boolean;
}

const ROUTES: readonly Route[] = [
  { name: 'GET /tickets', method: 'GET', pattern: /^\/tickets$/, write: false },
  { name: 'GET /tickets/:id', method: 'GET', pattern: /^\/tickets\/(?<id>[^/]+)$/, write: false },
  { name: 'GET /customers/:id', method: 'GET', pattern: /^\/customers\/(?<id>[^/]+)$/, write: false },
  { name: 'DELETE /customers/:id', method: 'DELETE', pattern: /^\/customers\/(?<id>[^/]+)$/, write: true },
  { name: 'GET /refunds', method: 'GET', pattern: /^\/refunds$/, write: false },
  { name: 'GET /refunds/:id', method: 'GET', pattern: /^\/refunds\/(?<id>[^/]+)$/, write: false },
  { name: 'POST /refunds', method: 'POST', pattern: /^\/refunds$/, write: true },
  { name: 'POST /exports', method: 'POST', pattern: /^\/exports$/, write: true },
  { name: 'POST /notifications', method: 'POST', pattern: /^\/notifications$/, write: true },
];

function send(res: ServerResponse, reply: Reply, headers: Record<string, string> = {}): void {
  if (res.writableEnded || res.destroyed) return;
  const text = JSON.stringify(reply.body);
  res.writeHead(reply.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        reject(new Error('body too large'));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function unauthorized(res: ServerResponse, message: string): void {
  send(res, { status: 401, body: { error: 'invalid_token', message } }, { 'www-authenticate': 'Bearer error="invalid_token"' });
}

function parseJson(text: string): { ok: true; value: unknown } | { ok: false } {
  if (text.trim() === '') return { ok: true, value: {} };
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false };
  }
}

/** Starts the helpdesk; resolves once it listens. */
export async function startHelpdesk(options: HelpdeskOptions = {}): Promise<RunningHelpdesk> {
  const host = options.host ?? '127.0.0.1';
  const helpdesk = new Helpdesk(options.seed ?? seedData());
  const guard = new CallGuard({
    staticToken: options.token ?? DEFAULT_HELPDESK_TOKEN,
    tools: options.tools ?? loadToolRegistry(resolve(import.meta.dirname, '../../../tools')),
    ...(options.minted === undefined ? {} : { minted: options.minted }),
    now: options.now ?? Date.now,
  });
  const timers = new Set<NodeJS.Timeout>();

  const wait = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const timer = setTimeout(() => {
        timers.delete(timer);
        resolve();
      }, ms);
      timers.add(timer);
    });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://helpdesk');
    const method = req.method ?? 'GET';
    if (url.pathname === '/health' && method === 'GET') {
      send(res, { status: 200, body: { status: 'ok' } });
      return;
    }
    if (url.pathname === '/_stats' || url.pathname === '/_control') {
      if (!guard.operator(req.headers.authorization)) {
        unauthorized(res, 'the operator token is required');
        return;
      }
    }
    if (url.pathname === '/_stats' && method === 'GET') {
      send(res, { status: 200, body: helpdesk.snapshot() });
      return;
    }
    if (url.pathname === '/_control' && method === 'POST') {
      const parsed = parseJson(await readBody(req));
      send(res, parsed.ok ? helpdesk.addFault(parsed.value) : { status: 400, body: { error: 'invalid_json', message: 'body is not JSON' } });
      return;
    }
    const raw = await readBody(req);
    const rawKey = req.headers['idempotency-key'];
    const key = typeof rawKey === 'string' && rawKey !== '' ? rawKey : undefined;
    const admission = await guard.admit({
      method,
      path: url.pathname,
      query: url.searchParams,
      body: raw,
      authorization: req.headers.authorization,
      idempotencyKey: key,
    });
    helpdesk.countCredential(admission.ok ? admission.via : 'refused');
    if (!admission.ok) {
      unauthorized(res, admission.reason);
      return;
    }
    const route = ROUTES.find((r) => r.method === method && r.pattern.test(url.pathname));
    if (route === undefined) {
      send(res, { status: 404, body: { error: 'not_found', message: `no route ${method} ${url.pathname}` } });
      return;
    }
    helpdesk.countCall(route.name, key);
    const params = { id: decodeURIComponent(route.pattern.exec(url.pathname)?.groups?.['id'] ?? '') };
    const fault = helpdesk.takeFault(route.name);
    if (fault?.mode === 'delay') await wait(fault.delay_ms);
    const failNow = fault !== undefined && fault.mode !== 'delay' && !fault.after_effect;
    if (failNow) {
      if (fault.mode === 'fail') send(res, { status: fault.status, body: { error: 'unavailable', message: 'injected failure', injected: true } });
      return; // hang: never answer
    }

    let reply: Reply;
    let replayed = false;
    if (!route.write) {
      reply =
        route.name === 'GET /tickets'
          ? helpdesk.listTickets(url.searchParams)
          : route.name === 'GET /tickets/:id'
            ? helpdesk.getTicket(params.id)
            : route.name === 'GET /customers/:id'
              ? helpdesk.getCustomer(params.id)
              : route.name === 'GET /refunds'
                ? helpdesk.listRefunds()
                : helpdesk.getRefund(params.id);
    } else {
      const parsed = route.name === 'DELETE /customers/:id' ? ({ ok: true, value: {} } as const) : parseJson(raw);
      if (!parsed.ok || typeof parsed.value !== 'object' || parsed.value === null || Array.isArray(parsed.value)) {
        send(res, { status: 400, body: { error: 'invalid_json', message: 'body must be a JSON object' } });
        return;
      }
      const body = parsed.value as Record<string, unknown>;
      const run =
        route.name === 'POST /refunds'
          ? () => helpdesk.issueRefund(body, params)
          : route.name === 'POST /exports'
            ? () => helpdesk.createExport(body, params)
            : route.name === 'POST /notifications'
              ? () => helpdesk.sendNotification(body, params)
              : () => helpdesk.deleteCustomer(body, params);
      ({ reply, replayed } = helpdesk.write(route.name, key, raw, run));
    }
    if (reply.status < 300) guard.succeeded(admission, reply.body);
    if (fault !== undefined && fault.after_effect) {
      // The effect happened; the caller never learns it (a lost response).
      if (fault.mode === 'fail') send(res, { status: fault.status, body: { error: 'unavailable', message: 'injected failure', injected: true } });
      return;
    }
    send(res, reply, replayed ? { 'idempotent-replayed': 'true' } : {});
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      send(res, { status: 500, body: { error: 'internal', message: error instanceof Error ? error.message : String(error) } });
    });
  });
  server.keepAliveTimeout = 5_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? DEFAULT_HELPDESK_PORT, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${host}:${port}`,
    port,
    stats: () => helpdesk.snapshot(),
    control: (request) => {
      const reply = helpdesk.addFault(request);
      if (reply.status !== 200) throw new Error(`invalid control: ${JSON.stringify(reply.body)}`);
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const timer of timers) clearTimeout(timer);
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
