// Bus benchmark (not a test): per-hop latency at a steady 1,000 events/s, then the maximum
// sustained throughput of 1 KB events from one producer to one consumer, both through
// EventProducer/EventConsumer with the real Avro contracts. Like two services, the producer runs
// in this process and the consumer in a child process (same machine, so one clock). Prints the
// figures and replaces the "Bus" section of docs/benchmarks.md. From the repository root, with a
// broker up:
//   node --conditions=writ-source bench/bus/bus.bench.ts
// WRIT_KAFKA_BROKERS (default 127.0.0.1:27092), BENCH_LATENCY_SECONDS (20), BENCH_EVENTS (200000),
// BENCH_THROUGHPUT_LINGER_MS (5) and BENCH_NO_DOC=1 (print only) change what it does.
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  DEFAULT_LINGER_MS,
  EventConsumer,
  EventProducer,
  clientVersions,
  contractsSerde,
  createKafka,
  probeBrokers,
  runTransactional,
  silentLogger,
} from '@writ/bus';
import type { DecodedEvent, OutgoingEvent } from '@writ/bus';
import { createTestTopics } from '@writ/bus/testing';
import { uuidv7 } from '@writ/contracts';
import type { ActionProposed } from '@writ/contracts';
import { sampleEvent } from '@writ/contracts/testing';
import { actAsSuperUser, kafkaStatus } from '@writ/devstack';
import { cpuSeconds, machineLine, percentile, writeBenchmarkSection } from '../bench-doc.ts';

const SELF = fileURLToPath(import.meta.url);
const ROOT = join(dirname(SELF), '..', '..');
const brokers = (process.env['WRIT_KAFKA_BROKERS'] ?? '127.0.0.1:27092').split(',').map((b) => b.trim());
const RATE = 1_000;
const LATENCY_SECONDS = Number(process.env['BENCH_LATENCY_SECONDS'] ?? 20);
const WARMUP_SECONDS = 2;
const THROUGHPUT_EVENTS = Number(process.env['BENCH_EVENTS'] ?? 200_000);
const THROUGHPUT_LINGER_MS = Number(process.env['BENCH_THROUGHPUT_LINGER_MS'] ?? 5);
const EVENT_BYTES = 1_024;
const SENT_AT = 'bench-sent-at';

/** Wall-clock milliseconds with sub-millisecond resolution, comparable across processes. */
const nowMs = (): number => performance.timeOrigin + performance.now();
const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function waitUntil(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`benchmark: timed out waiting for ${what}`);
    await pause(5);
  }
}

// ---------------------------------------------------------------------------------------------
// The consumer side, in a child process: `bus.bench.ts consume <topic> <groupId> <count> <skip>`.
// It reports `ready` once it owns every partition, then `done` with what it measured.
// ---------------------------------------------------------------------------------------------
interface ConsumerReport {
  readonly latencies: number[];
  readonly firstAt: number;
  readonly lastAt: number;
}

async function consumeMain(topic: string, groupId: string, count: number, skip: number): Promise<void> {
  const latencies: number[] = [];
  let consumed = 0;
  let firstAt = 0;
  let lastAt = 0;
  const consumer = new EventConsumer({
    brokers,
    groupId,
    topics: [topic],
    logger: silentLogger,
    handler: (_event, ctx) => {
      const at = nowMs();
      consumed += 1;
      if (consumed === 1) firstAt = at;
      lastAt = at;
      const sentAt = ctx.headers[SENT_AT];
      if (sentAt !== undefined && consumed > skip) latencies.push(at - Number(sentAt));
    },
  });
  await consumer.start();
  await waitUntil(() => consumer.assignment().length === 3, 30_000, 'partition assignment');
  process.send?.({ ready: true });
  await waitUntil(() => consumed >= count, 180_000, `${count} events consumed`);
  await consumer.stop();
  const report: ConsumerReport = { latencies, firstAt, lastAt };
  // Disconnect only once the report is on its way, or it may be lost.
  process.send?.({ done: report }, undefined, {}, () => process.disconnect?.());
}

