// Budget notifications to each tenant's webhook (WRIT_BUDGET_WEBHOOKS_FILE, the format of the
// policy service's): the notifier of @writ/runtime reads the accountant's events (writ.budget.v1)
// and POSTs a signed message for every BudgetThresholdCrossed (a budget's thresholds and its
// degradation step); a failed delivery is retried, then parked in writ.budget.dlq with its reason.
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { thresholdNotification } from '@writ/budget-core';
import type { BudgetNotification } from '@writ/budget-core';
import type { DecodedEvent } from '@writ/bus';
import { TOPICS } from '@writ/contracts';
import { SERVICE_CONFIG, WebhookNotifier, busLoggerOf, loadWebhooks } from '@writ/runtime';
import type { BudgetServiceConfig } from './config.ts';

/** The accountant's own announcements only (the topic's ACLs let no one else write it). */
function budgetNotificationOf(event: DecodedEvent): BudgetNotification | undefined {
  if (event.type !== 'BudgetThresholdCrossed' || !event.payload.meta.producer.startsWith('budget@')) return undefined;
  return thresholdNotification(event.payload);
}

/** Runs the notifier when WRIT_BUDGET_WEBHOOKS_FILE is set. */
@Injectable()
export class BudgetNotifications implements OnModuleInit, OnApplicationShutdown {
  readonly #config: BudgetServiceConfig;
  #notifier: WebhookNotifier<BudgetNotification> | undefined;

  constructor(@Inject(SERVICE_CONFIG) config: BudgetServiceConfig) {
    this.#config = config;
  }

  async onModuleInit(): Promise<void> {
    const file = this.#config.WRIT_BUDGET_WEBHOOKS_FILE;
    if (file === undefined) return;
    const tenants = this.#config.WRIT_BUDGET_TENANTS;
    this.#notifier = new WebhookNotifier({
      name: 'budget',
      brokers: this.#config.WRIT_KAFKA_BROKERS,
      groupId: this.#config.WRIT_KAFKA_GROUP_ID,
      topics: [TOPICS.budget],
      dlqTopic: 'writ.budget.dlq',
      hooks: loadWebhooks(file),
      serves: (tenant) => tenants.serves(tenant),
      notificationOf: budgetNotificationOf,
      logger: busLoggerOf(new Logger('budget.notify')),
    });
    await this.#notifier.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.#notifier?.stop();
  }
}
