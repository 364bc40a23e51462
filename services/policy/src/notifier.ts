// Approval notifications to each tenant's webhook (WRIT_POLICY_WEBHOOKS_FILE): a consumer group of
// its own reads the PDP's decisions (writ.policy.v1) and the planner's ends of actions
// (writ.actions.v1), and POSTs a signed chat-shaped message when an approval is requested,
// decided or expired. At least once: an offset is committed only after the webhook answered 2xx;
// a failed delivery is retried with backoff by the bus, then parked in writ.policy.dlq with its
// reason. A receiver drops a redelivery by the `x-writ-delivery` id.
import { readFileSync } from 'node:fs';
import { EventConsumer } from '@writ/bus';
import type { BusLogger, DecodedEvent } from '@writ/bus';
import { TOPICS } from '@writ/contracts';
import type { TenantFilter } from '@writ/config';
import { WritError, describeError } from '@writ/errors';
import { notificationOfCompletion, notificationOfDecision, webhookSignature } from '@writ/policy-service-core';
import type { ApprovalNotification } from '@writ/policy-service-core';

export interface TenantWebhook {
  readonly url: URL;
  readonly secret: string;
}

const DELIVERY_TIMEOUT_MS = 5_000;

function invalid(file: string, field: string, rule: string): WritError {
  return new WritError('CONFIG_INVALID', `${file}: ${field} ${rule}`, { field, rule });
}

/**
 * Reads the webhooks file: `{"tenants": {"<tenant>": {"url": "https://...", "secret_env": "NAME"}}}`
 * (or `"secret_file": "path"`). The secret signs every body and never leaves this process.
 */
export function loadWebhooks(file: string, env: Readonly<Record<string, string | undefined>> = process.env): ReadonlyMap<string, TenantWebhook> {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw invalid(file, 'file', `must be readable JSON (${describeError(error)})`);
  }
  const tenants = (raw as { tenants?: unknown } | null)?.tenants;
  if (typeof tenants !== 'object' || tenants === null || Array.isArray(tenants))
    throw invalid(file, 'tenants', 'must be an object of tenant id -> {url, secret_env | secret_file}');
  const hooks = new Map<string, TenantWebhook>();
  for (const [tenant, value] of Object.entries(tenants)) {
    const entry = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
    let url: URL;
    try {
      url = new URL(String(entry['url']));
    } catch {
      throw invalid(file, `tenants.${tenant}.url`, 'must be an absolute http(s) URL');
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw invalid(file, `tenants.${tenant}.url`, 'must be an absolute http(s) URL');
    let secret: string | undefined;
    if (typeof entry['secret_env'] === 'string') secret = env[entry['secret_env']];
    else if (typeof entry['secret_file'] === 'string') {
      try {
        secret = readFileSync(entry['secret_file'], 'utf8').trim();
      } catch {
        secret = undefined;
      }
    }
    if (secret === undefined || secret.length < 16) {
      throw invalid(
        file,
        `tenants.${tenant}.secret_env`,
        'must name an environment variable (secret_env) or a file (secret_file) holding a secret of at least 16 characters',
      );
    }
    hooks.set(tenant, { url, secret });
  }
  return hooks;
}

/** POSTs one notification, signed; throws a retriable error on anything but a 2xx answer. */
export async function deliver(hook: TenantWebhook, notification: ApprovalNotification, now: number = Date.now()): Promise<void> {
  const body = JSON.stringify(notification);
  let response: Response;
  try {
    response = await fetch(hook.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-writ-event': notification.event,
        'x-writ-delivery': notification.id,
        'x-writ-signature': webhookSignature(hook.secret, body, Math.floor(now / 1000)),
      },
      body,
      signal: AbortSignal.timeout(DELIVERY_TIMEOUT_MS),
    });
  } catch (error) {
    throw new WritError('DOWNSTREAM_BUSY', `webhook ${hook.url.origin}${hook.url.pathname} unreachable: ${describeError(error)}`, { retriable: true });
  }
  await response.body?.cancel();
  if (!response.ok) throw new WritError('DOWNSTREAM_BUSY', `webhook ${hook.url.origin}${hook.url.pathname} answered ${response.status}`, { retriable: true });
}

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
    await deliver(hook, notification);
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
