// Tenants' webhooks, shared by the services that tell a tenant something (the policy service's
// approval notifications, the accountant's budget thresholds): the webhooks file, the signature
// and one delivery. Retrying is the caller's consumer's (an offset is committed after a 2xx only).
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
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
