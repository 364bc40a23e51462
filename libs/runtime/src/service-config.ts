import { readFileSync } from 'node:fs';
import { KAFKA_SASL_ENV, kafkaSaslFromEnv } from '@writ/bus';
import { env, loadConfig } from '@writ/config';
import type { ConfigOf, EnvVar } from '@writ/config';

export const DEFAULT_KAFKA_BROKERS = '127.0.0.1:27092';

/** Variables every Writ service reads; a service adds its own through `extra`. */
export function baseConfigSpec(defaultHttpPort: number) {
  return {
    WRIT_KAFKA_BROKERS: env.hostPorts({ default: DEFAULT_KAFKA_BROKERS }),
    // The service's Kafka principal: checked together (a username needs a readable password
    // file) by kafkaSaslFromEnv, which loadServiceConfig calls after the spec.
    [KAFKA_SASL_ENV.username]: env.optionalString(),
    [KAFKA_SASL_ENV.passwordFile]: env.optionalString(),
    [KAFKA_SASL_ENV.mechanism]: env.optionalString(),
    [KAFKA_SASL_ENV.protocol]: env.optionalString(),
    /**
     * This replica's stable name among the instances of its service (`0`, `1`, ...; a pod's
     * ordinal). It names the replica to the broker: its static consumer-group membership
     * (`<WRIT_KAFKA_GROUP_ID>.<id>`: a restarted replica takes its partitions straight back, no
     * rebalance) and its transactional id (a restarted replica fences its predecessor). Two live
     * replicas of one service must not share it.
     */
    WRIT_INSTANCE_ID: env.name({ default: '0' }),
    WRIT_HTTP_HOST: env.string({ default: '127.0.0.1' }),
    WRIT_HTTP_PORT: env.port({ default: defaultHttpPort }),
    WRIT_LOG_FORMAT: env.oneOf(['json', 'text'] as const, { default: 'json' }),
    WRIT_KAFKA_STARTUP_TIMEOUT_MS: env.int({ default: 10_000, min: 100, max: 600_000 }),
    // Every request body (libs/runtime/src/http-body.ts): bytes, nesting of objects/arrays, and
    // the length of one string or key in characters.
    WRIT_HTTP_BODY_MAX_BYTES: env.int({ default: 1_048_576, min: 1_024, max: 67_108_864 }),
    WRIT_HTTP_BODY_MAX_DEPTH: env.int({ default: 32, min: 1, max: 1_000 }),
    WRIT_HTTP_BODY_MAX_STRING_LENGTH: env.int({ default: 65_536, min: 64, max: 67_108_864 }),
  };
}

/**
 * Names the services read before the one naming scheme (`WRIT_<AREA>_*` for what every service
 * reads, `WRIT_<SERVICE>_*` for a service's own): set under an old name, a variable stops the boot
 * with its new name instead of being ignored.
 */
