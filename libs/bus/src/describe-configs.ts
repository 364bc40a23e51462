import { Socket } from 'node:net';
import { WritError, describeError } from '@writ/errors';

/**
 * The Kafka client (librdkafka through @confluentinc/kafka-javascript 1.10) exposes no
 * DescribeConfigs call, neither in its KafkaJS-style admin nor in its lower-level AdminClient
 * (confluentinc/confluent-kafka-javascript#444). Topology drift detection needs a topic's
 * effective configs, so this file speaks that one request of the Kafka protocol itself:
 * DescribeConfigs v1 (non-flexible encoding; Kafka 4 still accepts v1-v4, only v0 was removed).
 * Plaintext listeners only: with TLS or SASL the caller reports partition drift alone.
 */

const API_KEY_DESCRIBE_CONFIGS = 32;
const API_VERSION = 1;
const RESOURCE_TYPE_TOPIC = 2;

/** Where a config value comes from, as the broker reports it (DescribeConfigs `config_source`). */
export const CONFIG_SOURCE = {
  0: 'unknown',
  1: 'topic',
  2: 'broker',
  3: 'cluster-default',
  4: 'static-broker',
  5: 'default',
  6: 'broker-logger',
  7: 'client-metrics',
  8: 'group',
} as const satisfies Record<number, string>;

export type ConfigSource = (typeof CONFIG_SOURCE)[keyof typeof CONFIG_SOURCE];

export interface TopicConfigEntry {
  readonly value: string | null;
  readonly source: ConfigSource;
  readonly sensitive: boolean;
}

export type TopicConfigs = ReadonlyMap<string, TopicConfigEntry>;

class Writer {
  private readonly parts: Buffer[] = [];
  int8(v: number): this {
    const b = Buffer.alloc(1);
    b.writeInt8(v);
    this.parts.push(b);
    return this;
  }
  int16(v: number): this {
    const b = Buffer.alloc(2);
    b.writeInt16BE(v);
    this.parts.push(b);
    return this;
  }
  int32(v: number): this {
    const b = Buffer.alloc(4);
    b.writeInt32BE(v);
    this.parts.push(b);
    return this;
  }
  string(v: string): this {
    const bytes = Buffer.from(v, 'utf8');
    this.int16(bytes.length);
    this.parts.push(bytes);
    return this;
  }
  buffer(): Buffer {
    return Buffer.concat(this.parts);
  }
}

class Reader {
  private offset = 0;
  private readonly bytes: Buffer;
  constructor(bytes: Buffer) {
    this.bytes = bytes;
  }
  int8(): number {
    const v = this.bytes.readInt8(this.offset);
    this.offset += 1;
    return v;
  }
  int16(): number {
    const v = this.bytes.readInt16BE(this.offset);
    this.offset += 2;
    return v;
  }
  int32(): number {
    const v = this.bytes.readInt32BE(this.offset);
    this.offset += 4;
    return v;
  }
  bool(): boolean {
    return this.int8() !== 0;
  }
  nullableString(): string | null {
    const length = this.int16();
    if (length < 0) return null;
    const v = this.bytes.toString('utf8', this.offset, this.offset + length);
    this.offset += length;
    return v;
  }
  string(): string {
    return this.nullableString() ?? '';
  }
}

/** Encodes a DescribeConfigs v1 request (with its size prefix) for the given topics. */
export function encodeDescribeTopicConfigs(topics: readonly string[], correlationId: number, clientId: string): Buffer {
  const body = new Writer()
    .int16(API_KEY_DESCRIBE_CONFIGS)
    .int16(API_VERSION)
    .int32(correlationId)
    .string(clientId)
    .int32(topics.length);
  for (const topic of topics) body.int8(RESOURCE_TYPE_TOPIC).string(topic).int32(-1);
  body.int8(0); // include_synonyms
  const payload = body.buffer();
  return Buffer.concat([new Writer().int32(payload.length).buffer(), payload]);
}

