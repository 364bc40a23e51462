// A run's budget answered by the accountant itself (@writ/budget-core: its decider, its commands
// built by its own helpers from the events it consumes), never by a second copy of its rules.
// `writ replay` feeds it a run's recorded reservations, settlements, releases and lapses as the
// accountant's commands, on the run's own books (its RunStarted caps over the budgets file's run
// defaults), and compares what it decides for the run's budget with what was recorded; `writ eval`
// asks it whether a case's proposal would be reserved, refused, or reserved at an approval step.
//
// Only the run's own budget (scope run) is recomputed in a replay: the agent's, tools' and tenant's
// budgets count other runs, so their refusals and approval steps are taken from the record (the run's
// budget is checked first, so it must not refuse, or be at its approval step, where they did).
import {
  accountantStep,
  capsFor,
  commandFor,
  createBudgetDecider,
  initialBudgetState,
  limitCommandsFor,
  periodId,
  replayWire,
  usageOf,
} from '@writ/budget-core';
import type {
  BudgetCommand,
  BudgetDecider,
  BudgetEvent,
  BudgetRefused,
  BudgetReserved,
  BudgetState,
  BudgetWireEvent,
  BudgetsFile,
  ResolvedTool,
} from '@writ/budget-core';
import type { BudgetApprovalStep, EventPayloads, Metadata } from '@writ/contracts';
import { lookup } from '@writ/decider';
import { describeError } from '@writ/errors';
import type { ActionEvents, ReplayStep } from './replay-run.ts';
import type { RecordedEvent } from './run-record.ts';

type Payload<T extends keyof EventPayloads> = EventPayloads[T];
const payloadOf = <T extends keyof EventPayloads>(event: RecordedEvent): Payload<T> => event.payload as unknown as Payload<T>;
const metaOf = (event: RecordedEvent): Metadata => event.payload['meta'] as Metadata;
const byTopicOrder = (a: RecordedEvent, b: RecordedEvent): number => a.partition - b.partition || a.offset - b.offset;

/** The budgets file the accountant ran with (WRIT_BUDGET_LIMITS_FILE), and where it was read from. */
export interface RunBudgets {
  readonly file: BudgetsFile;
  readonly source: string;
}

/** The registry's entry of a tool version, as the accountant resolves a proposal's tool. */
export type ToolLookup = (name: string, version: string | undefined) => ResolvedTool | undefined;

/** A run's caps as its RunStarted gives them. */
export interface RunCaps {
  readonly max_cost_micros: number | null;
  readonly max_tool_calls: number | null;
}

const RUN_COUNTER = (runId: string) => ({ scope: 'run' as const, subject: runId, window_ms: null });

/**
 * A run's books before its first action: the budgets file's limits of the tenant (`scopes` run: the
 * tenant's time zone and the run budget's defaults only), then the run's own caps from its RunStarted,
 * each applied by the accountant. A command the accountant refuses (a RunStarted in another currency
 * than the tenant's) is left out, as it is live, and named in `problems`.
 */
function booksOf(
  decider: BudgetDecider,
  budgets: BudgetsFile | undefined,
  tenant: string,
  start: Payload<'RunStarted'> | undefined,
  now: number,
  scopes: 'run' | 'all',
): { readonly state: BudgetState; readonly problems: readonly string[] } {
  let state = initialBudgetState();
  const problems: string[] = [];
  const apply = (command: BudgetCommand, what: string) => {
    try {
      state = accountantStep(decider, state, command).state;
    } catch (error) {
      problems.push(`${what} not applied: ${describeError(error)}`);
    }
  };
  for (const command of budgets === undefined ? [] : limitCommandsFor(budgets, tenant, now)) {
    if (scopes === 'all' || command.type === 'SetTimeZone' || command.scope === 'run') apply(command, 'the budgets file');
  }
  if (start !== undefined) {
    const input = commandFor({ type: 'RunStarted', payload: start }, now, state.currency);
    if (input !== null) apply(input.command, 'the run’s caps (RunStarted)');
  }
  return { state, problems };
}

