import { describe, expect, it } from 'vitest';
import { isWritError } from '@writ/errors';
import { clickHouseMode, clickHouseOptionsFromEnv, createClickHouse, describeClickHouse } from './clickhouse.ts';

describe('ClickHouse options from the environment', () => {
  it('uses a server when CLICKHOUSE_URL is set', () => {
    const options = clickHouseOptionsFromEnv({ CLICKHOUSE_URL: 'http://127.0.0.1:18123', CLICKHOUSE_DATABASE: 'writ' });
    expect(clickHouseMode(options)).toEqual({ kind: 'server', url: new URL('http://127.0.0.1:18123'), database: 'writ' });
  });

  it('defaults to embedded chDB under .local/chdb/data of the checkout', () => {
    const options = clickHouseOptionsFromEnv({ WRIT_ROOT: '/w' });
    expect(clickHouseMode(options)).toEqual({ kind: 'embedded', dataPath: '/w/.local/chdb/data' });
    expect(clickHouseOptionsFromEnv({ WRIT_CHDB_PATH: '/data/chdb' })).toEqual({ dataPath: '/data/chdb' });
  });

  it('names the variable and rule for a malformed URL', () => {
    let failure: unknown;
    try {
      clickHouseOptionsFromEnv({ CLICKHOUSE_URL: 'ftp://x' });
    } catch (error) {
      failure = error;
    }
    expect(isWritError(failure, 'CONFIG_INVALID')).toBe(true);
    expect(failure).toMatchObject({ field: 'CLICKHOUSE_URL', rule: 'must use http: or https:, got "ftp:"' });
  });

  it('never shows credentials when describing a server', () => {
    const line = describeClickHouse({ url: new URL('https://writer:s3cret@ch.internal:8443/writ?password=s3cret') });
    expect(line).toBe('server https://ch.internal:8443/writ (CLICKHOUSE_URL)');
    expect(line).not.toContain('s3cret');
  });

  it('refuses to guess when given neither a server nor a data folder', () => {
    expect(() => createClickHouse({})).toThrow('ClickHouse needs a server URL or an embedded data folder');
  });
});
