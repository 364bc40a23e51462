import { Module } from '@nestjs/common';
import { BearerGuard, DirectoryCloser, directoryProvider } from '@writ/runtime';
import { LedgerController } from './ledger.controller.ts';
import { LedgerService } from './ledger.service.ts';

/** The ledger service: hash-chained event log, ClickHouse projections, read-only analytics. */
@Module({ controllers: [LedgerController], providers: [LedgerService, directoryProvider(), DirectoryCloser, BearerGuard], exports: [LedgerService] })
export class LedgerModule {}
