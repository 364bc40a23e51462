import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { kafkaStatus, startWritStack, writRoot } from '@writ/devstack';
import type { WritStack } from '@writ/devstack';
import { WritError } from '@writ/errors';
import { WritClient } from '@writ/sdk';
import type { ActionView } from '@writ/sdk';
import { uuidv7 } from '@writ/contracts';
import { PolicyService, runPolicy } from './policy.ts';
import { runAnchor } from './anchor.ts';
import { replayAndEvaluate } from './demo-replay.ts';
import { KafkaDoorAgent } from './kafka-door-agent.ts';
import { McpDoorAgent } from './mcp-door-agent.ts';
import { runTriageAgent } from './triage-agent.ts';
import { runVerify } from './verify.ts';

export interface HelpdeskDemoOptions {
  readonly say: (line: string) => void;
  /** Leave the services running after the summary (until Ctrl-C). */
  readonly keep?: boolean;
  /** The door the triage agent proposes through: HTTP (default), the Kafka door (docs/kafka-door.md) or MCP (docs/mcp.md). */
  readonly door?: DemoDoor;
}

function demoKeys(root: string): Record<string, string> {
  const file = join(root, 'deploy', 'demo', 'keys.json');
  return (JSON.parse(readFileSync(file, 'utf8')) as { demoKeys: Record<string, string> }).demoKeys;
}

