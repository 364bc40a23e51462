import { Module } from '@nestjs/common';

/** The budget service: budget accountant: limits, signed reservations and settled spend. */
@Module({})
export class BudgetModule {}
