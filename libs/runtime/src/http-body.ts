import type { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { StrictJsonError, parseStrictJson } from '@writ/strict-json';
import type { StrictJsonRule } from '@writ/strict-json';

/** What one HTTP request body may be (HTTP_BODY_MAX_* in every service's configuration). */
export interface HttpBodyLimits {
  readonly maxBytes: number;
  readonly maxDepth: number;
  readonly maxStringLength: number;
}

export type BodyRule = StrictJsonRule | 'maxBodyBytes' | 'contentType';

/** A refused body: its status and the answer, in the `{ error: { code, message, field, rule } }` shape of every Writ API. */
export interface BodyRejection {
  readonly status: 400 | 413 | 415;
  readonly body: {
    readonly error: {
      readonly code: 'REQUEST_INVALID';
      readonly message: string;
      readonly field: string;
      readonly rule: BodyRule;
      readonly details?: Readonly<Record<string, unknown>>;
    };
  };
}

/** application/json, with no parameter but an optional charset=utf-8 (RFC 8259 §8.1: JSON is UTF-8). */
const JSON_MEDIA_TYPE = /^application\/json[ \t]*(?:;[ \t]*charset[ \t]*=[ \t]*(?:utf-8|"utf-8")[ \t]*)?$/i;
/** Methods Fastify never reads a body for (it would ignore one), so neither do we. */
const BODYLESS = new Set(['GET', 'HEAD', 'TRACE']);

function rejection(
  status: BodyRejection['status'],
  rule: BodyRule,
  field: string,
  message: string,
  details?: Readonly<Record<string, unknown>>,
): BodyRejection {
  return { status, body: { error: { code: 'REQUEST_INVALID', message, field, rule, ...(details === undefined ? {} : { details }) } } };
}

/** The content type of a request that has a body: undefined when acceptable, else the 415 answer. */
export function checkContentType(header: string | undefined): BodyRejection | undefined {
  if (header !== undefined && JSON_MEDIA_TYPE.test(header.trim())) return undefined;
  const got = header === undefined ? 'no content type' : `content type "${header.slice(0, 100)}"`;
  return rejection(415, 'contentType', 'content-type', `${got}: send the body as "application/json" (optionally "; charset=utf-8")`);
}

function fixFor(rule: StrictJsonRule, limits: HttpBodyLimits): string {
  switch (rule) {
    case 'utf8':
      return 'encode the body as UTF-8';
    case 'syntax':
      return 'send one JSON document (RFC 8259)';
    case 'trailingData':
      return 'send exactly one JSON value';
    case 'number':
      return 'send integers within ±(2^53−1) and numbers a double can hold (larger ones as strings)';
    case 'duplicateKey':
      return 'send each key once per object';
    case 'loneSurrogate':
      return 'send well-formed Unicode (surrogates only as a high+low pair)';
    case 'forbiddenKey':
      return 'rename the key';
    case 'maxDepth':
      return `nest objects and arrays at most ${limits.maxDepth} levels deep`;
    case 'maxStringLength':
      return `send strings and keys of at most ${limits.maxStringLength} characters`;
    default: {
      const never: never = rule;
      return never;
    }
  }
}

function bodyTooLarge(limits: HttpBodyLimits): BodyRejection {
  return rejection(413, 'maxBodyBytes', 'body', `body larger than ${limits.maxBytes} bytes: send a smaller body`);
}

/**
 * The answer to a body: its parsed value, or the rejection. Pure, so the HTTP hook below is only
 * plumbing (and the rules can be tested without a server).
 */
export function parseBody(bytes: Uint8Array, limits: HttpBodyLimits): { value: unknown } | { rejected: BodyRejection } {
  if (bytes.length > limits.maxBytes) return { rejected: bodyTooLarge(limits) };
  try {
    return { value: parseStrictJson(bytes, { maxDepth: limits.maxDepth, maxStringLength: limits.maxStringLength }) };
  } catch (error) {
    if (!(error instanceof StrictJsonError)) throw error;
    return {
      rejected: rejection(400, error.rule, error.path === '' ? 'body' : error.path, `${error.message}: ${fixFor(error.rule, limits)}`, {
        path: error.path,
        offset: error.offset,
      }),
    };
  }
}

/** The body's bytes, or undefined as soon as there are more than `maxBytes` of them. */
function readBody(payload: Readable, maxBytes: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    if (payload.readableEnded) {
      resolve(Buffer.alloc(0));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const stop = (): void => {
      payload.off('data', onData);
      payload.off('end', onEnd);
      payload.off('error', onError);
      payload.off('close', onClose);
    };
    const onData = (chunk: Buffer | string): void => {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      size += bytes.length;
      if (size > maxBytes) {
        stop();
        resolve(undefined);
        return;
      }
      chunks.push(bytes);
    };
    const onEnd = (): void => {
      stop();
      resolve(Buffer.concat(chunks, size));
    };
    const onError = (error: Error): void => {
      stop();
      reject(error);
    };
    const onClose = (): void => {
      stop();
      reject(new Error('the client closed the connection before the end of the body'));
    };
    payload.on('data', onData);
    payload.on('end', onEnd);
    payload.on('error', onError);
    payload.on('close', onClose);
    payload.resume();
  });
}

function hasBody(request: FastifyRequest): boolean {
  if (BODYLESS.has(request.method)) return false;
  const length = request.headers['content-length'];
  return request.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

function refuse(reply: FastifyReply, refused: BodyRejection, closeConnection: boolean): void {
  // A body left unread would be taken for the next request on a kept-alive connection.
  if (closeConnection) void reply.header('connection', 'close');
  void reply.code(refused.status).header('content-type', 'application/json; charset=utf-8').send(refused.body);
}

/**
 * Makes `fastify` read every request body itself, before Nest sees the request: content type
 * application/json only, at most `maxBytes`, parsed by the strict parser. A refused body is
 * answered here (400, 413 or 415 naming the rule), the same way in every service and never by an
 * exception filter; handlers receive the parsed value. Call before the application starts, and
 * create the Nest application with `bodyParser: false` (see createHttpApp).
 */
export function installStrictJsonBodies(fastify: FastifyInstance, limits: HttpBodyLimits): void {
  const parsed = new WeakMap<FastifyRequest, unknown>();
  fastify.removeAllContentTypeParsers();
  // Every content type reaches the hook below first; this only hands over what it parsed.
  fastify.addContentTypeParser('*', (request: FastifyRequest, _payload: unknown, done: (error: Error | null, body?: unknown) => void) => {
    done(null, parsed.get(request));
  });
  fastify.addHook('preParsing', async (request, reply, payload) => {
    if (!hasBody(request)) return payload;
    const wrongType = checkContentType(request.headers['content-type']);
    if (wrongType !== undefined) {
      refuse(reply, wrongType, true);
      return payload;
    }
    const declared = Number(request.headers['content-length'] ?? 0);
    const bytes = declared > limits.maxBytes ? undefined : await readBody(payload, limits.maxBytes);
    if (bytes === undefined) {
      refuse(reply, bodyTooLarge(limits), true);
      return payload;
    }
    const outcome = parseBody(bytes, limits);
    if ('rejected' in outcome) {
      refuse(reply, outcome.rejected, false);
      return payload;
    }
    parsed.set(request, outcome.value);
    return payload;
  });
}