/** An analyst query of acme, as ana (acme's analyst): the ledger scopes it to her tenant. */
async function ledgerQuery<T>(stack: WritStack, sql: string, params: Record<string, unknown>): Promise<T[]> {
  const response = await fetch(`${stack.service('ledger').url}/v1/query`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${demoKeys(writRoot())['ana'] ?? ''}` },
    body: JSON.stringify({ sql, params }),
  });
  if (!response.ok) throw new WritError('LEDGER_QUERY_FAILED', `ledger query: HTTP ${response.status} ${await response.text()}`);
  return ((await response.json()) as { rows: T[] }).rows;
}

const dollars = (micros: number) => `$${(micros / 1_000_000).toFixed(2)}`;

/** The demo's policy change: hold refunds to customer C-503 (a chargeback under investigation). */
const HOLD_RULE = 'refund-hold-customer-c-503';
const holdRule = (mode: 'shadow' | 'enforce') => `// Refunds to C-503 are on hold while a chargeback is investigated.
@id("${HOLD_RULE}")
@mode("${mode}")
forbid (principal, action == Writ::Action::"invoke", resource == Writ::Tool::"refunds.issue")
when { context.arguments has customer_id && context.arguments.customer_id == "C-503" };
`;
const HOLD_CASE = {
  description: 'refunds to C-503 are on hold',
  request: {
    tenant: 'acme',
    agent: { id: 'triage-bot', role: 'support', owner: 'dana' },
    tool: { name: 'refunds.issue', version: '1.2.0', effect: 'write', risk: 'medium' },
    arguments: { ticket_id: 'T-1008', customer_id: 'C-503', amount_cents: 3999, ticket_tags: ['refund_approved'] },
    runStats: { steps: 0, spendMicros: 0, callsInWindow: 0 },
  },
  expect: { decision: 'deny', determiningPolicies: [HOLD_RULE] },
};

/** A copy of the checkout's policies with the hold rule in the given mode (enforced: with its case). */
function policiesWithHold(root: string, workDir: string, mode: 'shadow' | 'enforce'): string {
  const dir = join(workDir, `policies-hold-${mode}`);
  rmSync(dir, { recursive: true, force: true });
  cpSync(join(root, 'policies'), dir, { recursive: true });
  writeFileSync(join(dir, `${HOLD_RULE}.cedar`), holdRule(mode));
  if (mode === 'enforce') {
    mkdirSync(join(dir, 'cases', 'deny'), { recursive: true });
    writeFileSync(join(dir, 'cases', 'deny', 'refund-to-held-customer.json'), `${JSON.stringify(HOLD_CASE, null, 2)}\n`);
  }
  return dir;
}

/** The demo's rule over history: a copy of the checkout's policies with deploy/demo/policies (the rule and its cases) added. */
const QUOTA_RULE = 'at-most-3-refunds-per-customer-per-day';
function policiesWithQuota(root: string, workDir: string): string {
  const dir = join(workDir, 'policies-quota');
  rmSync(dir, { recursive: true, force: true });
  cpSync(join(root, 'policies'), dir, { recursive: true });
  cpSync(join(root, 'deploy', 'demo', 'policies'), dir, { recursive: true });
  return dir;
}

/** Runs `writ policy <args>` against the stack, printing its lines indented; throws on a non-zero exit. */
async function policyCli(stack: WritStack, key: string, args: readonly string[], say: (line: string) => void): Promise<string[]> {
  const lines: string[] = [];
  const print = (line: string) => {
    lines.push(line);
    for (const part of line.split('\n')) say(`    ${part}`);
  };
  const code = await runPolicy(
    [...args, '--key', key],
    { out: print, err: print },
    { WRIT_POLICY_URL: stack.service('policy').url, WRIT_LEDGER_URL: stack.service('ledger').url },
  );
  if (code !== 0) throw new WritError('DEMO_INCOMPLETE', `writ policy ${args[0] ?? ''} exited ${code}`);
  return lines;
}

/**
 * Writ's main demo: the helpdesk system of record and the six services as processes, a scripted
 * triage agent working the ticket queue through the gateway, a manager approving the large
 * refund (after the agent's owner is refused), then a summary from the services themselves.
 */
export async function runHelpdeskDemo({ say, keep = false, door = 'http' }: HelpdeskDemoOptions): Promise<void> {
  const root = writRoot();
  const kafka = await kafkaStatus();
  if (!kafka.healthy) throw new WritError('KAFKA_UNREACHABLE', `Kafka is not answering on ${kafka.brokers.join(',')}: ./dev stack up`);
  const workDir = join(root, '.local', 'demo');
  say(`starting the helpdesk and the six services (logs in ${join(workDir, 'logs')})`);
  const secrets = kafka.secretsDir === undefined ? {} : { kafkaSecretsDir: kafka.secretsDir };
  const stack = await startWritStack({ root, brokers: kafka.brokers, workDir, ...secrets, log: (line) => say(`  ${line}`) });
  try {
    const keys = demoKeys(root);
    const client = (who: string) => new WritClient(stack.gatewayUrl, keys[who] ?? '');
    const agent = client('triage-bot');

    // A policy change goes out in shadow mode first: decided on every request, recorded, never enforced.
    say(`root (platform admin) publishes a policy change in shadow mode: ${HOLD_RULE}`);
    const before = await new PolicyService(stack.service('policy').url, keys['root'], (url, init) => fetch(url, init)).list();
    await policyCli(
      stack,
      keys['root'] ?? '',
      ['publish', policiesWithHold(root, workDir, 'shadow'), '--message', 'hold refunds to C-503, in shadow first'],
      say,
    );

    const { run_id: runId } = await agent.openRun(`triage the helpdesk queue (${uuidv7().slice(0, 8)})`, {
      max_steps: 50,
      currency: 'USD',
    });
    say(`triage-bot opened run ${runId} and works the queue${DOOR_TEXT[door]}:`);
    const doorAgent =
      door === 'kafka'
        ? await kafkaTriageAgent(root, kafka, agent)
        : door === 'mcp'
          ? await McpDoorAgent.connect(stack.gatewayUrl, keys['triage-bot'] ?? '')
          : undefined;
    const steps = await runTriageAgent(doorAgent ?? agent, runId, say).finally(() => doorAgent?.close());

    const pending = steps.filter((step) => step.view.status === 'awaiting_approval');
    for (const step of pending) {
      say(`approval queue: ${step.tool} on ${step.ticket} (${step.action_id})`);
      await client('dana').decide(step.action_id, 'approve', 'my bot, my call');
      const refused = await waitForApproval(agent, step.action_id, 'dana');
      say(`  dana (the agent's owner) approves → ${refused?.accepted === false ? `refused: ${refused.reason}` : 'accepted?!'}`);
      await client('maria').decide(step.action_id, 'approve', 'checked the order history');
      const quorum = (step.view['approval_requirement'] as { count?: number } | null)?.count ?? 1;
      if (quorum > 1) {
        // Above $500 the policy asks for a quorum of two managers: maria's approval counts, the second is mike's.
        const maria = await waitForApproval(agent, step.action_id, 'maria');
        say(
          `  maria (manager) approves → ${maria?.accepted === true ? `counted, 1 of ${quorum}: still awaiting approval` : `not counted: ${maria?.reason ?? 'no answer'}`}`,
        );
        await client('mike').decide(step.action_id, 'approve', 'second pair of eyes on a large refund');
        const outcome = await agent.outcome(step.action_id, 30_000);
        say(`  mike (manager) approves, 2 of ${quorum} → ${outcome.status}`);
        steps[steps.indexOf(step)] = { ...step, view: outcome };
        continue;
      }
      const outcome = await agent.outcome(step.action_id, 30_000);
      say(`  maria (manager) approves → ${outcome.status}`);
      steps[steps.indexOf(step)] = { ...step, view: outcome };
    }

    say(`what the shadow rule would have done (ClickHouse shadow_results, as ana):`);
    const shadow = await waitForRows(() =>
      ledgerQuery<{ policy_id: string; enforced_decision: string; shadow_decision: string; action_id: string }>(
        stack,
        'SELECT policy_id, enforced_decision, shadow_decision, action_id FROM shadow_results WHERE run_id = {run:String} AND disagrees = 1',
        { run: runId },
      ),
    );
    for (const row of shadow) {
      const step = steps.find((s) => s.action_id === row.action_id);
      say(
        `  ${row.policy_id}: ${row.shadow_decision} where ${row.enforced_decision} was enforced (${step === undefined ? row.action_id : `${step.tool} on ${step.ticket}`})`,
      );
    }
    say("backtest: the same rule enforced, replayed on acme's recorded decisions of the last day");
    await policyCli(
      stack,
      keys['ana'] ?? '',
      ['backtest', '--policies', policiesWithHold(root, workDir, 'enforce'), '--since', '1d', '--tenant', 'acme', '--examples', '2'],
      say,
    );
    if (before.current !== null) {
      say('root rolls the shadow rule back (it goes on the log too):');
      await policyCli(stack, keys['root'] ?? '', ['rollback', before.current.policy_set_hash, '--message', 'the hold was a what-if: back'], say);
    }

    // A rule over history: the PDP counts from the decisions on the log, the ones before the rule included.
    say(`root publishes a rule over history, enforced: ${QUOTA_RULE} (deploy/demo/policies)`);
    await policyCli(stack, keys['root'] ?? '', ['publish', policiesWithQuota(root, workDir), '--message', 'at most 3 refunds per customer per day'], say);
    say('triage-bot issues small goodwill refunds to C-501 (T-1001); the refunds it already made today count:');
    for (let i = 1; i <= 4; i++) {
      const { action_id: goodwill } = await agent.propose(runId, {
        tool: 'refunds.issue',
        arguments: { ticket_id: 'T-1001', customer_id: 'C-501', amount_cents: 500 + i, currency: 'USD', ticket_tags: ['refund_approved'], reason: 'goodwill' },
        reason: `goodwill refund ${i}`,
        idempotency_key: `${runId}:goodwill:${i}`,
      });
      const view = await agent.outcome(goodwill, 30_000);
      steps.push({ ticket: 'T-1001', tool: 'refunds.issue', action_id: goodwill, view });
      say(`  goodwill refund ${i} → ${view.status}${view.determining_policies?.length ? ` (${view.determining_policies.join(', ')})` : ''}`);
      if (view.status === 'denied') break;
    }
    if (before.current !== null) {
      say("root rolls back to the checkout's policies:");
      await policyCli(stack, keys['root'] ?? '', ['rollback', before.current.policy_set_hash, '--message', "demo over: back to the checkout's policies"], say);
    }

    // Degradation instead of a wall: every run's budget (deploy/demo/budgets.json) allows only reads from 50 % on.
    say('triage-bot opens a second run with $0.10 of its own; the run budget degrades to reads at 50 %:');
    const { run_id: smallRun } = await agent.openRun(`goodwill within a small budget (${uuidv7().slice(0, 8)})`, {
      max_steps: 10,
      max_cost_micros: 100_000,
      currency: 'USD',
    });
    const degrade = async (tool: string, args: Record<string, unknown>, label: string) => {
      const { action_id } = await agent.propose(smallRun, {
        tool,
        arguments: args,
        reason: label,
        idempotency_key: `${smallRun}:${label.replaceAll(' ', '-')}`,
      });
      const view = await agent.outcome(action_id, 30_000);
      say(`  ${label.padEnd(18)} → ${view.status}${view.status === 'refused' && view.reason !== undefined ? ` (${view.reason})` : ''}`);
    };
    for (let i = 1; i <= 4; i++) {
      const args = { ticket_id: 'T-1002', customer_id: 'C-502', amount_cents: 300 + i, currency: 'USD', ticket_tags: ['refund_approved'], reason: 'goodwill' };
      await degrade('refunds.issue', args, `small refund ${i}`);
    }
    await degrade('tickets.get', { ticket_id: 'T-1002' }, 'read the ticket');

    say('summary:');
    const byStatus = new Map<string, string[]>();
    for (const step of steps) byStatus.set(step.view.status, [...(byStatus.get(step.view.status) ?? []), `${step.tool}@${step.ticket}`]);
    for (const [status, actions] of [...byStatus].sort()) say(`  ${status.padEnd(10)} ${String(actions.length).padStart(2)}  ${actions.join(', ')}`);

    const budgets = JSON.parse(readFileSync(join(root, 'deploy', 'demo', 'budgets.json'), 'utf8')) as unknown;
    const runSpend = await waitForSpend(stack, runId, steps);
    say(`  spend of this run: ${dollars(runSpend)} (sum of the tools' actual costs, from ClickHouse)`);
    const [today] = await ledgerQuery<{ spent: string | number }>(
      stack,
      'SELECT sum(cost_micros) AS spent FROM spend WHERE agent_id = {agent:String} AND toDate(settled_at) = today()',
      { agent: 'triage-bot' },
    );
    const cap = agentDailyCap(budgets, 'acme', 'triage-bot');
    say(`  triage-bot today: ${dollars(Number(today?.spent ?? 0))}${cap === undefined ? '' : ` of its ${dollars(cap)} daily budget`}`);

    const verifyLines: string[] = [];
    const collect = { out: (line: string) => verifyLines.push(line), err: (line: string) => verifyLines.push(line) };
    // audrey is acme's auditor: the ledger exports acme's chain to her only. She anchors its signed
    // heads outside Writ (a file of this demo run here; in practice one the ledger's operators cannot
    // write), then verifies the chain against them too.
    const auditor = [
      '--tenant',
      'acme',
      '--url',
      stack.service('ledger').url,
      '--key',
      keys['audrey'] ?? '',
      '--keys',
      stack.env['WRIT_LEDGER_KEYS_DIR'] ?? '',
    ];
    const anchorsFile = join(workDir, 'anchors.jsonl');
    rmSync(anchorsFile, { force: true });
    const anchored = await runAnchor([...auditor, '--to', anchorsFile], collect);
    const code = anchored === 0 ? await runVerify([...auditor, '--anchors', anchorsFile], collect) : anchored;
    for (const line of verifyLines) say(`  ledger: ${line.replace(/^\[(verify|anchor)\] /, '')}`);
    if (code !== 0) throw new WritError('LEDGER_VERIFY_FAILED', 'the ledger did not verify');

    // Evidence: the runs rebuilt from the ledger alone, then the regression cases (evals/) put to the policies.
    say('the runs rebuilt from the ledger alone (writ replay), then the eval cases (writ eval run):');
    await replayAndEvaluate({
      root,
      ledgerUrl: stack.service('ledger').url,
      policyUrl: stack.service('policy').url,
      analystKey: keys['ana'] ?? '',
      policyKey: keys['root'] ?? '',
      runs: [runId, smallRun],
      say: (line) => say(`  ${line}`),
    });

    // The per-action credential: every call the executor made carried a token minted for that action.
    const helpdeskAuth = { authorization: `Bearer ${stack.helpdeskToken}` };
    const forged = await fetch(`${stack.helpdeskUrl}/refunds`, {
      method: 'POST',
      headers: { ...helpdeskAuth, 'content-type': 'application/json', 'idempotency-key': `demo:${uuidv7()}` },
      body: JSON.stringify({ ticket_id: 'T-1001', customer_id: 'C-501', amount_cents: 100_000, ticket_tags: ['refund_approved'], reason: 'not via Writ' }),
    });
    const helpdeskStats = (await (await fetch(`${stack.helpdeskUrl}/_stats`, { headers: helpdeskAuth })).json()) as {
      credentials?: { minted: number; static: number; refused: number };
    };
    const credentials = helpdeskStats.credentials ?? { minted: 0, static: 0, refused: 0 };
    say(
      `  helpdesk: ${credentials.minted} calls with a token minted for their action (EdDSA, checked against the executor's JWKS), ${credentials.static} with a static token; a refund with the old static token → HTTP ${forged.status}`,
    );

    say('where to look next:');
    say(`  API            ${stack.gatewayUrl}/v1/openapi.json (agent key of triage-bot in deploy/demo/keys.json)`);
    say(
      `  console        ${stack.gatewayUrl}/console (with --keep): sign in with a person's key from deploy/demo/keys.json (jq -r .demoKeys.maria ...): maria approves, oscar operates, ana analyses, audrey audits; an agent's key is refused`,
    );
    say(
      `  analytics      curl -s ${stack.service('ledger').url}/v1/query -H "authorization: Bearer $(jq -r .demoKeys.ana deploy/demo/keys.json)" -H 'content-type: application/json' -d '{"sql":"SELECT status, count() FROM actions GROUP BY status"}'`,
    );
    say(
      `  audit          export WRIT_API_KEY=$(jq -r .demoKeys.audrey deploy/demo/keys.json) WRIT_LEDGER_KEYS_DIR=${stack.env['WRIT_LEDGER_KEYS_DIR'] ?? ''}; ./dev writ anchor --tenant acme --url ${stack.service('ledger').url} --to ${anchorsFile}; ./dev writ verify --tenant acme --url ${stack.service('ledger').url} --anchors ${anchorsFile}`,
    );
    say(
      `  run proofs     WRIT_API_KEY=$(jq -r .demoKeys.audrey deploy/demo/keys.json) ./dev writ export --tenant acme --run ${runId} --url ${stack.service('ledger').url}`,
    );
    const quorum = steps.find((step) => step.ticket === 'T-1010' && step.tool === 'refunds.issue');
    if (quorum !== undefined) {
      say(
        `  one action     WRIT_API_KEY=$(jq -r .demoKeys.ana deploy/demo/keys.json) ./dev writ explain ${quorum.action_id} --url ${stack.service('ledger').url}   (the quorum: decisions, context, approvals)`,
      );
    }
    const capped = steps.find((step) => step.view.status === 'denied' && step.view.determining_policies?.includes(QUOTA_RULE) === true);
    if (capped !== undefined) {
      say(
        `  history fact   WRIT_API_KEY=$(jq -r .demoKeys.ana deploy/demo/keys.json) ./dev writ explain ${capped.action_id} --url ${stack.service('ledger').url}   (context.history: the refunds it counted)`,
      );
    }
    say(`  policy sets    WRIT_API_KEY=$(jq -r .demoKeys.root deploy/demo/keys.json) ./dev writ policy history --url ${stack.service('policy').url}`);
    say(
      `  replay, evals  WRIT_API_KEY=$(jq -r .demoKeys.ana deploy/demo/keys.json) ./dev writ replay --run ${runId} --url ${stack.service('ledger').url} --policy-url ${stack.service('policy').url} --policy-key $(jq -r .demoKeys.root deploy/demo/keys.json)   |   ./dev writ eval run   (docs/evals.md)`,
    );
    say(
      `  metrics        curl -s ${stack.service('gateway').metricsUrl ?? '(no metrics port)'}   (every service has one); dashboards deploy/grafana/, alert rules deploy/prometheus/rules/ (docs/observability.md)`,
    );
    say(`  traces, logs   ${stack.tracesFile}, ${join(workDir, 'logs')}`);
    if (keep) {
      say('services keep running; Ctrl-C stops them');
      await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
    } else {
      say('(./dev demo --keep leaves the services running for that)');
    }
  } finally {
    await stack.stop();
  }
}

