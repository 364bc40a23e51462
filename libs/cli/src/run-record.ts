// A run as the ledger recorded it, for `writ replay` and `writ eval capture`: every event of the run
// (the events table's payloads, sensitive values redacted, in chain order) and the policy sets its
// decisions name (PolicySetPublished, writ.policysets.v1). Read from ClickHouse (a stopped ledger's
// chDB folder or a server) or from the running ledger's query door; over the door, the policy sets
// come from the policy service (GET /v1/policy-sets/{hash}: a platform admin's or a service key),
// since the sets belong to no tenant and an analyst reads only their own.
import { resolve } from 'node:path';
import { createClickHouse } from '@writ/clickhouse';
import type { ClickHouseClient } from '@writ/clickhouse';
import { WritError, describeError, isWritError } from '@writ/errors';
import { compilePolicySet } from '@writ/policy-engine';
import type { LoadedPolicySet } from '@writ/policy-engine';
import { DEFAULT_LEDGER_URL, ledgerText } from './ledger-source.ts';
import { DEFAULT_POLICY_URL, PolicyService, PolicyServiceError } from './policy.ts';
import type { Fetch } from './policy.ts';

/** One event of a run as the ledger projected it (payload: the event's JSON, sensitive tool values redacted). */
export interface RecordedEvent {
  readonly eventId: string;
  readonly type: string;
  readonly topic: string;
  readonly partition: number;
  /** Its offset on its topic's partition: one run's events of one topic keep their order there. */
  readonly offset: number;
  readonly chainSeq: number;
  readonly payload: Readonly<Record<string, unknown>>;
}

export type RunSource =
  | { readonly kind: 'chdb'; readonly dataPath: string; readonly database?: string }
  | { readonly kind: 'clickhouse'; readonly url: URL; readonly database?: string }
  | {
      readonly kind: 'door';
      readonly url: string;
      readonly key?: string;
      /** A platform admin names the tenant the door reads. */
      readonly tenant?: string;
      readonly policyUrl: string;
      readonly policyKey?: string;
    };

/** What a reader gives: the run's events and its policy sets by hash. */
export interface RunReader {
  events(runId: string): Promise<RecordedEvent[]>;
  /** The policy set of a hash, compiled; undefined when no publication of it is found. */
  policySet(hash: string): Promise<LoadedPolicySet | undefined>;
  close(): Promise<void>;
}

export const SOURCE_FLAGS = ['url', 'key', 'tenant', 'chdb', 'clickhouse', 'database', 'policy-url', 'policy-key'] as const;

export const SOURCE_USAGE = `  The run is read from the ledger: --chdb FOLDER (a stopped ledger's chDB folder), --clickhouse URL
  [--database DB] (a server), else its query door at --url (WRIT_LEDGER_URL, else ${DEFAULT_LEDGER_URL})
  with --key (WRIT_API_KEY): an analyst's or auditor's key of the run's tenant (a platform admin's
  names it with --tenant). Over the door, the policy sets come from the policy service at
  --policy-url (WRIT_POLICY_URL, else ${DEFAULT_POLICY_URL}) with --policy-key (default --key): a
  platform admin's or a service key.`;

const TENANT = /^[A-Za-z0-9._:-]{1,200}$/;
const PAGE = 5_000;

function usage(message: string, field: string, rule: string): WritError {
  return new WritError('USAGE', message, { field, rule });
}

