import { Module } from '@nestjs/common';

/** The planner service: run and action state machines: admits, orchestrates and expires actions. */
@Module({})
export class PlannerModule {}
