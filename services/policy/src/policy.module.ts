import { Module } from '@nestjs/common';
import { SERVICE_CONFIG } from '@writ/runtime';
import type { PolicyServiceConfig } from './config.ts';
import { DecideController } from './decide.controller.ts';
import { PDP_SETUP, PdpEngine } from './pdp.engine.ts';
import { loadPdpSetup } from './setup.ts';

/** The policy service: policy decision point: Cedar decisions, approvals and warrants. */
@Module({
  controllers: [DecideController],
  providers: [
    { provide: PDP_SETUP, inject: [SERVICE_CONFIG], useFactory: (config: PolicyServiceConfig) => loadPdpSetup(config) },
    PdpEngine,
  ],
  exports: [PdpEngine],
})
export class PolicyModule {}
