import { readFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Body, Controller, Get, Headers, HttpCode, Inject, Param, Post, Query, Res, UseGuards } from '@nestjs/common';
import type { OnModuleDestroy } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import type { Principal } from '@writ/directory';
import { PLATFORM_TENANT, holds } from '@writ/directory';
import type { AccessRole } from '@writ/directory';
import { WritError } from '@writ/errors';
import { presentRun, requireRole } from '@writ/gateway-core';
import type { ActionJson, ActionState, RunJson } from '@writ/gateway-core';
import type { ShadowResult } from '@writ/contracts';
import { SERVICE_CONFIG } from '@writ/runtime';
import type { GatewayConfig } from './config.ts';
import { ConsoleStreams, streamKeyId } from './console-stream.ts';
import { GatewayBus } from './gateway-bus.ts';
import { ApiKeyGuard, Caller } from './http.ts';
import { Views } from './presenter.ts';

/** The console's views and the roles that open each (an admin holds operator, analyst, auditor); the page shows only these. */
const VIEWS = {
  approvals: ['approver'],
  runs: ['approver', 'operator', 'analyst', 'auditor'],
  controls: ['operator', 'auditor'],
  spend: ['analyst', 'auditor'],
  ledger: ['auditor'],
} as const satisfies Record<string, readonly AccessRole[]>;
export type ConsoleView = keyof typeof VIEWS;

export interface ConsoleSession {
  readonly user_id: string;
  readonly name: string | null;
  readonly tenant: string;
  readonly roles: readonly string[];
  readonly views: readonly ConsoleView[];
}

/** The console's session: a user key of any role; an agent key (or a user with no console role) is 403. */
export function consoleSession(caller: Principal): ConsoleSession {
  if (caller.kind !== 'user') {
    throw new WritError('FORBIDDEN', `the console is for people: this is an ${caller.kind} key`, { field: 'authorization', rule: 'must be a user API key' });
  }
  const user = caller.user;
  // The directory's rule: an admin also holds operator, analyst and auditor (never approver).
  const views = (Object.keys(VIEWS) as ConsoleView[]).filter((view) => VIEWS[view].some((role) => holds(caller, role)));
  if (views.length === 0)
    throw new WritError('FORBIDDEN', `${user.id} has no role the console serves`, { field: 'authorization', rule: 'must hold a console role' });
  return { user_id: user.id, name: user.name ?? null, tenant: user.tenant, roles: user.roles, views };
}

function requireView(caller: Principal, view: ConsoleView): ConsoleSession {
  const session = consoleSession(caller);
  if (!session.views.includes(view)) {
    throw new WritError('FORBIDDEN', `the ${view} view needs the role ${VIEWS[view].join(' or ')}; ${session.user_id} has ${session.roles.join(', ')}`, {
      field: 'authorization',
      rule: `must hold ${VIEWS[view].join(' or ')}`,
    });
  }
  return session;
}

/** An action on a run's timeline: the public action, its trace and its shadow policies' results. */
export type TimelineActionJson = ActionJson & {
  readonly trace_id: string | null;
  /** WRIT_CONSOLE_TRACE_URL with the trace id in it; null without a template or a trace. */
  readonly trace_url: string | null;
  readonly shadow_results: readonly ShadowResult[];
};

const TRACE_PLACEHOLDER = '{trace_id}';

/** WRIT_CONSOLE_TRACE_URL checked at boot: an http(s) URL with {trace_id} in it. */
export function traceUrlTemplate(template: string | undefined): string | undefined {
  if (template === undefined || template === '') return undefined;
  let valid = template.includes(TRACE_PLACEHOLDER);
  try {
    valid &&= ['http:', 'https:'].includes(new URL(template.replaceAll(TRACE_PLACEHOLDER, '0')).protocol);
  } catch {
    valid = false;
  }
  if (!valid) {
    throw new WritError('CONFIG_INVALID', `WRIT_CONSOLE_TRACE_URL must be an http(s) URL with ${TRACE_PLACEHOLDER} in it, got ${JSON.stringify(template)}`, {
      field: 'WRIT_CONSOLE_TRACE_URL',
      rule: `an http(s) URL containing ${TRACE_PLACEHOLDER}`,
    });
  }
  return template;
}

/** The link to a trace: the template with the (hex) trace id in place of {trace_id}. */
export function traceUrlOf(template: string | undefined, traceId: string | null): string | null {
  return template === undefined || traceId === null ? null : template.replaceAll(TRACE_PLACEHOLDER, encodeURIComponent(traceId));
}

const LIMIT_RULE = 'must be an integer from 1 to 200';

function parseLimit(query: Record<string, unknown>): number {
  const raw = query['limit'];
  if (raw === undefined) return 50;
  const limit = typeof raw === 'string' && /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isInteger(limit) || limit < 1 || limit > 200) throw new WritError('REQUEST_INVALID', `limit ${LIMIT_RULE}`, { field: 'limit', rule: LIMIT_RULE });
  return limit;
}

