// Canaries: unique strings put into a sensitive argument of proposals and into the tool's
// credential must be found nowhere afterwards: not in any Writ topic's raw records (keys, values,
// headers), not in the chDB folder's files nor in any column of any ClickHouse table, not in any
// service's log, not in the traces. Then the tenant's data key is deleted: the chain still
// verifies and the sealed values no longer open. (The demo helpdesk is the tool: it must see the
// values, so its own log is not searched.)
import { randomUUID } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import kafkaJavascript from '@confluentinc/kafka-javascript';
import type { Message } from '@confluentinc/kafka-javascript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectionSasl, contractsSerde, createKafka, replayCommitted, saslProperties, silentLogger } from '@writ/bus';
import { TOPICS } from '@writ/contracts';
import type { LedgerEntry } from '@writ/contracts';
import { createClickHouse } from '@writ/clickhouse';
import { TenantKeyDir } from '@writ/crypto';
import { verifyChain } from '@writ/ledger-core';
import { testKafkaBrokers, waitFor } from '@writ/testing';
import { authAs, keyOf, refundArgs, root, startE2eStack, stopE2eStack } from './support.ts';
import type { E2eStack } from './support.ts';

const { KafkaConsumer } = kafkaJavascript;

const NOTE = `canary-note-${randomUUID()}`;
const TOKEN = `canary-token-${randomUUID()}`;
const CARD = String(1000 + Math.floor(Math.random() * 9000));
/** What must be found nowhere: the canaries, then (added once the stack made them) its other secrets. */
const CANARIES = [NOTE, TOKEN];

/**
 * The stack's other secrets, which must not leak either: the agent's API key, each service's Kafka
 * password and each tenant's data key (made by the gateway on first use, so read after the run).
 */
function stackSecrets(workDir: string): string[] {
  const texts = (dir: string | undefined, suffix: string) =>
    dir === undefined || dir === ''
      ? []
      : readdirSync(dir)
          .filter((f) => f.endsWith(suffix))
          .map((f) => readFileSync(join(dir, f), 'utf8').trim());
  return [keyOf('triage-bot'), ...texts(process.env['WRIT_KAFKA_SECRETS_DIR'], '.password'), ...texts(join(workDir, 'keys', 'tenants'), '.key')];
}

let e2e: E2eStack;
let toolsDir: string;

beforeAll(async () => {
  // The repository's tools plus a read tool with a free-text sensitive argument (a 4-digit card
  // number is too short to search raw bytes for).
  toolsDir = join(mkdtempSync(join(tmpdir(), 'writ-e2e-tools-')), 'tools');
  cpSync(join(root, 'tools'), toolsDir, { recursive: true });
  const ticketsGet = JSON.parse(readFileSync(join(toolsDir, 'tickets.get@1.0.0.json'), 'utf8')) as { arguments: { properties: Record<string, unknown> } };
  const lookup = {
    ...ticketsGet,
    name: 'canary.lookup',
    description: 'Read a ticket, with a note that is sensitive (canary test).',
    // The declared static fallback (the repository's tools mint a token per action): the canary
    // token is then a credential the executor really sends, and must leak nowhere either.
    credential: { env: 'HELPDESK_TOKEN' },
    arguments: {
      ...ticketsGet.arguments,
      properties: { ...ticketsGet.arguments.properties, secret_note: { type: 'string', minLength: 1, maxLength: 200, 'x-writ-sensitive': true } },
    },
  };
  writeFileSync(join(toolsDir, 'canary.lookup@1.0.0.json'), JSON.stringify(lookup, null, 2));
  e2e = await startE2eStack(26480, { WRIT_TOOLS_DIR: toolsDir, HELPDESK_TOKEN: TOKEN });
});

afterAll(async () => {
  await stopE2eStack(e2e);
  if (toolsDir !== undefined) rmSync(join(toolsDir, '..'), { recursive: true, force: true });
});

interface RawHit {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly canary: string;
}

