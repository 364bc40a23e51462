// Where `writ verify` and `writ export` read a chain from: the running ledger over HTTP, an export
// file, or the ClickHouse projection directly (a stopped ledger's chDB folder, or a server).
import { readFile } from 'node:fs/promises';
import { createClickHouse } from '@writ/clickhouse';
import type { ClickHouseClient } from '@writ/clickhouse';
import { WritError } from '@writ/errors';
import { CHAINS_SQL, CHAIN_CHECKPOINTS_SQL, chainEntriesSql, checkpointLineOf, entryLineOf, exportLine } from '@writ/ledger-core';

export const DEFAULT_LEDGER_URL = 'http://127.0.0.1:26085';

export type LedgerSource =
  | { readonly kind: 'http'; readonly url: string; readonly key?: string }
  | { readonly kind: 'file'; readonly path: string }
  | { readonly kind: 'clickhouse'; readonly dataPath?: string; readonly url?: URL; readonly database?: string };

/** `--name value` pairs, and `--switch` alone for the names in `switches` (its value is 'true'). */
export function parseFlags(args: readonly string[], known: readonly string[], switches: readonly string[] = []): Map<string, string> {
  const flags = new Map<string, string>();
  const all = [...known, ...switches];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? '';
    const name = arg.startsWith('--') ? arg.slice(2) : undefined;
    if (name === undefined || !all.includes(name)) {
      throw new WritError('USAGE', `unknown argument ${JSON.stringify(arg)}`, { field: arg, rule: `one of ${all.map((k) => `--${k}`).join(', ')}` });
    }
    if (switches.includes(name)) {
      flags.set(name, 'true');
      continue;
    }
    const value = args[i + 1];
    if (value === undefined || value.startsWith('--')) {
      throw new WritError('USAGE', `--${name} needs a value`, { field: `--${name}`, rule: 'a value after the flag' });
    }
    flags.set(name, value);
    i++;
  }
  return flags;
}

/** --file, --chdb (data folder), --clickhouse (server URL), else --url (default the local ledger) with --key or WRIT_API_KEY. */
export function sourceOf(flags: ReadonlyMap<string, string>, env: Readonly<Record<string, string | undefined>> = process.env): LedgerSource {
  const file = flags.get('file');
  if (file !== undefined) return { kind: 'file', path: file };
  const database = flags.get('database') ?? env['CLICKHOUSE_DATABASE'];
  const chdb = flags.get('chdb');
  if (chdb !== undefined) return { kind: 'clickhouse', dataPath: chdb, ...(database === undefined ? {} : { database }) };
  const server = flags.get('clickhouse');
  if (server !== undefined) return { kind: 'clickhouse', url: new URL(server), ...(database === undefined ? {} : { database }) };
  const key = flags.get('key') ?? env['WRIT_API_KEY'];
  return {
    kind: 'http',
    url: (flags.get('url') ?? env['WRIT_LEDGER_URL'] ?? DEFAULT_LEDGER_URL).replace(/\/+$/, ''),
    ...(key === undefined || key === '' ? {} : { key }),
  };
}

/** Reads chains as export text, one per tenant. An http/clickhouse source without a tenant gives every chain. */
export async function readChains(source: LedgerSource, tenant: string | undefined, runId?: string): Promise<Map<string, string>> {
  switch (source.kind) {
    case 'file':
      return new Map([[tenant ?? source.path, await readFile(source.path, 'utf8')]]);
    case 'http':
      return readOverHttp(source.url, source.key, tenant, runId);
    case 'clickhouse': {
      const client = createClickHouse({
        ...(source.url === undefined ? {} : { url: source.url }),
        ...(source.dataPath === undefined ? {} : { dataPath: source.dataPath }),
        ...(source.database === undefined ? {} : { database: source.database }),
        application: 'writ-cli',
      });
      try {
        return await readFromClickHouse(client, tenant, runId);
      } finally {
        await client.close();
      }
    }
  }
}

const AUDITOR_KEY_RULE = 'an auditor API key of the tenant (or a service key): --key <key> or WRIT_API_KEY';

/**
 * One request to the ledger's HTTP doors with `Authorization: Bearer <key>`; the answer's text.
 * Unreachable, 401 (naming the key `keyRule` says to send) and any other non-2xx are WritErrors.
 */
export async function ledgerText(url: string, key: string | undefined, init: RequestInit = {}, keyRule = AUDITOR_KEY_RULE): Promise<string> {
  let response: Response;
  try {
    response = await fetch(url, {
      ...init,
      headers: { ...(init.headers as Record<string, string> | undefined), ...(key === undefined ? {} : { authorization: `Bearer ${key}` }) },
    });
  } catch (error) {
    throw new WritError('LEDGER_UNREACHABLE', `cannot reach the ledger at ${url} (is it running? or use --chdb <folder> when it is stopped)`, {
      cause: error,
      retriable: true,
    });
  }
  const body = await response.text();
  if (response.status === 401) {
    throw new WritError('LEDGER_UNAUTHENTICATED', `${url} answered 401: ${key === undefined ? 'send an API key' : 'the API key is not known'}`, {
      field: '--key',
      rule: keyRule,
    });
  }
  if (!response.ok) throw new WritError('LEDGER_REQUEST_FAILED', `${url} answered ${response.status}: ${body.slice(0, 300)}`);
  return body;
}

async function readOverHttp(base: string, key: string | undefined, tenant: string | undefined, runId: string | undefined): Promise<Map<string, string>> {
  const tenants =
    tenant !== undefined
      ? [tenant]
      : (JSON.parse(await ledgerText(`${base}/v1/ledger`, key)) as { chains: { chain_id: string }[] }).chains.map((c) => c.chain_id);
  const chains = new Map<string, string>();
  for (const id of tenants) {
    const query = runId === undefined ? '' : `?run_id=${encodeURIComponent(runId)}`;
    chains.set(id, await ledgerText(`${base}/v1/ledger/${encodeURIComponent(id)}${query}`, key));
  }
  return chains;
}

async function readFromClickHouse(client: ClickHouseClient, tenant: string | undefined, runId: string | undefined): Promise<Map<string, string>> {
  let tenants: string[];
  if (tenant !== undefined) tenants = [tenant];
  else {
    const result = await client.query({ query: CHAINS_SQL, format: 'JSONEachRow' });
    tenants = (await result.json<{ chain_id: string }>()).map((r) => r.chain_id);
  }
  const chains = new Map<string, string>();
  for (const id of tenants) {
    const byRun = runId !== undefined;
    const entries = await client.query({
      query: chainEntriesSql(byRun),
      query_params: { tenant: id, ...(byRun ? { run: runId } : {}) },
      format: 'JSONEachRow',
    });
    const lines = (await entries.json<Record<string, unknown>>()).map((row) => exportLine(entryLineOf(row)));
    if (!byRun) {
      const checkpoints = await client.query({ query: CHAIN_CHECKPOINTS_SQL, query_params: { tenant: id }, format: 'JSONEachRow' });
      lines.push(...(await checkpoints.json<Record<string, unknown>>()).map((row) => exportLine(checkpointLineOf(row))));
    }
    chains.set(id, lines.map((line) => `${line}\n`).join(''));
  }
  return chains;
}
