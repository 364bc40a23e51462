import { Controller, Get, Header, Inject, Injectable, Logger, Module } from '@nestjs/common';
import type { OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import type { JSONWebKeySet } from 'jose';
import { SERVICE_CONFIG, busLoggerOf, packageVersion } from '@writ/runtime';
import type { ExecutorServiceConfig } from './config.ts';
import { ExecutorEngine } from './executor.engine.ts';
import { MODEL_CALL_DOOR, ModelDoorController } from './model-door.controller.ts';

/** Owns the engine's lifecycle: consuming once the module is initialised, stopped on shutdown. */
@Injectable()
export class ExecutorService implements OnModuleInit, OnApplicationShutdown {
  readonly engine: ExecutorEngine;

  constructor(@Inject(SERVICE_CONFIG) config: ExecutorServiceConfig) {
    this.engine = new ExecutorEngine({
      config,
      producerName: `executor@${packageVersion(import.meta.url)}`,
      logger: busLoggerOf(new Logger('executor')),
    });
  }

  async onModuleInit(): Promise<void> {
    await this.engine.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.engine.stop();
  }
}

/**
 * The public keys of the tokens the executor mints per action (RFC 7517 JWKS at the RFC 8615
 * path): tools fetch them to verify each call's bearer token. Public by nature: no credential asked.
 */
@Controller('.well-known')
export class JwksController {
  constructor(@Inject(ExecutorService) private readonly executor: ExecutorService) {}

  @Get('jwks.json')
  @Header('cache-control', 'public, max-age=300')
  jwks(): JSONWebKeySet {
    return this.executor.engine.jwks();
  }
}

/** The executor service: governed tool proxy: validates, verifies warrants and reservations, calls tools. */
@Module({
  controllers: [JwksController, ModelDoorController],
  providers: [ExecutorService, { provide: MODEL_CALL_DOOR, inject: [ExecutorService], useFactory: (service: ExecutorService) => service.engine.modelCalls }],
  exports: [ExecutorService],
})
export class ExecutorModule {}
