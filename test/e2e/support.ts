// Shared by the end-to-end suites: one Writ stack (helpdesk + six services as processes) on the
// e2e broker that the global setup started, and clients holding the demo directory's API keys.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startWritStack } from '@writ/devstack';
import type { WritStack, WritStackOptions } from '@writ/devstack';
import { hashApiKey } from '@writ/directory';
import { WritClient } from '@writ/sdk';
import { testKafkaBrokers, uniqueName } from '@writ/testing';
import { writeLargeBudgets } from './fault-run.ts';

export const root = fileURLToPath(new URL('../../', import.meta.url));

const demoKeys = (JSON.parse(readFileSync(join(root, 'deploy', 'demo', 'keys.json'), 'utf8')) as { demoKeys: Record<string, string> }).demoKeys;

export function keyOf(who: string): string {
  const key = demoKeys[who];
  if (key === undefined) throw new Error(`no demo key for ${who}`);
  return key;
}

/** The Authorization header of a demo principal (the ledger and policy doors need one: audrey audits acme, ana analyses it). */
export function authAs(who: string): { authorization: string } {
  return { authorization: `Bearer ${keyOf(who)}` };
}

export interface E2eStack {
  readonly stack: WritStack;
  readonly agent: WritClient;
  readonly owner: WritClient;
  readonly manager: WritClient;
  readonly operator: WritClient;
  readonly otherTenantAgent: WritClient;
  readonly workDir: string;
}

/**
 * Starts a stack for one suite. With several gateways, the agent talks to the first and the
 * people (owner, manager, operator) to the last, so an approval or a kill switch goes through
 * another gateway than the proposal and the agent's long poll.
 */
export async function startE2eStack(basePort: number, env: Record<string, string> = {}, replicas?: WritStackOptions['replicas']): Promise<E2eStack> {
  const workDir = mkdtempSync(join(tmpdir(), 'writ-e2e-'));
  const stack = await startWritStack({
    root,
    brokers: testKafkaBrokers(),
    workDir,
    basePort,
    groupSuffix: `.${uniqueName('e2e')}`,
    // The suites share one broker, so every stack's accountant counts every suite's spend against
    // acme's daily caps (the demo's: 50 calls a day for triage-bot): whichever suite ran last was
    // refused. Caps the suites never reach, unless a suite brings its own; runs set their own caps.
    env: { WRIT_BUDGET_LIMITS_FILE: writeLargeBudgets(workDir), ...env },
    ...(replicas === undefined ? {} : { replicas }),
    log: (line) => console.log(`[e2e] ${line}`),
  });
  const agentGateway = stack.gatewayUrls[0] ?? stack.gatewayUrl;
  const peopleGateway = stack.gatewayUrls.at(-1) ?? stack.gatewayUrl;
  return {
    stack,
    workDir,
    agent: new WritClient(agentGateway, keyOf('triage-bot')),
    owner: new WritClient(peopleGateway, keyOf('dana')),
    manager: new WritClient(peopleGateway, keyOf('maria')),
    operator: new WritClient(peopleGateway, keyOf('oscar')),
    otherTenantAgent: new WritClient(agentGateway, keyOf('globex-bot')),
  };
}

/**
 * Stops a suite's stack and removes its work folder (the services' chDB, journal, keys, logs and
 * spans: about 100 MB a suite, which piled up in the temporary folder run after run), unless
 * WRIT_E2E_KEEP=1 keeps it for a look at the logs and spans of a failed run.
 */
export async function stopE2eStack(e2e: E2eStack | undefined): Promise<void> {
  if (e2e === undefined) return;
  await e2e.stack.stop();
  if (process.env['WRIT_E2E_KEEP'] === '1') console.log(`[e2e] kept the work folder (WRIT_E2E_KEEP=1): ${e2e.workDir}`);
  else rmSync(e2e.workDir, { recursive: true, force: true });
}

