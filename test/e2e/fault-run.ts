// The fault run's parts (issue 7, "Correctness under load"), shared by the short version in the e2e
// tier (test/e2e/fault-run.e2e.spec.ts) and the long one (bench/faults/faults.bench.ts): an
// open-loop load of actions through the gateway's HTTP API with the SDK, services killed in turn
// while it runs, and the invariants read back from what the system recorded (the topics, read
// read_committed), the demo helpdesk's own count of the calls that reached it, the budget books and
// the ledger. Every check returns the problems it found, each a sentence naming what broke; an
// empty list is a pass. No vitest here: the bench runs this under plain Node.
import { createReadStream, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { initialBudgetState, replayWire } from '@writ/budget-core';
import type { BudgetState, BudgetWireEvent } from '@writ/budget-core';
import { replayCommitted } from '@writ/bus';
import { TOPICS, actionIdFor, decodeEvent } from '@writ/contracts';
import type { DecodedEvent } from '@writ/contracts';
import { isTerminal } from '@writ/sdk';
import type { ActionView, WritClient } from '@writ/sdk';

export const TENANT = 'acme';

/**
 * The topics the ledger chains: every Writ topic but its own (services/ledger/src/chain-writer.ts,
 * CHAINED_TOPICS; a service's module cannot be imported from here).
 */
export const CHAINED_TOPICS: readonly string[] = Object.values(TOPICS).filter((topic) => topic !== TOPICS.ledger && topic !== TOPICS.results);

export const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function describe(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === 'string' ? code : error.message;
  }
  return String(error);
}

/**
 * A budgets file whose caps are far above any load here (WRIT_BUDGET_LIMITS_FILE): the fault run
 * checks the books, it must not be refused, and the e2e suites share one broker (so one day's
 * caps). Returns its path.
 */
export function writeLargeBudgets(dir: string): string {
  const path = join(dir, 'fault-run-budgets.json');
  writeFileSync(
    path,
    JSON.stringify({
      tenants: {
        [TENANT]: {
          currency: 'USD',
          daily: { money: '1000000.00', tool_calls: 100_000_000 },
          agents: { 'triage-bot': { daily: { money: '1000000.00', tool_calls: 100_000_000 } } },
        },
      },
    }),
  );
  return path;
}

// ---- the load

/** Tickets tagged refund_approved and their customers (demo/helpdesk/src/seed.ts). */
const APPROVED_TICKETS = [
  ['T-1001', 'C-501'],
  ['T-1002', 'C-502'],
  ['T-1005', 'C-505'],
  ['T-1008', 'C-503'],
] as const;
const STATUSES = ['open', 'pending', 'closed'] as const;

export interface ActionSpec {
  readonly tool: 'refunds.issue' | 'tickets.list';
  readonly write: boolean;
  readonly arguments: Readonly<Record<string, unknown>>;
}

/**
 * The index-th action of a load: three in four are refunds.issue (a write the demo policy allows
 * without approval: up to $100 on a ticket tagged refund_approved, policies/refund-up-to-100-support.cedar),
 * one in four tickets.list (a read). Arguments differ from one action to the next, so the planner's
 * loop detection (identical calls in a run) stays quiet.
 */
export function actionFor(index: number, label: string): ActionSpec {
  if (index % 4 === 3) {
    return { tool: 'tickets.list', write: false, arguments: { status: STATUSES[index % STATUSES.length] ?? 'open', limit: (index % 100) + 1 } };
  }
  const [ticket, customer] = APPROVED_TICKETS[index % APPROVED_TICKETS.length] ?? APPROVED_TICKETS[0];
  return {
    tool: 'refunds.issue',
    write: true,
    arguments: {
      ticket_id: ticket,
      customer_id: customer,
      amount_cents: 100 + ((index * 37) % 9_900),
      ticket_tags: ['refund_approved'],
      reason: `fault run ${label} #${index}`,
      card_last4: '4242',
    },
  };
}

/** One action the load offered, and what the client saw of it. */
export interface OfferedAction {
  readonly index: number;
  readonly key: string;
  readonly runId: string;
  readonly spec: ActionSpec;
  /** actionIdFor(tenant, run, key): the id the gateway must answer with, known before it answers. */
  readonly actionId: string;
  /** When it was due (open loop: its send does not wait for earlier outcomes). */
  readonly dueAt: number;
  proposeAttempts: number;
  readonly proposeErrors: string[];
  /** The gateway's answer (undefined: every attempt failed). */
  answeredId: string | undefined;
  proposedAt: number | undefined;
  /** The last view the gateway gave (terminal once outcomeAt is set). */
  view: ActionView | undefined;
  outcomeAt: number | undefined;
  outcomeErrors: number;
}

export interface LoadOptions {
  readonly agent: WritClient;
  /** Part of every idempotency key and reason: unique per load. */
  readonly label: string;
  /** The runs the actions are spread over, round robin. */
  readonly runIds: readonly string[];
  /** Actions offered per second. */
  readonly rate: number;
  readonly minActions: number;
  readonly maxActions: number;
  /** After minActions, offering goes on while this says so (e.g. the kills are not over). */
  readonly keepGoing?: () => boolean;
  /** How long a failed propose is retried with the same idempotency key (gateway or broker down). */
  readonly proposeRetryMs: number;
}