function parseSearch(query: Record<string, unknown>): string | undefined {
  const raw = query['q'];
  if (raw === undefined) return undefined;
  if (typeof raw !== 'string' || raw.length > 200)
    throw new WritError('REQUEST_INVALID', 'q must be a string of at most 200 characters', { field: 'q', rule: 'maxLength 200' });
  return raw;
}

/**
 * What the console reads beyond the public API: who the caller is (the login), the tenant's runs,
 * a run's timeline and the approvals already decided. Same API keys, same roles, same tenant
 * scoping as every other route.
 */
@Controller('v1/console')
@UseGuards(ApiKeyGuard)
export class ConsoleController implements OnModuleDestroy {
  readonly #ledgerUrl: string | undefined;
  readonly #traceUrl: string | undefined;
  readonly #streams: ConsoleStreams;

  constructor(
    @Inject(GatewayBus) private readonly bus: GatewayBus,
    @Inject(Views) private readonly views: Views,
    @Inject(SERVICE_CONFIG) config: GatewayConfig,
  ) {
    this.#ledgerUrl = config.WRIT_CONSOLE_LEDGER_URL?.replace(/\/+$/, '');
    this.#traceUrl = traceUrlTemplate(config.WRIT_CONSOLE_TRACE_URL);
    this.#streams = new ConsoleStreams({ maxPerKey: config.WRIT_CONSOLE_STREAM_MAX_PER_KEY, heartbeatMs: config.WRIT_CONSOLE_STREAM_HEARTBEAT_MS });
    bus.observe(this.#streams);
  }

  onModuleDestroy(): void {
    this.#streams.closeAll();
  }

  /**
   * Live updates as server-sent events: `approvals` when the caller's inbox changed (approvers),
   * `run` with a run id when that run's timeline did, a heartbeat comment every
   * WRIT_CONSOLE_STREAM_HEARTBEAT_MS. Ids only: the page reads the data through the other routes.
   * Authenticated by the Authorization header like every route (the console reads it with fetch,
   * not EventSource), for a person with the approvals or runs view; at most
   * WRIT_CONSOLE_STREAM_MAX_PER_KEY open per key (429 past it).
   */
  @Get('stream')
  stream(@Caller() caller: Principal, @Headers('authorization') authorization: string, @Res() reply: FastifyReply): void {
    const session = consoleSession(caller);
    const approvals = session.views.includes('approvals');
    const runs = session.views.includes('runs');
    if (!approvals && !runs) {
      throw new WritError('FORBIDDEN', `the live stream serves the approvals and runs views; ${session.user_id} has ${session.roles.join(', ')}`, {
        field: 'authorization',
        rule: 'must hold approver, operator, analyst or auditor',
      });
    }
    const raw = reply.raw;
    const close = this.#streams.open({
      tenant: session.tenant,
      approvals,
      runs,
      keyId: streamKeyId(authorization),
      write: (chunk) => {
        if (!raw.writableEnded) raw.write(chunk);
      },
      end: () => raw.end(),
    });
    reply.hijack();
    raw.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      'x-accel-buffering': 'no',
      connection: 'keep-alive',
    });
    raw.write(this.#streams.preamble);
    raw.on('close', close);
  }

  /** The login: the user, tenant, roles and the views they open. 401 for an unknown key, 403 for an agent's. */
  @Get('session')
  session(@Caller() caller: Principal): ConsoleSession {
    return consoleSession(caller);
  }

  /** The tenant's runs in the gateway's model, latest first; `q` searches id, agent and goal. */
  @Get('runs')
  runs(@Caller() caller: Principal, @Query() query: Record<string, unknown>): { runs: RunJson[] } {
    const session = requireView(caller, 'runs');
    const runs = this.bus.model.runsOf(session.tenant, { search: parseSearch(query), limit: parseLimit(query) });
    return { runs: runs.map(presentRun) };
  }

  /** A run with its actions in order: decision, determining policies, approvals, spend and outcome of each. */
  @Get('runs/:run_id/timeline')
  async timeline(@Caller() caller: Principal, @Param('run_id') runId: string): Promise<{ run: RunJson; actions: TimelineActionJson[] }> {
    requireView(caller, 'runs');
    const run = await this.views.run(caller, runId);
    return { run: presentRun(run), actions: this.bus.model.actionsOfRun(run.run_id).map((action) => this.#timelineAction(action)) };
  }

  #timelineAction(action: ActionState): TimelineActionJson {
    return {
      ...this.views.present(action),
      trace_id: action.trace_id,
      trace_url: traceUrlOf(this.#traceUrl, action.trace_id),
      shadow_results: action.shadow_results,
    };
  }

  /** Approvals no longer pending (approved and executed, denied, expired), the latest first. */
  @Get('approvals/history')
  history(@Caller() caller: Principal, @Query() query: Record<string, unknown>): { approvals: ActionJson[] } {
    const user = requireRole(caller, 'approver');
    return { approvals: this.bus.model.decidedApprovals(user.tenant, parseLimit(query)).map((action) => this.views.present(action)) };
  }

  /** The spend and decision charts: one SELECT through the ledger's query door, as the caller (its roles and row policies apply). */
  @Post('query')
  @HttpCode(200)
  query(@Caller() caller: Principal, @Body() body: unknown, @Headers('authorization') authorization: string, @Res() reply: FastifyReply): Promise<void> {
    requireView(caller, 'spend');
    return this.#ledger(reply, authorization, '/v1/query', { method: 'POST', body: JSON.stringify(body ?? null) });
  }

  /** The chains of the caller's tenant with their heads and latest checkpoints, from the ledger, as the caller. */
  @Get('ledger')
  chains(@Caller() caller: Principal, @Headers('authorization') authorization: string, @Res() reply: FastifyReply): Promise<void> {
    requireView(caller, 'ledger');
    return this.#ledger(reply, authorization, '/v1/ledger');
  }

  /** A run's chain entries with their proofs (JSON lines) in the caller's own tenant's chain, from the ledger, as the caller (an auditor). */
  @Get('ledger/runs/:run_id')
  exportRun(
    @Caller() caller: Principal,
    @Param('run_id') runId: string,
    @Headers('authorization') authorization: string,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const session = requireView(caller, 'ledger');
    if (session.tenant === PLATFORM_TENANT) {
      throw new WritError('FORBIDDEN', 'a run belongs to a tenant: a platform admin exports it with `writ export --tenant <tenant> --run <run>`', {
        field: 'authorization',
        rule: "an auditor of the run's tenant",
      });
    }
    return this.#ledger(reply, authorization, `/v1/ledger/${encodeURIComponent(session.tenant)}?run_id=${encodeURIComponent(runId)}`);
  }

  /** Passes the ledger's answer (status, type, body) through; the key goes only to the ledger, in its header. */
  async #ledger(reply: FastifyReply, authorization: string, path: string, init: { method?: string; body?: string } = {}): Promise<void> {
    if (this.#ledgerUrl === undefined) {
      throw new WritError('CONSOLE_LEDGER_UNAVAILABLE', 'the console reads spend and chains from the ledger: set WRIT_CONSOLE_LEDGER_URL on the gateway', {
        field: 'WRIT_CONSOLE_LEDGER_URL',
        rule: 'required for the spend and ledger views',
      });
    }
    let answer: Response;
    try {
      answer = await fetch(`${this.#ledgerUrl}${path}`, {
        method: init.method ?? 'GET',
        headers: { authorization, ...(init.body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(init.body === undefined ? {} : { body: init.body }),
        signal: AbortSignal.timeout(15_000),
      });
    } catch (error) {
      throw new WritError(
        'CONSOLE_LEDGER_UNAVAILABLE',
        `the ledger at ${this.#ledgerUrl} did not answer: ${error instanceof Error ? error.message : String(error)}`,
        { retriable: true },
      );
    }
    await reply
      .status(answer.status)
      .header('content-type', answer.headers.get('content-type') ?? 'application/json')
      .header('cache-control', 'no-store')
      .send(Buffer.from(await answer.arrayBuffer()));
  }
}

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.woff2': 'font/woff2',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};

/** No inline script or style, nothing from another origin: the bundle and same-origin API calls only. */
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** Where Vite puts the console's bundle (libs/console-ui/dist), unless WRIT_CONSOLE_DIR says otherwise. */
const DEFAULT_CONSOLE_DIR = fileURLToPath(new URL('../../../libs/console-ui/dist/', import.meta.url));
const ASSET_NAME = /^[A-Za-z0-9._-]+$/;

/**
 * The console's page and bundle under /console: static files with their content types and a
 * strict Content-Security-Policy. No key is needed to load the page (it holds no data); every
 * call it makes carries the key the person typed in. Pages, not API: not in the OpenAPI document.
 */
@Controller('console')
export class ConsoleAssetsController {
  readonly #dir: string;

  constructor(@Inject(SERVICE_CONFIG) config: GatewayConfig) {
    this.#dir = config.WRIT_CONSOLE_DIR ?? DEFAULT_CONSOLE_DIR;
  }

  @Get()
  async page(@Res() reply: FastifyReply): Promise<void> {
    await this.#send(reply, 'index.html', 'text/html; charset=utf-8', 'no-store');
  }

  @Get('assets/:file')
  async asset(@Param('file') file: string, @Res() reply: FastifyReply): Promise<void> {
    const type = CONTENT_TYPES[extname(file)];
    if (!ASSET_NAME.test(file) || file.startsWith('.') || type === undefined) throw new WritError('NOT_FOUND', `no console asset ${file}`);
    // Vite names assets by their content's hash: they never change under one name.
    await this.#send(reply, join('assets', file), type, 'public, max-age=31536000, immutable');
  }

  async #send(reply: FastifyReply, file: string, type: string, cache: string): Promise<void> {
    let body: Buffer;
    try {
      body = await readFile(join(this.#dir, file));
    } catch {
      throw new WritError('NOT_FOUND', `the console is not built (no ${file} in ${this.#dir}: run ./dev build)`);
    }
    await reply
      .header('content-type', type)
      .header('cache-control', cache)
      .header('content-security-policy', CONSOLE_CSP)
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer')
      .header('x-frame-options', 'DENY')
      .send(body);
  }
}