/** The helpdesk's own count of what it did, the ground truth of "the tool ran once". */
/** A run's settled spend in ClickHouse, asked as acme's analyst through the ledger's query door. */
export async function runSpendMicros(stack: WritStack, run: string): Promise<number> {
  const response = await fetch(`${stack.service('ledger').url}/v1/query`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...authAs('ana') },
    body: JSON.stringify({ sql: 'SELECT sum(cost_micros) AS spent FROM spend WHERE run_id = {run:String}', params: { run } }),
  });
  const [row] = ((await response.json()) as { rows: { spent: string | number }[] }).rows;
  return Number(row?.spent ?? 0);
}

export async function helpdeskStats(stack: WritStack): Promise<HelpdeskStats> {
  const response = await fetch(`${stack.helpdeskUrl}/_stats`, { headers: { authorization: `Bearer ${stack.helpdeskToken}` } });
  if (!response.ok) throw new Error(`helpdesk /_stats: HTTP ${response.status}`);
  return (await response.json()) as HelpdeskStats;
}

export interface HelpdeskStats {
  /** Calls per route, whatever their outcome. */
  readonly calls: Readonly<Record<string, number>>;
  /** Side effects per idempotency key: what the tool deduplicated, not what it was asked. */
  readonly effects: Readonly<Record<string, number>>;
  /** Calls that reached the tool per idempotency key (`<tenant>:<agent's key>`): "it ran once" is this being 1. */
  readonly calls_by_key: Readonly<Record<string, number>>;
  readonly refunds: readonly { readonly refund_id: string; readonly amount_cents: number }[];
  readonly [more: string]: unknown;
}

/** How many calls carrying this proposal's idempotency key reached the tool (0 when none did). */
export function callsAtTool(stats: HelpdeskStats, idempotencyKey: string, tenant = 'acme'): number {
  return stats.calls_by_key[`${tenant}:${idempotencyKey}`] ?? 0;
}

export function refundArgs(amountCents: number, ticket = 'T-1001', customer = 'C-501') {
  return {
    ticket_id: ticket,
    customer_id: customer,
    amount_cents: amountCents,
    ticket_tags: ['refund_approved'],
    reason: 'duplicate charge',
    card_last4: '4242',
  };
}

/** The agent of the automatic safe mode's e2e case: acme's, with a trigger of its own that no other agent has. */
export const CANARY_AGENT = 'canary-bot';
export const CANARY_KEY = 'wk_e2e_canarybot_5d1f0b7c2a9e4e31b8a6c04d';

/**
 * The environment of a stack whose gateway trips the canary agent automatically: the demo
 * directory plus the canary (every service reads it), a safe-mode file with a trigger for the
 * canary only (3 actions in 10 minutes, all failed: no other e2e agent or case can reach it) and
 * acme's webhook at `hookUrl`, signed with `secret`. The files are in `folder`, which the caller removes.
 */
export function autoSafeModeEnv(hookUrl: string, secret: string): { readonly env: Record<string, string>; readonly folder: string } {
  const dir = mkdtempSync(join(tmpdir(), 'writ-e2e-safe-mode-'));
  const directory = JSON.parse(readFileSync(join(root, 'deploy', 'demo', 'directory.json'), 'utf8')) as { agents: unknown[] };
  directory.agents.push({
    id: CANARY_AGENT,
    name: 'Canary agent (the automatic safe mode e2e case)',
    tenant: 'acme',
    role: 'support',
    owner: 'dana',
    api_key_sha256: hashApiKey(CANARY_KEY),
  });
  writeFileSync(join(dir, 'directory.json'), JSON.stringify(directory));
  writeFileSync(
    join(dir, 'safe-mode.json'),
    JSON.stringify({ tenants: { acme: { agents: { [CANARY_AGENT]: { window: '10m', min_actions: 3, error_rate_percent: 100 } } } } }),
  );
  writeFileSync(join(dir, 'hook-secret'), secret, { mode: 0o600 });
  writeFileSync(join(dir, 'webhooks.json'), JSON.stringify({ tenants: { acme: { url: hookUrl, secret_file: join(dir, 'hook-secret') } } }));
  return {
    env: {
      WRIT_DIRECTORY_FILE: join(dir, 'directory.json'),
      WRIT_GATEWAY_SAFE_MODE_FILE: join(dir, 'safe-mode.json'),
      WRIT_GATEWAY_WEBHOOKS_FILE: join(dir, 'webhooks.json'),
    },
    folder: dir,
  };
}