/** "100000 micros and 5 tool calls, reads only from 50 %" */
function capsText(state: BudgetState, runId: string): string {
  const caps = capsFor(state, RUN_COUNTER(runId));
  const money = caps.money_micros === null ? 'no money cap' : `${caps.money_micros} micros`;
  const calls = caps.tool_calls === null ? 'no tool-call cap' : `${caps.tool_calls} tool calls`;
  const steps = [
    ...(caps.approval_at_percent == null ? [] : [`writes need an approval from ${caps.approval_at_percent} %`]),
    ...(caps.reads_only_at_percent == null ? [] : [`reads only from ${caps.reads_only_at_percent} %`]),
  ];
  return `${money}, ${calls}${steps.length === 0 ? '' : `; ${steps.join(', ')}`}`;
}

/** What the run's budget had used, of its caps, in the books given. */
function standingText(state: BudgetState, runId: string): string {
  const caps = capsFor(state, RUN_COUNTER(runId));
  const usage = usageOf(state, 'run', runId);
  const of = (cap: number | null | undefined) => (cap == null ? '' : ` of ${cap}`);
  return `the run had used ${usage.settled_micros + usage.reserved_micros}${of(caps.money_micros)} micros and ${usage.settled_calls + usage.reserved_calls}${of(caps.tool_calls)} tool calls`;
}

export function approvalStepText(step: Pick<BudgetApprovalStep, 'scope' | 'kind' | 'percent' | 'limit' | 'used'> | null): string {
  return step === null ? 'none' : `the ${step.scope} ${step.kind} budget at ${step.percent} % (used ${step.used} of ${step.limit})`;
}

function refusalText(r: Pick<BudgetRefused, 'scope' | 'kind' | 'limit' | 'used' | 'requested' | 'rule'>): string {
  return `${r.scope} ${r.kind} limit ${r.limit}, used ${r.used}, asked ${r.requested} (${r.rule})`;
}

function decidedText(event: BudgetEvent | undefined): string {
  if (event === undefined) return 'nothing';
  switch (event.type) {
    case 'BudgetReserved':
      return `reserved ${event.amount_micros} micros${event.approval_step === null ? '' : ` at ${approvalStepText(event.approval_step)}`}`;
    case 'BudgetRefused':
      return `refused: ${refusalText(event)}`;
    case 'BudgetSettled':
      return `${event.late ? 'late ' : ''}settled: ${event.actual_cost_micros} micros charged, ${event.released_micros} released`;
    case 'BudgetReleased':
      return `released ${event.released_micros} micros`;
    case 'BudgetReservationExpired':
      return `lapsed, ${event.released_micros} micros released`;
    default:
      return event.type;
  }
}

function sameStep(a: BudgetApprovalStep | null, b: BudgetApprovalStep | null): boolean {
  if (a === null || b === null) return a === b;
  return a.scope === b.scope && a.kind === b.kind && a.percent === b.percent && a.limit === b.limit && a.used === b.used;
}

// ---- replay: the run's recorded budget events against the accountant's decisions ----

type Kind = 'reserve' | 'settle' | 'release' | 'expire';

function recordedKind(event: RecordedEvent): Kind {
  if (event.type !== 'BudgetSettled') return 'reserve';
  const disposition = payloadOf<'BudgetSettled'>(event).disposition;
  return disposition === 'settled' ? 'settle' : disposition === 'released' ? 'release' : 'expire';
}

function recordedReservation(event: RecordedEvent): string {
  return event.type === 'BudgetSettled' ? payloadOf<'BudgetSettled'>(event).reservation_id : (metaOf(event).action_id ?? '');
}

function decidedKey(event: BudgetEvent): string | undefined {
  switch (event.type) {
    case 'BudgetReserved':
    case 'BudgetRefused':
      return `reserve|${event.reservation_id}`;
    case 'BudgetSettled':
      return `settle|${event.reservation_id}`;
    case 'BudgetReleased':
      return `release|${event.reservation_id}`;
    case 'BudgetReservationExpired':
      return `expire|${event.reservation_id}`;
    default:
      return undefined;
  }
}

