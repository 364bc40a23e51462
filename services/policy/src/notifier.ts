// Approval notifications to each tenant's webhook (WRIT_POLICY_WEBHOOKS_FILE): a consumer group of
// its own reads the PDP's decisions (writ.policy.v1) and the planner's ends of actions
// (writ.actions.v1), and POSTs a signed chat-shaped message when an approval is requested,
// decided or expired. At least once: an offset is committed only after the webhook answered 2xx;
// a failed delivery is retried with backoff by the bus, then parked in writ.policy.dlq with its
// reason. A receiver drops a redelivery by the `x-writ-delivery` id.
import { EventConsumer } from '@writ/bus';
import type { BusLogger, DecodedEvent } from '@writ/bus';
import { TOPICS } from '@writ/contracts';
import type { TenantFilter } from '@writ/config';
import { notificationOfCompletion, notificationOfDecision } from '@writ/policy-service-core';
import { deliverWebhook } from '@writ/runtime';
import type { TenantWebhook } from '@writ/runtime';
import type { ApprovalNotification } from '@writ/policy-service-core';

export interface NotifierOptions {
  readonly brokers: readonly string[];
  readonly groupId: string;
  readonly hooks: ReadonlyMap<string, TenantWebhook>;
  readonly tenants: TenantFilter;
  readonly dlqTopic: string;
  readonly logger: BusLogger;
}

export class ApprovalNotifier {
  readonly #consumer: EventConsumer;
  readonly #options: NotifierOptions;

  constructor(options: NotifierOptions) {
    this.#options = options;
    this.#consumer = new EventConsumer({
      brokers: options.brokers,
      groupId: `${options.groupId}.notify`,
      topics: [TOPICS.policy, TOPICS.actions],
      // A new group starts at the end: no notification for approvals of before the webhook existed.
      fromBeginning: false,
      dlqTopic: options.dlqTopic,
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
    if (!(await this.#consumer.assigned(30_000))) this.#options.logger.warn('approval notifier: no partitions assigned yet', {});
  }

  stop(): Promise<void> {
    return this.#consumer.stop();
  }

  /** Delivers one notification to its tenant's webhook (throws on failure); false when the tenant has none here. */
  async send(notification: ApprovalNotification): Promise<boolean> {
    const hook = this.#options.hooks.get(notification.tenant);
    if (hook === undefined || !this.#options.tenants.serves(notification.tenant)) return false;
    await deliverWebhook(hook, notification, notification);
    this.#options.logger.info('approval notification delivered', { tenant: notification.tenant, event: notification.event, action_id: notification.action_id });
    return true;
  }

  async #handle(event: DecodedEvent): Promise<void> {
    const tenant = event.payload.meta.tenant_id;
    const hook = this.#options.hooks.get(tenant);
    if (hook === undefined || !this.#options.tenants.serves(tenant)) return;
    const notification =
      event.type === 'PolicyDecided'
        ? notificationOfDecision(event.payload)
        : event.type === 'ActionCompleted'
          ? notificationOfCompletion(event.payload)
          : undefined;
    if (notification !== undefined) await this.send(notification);
  }
}
