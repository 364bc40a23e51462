import { afterEach, describe, expect, it } from 'vitest';
import { decodeEvent } from '@writ/contracts';
import type { ActionProposed } from '@writ/contracts';
import { sampleEvent } from '@writ/contracts/testing';
import { testKafkaBrokers, uniqueName, waitFor } from '@writ/testing';
import { silentLogger } from './logger.ts';
import type { OutgoingEvent } from './serde.ts';
import { EventProducer } from './producer.ts';
import { committedOffsets, createTestTopics, readTopicToEnd } from './testing/index.ts';
import { runTransactional } from './transactional.ts';
import type { TransactionalHandler, TransactionalProcessor, TransactionalProcessorOptions } from './transactional.ts';

const brokers = testKafkaBrokers();
const running: TransactionalProcessor[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((p) => p.stop()));
});

async function setup(prefix: string, outputConfigs: Record<string, string> = {}, partitions = 1) {
  const input = uniqueName(prefix);
  const output = `${input}_out`;
  const groupId = `g_${input}`;
  await createTestTopics(brokers, [{ name: input, partitions }, { name: output, configs: outputConfigs }, { name: `${groupId}.dlq` }]);
  const producer = new EventProducer({ brokers, clientId: 'tx-input' });
  await producer.connect();
  const run = async (
    handler: TransactionalHandler,
    onAbort?: (error: unknown) => void,
    maxBatchSize?: number,
    offsetsOnlyLingerMs?: number,
    onCommitted?: (events: readonly OutgoingEvent[]) => void,
    deferrable?: TransactionalProcessorOptions['deferrable'],
  ) => {
    const processor = await runTransactional({
      brokers,
      groupId,
      topics: [input],
      transactionalId: `${groupId}-tx`,
      handler,
      logger: silentLogger,
      retry: { maxAttempts: 2, initialBackoffMs: 20, maxBackoffMs: 100 },
      ...(onAbort === undefined ? {} : { onAbort }),
      ...(maxBatchSize === undefined ? {} : { maxBatchSize }),
      ...(offsetsOnlyLingerMs === undefined ? {} : { offsetsOnlyLingerMs }),
      ...(onCommitted === undefined ? {} : { onCommitted }),
      ...(deferrable === undefined ? {} : { deferrable }),
    });
    running.push(processor);
    return processor;
  };
  return { input, output, groupId, producer, run };
}

/** ActionAdmitted caused by `input`, with `padding` characters of arguments to make it large. */
function admittedFor(input: ActionProposed, output: string, padding = 0) {
  const admitted = sampleEvent('ActionAdmitted', { run_id: input.meta.run_id, causation_id: input.meta.event_id });
  return { type: 'ActionAdmitted' as const, topic: output, payload: { ...admitted, arguments_json: `{"pad":"${'x'.repeat(padding)}"}` } };
}

const causeOf = (value: Buffer | null): string | null => decodeEvent(value ?? Buffer.alloc(0)).payload.meta.causation_id;