/**
 * An open-loop load: action i is sent at start + i/rate whatever happened to the earlier ones;
 * each then waits for its outcome (long polls). A propose that fails is retried with the same
 * idempotency key (the same action, emitted once), and so is a long poll that fails.
 */
export class FaultLoad {
  readonly actions: OfferedAction[] = [];
  readonly #options: LoadOptions;
  readonly #tasks: Promise<void>[] = [];
  #outcomeDeadline = Number.POSITIVE_INFINITY;
  startedAt = 0;
  offeredFor = 0;

  constructor(options: LoadOptions) {
    this.#options = options;
  }

  /** Offers the actions; resolves once the last one is sent off (outcomes still pending). */
  async offer(): Promise<void> {
    const { rate, minActions, maxActions, keepGoing, label, runIds } = this.#options;
    this.startedAt = Date.now();
    for (let i = 0; i < maxActions && (i < minActions || (keepGoing?.() ?? false)); i += 1) {
      const dueAt = this.startedAt + (i * 1000) / rate;
      const wait = dueAt - Date.now();
      if (wait > 1) await pause(wait);
      const runId = runIds[i % runIds.length] ?? '';
      const key = `${label}-${i}`;
      const action: OfferedAction = {
        index: i,
        key,
        runId,
        spec: actionFor(i, label),
        actionId: actionIdFor(TENANT, runId, key),
        dueAt,
        proposeAttempts: 0,
        proposeErrors: [],
        answeredId: undefined,
        proposedAt: undefined,
        view: undefined,
        outcomeAt: undefined,
        outcomeErrors: 0,
      };
      this.actions.push(action);
      this.#tasks.push(this.#run(action));
    }
    this.offeredFor = (Date.now() - this.startedAt) / 1000;
  }

