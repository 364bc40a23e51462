import { randomBytes } from 'node:crypto';
import { WritError } from '@writ/errors';

const PREFIX = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;
let counter = 0;

/**
 * A name no other test (in this run or a concurrent one) uses: prefix, process, time, a counter
 * and randomness, joined by `_`. It is valid as a Kafka topic, a consumer group and an unquoted
 * ClickHouse identifier, which is why the prefix is limited to letters, digits and `_`.
 */
export function uniqueName(prefix: string): string {
  if (!PREFIX.test(prefix)) {
    throw new WritError('INVALID_ARGUMENT', `uniqueName prefix "${prefix}" is not usable in topic and table names`, {
      field: 'prefix',
      rule: 'a letter, then up to 63 letters, digits or _',
    });
  }
  counter += 1;
  const parts = [process.pid, Date.now(), counter].map((n) => n.toString(36));
  return [prefix, ...parts, randomBytes(3).toString('hex')].join('_');
}
