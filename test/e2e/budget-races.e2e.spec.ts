// End to end, the accountant under races, crashes and decimal money (issue 9, "Proven: ..."), and
// LiteLLM's public budget bugs reproduced as tests of ours: first-request races of a new end user,
// reservations that never release, requests that skip the reservation, float drift. Everything
// goes through the gateway's HTTP API on the real stack; what happened is read back from the
// topics (read_committed), the books rebuilt from writ.budget.v1 as the accountant does at boot,
// and the demo helpdesk's own count of the calls it got.
//
// The stack has its own agents (fresh ids, so the day's counters start at zero on the e2e tier's
// shared broker), its own budgets file (an agent cap per test, and a "*" default for agents
// without one) and two tools of its own with decimal prices ($0.10 and $0.20).
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initialBudgetState, periodId, replayWire, usageOf } from '@writ/budget-core';
import type { BudgetState, BudgetWireEvent } from '@writ/budget-core';
import { EventProducer, replayCommitted, writEvent } from '@writ/bus';
import { TOPICS, decodeEvent, microsToMoney, newMetadata } from '@writ/contracts';
import type { DecodedEvent } from '@writ/contracts';
import { generateSigningKey, loadSigningKey } from '@writ/crypto';
import { signedExecutionRequest } from '@writ/executor-core/testing';
import { WritClient, isTerminal } from '@writ/sdk';
import type { ActionView } from '@writ/sdk';
import { testKafkaBrokers, waitFor } from '@writ/testing';
import { callsAtTool, helpdeskStats, refundArgs, root, runSpendMicros, startE2eStack, stopE2eStack } from './support.ts';
import type { E2eStack, HelpdeskStats } from './support.ts';

const BASE_PORT = 26740;
const TENANT = 'acme';
const log = (line: string) => console.log(`[budget-races] ${line}`);

/** Tickets tagged refund_approved and their customers (demo/helpdesk/src/seed.ts). */
const APPROVED: readonly (readonly [string, string])[] = [
  ['T-1001', 'C-501'],
  ['T-1002', 'C-502'],
  ['T-1005', 'C-505'],
  ['T-1008', 'C-503'],
];
const STATUSES = ['open', 'pending', 'closed'] as const;

/** The stack's own read tools, priced in decimal dollars: the drift tests' 0.10 and 0.20. */
const SCAN = { name: 'tickets.scan', micros: 100_000 } as const;
const BROWSE = { name: 'tickets.browse', micros: 200_000 } as const;

// ---- the stack's agents, budgets and tools

interface TestAgent {
  readonly id: string;
  readonly key: string;
}

const suffix = randomBytes(4).toString('hex');
function newAgent(label: string): TestAgent {
  return { id: `${label}-${suffix}`, key: `wk_test_${label.replace(/-/g, '')}_${randomBytes(12).toString('hex')}` };
}

/** The 50-way race (its run's cap binds, not the agent's). */
const racer = newAgent('racer');
/** A new end user: no entry of its own in the budgets file, so the "*" default caps it. */
const newcomer = newAgent('newcomer');
/** Makes actions that end without executing, then spends its whole cap. */
const holder = newAgent('holder');
/** A budget of "25.00" and 250 calls of $0.10. */
const drifter = newAgent('drifter');
/** A budget of "0.30", one call of $0.10 and one of $0.20. */
const summer = newAgent('summer');
/** An agent whose day budget degrades to reads at 50 %. */
const degrader = newAgent('degrader');
/** An agent whose day budget wants an approval for writes at 40 % and degrades to reads at 80 %. */
const stepper = newAgent('stepper');
/** Calls a metered tool (its result reports its cost) under a rolling tool budget. */
const meterer = newAgent('meterer');
/** At most one action in flight (a reservation not yet closed). */
const concurrer = newAgent('concurrer');
/** At most two calls in any rolling minute: a rate limit. */
const limited = newAgent('limited');
/** Capped by the ISO week, and another by the month (the tenant's calendar, UTC+14). */
const weekly = newAgent('weekly');
const monthly = newAgent('monthly');
const AGENTS = [racer, newcomer, holder, drifter, summer, degrader, stepper, meterer, concurrer, limited, weekly, monthly];

/** The tenant's calendar periods follow UTC+14: its day is not UTC's for most of the day. */
const TIME_ZONE = 'Pacific/Kiritimati';
/** A read whose result reports its cost: tickets.get, its cost the ticket's requested_refund_cents (as micro-dollars), at most 5,000. */
const METERED = { name: 'tickets.metered', micros: 1_000, max: 5_000, calls: 3 } as const;
const DEGRADER_REFUNDS = 5;

interface ToolFile {
  readonly name: string;
  readonly version: string;
  readonly cost: { readonly micros: number; readonly max_micros?: number; readonly actual?: string; readonly currency: string };
  readonly [field: string]: unknown;
}

/** What the accountant reserves for one call of a tool: its declared maximum (the expected cost when none). */
const reservedCost = (tool: ToolFile): number => tool.cost.max_micros ?? tool.cost.micros;

function readTools(dir: string): Map<string, ToolFile> {
  const tools = new Map<string, ToolFile>();
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.json'))) {
    const tool = JSON.parse(readFileSync(join(dir, file), 'utf8')) as ToolFile;
    tools.set(tool.name, tool);
  }
  return tools;
}

/** The repository's tools plus tickets.scan ($0.10) and tickets.browse ($0.20): read tools on GET /tickets. */
function writeTools(dir: string): Map<string, ToolFile> {
  cpSync(join(root, 'tools'), dir, { recursive: true });
  const list = JSON.parse(readFileSync(join(dir, 'tickets.list@1.0.0.json'), 'utf8')) as ToolFile;
  for (const priced of [SCAN, BROWSE]) {
    const tool = {
      ...list,
      name: priced.name,
      description: `List tickets at ${priced.micros} micro-dollars a call (budget races).`,
      cost: { micros: priced.micros, currency: 'USD' },
    };
    writeFileSync(join(dir, `${priced.name}@1.0.0.json`), JSON.stringify(tool, null, 2));
  }
  const get = JSON.parse(readFileSync(join(dir, 'tickets.get@1.0.0.json'), 'utf8')) as ToolFile;
  const metered = {
    ...get,
    name: METERED.name,
    description: 'Read a ticket, billed by what its result reports (budget races).',
    cost: { micros: METERED.micros, max_micros: METERED.max, actual: 'requested_refund_cents', currency: 'USD' },
  };
  writeFileSync(join(dir, `${METERED.name}@1.0.0.json`), JSON.stringify(metered, null, 2));
  return readTools(dir);
}

/** The demo directory plus this file's agents (support agents of acme, owned by dana). */
function writeDirectory(path: string): void {
  const directory = JSON.parse(readFileSync(join(root, 'deploy', 'demo', 'directory.json'), 'utf8')) as { agents: unknown[] };
  for (const agent of AGENTS) {
    directory.agents.push({
      id: agent.id,
      name: `budget races: ${agent.id}`,
      tenant: TENANT,
      role: 'support',
      owner: 'dana',
      api_key_sha256: createHash('sha256').update(agent.key, 'utf8').digest('hex'),
    });
  }
  writeFileSync(path, JSON.stringify(directory, null, 2));
}

