import kafkaJavascript from '@confluentinc/kafka-javascript';
import type { KafkaJS } from '@confluentinc/kafka-javascript';
import { WritError, describeError } from '@writ/errors';

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
}

/** One place that turns Writ's connection settings into a client of the Kafka library. */
export function createKafka(connection: KafkaConnection): KafkaJS.Kafka {
  return new Kafka({
    kafkaJS: {
      brokers: [...connection.brokers],
      clientId: connection.clientId,
      logLevel: logLevel.ERROR,
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
export async function probeBrokers(brokers: readonly string[], timeoutMs = 5_000): Promise<BrokerProbe> {
  const admin = createKafka({ brokers, clientId: 'writ-probe' }).admin();
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
    ]);
    return { topics: topics.length };
  } catch (error) {
    throw new WritError(
      'KAFKA_UNREACHABLE',
      `cannot reach Kafka at ${brokers.join(',')}: ${describeError(error)}`,
      { retriable: true, cause: error, field: 'KAFKA_BROKERS', rule: 'must name reachable brokers' },
    );
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}
