import { describe, expect, it } from 'vitest';
import type { Metadata } from '@writ/contracts';
import { DEFAULT_PLANNER_CONFIG } from './config.ts';
import { AGENT, RUN, SECOND, T0, TENANT, propose } from './fixtures.spec.ts';
import type { RunHistory } from './replay.ts';
import { runHistoryOf } from './run-history.ts';
import type { InputCommandOf, RecordedEvent } from './run-history.ts';
import { commandOf } from './wire.ts';
import type { WireEvent } from './wire.ts';

// Topic indexes as the planner reads them: runs, proposals, policy, budget, outcomes, actions, executions.
const RUNS = 0;
const PROPOSALS = 1;
const BUDGET = 3;
const ACTIONS = 5;
const EXECUTIONS = 6;

function meta(actionId: string | null, at: number, producer = 'planner@0.1.0'): Metadata {
  return {
    event_id: `e-${actionId ?? 'run'}-${at}`,
    occurred_at: at,
    tenant_id: TENANT,
    run_id: RUN,
    action_id: actionId,
    causation_id: null,
    producer,
    trace: null,
  };
}

interface Where {
  readonly topicIndex: number;
  readonly offset: number;
  readonly partition?: number;
  readonly timestamp?: number;
  readonly consumed?: boolean;
}

/** A record of the planner's own output (never an input). */
function own(event: WireEvent, where: Where): RecordedEvent {
  return {
    event,
    meta: event.payload.meta,
    partition: 0,
    timestamp: event.payload.meta.occurred_at,
    ...where,
    offset: BigInt(where.offset),
    own: true,
    consumed: false,
  };
}

/** A record of another service's event; consumed unless told. */
function input(event: WireEvent, where: Where): RecordedEvent {
  return {
    event,
    meta: event.payload.meta,
    partition: 0,
    timestamp: event.payload.meta.occurred_at,
    consumed: true,
    ...where,
    offset: BigInt(where.offset),
    own: false,
  };
}

const completed = (actionId: string, at: number, reasonCode: string): WireEvent => ({
  type: 'ActionCompleted',
  payload: {
    meta: meta(actionId, at),
    status: 'rejected',
    reason: 'r',
    reason_code: reasonCode,
    result_json: null,
    result_ref: null,
    cost_micros: 0,
    currency: 'USD',
  },
});
const admitted = (actionId: string, at: number): WireEvent => ({
  type: 'ActionAdmitted',
  payload: {
    meta: meta(actionId, at),
    agent_id: AGENT,
    tool: 'refunds.create',
    tool_version: '1.0.0',
    arguments_json: '{}',
    args_sha256: 'a'.repeat(64),
    run_stats: { steps: 0, spend_micros: 0, currency: 'USD', tool_calls_in_window: 0 },
  },
});
const requested = (actionId: string, at: number, estimate: number, producer?: string): WireEvent => ({
  type: 'BudgetReservationRequested',
  payload: {
    meta: meta(actionId, at, producer),
    agent_id: AGENT,
    tool: 'refunds.create',
    estimated_cost_micros: estimate,
    currency: 'USD',
    tool_calls: 1,
    run_limits: null,
  },
});
const rejected = (actionId: string, at: number): WireEvent => ({
  type: 'ActionRejected',
  payload: { meta: meta(actionId, at), reason_code: 'LOOP_DETECTED', message: 'loop', field: null },
});
const ended = (at: number): WireEvent => ({ type: 'RunEnded', payload: { meta: meta(null, at), status: 'completed', reason: 'done' } });
const proposed = (actionId: string, at: number, key: string): WireEvent => ({
  type: 'ActionProposed',
  payload: {
    meta: meta(actionId, at, 'gateway@0.1.0'),
    agent_id: AGENT,
    tool: 'refunds.create',
    tool_version: null,
    arguments_json: '{}',
    args_sha256: 'a'.repeat(64),
    reason: `why ${key}`,
    idempotency_key: key,
    mode: 'live',
    provenance: null,
  },
});
const started = (at: number): WireEvent => ({
  type: 'RunStarted',
  payload: {
    meta: meta(null, at, 'gateway@0.1.0'),
    agent_id: AGENT,
    goal: 'refund',
    limits: { max_steps: null, max_tool_calls: null, max_cost_micros: null, wall_clock_ms: null, currency: null },
    mode: 'live',
  },
});
const refused = (actionId: string | null, at: number): WireEvent => ({
  type: 'BudgetRefused',
  payload: {
    meta: meta(actionId, at, 'budget@0.1.0'),
    agent_id: AGENT,
    scope: 'run',
    kind: 'money',
    limit: 1,
    used: 1,
    requested: 1,
    currency: 'USD',
    subject: null,
    rule: 'cap',
    period: 'run',
    window_ms: null,
  },
});

/** ActionProposed as the service maps it (with the registry), every other input as planner-core does. */
const inputCommandOf: InputCommandOf = (event, at) =>
  event.type === 'ActionProposed'
    ? propose(event.payload.meta.action_id ?? '', { idempotency_key: event.payload.idempotency_key, now: at })
    : commandOf(event, at);

/** given: the records in the order they were read; then: the history in the order replay folds it. */
function given(records: readonly RecordedEvent[]): RunHistory {
  return runHistoryOf(records, DEFAULT_PLANNER_CONFIG, inputCommandOf);
}

