import { env } from '@writ/config';
import type { ConfigOf } from '@writ/config';
import type { BaseConfig } from '@writ/runtime';

/** The executor's variables, on top of the common ones (WRIT_KAFKA_BROKERS, WRIT_HTTP_PORT, ...). */
export const executorConfigSpec = {
  WRIT_KAFKA_GROUP_ID: env.string({ default: 'writ.executor' }),
  WRIT_TOOLS_DIR: env.string({ default: 'tools' }),
  /** Public keys of the PDP (policy service): warrants. */
  WRIT_EXECUTOR_WARRANT_KEYS_DIR: env.string({ default: '.local/keys/public/warrants' }),
  /** Public keys of the accountant (budget service): reservations. */
  WRIT_EXECUTOR_RESERVATION_KEYS_DIR: env.string({ default: '.local/keys/public/reservations' }),
  /**
   * The executor's own Ed25519 key (PKCS#8 PEM; key id: the file name without .pem) that mints a
   * token per action for tools declaring `credential.mint`; its public half is served as a JWKS at
   * GET /.well-known/jwks.json. Needed only when such a tool is registered.
   */
  WRIT_EXECUTOR_TOKEN_SIGNING_KEY: env.string({ default: '.local/keys/executor/private/tool-token-1.pem' }),
  /** The `iss` of minted tokens; tools verify it. */
  WRIT_EXECUTOR_TOKEN_ISSUER: env.string({ default: 'writ-executor' }),
  /** Tenants' data keys (`<tenant>.key`, shared with the gateway): sealed sensitive arguments are opened just before the call. */
  WRIT_TENANT_KEYS_DIR: env.string({ default: '.local/keys/tenants' }),
  /** Idempotency journal (fsynced before every write-tool call); one executor process per folder. */
  WRIT_EXECUTOR_DATA_DIR: env.string({ default: '.local/executor' }),
  /**
   * How long the journal keeps a finished call's record (its outcome and redacted result) after the
   * request's deadline, in hours; 0 keeps every record. Past the deadline a redelivered request is
   * refused before any call, so the record no longer guards against a second one (docs/retention.md).
   */
  WRIT_EXECUTOR_JOURNAL_RETENTION_HOURS: env.int({ default: 24, min: 0, max: 87_600 }),
  /** Partitions of writ.executions.v1 handled in parallel (order is kept within a partition). */
  WRIT_EXECUTOR_CONCURRENCY: env.int({ default: 4, min: 1, max: 256 }),
  /**
   * Requests of one partition handled at once (a run's actions share a partition, and each call
   * waits for its tool and its outcome's acknowledgement): independent actions overlap, one
   * action's requests never do, and an offset is committed only after everything before it.
   */
  WRIT_EXECUTOR_IN_FLIGHT: env.int({ default: 16, min: 1, max: 1024 }),
  /** Consecutive failures that open a tool's circuit breaker. */
  WRIT_EXECUTOR_BREAKER_THRESHOLD: env.int({ default: 5, min: 1, max: 1000 }),
  /** How long an open breaker refuses calls before one trial. */
  WRIT_EXECUTOR_BREAKER_COOLDOWN_MS: env.int({ default: 10_000, min: 10, max: 3_600_000 }),
  /** How long boot waits for the controls topic to be read up to its end. */
  WRIT_EXECUTOR_CONTROLS_CATCHUP_MS: env.int({ default: 15_000, min: 0, max: 600_000 }),
  /** The tenants this instance serves (ids, or prefixes ending in `*`; unset: all): TenantFilter in @writ/config. */
  WRIT_EXECUTOR_TENANTS: env.tenants(),
  WRIT_EXECUTOR_LINGER_MS: env.int({ default: 0, min: 0, max: 1000 }),
  /**
   * The model door's bearer token (docs/model-proxy.md): the gateway hands the executor a model
   * call's request body with it at POST /internal/model-calls/{call_id}. Unset: the door is closed
   * (503) and the gateway's model proxy answers 503.
   */
  WRIT_MODEL_DOOR_TOKEN: env.optionalString(),
  /** How long a model call's body waits at the door for its action's execution before the door gives up (504). */
  WRIT_EXECUTOR_MODEL_PARK_MS: env.int({ default: 60_000, min: 100, max: 600_000 }),
};

export type ExecutorServiceConfig = BaseConfig & ConfigOf<typeof executorConfigSpec>;