/** Starts the consumer child and resolves once it is ready; `done` resolves with its report. */
async function startConsumer(topic: string, groupId: string, count: number, skip: number): Promise<{ child: ChildProcess; done: Promise<ConsumerReport> }> {
  const child = fork(SELF, ['consume', topic, groupId, String(count), String(skip)], {
    execArgv: ['--conditions=writ-source'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let onReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => (onReady = resolve));
  const done = new Promise<ConsumerReport>((resolve, reject) => {
    child.on('message', (message: { ready?: boolean; done?: ConsumerReport }) => {
      if (message.ready === true) onReady();
      if (message.done !== undefined) resolve(message.done);
    });
    child.once('exit', (code) => reject(new Error(`consumer process exited (${code ?? 'signal'}) before reporting`)));
  });
  await Promise.race([ready, done.then(() => undefined)]);
  return { child, done };
}

// ---------------------------------------------------------------------------------------------
// Measures
// ---------------------------------------------------------------------------------------------
interface Distribution {
  readonly count: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
}

function distribution(samples: readonly number[]): Distribution {
  const sorted = [...samples].sort((a, b) => a - b);
  return { count: sorted.length, p50: percentile(sorted, 50), p90: percentile(sorted, 90), p99: percentile(sorted, 99), max: sorted.at(-1) ?? Number.NaN };
}

const runTag = `${Date.now().toString(36)}_${randomBytes(2).toString('hex')}`;

async function freshTopic(prefix: string): Promise<{ topic: string; groupId: string }> {
  const topic = `bench_${prefix}_${runTag}`;
  const groupId = `g_${topic}`;
  await createTestTopics(brokers, [{ name: topic, partitions: 3 }, { name: `${groupId}.dlq` }]);
  return { topic, groupId };
}

/** A new proposal: its own event id and time, spread over 12 runs (so over every partition). */
function proposal(base: ActionProposed, i: number, eventId: string = uuidv7()): ActionProposed {
  return { ...base, meta: { ...base.meta, event_id: eventId, occurred_at: Date.now(), run_id: `run-${i % 12}` } };
}

interface LatencyResult {
  readonly hop: Distribution;
  readonly ack: Distribution;
  readonly achievedRate: number;
  readonly eventBytes: number;
}

/** Per hop at a steady rate: send time (a header) to the consumer's handler, one clock. */
async function latency(): Promise<LatencyResult> {
  const { topic, groupId } = await freshTopic('latency');
  const total = RATE * (LATENCY_SECONDS + WARMUP_SECONDS);
  const warmup = RATE * WARMUP_SECONDS;
  const producer = new EventProducer({ brokers, clientId: 'bench-latency', logger: silentLogger });
  const [consumer] = await Promise.all([startConsumer(topic, groupId, total, warmup), producer.connect()]);

  const base = sampleEvent('ActionProposed');
  const eventBytes = contractsSerde.encode({ type: 'ActionProposed', payload: base }).length;
  const ack: number[] = [];
  let failures = 0;
  const start = nowMs();
  let sent = 0;
  while (sent < total) {
    const due = Math.min(total, Math.floor(((nowMs() - start) * RATE) / 1_000) + 1);
    while (sent < due) {
      const sentAt = nowMs();
      const event: OutgoingEvent = { type: 'ActionProposed', topic, payload: proposal(base, sent), headers: { [SENT_AT]: String(sentAt) } };
      const index = sent;
      producer.send([event]).then(
        () => {
          if (index >= warmup) ack.push(nowMs() - sentAt);
        },
        () => {
          failures += 1;
        },
      );
      sent += 1;
    }
    await pause(1);
  }
  const elapsed = (nowMs() - start) / 1_000;
  const report = await consumer.done;
  await producer.disconnect();
  if (failures > 0) throw new Error(`benchmark: ${failures} sends failed`);
  return { hop: distribution(report.latencies), ack: distribution(ack), achievedRate: total / elapsed, eventBytes };
}

interface ThroughputResult {
  readonly events: number;
  readonly eventBytes: number;
  readonly produceRate: number;
  readonly endToEndRate: number;
  readonly consumeRate: number;
  readonly lingerMs: number;
}

/** A proposal whose Avro encoding is EVENT_BYTES long (padding in arguments_json). */
function paddedBase(): ActionProposed {
  const base = sampleEvent('ActionProposed');
  for (let pad = 0; pad < EVENT_BYTES; pad++) {
    const candidate = { ...base, arguments_json: `{"p":"${'x'.repeat(pad)}"}` };
    if (contractsSerde.encode({ type: 'ActionProposed', payload: candidate }).length >= EVENT_BYTES) return candidate;
  }
  return base;
}

/** As fast as one producer can go, with one consumer (another process) keeping up. */
async function throughput(): Promise<ThroughputResult> {
  const { topic, groupId } = await freshTopic('throughput');
  const base = paddedBase();
  const eventBytes = contractsSerde.encode({ type: 'ActionProposed', payload: base }).length;
  const producer = new EventProducer({ brokers, clientId: 'bench-throughput', logger: silentLogger, lingerMs: THROUGHPUT_LINGER_MS });
  const [consumer] = await Promise.all([startConsumer(topic, groupId, THROUGHPUT_EVENTS, 0), producer.connect()]);

  // Event ids are made before the clock starts: UUIDv7 generation is the contracts' cost, not the bus's.
  const eventIds = Array.from({ length: THROUGHPUT_EVENTS }, () => uuidv7());
  const window = 20_000;
  let inFlight = 0;
  let acked = 0;
  let failures = 0;
  const start = nowMs();
  for (let i = 0; i < THROUGHPUT_EVENTS; i++) {
    while (inFlight >= window) await pause(1);
    inFlight += 1;
    producer.send([{ type: 'ActionProposed', topic, payload: proposal(base, i, eventIds[i]) }]).then(
      () => {
        inFlight -= 1;
        acked += 1;
      },
      () => {
        inFlight -= 1;
        failures += 1;
      },
    );
    if (i % 1_000 === 999) await new Promise((resolve) => setImmediate(resolve)); // let acknowledgements in
  }
  await waitUntil(() => acked + failures >= THROUGHPUT_EVENTS, 120_000, 'all sends acknowledged');
  const producedAt = nowMs();
  const report = await consumer.done;
  await producer.disconnect();
  if (failures > 0) throw new Error(`benchmark: ${failures} sends failed`);
  return {
    events: THROUGHPUT_EVENTS,
    eventBytes,
    produceRate: THROUGHPUT_EVENTS / ((producedAt - start) / 1_000),
    endToEndRate: THROUGHPUT_EVENTS / ((report.lastAt - start) / 1_000),
    consumeRate: THROUGHPUT_EVENTS / ((report.lastAt - report.firstAt) / 1_000),
    lingerMs: THROUGHPUT_LINGER_MS,
  };
}

// ---------------------------------------------------------------------------------------------
// What a transaction costs, phase by phase, and what idle polling costs the broker
// ---------------------------------------------------------------------------------------------
interface TransactionResult {
  readonly count: number;
  readonly phases: Readonly<Record<'begin' | 'send' | 'offsets' | 'commit' | 'total' | 'plain', { p50: number; p99: number }>>;
  /** Transactions begun as soon as the previous one committed: one producer, or producers taking turns. */
  readonly backToBack: Readonly<Record<'one' | 'turns', { p50: number; p99: number; retried: number }>>;
}

/** A transaction slower than this waited out the client's 20 ms AddPartitionsToTxn retry. */
const RETRIED_MS = 20;

const TRANSACTIONS = 300;

/**
 * One output record and one input offset per transaction, as a decider's hop with one input:
 * begin, send (librdkafka first adds the partition to the transaction: AddPartitionsToTxn),
 * sendOffsets (AddOffsetsToTxn + TxnOffsetCommit), commit (EndTxn). Against it, the same record
 * sent by an idempotent producer outside any transaction.
 */
async function transactionCost(): Promise<TransactionResult> {
  const { topic, groupId } = await freshTopic('txcost');
  const kafka = createKafka({ brokers, clientId: 'bench-txcost', logger: silentLogger });
  const transactional = kafka.producer({ 'linger.ms': 0, kafkaJS: { acks: -1, idempotent: true, transactionalId: `${groupId}.tx` } });
  const plain = kafka.producer({ 'linger.ms': 0, kafkaJS: { acks: -1, idempotent: true } });
  const consumer = kafka.consumer({ kafkaJS: { groupId, autoCommit: false } });
  await Promise.all([transactional.connect(), plain.connect(), consumer.connect()]);
  const value = contractsSerde.encode({ type: 'ActionProposed', payload: sampleEvent('ActionProposed') });
  const samples = {
    begin: [] as number[],
    send: [] as number[],
    offsets: [] as number[],
    commit: [] as number[],
    total: [] as number[],
    plain: [] as number[],
  };
  for (let i = 0; i < TRANSACTIONS + 30; i += 1) {
    const message = { key: `run-${i % 12}`, value };
    const t0 = nowMs();
    await transactional.transaction();
    const t1 = nowMs();
    await transactional.send({ topic, messages: [message] });
    const t2 = nowMs();
    await transactional.sendOffsets({ consumer, topics: [{ topic, partitions: [{ partition: i % 3, offset: String(i + 1) }] }] });
    const t3 = nowMs();
    await transactional.commit();
    const t4 = nowMs();
    await plain.send({ topic, messages: [message] });
    const t5 = nowMs();
    if (i < 30) continue; // warm-up
    samples.begin.push(t1 - t0);
    samples.send.push(t2 - t1);
    samples.offsets.push(t3 - t2);
    samples.commit.push(t4 - t3);
    samples.total.push(t4 - t0);
    samples.plain.push(t5 - t4);
  }
  // Back to back, as a busy processor commits: the next transaction begins as soon as the previous
  // one's EndTxn is answered, while the coordinator still writes its markers.
  const second = kafka.producer({ 'linger.ms': 0, kafkaJS: { acks: -1, idempotent: true, transactionalId: `${groupId}.tx~1` } });
  await second.connect();
  const backToBack = { one: [] as number[], turns: [] as number[] };
  for (const mode of ['one', 'turns'] as const) {
    for (let i = 0; i < TRANSACTIONS + 30; i += 1) {
      const producer = mode === 'turns' && i % 2 === 1 ? second : transactional;
      const t0 = nowMs();
      await producer.transaction();
      await producer.send({ topic, messages: [{ key: `run-${i % 12}`, value }] });
      await producer.sendOffsets({ consumer, topics: [{ topic, partitions: [{ partition: i % 3, offset: String(i + 1) }] }] });
      await producer.commit();
      if (i >= 30) backToBack[mode].push(nowMs() - t0);
    }
  }
  await Promise.all([transactional.disconnect(), second.disconnect(), plain.disconnect(), consumer.disconnect()]);
  const summary = (values: number[]) => {
    const sorted = values.sort((a, b) => a - b);
    return { p50: percentile(sorted, 50), p99: percentile(sorted, 99) };
  };
  const retried = (values: number[]) => ({ ...summary(values), retried: values.filter((v) => v >= RETRIED_MS).length });
  return {
    count: TRANSACTIONS,
    phases: {
      begin: summary(samples.begin),
      send: summary(samples.send),
      offsets: summary(samples.offsets),
      commit: summary(samples.commit),
      total: summary(samples.total),
      plain: summary(samples.plain),
    },
    backToBack: { one: retried(backToBack.one), turns: retried(backToBack.turns) },
  };
}

const NEIGHBOUR_SAMPLES = 40;
const NEIGHBOUR_HOLD_MS = 30;

interface NeighbourResult {
  /** b's send acknowledged → b handled, while a's handler holds for NEIGHBOUR_HOLD_MS / returns at once. */
  readonly consumerBusy: Distribution;
  readonly consumerIdle: Distribution;
  /** The same in a TransactionalProcessor whose a-input is committed in a transaction meanwhile. */
  readonly transactionBusy: Distribution;
}

/**
 * Does work in hand on one partition hold back a message of another? One consumer reads topics a
 * and b; a message is sent to a, then one to b 2 ms later, and b's latency from its
 * acknowledgement to its handler is measured, with a's handler holding for NEIGHBOUR_HOLD_MS or
 * not at all, and in a TransactionalProcessor whose a-input produces an output (so a transaction
 * commits while b arrives). The client hands no worker a new message while a batch handler runs,
 * so this is what the consumer's batch handler returning early is worth.
 */
async function neighbour(): Promise<NeighbourResult> {
  const run = async (kind: 'consumer' | 'transaction', holdMs: number): Promise<Distribution> => {
    const { topic: a, groupId } = await freshTopic(`neighbour_${kind}`);
    const b = `${a}_b`;
    const out = `${a}_out`;
    await createTestTopics(brokers, [{ name: b }, { name: out }]);
    const handled = new Map<string, number>();
    const handle = async (event: DecodedEvent): Promise<readonly OutgoingEvent[]> => {
      const reason = event.type === 'ActionProposed' ? event.payload.reason : '';
      if (reason.startsWith('b')) {
        handled.set(reason, nowMs());
        return [];
      }
      if (holdMs > 0) await pause(holdMs);
      return [{ type: 'ActionProposed', topic: out, payload: sampleEvent('ActionProposed') }];
    };
    const worker =
      kind === 'consumer'
        ? new EventConsumer({
            brokers,
            groupId,
            topics: [a, b],
            logger: silentLogger,
            partitionsConsumedConcurrently: 4,
            handler: async (event) => void (await handle(event)),
          })
        : await runTransactional({ brokers, groupId, topics: [a, b], transactionalId: `${groupId}.tx`, logger: silentLogger, handler: handle });
    if (worker instanceof EventConsumer) await worker.start();
    await worker.assigned(30_000);
    const producer = new EventProducer({ brokers, clientId: 'bench-neighbour' });
    await producer.connect();
    const base = sampleEvent('ActionProposed');
    const samples: number[] = [];
    for (let i = 0; i < NEIGHBOUR_SAMPLES + 5; i += 1) {
      await producer.send([{ type: 'ActionProposed', topic: a, payload: { ...base, reason: `a${i}` } }]);
      await pause(2);
      await producer.send([{ type: 'ActionProposed', topic: b, payload: { ...base, reason: `b${i}` } }]);
      const acked = nowMs();
      await waitUntil(() => handled.has(`b${i}`), 20_000, `b${i} handled`);
      if (i >= 5) samples.push((handled.get(`b${i}`) ?? acked) - acked);
      await pause(NEIGHBOUR_HOLD_MS + 20);
    }
    await producer.disconnect();
    await worker.stop();
    return distribution(samples);
  };
  return { consumerIdle: await run('consumer', 0), consumerBusy: await run('consumer', NEIGHBOUR_HOLD_MS), transactionBusy: await run('transaction', 0) };
}

const IDLE_CONSUMERS = 12;
const IDLE_SECONDS = 10;

/** Broker CPU (% of one core) while IDLE_CONSUMERS consumers of 3-partition topics wait for data that never comes. */
async function idlePolling(fetchWaitMs: number, brokerPid: number | undefined): Promise<number> {
  if (brokerPid === undefined) return Number.NaN;
  const { topic } = await freshTopic(`idle${fetchWaitMs}`);
  const consumers: EventConsumer[] = [];
  for (let i = 0; i < IDLE_CONSUMERS; i += 1) {
    const groupId = `bench-idle-${fetchWaitMs}-${i}-${Date.now()}`;
    await createTestTopics(brokers, [{ name: `${groupId}.dlq` }]);
    const consumer = new EventConsumer({
      brokers,
      groupId,
      topics: [topic],
      logger: silentLogger,
      rdkafka: { 'fetch.wait.max.ms': fetchWaitMs },
      handler: () => undefined,
    });
    await consumer.start();
    consumers.push(consumer);
  }
  await pause(5_000);
  const before = cpuSeconds(brokerPid);
  await pause(IDLE_SECONDS * 1_000);
  const used = cpuSeconds(brokerPid) - before;
  await Promise.all(consumers.map((consumer) => consumer.stop()));
  return (100 * used) / IDLE_SECONDS;
}

// ---------------------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------------------
async function kafkaVersion(): Promise<string> {
  if (process.env['WRIT_KAFKA_BROKERS'] !== undefined) return 'an external cluster (WRIT_KAFKA_BROKERS), version not probed';
  try {
    const jars = await readdir(join(ROOT, '.local', 'kafka', 'libs'));
    const jar = jars.find((name) => /^kafka_2\.13-[\d.]+\.jar$/.test(name));
    return jar === undefined ? 'Kafka (version unknown)' : `Apache Kafka ${jar.replace(/^kafka_2\.13-|\.jar$/g, '')}`;
  } catch {
    return 'Kafka (version unknown)';
  }
}

async function clientPackageVersion(): Promise<string> {
  const text = await readFile(join(ROOT, 'node_modules', '@confluentinc', 'kafka-javascript', 'package.json'), 'utf8');
  return (JSON.parse(text) as { version: string }).version;
}

const ms = (value: number): string => `${value.toFixed(2)} ms`;
const rate = (value: number): string => `${Math.round(value).toLocaleString('en-US')} events/s`;

function section(
  lat: LatencyResult,
  thr: ThroughputResult,
  tx: TransactionResult,
  near: NeighbourResult,
  idle: { readonly short: number; readonly long: number },
  env: Record<string, string>,
): string {
  const phase = (name: keyof TransactionResult['phases']): string => `${ms(tx.phases[name].p50)} / ${ms(tx.phases[name].p99)}`;
  const mib = (value: number): string => `${((value * thr.eventBytes) / 1_048_576).toFixed(1)} MiB/s`;
  return `## Bus

Measured ${env['date']} on ${env['machine']}; ${env['node']}; ${env['kafka']} (one local KRaft broker, replication 1, on the same cores); @confluentinc/kafka-javascript ${env['client']} (librdkafka ${env['librdkafka']}). Reproduce from the repository root with a broker up: \`node --conditions=writ-source bench/bus/bus.bench.ts\` (or \`npx nx run @writ/bus:bench\`). The producer runs in the benchmark's process, the consumer in a child process, as two services would.

| measure | result | aim |
|---|---|---|
| per-hop latency, send to handler, p50 (${rate(RATE)} steady, ${lat.eventBytes} B events, ${lat.hop.count.toLocaleString('en-US')} samples) | ${ms(lat.hop.p50)} | < 3 ms |
| per-hop latency p90 / p99 / max | ${ms(lat.hop.p90)} / ${ms(lat.hop.p99)} / ${ms(lat.hop.max)} | |
| producer acknowledgement (acks=all, idempotent) p50 / p99 | ${ms(lat.ack.p50)} / ${ms(lat.ack.p99)} | |
| sustained throughput, ${thr.eventBytes} B events, 1 producer to 1 consumer, first send to last handled | ${rate(thr.endToEndRate)} (${mib(thr.endToEndRate)}) | ≥ 20,000 events/s |
| producer alone (all ${thr.events.toLocaleString('en-US')} acknowledged) / consumer (first to last handled) | ${rate(thr.produceRate)} / ${rate(thr.consumeRate)} | |

Settings: the latency run uses the default producer linger.ms=${DEFAULT_LINGER_MS}; the throughput run linger.ms=${thr.lingerMs} (a batching producer; the latency path keeps the default). Every event has its own UUIDv7 (made before the throughput clock starts), is Avro-encoded and decoded with the real contracts, sent one \`send()\` call per event with acks=all and idempotence, and handled in order per partition; handled offsets are committed every 100 ms. Each send has a PRODUCER span and each handler runs in a CONSUMER span (no-op here: no OpenTelemetry SDK is registered).

What bounds it: ${thr.consumeRate < thr.produceRate * 0.9 ? `in this run the consumer (${rate(thr.consumeRate)} against the producer's ${rate(thr.produceRate)}: per event it decodes Avro, checks the schema's rules, runs the handler in a span and tracks the offset; the previous commit measured the same within 5 % in the same hour). Otherwise ` : ''}the producer's JavaScript thread. Per event it encodes Avro and checks the schema's rules, starts a span and writes the trace headers, and hands one message to the client with one promise; a CPU profile puts that near 45 µs per event, a fifth of it garbage collection, so one producer alone on a core tops out around 20,000 events/s, and the same client sending pre-encoded bytes in batches reaches about four times that. Here the producer, the consumer and the broker's JVM share two cores with whatever else runs on the box (the load average above), which also makes the latency tail: p50 stays within a few milliseconds, while p99 and max are scheduling delays on a saturated box. librdkafka itself answers a bare acks=all produce in about 0.3 ms on this broker.

### Transactions and polling

What one consume-transform-produce transaction with one input and one output costs, phase by phase (${tx.count} transactions, one at a time, ${lat.eventBytes} B records), against the same record sent outside a transaction:

| phase (p50 / p99) | time |
|---|---|
| begin (local) | ${phase('begin')} |
| send: AddPartitionsToTxn, then the produce | ${phase('send')} |
| sendOffsets: AddOffsetsToTxn + TxnOffsetCommit | ${phase('offsets')} |
| commit: EndTxn (the broker then writes the markers) | ${phase('commit')} |
| **the whole transaction** | ${phase('total')} |
| the same record, idempotent producer, no transaction | ${phase('plain')} |

Back to back, as a busy processor commits (the next transaction begun as soon as EndTxn is answered, ${tx.count} each): one producer ${ms(tx.backToBack.one.p50)} / ${ms(tx.backToBack.one.p99)} (p50 / p99), ${tx.backToBack.one.retried} of them ${RETRIED_MS} ms or more; two producers taking turns ${ms(tx.backToBack.turns.p50)} / ${ms(tx.backToBack.turns.p99)}, ${tx.backToBack.turns.retried} of them. The coordinator writes a commit's markers after answering EndTxn, and refuses the same producer's next AddPartitionsToTxn until it is done (CONCURRENT_TRANSACTIONS); the client retries 20 ms later. \`TransactionalProcessor\` therefore has two transactional producers (\`TRANSACTIONAL_PRODUCERS\`) that take turns, one transaction each, still one transaction at a time.

A transaction's round trips are paid once whatever it carries, so \`TransactionalProcessor\` shares them: the batches of every partition handled while one transaction is in flight go together in the next (group commit), and a batch that publishes nothing commits its offsets without a transaction.

Work in hand on one partition does not hold back another's message: a message of topic b, sent 2 ms after one of topic a to the same consumer, reaches its handler ${ms(near.consumerBusy.p50)} (p90 ${ms(near.consumerBusy.p90)}) after its acknowledgement while a's handler holds for ${NEIGHBOUR_HOLD_MS} ms, against ${ms(near.consumerIdle.p50)} (p90 ${ms(near.consumerIdle.p90)}) when a's handler returns at once; in a \`TransactionalProcessor\` while a's output commits, ${ms(near.transactionBusy.p50)} (p90 ${ms(near.transactionBusy.p90)}); ${NEIGHBOUR_SAMPLES} samples each. The client hands no worker a new message while a batch handler runs, so both return once their messages are started (EventConsumer) or handled and queued for the next transaction (TransactionalProcessor); waiting for the handlers or the commit, b waited about as long as a's handler (30 ms) or the transaction (12–18 ms).

Idle polling: ${IDLE_CONSUMERS} consumers waiting on an empty topic cost the broker **${idle.short.toFixed(1)} %** of a core with \`fetch.wait.max.ms\`=20 and **${idle.long.toFixed(1)} %** with 500 (${IDLE_SECONDS} s each). The broker answers a waiting fetch as soon as records are readable, a transaction's commit marker included, so the wait is no hop's latency (two transactional hops measured the same at 20 and at 500); Writ's consumers use 500 (\`DEFAULT_FETCH_WAIT_MS\`).
`;
}

async function main(): Promise<void> {
  // The dev stack's broker runs with SASL: the bench (and its consumer children) act as its super user.
  if (process.env['WRIT_KAFKA_SASL_USERNAME'] === undefined) actAsSuperUser((await kafkaStatus()).secretsDir);
  const probe = await probeBrokers(brokers);
  const env = {
    date: new Date().toISOString().slice(0, 10),
    machine: machineLine(),
    node: `Node ${process.version}`,
    kafka: await kafkaVersion(),
    client: await clientPackageVersion(),
    librdkafka: clientVersions.librdkafka,
  };
  console.log(`brokers ${brokers.join(',')} (${probe.topics} topics); ${env.machine}`);
  console.log(`latency: ${RATE} events/s for ${LATENCY_SECONDS} s after ${WARMUP_SECONDS} s of warm-up...`);
  const lat = await latency();
  console.log(
    `  per hop  p50 ${ms(lat.hop.p50)}  p90 ${ms(lat.hop.p90)}  p99 ${ms(lat.hop.p99)}  max ${ms(lat.hop.max)}  (${lat.hop.count} samples, ${lat.achievedRate.toFixed(0)} events/s sent)`,
  );
  console.log(`  ack      p50 ${ms(lat.ack.p50)}  p99 ${ms(lat.ack.p99)}`);
  console.log(`throughput: ${THROUGHPUT_EVENTS} events of ~${EVENT_BYTES} B, producer linger.ms=${THROUGHPUT_LINGER_MS}...`);
  const thr = await throughput();
  console.log(`  end to end ${rate(thr.endToEndRate)}   producer ${rate(thr.produceRate)}   consumer ${rate(thr.consumeRate)}   (${thr.eventBytes} B each)`);
  console.log(`transactions: ${TRANSACTIONS}, one input offset and one output each...`);
  const tx = await transactionCost();
  console.log(
    `  whole transaction p50 ${ms(tx.phases.total.p50)} p99 ${ms(tx.phases.total.p99)} (send ${ms(tx.phases.send.p50)}, offsets ${ms(tx.phases.offsets.p50)}, commit ${ms(tx.phases.commit.p50)}); plain send p50 ${ms(tx.phases.plain.p50)}`,
  );
  const turn = (mode: 'one' | 'turns') =>
    `p50 ${ms(tx.backToBack[mode].p50)} p99 ${ms(tx.backToBack[mode].p99)} (${tx.backToBack[mode].retried} ≥ ${RETRIED_MS} ms)`;
  console.log(`  back to back: one producer ${turn('one')}; two taking turns ${turn('turns')}`);
  console.log(`neighbours: a message of another partition while a handler holds ${NEIGHBOUR_HOLD_MS} ms or a transaction commits...`);
  const near = await neighbour();
  console.log(
    `  consumer, handler holding p50 ${ms(near.consumerBusy.p50)} p90 ${ms(near.consumerBusy.p90)}; handler returning at once p50 ${ms(near.consumerIdle.p50)}; transactional, a transaction in flight p50 ${ms(near.transactionBusy.p50)} p90 ${ms(near.transactionBusy.p90)}`,
  );
  const brokerPid = process.env['WRIT_KAFKA_BROKERS'] === undefined ? (await kafkaStatus()).pid : undefined;
  console.log(`idle polling: ${IDLE_CONSUMERS} idle consumers, broker CPU at fetch.wait.max.ms 20 and 500...`);
  const idle = { short: await idlePolling(20, brokerPid), long: await idlePolling(500, brokerPid) };
  console.log(`  broker ${idle.short.toFixed(1)} % of a core at 20 ms, ${idle.long.toFixed(1)} % at 500 ms`);
  if (process.env['BENCH_NO_DOC'] !== '1') console.log(`wrote ${await writeBenchmarkSection('Bus', section(lat, thr, tx, near, idle, env))}`);
}

if (process.argv[2] === 'consume') {
  const [, , , topic = '', groupId = '', count = '0', skip = '0'] = process.argv;
  await consumeMain(topic, groupId, Number(count), Number(skip));
} else {
  await main();
}
