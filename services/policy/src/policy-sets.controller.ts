import { Body, Controller, Get, HttpCode, Inject, Param, Post, UseFilters, UseGuards } from '@nestjs/common';
import { isPlatformAdmin, principalId } from '@writ/directory';
import type { Principal } from '@writ/directory';
import { WritError } from '@writ/errors';
import type { PolicyCaseSource } from '@writ/policy-engine';
import { BearerGuard, Caller, DoorErrorFilter, Requires } from '@writ/runtime';
import { POLICY_SETS } from './pdp.engine.ts';
import type { PolicySets, PublicationDetail, PublicationSummary, PublishResult } from './policy-sets.ts';

const SHA256 = /^[0-9a-f]{64}$/;

function invalid(field: string, rule: string): WritError {
  return new WritError('REQUEST_INVALID', `${field} ${rule}`, { field, rule });
}

function record(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw invalid('body', 'must be a JSON object');
  return body as Record<string, unknown>;
}

function text(body: Record<string, unknown>, field: string, options: { optional?: boolean; nonEmpty?: boolean } = {}): string | undefined {
  const value = body[field];
  if (value === undefined && options.optional === true) return undefined;
  if (typeof value !== 'string') throw invalid(field, 'must be a string');
  if (options.nonEmpty === true && value.trim() === '') throw invalid(field, 'must not be blank');
  return value;
}

function previousHash(body: Record<string, unknown>): string | null {
  const value = body['previous_hash'];
  if (value === null) return null;
  if (typeof value !== 'string' || !SHA256.test(value))
    throw invalid('previous_hash', "must be the current set's sha256 (64 lower-case hex digits), or null when the stream has none");
  return value;
}

function cases(body: Record<string, unknown>): PolicyCaseSource[] {
  const value = body['cases'];
  if (!Array.isArray(value)) throw invalid('cases', 'must be an array of {file, text}');
  return value.map((entry: unknown, index) => {
    const c = typeof entry === 'object' && entry !== null ? (entry as Record<string, unknown>) : {};
    if (typeof c['file'] !== 'string' || typeof c['text'] !== 'string') throw invalid(`cases[${index}]`, 'must be {file: string, text: string}');
    return { file: c['file'], text: c['text'] };
  });
}

function policies(body: Record<string, unknown>): Record<string, string> {
  const value = body['policies'];
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid('policies', 'must be an object of policy id -> Cedar text');
  const out: Record<string, string> = {};
  for (const [id, policy] of Object.entries(value)) {
    if (typeof policy !== 'string') throw invalid(`policies.${id}`, 'must be the Cedar text of the policy');
    out[id] = policy;
  }
  return out;
}

/** Publishing changes every tenant's decisions: platform admins only (a tenant admin is refused). */
function requirePlatformAdmin(caller: Principal): string {
  if (!isPlatformAdmin(caller)) throw new WritError('FORBIDDEN', 'publishing a policy set needs a platform admin (a user of tenant "*" with the role admin)');
  return principalId(caller);
}

/** Policy sets hold every tenant's rules: a platform admin or a service reads them. */
function requirePlatformReader(caller: Principal): void {
  if (caller.kind !== 'service' && !isPlatformAdmin(caller)) throw new WritError('FORBIDDEN', 'reading policy sets needs a platform admin or a service key');
}

/**
 * The policy stream's doors: `GET /v1/policy-sets` (current set and history), `GET
 * /v1/policy-sets/{hash}` (one set in full), `POST /v1/policy-sets` (publish a validated set) and
 * `POST /v1/policy-sets/rollback` (publish an earlier set again). A publication answers once it is
 * in force on this instance (read back from the log); every instance of the stream follows.
 */
@Controller('v1/policy-sets')
@UseGuards(BearerGuard)
@UseFilters(new DoorErrorFilter())
export class PolicySetsController {
  constructor(@Inject(POLICY_SETS) private readonly sets: PolicySets) {}

  @Get()
  @Requires('admin', 'service')
  list(@Caller() caller: Principal): { stream: string; current: PublicationSummary | null; history: PublicationSummary[] } {
    requirePlatformReader(caller);
    return this.sets.history();
  }

  @Get(':hash')
  @Requires('admin', 'service')
  show(@Caller() caller: Principal, @Param('hash') hash: string): PublicationDetail {
    requirePlatformReader(caller);
    if (!SHA256.test(hash)) throw invalid('hash', 'must be a policy set hash (64 lower-case hex digits)');
    return this.sets.detail(hash);
  }

  @Post()
  @HttpCode(201)
  @Requires('admin')
  publish(@Caller() caller: Principal, @Body() raw: unknown): Promise<PublishResult> {
    const author = requirePlatformAdmin(caller);
    const body = record(raw);
    const version = text(body, 'version', { optional: true });
    return this.sets.publish({
      sources: { schemaText: text(body, 'schema', { nonEmpty: true }) ?? '', policies: policies(body), ...(version === undefined ? {} : { version }) },
      cases: cases(body),
      message: text(body, 'message', { nonEmpty: true }) ?? '',
      previousHash: previousHash(body),
      origin: 'publish',
      author,
    });
  }

  @Post('rollback')
  @HttpCode(201)
  @Requires('admin')
  rollback(@Caller() caller: Principal, @Body() raw: unknown): Promise<PublishResult> {
    const author = requirePlatformAdmin(caller);
    const body = record(raw);
    const to = text(body, 'to') ?? '';
    if (!SHA256.test(to)) throw invalid('to', 'must be the hash of an earlier set of the stream (64 lower-case hex digits)');
    return this.sets.rollback(to, text(body, 'message', { nonEmpty: true }) ?? '', previousHash(body), author);
  }
}