  /** Waits for every action's outcome, giving up on those without one after drainMs from now. */
  async settle(drainMs: number): Promise<void> {
    this.#outcomeDeadline = Date.now() + drainMs;
    await Promise.all(this.#tasks);
  }

  async #run(action: OfferedAction): Promise<void> {
    const { agent, proposeRetryMs } = this.#options;
    const giveUp = action.dueAt + proposeRetryMs;
    for (;;) {
      action.proposeAttempts += 1;
      try {
        const answer = await agent.propose(action.runId, {
          tool: action.spec.tool,
          arguments: action.spec.arguments,
          reason: 'fault run',
          idempotency_key: action.key,
        });
        action.answeredId = answer.action_id;
        action.proposedAt = Date.now();
        break;
      } catch (error) {
        action.proposeErrors.push(describe(error));
        if (Date.now() > giveUp) return;
        await pause(250);
      }
    }
    while (Date.now() < this.#outcomeDeadline) {
      try {
        const view = await agent.outcome(action.actionId, Math.max(0, Math.min(10_000, this.#outcomeDeadline - Date.now())));
        action.view = view;
        if (isTerminal(view.status)) {
          action.outcomeAt = Date.now();
          return;
        }
      } catch {
        action.outcomeErrors += 1;
        await pause(250);
      }
    }
  }
}

// ---- the kills

/** Something the fault run kills and starts again: a service of the stack, or the broker. */
export interface FaultTarget {
  readonly name: string;
  /** SIGKILL; resolves once the process is gone. */
  kill(): Promise<void>;
  /** Starts it again; resolves when it is ready. */
  start(): Promise<void>;
  /** Whether it answers ready now: when start() gave up waiting, the wait goes on with this. */
  ready?(): Promise<boolean>;
}

/** A service of the stack as a fault target (ready: its /health/ready answers ok). */
export function serviceTarget(service: { readonly name: string; readonly url: string; kill(): Promise<void>; start(): Promise<void> }): FaultTarget {
  return {
    name: service.name,
    kill: () => service.kill(),
    start: () => service.start(),
    ready: async () => {
      const response = await fetch(`${service.url}/health/ready`, { signal: AbortSignal.timeout(2_000) }).catch(() => undefined);
      return response?.ok === true;
    },
  };
}

export interface KillRecord {
  readonly target: string;
  readonly killedAt: number;
  /** When start() was called (right after the kill). */
  readonly startedAt: number;
  /** When it was ready again (start() resolved, or ready() said so after start() gave up), or undefined if it never was. */
  readyAt: number | undefined;
  /** First sign of work after the restart, from the spans (see processingAgain). */
  processingAt: number | undefined;
  /** After a broker restart: each service's first work after it (undefined: never). */
  readonly servicesBack: Record<string, number | undefined>;
  /** Why start() failed (e.g. SERVICE_NOT_READY: not ready within the stack's 60 s); empty when it did not. */
  readonly startErrors: string[];
}

/**
 * Kills each target in turn, one at a time, and starts it again at once: the first after
 * `firstDelayMs`, the next `gapMs` after the previous one was ready again.
 */
export async function killInTurn(
  targets: readonly FaultTarget[],
  options: { readonly firstDelayMs: number; readonly gapMs: number; readonly readyLimitMs: number; readonly log: (line: string) => void },
): Promise<KillRecord[]> {
  const records: KillRecord[] = [];
  await pause(options.firstDelayMs);
  for (const target of targets) {
    const killedAt = Date.now();
    await target.kill();
    const record: KillRecord = {
      target: target.name,
      killedAt,
      startedAt: Date.now(),
      readyAt: undefined,
      processingAt: undefined,
      servicesBack: {},
      startErrors: [],
    };
    records.push(record);
    try {
      await target.start();
      record.readyAt = Date.now();
    } catch (error) {
      record.startErrors.push(describe(error));
      // Still starting (or exited): wait on, to measure when it is back, up to the limit.
      const giveUp = Date.now() + options.readyLimitMs;
      while (record.readyAt === undefined && Date.now() < giveUp) {
        if ((await target.ready?.()) === true) record.readyAt = Date.now();
        else await pause(500);
      }
    }
    const errors = record.startErrors.length === 0 ? '' : ` (start() failed: ${record.startErrors.join('; ')})`;
    const ready = record.readyAt === undefined ? 'never ready' : `ready ${((record.readyAt - record.startedAt) / 1000).toFixed(1)} s after start()`;
    options.log(`killed ${target.name} (SIGKILL) and started it again: ${ready}${errors}`);
    await pause(options.gapMs);
  }
  return records;
}

interface SpanLine {
  readonly service: string;
  readonly name: string;
  readonly startMs: number;
  readonly status: number;
  readonly attributes: Readonly<Record<string, unknown>>;
}

/**
 * Spans that show a service doing its work on what it consumes (not booting, not a timer's
 * expiry): the first after a restart says it processes again.
 */
const WORK: Readonly<Record<string, (span: SpanLine) => boolean>> = {
  gateway: (s) => s.service === 'gateway' && s.name === 'gateway.propose' && s.status !== 2,
  planner: (s) => s.service === 'planner' && (s.name === 'planner.admit' || s.name === 'planner.execute'),
  policy: (s) => s.service === 'policy' && s.name === 'policy.decide',
  budget: (s) => s.service === 'budget' && s.name.startsWith('budget.') && s.name !== 'budget.expire',
  executor: (s) => s.service === 'executor' && s.name === 'executor.call',
  ledger: (s) => s.service === 'ledger' && s.name === 'ledger.append',
  // The broker: the pipeline moves again when a tool call succeeds at the end of it.
  kafka: (s) => s.service === 'executor' && s.name === 'executor.call' && s.attributes['writ.tool.outcome'] === 'succeeded',
};

const SERVICE_NAMES = ['gateway', 'planner', 'policy', 'budget', 'executor', 'ledger'] as const;

/**
 * Sets each kill's processingAt: the start of the first span of that target's work that began
 * after start() was called (the killed process wrote no more spans); after the broker's restart,
 * each service's first work too (servicesBack). The traces file is read once.
 */
export async function processingAgain(tracesFile: string, kills: readonly KillRecord[]): Promise<void> {
  for (const kill of kills) if (kill.target === 'kafka') for (const name of SERVICE_NAMES) kill.servicesBack[name] = undefined;
  const lines = createInterface({ input: createReadStream(tracesFile, 'utf8'), crlfDelay: Number.POSITIVE_INFINITY });
  for await (const line of lines) {
    if (line === '') continue;
    let span: SpanLine;
    try {
      span = JSON.parse(line) as SpanLine;
    } catch {
      continue; // a line cut by a kill
    }
    for (const kill of kills) {
      if (kill.target === 'kafka' && span.startMs >= (kill.readyAt ?? kill.startedAt)) {
        for (const name of SERVICE_NAMES) {
          const back = kill.servicesBack[name];
          if (WORK[name]?.(span) === true && (back === undefined || span.startMs < back)) kill.servicesBack[name] = span.startMs;
        }
      }
      const work = WORK[kill.target];
      if (work === undefined || span.startMs < kill.startedAt || !work(span)) continue;
      if (kill.processingAt === undefined || span.startMs < kill.processingAt) kill.processingAt = span.startMs;
    }
  }
}

export function describeKill(kill: KillRecord): string {
  const s = (ms: number | undefined) => (ms === undefined ? 'never' : `${(ms / 1000).toFixed(1)} s`);
  const back = Object.entries(kill.servicesBack).map(([name, at]) => `${name} ${s(at === undefined ? undefined : at - kill.startedAt)}`);
  return `${kill.target}: ready ${s(kill.readyAt === undefined ? undefined : kill.readyAt - kill.startedAt)}, processing again ${s(kill.processingAt === undefined ? undefined : kill.processingAt - kill.startedAt)} after start()${back.length === 0 ? '' : `; each service's first work after the restart: ${back.join(', ')}`}`;
}

// ---- what the topics hold

export interface ActionFacts {
  proposed: number;
  admitted: number;
  rejected: number;
  decisions: number;
  executionRequests: number;
  reserved: number;
  refused: number;
  readonly completed: { readonly status: string; readonly reason_code: string; readonly cost_micros: number }[];
  readonly outcomes: {
    readonly type: 'ActionExecuted' | 'ActionFailed';
    readonly outcome: string;
    readonly error_code: string | null;
    readonly cost_micros: number;
    readonly attempts: number;
  }[];
  readonly settled: { readonly disposition: string; readonly actual_cost_micros: number; readonly late: boolean }[];
}

export interface TopicFacts {
  readonly byAction: ReadonlyMap<string, ActionFacts>;
  /** Records of the tenant on the chained topics, and their distinct event ids. */
  readonly tenantRecords: number;
  readonly tenantEventIds: ReadonlySet<string>;
  /** Event ids of the watched runs on the chained topics. */
  readonly runEventIds: ReadonlySet<string>;
  readonly undecodable: number;
  /** LedgerEntry records of the tenant's chain on writ.ledger.v1, and the events they chain. */
  readonly chainEntries: number;
  readonly chainedIds: ReadonlySet<string>;
  /** Event ids chained more than once. */
  readonly chainedTwice: readonly string[];
  readonly checkpoints: number;
  /** The tenant's books rebuilt from the accountant's events on writ.budget.v1, as the budget service does at boot. */
  readonly books: BudgetState;
  /** The accountant's events folded into the books, by type. */
  readonly budgetEvents: Readonly<Record<string, number>>;
  readonly readMs: number;
}

function emptyFacts(): ActionFacts {
  return { proposed: 0, admitted: 0, rejected: 0, decisions: 0, executionRequests: 0, reserved: 0, refused: 0, completed: [], outcomes: [], settled: [] };
}

/** Folds one decoded event into the facts of its action (if it is one of the watched actions). */
function foldAction(facts: ActionFacts, event: DecodedEvent): void {
  switch (event.type) {
    case 'ActionProposed':
      facts.proposed += 1;
      break;
    case 'ActionAdmitted':
      facts.admitted += 1;
      break;
    case 'ActionRejected':
      facts.rejected += 1;
      break;
    case 'PolicyDecided':
      facts.decisions += 1;
      break;
    case 'ExecutionRequested':
      facts.executionRequests += 1;
      break;
    case 'BudgetReserved':
      facts.reserved += 1;
      break;
    case 'BudgetRefused':
      facts.refused += 1;
      break;
    case 'ActionCompleted':
      facts.completed.push({ status: event.payload.status, reason_code: event.payload.reason_code, cost_micros: event.payload.cost_micros });
      break;
    case 'ActionExecuted':
      facts.outcomes.push({
        type: 'ActionExecuted',
        outcome: event.payload.outcome,
        error_code: null,
        cost_micros: event.payload.cost_micros,
        attempts: event.payload.attempts,
      });
      break;
    case 'ActionFailed':
      facts.outcomes.push({
        type: 'ActionFailed',
        outcome: event.payload.outcome,
        error_code: event.payload.error_code,
        cost_micros: event.payload.cost_micros,
        attempts: event.payload.attempts,
      });
      break;
    case 'BudgetSettled':
      facts.settled.push({ disposition: event.payload.disposition, actual_cost_micros: event.payload.actual_cost_micros, late: event.payload.late });
      break;
    default:
      break;
  }
}

const BUDGET_TYPES: ReadonlySet<string> = new Set(['BudgetReserved', 'BudgetRefused', 'BudgetSettled', 'BudgetThresholdCrossed']);

/**
 * Reads every Writ topic from the beginning, read_committed (nothing of an aborted or open
 * transaction), without writing to them: the facts of the watched actions, the tenant's events
 * and chain entries, and its books.
 */
export async function readFacts(
  brokers: readonly string[],
  watched: { readonly actionIds: ReadonlySet<string>; readonly runIds: ReadonlySet<string> },
  tenant = TENANT,
): Promise<TopicFacts> {
  const started = Date.now();
  const byAction = new Map<string, ActionFacts>();
  const tenantEventIds = new Set<string>();
  const runEventIds = new Set<string>();
  const chainedIds = new Set<string>();
  const chainedTwice: string[] = [];
  let tenantRecords = 0;
  let undecodable = 0;
  let chainEntries = 0;
  let checkpoints = 0;
  let books = initialBudgetState();
  const budgetEvents: Record<string, number> = {};
  await replayCommitted(
    brokers,
    [...CHAINED_TOPICS, TOPICS.ledger],
    (record) => {
      if (record.value === null) return;
      let event: DecodedEvent;
      try {
        event = decodeEvent(record.value);
      } catch {
        undecodable += 1;
        return;
      }
      const meta = event.payload.meta;
      if (record.topic === TOPICS.ledger) {
        if (event.type === 'LedgerEntry' && event.payload.chain_id === tenant) {
          chainEntries += 1;
          if (chainedIds.has(event.payload.source_event_id)) chainedTwice.push(event.payload.source_event_id);
          chainedIds.add(event.payload.source_event_id);
        }
        if (event.type === 'LedgerCheckpoint' && event.payload.chain_id === tenant) checkpoints += 1;
        return;
      }
      if (meta.tenant_id !== tenant) return;
      tenantRecords += 1;
      tenantEventIds.add(meta.event_id);
      if (watched.runIds.has(meta.run_id)) runEventIds.add(meta.event_id);
      if (BUDGET_TYPES.has(event.type) && meta.producer.startsWith('budget@')) {
        books = replayWire(books, { type: event.type, payload: event.payload } as BudgetWireEvent);
        budgetEvents[event.type] = (budgetEvents[event.type] ?? 0) + 1;
      }
      const actionId = event.type === 'BudgetSettled' ? event.payload.reservation_id : meta.action_id;
      if (actionId === null || !watched.actionIds.has(actionId)) return;
      let facts = byAction.get(actionId);
      if (facts === undefined) {
        facts = emptyFacts();
        byAction.set(actionId, facts);
      }
      foldAction(facts, event);
    },
    { timeoutMs: 180_000, clientId: 'writ-fault-run' },
  );
  return {
    byAction,
    tenantRecords,
    tenantEventIds,
    runEventIds,
    undecodable,
    chainEntries,
    chainedIds,
    chainedTwice,
    checkpoints,
    books,
    budgetEvents,
    readMs: Date.now() - started,
  };
}

/** An action whose reservation may stay open by design: expired while executing (the call may still run). */
function mayHoldReservation(facts: ActionFacts): boolean {
  return facts.completed.some((c) => c.reason_code === 'EXECUTION_TIMEOUT');
}

/** What is still moving: watched actions not yet settled in the budget, events not yet chained. */
export function pendingWork(facts: TopicFacts, actions: readonly OfferedAction[]): string[] {
  const pending: string[] = [];
  let unsettled = 0;
  let incomplete = 0;
  for (const action of actions) {
    const f = facts.byAction.get(action.actionId);
    if (f === undefined) continue;
    if (f.completed.length === 0) incomplete += 1;
    if (f.reserved > 0 && f.settled.length === 0 && !mayHoldReservation(f)) unsettled += 1;
  }
  if (incomplete > 0) pending.push(`${incomplete} proposed actions without ActionCompleted`);
  if (unsettled > 0) pending.push(`${unsettled} reservations not settled`);
  const unchained = [...facts.tenantEventIds].filter((id) => !facts.chainedIds.has(id)).length;
  if (unchained > 0) pending.push(`${unchained} events not chained yet`);
  return pending;
}

/** Reads the facts until nothing is pending (or the time is up): the pipeline's tail after the last outcome. */
export async function quiescentFacts(
  brokers: readonly string[],
  actions: readonly OfferedAction[],
  options: { readonly timeoutMs: number; readonly log: (line: string) => void },
): Promise<TopicFacts> {
  const watched = { actionIds: new Set(actions.map((a) => a.actionId)), runIds: new Set(actions.map((a) => a.runId)) };
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    const facts = await readFacts(brokers, watched);
    const pending = pendingWork(facts, actions);
    if (pending.length === 0 || Date.now() > deadline) {
      options.log(
        `topics read in ${(facts.readMs / 1000).toFixed(1)} s: ${facts.tenantRecords} events of ${TENANT}, ${facts.chainEntries} chain entries${pending.length === 0 ? '' : `; still pending at the deadline: ${pending.join(', ')}`}`,
      );
      return facts;
    }
    await pause(2_000);
  }
}

// ---- the checks

const few = (items: readonly string[], n = 8): string => `${items.slice(0, n).join('; ')}${items.length > n ? `; and ${items.length - n} more` : ''}`;

function count(values: Iterable<string>): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const value of values) counts[value] = (counts[value] ?? 0) + 1;
  return counts;
}

