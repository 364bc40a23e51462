import { readFileSync } from 'node:fs';
import { kafkaSaslFromEnv } from '@writ/bus';
import { env, loadConfig } from '@writ/config';
import type { ConfigOf, EnvVar } from '@writ/config';

export const DEFAULT_KAFKA_BROKERS = '127.0.0.1:27092';

/** Variables every Writ service reads; a service adds its own through `extra`. */
export function baseConfigSpec(defaultHttpPort: number) {
  return {
    KAFKA_BROKERS: env.hostPorts({ default: DEFAULT_KAFKA_BROKERS }),
    /**
     * This replica's stable name among the instances of its service (`0`, `1`, ...; a pod's
     * ordinal). It names the replica to the broker: its static consumer-group membership
     * (`<KAFKA_GROUP_ID>.<id>`: a restarted replica takes its partitions straight back, no
     * rebalance) and its transactional id (a restarted replica fences its predecessor). Two live
     * replicas of one service must not share it.
     */
    WRIT_INSTANCE_ID: env.name({ default: '0' }),
    HTTP_HOST: env.string({ default: '127.0.0.1' }),
    HTTP_PORT: env.port({ default: defaultHttpPort }),
    LOG_FORMAT: env.oneOf(['json', 'text'] as const, { default: 'json' }),
    KAFKA_STARTUP_TIMEOUT_MS: env.int({ default: 10_000, min: 100, max: 600_000 }),
    // Every request body (libs/runtime/src/http-body.ts): bytes, nesting of objects/arrays, and
    // the length of one string or key in characters.
    HTTP_BODY_MAX_BYTES: env.int({ default: 1_048_576, min: 1_024, max: 67_108_864 }),
    HTTP_BODY_MAX_DEPTH: env.int({ default: 32, min: 1, max: 1_000 }),
    HTTP_BODY_MAX_STRING_LENGTH: env.int({ default: 65_536, min: 64, max: 67_108_864 }),
  };
}

export type BaseConfig = ConfigOf<ReturnType<typeof baseConfigSpec>>;

export function loadServiceConfig<S extends Record<string, EnvVar<unknown>>>(
  defaultHttpPort: number,
  extra: S,
  source: Readonly<Record<string, string | undefined>> = process.env,
): BaseConfig & ConfigOf<S> {
  const config = loadConfig({ ...baseConfigSpec(defaultHttpPort), ...extra }, source) as BaseConfig & ConfigOf<S>;
  // The service's Kafka principal (KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD_FILE, KAFKA_SASL_MECHANISM):
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
