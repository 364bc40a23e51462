import { env } from '@writ/config';
import type { ConfigOf } from '@writ/config';
import type { BaseConfig } from '@writ/runtime';

/** The budget service's variables (on top of WRIT_KAFKA_BROKERS, WRIT_HTTP_HOST, WRIT_HTTP_PORT, WRIT_LOG_FORMAT). */
export const budgetConfigSpec = {
  /** Consumer group; the DLQ is `writ.budget.dlq` whatever the group. */
  WRIT_KAFKA_GROUP_ID: env.string({ default: 'writ.budget' }),
  /** The tool registry (one JSON file per tool version): a proposal's reservation is its tool's declared cost. */
  WRIT_TOOLS_DIR: env.string({ default: 'tools' }),
  /** Operator budgets per tenant and agent (JSON, see deploy/demo/budgets.json). */
  WRIT_BUDGET_LIMITS_FILE: env.string({ default: 'deploy/demo/budgets.json' }),
  /** PKCS#8 PEM of the Ed25519 key that signs reservations; its file name (without .pem) is the key id. */
  WRIT_BUDGET_SIGNING_KEY: env.string({ default: '.local/keys/budget/private/reservation-1.pem' }),
  /** The tenants this instance serves (ids, or prefixes ending in `*`; unset: all): TenantFilter in @writ/config. */
  WRIT_BUDGET_TENANTS: env.tenants(),
  /** A reservation lapses this long after it was made. */
  WRIT_BUDGET_RESERVATION_TTL_MS: env.int({ default: 60 * 60_000, min: 1_000, max: 7 * 24 * 60 * 60_000 }),
  /**
   * How long a settlement or a release waits at most for the next reservation, to share its
   * transaction (0: each commits at once). Nobody waits on them; a reservation waited behind the
   * transaction of the previous call's settlement (docs/design/pipeline.md, "Settlements wait").
   */
  WRIT_BUDGET_SETTLEMENT_WAIT_MS: env.int({ default: 50, min: 0, max: 5000 }),
  /** How often stale reservations are looked for. */
  WRIT_BUDGET_EXPIRY_INTERVAL_MS: env.int({ default: 5_000, min: 50, max: 600_000 }),
  /** Tenants' webhooks for budget thresholds (`{"tenants": {"<id>": {"url", "secret_env" | "secret_file"}}}`); unset: none. */
  WRIT_BUDGET_WEBHOOKS_FILE: env.optionalString(),
  /** How long the boot may take to rebuild the books from writ.budget.v1 and the RunStarted of writ.proposals.v1. */
  WRIT_BUDGET_REPLAY_TIMEOUT_MS: env.int({ default: 120_000, min: 1_000, max: 3_600_000 }),
};

export type BudgetServiceConfig = BaseConfig & ConfigOf<typeof budgetConfigSpec>;
