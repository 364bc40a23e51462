import { Module } from '@nestjs/common';

/** The executor service: governed tool proxy: validates, verifies warrants and reservations, calls tools. */
@Module({})
export class ExecutorModule {}
