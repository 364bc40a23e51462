import { Socket } from 'node:net';
import { WritError, describeError } from '@writ/errors';
import type { KafkaSasl } from './sasl.ts';

/**
 * The Kafka client (librdkafka through @confluentinc/kafka-javascript 1.10) exposes no
 * DescribeConfigs call, neither in its KafkaJS-style admin nor in its lower-level AdminClient
 * (confluentinc/confluent-kafka-javascript#444). Topology drift detection needs a topic's
 * effective configs, so this file speaks that one request of the Kafka protocol itself:
 * DescribeConfigs v1 (non-flexible encoding; Kafka 4 still accepts v1-v4, only v0 was removed).
 * Plaintext listeners, and SASL_PLAINTEXT with the PLAIN mechanism (SaslHandshake v1 and
 * SaslAuthenticate v1 first, as the local broker's super user does); with TLS or SCRAM the caller
 * reports partition drift alone.
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
  const body = new Writer().int16(API_KEY_DESCRIBE_CONFIGS).int16(API_VERSION).int32(correlationId).string(clientId).int32(topics.length);
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

/** One connection, one request at a time: each write waits for its size-prefixed answer. */
function openConnection(broker: string, timeoutMs: number): Promise<{ request(frame: Buffer): Promise<Buffer>; close(): void }> {
  const { host, port } = parseHostPort(broker);
  return new Promise((resolveOpen, rejectOpen) => {
    const socket = new Socket();
    let received = Buffer.alloc(0);
    let waiting: { resolve: (frame: Buffer) => void; reject: (error: Error) => void } | undefined;
    let failure: Error | undefined;
    const fail = (error: Error): void => {
      failure ??= error;
      socket.destroy();
      waiting?.reject(error);
      waiting = undefined;
      rejectOpen(error);
    };
    socket.setTimeout(timeoutMs, () => fail(new Error(`no answer from ${broker} within ${timeoutMs} ms`)));
    socket.once('error', fail);
    socket.once('close', () => fail(new Error(`connection to ${broker} closed before a full answer`)));
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (received.length < 4) return;
      const size = received.readInt32BE(0);
      if (received.length < 4 + size) return;
      const frame = received.subarray(4, 4 + size);
      received = received.subarray(4 + size);
      const current = waiting;
      waiting = undefined;
      current?.resolve(frame);
    });
    socket.connect(port, host, () =>
      resolveOpen({
        request: (frame) =>
          failure !== undefined
            ? Promise.reject(failure)
            : new Promise<Buffer>((resolve, reject) => {
                waiting = { resolve, reject };
                socket.write(frame);
              }),
        close: () => {
          socket.removeAllListeners('close');
          socket.end();
          socket.destroy();
        },
      }),
    );
  });
}

function framed(body: Writer): Buffer {
  const payload = body.buffer();
  return Buffer.concat([new Writer().int32(payload.length).buffer(), payload]);
}

const API_KEY_SASL_HANDSHAKE = 17;
const API_KEY_SASL_AUTHENTICATE = 36;

/** SASL PLAIN on an open connection: SaslHandshake v1, then SaslAuthenticate v1 with the credentials. */
async function authenticatePlain(connection: { request(frame: Buffer): Promise<Buffer> }, sasl: KafkaSasl, clientId: string): Promise<void> {
  const handshake = new Reader(await connection.request(framed(new Writer().int16(API_KEY_SASL_HANDSHAKE).int16(1).int32(1).string(clientId).string('PLAIN'))));
  handshake.int32(); // correlation id
  const handshakeError = handshake.int16();
  if (handshakeError !== 0) throw new Error(`SASL handshake refused PLAIN (error code ${handshakeError})`);
  const token = Buffer.from(`\0${sasl.username}\0${sasl.password}`, 'utf8');
  const body = new Writer().int16(API_KEY_SASL_AUTHENTICATE).int16(1).int32(2).string(clientId).int32(token.length);
  const frame = framedWithBytes(body, token);
  const answer = new Reader(await connection.request(frame));
  answer.int32(); // correlation id
  const authError = answer.int16();
  if (authError !== 0) throw new Error(`SASL authentication failed: ${answer.nullableString() ?? `error code ${authError}`}`);
}

function framedWithBytes(body: Writer, bytes: Buffer): Buffer {
  const payload = Buffer.concat([body.buffer(), bytes]);
  return Buffer.concat([new Writer().int32(payload.length).buffer(), payload]);
}

async function requestOnce(broker: string, request: Buffer, timeoutMs: number, sasl: KafkaSasl | undefined, clientId: string): Promise<Buffer> {
  if (sasl !== undefined && (sasl.mechanism !== 'PLAIN' || sasl.protocol !== 'sasl_plaintext')) {
    throw new Error(`reading topic configs speaks SASL PLAIN over plaintext only, not ${sasl.mechanism} over ${sasl.protocol}`);
  }
  const connection = await openConnection(broker, timeoutMs);
  try {
    if (sasl !== undefined) await authenticatePlain(connection, sasl, clientId);
    return await connection.request(request);
  } finally {
    connection.close();
  }
}

/**
 * Effective configs of the given topics (every key the broker reports, with where its value
 * comes from). Tries each bootstrap broker in turn; any broker answers for topic resources.
 */
export async function describeTopicConfigs(
  brokers: readonly string[],
  topics: readonly string[],
  options: { timeoutMs?: number; clientId?: string; sasl?: KafkaSasl } = {},
): Promise<Map<string, TopicConfigs>> {
  const result = new Map<string, TopicConfigs>();
  if (topics.length === 0) return result;
  const correlationId = 1 + Math.floor(Math.random() * 0x7ffffffe);
  const clientId = options.clientId ?? 'writ-topology';
  const request = encodeDescribeTopicConfigs(topics, correlationId, clientId);
  const failures: string[] = [];
  for (const broker of brokers) {
    try {
      const frame = await requestOnce(broker, request, options.timeoutMs ?? 5_000, options.sasl, clientId);
      const decoded = decodeDescribeConfigsResponse(frame);
      if (decoded.correlationId !== correlationId) throw new Error('answer does not match the request');
      for (const described of decoded.topics) {
        if (described.errorCode !== 0) {
          throw new Error(`topic ${described.topic}: error code ${described.errorCode}${described.errorMessage ? ` (${described.errorMessage})` : ''}`);
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