/** The source of the run from the parsed flags (SOURCE_FLAGS); throws USAGE naming the flag. */
export function runSourceOf(flags: ReadonlyMap<string, string>, env: Readonly<Record<string, string | undefined>>): RunSource {
  const given = ['chdb', 'clickhouse', 'url'].filter((name) => flags.has(name));
  if (given.length > 1) throw usage(`--${given[0]} and --${given[1]} are two sources: give one`, `--${given[1]}`, 'one of --chdb, --clickhouse, --url');
  const database = flags.get('database');
  const chdb = flags.get('chdb');
  const server = flags.get('clickhouse');
  if (chdb !== undefined || server !== undefined) {
    for (const name of ['key', 'tenant', 'policy-url', 'policy-key']) {
      if (flags.has(name)) throw usage(`--${name} is for the ledger's query door (--url), not for ClickHouse read directly`, `--${name}`, 'with --url only');
    }
    if (chdb !== undefined) return { kind: 'chdb', dataPath: resolve(chdb), ...(database === undefined ? {} : { database }) };
    let url: URL;
    try {
      url = new URL(server ?? '');
    } catch {
      throw usage(`--clickhouse ${JSON.stringify(server)} is not a URL`, '--clickhouse', 'a ClickHouse server URL, e.g. http://127.0.0.1:8123');
    }
    return { kind: 'clickhouse', url, ...(database === undefined ? {} : { database }) };
  }
  if (database !== undefined)
    throw usage('--database is for ClickHouse read directly (--chdb, --clickhouse)', '--database', 'with --chdb or --clickhouse only');
  const tenant = flags.get('tenant');
  if (tenant !== undefined && !TENANT.test(tenant))
    throw usage(`--tenant ${JSON.stringify(tenant)} is not a tenant id`, '--tenant', 'letters, digits, . _ : -');
  const nonEmpty = (value: string | undefined): string | undefined => (value === undefined || value === '' ? undefined : value);
  const key = nonEmpty(flags.get('key') ?? env['WRIT_API_KEY']);
  const policyKey = nonEmpty(flags.get('policy-key')) ?? key;
  return {
    kind: 'door',
    url: (nonEmpty(flags.get('url') ?? env['WRIT_LEDGER_URL']) ?? DEFAULT_LEDGER_URL).replace(/\/+$/, ''),
    policyUrl: (nonEmpty(flags.get('policy-url') ?? env['WRIT_POLICY_URL']) ?? DEFAULT_POLICY_URL).replace(/\/+$/, ''),
    ...(key === undefined ? {} : { key }),
    ...(policyKey === undefined ? {} : { policyKey }),
    ...(tenant === undefined ? {} : { tenant }),
  };
}

/** The run's events after a chain position, in chain order (`final`: deduplicate the ReplacingMergeTree; the door's tables are already). */
export function runEventsSql(final: boolean): string {
  return [
    'SELECT event_id, event_type, topic, partition, `offset` AS topic_offset, chain_seq, payload',
    `FROM events${final ? ' FINAL' : ''}`,
    'WHERE run_id = {run:String} AND chain_seq > {after:Int64}',
    'ORDER BY chain_seq',
    `LIMIT ${PAGE}`,
  ].join('\n');
}

const POLICY_SETS_SQL = "SELECT payload FROM events FINAL WHERE event_type = 'PolicySetPublished' ORDER BY occurred_at";

interface EventRow {
  readonly event_id: string;
  readonly event_type: string;
  readonly topic: string;
  readonly partition: number | string;
  readonly topic_offset: number | string;
  readonly chain_seq: number | string;
  readonly payload: string;
}

function recordedOf(row: EventRow): RecordedEvent {
  let payload: unknown;
  try {
    payload = JSON.parse(row.payload);
  } catch (error) {
    throw new WritError('RUN_RECORD_INVALID', `event ${row.event_id} (${row.event_type}): its payload is not JSON`, { cause: error });
  }
  if (typeof payload !== 'object' || payload === null || typeof (payload as { meta?: unknown }).meta !== 'object') {
    throw new WritError('RUN_RECORD_INVALID', `event ${row.event_id} (${row.event_type}): its payload has no meta`);
  }
  return {
    eventId: row.event_id,
    type: row.event_type,
    topic: row.topic,
    partition: Number(row.partition),
    offset: Number(row.topic_offset),
    chainSeq: Number(row.chain_seq),
    payload: payload as Record<string, unknown>,
  };
}

/** Pages through the run's events with `page(after)` until a page is short. */
async function allPages(page: (after: number) => Promise<{ rows: EventRow[]; truncated: boolean }>): Promise<RecordedEvent[]> {
  const events: RecordedEvent[] = [];
  let after = -1;
  for (;;) {
    const { rows, truncated } = await page(after);
    events.push(...rows.map(recordedOf));
    const last = events.at(-1);
    if ((rows.length < PAGE && !truncated) || last === undefined || rows.length === 0) return events;
    after = last.chainSeq;
  }
}

/** A policy set from a PolicySetPublished payload (or the policy service's detail), checked against the hash it is known by. */
function compiledSet(hash: string, schemaText: string, policies: Record<string, string>, version: string): LoadedPolicySet {
  const set = compilePolicySet({ schemaText, policies, version });
  if (set.hash !== hash) throw new WritError('RUN_RECORD_INVALID', `the policy set published as ${hash} hashes to ${set.hash}`);
  return set;
}

