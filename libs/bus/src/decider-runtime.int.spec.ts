// The decider runtime against a real broker, with a small decider: a count per run, an output per
// input, and a timer that closes a run of three inputs. What the services rely on: each input
// stepped on its key's state once, a timer's output committed through the loop, the state read
// back from the topics by a restarted instance, and a failed send read back, not remembered.
import { afterEach, describe, expect, it } from 'vitest';
import { decodeEvent } from '@writ/contracts';
import { sampleEvent } from '@writ/contracts/testing';
import { testKafkaBrokers, uniqueName, waitFor } from '@writ/testing';
import { DeciderRuntime } from './decider-runtime.ts';
import type { DeciderLoop, DeciderSlot, DeciderSpec } from './decider-runtime.ts';
import { silentLogger } from './logger.ts';
import { EventProducer } from './producer.ts';
import { replayCommitted } from './replay.ts';
import type { OutgoingEvent } from './serde.ts';
import { createTestTopics, readTopicToEnd } from './testing/index.ts';

const brokers = testKafkaBrokers();
const running: DeciderRuntime<unknown, unknown>[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((runtime) => runtime.stop()));
});

interface Count {
  readonly steps: number;
  readonly closed: boolean;
}

const CLOSE_AFTER_MS = 300;
/** The timer's output is told apart by its agent. */
const CLOSER = 'closer';

/** An output of `run` on `topic` (ActionAdmitted, its agent saying whether the timer made it). */
function outputOf(topic: string, run: string, causation: string | null): OutgoingEvent {
  const payload = sampleEvent('ActionAdmitted', { run_id: run, causation_id: causation });
  return { type: 'ActionAdmitted', topic, payload: { ...payload, agent_id: causation === null ? CLOSER : payload.agent_id } };
}

/** The counting decider: reads its outputs back to rebuild. */
function counter(output: string, options: { readonly timers: boolean; readonly reads?: { count: number } }): DeciderSpec<{ readonly cause: string }, Count> {
  return {
    name: 'counter',
    route: (event, ctx) => {
      if (event.type !== 'ActionProposed') return null;
      const meta = event.payload.meta;
      return {
        key: meta.run_id,
        tenant: meta.tenant_id,
        partition: ctx.partition,
        input: { cause: meta.event_id },
        span: { name: 'counter.step', attributes: {} },
      };
    },
    initial: () => ({ steps: 0, closed: false }),
    step: ({ cause }, slot) => ({
      state: { ...slot.state, steps: slot.state.steps + 1 },
      outputs: [outputOf(output, slot.key, cause)],
      deadline: slot.state.steps + 1 === 3 ? Date.now() + CLOSE_AFTER_MS : null,
    }),
    rebuild: async () => {
      if (options.reads !== undefined) options.reads.count += 1;
      const runs = new Map<string, DeciderSlot<Count> & { state: Count }>();
      await replayCommitted(brokers, [output], ({ value, partition }) => {
        if (value === null) return;
        const decoded = decodeEvent(value);
        if (decoded.type !== 'ActionAdmitted') return;
        const run = decoded.payload.meta.run_id;
        const state = runs.get(run)?.state ?? { steps: 0, closed: false };
        const next = decoded.payload.agent_id === CLOSER ? { ...state, closed: true } : { ...state, steps: state.steps + 1 };
        runs.set(run, { state: next, tenant: decoded.payload.meta.tenant_id, partition });
      });
      return runs;
    },
    readsGainedPartitions: true,
    ...(options.timers
      ? {
          timers: {
            next: (state: Count) => (state.steps >= 3 && !state.closed ? Date.now() : null),
            expire: (run: string, slot: DeciderSlot<Count>, _now: number, open: (name: string, attributes: Record<string, string>) => unknown) => {
              if (slot.state.steps < 3 || slot.state.closed) return null;
              open('counter.close', { run });
              return { state: { ...slot.state, closed: true }, outputs: [outputOf(output, run, null)] };
            },
          },
        }
      : {}),
  };
}

async function setup(prefix: string, outputConfigs: Record<string, string> = {}) {
  const input = uniqueName(prefix);
  const output = `${input}_out`;
  const groupId = `g_${input}`;
  await createTestTopics(brokers, [{ name: input, partitions: 3 }, { name: output, partitions: 3, configs: outputConfigs }, { name: `${groupId}.dlq` }]);
  const producer = new EventProducer({ brokers, clientId: 'runtime-input', logger: silentLogger });
  await producer.connect();
  const propose = async (runs: readonly string[]) => {
    await producer.send(runs.map((run) => ({ type: 'ActionProposed' as const, topic: input, payload: sampleEvent('ActionProposed', { run_id: run }) })));
  };
  const transactional: DeciderLoop = {
    kind: 'transactional',
    options: { brokers, groupId, topics: [input], instanceId: '0', logger: silentLogger },
  };
  const acknowledged: DeciderLoop = {
    kind: 'acknowledged',
    producerClientId: `${groupId}.producer`,
    options: { brokers, groupId, topics: [input], instanceId: '0', logger: silentLogger, retry: { maxAttempts: 2, initialBackoffMs: 20, maxBackoffMs: 100 } },
  };
  const start = async <I, S>(spec: DeciderSpec<I, S>, loop: DeciderLoop) => {
    const runtime = new DeciderRuntime({ spec, loop, assignmentTimeoutMs: 30_000, logger: silentLogger });
    running.push(runtime as DeciderRuntime<unknown, unknown>);
    await runtime.start();
    return runtime;
  };
  const outputs = async () =>
    (await readTopicToEnd(brokers, output, { readCommitted: true })).map((record) => {
      const decoded = decodeEvent(record.value ?? Buffer.alloc(0));
      return decoded.type === 'ActionAdmitted' ? `${decoded.payload.meta.run_id}:${decoded.payload.agent_id === CLOSER ? 'closed' : 'step'}` : decoded.type;
    });
  const stop = async (runtime: DeciderRuntime<unknown, unknown>) => {
    running.splice(running.indexOf(runtime), 1);
    await runtime.stop();
  };
  return { input, output, groupId, producer, propose, transactional, acknowledged, start, outputs, stop };
}