/** Caps the tests never reach: the tenant's, and the agents that must not be capped by the day. */
const UNBOUND = { money: '1000000.00', tool_calls: 100_000_000 };
const NEWCOMER_CALLS = 2;
const HOLDER_CALLS = 3;

function writeBudgets(path: string, refundMicros: number): void {
  writeFileSync(
    path,
    JSON.stringify({
      tenants: {
        [TENANT]: {
          currency: 'USD',
          daily: UNBOUND,
          agents: {
            // Every agent without an entry of its own: two refunds a day. Only the newcomer has none.
            '*': { daily: { money_micros: NEWCOMER_CALLS * refundMicros } },
            'triage-bot': { daily: UNBOUND },
            [racer.id]: { daily: UNBOUND },
            [holder.id]: { daily: { money_micros: HOLDER_CALLS * refundMicros } },
            [drifter.id]: { daily: { money: '25.00' } },
            [summer.id]: { daily: { money: '0.30' } },
            [meterer.id]: { daily: UNBOUND },
            [concurrer.id]: { daily: UNBOUND },
            [limited.id]: { daily: UNBOUND },
            [weekly.id]: { daily: UNBOUND },
            [monthly.id]: { daily: UNBOUND },
          },
          time_zone: TIME_ZONE,
          budgets: [
            { scope: 'agent', subject: degrader.id, period: 'day', money_micros: DEGRADER_REFUNDS * refundMicros, reads_only_at: 50 },
            { scope: 'agent', subject: stepper.id, period: 'day', money_micros: DEGRADER_REFUNDS * refundMicros, approval_at: 40, reads_only_at: 80 },
            { scope: 'tool', subject: METERED.name, window: '1h', tool_calls: METERED.calls },
            { scope: 'agent', subject: concurrer.id, period: 'concurrent', tool_calls: 1 },
            { scope: 'agent', subject: limited.id, window: '1m', tool_calls: 2 },
            { scope: 'agent', subject: weekly.id, period: 'week', tool_calls: 2 },
            { scope: 'agent', subject: monthly.id, period: 'month', money_micros: 2 * refundMicros },
          ],
        },
      },
    }),
  );
}

let e2e: E2eStack;
let tools: Map<string, ToolFile>;
let dir: string;
let refund: ToolFile;
const clients = new Map<string, WritClient>();

function clientOf(agent: TestAgent): WritClient {
  const client = clients.get(agent.id);
  if (client === undefined) throw new Error(`no client for ${agent.id}`);
  return client;
}

function toolOf(name: string): ToolFile {
  const tool = tools.get(name);
  if (tool === undefined) throw new Error(`no tool ${name} in the stack's tools`);
  return tool;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'writ-e2e-budget-races-'));
  const toolsDir = join(dir, 'tools');
  tools = writeTools(toolsDir);
  refund = toolOf('refunds.issue');
  writeDirectory(join(dir, 'directory.json'));
  writeBudgets(join(dir, 'budgets.json'), reservedCost(refund));
  e2e = await startE2eStack(BASE_PORT, {
    WRIT_TOOLS_DIR: toolsDir,
    WRIT_DIRECTORY_FILE: join(dir, 'directory.json'),
    WRIT_BUDGET_LIMITS_FILE: join(dir, 'budgets.json'),
  });
  for (const agent of AGENTS) clients.set(agent.id, new WritClient(e2e.stack.gatewayUrl, agent.key));
  log(`stack work dir (service logs in logs/; removed at the end unless WRIT_E2E_KEEP=1): ${e2e.workDir}`);
}, 180_000);

afterAll(async () => {
  await stopE2eStack(e2e);
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

// ---- proposing through the gateway

interface Proposed {
  readonly agent: string;
  readonly key: string;
  readonly actionId: string;
  readonly runId: string;
  readonly tool: string;
}

/** Every action this file proposed through the gateway: the reservation invariant (last test) covers them all. */
const everyAction: Proposed[] = [];

async function propose(agent: TestAgent, runId: string, tool: string, args: Readonly<Record<string, unknown>>, label: string): Promise<Proposed> {
  const key = `${label}-${randomUUID()}`;
  const answer = await clientOf(agent).propose(runId, { tool, arguments: args, reason: `budget races: ${label}`, idempotency_key: key });
  const proposed = { agent: agent.id, key, actionId: answer.action_id, runId, tool };
  everyAction.push(proposed);
  return proposed;
}

/** The action's terminal view, long-polled through the gateway. */
async function outcome(agent: TestAgent, action: Proposed, timeoutMs = 90_000): Promise<ActionView> {
  const view = await clientOf(agent).outcome(action.actionId, timeoutMs);
  if (!isTerminal(view.status)) throw new Error(`action ${action.actionId} (${action.key}) is still ${view.status} after ${timeoutMs} ms`);
  return view;
}

/** ActionCompleted's reason_code as the gateway shows it (upper case on the wire since v2), lower-cased. */
const reasonCode = (view: ActionView): string => String(view['reason_code']).toLowerCase();

/**
 * The refusal the agent reads: `budget <scope>[ (<period>)] <kind>: <used> used + <requested> requested
 * would exceed the limit of <limit>`, with the exact numbers in micro-units.
 */
function budgetRefusal(scope: string, used: number | string, requested: number, limit: number): RegExp {
  return new RegExp(`^budget ${scope}( \\([^)]*\\))? money: ${used} used \\+ ${requested} requested would exceed the limit of ${limit}$`);
}

/** Runs `task` for 0..count-1, at most `width` at a time. */
async function inPool<T>(count: number, width: number, task: (index: number) => Promise<T>): Promise<T[]> {
  const results: T[] = new Array<T>(count);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const index = next;
      next += 1;
      results[index] = await task(index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, count) }, worker));
  return results;
}

// ---- what the topics hold

interface Trail {
  /** Events of each watched action, in the order read (per topic, in offset order). */
  readonly byAction: ReadonlyMap<string, readonly DecodedEvent[]>;
  /** The tenant's books, rebuilt from the accountant's events on writ.budget.v1 as it does at boot. */
  readonly books: BudgetState;
}

const TRAIL_TOPICS = [TOPICS.proposals, TOPICS.actions, TOPICS.policy, TOPICS.budget, TOPICS.executions, TOPICS.outcomes];

