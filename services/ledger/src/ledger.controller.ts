import { Body, Catch, Controller, Get, Header, HttpCode, Inject, Param, Post, Query, UseFilters } from '@nestjs/common';
import type { ArgumentsHost, ExceptionFilter } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { WritError, describeError, isWritError } from '@writ/errors';
import { SERVICE_CONFIG } from '@writ/runtime';
import type { LedgerServiceConfig } from './config.ts';
import { exportChain, listChains, runReadOnlyQuery } from './ledger-store.ts';
import type { ChainSummary, QueryAnswer } from './ledger-store.ts';
import { LedgerService } from './ledger.service.ts';

const STATUS: Readonly<Record<string, number>> = { QUERY_NOT_ALLOWED: 400, QUERY_FAILED: 400, REQUEST_INVALID: 400, LEDGER_NO_PROJECTION: 503, LEDGER_NOT_READY: 503 };

/** WritErrors as JSON bodies naming the code, field and rule. */
@Catch()
export class LedgerErrorFilter implements ExceptionFilter {
  catch(error: unknown, host: ArgumentsHost): void {
    const reply = host.switchToHttp().getResponse<FastifyReply>();
    if (isWritError(error)) {
      void reply.status(STATUS[error.code] ?? (error.retriable ? 503 : 500)).send({ error: error.toJSON() });
      return;
    }
    const status = typeof (error as { getStatus?: unknown }).getStatus === 'function' ? (error as { getStatus(): number }).getStatus() : 500;
    void reply.status(status).send({ error: { code: status === 404 ? 'NOT_FOUND' : 'INTERNAL', message: describeError(error) } });
  }
}

const TENANT = /^[A-Za-z0-9._:-]{1,200}$/;

/** Read side of the ledger (loopback only, like every Writ service's HTTP port). */
@Controller('v1')
@UseFilters(LedgerErrorFilter)
export class LedgerController {
  constructor(
    private readonly ledger: LedgerService,
    @Inject(SERVICE_CONFIG) private readonly config: LedgerServiceConfig,
  ) {}

  /** Every chain in the projection, with its length and head seq. */
  @Get('ledger')
  async chains(): Promise<{ chains: ChainSummary[] }> {
    return { chains: await listChains(this.ledger.clickhouse) };
  }

  /** A tenant's chain as JSON lines (entries in seq order with the event bytes, then checkpoints); ?run_id= for one run's entries. */
  @Get('ledger/:tenant')
  @Header('content-type', 'application/x-ndjson')
  async chain(@Param('tenant') tenant: string, @Query('run_id') runId: string | undefined): Promise<string> {
    if (!TENANT.test(tenant)) {
      throw new WritError('REQUEST_INVALID', 'tenant is not a valid tenant id', { field: 'tenant', rule: 'letters, digits, . _ : -' });
    }
    const lines = await exportChain(this.ledger.clickhouse, tenant, runId === undefined || runId === '' ? {} : { runId });
    return lines.map((line) => `${line}\n`).join('');
  }

  /** Read-only analytics: one SELECT with named parameters ({name:Type} in the SQL). */
  @Post('query')
  @HttpCode(200)
  async query(@Body() body: unknown): Promise<QueryAnswer> {
    if (typeof body !== 'object' || body === null) {
      throw new WritError('REQUEST_INVALID', 'send {"sql": "SELECT ...", "params": {...}}', { field: 'body', rule: 'a JSON object' });
    }
    const { sql, params } = body as { sql?: unknown; params?: unknown };
    return runReadOnlyQuery(this.ledger.clickhouse, sql, params, this.config.LEDGER_QUERY_MAX_ROWS);
  }
}
