// Budget notifications to each tenant's webhook (WRIT_BUDGET_WEBHOOKS_FILE, the format of the
// policy service's): a consumer group of its own reads the accountant's events (writ.budget.v1) and
// POSTs a signed message for every BudgetThresholdCrossed (a budget's thresholds and its
// degradation step). At least once: an offset is committed only after the webhook answered 2xx; a
// failed delivery is retried with backoff by the bus, then parked in writ.budget.dlq with its
// reason. A receiver drops a redelivery by the `x-writ-delivery` id (the event's id).
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { thresholdNotification } from '@writ/budget-core';
import { EventConsumer } from '@writ/bus';
import type { BusLogger, DecodedEvent } from '@writ/bus';
import type { TenantFilter } from '@writ/config';
import { TOPICS } from '@writ/contracts';
import { SERVICE_CONFIG, busLoggerOf, deliverWebhook, loadWebhooks } from '@writ/runtime';
import type { TenantWebhook } from '@writ/runtime';
import type { BudgetServiceConfig } from './config.ts';

export interface BudgetNotifierOptions {
  readonly brokers: readonly string[];
  readonly groupId: string;
  readonly hooks: ReadonlyMap<string, TenantWebhook>;
  readonly tenants: TenantFilter;
  readonly logger: BusLogger;
}

export class BudgetNotifier {
  readonly #consumer: EventConsumer;
  readonly #options: BudgetNotifierOptions;

  constructor(options: BudgetNotifierOptions) {
    this.#options = options;
    this.#consumer = new EventConsumer({
      brokers: options.brokers,
      groupId: `${options.groupId}.notify`,
      topics: [TOPICS.budget],
      // A new group starts at the end: no notification for thresholds of before the webhook existed.
      fromBeginning: false,
      dlqTopic: 'writ.budget.dlq',
      // About 40 s of retries before a delivery is parked in the DLQ.
      retry: { maxAttempts: 7, initialBackoffMs: 500, maxBackoffMs: 10_000 },
      partitionsConsumedConcurrently: 3,
      logger: options.logger,
      handler: (event) => this.#handle(event),
    });
  }

  /** Starts consuming and waits (up to 30 s) until the group assigned partitions, so that what follows is notified. */
  async start(): Promise<void> {
    await this.#consumer.start();
    if (!(await this.#consumer.assigned(30_000))) this.#options.logger.warn('budget notifier: no partitions assigned yet', {});
  }

  stop(): Promise<void> {
    return this.#consumer.stop();
  }

  async #handle(event: DecodedEvent): Promise<void> {
    // The accountant's own announcements only (the topic's ACLs let no one else write it).
    if (event.type !== 'BudgetThresholdCrossed' || !event.payload.meta.producer.startsWith('budget@')) return;
    const tenant = event.payload.meta.tenant_id;
    const hook = this.#options.hooks.get(tenant);
    if (hook === undefined || !this.#options.tenants.serves(tenant)) return;
    const notification = thresholdNotification(event.payload);
    await deliverWebhook(hook, notification, notification);
    this.#options.logger.info('budget notification delivered', { tenant, scope: notification.scope, threshold_percent: notification.threshold_percent });
  }
}

/** Runs the notifier when WRIT_BUDGET_WEBHOOKS_FILE is set. */
@Injectable()
export class BudgetNotifications implements OnModuleInit, OnApplicationShutdown {
  readonly #config: BudgetServiceConfig;
  #notifier: BudgetNotifier | undefined;

  constructor(@Inject(SERVICE_CONFIG) config: BudgetServiceConfig) {
    this.#config = config;
  }

  async onModuleInit(): Promise<void> {
    const file = this.#config.WRIT_BUDGET_WEBHOOKS_FILE;
    if (file === undefined) return;
    this.#notifier = new BudgetNotifier({
      brokers: this.#config.WRIT_KAFKA_BROKERS,
      groupId: this.#config.WRIT_KAFKA_GROUP_ID,
      hooks: loadWebhooks(file),
      tenants: this.#config.WRIT_BUDGET_TENANTS,
      logger: busLoggerOf(new Logger('budget.notify')),
    });
    await this.#notifier.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.#notifier?.stop();
  }
}
