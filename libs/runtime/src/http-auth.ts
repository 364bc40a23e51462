// The credential and role check of a service's HTTP door: `Authorization: Bearer <api key>`
// against the live directory (WRIT_DIRECTORY_FILE, followed so rotated or revoked keys take effect
// without a restart), then the access roles the route names. Tenant scoping stays with the route,
// which knows which tenant a request is about (mayActIn; another tenant's data is a 404).
import { Catch, HttpException, Inject, Injectable, Logger, SetMetadata, createParamDecorator } from '@nestjs/common';
import type { ArgumentsHost, CanActivate, ExceptionFilter, ExecutionContext, FactoryProvider, OnApplicationShutdown } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { holds, principalId, watchDirectory } from '@writ/directory';
import type { Directory, LiveDirectory, Principal, Requirement } from '@writ/directory';
import { WritError, describeError, httpStatusOf, isWritError } from '@writ/errors';
import { SERVICE_CONFIG } from './run-service.ts';

/** The service's directory (a LiveDirectory following WRIT_DIRECTORY_FILE). */
export const SERVICE_DIRECTORY = Symbol('SERVICE_DIRECTORY');

const REQUIRES = 'writ:requires';

type AuthenticatedRequest = FastifyRequest & { writPrincipal?: Principal };

/**
 * The directory provider of a service: loads WRIT_DIRECTORY_FILE (an invalid file stops the boot)
 * and follows it; a change that makes it invalid keeps the last valid directory, logged.
 */
export function directoryProvider(intervalMs = 1_000): FactoryProvider<Promise<LiveDirectory>> {
  return {
    provide: SERVICE_DIRECTORY,
    inject: [SERVICE_CONFIG],
    useFactory: (config: { WRIT_DIRECTORY_FILE: string }) => {
      const logger = new Logger('directory');
      return watchDirectory(config.WRIT_DIRECTORY_FILE, {
        intervalMs,
        onReload: (principals) => logger.log(`directory reloaded: ${principals} principals`),
        onError: (message) => logger.error(message),
      });
    },
  };
}

/** Stops following the directory file when the service shuts down. */
@Injectable()
export class DirectoryCloser implements OnApplicationShutdown {
  constructor(@Inject(SERVICE_DIRECTORY) private readonly directory: LiveDirectory) {}

  onApplicationShutdown(): void {
    this.directory.close();
  }
}

/** Who may use a route: any one of these (an admin also holds operator, analyst and auditor). */
export const Requires = (...requirements: Requirement[]) => SetMetadata(REQUIRES, requirements);

const BEARER = /^Bearer\s+(\S+)\s*$/i;

/**
 * The principal of `Authorization: Bearer <api key>` (401 UNAUTHENTICATED otherwise), recorded on
 * the request for `@Caller()`. Shared by every door's guard.
 */
export function authenticateRequest(directory: Directory, request: FastifyRequest): Principal {
  const header = request.headers.authorization;
  const key = typeof header === 'string' ? BEARER.exec(header)?.[1] : undefined;
  const principal = key === undefined ? undefined : directory.authenticate(key);
  if (principal === undefined) {
    throw new WritError('UNAUTHENTICATED', key === undefined ? 'send your API key as "Authorization: Bearer <key>"' : 'the API key is not known', {
      field: 'authorization',
      rule: 'must be "Bearer <api key>" with a key of the directory',
    });
  }
  (request as AuthenticatedRequest).writPrincipal = principal;
  return principal;
}

/**
 * `Authorization: Bearer <api key>` → a principal of the directory (401 otherwise), holding one of
 * the route's @Requires (403 otherwise). A route without @Requires is refused: every door names its roles.
 */
@Injectable()
export class BearerGuard implements CanActivate {
  constructor(
    @Inject(SERVICE_DIRECTORY) private readonly directory: Directory,
    @Inject(Reflector) private readonly reflector: Reflector,
  ) {}

  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    const principal = authenticateRequest(this.directory, request);
    const required = this.reflector.getAllAndOverride<Requirement[] | undefined>(REQUIRES, [context.getHandler(), context.getClass()]) ?? [];
    if (!required.some((requirement) => holds(principal, requirement))) {
      throw new WritError('FORBIDDEN', `${principalId(principal)} may not use this door`, {
        field: 'authorization',
        rule: `the caller must be ${required.length === 0 ? 'named by the route' : required.join(' or ')}`,
      });
    }
    return true;
  }
}

/** The authenticated principal of the request (after BearerGuard). */
export const Caller = createParamDecorator((_: unknown, context: ExecutionContext): Principal => {
  const principal = context.switchToHttp().getRequest<AuthenticatedRequest>().writPrincipal;
  if (principal === undefined) throw new WritError('UNAUTHENTICATED', 'no API key was checked for this route');
  return principal;
});

/**
 * Every error of a door as `{ error: { code, message, field?, rule? } }`: WritErrors by code
 * (`httpStatusOf`: one table for every door; 401 with www-authenticate: Bearer), Nest's HTTP
 * exceptions by their status.
 */
@Catch()
export class DoorErrorFilter implements ExceptionFilter {
  readonly #logger = new Logger('http');

  catch(error: unknown, host: ArgumentsHost): void {
    const reply = host.switchToHttp().getResponse<FastifyReply>();
    if (isWritError(error)) {
      const status = httpStatusOf(error);
      if (status === 401) void reply.header('www-authenticate', 'Bearer');
      if (status >= 500) this.#logger.error(`request failed: ${describeError(error)}`);
      void reply.status(status).send({ error: error.toJSON() });
      return;
    }
    if (error instanceof HttpException) {
      const status = error.getStatus();
      const response = error.getResponse();
      const detail = typeof response === 'object' && response !== null ? (response as Record<string, unknown>) : {};
      const code = typeof detail['code'] === 'string' ? detail['code'] : status === 404 ? 'NOT_FOUND' : `HTTP_${status}`;
      void reply.status(status).send({ error: { ...detail, code, message: typeof detail['message'] === 'string' ? detail['message'] : error.message } });
      return;
    }
    const status = (error as { statusCode?: unknown } | null)?.statusCode;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      void reply.status(status).send({ error: { code: 'REQUEST_INVALID', message: describeError(error), field: 'body' } });
      return;
    }
    this.#logger.error(`request failed: ${describeError(error)}`);
    void reply.status(500).send({ error: { code: 'INTERNAL', message: 'internal error' } });
  }
}
