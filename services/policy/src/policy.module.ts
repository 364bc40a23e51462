import { Module } from '@nestjs/common';

/** The policy service: policy decision point: Cedar decisions, approvals and warrants. */
@Module({})
export class PolicyModule {}