export function formatCounts(counts: Readonly<Record<string, number>>): string {
  const entries = Object.entries(counts).sort((a, b) => b[1] - a[1]);
  return entries.length === 0 ? 'none' : entries.map(([k, v]) => `${k} ${v}`).join(', ');
}

function who(action: OfferedAction): string {
  return `action ${action.actionId} (key ${action.key}, ${action.spec.tool}, run ${action.runId})`;
}

/**
 * (a) Every action offered is in exactly one terminal state: proposed (the gateway answered with
 * the deterministic id), exactly one ActionCompleted on writ.actions.v1, and the gateway's outcome
 * says the same status.
 */
export function checkTerminalStates(actions: readonly OfferedAction[], facts: TopicFacts): string[] {
  const problems: string[] = [];
  for (const action of actions) {
    const f = facts.byAction.get(action.actionId);
    if (action.answeredId === undefined && (f?.proposed ?? 0) === 0) {
      problems.push(`${who(action)} was never accepted by the gateway: ${action.proposeAttempts} attempts (${formatCounts(count(action.proposeErrors))})`);
      continue;
    }
    if (action.answeredId !== undefined && action.answeredId !== action.actionId) {
      problems.push(`${who(action)}: the gateway answered action id ${action.answeredId}, not actionIdFor(tenant, run, key)`);
    }
    const completed = f?.completed ?? [];
    if (completed.length !== 1) {
      problems.push(
        `${who(action)} has ${completed.length} ActionCompleted (${completed.map((c) => `${c.status}/${c.reason_code}`).join(', ') || 'none'}), not exactly 1; on the topics: ${JSON.stringify({ ...f, completed: undefined })}`,
      );
      continue;
    }
    const status = completed[0]?.status;
    if (action.outcomeAt === undefined || action.view === undefined) {
      problems.push(
        `${who(action)}: the agent never got its outcome from the gateway (last status ${action.view?.status ?? 'none'}, ${action.outcomeErrors} failed polls); ActionCompleted says ${status}`,
      );
    } else if (action.view.status !== status) {
      problems.push(`${who(action)}: the gateway says ${action.view.status}, the planner's ActionCompleted says ${status}`);
    }
  }
  return problems;
}

