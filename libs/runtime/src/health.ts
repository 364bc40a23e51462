import { Controller, Get, HttpStatus, Inject, Module, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import type { DynamicModule } from '@nestjs/common';
import { probeBrokers } from '@writ/bus';
import { describeError } from '@writ/errors';

export const SERVICE_IDENTITY = Symbol('SERVICE_IDENTITY');

export interface ServiceIdentity {
  readonly name: string;
  readonly version: string;
  readonly kafkaBrokers: readonly string[];
  readonly startedAt: number;
}

@Controller('health')
export class HealthController {
  constructor(@Inject(SERVICE_IDENTITY) private readonly identity: ServiceIdentity) {}

  /** Liveness: the process is up and serving HTTP. */
  @Get()
  live() {
    return {
      status: 'ok',
      service: this.identity.name,
      version: this.identity.version,
      uptime_s: Math.round((Date.now() - this.identity.startedAt) / 1000),
    };
  }

  /**
   * Readiness: a real metadata request to Kafka right now. Not ready answers 503 with the same body,
   * so a plain HTTP probe (Kubernetes, a load balancer) reads the status code alone.
   */
  @Get('ready')
  async ready(@Res({ passthrough: true }) reply: FastifyReply) {
    try {
      await probeBrokers(this.identity.kafkaBrokers, 2_000);
      return { status: 'ready', service: this.identity.name, kafka: 'reachable' };
    } catch (error) {
      void reply.status(HttpStatus.SERVICE_UNAVAILABLE);
      return { status: 'not_ready', service: this.identity.name, kafka: describeError(error) };
    }
  }
}

@Module({})
export class HealthModule {
  static forService(identity: ServiceIdentity): DynamicModule {
    return {
      module: HealthModule,
      controllers: [HealthController],
      providers: [{ provide: SERVICE_IDENTITY, useValue: identity }],
      exports: [SERVICE_IDENTITY],
    };
  }
}
