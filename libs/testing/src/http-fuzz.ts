// A seeded HTTP fuzzer for Writ's public doors: valid requests (the seeds) sent as they are or
// mutated (body bytes, JSON structure, headers, paths, methods, content types), over node:http so
// that what fetch would refuse to send is sent. The same seed gives the same requests, so a 5xx
// found here reproduces; each one is kept with its request for replay.
import { Agent, request as httpRequest } from 'node:http';
import { seededRandom } from '@writ/decider/testing';
import type { SeededRandom } from '@writ/decider/testing';

export interface FuzzRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: Uint8Array;
  /** Chunked transfer instead of a content-length. */
  readonly chunked?: boolean;
  /** What was done to the seed, for the figures (`seed`, `body.flip`, `header.content-type`, ...). */
  readonly mutation: string;
}

export interface FuzzFailure {
  readonly request: FuzzRequest;
  readonly status: number;
  readonly answer: string;
}

export interface FuzzReport {
  readonly seed: number;
  readonly requests: number;
  /** Requests node:http itself refused to send (invalid header characters, ...). */
  readonly unsendable: number;
  /** Requests the server closed without an answer (counted apart: not a status). */
  readonly noAnswer: number;
  readonly byStatus: Readonly<Record<string, number>>;
  readonly byMutation: Readonly<Record<string, number>>;
  readonly serverErrors: readonly FuzzFailure[];
  readonly durationMs: number;
}

export interface FuzzOptions {
  readonly baseUrl: string;
  readonly seeds: readonly FuzzRequest[];
  readonly count: number;
  readonly seed: number;
  readonly concurrency?: number;
  readonly timeoutMs?: number;
  /** The body limits of the target, so that some requests land just beyond them. */
  readonly limits?: { readonly maxBytes: number; readonly maxDepth: number; readonly maxStringLength: number };
}

const encoder = new TextEncoder();
const bytesOf = (text: string): Uint8Array => encoder.encode(text);
const concat = (...parts: Uint8Array[]): Uint8Array => Uint8Array.from(parts.flatMap((part) => [...part]));

/** A valid JSON request for the seeds. */
export function jsonRequest(method: string, path: string, body: unknown, headers: Readonly<Record<string, string>> = {}): FuzzRequest {
  return {
    method,
    path,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    ...(body === undefined ? {} : { body: bytesOf(JSON.stringify(body)) }),
    mutation: 'seed',
  };
}

const CONTENT_TYPES = [
  'text/plain',
  'application/json; charset=latin1',
  'application/json; charset=utf-16',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/jsonx',
  'application/json+x',
  'APPLICATION/JSON',
  'application/json;charset="utf-8"',
  'application/json; charset=utf-8; x=1',
  'application/json,',
  '*/*',
  'json',
];
const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD', 'QUERY'];
const PATH_PIECES = [
  'v1',
  'runs',
  'actions',
  'approvals',
  'controls',
  'kill-switch',
  'outcome',
  'health',
  'ready',
  '..',
  '.',
  '%00',
  '%ff',
  '%2e%2e',
  '%',
  'é',
  '😀',
  '',
  '00000000-0000-0000-0000-000000000000',
  'a'.repeat(300),
];
const UNICODE_EDGES = ['\\ud800', '\\udfff', '\\ud83d\\ude00', '\\u0000', '\\uffff', '\u2028', '\ufeff', '😀', '\u0301', '\\uDBFF\\uDFFF'];
const RAW_BYTES = [[0xff], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xe2, 0x82], [0xf4, 0x90, 0x80, 0x80], [0x00], [0xef, 0xbb, 0xbf], [0x80]];
const HUGE_NUMBERS = [
  '1e999',
  '-1e999',
  '123456789012345678901234567890',
  '9007199254740993',
  '-0',
  '1E400',
  '0.0000000000000000000000000000001',
  '1e-999',
  '00',
  '01',
  '1.',
  '.5',
  '+1',
  'NaN',
  'Infinity',
  '0x10',
];