export interface ToolCallReport {
  readonly problems: string[];
  /** Writes whose key reached the tool more than once (must be none). */
  readonly duplicateWrites: number;
  /** Reads whose key reached the tool more than once: allowed only for reads in flight when the executor died. */
  readonly repeatedReads: readonly string[];
  readonly calls: number;
  readonly retriedCalls: number;
}

/**
 * (b) No duplicate tool calls, counted where they land: the helpdesk's own count of calls per
 * idempotency key (not its deduplication). A write reaches the tool at most once, exactly once if
 * it completed; an action never sent to the executor never reaches the tool. The executor journals
 * only writes before calling (docs/design/pipeline.md, crash safety): a read in flight when it
 * was killed may be called again after the restart, so a read may reach the tool twice, at most
 * once more per executor kill and for at most `concurrency` reads per kill (the calls in flight).
 */
export function checkToolCalls(
  actions: readonly OfferedAction[],
  facts: TopicFacts,
  callsOf: (idempotencyKey: string) => number,
  executor: { readonly kills: number; readonly concurrency: number },
): ToolCallReport {
  const problems: string[] = [];
  const repeatedReads: string[] = [];
  let duplicateWrites = 0;
  let calls = 0;
  let retriedCalls = 0;
  for (const action of actions) {
    const f = facts.byAction.get(action.actionId);
    const n = callsOf(action.key);
    calls += n;
    const status = f?.completed[0]?.status;
    const attempts = Math.max(0, ...(f?.outcomes ?? []).map((o) => o.attempts));
    if (attempts > 1) retriedCalls += 1;
    const outcomes =
      f === undefined
        ? 'none'
        : f.outcomes.map((o) => `${o.type}(${o.outcome}${o.error_code === null ? '' : ` ${o.error_code}`}, ${o.attempts} attempts)`).join(', ') || 'no outcome';
    if (n > 0 && (f?.executionRequests ?? 0) === 0) {
      problems.push(`${who(action)} reached the tool ${n} times without any ExecutionRequested (status ${status ?? 'none'})`);
    }
    if (action.spec.write) {
      if (n > 1) {
        duplicateWrites += 1;
        problems.push(
          `${who(action)}: the write reached the tool ${n} times (status ${status ?? 'none'}; ${f?.executionRequests ?? 0} ExecutionRequested; outcomes: ${outcomes})`,
        );
      } else if (status === 'completed' && n !== 1) {
        problems.push(`${who(action)} completed but reached the tool ${n} times (outcomes: ${outcomes})`);
      }
    } else {
      if (n > 1) repeatedReads.push(`${action.key}×${n}`);
      if (n > 1 + executor.kills)
        problems.push(`${who(action)}: the read reached the tool ${n} times with ${executor.kills} executor kills (outcomes: ${outcomes})`);
      if (status === 'completed' && n < 1) problems.push(`${who(action)} completed but never reached the tool`);
    }
  }
  if (repeatedReads.length > executor.kills * executor.concurrency) {
    problems.push(
      `${repeatedReads.length} reads reached the tool more than once, more than the ${executor.concurrency} calls in flight at each of ${executor.kills} executor kills: ${few(repeatedReads)}`,
    );
  }
  return { problems, duplicateWrites, repeatedReads, calls, retriedCalls };
}

