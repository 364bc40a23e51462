import { Module } from '@nestjs/common';
import type { Directory } from '@writ/directory';
import { BearerGuard, DirectoryCloser, SERVICE_CONFIG, SERVICE_DIRECTORY, directoryProvider } from '@writ/runtime';
import type { PolicyServiceConfig } from './config.ts';
import { DecideController } from './decide.controller.ts';
import { PDP_SETUP, PdpEngine } from './pdp.engine.ts';
import { loadPdpSetup } from './setup.ts';

/** The policy service: policy decision point: Cedar decisions, approvals and warrants. */
@Module({
  controllers: [DecideController],
  providers: [
    directoryProvider(),
    DirectoryCloser,
    BearerGuard,
    {
      provide: PDP_SETUP,
      inject: [SERVICE_CONFIG, SERVICE_DIRECTORY],
      useFactory: (config: PolicyServiceConfig, directory: Directory) => loadPdpSetup(config, directory),
    },
    PdpEngine,
  ],
  exports: [PdpEngine],
})
export class PolicyModule {}