/** The reservation time-to-live the accountant ran with, as its reservations show it (else its default). */
function reservationTtlOf(events: readonly RecordedEvent[]): number | undefined {
  for (const event of events) {
    if (event.type !== 'BudgetReserved') continue;
    const ttl = payloadOf<'BudgetReserved'>(event).expires_at - metaOf(event).occurred_at;
    if (Number.isSafeInteger(ttl) && ttl > 0) return ttl;
  }
  return undefined;
}

export interface RunBudgetOptions {
  readonly budgets?: RunBudgets;
  readonly tool?: ToolLookup;
}

export interface RunBudgetReplay {
  /** The check of each recorded reservation, refusal and settlement, by event id. */
  readonly checks: ReadonlyMap<string, ReplayStep>;
  /** What the accountant does to an action that the record does not hold, by action id. */
  readonly unrecorded: ReadonlyMap<string, readonly ReplayStep[]>;
  readonly notes: readonly string[];
  /** The run's books at the end (its own budget). */
  readonly settledMicros: number;
  readonly heldMicros: number;
  /** How the run's budget was set up for the replay. */
  readonly setup: string;
}

interface Judged {
  readonly step: ReplayStep;
  /** decided: the books go on with the accountant's events; record: with the recorded one (a divergence, or a budget counting other runs). */
  readonly follow: 'decided' | 'record';
}

function judged(text: string, detail: string, differences: readonly string[], follow?: 'decided' | 'record'): Judged {
  const step: ReplayStep =
    differences.length === 0 ? { what: 'budget', text, verdict: 'same', detail } : { what: 'budget', text, verdict: 'differs', detail, differences };
  return { step, follow: follow ?? (differences.length === 0 ? 'decided' : 'record') };
}

function recordedStep(text: string, detail: string): Judged {
  return { step: { what: 'budget', text, verdict: 'recorded', detail }, follow: 'record' };
}

/** What the record says of a budget event, as the replay prints it. */
export function recordedBudgetText(event: RecordedEvent): string {
  if (event.type === 'BudgetReserved') {
    const r = payloadOf<'BudgetReserved'>(event);
    return `reserved ${r.amount_micros} micros ${r.currency}${r.approval_step ? ` (a budget at its approval step: ${r.approval_step.scope})` : ''}`;
  }
  if (event.type === 'BudgetRefused') {
    const r = payloadOf<'BudgetRefused'>(event);
    const scope = `${r.scope}${r.subject === null || r.subject === undefined || r.scope === 'run' ? '' : ` ${r.subject}`}`;
    return `refused${r.rule === 'reads_only' ? ' (degraded to reads)' : ''}: ${scope} ${r.kind} limit ${r.limit}, used ${r.used}, asked ${r.requested}`;
  }
  const s = payloadOf<'BudgetSettled'>(event);
  return `${s.late ? 'late ' : ''}${s.disposition}: ${s.actual_cost_micros} micros charged, ${s.released_micros} released`;
}

