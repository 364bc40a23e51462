import 'reflect-metadata';
import { Controller, Module } from '@nestjs/common';
import type { INestMicroservice } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Ctx, EventPattern, Payload } from '@nestjs/microservices';
import { lastValueFrom } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ActionProposed, RunStarted } from '@writ/contracts';
import { sampleEvent } from '@writ/contracts/testing';
import { WritError } from '@writ/errors';
import { testKafkaBrokers, uniqueName, waitFor } from '@writ/testing';
import { contractsSerde } from '../contracts-serde.ts';
import { silentLogger } from '../logger.ts';
import { createTestTopics, readTopicToEnd, withTopicSuffix } from '../testing/index.ts';
import { WritKafkaClient } from './client.ts';
import { WritEventExceptionFilter } from './exception-filter.ts';
import { WritKafkaServer } from './server.ts';
import type { WritKafkaContext } from './server.ts';

const received: { type: string; payload: unknown; topic: string }[] = [];

@Controller()
class PlannerLikeController {
  @EventPattern('ActionProposed')
  onProposed(@Payload() payload: ActionProposed, @Ctx() ctx: unknown): string {
    const context = ctx as WritKafkaContext;
    if (payload.reason === 'explode') throw new WritError('PLAN_INVALID', 'cannot plan this action');
    received.push({ type: context.getEvent().type, payload, topic: context.getEventContext().topic });
    return 'ignored: events have no replies';
  }

  @EventPattern('RunStarted')
  async onRunStarted(@Payload() payload: RunStarted): Promise<void> {
    await Promise.resolve();
    received.push({ type: 'RunStarted', payload, topic: '' });
  }
}

@Module({ controllers: [PlannerLikeController] })
class PlannerLikeModule {}

describe('Nest transport over the Writ bus', () => {
  const brokers = testKafkaBrokers();
  const suffix = uniqueName('nest');
  const serde = withTopicSuffix(contractsSerde, suffix);
  const groupId = `g_${suffix}`;
  const dlq = `${groupId}.dlq`;
  let app: INestMicroservice;
  const client = new WritKafkaClient({ brokers, clientId: 'nest-test', serde });

  beforeAll(async () => {
    // RunStarted and ActionProposed share a topic: create each topic once.
    const topics = new Set([serde.topicOf('ActionProposed'), serde.topicOf('RunStarted'), dlq]);
    await createTestTopics(
      brokers,
      [...topics].map((name) => ({ name })),
    );
    app = await NestFactory.createMicroservice(PlannerLikeModule, {
      strategy: new WritKafkaServer({ brokers, groupId, serde, logger: silentLogger, retry: { maxAttempts: 1 } }),
      logger: false,
    });
    app.useGlobalFilters(new WritEventExceptionFilter());
    await app.listen();
    await client.connect();
  });

  afterAll(async () => {
    await client.close();
    await app.close();
  });

  it('delivers emitted events to @EventPattern handlers by event type, and dead-letters handler failures', async () => {
    const proposed = sampleEvent('ActionProposed');
    const started = sampleEvent('RunStarted');
    const failing = { ...sampleEvent('ActionProposed'), reason: 'explode' };
    const sent = await lastValueFrom(client.emit('ActionProposed', proposed));
    expect(sent).toMatchObject({ type: 'ActionProposed', topic: serde.topicOf('ActionProposed') });
    await lastValueFrom(client.emit('ActionProposed', failing));
    await lastValueFrom(client.emit('RunStarted', started));

    await waitFor(() => received.length === 2, { what: 'two handled events', timeoutMs: 20_000 });
    expect(received).toContainEqual({ type: 'ActionProposed', payload: proposed, topic: serde.topicOf('ActionProposed') });
    expect(received).toContainEqual({ type: 'RunStarted', payload: started, topic: '' });

    const dead = await waitFor(
      async () => {
        const records = await readTopicToEnd(brokers, dlq);
        return records.length === 1 ? records : undefined;
      },
      { what: 'the failed event in the DLQ', intervalMs: 300 },
    );
    expect(dead[0]?.headers['writ-dlq-code']).toBe('PLAN_INVALID');
    expect(contractsSerde.decode(dead[0]?.value ?? Buffer.alloc(0)).payload).toEqual(failing);
  });

  it('refuses request-response: events only', async () => {
    await expect(lastValueFrom(client.send('ActionProposed', sampleEvent('ActionProposed')))).rejects.toMatchObject({ code: 'UNSUPPORTED' });
  });
});
