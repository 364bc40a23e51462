import type { LoggerService } from '@nestjs/common';
import type { BusLogger } from '@writ/bus';

/**
 * The one adapter from a service's Nest logger to the bus's: what the bus reports (DLQ routing,
 * retries, rebalances, the Kafka client's own lines) goes to the service's log, in its format,
 * with its context, its fields appended as JSON.
 */
export function busLoggerOf(logger: Pick<LoggerService, 'log' | 'warn' | 'error'>): BusLogger {
  const line = (message: string, fields?: Readonly<Record<string, unknown>>): string =>
    fields === undefined ? message : `${message} ${JSON.stringify(fields)}`;
  return {
    info: (message, fields) => logger.log(line(message, fields)),
    warn: (message, fields) => logger.warn(line(message, fields)),
    error: (message, fields) => logger.error(line(message, fields)),
  };
}