/**
 * Every record of every writ.* topic, read raw from the beginning (read_uncommitted: aborted
 * transactions' records too) up to the high watermarks seen first. A partition is done when the
 * consumer's position reaches its watermark (transaction markers take offsets, so the last record
 * seen is not a reliable end).
 */
async function scanTopics(onRecord: (topic: string, record: RawRecord) => void): Promise<number> {
  const brokers = testKafkaBrokers();
  const admin = createKafka({ brokers, clientId: 'e2e-canary-scan', logger: silentLogger }).admin();
  await admin.connect();
  const pending: { topic: string; partition: number; start: number; end: number }[] = [];
  try {
    for (const topic of (await admin.listTopics()).filter((t) => t.startsWith('writ.'))) {
      for (const p of await admin.fetchTopicOffsets(topic))
        if (Number(p.high) > Number(p.low)) pending.push({ topic, partition: p.partition, start: Number(p.low), end: Number(p.high) });
    }
  } finally {
    await admin.disconnect();
  }
  const consumer = new KafkaConsumer({
    'bootstrap.servers': brokers.join(','),
    ...saslProperties(connectionSasl({})),
    'client.id': 'e2e-canary-scan',
    'group.id': `e2e-canary-scan.${randomUUID()}`,
    'enable.auto.commit': false,
    'enable.auto.offset.store': false,
    'isolation.level': 'read_uncommitted',
    'enable.partition.eof': true,
    'fetch.wait.max.ms': 50,
  });
  await new Promise<void>((resolve, reject) => consumer.connect({ timeout: 10_000 }, (error) => (error ? reject(error) : resolve())));
  const remaining = new Map(pending.map((p) => [`${p.topic}|${p.partition}`, p]));
  let records = 0;
  try {
    consumer.assign(pending.map((p) => ({ topic: p.topic, partition: p.partition, offset: p.start })));
    const deadline = Date.now() + 120_000;
    while (remaining.size > 0) {
      if (Date.now() > deadline) throw new Error(`scan not finished: ${[...remaining.keys()].join(', ')}`);
      const batch = await new Promise<Message[]>((resolve, reject) => consumer.consume(500, (error, messages) => (error ? reject(error) : resolve(messages))));
      for (const message of batch) {
        records += 1;
        const headers = (message.headers ?? []).flatMap((h) =>
          Object.entries(h).flatMap(([name, value]) => [Buffer.from(name), Buffer.isBuffer(value) ? value : Buffer.from(String(value))]),
        );
        onRecord(message.topic, {
          key: message.key === undefined || message.key === null ? null : Buffer.from(message.key),
          value: message.value ?? null,
          headers,
          partition: message.partition,
          offset: message.offset,
        });
      }
      for (const position of consumer.position(pending.map((p) => ({ topic: p.topic, partition: p.partition })))) {
        const key = `${position.topic}|${position.partition}`;
        const end = remaining.get(key);
        if (end !== undefined && typeof position.offset === 'number' && position.offset >= end.end) remaining.delete(key);
      }
    }
  } finally {
    await new Promise<void>((resolve) => consumer.disconnect(() => resolve()));
  }
  return records;
}

interface RawRecord {
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers: Buffer[];
  readonly partition: number;
  readonly offset: number;
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    return entry.isDirectory() ? filesUnder(path) : entry.isFile() ? [path] : [];
  });
}

/** The canaries a text holds, also inside base64 strings (event_bytes columns). */
function canariesIn(text: string, canaries: readonly string[] = CANARIES): string[] {
  const found = canaries.filter((c) => text.includes(c));
  for (const match of text.matchAll(/[A-Za-z0-9+/]{24,}={0,2}/g)) {
    const decoded = Buffer.from(match[0], 'base64').toString('latin1');
    for (const c of canaries) if (decoded.includes(c) && !found.includes(c)) found.push(c);
  }
  return found;
}

