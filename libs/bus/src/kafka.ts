import kafkaJavascript from '@confluentinc/kafka-javascript';
import type { KafkaJS } from '@confluentinc/kafka-javascript';
import { WritError, describeError } from '@writ/errors';
import type { BusLogger } from './logger.ts';
import { kafkaSaslFromEnv, saslProperties } from './sasl.ts';
import type { KafkaSasl } from './sasl.ts';

const { Kafka, logLevel } = kafkaJavascript.KafkaJS;

/** librdkafka properties passed beside the `kafkaJS` block (see librdkafka's CONFIGURATION.md). */
export type RdKafkaProperties = Readonly<Record<string, string | number | boolean>>;

/** Versions of the client library and of the librdkafka it wraps, for reports and benchmarks. */
export const clientVersions = {
  librdkafka: kafkaJavascript.librdkafkaVersion,
} as const;

export interface KafkaConnection {
  readonly brokers: readonly string[];
  readonly clientId: string;
  /** Where the client library's own errors go; default: its console logger. */
  readonly logger?: BusLogger;
  /**
   * The principal to authenticate as; null: none. Default: the one named by KAFKA_SASL_USERNAME,
   * KAFKA_SASL_PASSWORD_FILE and KAFKA_SASL_MECHANISM (none when unset), read at each call.
   */
  readonly sasl?: KafkaSasl | null;
}

/** The principal of a connection: the explicit one, else the environment's (see KafkaConnection.sasl). */
export function connectionSasl(connection: Pick<KafkaConnection, 'sasl'>): KafkaSasl | undefined {
  if (connection.sasl === null) return undefined;
  return connection.sasl ?? kafkaSaslFromEnv();
}

/** The client library's logger interface over a BusLogger (its debug output is dropped). */
export function kafkaLogger(logger: BusLogger): KafkaJS.Logger {
  const adapter: KafkaJS.Logger = {
    info: (message, extra) => logger.info(message, { kafka: extra }),
    warn: (message, extra) => logger.warn(message, { kafka: extra }),
    error: (message, extra) => logger.error(message, { kafka: extra }),
    debug: () => undefined,
    namespace: () => adapter,
    setLogLevel: () => undefined,
  };
  return adapter;
}

/** One place that turns Writ's connection settings into a client of the Kafka library. */
export function createKafka(connection: KafkaConnection): KafkaJS.Kafka {
  return new Kafka({
    // Nagle's algorithm holds small requests back until the previous one is acknowledged: on a
    // path of many small produce and fetch requests that costs tens of milliseconds per hop.
    'socket.nagle.disable': true,
    ...saslProperties(connectionSasl(connection)),
    kafkaJS: {
      brokers: [...connection.brokers],
      clientId: connection.clientId,
      logLevel: logLevel.ERROR,
      ...(connection.logger === undefined ? {} : { logger: kafkaLogger(connection.logger) }),
    },
  });
}

export interface BrokerProbe {
  readonly topics: number;
}

/**
 * A real metadata request against the cluster, bounded in time: readiness checks and service
 * boot use it so that an unreachable broker is a clear error rather than a hang.
 */
export async function probeBrokers(
  brokers: readonly string[],
  timeoutMs = 5_000,
  sasl?: KafkaSasl | null,
): Promise<BrokerProbe> {
  // The probe's own error says what failed; the client's connection-refused lines would only repeat
  // it. A refused login is only logged by the client (it keeps retrying), so it is caught there.
  let refusedLogin: (reason: string) => void = () => undefined;
  const refused = new Promise<never>((_, reject) => {
    refusedLogin = (reason) => reject(new WritError('KAFKA_AUTH_FAILED', reason));
  });
  const watcher: BusLogger = {
    info: () => undefined,
    warn: () => undefined,
    error: (message, fields) => {
      const text = `${message} ${JSON.stringify(fields ?? {})}`;
      if (/SASL authentication error|Authentication failed/i.test(text)) refusedLogin(message);
    },
  };
  const principal = connectionSasl(sasl === undefined ? {} : { sasl });
  const admin = createKafka({ brokers, clientId: 'writ-probe', logger: watcher, sasl: principal ?? null }).admin();
  const deadline = new Promise<never>((_, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no answer within ${timeoutMs} ms`)),
      timeoutMs,
    );
    timer.unref();
  });
  try {
    const topics = await Promise.race([
      admin.connect().then(() => admin.listTopics({ timeout: timeoutMs })),
      deadline,
      refused,
    ]);
    return { topics: topics.length };
  } catch (error) {
    if (error instanceof WritError && error.code === 'KAFKA_AUTH_FAILED') {
      throw new WritError(
        'KAFKA_AUTH_FAILED',
        `Kafka at ${brokers.join(',')} refused the login of ${principal?.username ?? 'this client'} (${principal?.mechanism ?? 'no SASL'}): ${error.message}`,
        { cause: error, field: 'KAFKA_SASL_USERNAME', rule: 'must name a principal of the cluster, with its password in KAFKA_SASL_PASSWORD_FILE' },
      );
    }
    throw new WritError(
      'KAFKA_UNREACHABLE',
      `cannot reach Kafka at ${brokers.join(',')}: ${describeError(error)}`,
      { retriable: true, cause: error, field: 'KAFKA_BROKERS', rule: 'must name reachable brokers' },
    );
  } finally {
    refused.catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
  }
}

/**
 * Fails fast, naming them, when topics a client is about to use do not exist: brokers here do not
 * create topics on demand, and a consumer of a missing topic would otherwise just sit idle.
 */
export async function requireTopics(kafka: KafkaJS.Kafka, topics: readonly string[], timeoutMs = 10_000): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics({ timeout: timeoutMs }));
    const missing = [...new Set(topics)].filter((topic) => !existing.has(topic));
    if (missing.length > 0) {
      throw new WritError(
        'TOPIC_MISSING',
        `topic${missing.length > 1 ? 's' : ''} ${missing.join(', ')} missing: declare ${missing.length > 1 ? 'them' : 'it'} in deploy/kafka/topology.json and apply the topology`,
        { field: 'topics', rule: 'every topic a consumer reads or dead-letters to must exist', details: { missing } },
      );
    }
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}