const DEMO_DOORS = ['http', 'kafka', 'mcp'] as const;
export type DemoDoor = (typeof DEMO_DOORS)[number];
const DOOR_TEXT: Readonly<Record<DemoDoor, string>> = {
  http: '',
  kafka: ' through the Kafka door (as agent-acme-triage-bot)',
  mcp: ' through the MCP door (POST /mcp, the official MCP client)',
};

/** `--door http|kafka|mcp` (default http): the door the demo's triage agent proposes through. */
export function demoDoor(argv: readonly string[]): DemoDoor {
  const at = argv.indexOf('--door');
  if (at < 0) return 'http';
  const value = argv[at + 1];
  const door = DEMO_DOORS.find((known) => known === value);
  if (door !== undefined) return door;
  throw new WritError('USAGE', `--door must be one of ${DEMO_DOORS.join(', ')}, got ${value === undefined ? 'nothing' : JSON.stringify(value)}`, {
    field: '--door',
    rule: 'enum',
  });
}

/** triage-bot on the Kafka door, as its own principal (its password from the local broker's secrets). */
async function kafkaTriageAgent(root: string, kafka: { brokers: readonly string[]; secretsDir?: string }, http: WritClient): Promise<KafkaDoorAgent> {
  if (kafka.secretsDir === undefined)
    throw new WritError('KAFKA_SECRETS_UNKNOWN', 'the Kafka door needs the local SASL broker (./dev stack up): no secrets folder');
  const principal = 'agent-acme-triage-bot';
  return KafkaDoorAgent.connect({ root, brokers: kafka.brokers, principal, passwordFile: join(kafka.secretsDir, `${principal}.password`), http });
}

