import { randomBytes } from 'node:crypto';
import { saslBrokerProperties } from './security.ts';
import type { BrokerSecurity } from './security.ts';

export interface BrokerConfigInput {
  readonly host: string;
  readonly port: number;
  readonly controllerPort: number;
  readonly dataDir: string;
  /** SASL listeners, the super user and deny-by-default ACLs; absent: PLAINTEXT, no authorizer. */
  readonly security?: BrokerSecurity;
}

/**
 * server.properties for one combined broker+controller on loopback (KRaft). The controller
 * quorum is dynamic (`controller.quorum.bootstrap.servers`, formatted with --standalone); the
 * static `controller.quorum.voters` must stay unset or the format step refuses. Partition counts
 * and thread pools are sized for a two-core development box; Kafka's defaults (50 partitions for
 * each internal topic, a 128 MiB cleaner buffer) cost seconds and heap for nothing here.
 */
export function brokerProperties(input: BrokerConfigInput): ReadonlyArray<readonly [string, string]> {
  const broker = `${input.host}:${input.port}`;
  const controller = `${input.host}:${input.controllerPort}`;
  const listenerKeys = ['listeners', 'advertised.listeners', 'listener.security.protocol.map', 'inter.broker.listener.name'];
  const base = plainBrokerProperties(input, broker, controller);
  if (input.security === undefined) return base;
  return [...base.filter(([key]) => !listenerKeys.includes(key)), ...saslBrokerProperties({ broker, controller }, input.security)];
}

function plainBrokerProperties(input: BrokerConfigInput, broker: string, controller: string): ReadonlyArray<readonly [string, string]> {
  return [
    ['process.roles', 'broker,controller'],
    ['node.id', '1'],
    ['controller.quorum.bootstrap.servers', controller],
    ['listeners', `PLAINTEXT://${broker},CONTROLLER://${controller}`],
    ['advertised.listeners', `PLAINTEXT://${broker}`],
    ['listener.security.protocol.map', 'PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT'],
    ['inter.broker.listener.name', 'PLAINTEXT'],
    ['controller.listener.names', 'CONTROLLER'],
    ['log.dirs', input.dataDir],
    ['auto.create.topics.enable', 'false'],
    ['num.partitions', '1'],
    ['default.replication.factor', '1'],
    ['min.insync.replicas', '1'],
    ['offsets.topic.replication.factor', '1'],
    ['offsets.topic.num.partitions', '1'],
    ['transaction.state.log.replication.factor', '1'],
    ['transaction.state.log.min.isr', '1'],
    ['transaction.state.log.num.partitions', '1'],
    ['share.coordinator.state.topic.replication.factor', '1'],
    ['share.coordinator.state.topic.min.isr', '1'],
    ['share.coordinator.state.topic.num.partitions', '1'],
    ['group.initial.rebalance.delay.ms', '0'],
    ['num.network.threads', '2'],
    ['num.io.threads', '4'],
    ['num.recovery.threads.per.data.dir', '1'],
    ['background.threads', '4'],
    ['group.coordinator.threads', '1'],
    // The group coordinator holds a plain offset commit up to 5 ms (Kafka's default) to batch its
    // writes; every consumer's commit and every processor's offsets-only commit waited for it.
    ['group.coordinator.append.linger.ms', '0'],
    // A transactional produce is verified with the transaction coordinator (KIP-890); while the
    // producer's previous commit is still being completed the broker retries that check, 20 ms
    // later by default. The processors' two producers take turns, but under load a turn comes
    // round before the markers are written.
    ['add.partitions.to.txn.retry.backoff.ms', '2'],
    ['log.cleaner.threads', '1'],
    ['log.cleaner.dedupe.buffer.size', String(16 * 1024 * 1024)],
  ];
}

export function renderServerProperties(input: BrokerConfigInput): string {
  return renderProperties(
    brokerProperties(input),
    'Written by @writ/devstack on every start (libs/devstack/src/broker-config.ts): edit that file, not this one.',
  );
}

/** log4j2 in its properties syntax: everything to stdout, which the launcher sends to logs/server.log. */
export function renderLog4j2Config(): string {
  return renderProperties(
    [
      ['status', 'warn'],
      ['name', 'writ-kafka'],
      ['appender.out.type', 'Console'],
      ['appender.out.name', 'STDOUT'],
      ['appender.out.layout.type', 'PatternLayout'],
      ['appender.out.layout.pattern', '[%d] %p %m (%c)%n'],
      ['rootLogger.level', 'INFO'],
      ['rootLogger.appenderRef.out.ref', 'STDOUT'],
      // Each start dumps every config value several times (~2,000 lines); errors stay visible.
      ['logger.config.name', 'org.apache.kafka.common.config.AbstractConfig'],
      ['logger.config.level', 'WARN'],
      ['logger.request.name', 'kafka.request.logger'],
      ['logger.request.level', 'WARN'],
    ],
    'Written by @writ/devstack on every start (libs/devstack/src/broker-config.ts).',
  );
}

export function renderProperties(entries: ReadonlyArray<readonly [string, string]>, header: string): string {
  const lines = [`# ${header}`];
  for (const [key, value] of entries) lines.push(`${escapeKey(key)}=${escapeValue(value)}`);
  return `${lines.join('\n')}\n`;
}

/** Reads the simple `key=value` form renderProperties writes (comments, escapes); for tests and checks. */
export function parseProperties(text: string): Map<string, string> {
  const result = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line.trim() === '' || /^\s*[#!]/.test(line)) continue;
    const match = /^((?:\\.|[^=:\\])*)[=:](.*)$/.exec(line);
    if (!match) continue;
    result.set(unescape(match[1] ?? '').trim(), unescape(match[2] ?? ''));
  }
  return result;
}

function escapeKey(key: string): string {
  return key.replace(/[\\=: #!]/g, (c) => `\\${c}`);
}

function escapeValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/^ /, '\\ ');
}

function unescape(text: string): string {
  return text.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
}

/**
 * A KRaft cluster id like `kafka-storage random-uuid` prints: 16 random bytes in URL-safe
 * base64 without padding, never starting with '-' (Kafka's Uuid refuses those as ambiguous on
 * command lines) and never one of the reserved ids 0 and 1. Saves starting a JVM just to get one.
 */
export function newClusterId(random: (size: number) => Buffer = randomBytes): string {
  for (;;) {
    const bytes = random(16);
    // Uuid 0 and 1 are reserved (ZERO_UUID, METADATA_TOPIC_ID).
    if (bytes.subarray(0, 15).every((b) => b === 0) && (bytes[15] ?? 0) <= 1) continue;
    const id = bytes.toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}