function judgeReservation(event: RecordedEvent, decided: BudgetEvent | undefined, before: BudgetState, runId: string): Judged {
  const text = recordedBudgetText(event);
  const standing = standingText(before, runId);
  if (decided?.type !== 'BudgetReserved' && decided?.type !== 'BudgetRefused') {
    return judged(text, '', [`the accountant decides ${decidedText(decided)} (it had decided this reservation already)`]);
  }
  if (event.type === 'BudgetReserved') {
    const r = payloadOf<'BudgetReserved'>(event);
    if (decided.type === 'BudgetRefused') return judged(text, '', [`reserved, but the run's budget refuses it: ${refusalText(decided)}`]);
    const differences: string[] = [];
    if (r.amount_micros !== decided.amount_micros || r.currency !== decided.currency) {
      differences.push(`reserved ${r.amount_micros} ${r.currency}, the tool's declared maximum is ${decided.amount_micros} ${decided.currency}`);
    }
    if ((r.tool_calls ?? 1) !== decided.tool_calls) differences.push(`reserved ${r.tool_calls ?? 1} tool calls, replayed ${decided.tool_calls}`);
    const recordedStepOf = r.approval_step ?? null;
    let others = '';
    if (recordedStepOf !== null && recordedStepOf.scope !== 'run') {
      if (decided.approval_step !== null) {
        differences.push(
          `approval step: recorded the ${recordedStepOf.scope} budget's, but the run's own is reached first: ${approvalStepText(decided.approval_step)}`,
        );
      } else others = `; the ${recordedStepOf.scope} budget's approval step counts other runs: taken from the record`;
    } else if (!sameStep(recordedStepOf, decided.approval_step)) {
      differences.push(`approval step: recorded ${approvalStepText(recordedStepOf)}, replayed ${approvalStepText(decided.approval_step)}`);
    }
    return judged(text, `replayed: ${decidedText(decided)}; ${standing}${others}`, differences);
  }
  const r = payloadOf<'BudgetRefused'>(event);
  if (r.scope !== 'run') {
    if (decided.type === 'BudgetRefused') {
      return judged(text, '', [`refused by the ${r.scope} budget, but the run's own budget refuses it first: ${refusalText(decided)}`]);
    }
    return recordedStep(text, `the run's budget grants it (${standing}); the ${r.scope} budget counts other runs too: taken from the record`);
  }
  if (decided.type === 'BudgetReserved') return judged(text, '', [`refused by the run's budget, but the accountant reserves it: ${standing}`]);
  const differences: string[] = [];
  const recordedRule = r.rule ?? 'cap';
  if (recordedRule !== decided.rule) differences.push(`rule: recorded ${recordedRule}, replayed ${decided.rule}`);
  if (r.kind !== decided.kind) differences.push(`kind: recorded ${r.kind}, replayed ${decided.kind}`);
  if (r.limit !== decided.limit) differences.push(`limit: recorded ${r.limit}, replayed ${decided.limit}`);
  if (r.used !== decided.used) differences.push(`used: recorded ${r.used}, replayed ${decided.used} (${standing})`);
  if (r.requested !== decided.requested) differences.push(`requested: recorded ${r.requested}, replayed ${decided.requested}`);
  return judged(text, `replayed: ${decidedText(decided)}`, differences);
}

function judgeSettlement(event: RecordedEvent, decided: BudgetEvent | undefined): Judged {
  const text = recordedBudgetText(event);
  const s = payloadOf<'BudgetSettled'>(event);
  if (decided?.type !== 'BudgetSettled') return judged(text, '', [`settled, but the accountant decides ${decidedText(decided)}`]);
  const differences: string[] = [];
  if (s.actual_cost_micros !== decided.actual_cost_micros)
    differences.push(`charged ${s.actual_cost_micros}, the outcome reported ${decided.actual_cost_micros}`);
  if (s.late !== decided.late) differences.push(`recorded ${s.late ? 'late' : 'on time'}, replayed ${decided.late ? 'late' : 'on time'}`);
  if (s.released_micros !== decided.released_micros) {
    differences.push(
      `released ${s.released_micros} of ${decided.reserved_micros} reserved at a cost of ${decided.actual_cost_micros}, replayed ${decided.released_micros}`,
    );
  }
  if (s.overrun_micros != null && s.overrun_micros !== decided.overrun_micros)
    differences.push(`overrun ${s.overrun_micros}, replayed ${decided.overrun_micros}`);
  if (s.tool_calls != null && s.tool_calls !== decided.tool_calls) differences.push(`charged ${s.tool_calls} tool calls, replayed ${decided.tool_calls}`);
  if (!s.late && s.reserved_micros != null && s.reserved_micros !== decided.reserved_micros) {
    differences.push(`names ${s.reserved_micros} reserved, the reservation held ${decided.reserved_micros}`);
  }
  return judged(text, `replayed: ${decidedText(decided)} (the outcome's cost)`, differences);
}

