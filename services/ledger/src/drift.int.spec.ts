// The drift check end to end: the ledger service in-process against the real broker and a real
// chDB. A week of an agent's refunds that succeeded and a day of the same agent's refunds denied are
// produced to the real topics (this file's tenant only); the ledger chains and projects them, its
// drift check (every 300 ms here) finds the drift and announces it once: a DriftDetected on
// writ.ledger.v1, its row in drift_alerts, the counter writ_ledger_drift_detected_total. An agent
// whose day looks like its week is not announced; a restarted ledger does not announce again.
import 'reflect-metadata';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Module } from '@nestjs/common';
import type { DynamicModule } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventProducer, silentLogger, writEvent } from '@writ/bus';
import { readTopicToEnd } from '@writ/bus/testing';
import { TOPICS, decodeEvent } from '@writ/contracts';
import type { DriftDetected, EventPayloads, EventType } from '@writ/contracts';
import { sampleEvent } from '@writ/contracts/testing';
import { driftEventId, utcDay } from '@writ/ledger-core';
import { SERVICE_CONFIG, loadServiceConfig } from '@writ/runtime';
import { metricValue, scrapeMetrics, serveTestMetrics, testKafkaBrokers, waitFor } from '@writ/testing';
import type { TestMetricsEndpoint } from '@writ/testing';
import { ledgerConfigSpec } from './config.ts';
import { LedgerModule } from './ledger.module.ts';
import { LedgerService } from './ledger.service.ts';

const brokers = testKafkaBrokers();
const TOOLS_DIR = fileURLToPath(new URL('../../../tools', import.meta.url));
const PREFIX = `t-drift-${randomUUID().slice(0, 8)}`;
const TENANT = `${PREFIX}-a`;
const GROUP = `writ.ledger.test.${randomUUID().slice(0, 8)}`;
const WAIT = { timeoutMs: 45_000, intervalMs: 100 } as const;
const DAY_MS = 86_400_000;

const root = mkdtempSync(join(tmpdir(), 'writ-drift-'));
const directoryFile = join(root, 'directory.json');
writeFileSync(directoryFile, JSON.stringify({ agents: [], users: [] }));

let app: NestFastifyApplication | undefined;
let producer: EventProducer;
let metrics: TestMetricsEndpoint;

async function boot(): Promise<void> {
  process.env['WRIT_CHDB_PATH'] = join(root, 'chdb');
  delete process.env['CLICKHOUSE_URL'];
  delete process.env['CLICKHOUSE_DATABASE'];
  const config = loadServiceConfig(26085, ledgerConfigSpec, {
    WRIT_KAFKA_BROKERS: brokers.join(','),
    WRIT_KAFKA_GROUP_ID: GROUP,
    WRIT_LEDGER_TENANTS: `${PREFIX}*`,
    WRIT_TOOLS_DIR: TOOLS_DIR,
    WRIT_DIRECTORY_FILE: directoryFile,
    WRIT_LEDGER_DRIFT_INTERVAL_MS: '300',
    WRIT_LEDGER_DRIFT_THRESHOLD: '0.2',
    WRIT_LEDGER_DRIFT_BASELINE_DAYS: '7',
    // As many as a story has on the day and in its week: a check that reads part of a story finds no drift.
    WRIT_LEDGER_DRIFT_MIN_ACTIONS: '7',
  });
  @Module({})
  class TestRoot {}
  const rootModule: DynamicModule = {
    module: TestRoot,
    global: true,
    imports: [LedgerModule],
    providers: [{ provide: SERVICE_CONFIG, useValue: config }],
    exports: [SERVICE_CONFIG],
  };
  const started = await NestFactory.create<NestFastifyApplication>(rootModule, new FastifyAdapter(), { logger: false });
  await started.init();
  app = started;
}

async function shutdown(): Promise<void> {
  await app?.close();
  app = undefined;
}

async function sql<T>(query: string, params: Record<string, unknown> = {}): Promise<T[]> {
  const clickhouse = app?.get(LedgerService).clickhouse;
  if (clickhouse === undefined) throw new Error('ledger not running');
  return (await clickhouse.query({ query, query_params: params, format: 'JSONEachRow' })).json<T>();
}

let sequence = 0;
/** One live action of `agent` with refunds.issue, proposed and ended `daysAgo` days before now: its proposal and its completion. */
function action(agent: string, daysAgo: number, status: 'completed' | 'denied', now: number) {
  sequence += 1;
  const at = now - daysAgo * DAY_MS;
  const run = `run-${agent}-${daysAgo}`;
  const id = `${TENANT}-${agent}-${sequence}`;
  const meta = { tenant_id: TENANT, run_id: run, action_id: id };
  const payload = <T extends EventType>(type: T, ms: number, patch: Partial<EventPayloads[T]>) =>
    ({ ...sampleEvent(type, { ...meta, occurred_at: ms }), ...patch }) as EventPayloads[T];
  return [
    writEvent('ActionProposed', payload('ActionProposed', at, { agent_id: agent, tool: 'refunds.issue', idempotency_key: id, mode: 'live' })),
    writEvent(
      'ActionCompleted',
      payload('ActionCompleted', at + 1_000, {
        status,
        reason_code: status === 'completed' ? 'SUCCEEDED' : 'POLICY_DENIED',
        cost_micros: 0,
        result_json: null,
      }),
    ),
  ];
}

