// Test fixture, run in a child process by int tests (see WORKER_FIXTURE_PATH): Node strips the
// types, so no decorators, enums or parameter properties here or in what it imports.
import { appendFileSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { newMetadata } from '@writ/contracts';
import { sampleEvent } from '@writ/contracts/testing';
import { EventConsumer } from '../consumer.ts';
import { silentLogger } from '../logger.ts';
import { TransactionalProcessor } from '../transactional.ts';

function need(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === '') throw new Error(`worker fixture: ${name} is required`);
  return value;
}

const mode = need('WORKER_MODE');
const brokers = need('WRIT_KAFKA_BROKERS').split(',');
const groupId = need('GROUP_ID');
const topics = [need('INPUT_TOPIC')];
const handledLog = need('HANDLED_LOG');
const delayMs = Number(process.env['DELAY_MS'] ?? '0');
// Static membership: a restarted worker takes its predecessor's partitions at once instead of
// waiting for the dead member's session to time out.
const rdkafka = { 'group.instance.id': `${groupId}-worker`, 'session.timeout.ms': 10_000 };

const record = (eventId: string): void => appendFileSync(handledLog, `${eventId}\n`);

let worker: { start(): Promise<void>; stop(): Promise<void> };
if (mode === 'consumer') {
  worker = new EventConsumer({
    brokers,
    groupId,
    topics,
    rdkafka,
    logger: silentLogger,
    handler: async (event) => {
      await delay(delayMs);
      record(event.payload.meta.event_id);
    },
  });
} else {
  const outputTopic = need('OUTPUT_TOPIC');
  worker = new TransactionalProcessor({
    brokers,
    groupId,
    topics,
    rdkafka,
    logger: silentLogger,
    transactionalId: `${groupId}-tx`,
    handler: async (event) => {
      if (event.type !== 'ActionProposed') throw new Error(`unexpected ${event.type}`);
      const input = event.payload;
      await delay(delayMs);
      record(input.meta.event_id);
      const admitted = sampleEvent('ActionAdmitted');
      const meta = newMetadata({
        tenant_id: input.meta.tenant_id,
        run_id: input.meta.run_id,
        action_id: input.meta.action_id,
        causation_id: input.meta.event_id,
        producer: 'worker-fixture@0.0.0',
      });
      return [{ type: 'ActionAdmitted', payload: { ...admitted, meta }, topic: outputTopic }];
    },
  });
}

process.once('SIGTERM', () => {
  void worker.stop().then(() => process.exit(0));
});
await worker.start();
process.stdout.write('ready\n');