async function readTrail(actionIds: ReadonlySet<string>): Promise<Trail> {
  const byAction = new Map<string, DecodedEvent[]>();
  // The accountant's books at boot: its calendar in the tenant's zone (the budgets file's), then the topic.
  let books: BudgetState = { ...initialBudgetState(), time_zone: TIME_ZONE };
  await replayCommitted(
    testKafkaBrokers(),
    TRAIL_TOPICS,
    (record) => {
      if (record.value === null) return;
      let event: DecodedEvent;
      try {
        event = decodeEvent(record.value);
      } catch {
        return;
      }
      const meta = event.payload.meta;
      if (meta.tenant_id !== TENANT) return;
      if (record.topic === TOPICS.budget && meta.producer.startsWith('budget@')) {
        books = replayWire(books, { type: event.type, payload: event.payload } as BudgetWireEvent);
      }
      const actionId = event.type === 'BudgetSettled' ? event.payload.reservation_id : meta.action_id;
      if (actionId === null || !actionIds.has(actionId)) return;
      const events = byAction.get(actionId) ?? [];
      events.push(event);
      byAction.set(actionId, events);
    },
    { timeoutMs: 60_000, clientId: 'writ-budget-races' },
  );
  return { byAction, books };
}

type Payload<T extends DecodedEvent['type']> = Extract<DecodedEvent, { type: T }>['payload'];

function eventsOf<T extends DecodedEvent['type']>(trail: Trail, actionId: string, type: T): Payload<T>[] {
  return (trail.byAction.get(actionId) ?? []).filter((event) => event.type === type).map((event) => event.payload as Payload<T>);
}

/** The accountant's own events (producer budget@...), not a forger's. */
function accountants<T extends 'BudgetReserved' | 'BudgetRefused' | 'BudgetSettled'>(trail: Trail, actionId: string, type: T): Payload<T>[] {
  return eventsOf(trail, actionId, type).filter((payload) => payload.meta.producer.startsWith('budget@'));
}

/** Reservations of the actions not yet closed (reserved, not settled, released or expired): what is still moving. */
function openReservations(trail: Trail, actions: readonly Proposed[]): string[] {
  return actions
    .filter((a) => accountants(trail, a.actionId, 'BudgetReserved').length > accountants(trail, a.actionId, 'BudgetSettled').length)
    .map((a) => a.actionId);
}

/**
 * Reads the topics until `done` holds (by default: every reservation of the actions is closed;
 * the settlement trails the outcome the gateway shows), or the deadline: then the last read.
 */
