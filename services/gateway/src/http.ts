import { Catch, HttpException, Inject, Injectable, Logger } from '@nestjs/common';
import type { ArgumentsHost, CanActivate, ExceptionFilter, ExecutionContext } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Directory } from '@writ/directory';
import { Caller, authenticateRequest } from '@writ/runtime';
import { describeError, httpStatusOf, isWritError } from '@writ/errors';
import { DIRECTORY } from './config.ts';

/** `Authorization: Bearer <api key>` → the directory's agent or user; anything else is 401. Roles are checked per route. */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  constructor(@Inject(DIRECTORY) private readonly directory: Directory) {}

  canActivate(context: ExecutionContext): boolean {
    authenticateRequest(this.directory, context.switchToHttp().getRequest<FastifyRequest>());
    return true;
  }
}

/** The authenticated agent or user of the request (after ApiKeyGuard). */
export { Caller };

interface ErrorBody {
  readonly error: {
    readonly code: string;
    readonly message: string;
    readonly field?: string;
    readonly rule?: string;
    readonly details?: Readonly<Record<string, unknown>>;
  };
}

function body(code: string, message: string, extra: { field?: string; rule?: string; details?: Readonly<Record<string, unknown>> } = {}): ErrorBody {
  return { error: { code, message, ...extra } };
}

/** Errors Fastify and Nest raise before a handler runs, in the gateway's error shape. */
function fromHttpException(exception: HttpException): { status: number; body: ErrorBody } {
  const status = exception.getStatus();
  switch (status) {
    case 400:
      return { status, body: body('REQUEST_INVALID', `body ${exception.message}`, { field: 'body', rule: 'json' }) };
    case 404:
      return { status, body: body('NOT_FOUND', 'no such route') };
    case 413:
      return { status, body: body('REQUEST_INVALID', 'body is too large', { field: 'body', rule: 'maxLength' }) };
    case 415:
      return { status, body: body('REQUEST_INVALID', 'send the body as application/json', { field: 'content-type', rule: 'enum' }) };
    default:
      return { status, body: body(`HTTP_${status}`, exception.message) };
  }
}

/** Fastify's own errors (invalid JSON, wrong content type, too large) carry a statusCode. */
function fastifyStatus(error: unknown): number | undefined {
  const status = (error as { statusCode?: unknown } | null)?.statusCode;
  return typeof status === 'number' && status >= 400 && status < 500 ? status : undefined;
}

/** Every error leaves as `{ error: { code, message, field?, rule?, details? } }` with its status. */
@Catch()
export class GatewayExceptionFilter implements ExceptionFilter {
  readonly #logger = new Logger('GatewayHttp');

  catch(exception: unknown, host: ArgumentsHost): void {
    const reply = host.switchToHttp().getResponse<FastifyReply>();
    let status: number;
    let payload: ErrorBody;
    if (isWritError(exception)) {
      status = httpStatusOf(exception);
      payload = body(exception.code, exception.message, {
        ...(exception.field === undefined ? {} : { field: exception.field }),
        ...(exception.rule === undefined ? {} : { rule: exception.rule }),
        ...(exception.details === undefined ? {} : { details: exception.details }),
      });
      if (status === 401) void reply.header('www-authenticate', 'Bearer');
    } else if (exception instanceof HttpException) {
      ({ status, body: payload } = fromHttpException(exception));
    } else if (fastifyStatus(exception) !== undefined) {
      ({ status, body: payload } = fromHttpException(new HttpException(describeError(exception), fastifyStatus(exception) ?? 400)));
    } else {
      status = 500;
      payload = body('INTERNAL', 'internal error');
    }
    if (status >= 500) this.#logger.error(`request failed: ${describeError(exception)}`);
    void reply.status(status).send(payload);
  }
}
