import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { decodeEvent } from '@writ/contracts';
import { sampleEvent } from '@writ/contracts/testing';
import { testKafkaBrokers, uniqueName, waitFor } from '@writ/testing';
import { EventProducer } from './producer.ts';
import { WORKER_FIXTURE_PATH, committedOffsets, createTestTopics, endOffsets, readTopicToEnd } from './testing/index.ts';
import type { WorkerEnv } from './testing/index.ts';

const brokers = testKafkaBrokers();
const scratch = mkdtempSync(join(tmpdir(), 'writ-bus-crash-'));
const children: ChildProcess[] = [];
const EVENTS = 150;

afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

interface Worker {
  readonly child: ChildProcess;
  readonly exited: Promise<void>;
}

function spawnWorker(env: WorkerEnv): Worker {
  const child = spawn(process.execPath, ['--conditions=writ-source', WORKER_FIXTURE_PATH], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  children.push(child);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return { child, exited };
}

function handledIds(log: string): string[] {
  try {
    return readFileSync(log, 'utf8')
      .split('\n')
      .filter((line) => line !== '');
  } catch {
    return [];
  }
}

/** Produces EVENTS ActionProposed over 12 runs (so every partition gets some); returns their ids. */
async function produceInputs(topic: string): Promise<string[]> {
  const producer = new EventProducer({ brokers, clientId: 'crash-input' });
  await producer.connect();
  try {
    const events = Array.from({ length: EVENTS }, (_, i) => ({
      type: 'ActionProposed' as const,
      topic,
      payload: sampleEvent('ActionProposed', { run_id: `run-${i % 12}` }),
    }));
    await producer.send(events);
    return events.map((e) => e.payload.meta.event_id);
  } finally {
    await producer.disconnect();
  }
}

async function allCommitted(groupId: string, topic: string): Promise<boolean> {
  const [committed, ends] = await Promise.all([committedOffsets(brokers, groupId, topic), endOffsets(brokers, topic)]);
  return [...ends].every(([partition, end]) => committed.get(partition) === end);
}

async function killMidStream(worker: Worker, log: string, after: number): Promise<number> {
  await waitFor(() => handledIds(log).length >= after, { what: `${after} events handled`, timeoutMs: 30_000, intervalMs: 20 });
  worker.child.kill('SIGKILL');
  await worker.exited;
  return handledIds(log).length;
}

describe('a worker killed with SIGKILL in the middle of a stream, then restarted', () => {
  it('EventConsumer resumes from its committed offsets: nothing is lost, little is repeated', async () => {
    const input = uniqueName('crash_in');
    const groupId = `g_${input}`;
    await createTestTopics(brokers, [{ name: input, partitions: 3 }, { name: `${groupId}.dlq` }]);
    const ids = await produceInputs(input);
    const log = join(scratch, `${input}.log`);
    const env: WorkerEnv = {
      WORKER_MODE: 'consumer',
      WRIT_KAFKA_BROKERS: brokers.join(','),
      INPUT_TOPIC: input,
      GROUP_ID: groupId,
      HANDLED_LOG: log,
      DELAY_MS: '8',
    };

    const handledBeforeKill = await killMidStream(spawnWorker(env), log, 60);
    expect(handledBeforeKill).toBeLessThan(EVENTS);

    const second = spawnWorker(env);
    await waitFor(() => allCommitted(groupId, input), { what: 'every input committed', timeoutMs: 60_000, intervalMs: 250 });
    second.child.kill('SIGTERM');
    await second.exited;

    const handled = handledIds(log);
    expect(new Set(handled)).toEqual(new Set(ids));
    // Only what was handled but not yet committed when the first worker died comes again:
    // at most one batch (32) per partition, never the whole stream.
    const repeated = handled.length - EVENTS;
    expect(repeated).toBeLessThanOrEqual(3 * 32);
    expect(handled.length - handledBeforeKill).toBeLessThan(EVENTS);
  });

  it('TransactionalProcessor produces each output exactly once, as read_committed readers see it', async () => {
    const input = uniqueName('eos_in');
    const output = `${input}_out`;
    const groupId = `g_${input}`;
    await createTestTopics(brokers, [{ name: input, partitions: 3 }, { name: output, partitions: 3 }, { name: `${groupId}.dlq` }]);
    const ids = await produceInputs(input);
    const log = join(scratch, `${input}.log`);
    const env: WorkerEnv = {
      WORKER_MODE: 'transactional',
      WRIT_KAFKA_BROKERS: brokers.join(','),
      INPUT_TOPIC: input,
      OUTPUT_TOPIC: output,
      GROUP_ID: groupId,
      HANDLED_LOG: log,
      DELAY_MS: '8',
    };

    const handledBeforeKill = await killMidStream(spawnWorker(env), log, 60);
    expect(handledBeforeKill).toBeLessThan(EVENTS);

    const second = spawnWorker(env);
    await waitFor(() => allCommitted(groupId, input), { what: 'every input committed', timeoutMs: 60_000, intervalMs: 250 });
    second.child.kill('SIGTERM');
    await second.exited;

    const outputs = await readTopicToEnd(brokers, output, { readCommitted: true });
    const causes = outputs.map((record) => {
      const event = decodeEvent(record.value ?? Buffer.alloc(0));
      expect(event.type).toBe('ActionAdmitted');
      return event.payload.meta.causation_id;
    });
    expect(causes).toHaveLength(EVENTS);
    expect(new Set(causes)).toEqual(new Set(ids));
    // Handlers did run more than once for some inputs (the batch in flight at the kill), yet
    // their output counted once: the aborted attempt's records are invisible to read_committed.
    expect(handledIds(log).length).toBeGreaterThanOrEqual(EVENTS);
  });
});