describe('sensitive values and the tool credential', () => {
  it('are found nowhere after the pipeline ran: topics, chDB files and tables, logs, traces; erasing the tenant key keeps the chain verifiable', async () => {
    const { agent } = e2e;
    const run = (await agent.openRun('canary')).run_id;
    const lookup = await agent.propose(run, {
      tool: 'canary.lookup',
      arguments: { ticket_id: 'T-1001', secret_note: NOTE },
      reason: 'canary read',
      idempotency_key: randomUUID(),
    });
    const refund = await agent.propose(run, {
      tool: 'refunds.issue',
      arguments: { ...refundArgs(1500, 'T-1001', 'C-501'), card_last4: CARD },
      reason: 'canary refund',
      idempotency_key: randomUUID(),
    });
    const outcomes = [await agent.outcome(lookup.action_id, 60_000), await agent.outcome(refund.action_id, 60_000)];
    expect(JSON.stringify(outcomes)).not.toContain(NOTE);
    expect(JSON.stringify(outcomes)).not.toContain(`"${CARD}"`);

    // The ledger has chained both actions' ends (read off the chain topic), then is stopped so its chDB folder can be opened here.
    const actionIds = [lookup.action_id, refund.action_id];
    await waitFor(
      async () => {
        const ended = new Set<string>();
        await scanTopics((topic, record) => {
          if (topic !== 'writ.ledger.v1' || record.value === null) return;
          const decoded = contractsSerde.decode(record.value);
          if (decoded.type !== 'LedgerEntry') return;
          const entry = decoded.payload;
          if (entry.event_type === 'ActionCompleted' && actionIds.includes(entry.meta.action_id ?? '')) ended.add(entry.meta.action_id ?? '');
        });
        return ended.size === actionIds.length || undefined;
      },
      { timeoutMs: 60_000, what: 'both ActionCompleted in the chain' },
    );
    // And projected: ClickHouse trails the chain by a batch, and a stopped ledger projects no more.
    await waitFor(
      async () => {
        const response = await fetch(`${e2e.stack.service('ledger').url}/v1/query`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...authAs('ana') },
          body: JSON.stringify({
            sql: "SELECT count() AS n FROM actions WHERE action_id IN {ids:Array(String)} AND status = 'completed'",
            params: { ids: actionIds },
          }),
        });
        const rows = response.ok ? ((await response.json()) as { rows: { n: string | number }[] }).rows : [];
        return Number(rows[0]?.n ?? 0) === actionIds.length || undefined;
      },
      { timeoutMs: 30_000, what: "both actions completed in the ledger's ClickHouse" },
    );
    await e2e.stack.service('ledger').stop();
    const secrets = stackSecrets(e2e.workDir);
    expect(secrets.length, 'an API key, six Kafka passwords and the tenant key').toBeGreaterThanOrEqual(8);
    CANARIES.push(...secrets);

    // 1. Every writ.* topic, raw: keys, values and headers. Also collect the acme chain and one sealed card.
    const hits: RawHit[] = [];
    const chain: LedgerEntry[] = [];
    const events = new Map<string, Uint8Array>();
    let sealedCard: unknown;
    const topicsOfOurActions = new Set<string>();
    const scanned = await scanTopics((topic, record) => {
      const parts = [record.key, record.value, ...record.headers].filter((b): b is Buffer => b !== null);
      for (const canary of CANARIES)
        if (parts.some((b) => b.includes(canary))) hits.push({ topic, partition: record.partition, offset: record.offset, canary });
      if (record.value === null) return;
      let decoded;
      try {
        decoded = contractsSerde.decode(record.value);
      } catch {
        return; // another writer's bytes on a DLQ: already searched raw
      }
      const actionId = decoded.payload.meta.action_id;
      if (actionIds.includes(actionId ?? '')) topicsOfOurActions.add(topic);
      if (decoded.type === 'ActionProposed' && actionId === refund.action_id) {
        sealedCard = (JSON.parse(decoded.payload.arguments_json) as Record<string, unknown>)['card_last4'];
      }
    });
    expect(scanned).toBeGreaterThan(0);
    // The chain as an auditor reads it: committed records only (the raw scan above also sees the
    // entries of a transaction the ledger aborted, e.g. when it was stopped, and written again after).
    await replayCommitted(testKafkaBrokers(), [TOPICS.ledger], ({ value }) => {
      if (value === null) return;
      const decoded = contractsSerde.decode(value);
      if (decoded.type === 'LedgerEntry' && decoded.payload.chain_id === 'acme') chain.push(decoded.payload);
    });
    // The scan covered every topic the actions' events travel on (one writer each).
    expect([...topicsOfOurActions]).toEqual(
      expect.arrayContaining([TOPICS.proposals, TOPICS.actions, TOPICS.policy, TOPICS.budget, TOPICS.executions, TOPICS.outcomes, TOPICS.ledger]),
    );
    expect(hits).toEqual([]);
    // Both ran: the read tool got the note, the refund tool the card (checked after the scan, so a leak is named first).
    expect(
      outcomes.map((o) => o.status),
      JSON.stringify(outcomes),
    ).toEqual(['completed', 'completed']);
    expect(sealedCard).toMatchObject({ $sealed: expect.stringMatching(/^v1\./) as unknown });

    // 2. The chDB folder's files, raw (compressed column files may hide a string, hence 3 too).
    const chdbFiles = filesUnder(e2e.stack.chdbPath);
    expect(chdbFiles.length).toBeGreaterThan(0);
    for (const file of chdbFiles) for (const canary of CANARIES) expect(readFileSync(file).includes(canary), `${canary} in ${file}`).toBe(false);

    // 3. Every column of every table of every non-system database, as text (base64 columns decoded).
    const clickhouse = createClickHouse({ dataPath: e2e.stack.chdbPath });
    try {
      const tables = await (
        await clickhouse.query({
          query: "SELECT database, name FROM system.tables WHERE database NOT IN ('system', 'INFORMATION_SCHEMA', 'information_schema') AND NOT is_temporary",
          format: 'JSONEachRow',
        })
      ).json<{ database: string; name: string }>();
      expect(tables.map((t) => t.name)).toEqual(expect.arrayContaining(['actions', 'events']));
      let sawOurActions = false;
      for (const { database, name } of tables) {
        const text = await (await clickhouse.query({ query: `SELECT * FROM \`${database}\`.\`${name}\``, format: 'JSONEachRow' })).text();
        expect(canariesIn(text), `${database}.${name}`).toEqual([]);
        if (name === 'actions') {
          sawOurActions = actionIds.every((id) => text.includes(id));
          expect(text).not.toContain(`"card_last4":"${CARD}"`);
          expect(text).not.toContain(`card_last4\\":\\"${CARD}`);
        }
      }
      expect(sawOurActions, 'the ledger projected both actions before it stopped').toBe(true);
    } finally {
      await clickhouse.close();
    }

    // 4. Every service's log and the traces file.
    const logs = filesUnder(join(e2e.workDir, 'logs')).filter((f) => !f.endsWith('helpdesk.log'));
    expect(logs.length).toBeGreaterThanOrEqual(6);
    for (const file of [...logs, e2e.stack.tracesFile]) {
      expect(statSync(file).isFile()).toBe(true);
      expect(canariesIn(readFileSync(file, 'utf8')), file).toEqual([]);
    }
    expect(readFileSync(e2e.stack.tracesFile, 'utf8')).toContain(lookup.action_id);

    // 5. Erasure: the tenant's data key is deleted. The chain still verifies; the sealed card no longer opens.
    const keys = new TenantKeyDir(join(e2e.workDir, 'keys', 'tenants'));
    const before = await keys.get('acme');
    expect(before?.unseal(sealedCard, '$.card_last4')).toBe(CARD);
    rmSync(keys.pathOf('acme'));
    expect(await keys.get('acme')).toBeUndefined();
    for (const entry of chain) events.set(entry.source_event_id, entry.event_bytes);
    const verified = verifyChain(
      [...chain].sort((a, b) => a.seq - b.seq),
      { eventsById: events },
    );
    expect(verified, JSON.stringify(verified)).toMatchObject({ ok: true });
    const replacement = await keys.getOrCreate('acme');
    expect(() => replacement.unseal(sealedCard, '$.card_last4')).toThrow(/sealed under data key .* erased/);
  });
});