function judgeClosing(event: RecordedEvent, decided: BudgetEvent | undefined, before: BudgetState, why: string): Judged {
  const text = recordedBudgetText(event);
  const s = payloadOf<'BudgetSettled'>(event);
  const expected = s.disposition === 'released' ? 'BudgetReleased' : 'BudgetReservationExpired';
  if (decided?.type !== expected) {
    const record = lookup(before.reservations, s.reservation_id);
    const held =
      record?.status === 'reserved' && s.disposition === 'expired' && record.expires_at !== null
        ? `its reservation runs until ${new Date(record.expires_at).toISOString()}`
        : `it holds nothing of it (${record?.status ?? 'never reserved'})`;
    return judged(text, '', [`${s.disposition}, but the accountant decides ${decidedText(decided)}: ${held}`]);
  }
  const differences: string[] = [];
  if (s.actual_cost_micros !== 0) differences.push(`${s.disposition} with a charge of ${s.actual_cost_micros}`);
  const released = decided.type === 'BudgetReleased' || decided.type === 'BudgetReservationExpired' ? decided.released_micros : 0;
  if (s.released_micros !== released) differences.push(`released ${s.released_micros}, replayed ${released}`);
  return judged(text, `replayed: ${decidedText(decided)} (${why})`, differences);
}

/** The accountant's command for a recorded budget event, built from the event it consumed then; or why there is none. */
function commandOf(
  event: RecordedEvent,
  kind: Kind,
  action: ActionEvents | undefined,
  requests: ReadonlyMap<string, Payload<'BudgetReservationRequested'>>,
  state: BudgetState,
  options: RunBudgetOptions,
  shadow: boolean,
): { readonly command: BudgetCommand; readonly why?: undefined } | { readonly command?: undefined; readonly why: Judged } {
  const now = metaOf(event).occurred_at;
  const text = recordedBudgetText(event);
  const id = recordedReservation(event);
  switch (kind) {
    case 'reserve': {
      const proposed = action?.proposals[0];
      if (proposed !== undefined) {
        const proposal = payloadOf<'ActionProposed'>(proposed);
        const admitted = action?.admitted === undefined ? undefined : payloadOf<'ActionAdmitted'>(action.admitted);
        const version = admitted?.tool_version ?? proposal.tool_version ?? undefined;
        if (options.tool === undefined) return { why: recordedStep(text, 'not recomputed: no tool registry (--tools) to price it') };
        const tool = options.tool(proposal.tool, version);
        if (tool === undefined) return { why: recordedStep(text, `not recomputed: ${proposal.tool}@${version ?? 'latest'} is not in the tool registry`) };
        const input = commandFor({ type: 'ActionProposed', payload: proposal }, now, state.currency, tool);
        if (input !== null) return { command: input.command };
      }
      const requested = requests.get(id);
      if (requested !== undefined) {
        const input = commandFor({ type: 'BudgetReservationRequested', payload: requested }, now, state.currency);
        if (input !== null) return { command: input.command };
      }
      return { why: recordedStep(text, 'not recomputed: no proposal of the action recorded') };
    }
    case 'settle': {
      const outcome = action?.outcome;
      if (outcome === undefined) return { why: judged(text, '', ['settled, but the record holds no outcome of the execution']) };
      const input =
        outcome.type === 'ActionExecuted'
          ? commandFor({ type: 'ActionExecuted', payload: payloadOf<'ActionExecuted'>(outcome) }, now, state.currency)
          : commandFor({ type: 'ActionFailed', payload: payloadOf<'ActionFailed'>(outcome) }, now, state.currency);
      if (input === null) return { why: recordedStep(text, 'not recomputed') };
      return { command: input.command };
    }
    case 'release': {
      const completed = action?.completions[0];
      if (completed === undefined) return { why: recordedStep(text, 'not recomputed: the action’s end is not in the record (yet)') };
      const input = commandFor({ type: 'ActionCompleted', payload: payloadOf<'ActionCompleted'>(completed) }, now, state.currency);
      if (input !== null) return { command: input.command };
      if (shadow) return { why: recordedStep(text, 'a shadow run’s reservation, given back with its grant (not recomputed)') };
      const c = payloadOf<'ActionCompleted'>(completed);
      const code = (c.reason_code ?? '').toUpperCase();
      return {
        why: judged(text, '', [`released, but the action ended ${c.status}${code === '' ? '' : ` (${code})`}: nothing asks the accountant to release it`]),
      };
    }
    case 'expire':
      return { command: { type: 'ExpireReservations', now, forget: false } };
    default:
      return kind satisfies never;
  }
}

