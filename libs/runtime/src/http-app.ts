import { NestFactory } from '@nestjs/core';
import type { NestApplicationOptions } from '@nestjs/common';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { installStrictJsonBodies } from './http-body.ts';
import type { HttpBodyLimits } from './http-body.ts';
import type { BaseConfig } from './service-config.ts';

/** The body limits of a service's configuration (HTTP_BODY_MAX_*). */
export function bodyLimitsOf(config: BaseConfig): HttpBodyLimits {
  return { maxBytes: config.WRIT_HTTP_BODY_MAX_BYTES, maxDepth: config.WRIT_HTTP_BODY_MAX_DEPTH, maxStringLength: config.WRIT_HTTP_BODY_MAX_STRING_LENGTH };
}

/**
 * The Nest application of a Writ service on Fastify, its bodies read by the strict JSON parser
 * (Nest's own parsers are off). runService uses it; so do tests that boot a service in-process,
 * so they meet the same door as production.
 */
export async function createHttpApp(
  root: Parameters<typeof NestFactory.create>[0],
  config: BaseConfig,
  options: NestApplicationOptions = {},
): Promise<NestFastifyApplication> {
  const app = await NestFactory.create<NestFastifyApplication>(root, new FastifyAdapter(), { ...options, bodyParser: false });
  installStrictJsonBodies(app.getHttpAdapter().getInstance(), bodyLimitsOf(config));
  return app;
}
