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
  const spec = { KAFKA_BROKERS: env.hostPorts(), HTTP_PORT: env.port({ default: 26080 }), LOG_LEVEL: env.oneOf(['info', 'debug'] as const, { default: 'info' }) };

  it('parses valid values and applies defaults', () => {
    const config = loadConfig(spec, { KAFKA_BROKERS: '127.0.0.1:27092, localhost:27093' });
    expect(config).toEqual({ KAFKA_BROKERS: ['127.0.0.1:27092', 'localhost:27093'], HTTP_PORT: 26080, LOG_LEVEL: 'info' });
  });

  it('names a missing variable and its rule', () => {
    const error = configError(() => loadConfig(spec, {}));
    expect(error.field).toBe('KAFKA_BROKERS');
    expect(error.message).toContain('KAFKA_BROKERS is required');
  });

  it('lists every malformed variable at once', () => {
    const error = configError(() => loadConfig(spec, { KAFKA_BROKERS: 'nope', HTTP_PORT: '70000', LOG_LEVEL: 'loud' }));
    expect(error.message).toContain('KAFKA_BROKERS must be a comma-separated list of host:port, got "nope"');
    expect(error.message).toContain('HTTP_PORT must be between 1 and 65535, got 70000');
    expect(error.message).toContain('LOG_LEVEL must be one of info, debug, got "loud"');
  });

  it('rejects URLs with the wrong scheme', () => {
    const error = configError(() => loadConfig({ CLICKHOUSE_URL: env.optionalUrl() }, { CLICKHOUSE_URL: 'ftp://x' }));
    expect(error.rule).toBe('must use http: or https:, got "ftp:"');
    expect(loadConfig({ CLICKHOUSE_URL: env.optionalUrl() }, {}).CLICKHOUSE_URL).toBeUndefined();
  });
});