/**
 * The run's budget replayed by the accountant: every recorded reservation, refusal, settlement,
 * release and lapse of the run, in the accountant's order (one partition of writ.budget.v1), is
 * decided again from the event that asked for it (the proposal, the outcome, the action's end, the
 * timer), on the run's own books, and compared with the record. After a divergence the books follow
 * the record, so one difference is reported once.
 */
export function replayRunBudget(
  runId: string,
  tenant: string,
  events: readonly RecordedEvent[],
  actions: readonly ActionEvents[],
  options: RunBudgetOptions,
): RunBudgetReplay {
  const started = events.find((e) => e.type === 'RunStarted');
  const start = started === undefined ? undefined : payloadOf<'RunStarted'>(started);
  const budgetEvents = events.filter((e) => e.type === 'BudgetReserved' || e.type === 'BudgetRefused' || e.type === 'BudgetSettled').sort(byTopicOrder);
  const ttl = reservationTtlOf(budgetEvents);
  const decider = createBudgetDecider(ttl === undefined ? {} : { reservation_ttl_ms: ttl });
  const firstAt = started === undefined ? (budgetEvents[0] === undefined ? 0 : metaOf(budgetEvents[0]).occurred_at) : metaOf(started).occurred_at;
  const books = booksOf(decider, options.budgets?.file, tenant, start, firstAt, 'run');
  let state = books.state;
  const source =
    options.budgets === undefined
      ? 'the run’s own caps from its RunStarted; no budgets file (--budgets), so no run defaults'
      : `the run’s own caps from its RunStarted, else the run budget of ${options.budgets.source}`;
  const setup = `${capsText(state, runId)} (${source})${books.problems.length === 0 ? '' : `; ${books.problems.join('; ')}`}`;

  const byAction = new Map(actions.map((a) => [a.actionId, a]));
  const requests = new Map<string, Payload<'BudgetReservationRequested'>>();
  for (const event of events) {
    const id = metaOf(event).action_id;
    if (event.type === 'BudgetReservationRequested' && id !== null && !requests.has(id)) requests.set(id, payloadOf<'BudgetReservationRequested'>(event));
  }
  const shadow = start?.mode === 'shadow';
  const follow = (books: BudgetState, event: RecordedEvent) => replayWire(books, { type: event.type, payload: event.payload } as unknown as BudgetWireEvent);
  /** What the accountant decided that the record has not shown yet (a shadow grant's release, the other lapses of one sweep). */
  const early = new Map<string, BudgetEvent>();
  const checks = new Map<string, ReplayStep>();
  for (const event of budgetEvents) {
    const kind = recordedKind(event);
    const id = recordedReservation(event);
    const judge = (decided: BudgetEvent | undefined, before: BudgetState): Judged => {
      if (kind === 'reserve') return judgeReservation(event, decided, before, runId);
      if (kind === 'settle') return judgeSettlement(event, decided);
      return judgeClosing(
        event,
        decided,
        before,
        kind === 'expire' ? 'past its expiry' : shadow ? 'a shadow run’s grant is given back at once' : 'nothing executed on it',
      );
    };
    const already = early.get(`${kind}|${id}`);
    if (already !== undefined) {
      early.delete(`${kind}|${id}`);
      checks.set(event.eventId, judge(already, state).step);
      continue;
    }
    const command = commandOf(event, kind, byAction.get(id), requests, state, options, shadow);
    if (command.why !== undefined) {
      checks.set(event.eventId, command.why.step);
      state = follow(state, event);
      continue;
    }
    let step: ReturnType<typeof accountantStep>;
    try {
      step = accountantStep(decider, state, command.command);
    } catch (error) {
      checks.set(event.eventId, judged(recordedBudgetText(event), '', [`the accountant refuses the ${kind}: ${describeError(error)}`]).step);
      state = follow(state, event);
      continue;
    }
    const main = step.events.find((e) => decidedKey(e) === `${kind}|${id}`);
    const answer = judge(main, state);
    checks.set(event.eventId, answer.step);
    if (answer.follow === 'record') {
      state = follow(state, event);
      continue;
    }
    state = step.state;
    for (const other of step.events) {
      const key = decidedKey(other);
      if (other !== main && key !== undefined) early.set(key, other);
    }
  }

  const unrecorded = new Map<string, ReplayStep[]>();
  const notes: string[] = [];
  const add = (actionId: string, step: ReplayStep) => unrecorded.set(actionId, [...(unrecorded.get(actionId) ?? []), step]);
  for (const [key, event] of early) {
    const id = key.slice(key.indexOf('|') + 1);
    if (event.type === 'BudgetReleased') notes.push(`action ${id}: the release of its shadow reservation is not in the record (yet)`);
    else
      add(id, {
        what: 'budget',
        text: 'not recorded',
        verdict: 'differs',
        differences: [`the accountant also decides ${decidedText(event)}, which the record does not hold`],
      });
  }
  for (const action of actions) {
    const record = lookup(state.reservations, action.actionId);
    if (action.outcome === undefined || action.settlements.length === 0 || record === undefined || record.status === 'settled' || record.status === 'refused')
      continue;
    const cost = payloadOf<'ActionExecuted'>(action.outcome).cost_micros;
    add(action.actionId, {
      what: 'budget',
      text: 'no settlement of its outcome',
      verdict: 'differs',
      differences: [`${record.status}, but the action has an outcome (cost ${cost}) and no settlement charged it`],
    });
  }
  const usage = usageOf(state, 'run', runId);
  return { checks, unrecorded, notes, settledMicros: usage.settled_micros, heldMicros: usage.reserved_micros, setup };
}

