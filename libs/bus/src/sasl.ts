import { readFileSync } from 'node:fs';
import { WritError } from '@writ/errors';
import type { RdKafkaProperties } from './kafka.ts';

// Who a Kafka client is on the broker. Every Writ process reads its own principal from the same
// three variables, so a service, a test process and the CLI are configured the same way; the
// password comes from a file (never a variable's value, never an event or a log line).

export const KAFKA_SASL_MECHANISMS = ['SCRAM-SHA-512', 'SCRAM-SHA-256', 'PLAIN'] as const;
export type KafkaSaslMechanism = (typeof KAFKA_SASL_MECHANISMS)[number];

/** The variables, by name: one naming scheme for services, tests and tools. */
export const KAFKA_SASL_ENV = {
  username: 'WRIT_KAFKA_SASL_USERNAME',
  passwordFile: 'WRIT_KAFKA_SASL_PASSWORD_FILE',
  mechanism: 'WRIT_KAFKA_SASL_MECHANISM',
  /** `sasl_plaintext` (default: loopback, or a network you trust) or `sasl_ssl`. */
  protocol: 'WRIT_KAFKA_SECURITY_PROTOCOL',
} as const;

export interface KafkaSasl {
  readonly mechanism: KafkaSaslMechanism;
  readonly username: string;
  readonly password: string;
  readonly protocol: 'sasl_plaintext' | 'sasl_ssl';
}

type Env = Readonly<Record<string, string | undefined>>;

function invalid(field: string, rule: string, message: string, cause?: unknown): WritError {
  return new WritError('CONFIG_INVALID', `${field} ${message}`, { field, rule, ...(cause === undefined ? {} : { cause }) });
}

/**
 * The principal named by WRIT_KAFKA_SASL_USERNAME / WRIT_KAFKA_SASL_PASSWORD_FILE / WRIT_KAFKA_SASL_MECHANISM
 * (default SCRAM-SHA-512), or undefined when no username is set (a cluster without SASL). A
 * username without a readable, non-empty password file is a CONFIG_INVALID error naming the
 * variable, so a service stops at boot instead of failing its first request.
 */
export function kafkaSaslFromEnv(env: Env = process.env): KafkaSasl | undefined {
  const username = env[KAFKA_SASL_ENV.username]?.trim() ?? '';
  const passwordFile = env[KAFKA_SASL_ENV.passwordFile]?.trim() ?? '';
  if (username === '') {
    if (passwordFile !== '') {
      throw invalid(KAFKA_SASL_ENV.username, 'required with WRIT_KAFKA_SASL_PASSWORD_FILE', 'is required when WRIT_KAFKA_SASL_PASSWORD_FILE is set');
    }
    return undefined;
  }
  if (passwordFile === '') {
    throw invalid(
      KAFKA_SASL_ENV.passwordFile,
      'required with WRIT_KAFKA_SASL_USERNAME',
      `is required when WRIT_KAFKA_SASL_USERNAME is set (the file holding ${username}'s password)`,
    );
  }
  const mechanism = (env[KAFKA_SASL_ENV.mechanism]?.trim() || 'SCRAM-SHA-512').toUpperCase();
  if (!(KAFKA_SASL_MECHANISMS as readonly string[]).includes(mechanism)) {
    throw invalid(
      KAFKA_SASL_ENV.mechanism,
      `one of ${KAFKA_SASL_MECHANISMS.join(', ')}`,
      `must be one of ${KAFKA_SASL_MECHANISMS.join(', ')}, got "${mechanism}"`,
    );
  }
  const protocol = (env[KAFKA_SASL_ENV.protocol]?.trim() || 'sasl_plaintext').toLowerCase();
  if (protocol !== 'sasl_plaintext' && protocol !== 'sasl_ssl') {
    throw invalid(KAFKA_SASL_ENV.protocol, 'sasl_plaintext or sasl_ssl', `must be sasl_plaintext or sasl_ssl, got "${protocol}"`);
  }
  let password: string;
  try {
    password = readFileSync(passwordFile, 'utf8').trim();
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? 'unreadable';
    throw invalid(KAFKA_SASL_ENV.passwordFile, 'a readable file holding the password', `names ${passwordFile}, which cannot be read (${reason})`, error);
  }
  if (password === '') {
    throw invalid(KAFKA_SASL_ENV.passwordFile, 'a non-empty password', `names ${passwordFile}, which is empty`);
  }
  return { mechanism: mechanism as KafkaSaslMechanism, username, password, protocol };
}

/** librdkafka properties for a principal (or none), for clients of both of the library's APIs. */
export function saslProperties(sasl: KafkaSasl | undefined): RdKafkaProperties {
  if (sasl === undefined) return {};
  return {
    'security.protocol': sasl.protocol,
    'sasl.mechanisms': sasl.mechanism,
    'sasl.username': sasl.username,
    'sasl.password': sasl.password,
  };
}
