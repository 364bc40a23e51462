import { Inject, Injectable, Logger, Module } from '@nestjs/common';
import type { OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { DEFAULT_PLANNER_CONFIG } from '@writ/planner-core';
import { SERVICE_CONFIG, busLoggerOf, packageVersion } from '@writ/runtime';
import { loadToolRegistry } from '@writ/tools';
import type { PlannerServiceConfig } from './config.ts';
import { PlannerEngine } from './planner.engine.ts';

/** Owns the engine's lifecycle: rebuilt and consuming once the module is initialised, stopped on shutdown. */
@Injectable()
export class PlannerService implements OnModuleInit, OnApplicationShutdown {
  readonly engine: PlannerEngine;

  constructor(@Inject(SERVICE_CONFIG) config: PlannerServiceConfig) {
    const groupId = config.WRIT_KAFKA_GROUP_ID;
    this.engine = new PlannerEngine({
      brokers: config.WRIT_KAFKA_BROKERS,
      groupId,
      dlqTopic: 'writ.planner.dlq',
      instanceId: config.WRIT_INSTANCE_ID,
      producer: `planner@${packageVersion(import.meta.url)}`,
      registry: loadToolRegistry(config.WRIT_TOOLS_DIR),
      planner: {
        ...DEFAULT_PLANNER_CONFIG,
        decision_timeout_ms: config.WRIT_PLANNER_DECISION_TIMEOUT_MS,
        approval_timeout_ms: config.WRIT_PLANNER_APPROVAL_TIMEOUT_MS,
        execution_start_timeout_ms: config.WRIT_PLANNER_EXECUTION_START_TIMEOUT_MS,
        execution_timeout_ms: config.WRIT_PLANNER_EXECUTION_TIMEOUT_MS,
        default_loop_threshold: config.WRIT_PLANNER_LOOP_THRESHOLD,
        default_loop_window: config.WRIT_PLANNER_LOOP_WINDOW,
      },
      defaultCurrency: config.WRIT_PLANNER_DEFAULT_CURRENCY,
      tenants: config.WRIT_PLANNER_TENANTS,
      lingerMs: config.WRIT_PLANNER_LINGER_MS,
      admissionWaitMs: config.WRIT_PLANNER_ADMISSION_WAIT_MS,
      replayTimeoutMs: config.WRIT_PLANNER_REPLAY_TIMEOUT_MS,
      logger: busLoggerOf(new Logger('planner')),
    });
  }

  async onModuleInit(): Promise<void> {
    await this.engine.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.engine.stop();
  }
}

/** The planner service: run and action state machines: admits, orchestrates and expires actions. */
@Module({ providers: [PlannerService], exports: [PlannerService] })
export class PlannerModule {}