const T1 = T0 + SECOND;
const T2 = T0 + 2 * SECOND;

describe('replay order of what the planner published', () => {
  it('orders by the decision instant, then the order planner-core emits a decision in, whatever the reading order (a legacy reservation request only joins)', () => {
    const history = given([
      // Offsets against the emission order: the instant and the rank must decide, not the offset.
      own(completed('act-2', T1, 'LOOP_DETECTED'), { topicIndex: ACTIONS, offset: 3 }),
      own(ended(T2), { topicIndex: ACTIONS, offset: 6 }),
      own(completed('act-1', T2, 'RUN_CLOSED'), { topicIndex: ACTIONS, offset: 7 }),
      own(requested('act-1', T0, 2_000), { topicIndex: ACTIONS, offset: 0 }),
      own(rejected('act-2', T1), { topicIndex: ACTIONS, offset: 4 }),
      own(admitted('act-1', T0), { topicIndex: ACTIONS, offset: 8 }),
    ]);
    expect(history.published.map((event) => [event.type, 'action_id' in event ? event.action_id : null])).toEqual([
      ['ActionAdmitted', 'act-1'],
      ['ActionRejected', 'act-2'],
      ['ActionCompleted', 'act-2'],
      ['ActionCompleted', 'act-1'],
      ['RunEnded', null],
    ]);
    expect(history.starts).toEqual([]);
    expect(history.inputs).toEqual([]);
  });

  it('breaks a tie of the same type at the same instant by topic, then offset', () => {
    const history = given([
      own(completed('act-3', T1, 'LOOP_DETECTED'), { topicIndex: EXECUTIONS, offset: 0 }),
      own(completed('act-2', T1, 'LOOP_DETECTED'), { topicIndex: ACTIONS, offset: 9 }),
      own(completed('act-1', T1, 'LOOP_DETECTED'), { topicIndex: ACTIONS, offset: 8 }),
    ]);
    expect(history.published.map((event) => ('action_id' in event ? event.action_id : null))).toEqual(['act-1', 'act-2', 'act-3']);
  });

  it('joins an admission to the first proposal of its action and to the estimate the planner itself requested (records from before the accountant reacted to proposals)', () => {
    const history = given([
      input(proposed('act-1', T0, 'key-first'), { topicIndex: PROPOSALS, offset: 0, consumed: false }),
      input(proposed('act-1', T0, 'key-redelivered'), { topicIndex: PROPOSALS, offset: 1, consumed: false }),
      input(requested('act-1', T0, 9_999, 'intruder@0.1.0'), { topicIndex: ACTIONS, offset: 0, consumed: false }),
      own(requested('act-1', T1, 2_500), { topicIndex: ACTIONS, offset: 2 }),
      own(admitted('act-1', T1), { topicIndex: ACTIONS, offset: 1 }),
    ]);
    expect(history.published[0]).toMatchObject({
      type: 'ActionAdmitted',
      proposal: { idempotency_key: 'key-first', reason: 'why key-first', estimated_cost_micros: 2_500, proposed_at: T1 },
      admitted_at: T1,
      deadline: T1 + 30_000,
    });
  });
});

describe('replay order of the inputs the planner had consumed', () => {
  it('keeps consumed inputs only, by record timestamp, then topic, partition and offset; run starts apart', () => {
    const history = given([
      input(refused('act-2', T0), { topicIndex: BUDGET, offset: 5, timestamp: T2 }),
      input(proposed('act-2', T0, 'k2'), { topicIndex: PROPOSALS, offset: 1, partition: 1, timestamp: T1 }),
      input(proposed('act-1', T0, 'k1'), { topicIndex: PROPOSALS, offset: 7, partition: 0, timestamp: T1 }),
      input(proposed('act-3', T0, 'k3'), { topicIndex: PROPOSALS, offset: 8, timestamp: T2 + SECOND, consumed: false }),
      input(started(T0), { topicIndex: RUNS, offset: 0, timestamp: T1 }),
      own(admitted('act-1', T1), { topicIndex: ACTIONS, offset: 0 }),
    ]);
    expect(history.starts).toEqual([
      {
        type: 'StartRun',
        run_id: RUN,
        tenant_id: TENANT,
        agent_id: AGENT,
        goal: 'refund',
        limits: { max_steps: null, max_tool_calls: null, max_cost_micros: null, currency: null, wall_clock_ms: null },
        mode: 'live',
        now: T1,
      },
    ]);
    expect(history.inputs.map((command) => [command.type, 'action_id' in command ? command.action_id : null, command.now])).toEqual([
      ['ProposeAction', 'act-1', T1],
      ['ProposeAction', 'act-2', T1],
      ['RecordBudgetResult', 'act-2', T2],
    ]);
  });

  it('leaves out inputs the planner refused or does not act on', () => {
    const history = given([
      input(refused(null, T0), { topicIndex: BUDGET, offset: 0 }),
      input(ended(T0), { topicIndex: ACTIONS, offset: 0 }),
      input(refused('act-1', T1), { topicIndex: BUDGET, offset: 1 }),
    ]);
    expect(history.inputs.map((command) => command.type)).toEqual(['RecordBudgetResult']);
  });
});
