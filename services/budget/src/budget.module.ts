import { Module } from '@nestjs/common';
import { BudgetProcessor } from './budget.processor.ts';

/** The budget service: the accountant of limits, signed reservations and settled spend. */
@Module({ providers: [BudgetProcessor], exports: [BudgetProcessor] })
export class BudgetModule {}