async function waitForApproval(agent: WritClient, actionId: string, approver: string) {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const view = await agent.action(actionId);
    const approvals = (view['approvals'] ?? []) as { approver_id: string; accepted: boolean | null; reason: string | null }[];
    const found = approvals.find((a) => a.approver_id === approver);
    if (found !== undefined) return found;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return undefined;
}

/** The ledger projects asynchronously: poll a query until it has rows (or 30 s passed). */
async function waitForRows<T>(query: () => Promise<T[]>): Promise<T[]> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const rows = await query();
    if (rows.length > 0 || Date.now() > deadline) return rows;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** The ledger projects asynchronously: wait until every executed action's cost is in ClickHouse. */
async function waitForSpend(stack: WritStack, runId: string, steps: readonly { view: ActionView }[]): Promise<number> {
  const expected = steps.reduce((sum, step) => sum + (step.view.cost_micros ?? 0), 0);
  const deadline = Date.now() + 20_000;
  let spent = 0;
  while (Date.now() < deadline) {
    const [row] = await ledgerQuery<{ spent: string | number }>(stack, 'SELECT sum(cost_micros) AS spent FROM spend WHERE run_id = {run:String}', {
      run: runId,
    });
    spent = Number(row?.spent ?? 0);
    if (spent === expected) return spent;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new WritError('DEMO_SPEND_MISMATCH', `ClickHouse shows ${spent} micros spent by run ${runId}, the actions report ${expected}`);
}

/** The agent's daily money cap from the budgets file ("money" as a decimal string, or "money_micros"). */
function agentDailyCap(budgets: unknown, tenant: string, agent: string): number | undefined {
  type Daily = { money?: string; money_micros?: number };
  const tenants = (budgets as { tenants?: Record<string, { agents?: Record<string, { daily?: Daily }> }> }).tenants;
  const daily = tenants?.[tenant]?.agents?.[agent]?.daily;
  if (daily?.money_micros !== undefined) return daily.money_micros;
  return daily?.money === undefined ? undefined : Math.round(Number(daily.money) * 1_000_000);
}
