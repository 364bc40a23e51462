import { describe, expect, it } from 'vitest';
import { isWritError } from '@writ/errors';
import { env, loadConfig } from './env.ts';

function configError(run: () => unknown) {
  try {
    run();
  } catch (error) {
    if (isWritError(error, 'CONFIG_INVALID')) return error;
    throw error;
  }
  throw new Error('expected CONFIG_INVALID');
}

describe('loadConfig', () => {
  const spec = {
    WRIT_KAFKA_BROKERS: env.hostPorts(),
    WRIT_HTTP_PORT: env.port({ default: 26080 }),
    LOG_LEVEL: env.oneOf(['info', 'debug'] as const, { default: 'info' }),
  };

  it('parses valid values and applies defaults', () => {
    const config = loadConfig(spec, { WRIT_KAFKA_BROKERS: '127.0.0.1:27092, localhost:27093' });
    expect(config).toEqual({ WRIT_KAFKA_BROKERS: ['127.0.0.1:27092', 'localhost:27093'], WRIT_HTTP_PORT: 26080, LOG_LEVEL: 'info' });
  });

  it('names a missing variable and its rule', () => {
    const error = configError(() => loadConfig(spec, {}));
    expect(error.field).toBe('WRIT_KAFKA_BROKERS');
    expect(error.message).toContain('WRIT_KAFKA_BROKERS is required');
  });

  it('lists every malformed variable at once', () => {
    const error = configError(() => loadConfig(spec, { WRIT_KAFKA_BROKERS: 'nope', WRIT_HTTP_PORT: '70000', LOG_LEVEL: 'loud' }));
    expect(error.message).toContain('WRIT_KAFKA_BROKERS must be a comma-separated list of host:port, got "nope"');
    expect(error.message).toContain('WRIT_HTTP_PORT must be between 1 and 65535, got 70000');
    expect(error.message).toContain('LOG_LEVEL must be one of info, debug, got "loud"');
  });

  it('rejects URLs with the wrong scheme', () => {
    const error = configError(() => loadConfig({ CLICKHOUSE_URL: env.optionalUrl() }, { CLICKHOUSE_URL: 'ftp://x' }));
    expect(error.rule).toBe('must use http: or https:, got "ftp:"');
    expect(loadConfig({ CLICKHOUSE_URL: env.optionalUrl() }, {}).CLICKHOUSE_URL).toBeUndefined();
  });

  it('reads an optional port: undefined when unset, the rule named when malformed', () => {
    const spec = { WRIT_X_PORT: env.optionalPort() };
    expect(loadConfig(spec, {}).WRIT_X_PORT).toBeUndefined();
    expect(loadConfig(spec, { WRIT_X_PORT: ' ' }).WRIT_X_PORT).toBeUndefined();
    expect(loadConfig(spec, { WRIT_X_PORT: '26113' }).WRIT_X_PORT).toBe(26113);
    expect(configError(() => loadConfig(spec, { WRIT_X_PORT: '0' })).rule).toBe('must be between 1 and 65535, got 0');
    expect(configError(() => loadConfig(spec, { WRIT_X_PORT: 'http' })).rule).toBe('must be a whole number, got "http"');
  });

  it('reads a decimal number within its bounds, the rule named when malformed or out of them', () => {
    const spec = { WRIT_X_THRESHOLD: env.number({ default: 0.1, min: 0, max: 1 }) };
    expect(loadConfig(spec, {}).WRIT_X_THRESHOLD).toBe(0.1);
    expect(loadConfig(spec, { WRIT_X_THRESHOLD: '0.25' }).WRIT_X_THRESHOLD).toBe(0.25);
    expect(loadConfig(spec, { WRIT_X_THRESHOLD: '.5' }).WRIT_X_THRESHOLD).toBe(0.5);
    expect(loadConfig(spec, { WRIT_X_THRESHOLD: '1' }).WRIT_X_THRESHOLD).toBe(1);
    expect(configError(() => loadConfig(spec, { WRIT_X_THRESHOLD: '1.5' })).rule).toBe('must be between 0 and 1, got 1.5');
    expect(configError(() => loadConfig(spec, { WRIT_X_THRESHOLD: '1e-1' })).rule).toBe('must be a decimal number, got "1e-1"');
    expect(configError(() => loadConfig(spec, { WRIT_X_THRESHOLD: 'high' })).rule).toBe('must be a decimal number, got "high"');
  });

  it('refuses a variable set under its retired name, naming the new one', () => {
    const renamed = { KAFKA_BROKERS: 'WRIT_KAFKA_BROKERS', PLANNER_LINGER_MS: 'WRIT_PLANNER_LINGER_MS' };
    const error = configError(() => loadConfig(spec, { WRIT_KAFKA_BROKERS: '127.0.0.1:27092', KAFKA_BROKERS: '127.0.0.1:9092' }, { renamed }));
    expect(error.field).toBe('KAFKA_BROKERS');
    expect(error.rule).toBe('is no longer read: it was renamed to WRIT_KAFKA_BROKERS');
    // Another service's retired name is not this spec's business.
    expect(loadConfig(spec, { WRIT_KAFKA_BROKERS: '127.0.0.1:27092', PLANNER_LINGER_MS: '5' }, { renamed }).WRIT_HTTP_PORT).toBe(26080);
  });
});

describe('env.tenants: one meaning for every service', () => {
  const read = (raw: string | undefined) => loadConfig({ WRIT_X_TENANTS: env.tenants() }, { WRIT_X_TENANTS: raw }).WRIT_X_TENANTS;

  it('serves every tenant when unset, empty or "*"', () => {
    for (const raw of [undefined, '', ' ', '*', 'acme,*']) {
      const filter = read(raw);
      expect(filter.all).toBe(true);
      expect(filter.serves('anyone')).toBe(true);
    }
  });

  it('matches ids exactly and prefixes ending in "*"', () => {
    const filter = read(' acme , t-42-* ');
    expect(filter.all).toBe(false);
    expect(filter.text).toBe('acme,t-42-*');
    expect(filter.serves('acme')).toBe(true);
    expect(filter.serves('acme-2')).toBe(false);
    expect(filter.serves('t-42-a')).toBe(true);
    expect(filter.serves('t-42')).toBe(false);
    expect(filter.serves('globex')).toBe(false);
  });

  it('names a malformed entry and the rule', () => {
    for (const raw of ['a*b', 'acme,t 1', '**']) {
      const error = configError(() => read(raw));
      expect(error.field).toBe('WRIT_X_TENANTS');
      expect(error.rule).toMatch(/must be a tenant id or a prefix ending in "\*"/);
    }
  });
});