describe('DeciderRuntime against a real broker', () => {
  it('steps each input once on its key, commits a timer’s output through the loop, and a restarted instance reads the same state back', async () => {
    const t = await setup('runtime_tx');
    const first = await t.start(counter(t.output, { timers: true }), t.transactional);
    await t.propose(['run-a', 'run-b', 'run-a', 'run-a']);
    await waitFor(async () => (await t.outputs()).length === 5, { what: 'four steps and run-a closed by its timer', timeoutMs: 30_000 });
    expect((await t.outputs()).sort()).toEqual(['run-a:closed', 'run-a:step', 'run-a:step', 'run-a:step', 'run-b:step']);
    expect(first.stateOf('run-a')).toEqual({ steps: 3, closed: true });
    expect(first.stateOf('run-b')).toEqual({ steps: 1, closed: false });
    expect(first.stats.transactions).toBeGreaterThan(0);
    await t.stop(first as DeciderRuntime<unknown, unknown>);

    // The same instance again (its transactional id and static membership): the state is read back,
    // so run-a's timer does not close it twice, and a new input of run-b counts from 1.
    const second = await t.start(counter(t.output, { timers: true }), t.transactional);
    expect(second.stateOf('run-a')).toEqual({ steps: 3, closed: true });
    await t.propose(['run-b', 'run-b']);
    await waitFor(async () => (await t.outputs()).length === 8, { what: 'run-b stepped to three and closed', timeoutMs: 30_000 });
    await new Promise((resolve) => setTimeout(resolve, CLOSE_AFTER_MS * 2));
    expect((await t.outputs()).filter((o) => o.endsWith(':closed')).sort()).toEqual(['run-a:closed', 'run-b:closed']);
    expect(second.stateOf('run-b')).toEqual({ steps: 3, closed: true });
    await t.producer.disconnect();
  });

  it('acknowledged loop: sends as decided; a send the broker refuses is read back from the topics, not remembered, and its input dead-lettered', async () => {
    const t = await setup('runtime_ack', { 'max.message.bytes': '2048' });
    const reads = { count: 0 };
    const spec = counter(t.output, { timers: false, reads });
    const huge: DeciderSpec<{ readonly cause: string }, Count> = {
      ...spec,
      step: (input, slot, span, now) => {
        const step = spec.step(input, slot, span, now);
        if (slot.key !== 'run-huge') return step;
        const [output] = step.outputs;
        if (output?.type !== 'ActionAdmitted') return step;
        return { ...step, outputs: [{ ...output, payload: { ...output.payload, arguments_json: `{"pad":"${'x'.repeat(10_000)}"}` } }] };
      },
    };
    const runtime = await t.start(huge, t.acknowledged);
    expect(reads.count).toBe(1);
    await t.propose(['run-ok', 'run-huge', 'run-ok']);
    await waitFor(async () => (await readTopicToEnd(brokers, `${t.groupId}.dlq`, { readCommitted: true })).length === 1, {
      what: 'the refused input dead-lettered',
      timeoutMs: 30_000,
    });
    // The refused send marked the state stale; the next input waits for it to be read again.
    await t.propose(['run-ok']);
    await waitFor(() => runtime.stateOf('run-ok')?.steps === 3 || undefined, { what: 'run-ok stepped three times', timeoutMs: 30_000 });
    expect(await t.outputs()).toEqual(['run-ok:step', 'run-ok:step', 'run-ok:step']);
    // run-huge's step, never on the topic, is forgotten.
    expect(reads.count).toBeGreaterThan(1);
    expect(runtime.stateOf('run-huge')?.steps ?? 0).toBe(0);
    await t.producer.disconnect();
  });

  it('refuses timers on the acknowledged loop, naming the field', async () => {
    const t = await setup('runtime_cfg');
    expect(() => new DeciderRuntime({ spec: counter(t.output, { timers: true }), loop: t.acknowledged, assignmentTimeoutMs: 1_000 })).toThrow(
      /timers need the transactional loop/,
    );
    await t.producer.disconnect();
  });
});