// ---- eval: a case's proposal put to the accountant ----

/** The instant a case's proposals are reserved at: every counter is fresh, so any instant gives the same answer. */
export const EVAL_INSTANT = Date.UTC(2026, 0, 5, 12);

export interface BudgetContext {
  readonly tenant: string;
  readonly agentId: string;
  readonly runId: string;
  readonly mode: 'live' | 'shadow';
  /** The run's own caps (its RunStarted limits); undefined: the budgets file's run budget alone. */
  readonly limits: RunCaps | undefined;
  /** What the run had used before the proposal (settled plus held): money and tool calls. */
  readonly used: { readonly micros: number; readonly calls: number };
}

export type BudgetAnswer =
  | { readonly answer: 'reserved'; readonly amount_micros: number; readonly approval_step: BudgetApprovalStep | null }
  | (Pick<BudgetRefused, 'scope' | 'subject' | 'kind' | 'rule' | 'limit' | 'used' | 'requested'> & { readonly answer: 'refused' });

function metadata(context: BudgetContext, actionId: string | null, now: number): Metadata {
  return {
    event_id: `${context.runId}:${actionId ?? 'start'}`,
    occurred_at: now,
    tenant_id: context.tenant,
    run_id: context.runId,
    action_id: actionId,
    causation_id: null,
    producer: 'writ-eval',
    trace: null,
  };
}

/**
 * The accountant's answer to a proposal in a run: the tenant's budgets from the file (every budget:
 * the agent's, tools' and tenant's see this run's spend only), the run's caps, the run's spend and
 * tool calls before the proposal (counted as one settled reservation of the run), then the proposal's
 * reservation as the accountant makes it from an ActionProposed (the tool's declared maximum, one
 * call, its side effects).
 */
