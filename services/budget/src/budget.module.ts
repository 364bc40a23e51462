import { Module } from '@nestjs/common';
import { BudgetProcessor } from './budget.processor.ts';
import { BudgetNotifications } from './notifier.ts';

/** The budget service: the accountant of limits, signed reservations and settled spend; and its thresholds told to the tenants' webhooks. */
@Module({ providers: [BudgetProcessor, BudgetNotifications], exports: [BudgetProcessor] })
export class BudgetModule {}
