import { EventConsumer, EventProducer, writEvent } from '@writ/bus';
import type { SentEvent } from '@writ/bus';
import { clickHouseFromEnv, clickHouseOptionsFromEnv, describeClickHouse } from '@writ/clickhouse';
import { EVENT_TYPES, TOPICS, uuidv7 } from '@writ/contracts';
import type { DecodedEvent } from '@writ/contracts';
import { sampleEvents } from '@writ/contracts/testing';
import { actAsSuperUser, kafkaStatus } from '@writ/devstack';
import { WritError } from '@writ/errors';
import { countByTopic, createEventsTable, insertEventRows, toEventRow } from './event-sink.ts';
import type { EventRow } from './event-sink.ts';

const DEMO_GROUP = 'writ.demo';
const TENANT = 'demo';

export interface DemoOptions {
  readonly say: (line: string) => void;
  readonly timeoutMs?: number;
}

/**
 * The foundation demo: one sample of every event type is encoded (Avro single-object encoding),
 * produced to its topic, consumed back by a consumer group, decoded and written to ClickHouse,
 * which is then queried with query parameters. Returns the number of events that made the trip.
 */
export async function runFoundationDemo({ say, timeoutMs = 60_000 }: DemoOptions): Promise<number> {
  const kafka = await kafkaStatus();
  if (!kafka.healthy) {
    throw new WritError('KAFKA_UNREACHABLE', `Kafka is not answering on ${kafka.brokers.join(',')}: start it with ./dev stack up`);
  }
  const brokers = kafka.brokers;
  // It writes one event of every type, which no service principal may: the local super user does.
  if (process.env['WRIT_KAFKA_SASL_USERNAME'] === undefined) actAsSuperUser(kafka.secretsDir);
  const runId = `demo-${uuidv7()}`;
  say(`run ${runId}: ${EVENT_TYPES.length} event types, tenant "${TENANT}", Kafka ${brokers.join(',')}`);

  const clickhouseOptions = clickHouseOptionsFromEnv();
  say(`clickhouse: ${describeClickHouse(clickhouseOptions)}`);
  const clickhouse = clickHouseFromEnv();
  const producer = new EventProducer({ brokers, clientId: 'writ-demo' });
  const received = new Map<string, EventRow>();
  let allReceived: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (allReceived = resolve));
  const expected = new Set<string>();

  const consumer = new EventConsumer({
    brokers,
    groupId: DEMO_GROUP,
    topics: Object.values(TOPICS),
    fromBeginning: true,
    handler: async (decoded, ctx) => {
      // The consumer decodes with the contracts serde, so the payload is a contracts event.
      const event = decoded as DecodedEvent;
      if (!expected.has(event.payload.meta.event_id)) return; // an event of an earlier run
      const row = toEventRow(event, ctx);
      await insertEventRows(clickhouse, [row]);
      received.set(row.event_id, row);
      say(`  ← ${ctx.topic}[${ctx.partition}@${ctx.offset}] ${event.type} v${event.schemaVersion} decoded, stored in ClickHouse`);
      if (received.size === expected.size) allReceived();
    },
  });

  try {
    await createEventsTable(clickhouse);
    await producer.connect();
    await consumer.start();
    const events = sampleEvents({ tenant_id: TENANT, run_id: runId, producer: 'writ-demo@0.1.0' });
    for (const { payload } of events) expected.add(payload.meta.event_id);
    const sent: SentEvent[] = [];
    for (const { type, payload } of events) {
      const [result] = await producer.send([writEvent(type, payload)]);
      if (result !== undefined) sent.push(result);
      say(`  → ${result?.topic}[${result?.partition}@${result?.offset}] ${type}`);
    }
    const timer = setTimeout(() => allReceived(), timeoutMs);
    await done;
    clearTimeout(timer);
    if (received.size !== sent.length) {
      throw new WritError('DEMO_INCOMPLETE', `only ${received.size} of ${sent.length} events came back within ${timeoutMs} ms`);
    }
    say('per topic, from ClickHouse (SELECT ... WHERE run_id = {run_id:String}):');
    for (const row of await countByTopic(clickhouse, runId)) {
      say(`  ${row.topic.padEnd(20)} ${String(row.events).padStart(2)}  ${row.types}`);
    }
    say(`${received.size} of ${sent.length} events went through Kafka into ClickHouse; consumer group ${DEMO_GROUP}, poison → ${DEMO_GROUP}.dlq`);
    return received.size;
  } finally {
    await consumer.stop().catch(() => undefined);
    await producer.disconnect().catch(() => undefined);
    await clickhouse.close().catch(() => undefined);
  }
}