export interface DescribedTopic {
  readonly topic: string;
  readonly errorCode: number;
  readonly errorMessage: string | null;
  readonly configs: TopicConfigs;
}

/** Decodes a DescribeConfigs v1 response body (after the size prefix). */
export function decodeDescribeConfigsResponse(frame: Buffer): { correlationId: number; topics: DescribedTopic[] } {
  const r = new Reader(frame);
  const correlationId = r.int32();
  r.int32(); // throttle_time_ms
  const results = r.int32();
  const topics: DescribedTopic[] = [];
  for (let i = 0; i < results; i++) {
    const errorCode = r.int16();
    const errorMessage = r.nullableString();
    r.int8(); // resource_type
    const topic = r.string();
    const count = r.int32();
    const configs = new Map<string, TopicConfigEntry>();
    for (let j = 0; j < count; j++) {
      const name = r.string();
      const value = r.nullableString();
      r.bool(); // read_only
      const sourceCode = r.int8();
      const sensitive = r.bool();
      const synonyms = Math.max(0, r.int32());
      for (let k = 0; k < synonyms; k++) {
        r.string();
        r.nullableString();
        r.int8();
      }
      const source = CONFIG_SOURCE[sourceCode as keyof typeof CONFIG_SOURCE] ?? 'unknown';
      configs.set(name, { value, source, sensitive });
    }
    topics.push({ topic, errorCode, errorMessage, configs });
  }
  return { correlationId, topics };
}

function parseHostPort(broker: string): { host: string; port: number } {
  const at = broker.lastIndexOf(':');
  const host = broker.slice(0, at).replace(/^\[|\]$/g, '');
  return { host, port: Number(broker.slice(at + 1)) };
}

function requestOnce(broker: string, request: Buffer, timeoutMs: number): Promise<Buffer> {
  const { host, port } = parseHostPort(broker);
  return new Promise((resolve, reject) => {
    const socket = new Socket();
    let received = Buffer.alloc(0);
    const fail = (error: Error): void => {
      socket.destroy();
      reject(error);
    };
    socket.setTimeout(timeoutMs, () => fail(new Error(`no answer from ${broker} within ${timeoutMs} ms`)));
    socket.once('error', fail);
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (received.length < 4) return;
      const size = received.readInt32BE(0);
      if (received.length < 4 + size) return;
      socket.end();
      resolve(received.subarray(4, 4 + size));
    });
    socket.once('close', () => reject(new Error(`connection to ${broker} closed before a full answer`)));
    socket.connect(port, host, () => socket.write(request));
  });
}

/**
 * Effective configs of the given topics (every key the broker reports, with where its value
 * comes from). Tries each bootstrap broker in turn; any broker answers for topic resources.
 */
export async function describeTopicConfigs(
  brokers: readonly string[],
  topics: readonly string[],
  options: { timeoutMs?: number; clientId?: string } = {},
): Promise<Map<string, TopicConfigs>> {
  const result = new Map<string, TopicConfigs>();
  if (topics.length === 0) return result;
  const correlationId = 1 + Math.floor(Math.random() * 0x7ffffffe);
  const request = encodeDescribeTopicConfigs(topics, correlationId, options.clientId ?? 'writ-topology');
  const failures: string[] = [];
  for (const broker of brokers) {
    try {
      const frame = await requestOnce(broker, request, options.timeoutMs ?? 5_000);
      const decoded = decodeDescribeConfigsResponse(frame);
      if (decoded.correlationId !== correlationId) throw new Error('answer does not match the request');
      for (const described of decoded.topics) {
        if (described.errorCode !== 0) {
          throw new Error(
            `topic ${described.topic}: error code ${described.errorCode}${described.errorMessage ? ` (${described.errorMessage})` : ''}`,
          );
        }
        result.set(described.topic, described.configs);
      }
      return result;
    } catch (error) {
      failures.push(`${broker}: ${describeError(error)}`);
    }
  }
  throw new WritError('KAFKA_DESCRIBE_CONFIGS_FAILED', `cannot read topic configs: ${failures.join('; ')}`, {
    retriable: true,
  });
}