export function budgetAnswer(file: BudgetsFile, context: BudgetContext, tool: ResolvedTool, version: string | null, now = EVAL_INSTANT): BudgetAnswer {
  const decider = createBudgetDecider();
  const start: Payload<'RunStarted'> | undefined =
    context.limits === undefined
      ? undefined
      : {
          meta: metadata(context, null, now),
          agent_id: context.agentId,
          goal: 'eval case',
          limits: {
            max_steps: null,
            max_tool_calls: context.limits.max_tool_calls,
            max_cost_micros: context.limits.max_cost_micros,
            wall_clock_ms: null,
            currency: null,
          },
          mode: context.mode,
        };
  const books = booksOf(decider, file, context.tenant, start, now, 'all');
  if (books.problems.length > 0) throw new Error(books.problems.join('; '));
  let state = books.state;
  if (context.used.micros > 0 || context.used.calls > 0) {
    // What the run used before: one reservation of no tool, settled at its cost (the books as the accountant's own events leave them).
    const prior: BudgetReserved = {
      type: 'BudgetReserved',
      reservation_id: `${context.runId}:before`,
      run_id: context.runId,
      agent_id: context.agentId,
      tool: null,
      day: periodId('day', now, state.time_zone),
      amount_micros: context.used.micros,
      tool_calls: context.used.calls,
      currency: state.currency ?? tool.cost.currency,
      reserved_at: now - 1,
      expires_at: now + 60_000,
      approval_step: null,
    };
    state = decider.evolve(state, prior);
    state = decider.evolve(state, {
      type: 'BudgetSettled',
      reservation_id: prior.reservation_id,
      run_id: prior.run_id,
      agent_id: prior.agent_id,
      day: prior.day,
      reserved_micros: prior.amount_micros,
      actual_cost_micros: prior.amount_micros,
      released_micros: 0,
      overrun_micros: 0,
      tool_calls: prior.tool_calls,
      currency: prior.currency,
      late: false,
      settled_at: now - 1,
    });
  }
  const proposal: Payload<'ActionProposed'> = {
    meta: metadata(context, `${context.runId}:proposal`, now),
    agent_id: context.agentId,
    tool: tool.name,
    tool_version: version,
    arguments_json: '{}',
    args_sha256: '',
    reason: 'eval case',
    idempotency_key: `${context.runId}:proposal`,
    mode: context.mode,
    provenance: null,
  };
  const input = commandFor({ type: 'ActionProposed', payload: proposal }, now, state.currency, tool);
  if (input === null) throw new Error(`no reservation for ${tool.name}`);
  const decided = accountantStep(decider, state, input.command).events.find((e) => e.type === 'BudgetReserved' || e.type === 'BudgetRefused');
  if (decided?.type === 'BudgetReserved') return { answer: 'reserved', amount_micros: decided.amount_micros, approval_step: decided.approval_step };
  if (decided?.type === 'BudgetRefused') {
    const { scope, subject, kind, rule, limit, used, requested } = decided;
    return { answer: 'refused', scope, subject, kind, rule, limit, used, requested };
  }
  throw new Error(`the accountant decided nothing for ${tool.name}`);
}

/** The run's own budget before a recorded reservation: money and tool calls used (settled plus held), folded from the record by the accountant's own evolve. */
export function runUsageBefore(events: readonly RecordedEvent[], runId: string, eventId: string): { readonly micros: number; readonly calls: number } {
  let state = initialBudgetState();
  for (const event of events.filter((e) => e.type === 'BudgetReserved' || e.type === 'BudgetRefused' || e.type === 'BudgetSettled').sort(byTopicOrder)) {
    if (event.eventId === eventId) break;
    state = replayWire(state, { type: event.type, payload: event.payload } as unknown as BudgetWireEvent);
  }
  const usage = usageOf(state, 'run', runId);
  return { micros: usage.settled_micros + usage.reserved_micros, calls: usage.settled_calls + usage.reserved_calls };
}