export interface BudgetReport {
  readonly problems: string[];
  /** Sum of BudgetSettled.actual_cost_micros over the watched actions. */
  readonly settledMicros: number;
  readonly dispositions: Readonly<Record<string, number>>;
  /** Run counters of the books: settled and still reserved, summed over the watched runs. */
  readonly booksSettledMicros: number;
  readonly booksReservedMicros: number;
  readonly openReservations: number;
}

/**
 * (c) The books equal the sum of the settled costs. Per action: at most one reservation and one
 * settlement; a reservation of a terminal action is closed (settled, released or expired; only an
 * action expired while executing may hold it, by design); an action with an execution outcome is
 * settled at the cost the executor reported. Per run: the accountant's books (rebuilt from its
 * events as it does at boot) hold the sum of the settlements and nothing reserved; the analytics
 * (ClickHouse `spend`, when given) hold the same sum.
 */
export function checkBudget(actions: readonly OfferedAction[], facts: TopicFacts, spendByRun?: ReadonlyMap<string, number>): BudgetReport {
  const problems: string[] = [];
  const settledByRun = new Map<string, number>();
  const holdingRuns = new Set<string>();
  const dispositions: string[] = [];
  let settledMicros = 0;
  let openReservations = 0;
  for (const action of actions) {
    const f = facts.byAction.get(action.actionId);
    if (f === undefined) continue;
    settledByRun.set(action.runId, settledByRun.get(action.runId) ?? 0);
    const status = f.completed[0]?.status ?? 'none';
    if (f.refused > 0)
      problems.push(`${who(action)} was refused by the budget (${f.refused} BudgetRefused): the caps of the fault run's budgets file should never bind`);
    if (f.reserved > 1) problems.push(`${who(action)} has ${f.reserved} BudgetReserved`);
    if (f.settled.length > 1)
      problems.push(`${who(action)} was settled ${f.settled.length} times (${f.settled.map((s) => `${s.disposition} ${s.actual_cost_micros}`).join(', ')})`);
    for (const s of f.settled) {
      dispositions.push(s.disposition);
      settledMicros += s.actual_cost_micros;
      settledByRun.set(action.runId, (settledByRun.get(action.runId) ?? 0) + s.actual_cost_micros);
    }
    if (f.reserved > 0 && f.settled.length === 0) {
      if (mayHoldReservation(f)) holdingRuns.add(action.runId);
      else if (f.completed.length > 0) {
        openReservations += 1;
        problems.push(`${who(action)} ended ${status} but its reservation is still open (no BudgetSettled)`);
      }
    }
    const outcome = f.outcomes[0];
    const settlement = f.settled[0];
    if (outcome !== undefined && settlement !== undefined) {
      if (settlement.disposition !== 'settled')
        problems.push(`${who(action)} has an execution outcome (${outcome.type}) but its reservation was ${settlement.disposition}, not settled`);
      if (settlement.actual_cost_micros !== outcome.cost_micros) {
        problems.push(`${who(action)} was charged ${settlement.actual_cost_micros} micros; the executor reported ${outcome.cost_micros}`);
      }
    }
    if (status === 'completed' && settlement?.disposition !== 'settled')
      problems.push(`${who(action)} completed but was not settled (${settlement?.disposition ?? 'no BudgetSettled'})`);
  }
  let booksSettledMicros = 0;
  let booksReservedMicros = 0;
  for (const [run, expected] of settledByRun) {
    const usage = facts.books.usage.get(`run|${run}`);
    const settled = usage?.settled_micros ?? 0;
    const reserved = usage?.reserved_micros ?? 0;
    booksSettledMicros += settled;
    booksReservedMicros += reserved;
    if (settled !== expected) {
      const counters = [...facts.books.usage].map(([key]) => key);
      problems.push(
        `run ${run}: the books hold ${settled} micros settled, the settlements of its actions sum to ${expected} (books rebuilt from ${formatCounts(facts.budgetEvents)}; ${counters.length} counters, ${counters.filter((k) => k.startsWith('run|')).length} of runs; ${[...facts.books.reservations].length} reservations)`,
      );
    }
    if (reserved !== 0 && !holdingRuns.has(run))
      problems.push(`run ${run}: the books still hold ${reserved} micros reserved though every action of the run is terminal`);
    const spend = spendByRun?.get(run);
    if (spendByRun !== undefined && spend !== expected)
      problems.push(`run ${run}: ClickHouse spend holds ${spend ?? 'nothing'}, the settlements sum to ${expected}`);
  }
  return { problems, settledMicros, dispositions: count(dispositions), booksSettledMicros, booksReservedMicros, openReservations };
}