export const RENAMED_VARIABLES: Readonly<Record<string, string>> = {
  KAFKA_BROKERS: 'WRIT_KAFKA_BROKERS',
  KAFKA_GROUP_ID: 'WRIT_KAFKA_GROUP_ID',
  KAFKA_STARTUP_TIMEOUT_MS: 'WRIT_KAFKA_STARTUP_TIMEOUT_MS',
  KAFKA_SASL_USERNAME: 'WRIT_KAFKA_SASL_USERNAME',
  KAFKA_SASL_PASSWORD_FILE: 'WRIT_KAFKA_SASL_PASSWORD_FILE',
  KAFKA_SASL_MECHANISM: 'WRIT_KAFKA_SASL_MECHANISM',
  KAFKA_SECURITY_PROTOCOL: 'WRIT_KAFKA_SECURITY_PROTOCOL',
  HTTP_HOST: 'WRIT_HTTP_HOST',
  HTTP_PORT: 'WRIT_HTTP_PORT',
  HTTP_BODY_MAX_BYTES: 'WRIT_HTTP_BODY_MAX_BYTES',
  HTTP_BODY_MAX_DEPTH: 'WRIT_HTTP_BODY_MAX_DEPTH',
  HTTP_BODY_MAX_STRING_LENGTH: 'WRIT_HTTP_BODY_MAX_STRING_LENGTH',
  LOG_FORMAT: 'WRIT_LOG_FORMAT',
  WRIT_BUDGETS_FILE: 'WRIT_BUDGET_LIMITS_FILE',
  WRIT_RESERVATION_SIGNING_KEY: 'WRIT_BUDGET_SIGNING_KEY',
  WRIT_RESERVATION_TTL_MS: 'WRIT_BUDGET_RESERVATION_TTL_MS',
  WRIT_WARRANT_KEYS_DIR: 'WRIT_EXECUTOR_WARRANT_KEYS_DIR',
  WRIT_RESERVATION_KEYS_DIR: 'WRIT_EXECUTOR_RESERVATION_KEYS_DIR',
  EXECUTOR_CONCURRENCY: 'WRIT_EXECUTOR_CONCURRENCY',
  EXECUTOR_IN_FLIGHT: 'WRIT_EXECUTOR_IN_FLIGHT',
  EXECUTOR_BREAKER_THRESHOLD: 'WRIT_EXECUTOR_BREAKER_THRESHOLD',
  EXECUTOR_BREAKER_COOLDOWN_MS: 'WRIT_EXECUTOR_BREAKER_COOLDOWN_MS',
  EXECUTOR_CONTROLS_CATCHUP_MS: 'WRIT_EXECUTOR_CONTROLS_CATCHUP_MS',
  EXECUTOR_TENANT_PREFIX: 'WRIT_EXECUTOR_TENANTS',
  EXECUTOR_LINGER_MS: 'WRIT_EXECUTOR_LINGER_MS',
  GATEWAY_RETENTION_MS: 'WRIT_GATEWAY_RETENTION_MS',
  GATEWAY_CATCHUP_TIMEOUT_MS: 'WRIT_GATEWAY_CATCHUP_TIMEOUT_MS',
  GATEWAY_SYNC_WAIT_MS: 'WRIT_GATEWAY_SYNC_WAIT_MS',
  GATEWAY_MAX_WAITERS: 'WRIT_GATEWAY_MAX_WAITERS',
  LEDGER_TENANT_PREFIX: 'WRIT_LEDGER_TENANTS',
  LEDGER_CHECKPOINT_EVERY: 'WRIT_LEDGER_CHECKPOINT_EVERY',
  LEDGER_SQL_DIR: 'WRIT_LEDGER_SQL_DIR',
  LEDGER_PROJECTION: 'WRIT_LEDGER_PROJECTION',
  LEDGER_PROJECTION_BATCH: 'WRIT_LEDGER_PROJECTION_BATCH',
  LEDGER_LINGER_MS: 'WRIT_LEDGER_LINGER_MS',
  LEDGER_REPLAY_TIMEOUT_MS: 'WRIT_LEDGER_REPLAY_TIMEOUT_MS',
  LEDGER_QUERY_MAX_ROWS: 'WRIT_LEDGER_QUERY_MAX_ROWS',
  LEDGER_QUERY_TIMEOUT_S: 'WRIT_LEDGER_QUERY_TIMEOUT_S',
  LEDGER_QUERY_MAX_BYTES: 'WRIT_LEDGER_QUERY_MAX_BYTES',
  LEDGER_QUERY_MAX_MEMORY: 'WRIT_LEDGER_QUERY_MAX_MEMORY',
  LEDGER_ANALYST_DATABASE: 'WRIT_LEDGER_ANALYST_DATABASE',
  PLANNER_DECISION_TIMEOUT_MS: 'WRIT_PLANNER_DECISION_TIMEOUT_MS',
  PLANNER_APPROVAL_TIMEOUT_MS: 'WRIT_PLANNER_APPROVAL_TIMEOUT_MS',
  PLANNER_EXECUTION_START_TIMEOUT_MS: 'WRIT_PLANNER_EXECUTION_START_TIMEOUT_MS',
  PLANNER_EXECUTION_TIMEOUT_MS: 'WRIT_PLANNER_EXECUTION_TIMEOUT_MS',
  PLANNER_LOOP_THRESHOLD: 'WRIT_PLANNER_LOOP_THRESHOLD',
  PLANNER_LOOP_WINDOW: 'WRIT_PLANNER_LOOP_WINDOW',
  PLANNER_DEFAULT_CURRENCY: 'WRIT_PLANNER_DEFAULT_CURRENCY',
  PLANNER_TENANT_PREFIX: 'WRIT_PLANNER_TENANTS',
  PLANNER_LINGER_MS: 'WRIT_PLANNER_LINGER_MS',
  PLANNER_REPLAY_TIMEOUT_MS: 'WRIT_PLANNER_REPLAY_TIMEOUT_MS',
  WRIT_WARRANT_SIGNING_KEY: 'WRIT_POLICY_SIGNING_KEY',
  WRIT_WARRANT_TTL_MS: 'WRIT_POLICY_WARRANT_TTL_MS',
};

export type BaseConfig = ConfigOf<ReturnType<typeof baseConfigSpec>>;

export function loadServiceConfig<S extends Record<string, EnvVar<unknown>>>(
  defaultHttpPort: number,
  extra: S,
  source: Readonly<Record<string, string | undefined>> = process.env,
): BaseConfig & ConfigOf<S> {
  const config = loadConfig({ ...baseConfigSpec(defaultHttpPort), ...extra }, source, { renamed: RENAMED_VARIABLES }) as BaseConfig & ConfigOf<S>;
  // The service's Kafka principal (WRIT_KAFKA_SASL_USERNAME, WRIT_KAFKA_SASL_PASSWORD_FILE, WRIT_KAFKA_SASL_MECHANISM):
  // a username without a readable password file stops the boot here, naming the variable.
  kafkaSaslFromEnv(source);
  return config;
}

/** The version in the package.json next to a service's `src/` or `dist/` folder. */
export function packageVersion(moduleUrl: string): string {
  const raw = readFileSync(new URL('../package.json', moduleUrl), 'utf8');
  const parsed = JSON.parse(raw) as { version?: unknown };
  return typeof parsed.version === 'string' ? parsed.version : '0.0.0';
}
