import { Logger, Module } from '@nestjs/common';
import type { Directory } from '@writ/directory';
import { BearerGuard, DirectoryCloser, SERVICE_CONFIG, SERVICE_DIRECTORY, busLoggerOf, directoryProvider, packageVersion } from '@writ/runtime';
import type { PolicyServiceConfig } from './config.ts';
import { DecideController } from './decide.controller.ts';
import { PDP_SETUP, POLICY_DLQ, POLICY_SETS, PdpEngine } from './pdp.engine.ts';
import { PolicySets } from './policy-sets.ts';
import { PolicySetsController } from './policy-sets.controller.ts';
import { loadPdpSetup } from './setup.ts';

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
          logger: busLoggerOf(new Logger('policy')),
        }),
    },
    {
      provide: PDP_SETUP,
      inject: [SERVICE_CONFIG, POLICY_SETS, SERVICE_DIRECTORY],
      useFactory: (config: PolicyServiceConfig, sets: PolicySets, directory: Directory) => loadPdpSetup(config, sets, directory),
    },
    PdpEngine,
  ],
  exports: [PdpEngine],
})
export class PolicyModule {}