export interface LedgerReport {
  readonly problems: string[];
  readonly events: number;
  readonly entries: number;
  readonly exported: number;
  readonly verified: string;
}

/** How the tenant's exported chain verified: by the caller, so that this module needs no @writ/ledger-core. */
export interface ChainVerification {
  readonly ok: boolean;
  /** One line: entries and events rechecked, or the first bad entry. */
  readonly summary: string;
}

/**
 * (d) The ledger chains every event of the tenant exactly once: as many chain entries (LedgerEntry
 * on writ.ledger.v1) as distinct events of the tenant on the chained topics, the same ids, none
 * twice; the export the ledger serves has them all and verifies.
 */
export function checkLedger(facts: TopicFacts, exportText: string, verification: ChainVerification): LedgerReport {
  const problems: string[] = [];
  if (facts.chainedTwice.length > 0) problems.push(`${facts.chainedTwice.length} events were chained twice: ${few(facts.chainedTwice)}`);
  const missing = [...facts.tenantEventIds].filter((id) => !facts.chainedIds.has(id));
  const extra = [...facts.chainedIds].filter((id) => !facts.tenantEventIds.has(id));
  const runMissing = [...facts.runEventIds].filter((id) => !facts.chainedIds.has(id));
  if (facts.chainEntries !== facts.tenantEventIds.size) {
    problems.push(
      `the chain of ${TENANT} has ${facts.chainEntries} entries; the chained topics hold ${facts.tenantEventIds.size} distinct events of ${TENANT} (${facts.tenantRecords} records)`,
    );
  }
  if (missing.length > 0)
    problems.push(`${missing.length} events of ${TENANT} are not chained (${runMissing.length} of them of the fault run's runs): ${few(missing)}`);
  if (extra.length > 0) problems.push(`${extra.length} chain entries name events not on the chained topics: ${few(extra)}`);
  const exported = exportedEntries(exportText);
  if (exported !== facts.chainEntries) problems.push(`the ledger's export has ${exported} entries, writ.ledger.v1 holds ${facts.chainEntries} for ${TENANT}`);
  if (!verification.ok) problems.push(`the ledger's export does not verify: ${verification.summary}`);
  return { problems, events: facts.tenantEventIds.size, entries: facts.chainEntries, exported, verified: verification.summary };
}

export interface OutcomeReport {
  readonly statuses: Readonly<Record<string, number>>;
  readonly reasons: Readonly<Record<string, number>>;
  readonly expired: Readonly<Record<string, number>>;
  /** Error codes of the executor's ActionFailed events (DEADLINE_PASSED: the call was not started in time). */
  readonly failures: Readonly<Record<string, number>>;
  readonly latency: { readonly p50: number; readonly p99: number; readonly max: number };
  readonly proposeRetries: number;
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? Number.NaN;
}

