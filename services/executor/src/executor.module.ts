import { Inject, Injectable, Logger, Module } from '@nestjs/common';
import type { OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { SERVICE_CONFIG, busLoggerOf, packageVersion } from '@writ/runtime';
import type { ExecutorServiceConfig } from './config.ts';
import { ExecutorEngine } from './executor.engine.ts';

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

/** The executor service: governed tool proxy: validates, verifies warrants and reservations, calls tools. */
@Module({ providers: [ExecutorService], exports: [ExecutorService] })
export class ExecutorModule {}
