// Approval notifications to each tenant's webhook (WRIT_POLICY_WEBHOOKS_FILE): the notifier of
// @writ/runtime reads the PDP's decisions (writ.policy.v1) and the planner's ends of actions
// (writ.actions.v1), and POSTs a signed chat-shaped message when an approval is requested, decided
// or expired; a failed delivery is retried, then parked in writ.policy.dlq with its reason.
import type { BusLogger, DecodedEvent } from '@writ/bus';
import type { TenantFilter } from '@writ/config';
import { TOPICS } from '@writ/contracts';
import { notificationOfCompletion, notificationOfDecision } from '@writ/policy-service-core';
import type { ApprovalNotification } from '@writ/policy-service-core';
import { WebhookNotifier } from '@writ/runtime';
import type { TenantWebhook } from '@writ/runtime';

/** The approval notification an event calls for, if any. */
function approvalNotificationOf(event: DecodedEvent): ApprovalNotification | undefined {
  if (event.type === 'PolicyDecided') return notificationOfDecision(event.payload);
  if (event.type === 'ActionCompleted') return notificationOfCompletion(event.payload);
  return undefined;
}

export function approvalNotifier(options: {
  readonly brokers: readonly string[];
  readonly groupId: string;
  readonly hooks: ReadonlyMap<string, TenantWebhook>;
  readonly tenants: TenantFilter;
  readonly dlqTopic: string;
  readonly logger: BusLogger;
}): WebhookNotifier<ApprovalNotification> {
  return new WebhookNotifier({
    name: 'approval',
    brokers: options.brokers,
    groupId: options.groupId,
    topics: [TOPICS.policy, TOPICS.actions],
    dlqTopic: options.dlqTopic,
    hooks: options.hooks,
    serves: (tenant) => options.tenants.serves(tenant),
    notificationOf: approvalNotificationOf,
    logger: options.logger,
  });
}
