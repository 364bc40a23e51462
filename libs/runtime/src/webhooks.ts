// Tenants' webhooks, shared by the services that tell a tenant something (the policy service's
// approval notifications, the accountant's budget thresholds, the gateway's automatic safe mode):
// the webhooks file, the signature, one delivery, and the notifier that delivers what events call for.
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { EventConsumer } from '@writ/bus';
import type { BusLogger, DecodedEvent } from '@writ/bus';
import { WritError, describeError } from '@writ/errors';

export interface TenantWebhook {
  readonly url: URL;
  readonly secret: string;
}

/** What a delivery says of itself in its headers: `x-writ-event` and `x-writ-delivery` (a receiver drops a redelivery by it). */
export interface WebhookDelivery {
  readonly event: string;
  readonly id: string;
}

const DELIVERY_TIMEOUT_MS = 5_000;

function invalid(file: string, field: string, rule: string): WritError {
  return new WritError('CONFIG_INVALID', `${file}: ${field} ${rule}`, { field, rule });
}

/**
 * Reads a webhooks file: `{"tenants": {"<tenant>": {"url": "https://...", "secret_env": "NAME"}}}`
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

/**
 * The signature header of a webhook body: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`
 * with the tenant's secret. A receiver recomputes it and refuses an old timestamp (replay).
 */
export function webhookSignature(secret: string, body: string, unixSeconds: number): string {
  const mac = createHmac('sha256', secret).update(`${unixSeconds}.${body}`).digest('hex');
  return `t=${unixSeconds},v1=${mac}`;
}

/** POSTs one JSON body, signed; throws a retriable DOWNSTREAM_BUSY on anything but a 2xx answer. */
export async function deliverWebhook(hook: TenantWebhook, delivery: WebhookDelivery, payload: unknown, now: number = Date.now()): Promise<void> {
  const body = JSON.stringify(payload);
  let response: Response;
  try {
    response = await fetch(hook.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-writ-event': delivery.event,
        'x-writ-delivery': delivery.id,
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

/** A notification for one tenant's webhook; it is also the body (`event` and `id` go in the headers). */
export interface TenantNotification extends WebhookDelivery {
  readonly tenant: string;
}

export interface WebhookNotifierOptions<N extends TenantNotification> {
  /** For the logs: "approval", "budget", "safe-mode". */
  readonly name: string;
  readonly brokers: readonly string[];
  /** The service's consumer group; the notifier's own is `<groupId>.notify`, shared by the service's instances. */
  readonly groupId: string;
  readonly topics: readonly string[];
  readonly dlqTopic: string;
  readonly hooks: ReadonlyMap<string, TenantWebhook>;
  /** The tenants this instance notifies (default: every tenant with a webhook). */
  readonly serves?: (tenant: string) => boolean;
  /** What an event calls for; undefined: nothing to tell. */
  readonly notificationOf: (event: DecodedEvent) => N | undefined;
  readonly logger: BusLogger;
}

/** Delivery ids remembered per instance, so a repeat of an event (same id) is not posted twice by it. */
const DELIVERED_REMEMBERED = 10_000;

/**
 * Tells tenants' webhooks what events call for, at least once: a consumer group of its own
 * (`<group>.notify`, starting at the end of its topics when new, so nothing of before the webhook
 * existed is sent) commits an offset only after the webhook answered 2xx; a failed delivery is
 * retried with backoff for about 40 s, then parked in the DLQ with its reason. A receiver drops a
 * redelivery by the `x-writ-delivery` id.
 */
export class WebhookNotifier<N extends TenantNotification> {
  readonly #consumer: EventConsumer;
  readonly #options: WebhookNotifierOptions<N>;
  readonly #delivered = new Set<string>();

  constructor(options: WebhookNotifierOptions<N>) {
    this.#options = options;
    this.#consumer = new EventConsumer({
      brokers: options.brokers,
      groupId: `${options.groupId}.notify`,
      topics: options.topics,
      fromBeginning: false,
      dlqTopic: options.dlqTopic,
      retry: { maxAttempts: 7, initialBackoffMs: 500, maxBackoffMs: 10_000 },
      partitionsConsumedConcurrently: 3,
      logger: options.logger,
      handler: async (event) => {
        const notification = options.notificationOf(event);
        if (notification !== undefined) await this.send(notification);
      },
    });
  }

  /** Starts consuming and waits (up to 30 s) until the group assigned partitions, so that what follows is notified. */
  async start(): Promise<void> {
    await this.#consumer.start();
    if (!(await this.#consumer.assigned(30_000))) this.#options.logger.warn(`${this.#options.name} notifier: no partitions assigned yet`, {});
  }

  stop(): Promise<void> {
    return this.#consumer.stop();
  }

  /** Delivers one notification to its tenant's webhook (throws on failure); false when the tenant has none here. */
  async send(notification: N): Promise<boolean> {
    const { tenant } = notification;
    const hook = this.#options.hooks.get(tenant);
    if (hook === undefined || this.#options.serves?.(tenant) === false) return false;
    if (this.#delivered.has(notification.id)) return true;
    await deliverWebhook(hook, notification, notification);
    if (this.#delivered.size >= DELIVERED_REMEMBERED) this.#delivered.clear();
    this.#delivered.add(notification.id);
    this.#options.logger.info(`${this.#options.name} notification delivered`, { tenant, event: notification.event, delivery: notification.id });
    return true;
  }
}
