// One contract for every HTTP door of Writ (libs/runtime's strict JSON bodies): each case a raw
// request and the 4xx answer it must get, with the rule named. A service's int test runs them
// against its own route, booted through createHttpApp with BODY_DOOR_LIMITS.
import type { FuzzRequest } from './http-fuzz.ts';

/** The limits the cases are written for (as environment variables for loadServiceConfig). */
export const BODY_DOOR_LIMITS = { WRIT_HTTP_BODY_MAX_BYTES: '4096', WRIT_HTTP_BODY_MAX_DEPTH: '8', WRIT_HTTP_BODY_MAX_STRING_LENGTH: '256' } as const;

export interface BodyDoorCase {
  readonly name: string;
  readonly request: FuzzRequest;
  readonly status: 400 | 413 | 415;
  readonly rule: string;
  readonly field: string;
}

const JSON_TYPE = { 'content-type': 'application/json' };
const ascii = (text: string): number[] => [...Buffer.from(text, 'utf8')];

export function bodyDoorCases(method: string, path: string, headers: Readonly<Record<string, string>> = {}): BodyDoorCase[] {
  const raw = (
    name: string,
    body: number[] | string,
    status: BodyDoorCase['status'],
    rule: string,
    field: string,
    extra: Partial<FuzzRequest> = {},
  ): BodyDoorCase => ({
    name,
    request: {
      method,
      path,
      headers: { ...JSON_TYPE, ...headers, ...extra.headers },
      body: Uint8Array.from(typeof body === 'string' ? ascii(body) : body),
      mutation: name,
      ...(extra.chunked === true ? { chunked: true } : {}),
    },
    status,
    rule,
    field,
  });
  return [
    raw('invalid UTF-8 (a Latin-1 byte)', [...ascii('{"sql":"caf'), 0xe9, ...ascii('"}')], 400, 'utf8', 'body'),
    raw('raw lone surrogate (CESU-8 bytes)', [...ascii('{"sql":"'), 0xed, 0xa0, 0x80, ...ascii('"}')], 400, 'utf8', 'body'),
    raw('escaped lone surrogate', '{"sql":"\\ud800"}', 400, 'loneSurrogate', 'sql'),
    raw('duplicate key at depth 2', '{"params":{"amount_cents":500,"amount_cents":5}}', 400, 'duplicateKey', 'params.amount_cents'),
    raw('duplicate key at the top', '{"sql":"a","sql":"b"}', 400, 'duplicateKey', 'sql'),
    raw('__proto__ key', '{"__proto__":{"admin":true}}', 400, 'forbiddenKey', '__proto__'),
    raw('nesting deeper than the limit', `{"a":${'['.repeat(8)}${']'.repeat(8)}}`, 400, 'maxDepth', 'a[0][0][0][0][0][0][0]'),
    raw('string longer than the limit', `{"sql":"${'x'.repeat(257)}"}`, 400, 'maxStringLength', 'sql'),
    raw('integer beyond 2^53', '{"amount_cents":9007199254740993}', 400, 'number', 'amount_cents'),
    raw('number beyond a double', '{"amount_cents":1e400}', 400, 'number', 'amount_cents'),
    raw('number outside the grammar', '{"amount_cents":012}', 400, 'number', 'amount_cents'),
    raw('trailing garbage', '{"sql":"x"} {"sql":"y"}', 400, 'trailingData', 'body'),
    raw('not JSON', "{sql:'x'}", 400, 'syntax', 'body'),
    raw('body larger than the limit', `{"sql":"${' '.repeat(4_100)}"}`, 413, 'maxBodyBytes', 'body'),
    raw('chunked body larger than the limit', `{"sql":"${' '.repeat(4_100)}"}`, 413, 'maxBodyBytes', 'body', { chunked: true }),
    raw('text/plain', '{"sql":"x"}', 415, 'contentType', 'content-type', { headers: { 'content-type': 'text/plain' } }),
    raw('form content type', 'sql=x', 415, 'contentType', 'content-type', { headers: { 'content-type': 'application/x-www-form-urlencoded' } }),
    raw('JSON in Latin-1', '{"sql":"x"}', 415, 'contentType', 'content-type', { headers: { 'content-type': 'application/json; charset=latin1' } }),
    raw('no content type', [...ascii('{"sql":"x"}')], 415, 'contentType', 'content-type', { headers: { 'content-type': '' } }),
  ].map((c) => (c.request.headers['content-type'] === '' ? { ...c, request: { ...c.request, headers: withoutContentType(c.request.headers) } } : c));
}

function withoutContentType(headers: Readonly<Record<string, string>>): Record<string, string> {
  const { 'content-type': _, ...rest } = headers;
  return rest;
}