/** A week of successes (one a day), then today: seven of `today`'s status. */
function story(agent: string, today: 'completed' | 'denied', now: number) {
  const week = [1, 2, 3, 4, 5, 6, 7].flatMap((daysAgo) => action(agent, daysAgo, 'completed', now));
  return [...week, ...Array.from({ length: 7 }, () => action(agent, 0, today, now)).flat()];
}

async function driftsOnTheTopic(): Promise<DriftDetected[]> {
  return (await readTopicToEnd(brokers, TOPICS.ledger, { readCommitted: true })).flatMap((record) => {
    if (record.value === null) return [];
    const decoded = decodeEvent(record.value);
    return decoded.type === 'DriftDetected' && decoded.payload.meta.tenant_id === TENANT ? [decoded.payload] : [];
  });
}

async function alertsOf(agent: string): Promise<{ agent_id: string; day: string; score: number; actions: string; baseline_actions: string }[]> {
  return sql('SELECT agent_id, day, score, actions, baseline_actions FROM drift_alerts FINAL WHERE tenant_id = {t:String} AND agent_id = {a:String}', {
    t: TENANT,
    a: agent,
  });
}

beforeAll(async () => {
  metrics = await serveTestMetrics();
  producer = new EventProducer({ brokers, clientId: 'ledger-drift-int', logger: silentLogger });
  await producer.connect();
  await boot();
}, 120_000);

afterAll(async () => {
  await shutdown();
  await producer?.disconnect();
  await metrics?.stop();
  rmSync(root, { recursive: true, force: true });
});

describe('the drift check', () => {
  const now = Date.now();
  const today = utcDay(now);

  it('announces a drifted agent and tool once: the event, the row, the counter; a steady one not at all', async () => {
    await producer.send([...story('steady-bot', 'completed', now), ...story('drift-bot', 'denied', now)]);
    const [alert] = await waitFor(
      async () => {
        const found = await alertsOf('drift-bot');
        return found.length > 0 ? found : undefined;
      },
      { ...WAIT, what: 'the drift of drift-bot in drift_alerts' },
    );
    // Seven denials against seven successes: no category in common.
    expect(alert).toEqual({ agent_id: 'drift-bot', day: today, score: 1, actions: '7', baseline_actions: '7' });

    // A later drift is announced by a later check, which saw drift-bot's again: still one of it.
    await producer.send(story('late-bot', 'denied', now));
    await waitFor(async () => ((await alertsOf('late-bot')).length > 0 ? true : undefined), { ...WAIT, what: 'the drift of late-bot' });
    expect(await alertsOf('steady-bot')).toEqual([]);
    await shutdown(); // waits for a check under way

    const events = await driftsOnTheTopic();
    expect(events.map((e) => e.agent_id).sort()).toEqual(['drift-bot', 'late-bot']);
    const event = events.find((e) => e.agent_id === 'drift-bot');
    expect(event).toMatchObject({
      tool: 'refunds.issue',
      day: today,
      score: 1,
      threshold: 0.2,
      actions: 7,
      baseline_actions: 7,
      baseline_days: 7,
      volume_ratio: 7,
      categories: [
        { category: 'denied:POLICY_DENIED', actions: 7, baseline_actions: 0 },
        { category: 'completed:SUCCEEDED', actions: 0, baseline_actions: 7 },
      ],
    });
    expect(event?.meta).toMatchObject({
      event_id: driftEventId({ tenant_id: TENANT, agent_id: 'drift-bot', tool: 'refunds.issue', day: today }),
      action_id: null,
    });
    expect(event?.meta.producer).toMatch(/^ledger@/);

    const samples = await scrapeMetrics(metrics.url);
    expect(metricValue(samples, 'writ_ledger_drift_detected_total', { tenant: TENANT, agent: 'drift-bot', tool: 'refunds.issue' })).toBe(1);
    expect(metricValue(samples, 'writ_ledger_drift_detected_total', { tenant: TENANT, agent: 'steady-bot' })).toBe(0);
  });

  it('does not announce a drift again after a restart (it is in drift_alerts)', async () => {
    await boot();
    await producer.send(story('after-restart-bot', 'denied', now));
    await waitFor(async () => ((await alertsOf('after-restart-bot')).length > 0 ? true : undefined), { ...WAIT, what: 'a drift found after the restart' });
    await shutdown();
    expect((await driftsOnTheTopic()).map((e) => e.agent_id).sort()).toEqual(['after-restart-bot', 'drift-bot', 'late-bot']);
  });
});
