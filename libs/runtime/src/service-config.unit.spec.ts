import { describe, expect, it } from 'vitest';
import { env } from '@writ/config';
import { loadServiceConfig } from './service-config.ts';

describe('loadServiceConfig', () => {
  it('stops on a Kafka principal without a readable password file, naming the variable', () => {
    expect(() =>
      loadServiceConfig(26081, {}, { WRIT_KAFKA_SASL_USERNAME: 'writ-planner', WRIT_KAFKA_SASL_PASSWORD_FILE: '/nonexistent/writ-planner.password' }),
    ).toThrow(/WRIT_KAFKA_SASL_PASSWORD_FILE names \/nonexistent\/writ-planner.password, which cannot be read/);
    expect(loadServiceConfig(26081, {}, {}).WRIT_KAFKA_BROKERS).toEqual(['127.0.0.1:27092']);
  });

  it('stops on a variable set under its name of before, naming the new one (the SASL ones too)', () => {
    expect(() => loadServiceConfig(26081, {}, { KAFKA_BROKERS: '127.0.0.1:9092' })).toThrow(
      /KAFKA_BROKERS is no longer read: it was renamed to WRIT_KAFKA_BROKERS/,
    );
    expect(() => loadServiceConfig(26081, {}, { KAFKA_SASL_USERNAME: 'writ-planner' })).toThrow(/renamed to WRIT_KAFKA_SASL_USERNAME/);
    // Another service's old name is not this one's business: only names of what it reads count.
    expect(loadServiceConfig(26081, {}, { PLANNER_LINGER_MS: '5' }).WRIT_HTTP_PORT).toBe(26081);
    expect(() => loadServiceConfig(26081, { WRIT_PLANNER_LINGER_MS: env.int({ default: 0 }) }, { PLANNER_LINGER_MS: '5' })).toThrow(
      /PLANNER_LINGER_MS is no longer read: it was renamed to WRIT_PLANNER_LINGER_MS/,
    );
  });
});
