import { Catch } from '@nestjs/common';
import type { ArgumentsHost, RpcExceptionFilter } from '@nestjs/common';
import { throwError } from 'rxjs';
import type { Observable } from 'rxjs';

/**
 * Nest turns any error thrown by a message handler that is not an RpcException into a generic
 * `{ status: 'error', message: 'Internal server error' }`, losing the WritError's code and
 * retriable flag that decide between retry and the DLQ. Register this filter on the
 * microservice (`app.useGlobalFilters(new WritEventExceptionFilter())`) and the bus sees the
 * handler's own error.
 */
export class WritEventExceptionFilter implements RpcExceptionFilter<unknown> {
  catch(exception: unknown, _host: ArgumentsHost): Observable<never> {
    return throwError(() => exception);
  }
}
// Applied as a call rather than `@Catch()`: this package runs under Node's type stripping too.
Catch()(WritEventExceptionFilter);
