import { Module } from '@nestjs/common';

/** The gateway service: HTTP API for agents and approvers; answers waiting agents with outcomes. */
@Module({})
export class GatewayModule {}
