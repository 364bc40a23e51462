import { inject } from 'vitest';
import { WritError } from '@writ/errors';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Bootstrap servers of the broker the int/e2e global setup started or reused. */
    kafkaBrokers: string[];
  }
}

/**
 * The brokers the test tier's global setup provided (vitest `provide`/`inject`), or else the
 * WRIT_KAFKA_BROKERS variable (the setup sets it too, and a developer may point it elsewhere).
 */
export function testKafkaBrokers(env: Readonly<Record<string, string | undefined>> = process.env): string[] {
  const provided = injected();
  if (provided !== undefined && provided.length > 0) return [...provided];
  const brokers = (env['WRIT_KAFKA_BROKERS'] ?? '')
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
  if (brokers.length > 0) return brokers;
  throw new WritError(
    'TEST_KAFKA_MISSING',
    'no Kafka broker for this test: run it in the int or e2e vitest project (its global setup starts one) or set WRIT_KAFKA_BROKERS',
    { field: 'WRIT_KAFKA_BROKERS', rule: 'must be provided by the global setup or the environment' },
  );
}

function injected(): string[] | undefined {
  try {
    return inject('kafkaBrokers');
  } catch {
    return undefined; // outside a vitest worker
  }
}

/**
 * The test broker's credentials (WRIT_KAFKA_SASL_*, set by the global setup when the broker runs with
 * SASL), for a child process the test starts with a clean environment.
 */
export function testKafkaCredentials(env: Readonly<Record<string, string | undefined>> = process.env): Record<string, string> {
  return Object.fromEntries(
    Object.entries(env).filter((entry): entry is [string, string] => entry[0].startsWith('WRIT_KAFKA_SASL_') && entry[1] !== undefined),
  );
}
