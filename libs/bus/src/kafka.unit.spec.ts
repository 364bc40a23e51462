import { describe, expect, it } from 'vitest';
import { kafkaLogger } from './kafka.ts';
import type { BusLogger } from './logger.ts';

describe('kafkaLogger', () => {
  const lines: string[] = [];
  const logger: BusLogger = {
    info: (message) => lines.push(`info ${message}`),
    warn: (message) => lines.push(`warn ${message}`),
    error: (message) => lines.push(`error ${message}`),
  };

  it('passes every level but debug through, and reports a fatal client error once', () => {
    const fatal: Error[] = [];
    const adapter = kafkaLogger(logger, (error) => fatal.push(error));
    adapter.debug('noise');
    adapter.info('joined');
    adapter.error('Error: Local: Broker transport failure');
    expect(fatal).toHaveLength(0);

    const line =
      'Consumer encountered error while consuming. Retrying. Error details: KafkaJSError: Local: Fatal error : KafkaJSError: Local: Fatal error\n    at ...';
    adapter.error(line);
    adapter.error(line);
    adapter.error('Error: Local: Fatal error');
    expect(fatal).toHaveLength(1);
    expect(fatal[0]?.message).toBe(
      'the Kafka client failed for good: Consumer encountered error while consuming. Retrying. Error details: KafkaJSError: Local: Fatal error',
    );
    expect(lines).toEqual(['info joined', 'error Error: Local: Broker transport failure', `error ${line}`, `error ${line}`, 'error Error: Local: Fatal error']);
  });
});
