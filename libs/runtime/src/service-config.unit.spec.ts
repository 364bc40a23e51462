import { describe, expect, it } from 'vitest';
import { loadServiceConfig } from './service-config.ts';

describe('loadServiceConfig', () => {
  it('stops on a Kafka principal without a readable password file, naming the variable', () => {
    expect(() =>
      loadServiceConfig(26081, {}, { WRIT_KAFKA_SASL_USERNAME: 'writ-planner', WRIT_KAFKA_SASL_PASSWORD_FILE: '/nonexistent/writ-planner.password' }),
    ).toThrow(/WRIT_KAFKA_SASL_PASSWORD_FILE names \/nonexistent\/writ-planner.password, which cannot be read/);
    expect(loadServiceConfig(26081, {}, {}).WRIT_KAFKA_BROKERS).toEqual(['127.0.0.1:27092']);
  });
});
