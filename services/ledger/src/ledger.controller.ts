import { Body, Controller, Get, Header, HttpCode, Param, Post, Query, UseFilters, UseGuards } from '@nestjs/common';
import { PLATFORM_TENANT, mayActIn, tenantOf } from '@writ/directory';
import type { Principal } from '@writ/directory';
import { WritError } from '@writ/errors';
import { BearerGuard, Caller, DoorErrorFilter, Requires } from '@writ/runtime';
import type { QueryAnswer } from './analyst-door.ts';
import { exportChain, listChains } from './ledger-store.ts';
import type { ChainSummary } from './ledger-store.ts';
import { LedgerService } from './ledger.service.ts';
import type { LedgerLag } from './ledger.service.ts';

const TENANT = /^[A-Za-z0-9._:-]{1,200}$/;

/** Another tenant's chain answers exactly like a chain that does not exist. */
function noChain(tenant: string): WritError {
  return new WritError('NOT_FOUND', `no ledger chain for tenant ${tenant}`, { field: 'tenant', rule: 'a tenant with a chain, that the caller may read' });
}

/**
 * Read side of the ledger. Every route needs an API key (Authorization: Bearer) of a principal
 * with the route's role, and sees only the caller's tenant (services and platform admins: any).
 */
@Controller('v1')
@UseGuards(BearerGuard)
@UseFilters(new DoorErrorFilter())
export class LedgerController {
  constructor(private readonly ledger: LedgerService) {}

  /** The chains the caller may read, with their length and head seq. */
  @Get('ledger')
  @Requires('auditor', 'analyst', 'service')
  async chains(@Caller() caller: Principal): Promise<{ chains: ChainSummary[] }> {
    const tenant = tenantOf(caller);
    return { chains: await listChains(this.ledger.clickhouse, tenant === PLATFORM_TENANT ? undefined : tenant) };
  }

  /** A tenant's chain as JSON lines (entries in seq order with the event bytes, then checkpoints); ?run_id= for one run's entries. */
  @Get('ledger/:tenant')
  @Requires('auditor', 'service')
  @Header('content-type', 'application/x-ndjson')
  async chain(@Caller() caller: Principal, @Param('tenant') tenant: string, @Query('run_id') runId: string | undefined): Promise<string> {
    if (!TENANT.test(tenant)) {
      throw new WritError('REQUEST_INVALID', 'tenant is not a valid tenant id', { field: 'tenant', rule: 'letters, digits, . _ : -' });
    }
    if (!mayActIn(caller, tenant)) throw noChain(tenant);
    const byRun = runId !== undefined && runId !== '';
    const lines = await exportChain(this.ledger.clickhouse, tenant, byRun ? { runId } : {});
    if (!byRun && lines.length === 0) throw noChain(tenant);
    return lines.map((line) => `${line}\n`).join('');
  }

  /**
   * Read-only analytics over the caller's tenant: one SELECT with named parameters ({name:Type}).
   * A platform principal names the tenant (`"tenant"`); a tenant's user may name only its own.
   */
  /** How far the chain and its ClickHouse projection are behind (operators, the benchmarks). */
  @Get('lag')
  @Requires('auditor', 'analyst', 'service')
  async lag(): Promise<LedgerLag> {
    return this.ledger.lag();
  }

  @Post('query')
  @HttpCode(200)
  @Requires('analyst', 'auditor')
  async query(@Caller() caller: Principal, @Body() body: unknown): Promise<QueryAnswer> {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new WritError('REQUEST_INVALID', 'send {"sql": "SELECT ...", "params": {...}}', { field: 'body', rule: 'a JSON object' });
    }
    const { sql, params, tenant: named } = body as { sql?: unknown; params?: unknown; tenant?: unknown };
    const own = tenantOf(caller);
    let tenant: string;
    if (named === undefined) {
      if (own === PLATFORM_TENANT)
        throw new WritError('REQUEST_INVALID', 'a platform principal names the tenant it queries', { field: 'tenant', rule: 'required for platform admins' });
      tenant = own;
    } else {
      if (typeof named !== 'string' || !TENANT.test(named))
        throw new WritError('REQUEST_INVALID', 'tenant is not a valid tenant id', { field: 'tenant', rule: 'letters, digits, . _ : -' });
      if (!mayActIn(caller, named)) throw new WritError('NOT_FOUND', `no tenant ${named}`, { field: 'tenant', rule: "the caller's own tenant" });
      tenant = named;
    }
    return this.ledger.analysts.query(tenant, sql, params);
  }
}
