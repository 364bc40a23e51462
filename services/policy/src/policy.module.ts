import { Inject, Injectable, Logger, Module } from '@nestjs/common';
import type { OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import type { Directory } from '@writ/directory';
import { BearerGuard, DirectoryCloser, SERVICE_CONFIG, SERVICE_DIRECTORY, busLoggerOf, directoryProvider, packageVersion } from '@writ/runtime';
import type { PolicyServiceConfig } from './config.ts';
import { DecideController } from './decide.controller.ts';
import { PDP_SETUP, POLICY_DLQ, POLICY_SETS, PdpEngine } from './pdp.engine.ts';
import { ApprovalNotifier, loadWebhooks } from './notifier.ts';
import { PolicySets } from './policy-sets.ts';
import { PolicySetsController } from './policy-sets.controller.ts';
import { loadPdpSetup } from './setup.ts';

/** Sends approval notifications to the tenants' webhooks when WRIT_POLICY_WEBHOOKS_FILE is set. */
@Injectable()
class Notifications implements OnModuleInit, OnApplicationShutdown {
  readonly #notifier: ApprovalNotifier | undefined;

  constructor(@Inject(SERVICE_CONFIG) config: PolicyServiceConfig) {
    const file = config.WRIT_POLICY_WEBHOOKS_FILE;
    this.#notifier =
      file === undefined
        ? undefined
        : new ApprovalNotifier({
            brokers: config.WRIT_KAFKA_BROKERS,
            groupId: config.WRIT_KAFKA_GROUP_ID,
            hooks: loadWebhooks(file),
            tenants: config.WRIT_POLICY_TENANTS,
            dlqTopic: POLICY_DLQ,
            logger: busLoggerOf(new Logger('policy.notify')),
          });
  }

  async onModuleInit(): Promise<void> {
    await this.#notifier?.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.#notifier?.stop();
  }
}

/** The policy service: policy decision point: Cedar decisions, approvals and warrants. */
@Module({
  controllers: [DecideController, PolicySetsController],
  providers: [
    directoryProvider(),
    DirectoryCloser,
    BearerGuard,
    {
      provide: POLICY_SETS,
      inject: [SERVICE_CONFIG],
      useFactory: (config: PolicyServiceConfig) =>
        new PolicySets({
          brokers: config.WRIT_KAFKA_BROKERS,
          groupId: config.WRIT_KAFKA_GROUP_ID,
          stream: config.WRIT_POLICY_STREAM,
          bootstrapDir: config.WRIT_POLICY_DIR,
          bootstrap: config.WRIT_POLICY_BOOTSTRAP,
          producer: `policy@${packageVersion(import.meta.url)}`,
          instance: `policy/${config.WRIT_INSTANCE_ID}`,
          dlqTopic: POLICY_DLQ,
          catchUpTimeoutMs: config.WRIT_POLICY_REPLAY_TIMEOUT_MS,
          historyHorizonMs: config.WRIT_POLICY_HISTORY_HORIZON_MS,
          logger: busLoggerOf(new Logger('policy')),
        }),
    },
    {
      provide: PDP_SETUP,
      inject: [SERVICE_CONFIG, POLICY_SETS, SERVICE_DIRECTORY],
      useFactory: (config: PolicyServiceConfig, sets: PolicySets, directory: Directory) => loadPdpSetup(config, sets, directory),
    },
    PdpEngine,
    Notifications,
  ],
  exports: [PdpEngine],
})
export class PolicyModule {}