function mutateBody(random: SeededRandom, body: Uint8Array, limits: FuzzOptions['limits']): { body: Uint8Array; mutation: string } {
  const text = new TextDecoder().decode(body);
  switch (random.int(14)) {
    case 0: {
      const copy = Uint8Array.from(body);
      for (let n = random.between(1, 4); n > 0 && copy.length > 0; n -= 1) copy[random.int(copy.length)] = random.int(256);
      return { body: copy, mutation: 'body.flip' };
    }
    case 1:
      return { body: body.slice(0, random.int(body.length)), mutation: 'body.truncate' };
    case 2: {
      const at = random.int(body.length + 1);
      return { body: concat(body.slice(0, at), Uint8Array.from(random.pick(RAW_BYTES)), body.slice(at)), mutation: 'body.raw-bytes' };
    }
    case 3: {
      const edge = random.pick(UNICODE_EDGES);
      return { body: bytesOf(text.replace(/"([^"\\]*)"(?=\s*[,}\]])/, `"$1${edge}"`)), mutation: 'body.unicode' };
    }
    case 4: {
      const number = random.pick(HUGE_NUMBERS);
      const replaced = text.replace(/(?<=:)-?\d+(\.\d+)?/, number);
      return { body: bytesOf(replaced === text ? text.replace(/^\{/, `{"n":${number},`) : replaced), mutation: 'body.number' };
    }
    case 5: {
      const key = /"([^"\\]+)"\s*:\s*([^,{}[\]]+)/.exec(text);
      return { body: bytesOf(key === null ? text : text.replace(/^\{/, `{"${key[1]}":${key[2]},`)), mutation: 'body.duplicate-key' };
    }
    case 6: {
      const depth = random.chance(0.5) ? (limits?.maxDepth ?? 32) + random.between(-1, 2) : random.between(100, 20_000);
      return { body: bytesOf(`${'['.repeat(depth)}${text}${']'.repeat(depth)}`), mutation: 'body.deep' };
    }
    case 7: {
      const length = (limits?.maxStringLength ?? 65_536) + random.between(-1, 2);
      return { body: bytesOf(text.replace(/^\{/, `{"long":"${'x'.repeat(length)}",`)), mutation: 'body.long-string' };
    }
    case 8: {
      const size = (limits?.maxBytes ?? 1_048_576) + random.between(-2, 64);
      return { body: bytesOf(text.replace(/^\{/, `{"pad":"${' '.repeat(Math.max(0, size - body.length - 10))}",`)), mutation: 'body.large' };
    }
    case 9:
      return {
        body: bytesOf(
          random.pick(['', ' ', 'null', '[]', '""', '0', 'true', '{}', '[{}]', '{"":{}}', '{"__proto__":{"x":1}}', '{"constructor":{"prototype":{"x":1}}}']),
        ),
        mutation: 'body.other-value',
      };
    case 10:
      return { body: bytesOf(`${text}${random.pick([' x', '{}', '\u0000', ',', ' // c', '\n\n'])}`), mutation: 'body.trailing' };
    case 11:
      return {
        body: bytesOf(text.replace(/:\s*("[^"]*"|-?\d+|true|false|null)/, `:${random.pick(['[]', '{}', 'null', '"1"', '1', 'true', '[[[]]]', '{"a":{}}'])}`)),
        mutation: 'body.type-confusion',
      };
    case 12:
      return { body: bytesOf(text.replace(/"/, random.pick(["'", '', '\\"', '"\u0000']))), mutation: 'body.quote' };
    default: {
      const key = `k${random.int(1000)}`;
      return { body: bytesOf(text.replace(/^\{/, `{"${key}":"${'\u00e9'.repeat(random.int(50))}",`)), mutation: 'body.extra-key' };
    }
  }
}

function mutatePath(random: SeededRandom, path: string): string {
  switch (random.int(5)) {
    case 0:
      return `/${Array.from({ length: random.between(1, 5) }, () => random.pick(PATH_PIECES)).join('/')}`;
    case 1:
      return `${path}${random.pick(['/', '//', '/x', '?a=1&a=2', '?limit=-1', '?limit=99999999999999999999', '#x', '%', '?%zz', `?q=${'q'.repeat(5000)}`])}`;
    case 2:
      return path.replace(/[^/]+$/, random.pick(PATH_PIECES));
    case 3:
      return `/${'a/'.repeat(random.between(50, 500))}`;
    default:
      return path.toUpperCase();
  }
}

/** One request: a seed as it is, or mutated in one or two ways. */
export function fuzzRequest(random: SeededRandom, seeds: readonly FuzzRequest[], limits?: FuzzOptions['limits']): FuzzRequest {
  const seed = random.pick(seeds);
  if (random.chance(0.1)) return seed;
  let { method, path, body, chunked } = seed;
  let headers: Record<string, string> = { ...seed.headers };
  const mutations: string[] = [];
  for (let n = random.chance(0.3) ? 2 : 1; n > 0; n -= 1) {
    const what = random.int(10);
    if (what < 5 && body !== undefined) {
      const mutated = mutateBody(random, body, limits);
      body = mutated.body;
      mutations.push(mutated.mutation);
    } else if (what === 5) {
      if (random.chance(0.3)) delete headers['content-type'];
      else headers['content-type'] = random.pick(CONTENT_TYPES);
      mutations.push('header.content-type');
    } else if (what === 6) {
      const auth = random.pick(['', 'Bearer', 'Bearer ', 'Basic abc', `Bearer ${'k'.repeat(10_000)}`, 'Bearer a b', 'bearer \u00e9']);
      if (auth === '') delete headers['authorization'];
      else headers['authorization'] = auth;
      mutations.push('header.authorization');
    } else if (what === 7) {
      headers = {
        ...headers,
        [random.pick(['idempotency-key', 'accept', 'x-request-id', 'traceparent', 'content-encoding', 'expect'])]: random.pick([
          '',
          'x'.repeat(8_000),
          'gzip',
          '100-continue',
          '00-zz-zz-01',
          'é',
        ]),
      };
      mutations.push('header.other');
    } else if (what === 8) {
      path = mutatePath(random, path);
      mutations.push('path');
    } else {
      method = random.pick(METHODS);
      if (body === undefined && random.chance(0.5)) body = bytesOf('{}');
      chunked = random.chance(0.2);
      mutations.push('method');
    }
  }
  return { method, path, headers, ...(body === undefined ? {} : { body }), ...(chunked === true ? { chunked } : {}), mutation: mutations.join('+') };
}

interface Answer {
  readonly status: number;
  readonly text: string;
}

/** Sends one request; undefined when node:http refuses to send it, 0 when no answer came. */
export function send(baseUrl: string, request: FuzzRequest, agent: Agent, timeoutMs = 10_000): Promise<Answer | undefined> {
  const url = new URL(baseUrl);
  return new Promise((resolve) => {
    let outgoing;
    try {
      const headers: Record<string, string | number> = { ...request.headers };
      if (request.body !== undefined && request.chunked !== true) headers['content-length'] = request.body.length;
      outgoing = httpRequest(
        { host: url.hostname, port: url.port, method: request.method, path: request.path, headers, agent, timeout: timeoutMs },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () => resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8').slice(0, 2_000) }));
          response.on('error', () => resolve({ status: 0, text: '' }));
        },
      );
    } catch {
      resolve(undefined);
      return;
    }
    outgoing.on('timeout', () => outgoing.destroy(new Error('timeout')));
    outgoing.on('error', () => resolve({ status: 0, text: '' }));
    if (request.body !== undefined) {
      if (request.chunked === true) {
        const middle = Math.floor(request.body.length / 2);
        outgoing.write(request.body.slice(0, middle));
        outgoing.end(request.body.slice(middle));
      } else outgoing.end(request.body);
    } else outgoing.end();
  });
}

/** Sends `count` requests (`concurrency` at a time) and counts the answers. */
export async function runFuzz(options: FuzzOptions): Promise<FuzzReport> {
  const random = seededRandom(options.seed);
  const agent = new Agent({ keepAlive: true, maxSockets: options.concurrency ?? 8 });
  const byStatus: Record<string, number> = {};
  const byMutation: Record<string, number> = {};
  const serverErrors: FuzzFailure[] = [];
  let unsendable = 0;
  let noAnswer = 0;
  let sent = 0;
  const started = performance.now();
  // Requests are drawn up front, in order, so the sequence depends on the seed alone.
  const requests = Array.from({ length: options.count }, () => fuzzRequest(random, options.seeds, options.limits));
  const worker = async (): Promise<void> => {
    while (sent < requests.length) {
      const request = requests[sent] as FuzzRequest;
      sent += 1;
      const kind = request.mutation.split('+')[0] ?? 'seed';
      byMutation[kind] = (byMutation[kind] ?? 0) + 1;
      const answer = await send(options.baseUrl, request, agent, options.timeoutMs);
      if (answer === undefined) unsendable += 1;
      else if (answer.status === 0) noAnswer += 1;
      else {
        byStatus[answer.status] = (byStatus[answer.status] ?? 0) + 1;
        if (answer.status >= 500) serverErrors.push({ request, status: answer.status, answer: answer.text });
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency ?? 8 }, worker));
  agent.destroy();
  return { seed: options.seed, requests: requests.length, unsendable, noAnswer, byStatus, byMutation, serverErrors, durationMs: performance.now() - started };
}

/** A failure as a file: the request to replay with `send` (the body base64). */
export function replayable(failure: FuzzFailure): string {
  const { request } = failure;
  return JSON.stringify(
    { ...request, body: request.body === undefined ? undefined : Buffer.from(request.body).toString('base64'), status: failure.status, answer: failure.answer },
    null,
    2,
  );
}