async function settledTrail(
  actions: readonly Proposed[],
  done: (trail: Trail) => boolean = (trail) => openReservations(trail, actions).length === 0,
  timeoutMs = 30_000,
): Promise<Trail> {
  const ids = new Set(actions.map((a) => a.actionId));
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const trail = await readTrail(ids);
    if (done(trail) || Date.now() > deadline) return trail;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

/** An agent's day counters in the books (summed over days, should a test cross midnight UTC). */
function agentUsage(trail: Trail, agentId: string): { settled: number; reserved: number; settledCalls: number } {
  const days = new Set<string>();
  for (const events of trail.byAction.values()) {
    for (const event of events)
      if (event.type === 'BudgetReserved' && event.payload.agent_id === agentId && event.payload.day !== null) days.add(event.payload.day);
  }
  let settled = 0;
  let reserved = 0;
  let settledCalls = 0;
  for (const day of days) {
    const usage = usageOf(trail.books, 'agent_day', agentId, day);
    settled += usage.settled_micros;
    reserved += usage.reserved_micros;
    settledCalls += usage.settled_calls;
  }
  return { settled, reserved, settledCalls };
}

const sum = (values: readonly number[]): number => values.reduce((a, b) => a + b, 0);

function toolCalls(stats: HelpdeskStats, actions: readonly Proposed[]): number {
  return sum(actions.map((a) => callsAtTool(stats, a.key)));
}

async function readyPid(url: string, pid: number | undefined): Promise<number | undefined> {
  if (pid === undefined) return undefined;
  const response = await fetch(`${url}/health/ready`, { signal: AbortSignal.timeout(2_000) }).catch(() => undefined);
  return response?.ok === true ? pid : undefined;
}

function raceRefund(index: number): Record<string, unknown> {
  const [ticket, customer] = APPROVED[index % APPROVED.length] ?? ['T-1001', 'C-501'];
  // Distinct amounts: no two proposals of the run are identical calls (the planner's loop detection).
  return refundArgs(100 + index, ticket, customer);
}

describe('the accountant under races and crashes', () => {
  it('Proven: a 50-way race on one cap with the budget service SIGKILLed in the middle settles to exactly the cap or less, and the totals equal the sum of settled costs', async () => {
    const cost = reservedCost(refund);
    const capCalls = 30;
    const cap = capCalls * cost;
    const { run_id: runId } = await clientOf(racer).openRun('fifty-way race on one cap', { max_cost_micros: cap, currency: 'USD' });
    const budget = e2e.stack.service('budget');
    const killedPid = budget.pid();
    if (killedPid === undefined) throw new Error('the budget service has no process');

    // Fifty refunds on one run capped at thirty. The first half is proposed at once; as soon as one
    // of them executes (the accountant has committed reservations and is still answering and
    // settling the rest), the budget service is SIGKILLed and the second half is proposed at once
    // while it is down. The devstack's supervisor restarts it, as a Kubernetes restart policy
    // would: its books, rebuilt from writ.budget.v1, must hold what the first half reserved when
    // the second half races for the rest of the cap.
    const firstHalf = await Promise.all(Array.from({ length: 25 }, (_, i) => propose(racer, runId, 'refunds.issue', raceRefund(i), `race-${i}`)));
    await waitFor(
      async () => {
        const views = await Promise.all(firstHalf.map((a) => clientOf(racer).action(a.actionId)));
        return views.some((v) => v.status === 'executing' || v.status === 'completed');
      },
      { timeoutMs: 30_000, intervalMs: 5, what: 'a refund of the first half to execute on its reservation' },
    );
    process.kill(killedPid, 'SIGKILL');
    const killedAt = Date.now();
    const secondHalf = await Promise.all(Array.from({ length: 25 }, (_, i) => propose(racer, runId, 'refunds.issue', raceRefund(25 + i), `race-${25 + i}`)));
    const restartedPid = await waitFor(() => readyPid(budget.url, budget.pid() === killedPid ? undefined : budget.pid()), {
      timeoutMs: 90_000,
      intervalMs: 200,
      what: 'the stack to restart the SIGKILLed budget service',
    });
    log(
      `budget service pid ${killedPid} SIGKILLed; restarted by the stack as pid ${restartedPid}, ready ${((Date.now() - killedAt) / 1000).toFixed(1)} s later`,
    );
    const actions = [...firstHalf, ...secondHalf];
    const views = await Promise.all(actions.map((a) => outcome(racer, a)));

    const trail = await settledTrail(actions);
    const stats = await helpdeskStats(e2e.stack);
    const completed = actions.filter((_, i) => views[i]?.status === 'completed');
    const statuses = views.map((v) => `${v.status}/${reasonCode(v)}`);
    const answeredBeforeKill = actions.filter((a) =>
      [...accountants(trail, a.actionId, 'BudgetReserved'), ...accountants(trail, a.actionId, 'BudgetRefused')].some((e) => e.meta.occurred_at < killedAt),
    ).length;
    const settlements = actions.flatMap((a) => accountants(trail, a.actionId, 'BudgetSettled'));
    const settled = sum(settlements.map((s) => s.actual_cost_micros));
    const settledAfterRestart = settlements.filter((e) => e.meta.occurred_at > killedAt).length;
    const reported = sum(actions.flatMap((a) => eventsOf(trail, a.actionId, 'ActionExecuted').map((e) => e.cost_micros)));
    log(
      `${completed.length} completed, ${views.length - completed.length} refused; ${answeredBeforeKill} budget answers before the kill, ${settledAfterRestart} settlements after it; settled ${settled} of a cap of ${cap} micros`,
    );

    // Every action ended: thirty ran (the cap exactly, none lost to the crash), twenty were refused by the run's cap.
    expect(new Set(statuses)).toEqual(new Set(['completed/succeeded', 'refused/budget_refused']));
    expect(completed.length, statuses.join(', ')).toBe(capCalls);
    expect(completed.length * cost).toBeLessThanOrEqual(cap);
    for (const view of views.filter((v) => v.status === 'refused')) expect(view.reason).toMatch(budgetRefusal('run', '\\d+', cost, cap));
    // The kill fell in the middle: the accountant had reserved for part of the first half, not for all fifty.
    expect(answeredBeforeKill).toBeGreaterThan(0);
    expect(answeredBeforeKill).toBeLessThan(actions.length);
    // One partition holds the run's proposals in order: the first half all fit (25 of 30); the
    // restarted accountant, from books rebuilt after the kill, let exactly five of the second half in.
    expect(firstHalf.filter((a) => views[actions.indexOf(a)]?.status === 'completed')).toHaveLength(firstHalf.length);
    expect(secondHalf.filter((a) => views[actions.indexOf(a)]?.status === 'completed')).toHaveLength(capCalls - firstHalf.length);

    // The settled total is within the cap and is what the executor reported, settlement by settlement.
    expect(settled).toBeLessThanOrEqual(cap);
    expect(settled).toBe(reported);
    expect(settlements.filter((s) => s.disposition === 'settled')).toHaveLength(completed.length);
    // Each action was answered once (a reservation or a refusal), none reserved twice across the restart, no reservation left open.
    for (const action of actions) {
      const answers = accountants(trail, action.actionId, 'BudgetReserved').length + accountants(trail, action.actionId, 'BudgetRefused').length;
      expect(answers, `budget answers to ${action.key}`).toBe(1);
    }
    expect(openReservations(trail, actions)).toEqual([]);
    // The books rebuilt from writ.budget.v1 hold the sum of the settlements, nothing reserved, in the run and the agent's day.
    const run = usageOf(trail.books, 'run', runId);
    expect(run).toEqual({ settled_micros: settled, reserved_micros: 0, settled_calls: completed.length, reserved_calls: 0 });
    expect(agentUsage(trail, racer.id)).toEqual({ settled, reserved: 0, settledCalls: completed.length });
    // The helpdesk got exactly one call per completed action, and none of the refused.
    for (const [i, action] of actions.entries()) expect(callsAtTool(stats, action.key), action.key).toBe(views[i]?.status === 'completed' ? 1 : 0);
    expect(toolCalls(stats, actions)).toBe(completed.length);
    // The analytics' total (ClickHouse, through the ledger) is the same sum.
    const spend = await waitFor(async () => ((await runSpendMicros(e2e.stack, runId)) === settled ? settled : undefined), {
      timeoutMs: 30_000,
      intervalMs: 500,
      what: () => `ClickHouse spend of run ${runId} to reach ${settled}`,
    });
    expect(spend).toBe(settled);
  }, 180_000);
});

describe('budgets beyond the day, through the gateway', () => {
  it("a day budget degrades to reads at its step: writes are refused with the rule, reads still run, and the step is announced; the day is the tenant's", async () => {
    const cost = reservedCost(refund);
    const cap = DEGRADER_REFUNDS * cost;
    const client = clientOf(degrader);
    const run = (await client.openRun('degrade to reads')).run_id;
    const refunds: Proposed[] = [];
    const views: ActionView[] = [];
    // 20 % each: the third takes the day to 60 %, past the step of 50 %.
    for (let i = 0; i < 4; i++) {
      const action = await propose(degrader, run, 'refunds.issue', raceRefund(300 + i), `degrade-refund-${i}`);
      refunds.push(action);
      views.push(await outcome(degrader, action));
    }
    expect(views.map((v) => v.status)).toEqual(['completed', 'completed', 'completed', 'refused']);
    const refused = views[3];
    expect(reasonCode(refused as ActionView)).toBe('budget_refused');
    expect(refused?.reason).toMatch(
      new RegExp(`^budget agent_day \\(\\d{4}-\\d{2}-\\d{2}\\) money is at 60% of its limit of ${cap} \\(${3 * cost} used\\) and has degraded to reads`),
    );
    // A read still runs (tickets.get: no side effects).
    const read = await propose(degrader, run, 'tickets.get', { ticket_id: 'T-1003' }, 'degrade-read');
    expect((await outcome(degrader, read)).status).toBe('completed');

    const trail = await settledTrail([...refunds, read]);
    const [refusal] = accountants(trail, refunds[3]?.actionId ?? '', 'BudgetRefused');
    expect(refusal).toMatchObject({ scope: 'agent_day', subject: degrader.id, rule: 'reads_only', limit: cap, used: 3 * cost, requested: cost });
    // The step is announced once, by the reservation that reached it.
    const announced = refunds.flatMap((a) => eventsOf(trail, a.actionId, 'BudgetThresholdCrossed')).filter((t) => t.subject === degrader.id);
    expect(announced.map((t) => [t.scope, t.threshold_percent])).toEqual([['agent_day', 50]]);
    // Every reservation counts in the tenant's day (UTC+14), which is the refusal's period too.
    for (const action of [...refunds.slice(0, 3), read]) {
      const [reserved] = accountants(trail, action.actionId, 'BudgetReserved');
      expect(reserved?.day).toBe(periodId('day', reserved?.meta.occurred_at ?? 0, TIME_ZONE));
    }
    expect(refusal?.period).toBe(accountants(trail, refunds[2]?.actionId ?? '', 'BudgetReserved')[0]?.day);
  }, 120_000);

  it('a day budget at its approval step holds writes for a person: the agent sees why, a manager approves one and denies another, reads still run', async () => {
    const cost = reservedCost(refund);
    const cap = DEGRADER_REFUNDS * cost;
    const client = clientOf(stepper);
    const run = (await client.openRun('writes need an approval at 40 %')).run_id;
    // 20 % each: the first two run on their own, the third is reserved at 40 %, the step.
    const early: Proposed[] = [];
    for (let i = 0; i < 2; i++) {
      const action = await propose(stepper, run, 'refunds.issue', raceRefund(400 + i), `step-refund-${i}`);
      early.push(action);
      expect((await outcome(stepper, action)).status).toBe('completed');
    }
    const held = await propose(stepper, run, 'refunds.issue', raceRefund(402), 'step-refund-held');
    const dollars = (micros: number) => microsToMoney(micros).replace('.', '\\.');
    const why = new RegExp(
      `^budget agent_day \\(\\d{4}-\\d{2}-\\d{2}\\) money is at 40% of ${dollars(cap)} USD \\(${dollars(2 * cost)} USD used\\): its approval step is 40%, so an action with side effects needs an approval$`,
    );
    // The approvers' inbox lists it with the budget's reason; the agent sees the same on its action.
    const pending = await waitFor(async () => (await e2e.manager.pendingApprovals()).approvals.find((a) => a.action_id === held.actionId), {
      timeoutMs: 30_000,
      what: 'the refund at the approval step in the approval queue',
    });
    expect(pending['approval_request']).toMatchObject({ policy: 'writ:budget-approval-step', needs: { count: 1, roles: [] }, approved_by: [] });
    expect((pending['approval_request'] as { reason: string }).reason).toMatch(why);
    const seen = await client.action(held.actionId);
    expect(seen.status).toBe('awaiting_approval');
    expect((seen['approval_requirement'] as { reason: string }).reason).toMatch(why);
    // A read is no write: it runs without anyone's approval.
    const read = await propose(stepper, run, 'tickets.get', { ticket_id: 'T-1003' }, 'step-read');
    expect((await outcome(stepper, read)).status).toBe('completed');
    expect(toolCalls(await helpdeskStats(e2e.stack), [held])).toBe(0);

    await e2e.manager.decide(held.actionId, 'approve', 'the customer is right');
    const approved = await outcome(stepper, held);
    expect(approved.status).toBe('completed');
    // The next write (60 %) waits too; a manager says no: denied, nothing called, its reservation released.
    const denied = await propose(stepper, run, 'refunds.issue', raceRefund(403), 'step-refund-denied');
    await waitFor(async () => (await client.action(denied.actionId)).status === 'awaiting_approval', { timeoutMs: 30_000, what: 'the second held refund' });
    await e2e.manager.decide(denied.actionId, 'deny', 'enough refunds today');
    expect((await outcome(stepper, denied)).status).toBe('denied');
    expect(toolCalls(await helpdeskStats(e2e.stack), [...early, held, denied])).toBe(3);

    const trail = await settledTrail([...early, held, read, denied], (t) => accountants(t, denied.actionId, 'BudgetSettled').length > 0);
    for (const action of early) expect(accountants(trail, action.actionId, 'BudgetReserved')[0]?.approval_step).toBeNull();
    expect(accountants(trail, read.actionId, 'BudgetReserved')[0]?.approval_step).toBeNull();
    expect(accountants(trail, held.actionId, 'BudgetReserved')[0]?.approval_step).toMatchObject({
      scope: 'agent_day',
      subject: stepper.id,
      kind: 'money',
      percent: 40,
      limit: cap,
      used: 2 * cost,
      currency: 'USD',
    });
    expect(accountants(trail, denied.actionId, 'BudgetSettled')[0]).toMatchObject({ disposition: 'released', released_micros: cost });
    // The step is announced like a threshold, once.
    const announced = [...early, held].flatMap((a) => eventsOf(trail, a.actionId, 'BudgetThresholdCrossed')).filter((t) => t.subject === stepper.id);
    expect(announced.map((t) => t.threshold_percent)).toContain(40);
    expect(agentUsage(trail, stepper.id)).toMatchObject({ settled: 3 * cost + reservedCost(toolOf('tickets.get')), reserved: 0 });
  }, 120_000);

  it("a tool's declared maximum is reserved, what its result reports is settled (above the maximum: settled as reported, an overrun), and its rolling budget caps its calls", async () => {
    const client = clientOf(meterer);
    const run = (await client.openRun('metered reads')).run_id;
    // requested_refund_cents of T-1001, T-1002 and T-1003 (demo/helpdesk/src/seed.ts): within the maximum, above it, zero.
    const expected = [
      { ticket: 'T-1001', actual: 2_500 },
      { ticket: 'T-1002', actual: 15_000 },
      { ticket: 'T-1003', actual: 0 },
    ];
    const actions: Proposed[] = [];
    for (const { ticket } of expected) {
      const action = await propose(meterer, run, METERED.name, { ticket_id: ticket }, `metered-${ticket}`);
      actions.push(action);
      expect((await outcome(meterer, action)).status).toBe('completed');
    }
    // The tool's rolling hour allows three calls (this stack alone calls it).
    const fourth = await propose(meterer, run, METERED.name, { ticket_id: 'T-1004' }, 'metered-fourth');
    const refused = await outcome(meterer, fourth);
    expect(refused.status).toBe('refused');
    expect(refused.reason).toMatch(/^budget tool_window \(rolling 1h\) tool_calls: 3 used \+ 1 requested would exceed the limit of 3$/);

    const trail = await settledTrail([...actions, fourth]);
    expected.forEach(({ actual }, i) => {
      const id = actions[i]?.actionId ?? '';
      expect(accountants(trail, id, 'BudgetReserved').map((r) => r.amount_micros)).toEqual([METERED.max]);
      expect(eventsOf(trail, id, 'ActionExecuted').map((e) => e.cost_micros)).toEqual([actual]);
      expect(accountants(trail, id, 'BudgetSettled')).toEqual([
        expect.objectContaining({
          disposition: 'settled',
          actual_cost_micros: actual,
          released_micros: Math.max(0, METERED.max - actual),
          overrun_micros: Math.max(0, actual - METERED.max),
        }),
      ]);
    });
    expect(accountants(trail, fourth.actionId, 'BudgetRefused')).toEqual([
      expect.objectContaining({ scope: 'tool_window', subject: METERED.name, window_ms: 3_600_000, kind: 'tool_calls', rule: 'cap', limit: 3, used: 3 }),
    ]);
    // The next reservation saw the whole spend: the agent's day holds the reported costs, overrun included.
    expect(agentUsage(trail, meterer.id)).toEqual({ settled: 17_500, reserved: 0, settledCalls: 3 });
  }, 120_000);
});

describe('weeks and months in the tenant time zone, through the gateway', () => {
  it("an agent's week and another's month cap what they reserve, and the refusal names the ISO week or the month of the tenant's calendar", async () => {
    const cost = reservedCost(refund);
    for (const [agent, scope, kind, limit] of [
      [weekly, 'agent_week', 'tool_calls', 2],
      [monthly, 'agent_month', 'money', 2 * cost],
    ] as const) {
      const run = (await clientOf(agent).openRun(`capped by ${scope}`)).run_id;
      const actions: Proposed[] = [];
      for (let i = 0; i < 3; i++) {
        const action = await propose(agent, run, 'refunds.issue', raceRefund(400 + i), `${scope}-${i}`);
        actions.push(action);
        await outcome(agent, action);
      }
      const views = await Promise.all(actions.map((a) => outcome(agent, a)));
      expect(views.map((v) => v.status)).toEqual(['completed', 'completed', 'refused']);
      const trail = await settledTrail(actions);
      const [refusal] = accountants(trail, actions[2]?.actionId ?? '', 'BudgetRefused');
      const at = refusal?.meta.occurred_at ?? 0;
      const period = scope === 'agent_week' ? periodId('week', at, TIME_ZONE) : periodId('month', at, TIME_ZONE);
      expect(accountants(trail, actions[2]?.actionId ?? '', 'BudgetRefused')).toEqual([
        expect.objectContaining({ scope, subject: agent.id, period, kind, limit, rule: 'cap' }),
      ]);
      const requested = kind === 'money' ? cost : 1;
      expect(views[2]?.reason).toBe(`budget ${scope} (${period}) ${kind}: ${limit} used + ${requested} requested would exceed the limit of ${limit}`);
    }
  }, 120_000);
});

describe('rate and concurrency limits, through the gateway', () => {
  it('a concurrency limit counts an action awaiting its approval as in flight, and its end frees the place', async () => {
    const client = clientOf(concurrer);
    const run = (await client.openRun('one at a time')).run_id;
    // A refund over $100 waits for a manager, holding its reservation.
    const waiting = await propose(concurrer, run, 'refunds.issue', refundArgs(15_000, 'T-1005', 'C-505'), 'concurrent-waiting');
    await waitFor(async () => (await client.action(waiting.actionId)).status === 'awaiting_approval', {
      timeoutMs: 30_000,
      what: 'the refund over $100 to await its approval',
    });
    const second = await propose(concurrer, run, 'tickets.get', { ticket_id: 'T-1005' }, 'concurrent-second');
    const refused = await outcome(concurrer, second);
    expect(`${refused.status}: ${refused.reason ?? ''}`).toBe(
      'refused: budget agent_concurrent (in flight) tool_calls: 1 used + 1 requested would exceed the limit of 1',
    );
    await e2e.manager.decide(waiting.actionId, 'deny', 'not now');
    expect((await outcome(concurrer, waiting)).status).toBe('denied');
    await settledTrail([waiting], (trail) => accountants(trail, waiting.actionId, 'BudgetSettled').length > 0);
    const third = await propose(concurrer, run, 'tickets.get', { ticket_id: 'T-1005' }, 'concurrent-third');
    expect((await outcome(concurrer, third)).status).toBe('completed');
    const trail = await settledTrail([waiting, second, third]);
    expect(accountants(trail, second.actionId, 'BudgetRefused')).toEqual([
      expect.objectContaining({ scope: 'agent_concurrent', subject: concurrer.id, period: 'now', kind: 'tool_calls', limit: 1, used: 1 }),
    ]);
  }, 120_000);

  it('a rate limit (two calls in any rolling minute) refuses the third call at once, naming the window', async () => {
    const client = clientOf(limited);
    const run = (await client.openRun('rate limited')).run_id;
    const calls = await Promise.all(
      ['T-1001', 'T-1002', 'T-1003'].map((ticket) => propose(limited, run, 'tickets.get', { ticket_id: ticket }, `rate-${ticket}`)),
    );
    const views = await Promise.all(calls.map((call) => outcome(limited, call)));
    expect(views.map((v) => v.status).sort()).toEqual(['completed', 'completed', 'refused']);
    const refused = views.find((v) => v.status === 'refused');
    expect(refused?.reason).toBe('budget agent_window (rolling 1m) tool_calls: 2 used + 1 requested would exceed the limit of 2');
    const stats = await helpdeskStats(e2e.stack);
    expect(toolCalls(stats, calls)).toBe(2);
  }, 60_000);
});

describe("LiteLLM's public budget bugs, as tests of ours", () => {
  it('eight simultaneous first requests of a new end user do not overspend its budget: two run, six are refused naming the scope', async () => {
    const cost = reservedCost(refund);
    const cap = NEWCOMER_CALLS * cost;
    // Eight runs of an agent the accountant has never seen, each with the first request in it, all at once.
    const runs = await Promise.all(Array.from({ length: 8 }, (_, i) => clientOf(newcomer).openRun(`first request ${i}`)));
    const actions = await Promise.all(runs.map((run, i) => propose(newcomer, run.run_id, 'refunds.issue', raceRefund(200 + i), `first-${i}`)));
    const views = await Promise.all(actions.map((a) => outcome(newcomer, a)));
    const trail = await settledTrail(actions);
    const stats = await helpdeskStats(e2e.stack);

    const completed = views.filter((v) => v.status === 'completed');
    const refused = views.filter((v) => v.status === 'refused');
    expect(completed, views.map((v) => `${v.status}: ${v.reason ?? ''}`).join('; ')).toHaveLength(NEWCOMER_CALLS);
    expect(refused).toHaveLength(8 - NEWCOMER_CALLS);
    for (const view of refused) {
      expect(reasonCode(view)).toBe('budget_refused');
      expect(view.reason).toMatch(budgetRefusal('agent_day', cap, cost, cap));
    }
    const refusals = actions.flatMap((a) => accountants(trail, a.actionId, 'BudgetRefused'));
    expect(refusals).toHaveLength(8 - NEWCOMER_CALLS);
    for (const refusal of refusals) expect(refusal).toMatchObject({ scope: 'agent_day', subject: newcomer.id, kind: 'money', limit: cap, requested: cost });
    expect(agentUsage(trail, newcomer.id)).toEqual({ settled: cap, reserved: 0, settledCalls: NEWCOMER_CALLS });
    expect(toolCalls(stats, actions)).toBe(NEWCOMER_CALLS);
  }, 120_000);

  it('reservations of actions that end without executing (denied by policy, denied by an approver, expired, rejected) are released: an agent whose recorded spend is zero still spends its whole cap', async () => {
    const cost = reservedCost(refund);
    const cap = HOLDER_CALLS * cost;
    const client = clientOf(holder);
    const run = (await client.openRun('actions that never execute')).run_id;
    // Denied by policy (customer-delete-forbidden); a refund over $100 that a manager denies.
    const forbidden = await propose(holder, run, 'customers.delete', { customer_id: 'C-501', reason: 'asked to be forgotten' }, 'forbidden');
    const overHundred = await propose(holder, run, 'refunds.issue', refundArgs(15_000, 'T-1001', 'C-501'), 'denied-by-manager');
    // A refund waiting for its approval when its run's wall clock runs out; then a read proposed into the ended run.
    const shortRun = (await client.openRun('a run with a short wall clock', { wall_clock_ms: 3_000 })).run_id;
    const waiting = await propose(holder, shortRun, 'refunds.issue', refundArgs(20_000, 'T-1002', 'C-502'), 'expires-waiting');
    await waitFor(async () => (await client.action(overHundred.actionId)).status === 'awaiting_approval', {
      timeoutMs: 30_000,
      what: 'the refund over $100 to await its approval',
    });
    await e2e.manager.decide(overHundred.actionId, 'deny', 'not this one');
    await outcome(holder, waiting, 60_000);
    const late = await propose(holder, shortRun, 'tickets.list', { status: 'open', limit: 5 }, 'into-ended-run');
    const nonExecuting = [forbidden, overHundred, waiting, late];
    const views = await Promise.all(nonExecuting.map((a) => outcome(holder, a)));
    expect(views.map((v) => `${v.status}/${reasonCode(v)}`)).toEqual([
      'denied/policy_denied',
      'denied/policy_denied',
      'expired/run_wall_clock',
      'rejected/run_closed',
    ]);

    // Each reserved (the accountant reacts to the proposal, before the policy, the approver or the
    // planner), and each reservation was released: none is left holding the agent's room.
    // (The accountant may answer a proposal after the planner has rejected it: wait for each closing.)
    const released = await settledTrail(nonExecuting, (trail) => nonExecuting.every((a) => accountants(trail, a.actionId, 'BudgetSettled').length > 0));
    for (const action of nonExecuting.slice(0, 3)) expect(accountants(released, action.actionId, 'BudgetReserved'), `${action.key} reserved`).toHaveLength(1);
    for (const action of nonExecuting) {
      const closings = accountants(released, action.actionId, 'BudgetSettled');
      const reservedMicros = accountants(released, action.actionId, 'BudgetReserved')[0]?.amount_micros ?? 0;
      expect(
        closings.map((s) => [s.disposition, s.actual_cost_micros, s.released_micros]),
        `${action.key}: its reservation closed by a release`,
      ).toEqual([['released', 0, reservedMicros]]);
    }
    // The books: nothing spent, nothing held.
    expect(agentUsage(released, holder.id)).toEqual({ settled: 0, reserved: 0, settledCalls: 0 });

    // The agent spends its whole cap, then is refused at exactly the cap.
    const spendRun = (await client.openRun('spend the whole cap')).run_id;
    const spending = await Promise.all(
      Array.from({ length: HOLDER_CALLS }, (_, i) => propose(holder, spendRun, 'refunds.issue', raceRefund(300 + i), `cap-${i}`)),
    );
    const spent = await Promise.all(spending.map((a) => outcome(holder, a)));
    expect(spent.map((v) => v.status)).toEqual(Array.from({ length: HOLDER_CALLS }, () => 'completed'));
    const over = await propose(holder, spendRun, 'refunds.issue', raceRefund(399), 'over-cap');
    const refusedView = await outcome(holder, over);
    expect(refusedView.status).toBe('refused');
    expect(refusedView.reason).toMatch(budgetRefusal('agent_day', cap, cost, cap));
    const trail = await settledTrail([...nonExecuting, ...spending, over]);
    expect(agentUsage(trail, holder.id)).toEqual({ settled: cap, reserved: 0, settledCalls: HOLDER_CALLS });
    expect(toolCalls(await helpdeskStats(e2e.stack), [...nonExecuting, ...spending, over])).toBe(HOLDER_CALLS);
  }, 120_000);

  it('float drift does not pin a budget of "25.00" at 25.000000000000004: 250 calls of $0.10 use exactly 25,000,000 micros and the next is refused at the exact limit', async () => {
    const client = clientOf(drifter);
    const runs = await Promise.all(Array.from({ length: 10 }, (_, i) => client.openRun(`drift ${i}`)));
    const started = Date.now();
    // A float accountant would hold 24.900000000000084 after 249 calls and refuse the 250th.
    const actions = await inPool(250, 25, async (i) => {
      const runId = runs[i % runs.length]?.run_id ?? '';
      // Distinct arguments per call (the planner's loop detection).
      const action = await propose(
        drifter,
        runId,
        SCAN.name,
        { status: STATUSES[Math.floor(i / 100) % STATUSES.length] ?? 'open', limit: 1 + (i % 100) },
        `drift-${i}`,
      );
      const view = await outcome(drifter, action);
      expect(`${view.status}: ${view.reason ?? ''}`, `call ${i + 1}`).toMatch(/^completed/);
      return action;
    });
    log(`250 calls of $0.10 in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const next = await propose(drifter, runs[0]?.run_id ?? '', SCAN.name, { status: 'open', tag: 'one-too-many' }, 'drift-251');
    const refused = await outcome(drifter, next);
    expect(refused.status).toBe('refused');
    expect(refused.reason).toMatch(budgetRefusal('agent_day', 25_000_000, 100_000, 25_000_000));

    const trail = await settledTrail([...actions, next]);
    expect(accountants(trail, next.actionId, 'BudgetRefused')).toEqual([
      expect.objectContaining({ scope: 'agent_day', subject: drifter.id, kind: 'money', limit: 25_000_000, used: 25_000_000, requested: 100_000 }),
    ]);
    expect(agentUsage(trail, drifter.id)).toEqual({ settled: 25_000_000, reserved: 0, settledCalls: 250 });
    const stats = await helpdeskStats(e2e.stack);
    expect(toolCalls(stats, actions)).toBe(250);
    expect(callsAtTool(stats, next.key)).toBe(0);
  }, 150_000);

  it('0.10 + 0.20 fits a budget of "0.30" exactly (in floats 0.30000000000000004 would not), and the next call is refused at the exact limit', async () => {
    const client = clientOf(summer);
    const run = (await client.openRun('0.1 + 0.2')).run_id;
    const ten = await propose(summer, run, SCAN.name, { status: 'open', limit: 1 }, 'ten-cents');
    expect((await outcome(summer, ten)).status).toBe('completed');
    const twenty = await propose(summer, run, BROWSE.name, { status: 'open', limit: 2 }, 'twenty-cents');
    const second = await outcome(summer, twenty);
    expect(`${second.status}: ${second.reason ?? ''}`).toMatch(/^completed/);
    const more = await propose(summer, run, SCAN.name, { status: 'open', limit: 3 }, 'ten-more');
    const refused = await outcome(summer, more);
    expect(refused.status).toBe('refused');
    expect(refused.reason).toMatch(budgetRefusal('agent_day', 300_000, 100_000, 300_000));
    const trail = await settledTrail([ten, twenty, more]);
    expect(agentUsage(trail, summer.id)).toEqual({ settled: 300_000, reserved: 0, settledCalls: 2 });
  }, 60_000);

  describe('a request whose cost was not reserved never reaches the tool', () => {
    let producer: EventProducer | undefined;
    afterAll(async () => {
      await producer?.disconnect();
    });

    it('an ExecutionRequested carrying a reservation the accountant never made (forged, or lapsed) is refused by the executor', async () => {
      producer = new EventProducer({ brokers: testKafkaBrokers(), clientId: 'e2e-budget-forger' });
      await producer.connect();
      // The attacker holds the policy service's real warrant key: only the reservation is wrong.
      const warrantKey = await loadSigningKey(e2e.stack.keys.warrantSigningKey);
      const reservationKey = await loadSigningKey(e2e.stack.keys.reservationSigningKey);
      const variants = [
        // Skipped the accountant: a reservation signed by a key with the accountant's key id that is not its key.
        { name: 'forged', code: 'RESERVATION_FORGED', key: generateSigningKey(reservationKey.keyId), ttlMs: 60_000 },
        // The accountant's key, but the reservation lapsed before the call.
        { name: 'lapsed', code: 'RESERVATION_EXPIRED', key: reservationKey, ttlMs: -1_000 },
      ];
      const before = await helpdeskStats(e2e.stack);
      const sent: { name: string; code: string; actionId: string; idempotencyKey: string }[] = [];
      for (const variant of variants) {
        const runId = `unreserved-${randomUUID()}`;
        const idempotencyKey = `unreserved-${variant.name}-${randomUUID()}`;
        const request = signedExecutionRequest({
          tenant: TENANT,
          runId,
          agent: racer.id,
          tool: refund.name,
          toolVersion: refund.version,
          args: refundArgs(2_500, 'T-1001', 'C-501'),
          idempotencyKey,
          warrantKey,
          reservationKey: variant.key,
          reservationTtlMs: variant.ttlMs,
        });
        await producer.send([writEvent('ExecutionRequested', request)]);
        sent.push({ ...variant, actionId: request.meta.action_id ?? '', idempotencyKey });
      }
      const ids = new Set(sent.map((s) => s.actionId));
      const trail = await waitFor(
        async () => {
          const read = await readTrail(ids);
          return sent.every((s) => eventsOf(read, s.actionId, 'ActionFailed').length > 0) ? read : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 500, what: "the executor's refusals of the unreserved requests" },
      );
      const after = await helpdeskStats(e2e.stack);
      for (const s of sent) {
        expect(
          eventsOf(trail, s.actionId, 'ActionFailed').map((f) => [f.error_code, f.attempts]),
          s.name,
        ).toEqual([[s.code, 0]]);
        expect(eventsOf(trail, s.actionId, 'ActionExecuted'), s.name).toEqual([]);
        expect(accountants(trail, s.actionId, 'BudgetReserved'), s.name).toEqual([]);
        expect(callsAtTool(after, s.idempotencyKey), s.name).toBe(0);
      }
      expect(after.calls['POST /refunds']).toBe(before.calls['POST /refunds']);
    }, 60_000);

    it("a shadow run's genuine warrant and reservation, carried in an ExecutionRequested written straight to the topic, never run the tool", async () => {
      if (producer === undefined) {
        producer = new EventProducer({ brokers: testKafkaBrokers(), clientId: 'e2e-budget-forger' });
        await producer.connect();
      }
      const run = (await clientOf(racer).openRun('shadow proofs', undefined, 'shadow')).run_id;
      const action = await propose(racer, run, 'refunds.issue', refundArgs(2_600, 'T-1002', 'C-502'), 'shadow-proofs');
      const view = await outcome(racer, action);
      expect(`${view.status}/${reasonCode(view)}`).toBe('completed/shadow_would_execute');
      const trail = await settledTrail([action]);
      const [decided] = eventsOf(trail, action.actionId, 'PolicyDecided');
      const [reserved] = accountants(trail, action.actionId, 'BudgetReserved');
      const [proposed] = eventsOf(trail, action.actionId, 'ActionProposed');
      if (decided?.warrant == null || reserved === undefined || proposed === undefined)
        throw new Error('the shadow action has no warrant, reservation or proposal on the topics');
      // The planner never asked: the only ExecutionRequested will be the forger's.
      expect(eventsOf(trail, action.actionId, 'ExecutionRequested')).toEqual([]);
      const before = await helpdeskStats(e2e.stack);
      const forged = {
        meta: newMetadata({ tenant_id: TENANT, run_id: run, action_id: action.actionId, producer: 'planner@0.1.0' }),
        agent_id: racer.id,
        tool: decided.warrant.tool,
        tool_version: decided.warrant.tool_version,
        arguments_json: proposed.arguments_json,
        args_sha256: proposed.args_sha256,
        idempotency_key: action.key,
        warrant: decided.warrant,
        reservation: {
          reservation_id: reserved.reservation_id,
          amount_micros: reserved.amount_micros,
          currency: reserved.currency,
          expires_at: reserved.expires_at,
          key_id: reserved.key_id,
          signature: reserved.signature,
        },
        deadline: Date.now() + 30_000,
        outcome_deadline: Date.now() + 60_000,
        requested_at: Date.now(),
      };
      await producer.send([writEvent('ExecutionRequested', forged)]);
      const failed = await waitFor(async () => eventsOf(await readTrail(new Set([action.actionId])), action.actionId, 'ActionFailed')[0], {
        timeoutMs: 30_000,
        intervalMs: 500,
        what: "the executor's answer to the forged request",
      });
      expect([failed.error_code, failed.attempts]).toEqual(['WARRANT_FORGED', 0]);
      expect(callsAtTool(await helpdeskStats(e2e.stack), action.key)).toBe(0);
      expect((await helpdeskStats(e2e.stack)).calls['POST /refunds']).toBe(before.calls['POST /refunds']);
    }, 60_000);

    it("every tool call of this file's actions was preceded by the accountant's reservation of its tool's declared cost, carried to the executor", async () => {
      const trail = await settledTrail(everyAction);
      const stats = await helpdeskStats(e2e.stack);
      const problems: string[] = [];
      let executed = 0;
      for (const action of everyAction) {
        const who = `${action.key} (${action.agent}, ${action.tool}, action ${action.actionId})`;
        const requests = eventsOf(trail, action.actionId, 'ExecutionRequested');
        const outcomes = [
          ...eventsOf(trail, action.actionId, 'ActionExecuted'),
          ...eventsOf(trail, action.actionId, 'ActionFailed').filter((f) => f.attempts > 0),
        ];
        const calls = callsAtTool(stats, action.key);
        if (requests.length === 0 && outcomes.length === 0 && calls === 0) continue;
        executed += 1;
        const reserved = accountants(trail, action.actionId, 'BudgetReserved');
        const [reservation] = reserved;
        if (reserved.length !== 1 || reservation === undefined) {
          problems.push(
            `${who} reached execution (${requests.length} requests, ${outcomes.length} outcomes, ${calls} tool calls) with ${reserved.length} BudgetReserved`,
          );
          continue;
        }
        const declared = reservedCost(toolOf(action.tool));
        if (reservation.amount_micros !== declared) problems.push(`${who}: reserved ${reservation.amount_micros} micros, the tool declares ${declared}`);
        if (reservation.tool !== action.tool) problems.push(`${who}: the reservation was made for tool ${String(reservation.tool)}`);
        if (requests.length !== 1) problems.push(`${who}: ${requests.length} ExecutionRequested`);
        for (const request of requests) {
          const carried = request.reservation;
          if (
            carried.reservation_id !== reservation.reservation_id ||
            carried.amount_micros !== reservation.amount_micros ||
            carried.signature !== reservation.signature
          ) {
            problems.push(`${who}: the ExecutionRequested carries reservation ${JSON.stringify(carried)}, not the accountant's`);
          }
          if (request.meta.occurred_at < reservation.meta.occurred_at) problems.push(`${who}: execution was requested before the reservation`);
        }
      }
      log(`${executed} of ${everyAction.length} actions reached execution; each checked against its reservation`);
      expect(problems, problems.join('\n')).toEqual([]);
      // Not vacuous: the race's thirty, the newcomer's two, the holder's three, 250 + 2 drift calls.
      expect(executed).toBeGreaterThanOrEqual(30 + NEWCOMER_CALLS + HOLDER_CALLS + 252);
    }, 90_000);
  });
});
