import { describe, expect, it } from 'vitest';
import { isWritError } from '@writ/errors';
import { checkContentType, parseBody } from './http-body.ts';
import { loadServiceConfig } from './service-config.ts';

const LIMITS = { maxBytes: 64, maxDepth: 2, maxStringLength: 8 };
const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

describe('checkContentType', () => {
  it.each([
    'application/json',
    'APPLICATION/JSON',
    'application/json; charset=utf-8',
    'application/json;charset=UTF-8',
    'application/json; charset="utf-8"',
    ' application/json ',
  ])('accepts %j', (header) => {
    expect(checkContentType(header)).toBeUndefined();
  });

  it.each([
    undefined,
    '',
    'text/plain',
    'application/jsonx',
    'application/json+x',
    'application/json; charset=latin1',
    'application/json; charset=utf-16',
    'application/json; charset=utf-8; x=1',
    'application/json;',
    'multipart/form-data',
    '*/*',
  ])('refuses %j with 415 naming the rule', (header) => {
    expect(checkContentType(header)).toMatchObject({ status: 415, body: { error: { code: 'REQUEST_INVALID', field: 'content-type', rule: 'contentType' } } });
  });
});

describe('parseBody', () => {
  it('returns the parsed value', () => {
    expect(parseBody(bytes('{"a":[1]}'), LIMITS)).toStrictEqual({ value: { a: [1] } });
  });

  it('answers 400 with the rule, the path as field, the offset, and the fix', () => {
    expect(parseBody(bytes('{"a":1,"a":2}'), LIMITS)).toStrictEqual({
      rejected: {
        status: 400,
        body: {
          error: {
            code: 'REQUEST_INVALID',
            message: 'duplicate key (each key may appear once in an object) at a (byte 7): send each key once per object',
            field: 'a',
            rule: 'duplicateKey',
            details: { path: 'a', offset: 7 },
          },
        },
      },
    });
    expect(parseBody(bytes('[[[1]]]'), LIMITS)).toMatchObject({ rejected: { status: 400, body: { error: { rule: 'maxDepth', field: '[0][0]' } } } });
    expect(parseBody(bytes('"123456789"'), LIMITS)).toMatchObject({ rejected: { status: 400, body: { error: { rule: 'maxStringLength', field: 'body' } } } });
    expect(parseBody(Uint8Array.from([0x22, 0xff, 0x22]), LIMITS)).toMatchObject({
      rejected: { status: 400, body: { error: { rule: 'utf8', field: 'body', details: { offset: 1 } } } },
    });
  });

  it('answers 413 beyond maxBytes', () => {
    expect(parseBody(new Uint8Array(65).fill(0x20), LIMITS)).toMatchObject({
      rejected: { status: 413, body: { error: { rule: 'maxBodyBytes', field: 'body' } } },
    });
  });
});

describe('HTTP_BODY_MAX_* configuration', () => {
  it('has defaults, and a bad value stops the boot naming the variable', () => {
    const config = loadServiceConfig(1234, {}, {});
    expect([config.WRIT_HTTP_BODY_MAX_BYTES, config.WRIT_HTTP_BODY_MAX_DEPTH, config.WRIT_HTTP_BODY_MAX_STRING_LENGTH]).toStrictEqual([1_048_576, 32, 65_536]);
    for (const [name, value] of [
      ['WRIT_HTTP_BODY_MAX_DEPTH', '0'],
      ['WRIT_HTTP_BODY_MAX_DEPTH', '1001'],
      ['WRIT_HTTP_BODY_MAX_BYTES', '1mb'],
      ['WRIT_HTTP_BODY_MAX_STRING_LENGTH', '-1'],
    ] as const) {
      let thrown: unknown;
      try {
        loadServiceConfig(1234, {}, { [name]: value });
      } catch (error) {
        thrown = error;
      }
      expect(isWritError(thrown, 'CONFIG_INVALID'), `${name}=${value}`).toBe(true);
      expect((thrown as Error).message).toContain(name);
    }
  });
});
