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
   * The principal to authenticate as; null: none. Default: the one named by WRIT_KAFKA_SASL_USERNAME,
   * WRIT_KAFKA_SASL_PASSWORD_FILE and WRIT_KAFKA_SASL_MECHANISM (none when unset), read at each call.
   */
  readonly sasl?: KafkaSasl | null;
  /**
   * Called once when one of the connection's clients failed for good (librdkafka's ERR__FATAL,
   * e.g. a static member fenced by another with the same group.instance.id). Needs `logger`: the
   * client reports the error only through its log.
   */
  readonly onFatal?: (error: Error) => void;
}

/** The principal of a connection: the explicit one, else the environment's (see KafkaConnection.sasl). */
export function connectionSasl(connection: Pick<KafkaConnection, 'sasl'>): KafkaSasl | undefined {
  if (connection.sasl === null) return undefined;
  return connection.sasl ?? kafkaSaslFromEnv();
}

/**
 * librdkafka's text for ERR__FATAL (err2str). A fatal error is permanent for the client handle,
 * and the KafkaJS layer does not surface it: its consume loop logs "Consumer encountered error
 * while consuming. Retrying. Error details: KafkaJSError: Local: Fatal error" and retries forever,
 * and its error callback logs "Error: Local: Fatal error". The log is the one place it shows.
 */
const FATAL_TEXT = 'Local: Fatal error';

/**
 * The client library's logger interface over a BusLogger (its debug output is dropped); an error
 * line that reports a fatal client error also calls `onFatal`, once.
 */
export function kafkaLogger(logger: BusLogger, onFatal?: (error: Error) => void): KafkaJS.Logger {
  let fatalReported = false;
  const adapter: KafkaJS.Logger = {
    info: (message, extra) => logger.info(message, { kafka: extra }),
    warn: (message, extra) => logger.warn(message, { kafka: extra }),
    error: (message, extra) => {
      logger.error(message, { kafka: extra });
      if (onFatal === undefined || fatalReported || !message.includes(FATAL_TEXT)) return;
      fatalReported = true;
      onFatal(new WritError('KAFKA_FATAL', `the Kafka client failed for good: ${message.split(' : ')[0] ?? message}`));
    },
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
      ...(connection.logger === undefined ? {} : { logger: kafkaLogger(connection.logger, connection.onFatal) }),
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
export async function probeBrokers(brokers: readonly string[], timeoutMs = 5_000, sasl?: KafkaSasl | null): Promise<BrokerProbe> {
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
    const timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    timer.unref();
  });
  try {
    const topics = await Promise.race([admin.connect().then(() => admin.listTopics({ timeout: timeoutMs })), deadline, refused]);
    return { topics: topics.length };
  } catch (error) {
    if (error instanceof WritError && error.code === 'KAFKA_AUTH_FAILED') {
      throw new WritError(
        'KAFKA_AUTH_FAILED',
        `Kafka at ${brokers.join(',')} refused the login of ${principal?.username ?? 'this client'} (${principal?.mechanism ?? 'no SASL'}): ${error.message}`,
        { cause: error, field: 'WRIT_KAFKA_SASL_USERNAME', rule: 'must name a principal of the cluster, with its password in WRIT_KAFKA_SASL_PASSWORD_FILE' },
      );
    }
    throw new WritError('KAFKA_UNREACHABLE', `cannot reach Kafka at ${brokers.join(',')}: ${describeError(error)}`, {
      retriable: true,
      cause: error,
      field: 'WRIT_KAFKA_BROKERS',
      rule: 'must name reachable brokers',
    });
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
