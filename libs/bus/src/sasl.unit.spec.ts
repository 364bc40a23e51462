import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { WritError } from '@writ/errors';
import { kafkaSaslFromEnv, saslProperties } from './sasl.ts';

const dir = mkdtempSync(join(tmpdir(), 'writ-sasl-'));
const passwordFile = join(dir, 'writ-planner.password');
writeFileSync(passwordFile, 's3cret-Value_1\n', { mode: 0o600 });

function configError(env: Record<string, string>): WritError {
  try {
    kafkaSaslFromEnv(env);
  } catch (error) {
    if (error instanceof WritError) return error;
    throw error;
  }
  throw new Error('expected CONFIG_INVALID');
}

describe('kafkaSaslFromEnv', () => {
  it('is no principal when no username is set', () => {
    expect(kafkaSaslFromEnv({})).toBeUndefined();
    expect(saslProperties(undefined)).toEqual({});
  });

  it('reads the password from its file; SCRAM-SHA-512 over SASL_PLAINTEXT by default', () => {
    const sasl = kafkaSaslFromEnv({ WRIT_KAFKA_SASL_USERNAME: 'writ-planner', WRIT_KAFKA_SASL_PASSWORD_FILE: passwordFile });
    expect(sasl).toEqual({ mechanism: 'SCRAM-SHA-512', username: 'writ-planner', password: 's3cret-Value_1', protocol: 'sasl_plaintext' });
    expect(saslProperties(sasl)).toEqual({
      'security.protocol': 'sasl_plaintext',
      'sasl.mechanisms': 'SCRAM-SHA-512',
      'sasl.username': 'writ-planner',
      'sasl.password': 's3cret-Value_1',
    });
    expect(
      kafkaSaslFromEnv({ WRIT_KAFKA_SASL_USERNAME: 'a', WRIT_KAFKA_SASL_PASSWORD_FILE: passwordFile, WRIT_KAFKA_SASL_MECHANISM: 'plain' })?.mechanism,
    ).toBe('PLAIN');
  });

  it('names the variable when the password file is missing, unreadable, empty, or the mechanism unknown', () => {
    expect(configError({ WRIT_KAFKA_SASL_USERNAME: 'writ-planner' })).toMatchObject({ code: 'CONFIG_INVALID', field: 'WRIT_KAFKA_SASL_PASSWORD_FILE' });
    const missing = configError({ WRIT_KAFKA_SASL_USERNAME: 'writ-planner', WRIT_KAFKA_SASL_PASSWORD_FILE: join(dir, 'nope') });
    expect(missing).toMatchObject({ code: 'CONFIG_INVALID', field: 'WRIT_KAFKA_SASL_PASSWORD_FILE' });
    expect(missing.message).toContain('ENOENT');
    const empty = join(dir, 'empty.password');
    writeFileSync(empty, '\n');
    expect(configError({ WRIT_KAFKA_SASL_USERNAME: 'x', WRIT_KAFKA_SASL_PASSWORD_FILE: empty }).message).toContain('empty');
    expect(configError({ WRIT_KAFKA_SASL_USERNAME: 'x', WRIT_KAFKA_SASL_PASSWORD_FILE: passwordFile, WRIT_KAFKA_SASL_MECHANISM: 'GSSAPI' }).field).toBe(
      'WRIT_KAFKA_SASL_MECHANISM',
    );
    expect(configError({ WRIT_KAFKA_SASL_PASSWORD_FILE: passwordFile }).field).toBe('WRIT_KAFKA_SASL_USERNAME');
  });

  it('never puts the password in an error message', () => {
    const error = configError({ WRIT_KAFKA_SASL_USERNAME: 'x', WRIT_KAFKA_SASL_PASSWORD_FILE: passwordFile, WRIT_KAFKA_SECURITY_PROTOCOL: 'ssl' });
    expect(error.field).toBe('WRIT_KAFKA_SECURITY_PROTOCOL');
    expect(error.message).not.toContain('s3cret');
  });
});
