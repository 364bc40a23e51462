import { Module } from '@nestjs/common';

/** The ledger service: hash-chained event log and ClickHouse projections. */
@Module({})
export class LedgerModule {}