/** (e) How the actions ended: statuses, reason codes, expiries and the executor's failure codes, propose → outcome latency. */
export function outcomeReport(actions: readonly OfferedAction[], facts: TopicFacts): OutcomeReport {
  const completed = actions.flatMap((a) => facts.byAction.get(a.actionId)?.completed.slice(0, 1) ?? []);
  const failures = actions.flatMap((a) =>
    (facts.byAction.get(a.actionId)?.outcomes ?? [])
      .filter((o) => o.type === 'ActionFailed')
      .slice(0, 1)
      .map((o) => o.error_code ?? '?'),
  );
  const latencies = actions.flatMap((a) => (a.outcomeAt === undefined ? [] : [a.outcomeAt - a.dueAt])).sort((x, y) => x - y);
  return {
    statuses: count(completed.map((c) => c.status)),
    reasons: count(completed.map((c) => `${c.status}/${c.reason_code}`)),
    expired: count(completed.filter((c) => c.status === 'expired').map((c) => c.reason_code)),
    failures: count(failures),
    latency: { p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: latencies.at(-1) ?? Number.NaN },
    proposeRetries: actions.filter((a) => a.proposeAttempts > 1).length,
  };
}

// ---- reading the stack's doors

/** The helpdesk's count of calls per idempotency key (`<tenant>:<key>`). */
export async function helpdeskCallsByKey(helpdeskUrl: string, token: string): Promise<Readonly<Record<string, number>>> {
  const response = await fetch(`${helpdeskUrl}/_stats`, { headers: { authorization: `Bearer ${token}` } });
  if (!response.ok) throw new Error(`helpdesk /_stats: HTTP ${response.status}`);
  return ((await response.json()) as { calls_by_key: Record<string, number> }).calls_by_key;
}

/** The tenant's chain as the ledger exports it (JSON lines), with an auditor's key. */
export async function ledgerExport(ledgerUrl: string, auditorKey: string, tenant = TENANT): Promise<string> {
  const response = await fetch(`${ledgerUrl}/v1/ledger/${tenant}`, { headers: { authorization: `Bearer ${auditorKey}` } });
  if (!response.ok) throw new Error(`ledger export: HTTP ${response.status}`);
  return response.text();
}

/** Entries in an export (lines of kind "entry"), without parsing the rest. */
export function exportedEntries(text: string): number {
  let n = 0;
  for (const line of text.split('\n')) if (line.includes('"kind":"entry"')) n += 1;
  return n;
}

/** Waits until the ledger's export (its ClickHouse projection) has `entries` entries; returns it (the last one read at the deadline). */
export async function settledExport(ledgerUrl: string, auditorKey: string, entries: number, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let text = '';
  for (;;) {
    try {
      text = await ledgerExport(ledgerUrl, auditorKey);
      if (exportedEntries(text) >= entries) return text;
    } catch {
      // the ledger is still starting: try again
    }
    if (Date.now() > deadline) return text;
    await pause(1_000);
  }
}

/** Each watched run's sum of BudgetSettled.actual_cost_micros over the watched actions. */
export function settledByRun(actions: readonly OfferedAction[], facts: TopicFacts): Map<string, number> {
  const sums = new Map<string, number>();
  for (const action of actions) {
    const settled = facts.byAction.get(action.actionId)?.settled ?? [];
    sums.set(action.runId, (sums.get(action.runId) ?? 0) + settled.reduce((sum, s) => sum + s.actual_cost_micros, 0));
  }
  return sums;
}

/** Asks ClickHouse for each run's spend until it matches `expected` (the projection lags) or the time is up; returns the last answer. */
export async function projectedSpend(
  ledgerUrl: string,
  analystKey: string,
  expected: ReadonlyMap<string, number>,
  timeoutMs: number,
): Promise<Map<string, number>> {
  const deadline = Date.now() + timeoutMs;
  let spend = new Map<string, number>();
  for (;;) {
    try {
      spend = await spendByRun(ledgerUrl, analystKey, [...expected.keys()]);
      if ([...expected].every(([run, sum]) => spend.get(run) === sum)) return spend;
    } catch {
      // the ledger is still starting: try again
    }
    if (Date.now() > deadline) return spend;
    await pause(1_000);
  }
}

/** Each run's settled spend in ClickHouse (the analytics view), asked through the ledger's query door as the tenant's analyst. */
export async function spendByRun(ledgerUrl: string, analystKey: string, runIds: readonly string[]): Promise<Map<string, number>> {
  const spend = new Map<string, number>();
  for (const run of runIds) {
    const response = await fetch(`${ledgerUrl}/v1/query`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${analystKey}` },
      body: JSON.stringify({ sql: 'SELECT sum(cost_micros) AS spent FROM spend WHERE run_id = {run:String}', params: { run } }),
    });
    if (!response.ok) throw new Error(`ledger query: HTTP ${response.status} ${await response.text()}`);
    const [row] = ((await response.json()) as { rows: { spent: string | number }[] }).rows;
    spend.set(run, Number(row?.spent ?? 0));
  }
  return spend;
}
