import { writeSync } from 'node:fs';
import { describeError } from '@writ/errors';
import type { BusLogger } from './logger.ts';

/**
 * Exit status of a process whose Kafka client failed for good (sysexits EX_SOFTWARE): a supervisor
 * (Kubernetes, the devstack) starts a fresh instance, which rebuilds its state from the log.
 */
export const EXIT_BUS_FATAL = 70;

/** What a consumer or processor does when its Kafka client can never work again. */
export type FatalHandler = (error: unknown) => void;

/**
 * The default: log, then end the process. A consumer that stopped consuming inside a process that
 * still answers /health/ready is the worst outcome (its partitions are held and nothing moves), and
 * the client cannot be repaired in place (librdkafka: a fatal error is permanent for the handle).
 * Every Writ service commits its decisions in Kafka before acting, so a restart loses nothing.
 */
export function exitOnFatal(logger: BusLogger, what: string): FatalHandler {
  return (error) => {
    const message = `${what}: the Kafka client failed fatally; exiting (${EXIT_BUS_FATAL}) so a fresh instance takes over`;
    logger.error(message, { error: describeError(error) });
    // A service's logger may buffer, and the process ends now: the reason also goes straight to
    // stderr (a fault run once saw an exit 70 whose reason never reached the service's log).
    try {
      writeSync(2, `${JSON.stringify({ level: 'fatal', time: new Date().toISOString(), message, error: describeError(error) })}\n`);
    } catch {
      // stderr is gone: the exit status still says why
    }
    process.exit(EXIT_BUS_FATAL);
  };
}