describe('TransactionalProcessor against a real broker', () => {
  it('aborts when the broker refuses an output, dead-letters the input responsible, and commits the rest once (and tells each once)', async () => {
    const { input, output, groupId, producer, run } = await setup('tx_refused', { 'max.message.bytes': '2048' });
    const inputs = Array.from({ length: 4 }, (_, i) => sampleEvent('ActionProposed', { run_id: `run-${i}` }));
    await producer.send(inputs.map((payload) => ({ type: 'ActionProposed', topic: input, payload })));
    await producer.disconnect();
    const hugeId = inputs[2]?.meta.event_id;

    const aborts: unknown[] = [];
    const told: (string | null)[] = [];
    await run(
      (event) => {
        if (event.type !== 'ActionProposed') throw new Error(`unexpected ${event.type}`);
        return [admittedFor(event.payload, output, event.payload.meta.event_id === hugeId ? 10_000 : 0)];
      },
      (error) => aborts.push(error),
      undefined,
      undefined,
      (events) => told.push(...events.map((e) => e.payload.meta.causation_id)),
    );
    await waitFor(async () => (await committedOffsets(brokers, groupId, input)).get(0) === '4', {
      what: 'all four inputs committed',
      timeoutMs: 30_000,
    });

    // The refusal aborted transactions holding the other inputs' outputs too; they were redone
    // and each still appears exactly once.
    expect(String(aborts[0])).toMatch(/too large/i);
    const committed = await readTopicToEnd(brokers, output, { readCommitted: true });
    expect(committed.map((r) => causeOf(r.value))).toEqual(inputs.filter((p) => p.meta.event_id !== hugeId).map((p) => p.meta.event_id));
    // onCommitted heard of exactly what was committed: never an output of an aborted transaction, the redone ones once.
    await waitFor(() => told.length >= committed.length || undefined, { what: 'onCommitted told of the last transaction', timeoutMs: 5_000 });
    expect(told).toEqual(committed.map((r) => causeOf(r.value)));
    const dlq = await readTopicToEnd(brokers, `${groupId}.dlq`, { readCommitted: true });
    expect(dlq).toHaveLength(1);
    expect(dlq[0]?.headers['writ-dlq-code']).toBe('KAFKA_ERR_MSG_SIZE_TOO_LARGE');
    expect(dlq[0]?.headers['writ-dlq-source-offset']).toBe('2');
    expect(decodeEvent(dlq[0]?.value ?? Buffer.alloc(0)).payload.meta.event_id).toBe(hugeId);
  });

  it('sends poison to the DLQ in the same transaction as the outputs and offsets', async () => {
    const { input, output, groupId, producer, run } = await setup('tx_poison');
    const first = sampleEvent('ActionProposed');
    const last = sampleEvent('ActionProposed');
    await producer.send([{ type: 'ActionProposed', topic: input, payload: first }]);
    await producer.sendRecords([{ topic: input, key: 'run-x', value: Buffer.from('garbage') }]);
    await producer.send([{ type: 'ActionProposed', topic: input, payload: last }]);
    await producer.disconnect();

    await run((event) => {
      if (event.type !== 'ActionProposed') throw new Error(`unexpected ${event.type}`);
      return [admittedFor(event.payload, output)];
    });
    await waitFor(async () => (await committedOffsets(brokers, groupId, input)).get(0) === '3', { what: 'inputs committed' });

    const outputs = await readTopicToEnd(brokers, output, { readCommitted: true });
    expect(outputs.map((r) => causeOf(r.value))).toEqual([first.meta.event_id, last.meta.event_id]);
    const dlq = await readTopicToEnd(brokers, `${groupId}.dlq`, { readCommitted: true });
    expect(dlq).toHaveLength(1);
    expect(dlq[0]?.value?.toString()).toBe('garbage');
    expect(dlq[0]?.headers['writ-dlq-code']).toBe('EVENT_UNDECODABLE');
  });

  it('treats an output that breaks its schema as the input failing: DLQ, no output', async () => {
    const { input, output, groupId, producer, run } = await setup('tx_invalid');
    const payload = sampleEvent('ActionProposed');
    await producer.send([{ type: 'ActionProposed', topic: input, payload }]);
    await producer.disconnect();

    await run((event) => {
      if (event.type !== 'ActionProposed') throw new Error(`unexpected ${event.type}`);
      const bad = admittedFor(event.payload, output);
      return [{ ...bad, payload: { ...bad.payload, args_sha256: 'nope' } }];
    });
    await waitFor(async () => (await committedOffsets(brokers, groupId, input)).get(0) === '1', { what: 'input committed' });
    expect(await readTopicToEnd(brokers, output)).toEqual([]);
    const dlq = await readTopicToEnd(brokers, `${groupId}.dlq`);
    expect(dlq.map((r) => r.headers['writ-dlq-code'])).toEqual(['EVENT_INVALID']);
    expect(dlq[0]?.headers['writ-dlq-reason']).toContain('args_sha256');
  });

  it('commits the batches of several partitions in one transaction, and after a refusal in such a group still commits each output once', async () => {
    // Room for a record batch of every normal output at once (~500 bytes each), not for the huge one.
    const { input, output, groupId, producer, run } = await setup('tx_group', { 'max.message.bytes': '262144' }, 3);
    const inputs = Array.from({ length: 240 }, (_, i) => sampleEvent('ActionProposed', { run_id: `run-${i % 12}` }));
    const hugeId = inputs[150]?.meta.event_id;
    const send = (batch: readonly ActionProposed[]) => producer.send(batch.map((payload) => ({ type: 'ActionProposed', topic: input, payload })));
    const committedInputs = async () => [...(await committedOffsets(brokers, groupId, input)).values()].reduce((sum, offset) => sum + Number(offset), 0);

    // Already on the topic when the processor starts, so they are consumed faster than committed.
    await send(inputs.slice(0, 120));
    const aborts: unknown[] = [];
    const processor = await run(
      (event) => {
        if (event.type !== 'ActionProposed') throw new Error(`unexpected ${event.type}`);
        return [admittedFor(event.payload, output, event.payload.meta.event_id === hugeId ? 400_000 : 0)];
      },
      (error) => aborts.push(error),
      // One input per batch: handling one takes far less than a transaction, so while one commits
      // the other partitions' batches are handled and queue for the next transaction.
      1,
    );
    await waitFor(async () => (await committedInputs()) === 120, { what: 'the first half committed', timeoutMs: 60_000 });
    // Batches of the three partitions shared transactions.
    expect(processor.stats.transactions).toBeLessThan(processor.stats.batches / 2);
    expect(aborts).toEqual([]);

    // The refused output's group aborts; its partitions are consumed again one input per
    // transaction until the culprit is found and dead-lettered.
    await send(inputs.slice(120));
    await producer.disconnect();
    await waitFor(async () => (await committedInputs()) === inputs.length, { what: 'every input committed', timeoutMs: 60_000 });

    expect(String(aborts[0])).toMatch(/too large/i);
    const committed = (await readTopicToEnd(brokers, output, { readCommitted: true })).map((r) => causeOf(r.value));
    const expected = inputs.filter((p) => p.meta.event_id !== hugeId).map((p) => p.meta.event_id);
    expect(committed).toHaveLength(expected.length);
    expect(new Set(committed)).toEqual(new Set(expected));
    const dlq = await readTopicToEnd(brokers, `${groupId}.dlq`, { readCommitted: true });
    expect(dlq.map((r) => decodeEvent(r.value ?? Buffer.alloc(0)).payload.meta.event_id)).toEqual([hugeId]);
  });

  // The processor's producers take turns (TRANSACTIONAL_PRODUCERS): a newer instance with the same
  // transactionalId must fence every one of them, or the turn that was not fenced would still commit.
  it.each([1, 2])('is fenced on either producer turn by a newer instance with its transactionalId (%i transactions before)', async (before) => {
    const { input, output, groupId, producer } = await setup(`tx_turns${before}`);
    const transactionalId = `${groupId}-tx`;
    const fatal: unknown[] = [];
    const inputs = Array.from({ length: before + 1 }, () => sampleEvent('ActionProposed'));
    const first = await runTransactional({
      brokers,
      groupId,
      topics: [input],
      transactionalId,
      logger: silentLogger,
      handler: (event) => (event.type === 'ActionProposed' ? [admittedFor(event.payload, output)] : []),
      onFatal: (error) => fatal.push(error),
    });
    running.push(first);
    // One transaction each: every input is committed before the next is sent.
    for (const [i, payload] of inputs.slice(0, before).entries()) {
      await producer.send([{ type: 'ActionProposed', topic: input, payload }]);
      await waitFor(async () => (await committedOffsets(brokers, groupId, input)).get(0) === String(i + 1), { what: `input ${i} committed` });
    }
    expect(first.stats.transactions).toBe(before);

    // The newcomer consumes something else; starting, it initialises the transactions of its ids.
    const other = uniqueName('tx_turns_other');
    await createTestTopics(brokers, [{ name: other }, { name: `g_${other}.dlq` }]);
    const second = await runTransactional({
      brokers,
      groupId: `g_${other}`,
      topics: [other],
      transactionalId,
      logger: silentLogger,
      handler: () => [],
      onFatal: (error) => fatal.push(new Error(`the newcomer was fenced: ${String(error)}`)),
    });
    running.push(second);

    await producer.send([{ type: 'ActionProposed', topic: input, payload: inputs[before] ?? sampleEvent('ActionProposed') }]);
    await producer.disconnect();
    await waitFor(() => fatal.length > 0, { what: 'the older processor told it is fenced', timeoutMs: 30_000 });
    expect(String(fatal[0])).not.toContain('newcomer');
    const committed = await readTopicToEnd(brokers, output, { readCommitted: true });
    expect(committed.map((r) => causeOf(r.value))).toEqual(inputs.slice(0, before).map((p) => p.meta.event_id));
  });

  it('holds the offsets of a batch that publishes nothing for the next transaction, instead of a commit of their own', async () => {
    const { input, output, groupId, producer, run } = await setup('tx_linger');
    const quiet = sampleEvent('ActionProposed', { run_id: 'run-quiet' });
    const loud = sampleEvent('ActionProposed', { run_id: 'run-loud' });
    const handled: string[] = [];
    const processor = await run(
      (event) => {
        if (event.type !== 'ActionProposed') throw new Error(`unexpected ${event.type}`);
        handled.push(event.payload.meta.run_id);
        return event.payload.meta.run_id === 'run-loud' ? [admittedFor(event.payload, output)] : [];
      },
      undefined,
      undefined,
      5_000,
    );
    await producer.send([{ type: 'ActionProposed', topic: input, payload: quiet }]);
    await waitFor(() => handled.includes('run-quiet'), { what: 'the quiet input handled', timeoutMs: 30_000 });
    await new Promise((resolve) => setTimeout(resolve, 300));
    // Handled, and its offset not committed yet: it waits for a batch that publishes.
    expect((await committedOffsets(brokers, groupId, input)).get(0)).toBeUndefined();
    await producer.send([{ type: 'ActionProposed', topic: input, payload: loud }]);
    await producer.disconnect();
    await waitFor(async () => (await committedOffsets(brokers, groupId, input)).get(0) === '2', { what: 'both inputs committed', timeoutMs: 30_000 });
    // One transaction carried both batches: the quiet one's offsets went with the loud one's output.
    expect(processor.stats).toEqual({ transactions: 1, batches: 2 });
    expect((await readTopicToEnd(brokers, output, { readCommitted: true })).map((r) => causeOf(r.value))).toEqual([loud.meta.event_id]);
  });

  it('holds an output that may wait (deferrable) for the next one that may not, in one transaction; alone, it commits after its wait', async () => {
    const { input, output, groupId, producer, run } = await setup('tx_defer');
    const admit = sampleEvent('ActionProposed', { run_id: 'run-admit' });
    const next = sampleEvent('ActionProposed', { run_id: 'run-next' });
    const alone = sampleEvent('ActionProposed', { run_id: 'run-alone' });
    const handled: string[] = [];
    const processor = await run(
      (event) => {
        if (event.type !== 'ActionProposed') throw new Error(`unexpected ${event.type}`);
        handled.push(event.payload.meta.run_id);
        if (event.payload.meta.run_id !== 'run-next') return [admittedFor(event.payload, output)];
        const completed = sampleEvent('ActionCompleted', { run_id: 'run-next', causation_id: event.payload.meta.event_id });
        return [{ type: 'ActionCompleted' as const, topic: output, payload: completed }];
      },
      undefined,
      undefined,
      undefined,
      undefined,
      { events: ['ActionAdmitted'], maxWaitMs: 2_000 },
    );
    await producer.send([{ type: 'ActionProposed', topic: input, payload: admit }]);
    await waitFor(() => handled.includes('run-admit'), { what: 'the admission handled', timeoutMs: 30_000 });
    await new Promise((resolve) => setTimeout(resolve, 300));
    // Handled, and not committed: the admission waits for an output that may not.
    expect((await committedOffsets(brokers, groupId, input)).get(0)).toBeUndefined();
    await producer.send([{ type: 'ActionProposed', topic: input, payload: next }]);
    await waitFor(async () => (await committedOffsets(brokers, groupId, input)).get(0) === '2', { what: 'both inputs committed', timeoutMs: 30_000 });
    expect(processor.stats).toEqual({ transactions: 1, batches: 2 });
    // Alone, an admission commits once its wait is over: in a transaction of its own.
    await producer.send([{ type: 'ActionProposed', topic: input, payload: alone }]);
    await producer.disconnect();
    await waitFor(async () => (await committedOffsets(brokers, groupId, input)).get(0) === '3', { what: 'the lone admission committed', timeoutMs: 30_000 });
    expect(processor.stats).toEqual({ transactions: 2, batches: 3 });
    expect((await readTopicToEnd(brokers, output, { readCommitted: true })).map((r) => causeOf(r.value))).toEqual([
      admit.meta.event_id,
      next.meta.event_id,
      alone.meta.event_id,
    ]);
  });

  it('emits outputs of no input (as a timer does) in its transactions, in handling order with the inputs', async () => {
    const { input, output, groupId, producer, run } = await setup('tx_emit');
    const first = sampleEvent('ActionProposed');
    await producer.send([{ type: 'ActionProposed', topic: input, payload: first }]);
    const processor = await run((event) => (event.type === 'ActionProposed' ? [admittedFor(event.payload, output)] : []));
    await waitFor(async () => (await committedOffsets(brokers, groupId, input)).get(0) === '1', { what: 'the input committed' });

    const timer = sampleEvent('ActionProposed');
    expect(await processor.emit(() => [admittedFor(timer, output)])).toBe('committed');
    expect(await processor.emit(() => [])).toBe('nothing');
    expect(await processor.emit(() => null)).toBe('nothing');
    const last = sampleEvent('ActionProposed');
    await producer.send([{ type: 'ActionProposed', topic: input, payload: last }]);
    await producer.disconnect();
    await waitFor(async () => (await committedOffsets(brokers, groupId, input)).get(0) === '2', { what: 'the second input committed' });

    const committed = await readTopicToEnd(brokers, output, { readCommitted: true });
    expect(committed.map((r) => causeOf(r.value))).toEqual([first, timer, last].map((p) => p.meta.event_id));
    await processor.stop();
    expect(await processor.emit(() => [admittedFor(sampleEvent('ActionProposed'), output)])).toBe('nothing');
  });

  it('reports an emitted output whose transaction aborted, after the owner rebuilt (onAbort), and commits nothing of it', async () => {
    const { input, output, groupId, producer, run } = await setup('tx_emit_abort', { 'max.message.bytes': '2048' });
    const aborts: unknown[] = [];
    const processor = await run(
      (event) => (event.type === 'ActionProposed' ? [admittedFor(event.payload, output)] : []),
      (error) => aborts.push(error),
    );
    await processor.assigned(30_000);
    // Too large for the output topic: the broker refuses it, the transaction aborts.
    const huge = sampleEvent('ActionProposed');
    expect(await processor.emit(() => [admittedFor(huge, output, 10_000)])).toBe('aborted');
    expect(String(aborts[0])).toMatch(/too large/i);
    // The processor goes on: an input after it commits.
    const next = sampleEvent('ActionProposed');
    await producer.send([{ type: 'ActionProposed', topic: input, payload: next }]);
    await producer.disconnect();
    await waitFor(async () => (await committedOffsets(brokers, groupId, input)).get(0) === '1', { what: 'the input committed' });
    const committed = await readTopicToEnd(brokers, output, { readCommitted: true });
    expect(committed.map((r) => causeOf(r.value))).toEqual([next.meta.event_id]);
  });
});
