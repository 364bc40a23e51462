import 'reflect-metadata';
import { ConsoleLogger, Module } from '@nestjs/common';
import type { DynamicModule, OnApplicationShutdown, Type } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { probeBrokers } from '@writ/bus';
import type { ConfigOf, EnvVar } from '@writ/config';
import { describeError, isWritError } from '@writ/errors';
import type { Telemetry } from '@writ/telemetry';
import { HealthModule } from './health.ts';
import { createHttpApp } from './http-app.ts';
import { loadServiceConfig } from './service-config.ts';
import type { BaseConfig } from './service-config.ts';

/** sysexits.h codes, so a supervisor can tell bad configuration from a missing dependency. */
export const EXIT_CONFIG = 78;
export const EXIT_UNAVAILABLE = 69;

export const SERVICE_CONFIG = Symbol('SERVICE_CONFIG');

export interface ServiceDefinition<S extends Record<string, EnvVar<unknown>>> {
  readonly name: string;
  readonly version: string;
  readonly defaultHttpPort: number;
  /** Variables of this service on top of the common ones (WRIT_KAFKA_BROKERS, WRIT_HTTP_HOST, WRIT_HTTP_PORT, ...). */
  readonly config: S;
  /** The service's own module; its providers can inject SERVICE_CONFIG. */
  readonly module: Type<unknown>;
  /** Tracing and metrics, started by the service's instrumentation.ts before anything else loaded. */
  readonly telemetry: Telemetry;
}

/** Flushes and stops tracing when Nest shuts down (SIGTERM, app.close()). */
class TelemetryFlush implements OnApplicationShutdown {
  constructor(private readonly telemetry: Telemetry) {}

  async onApplicationShutdown(): Promise<void> {
    await this.telemetry.shutdown();
  }
}

function fail(name: string, exitCode: number, message: string): never {
  process.stderr.write(`[${name}] ${message}\n`);
  process.exit(exitCode);
}

/**
 * Boots one Writ service: configuration validated first (a bad variable stops it, named), then a
 * bounded Kafka probe (an unreachable broker is an error, not a hang), then the Nest application
 * with its health endpoints on loopback. Returns the running application.
 */
export async function runService<S extends Record<string, EnvVar<unknown>>>(definition: ServiceDefinition<S>): Promise<NestFastifyApplication> {
  const { name, version } = definition;
  let config: BaseConfig & ConfigOf<S>;
  try {
    config = loadServiceConfig(definition.defaultHttpPort, definition.config);
  } catch (error) {
    if (isWritError(error, 'CONFIG_INVALID')) fail(name, EXIT_CONFIG, error.message);
    throw error;
  }

  // The metrics endpoint (WRIT_METRICS_PORT) started listening with the telemetry: a port it cannot take stops the boot.
  try {
    await definition.telemetry.ready;
  } catch (error) {
    fail(name, EXIT_UNAVAILABLE, describeError(error));
  }

  try {
    await probeBrokers(config.WRIT_KAFKA_BROKERS, config.WRIT_KAFKA_STARTUP_TIMEOUT_MS);
  } catch (error) {
    fail(name, EXIT_UNAVAILABLE, `${describeError(error)} (set WRIT_KAFKA_BROKERS, or start the stack: ./dev stack up)`);
  }

  @Module({})
  class ServiceRootModule {}
  const root: DynamicModule = {
    module: ServiceRootModule,
    global: true,
    imports: [HealthModule.forService({ name, version, kafkaBrokers: config.WRIT_KAFKA_BROKERS, startedAt: Date.now() }), definition.module],
    providers: [
      { provide: SERVICE_CONFIG, useValue: config },
      { provide: TelemetryFlush, useValue: new TelemetryFlush(definition.telemetry) },
    ],
    exports: [SERVICE_CONFIG],
  };

  const logger = new ConsoleLogger(name, config.WRIT_LOG_FORMAT === 'json' ? { json: true } : { prefix: 'writ' });
  const app = await createHttpApp(root, config, { logger });
  app.enableShutdownHooks();
  try {
    await app.listen(config.WRIT_HTTP_PORT, config.WRIT_HTTP_HOST);
  } catch (error) {
    fail(name, EXIT_UNAVAILABLE, `cannot listen on ${config.WRIT_HTTP_HOST}:${config.WRIT_HTTP_PORT} (WRIT_HTTP_PORT): ${describeError(error)}`);
  }
  const telemetry = definition.telemetry.exporters.join(', ') || 'not exported';
  logger.log(`${name}@${version} listening on http://${config.WRIT_HTTP_HOST}:${config.WRIT_HTTP_PORT}; telemetry: ${telemetry}`);
  return app;
}