function clickHouseReader(source: Extract<RunSource, { kind: 'chdb' | 'clickhouse' }>): RunReader {
  const client: ClickHouseClient = createClickHouse({
    ...(source.kind === 'clickhouse' ? { url: source.url } : { dataPath: source.dataPath }),
    ...(source.database === undefined ? {} : { database: source.database }),
    application: 'writ-cli',
  });
  const hint =
    source.kind === 'chdb'
      ? ' (is this a ledger\u2019s chDB folder, WRIT_CHDB_PATH? A running ledger holds its folder: stop it, or use --url)'
      : ' (is this the ledger\u2019s ClickHouse and database, CLICKHOUSE_DATABASE?)';
  const query = async <T>(sql: string, params: Record<string, unknown>): Promise<T[]> => {
    try {
      const result = await client.query({ query: sql, query_params: params, format: 'JSONEachRow' });
      return await result.json<T>();
    } catch (error) {
      throw new WritError('LEDGER_READ_FAILED', `reading the ledger's events failed: ${describeError(error)}${hint}`, { cause: error });
    }
  };
  let sets: Promise<Map<string, Record<string, unknown>>> | undefined;
  return {
    events: (runId) => allPages(async (after) => ({ rows: await query<EventRow>(runEventsSql(true), { run: runId, after }), truncated: false })),
    async policySet(hash) {
      sets ??= query<{ payload: string }>(POLICY_SETS_SQL, {}).then(
        (rows) =>
          new Map(
            rows.map((row) => {
              const payload = JSON.parse(row.payload) as Record<string, unknown>;
              return [String(payload['policy_set_hash']), payload];
            }),
          ),
      );
      const published = (await sets).get(hash);
      if (published === undefined) return undefined;
      const policies = published['policies'] as readonly { policy_id: string; text: string }[];
      return compiledSet(hash, String(published['schema_text']), Object.fromEntries(policies.map((p) => [p.policy_id, p.text])), String(published['version']));
    },
    close: () => client.close(),
  };
}

function doorReader(source: Extract<RunSource, { kind: 'door' }>, fetchFn: Fetch): RunReader {
  const service = new PolicyService(source.policyUrl, source.policyKey, fetchFn);
  return {
    events: (runId) =>
      allPages(async (after) => {
        const body = JSON.stringify({
          sql: runEventsSql(false),
          params: { run: runId, after },
          ...(source.tenant === undefined ? {} : { tenant: source.tenant }),
        });
        const text = await ledgerText(
          `${source.url}/v1/query`,
          source.key,
          { method: 'POST', headers: { 'content-type': 'application/json' }, body },
          "an analyst's or auditor's API key of the run's tenant: --key <key> or WRIT_API_KEY",
        );
        return JSON.parse(text) as { rows: EventRow[]; truncated: boolean };
      }),
    async policySet(hash) {
      try {
        const detail = await service.get(hash);
        return compiledSet(hash, detail.schema, { ...detail.policies_text }, detail.version);
      } catch (error) {
        if (error instanceof PolicyServiceError && error.status === 404) return undefined;
        if (error instanceof PolicyServiceError && (error.status === 401 || error.status === 403)) {
          throw new WritError(
            'FORBIDDEN',
            `the policy service at ${source.policyUrl} refused to show policy set ${hash.slice(0, 12)}: ${describeError(error)}`,
            {
              field: '--policy-key',
              rule: "a platform admin's or a service API key (the policy sets belong to no tenant); or read a stopped ledger with --chdb",
            },
          );
        }
        if (isWritError(error, 'POLICY_SERVICE_UNREACHABLE')) {
          throw new WritError('POLICY_SERVICE_UNREACHABLE', `cannot reach the policy service at ${source.policyUrl} for the run's policy sets`, {
            field: '--policy-url',
            rule: 'the policy service (WRIT_POLICY_URL); or read a stopped ledger with --chdb',
            cause: error,
            retriable: true,
          });
        }
        throw error;
      }
    },
    close: async () => undefined,
  };
}

export function runReader(source: RunSource, fetchFn: Fetch = (url, init) => fetch(url, init)): RunReader {
  return source.kind === 'door' ? doorReader(source, fetchFn) : clickHouseReader(source);
}
