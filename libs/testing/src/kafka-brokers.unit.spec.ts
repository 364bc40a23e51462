import { describe, expect, it } from 'vitest';
import { isWritError } from '@writ/errors';
import { testKafkaBrokers } from './kafka-brokers.ts';

describe('testKafkaBrokers', () => {
  it('reads WRIT_KAFKA_BROKERS when nothing was provided by a global setup', () => {
    expect(testKafkaBrokers({ WRIT_KAFKA_BROKERS: ' 127.0.0.1:27092, 127.0.0.1:27094 ' })).toEqual(['127.0.0.1:27092', '127.0.0.1:27094']);
  });

  it('says how to get a broker when there is none', () => {
    let failure: unknown;
    try {
      testKafkaBrokers({});
    } catch (error) {
      failure = error;
    }
    expect(isWritError(failure, 'TEST_KAFKA_MISSING')).toBe(true);
    expect((failure as Error).message).toContain('run it in the int or e2e vitest project');
  });
});
