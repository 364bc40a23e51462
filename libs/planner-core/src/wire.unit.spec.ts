import { describe, expect, it } from 'vitest';
import type { ActionProposed, Metadata, PolicyDecided } from '@writ/contracts';
import { DEFAULT_PLANNER_CONFIG } from './config.ts';
import type { PlannerCommand } from './commands.ts';
import { isPlannerInternalEvent } from './events.ts';
import type { ActionRejected, PlannerPublishedEvent } from './events.ts';
import {
  AGENT,
  MINUTE,
  RUN,
  SECOND,
  T0,
  TENANT,
  admission,
  completed,
  executing,
  planner,
  propose,
  reservationFor,
  runStarted,
  warrantFor,
} from './fixtures.spec.ts';
import { commandOf, fromWire, toWire } from './wire.ts';
import type { OutputContext, PlannerOutputType, PlannerOutputWire, ReplayJoin, WireEvent } from './wire.ts';

const EVENT_ID = '0190f5a8-3c00-7000-8000-000000000001';
const CAUSE = '0190f5a8-3c00-7000-8000-0000000000c0';
const PRODUCER = 'planner@0.1.0';

function metaOf(fields: { readonly run_id: string; readonly action_id: string | null; readonly occurred_at: number }): Metadata {
  return { event_id: EVENT_ID, tenant_id: TENANT, causation_id: CAUSE, producer: PRODUCER, trace: null, ...fields };
}

function ctxAt(now: number, overrides: Partial<OutputContext> = {}): OutputContext {
  return { meta: metaOf, now, default_currency: 'EUR', ...overrides };
}

const AT = T0 + SECOND;
const ARGS = '{"ticket":"act-1"}';
const SHA = 'act-1'.padEnd(64, '0');

/** What the planner publishes for one action, as it stands on the topics (literal). */
const published = {
  ActionAdmitted: {
    type: 'ActionAdmitted',
    payload: {
      meta: metaOf({ run_id: RUN, action_id: 'act-1', occurred_at: AT }),
      agent_id: AGENT,
      tool: 'refunds.create',
      tool_version: '1.0.0',
      arguments_json: ARGS,
      args_sha256: SHA,
      run_stats: { steps: 2, spend_micros: 1_500, currency: 'USD', tool_calls_in_window: 1 },
    },
  },
  ActionRejected: {
    type: 'ActionRejected',
    payload: { meta: metaOf({ run_id: RUN, action_id: 'act-2', occurred_at: AT }), reason_code: 'LOOP_DETECTED', message: 'third identical call', field: null },
  },
  ExecutionRequested: {
    type: 'ExecutionRequested',
    payload: {
      meta: metaOf({ run_id: RUN, action_id: 'act-1', occurred_at: T0 + 2 * SECOND }),
      agent_id: AGENT,
      tool: 'refunds.create',
      tool_version: '1.0.0',
      arguments_json: ARGS,
      args_sha256: SHA,
      idempotency_key: 'key-act-1',
      warrant: {
        key_id: 'pdp-key-1',
        agent_id: AGENT,
        tool: 'refunds.create',
        tool_version: '1.0.0',
        args_sha256: SHA,
        policy_set_hash: 'policies'.padEnd(64, '0'),
        not_after: T0 + 10 * MINUTE,
        signature: 'sig-w-act-1',
      },
      reservation: {
        reservation_id: 'act-1',
        amount_micros: 2_000,
        currency: 'USD',
        expires_at: T0 + 60 * MINUTE,
        key_id: 'budget-key-1',
        signature: 'sig-r-act-1',
      },
      deadline: T0 + 12 * SECOND,
    },
  },
  ActionCompleted: {
    type: 'ActionCompleted',
    payload: {
      meta: metaOf({ run_id: RUN, action_id: 'act-1', occurred_at: T0 + 5 * SECOND }),
      status: 'completed',
      reason: 'the tool succeeded',
      reason_code: 'SUCCEEDED',
      result_json: '{"refund":"re_1"}',
      result_ref: null,
      cost_micros: 1_800,
      currency: 'USD',
    },
  },
  RunEnded: {
    type: 'RunEnded',
    payload: { meta: metaOf({ run_id: RUN, action_id: null, occurred_at: T0 + 9 * SECOND }), status: 'killed', reason: 'kill switch on the agent' },
  },
} satisfies { readonly [K in Exclude<PlannerOutputType, 'BudgetReservationRequested'>]: WireEvent<K> };

/** What planners published before the accountant reacted to proposals itself: read back only to join an admission's estimate. */
const legacyRequest: WireEvent<'BudgetReservationRequested'> = {
  type: 'BudgetReservationRequested',
  payload: {
    meta: metaOf({ run_id: RUN, action_id: 'act-1', occurred_at: AT }),
    agent_id: AGENT,
    tool: 'refunds.create',
    estimated_cost_micros: 2_000,
    currency: 'USD',
    tool_calls: 1,
    run_limits: { max_steps: null, max_cost_micros: 50_000, max_tool_calls: null, wall_clock_ms: null, currency: 'USD' },
  },
};

const proposal: ActionProposed = {
  meta: { ...metaOf({ run_id: RUN, action_id: 'act-1', occurred_at: T0 }), producer: 'gateway@0.1.0' },
  agent_id: AGENT,
  tool: 'refunds.create',
  tool_version: null,
  arguments_json: ARGS,
  args_sha256: SHA,
  reason: 'the customer asked',
  idempotency_key: 'key-act-1',
  mode: 'live',
  provenance: null,
};
const reservationRequest = legacyRequest.payload;
const join: ReplayJoin = { proposal, reservationRequest };

describe('the planner published events: wire -> planner-core -> wire', () => {
  for (const wire of Object.values<PlannerOutputWire>(published)) {
    it(`gives back the same ${wire.type}`, () => {
      const event = fromWire(wire, join, DEFAULT_PLANNER_CONFIG);
      expect(event).not.toBeNull();
      if (event !== null) expect(toWire(event, ctxAt(wire.payload.meta.occurred_at))).toEqual(wire);
    });
  }

  it('reads an admission into the proposal it answered (the join fills what the wire does not carry)', () => {
    expect(fromWire(published.ActionAdmitted, join, DEFAULT_PLANNER_CONFIG)).toEqual({
      type: 'ActionAdmitted',
      run_id: RUN,
      action_id: 'act-1',
      proposal: {
        agent_id: AGENT,
        tool: 'refunds.create',
        tool_version: '1.0.0',
        arguments_json: ARGS,
        args_sha256: SHA,
        idempotency_key: 'key-act-1',
        reason: 'the customer asked',
        estimated_cost_micros: 2_000,
        currency: 'USD',
        proposed_at: AT,
      },
      run_stats: { steps: 2, spend_micros: 1_500, currency: 'USD', tool_calls_in_window: 1 },
      admitted_at: AT,
      deadline: AT + 30_000,
    });
  });

  it('reads an admission without its proposal or estimate with the action id as key and no estimate', () => {
    const event = fromWire(published.ActionAdmitted, {}, DEFAULT_PLANNER_CONFIG);
    expect(event?.type === 'ActionAdmitted' && event.proposal).toMatchObject({
      idempotency_key: 'act-1',
      reason: '',
      estimated_cost_micros: 0,
      currency: 'USD',
    });
  });

  it('reads stable codes back in lower snake case, and times out an execution after its start deadline', () => {
    expect(fromWire(published.ActionRejected, join, DEFAULT_PLANNER_CONFIG)).toMatchObject({
      reason_code: 'loop_detected',
      idempotency_key: 'key-act-1',
      existing_action_id: null,
    });
    expect(fromWire(published.ActionCompleted, join, DEFAULT_PLANNER_CONFIG)).toMatchObject({ reason_code: 'succeeded', completed_at: T0 + 5 * SECOND });
    expect(fromWire(published.ExecutionRequested, join, DEFAULT_PLANNER_CONFIG)).toMatchObject({
      outcome_deadline: T0 + 12 * SECOND + 300_000,
      requested_at: T0 + 2 * SECOND,
    });
  });
});

describe('planner-core events: planner-core -> wire -> planner-core', () => {
  const [admitted] = admission('act-1');
  const rejected: ActionRejected = {
    type: 'ActionRejected',
    run_id: RUN,
    action_id: 'act-2',
    idempotency_key: 'key-act-2',
    reason_code: 'loop_detected',
    message: 'third identical call',
    field: null,
    existing_action_id: null,
    rejected_at: AT,
  };
  const flow: PlannerPublishedEvent[] = [
    admitted,
    ...executing('act-1').filter((event) => event.type === 'ExecutionRequested'),
    completed('act-1', 'completed', 'succeeded', 'the tool succeeded', T0 + 5 * SECOND, { result_json: '{"refund":"re_1"}', cost_micros: 1_800 }),
    rejected,
    { type: 'RunEnded', run_id: RUN, status: 'killed', reason: 'kill switch on the agent', ended_at: T0 + 9 * SECOND },
  ];
  /** The instant the decision of `event` was taken (the outputs' occurred_at). */
  const instantOf = (event: PlannerPublishedEvent): number => {
    switch (event.type) {
      case 'ActionAdmitted':
        return event.admitted_at;
      case 'ActionRejected':
        return event.rejected_at;
      case 'ExecutionRequested':
        return event.requested_at;
      case 'ActionCompleted':
        return event.completed_at;
      case 'RunEnded':
        return event.ended_at;
      default:
        return AT;
    }
  };
  const joinFor = (event: PlannerPublishedEvent): ReplayJoin => {
    const command = propose('action_id' in event ? event.action_id : 'none');
    return {
      proposal: { ...proposal, idempotency_key: command.idempotency_key, reason: command.reason },
      reservationRequest: { ...legacyRequest.payload, estimated_cost_micros: command.estimated_cost_micros, currency: command.currency },
    };
  };

  for (const event of flow) {
    it(`gives back the same ${event.type}`, () => {
      const wire = toWire(event, ctxAt(instantOf(event)));
      expect(wire).not.toBeNull();
      if (wire === null) return;
      expect(fromWire(wire, joinFor(event), DEFAULT_PLANNER_CONFIG)).toEqual(event);
    });
  }

  it('holds for what the decider publishes in a run: admission, execution, outcome, end', () => {
    let state = planner.initialState();
    const decided: PlannerPublishedEvent[] = [];
    const step = (command: PlannerCommand): void => {
      for (const event of planner.decide(command, state)) {
        state = planner.evolve(state, event);
        if (!isPlannerInternalEvent(event) && toWire(event, ctxAt(command.now)) !== null) decided.push(event);
      }
    };
    step({ type: 'StartRun', run_id: RUN, tenant_id: TENANT, agent_id: AGENT, goal: 'refund ticket 42', now: T0 });
    step(propose('act-1'));
    step({ type: 'RecordPolicyDecision', run_id: RUN, action_id: 'act-1', verdict: { decision: 'allow', warrant: warrantFor('act-1') }, now: T0 + 2 * SECOND });
    step({
      type: 'RecordBudgetResult',
      run_id: RUN,
      action_id: 'act-1',
      result: { outcome: 'reserved', reservation: reservationFor('act-1') },
      now: T0 + 2 * SECOND,
    });
    step({
      type: 'RecordExecutionOutcome',
      run_id: RUN,
      action_id: 'act-1',
      outcome: 'succeeded',
      cost_micros: 1_800,
      currency: 'USD',
      result_json: '{}',
      result_ref: null,
      error_code: null,
      message: '',
      now: T0 + 5 * SECOND,
    });
    step({ type: 'EndRun', run_id: RUN, status: 'completed', reason: 'done', now: T0 + 9 * SECOND });
    expect(decided.map((event) => event.type)).toEqual(['ActionAdmitted', 'ExecutionRequested', 'ActionCompleted', 'RunEnded']);
    for (const event of decided) {
      const wire = toWire(event, ctxAt(instantOf(event)));
      if (wire === null) throw new Error(`${event.type} published without a wire event`);
      expect(fromWire(wire, joinFor(event), DEFAULT_PLANNER_CONFIG)).toEqual(event);
    }
  });

  it('loses what the wire does not carry: a duplicate answer, a parked proposal instant, an empty currency', () => {
    const duplicate: ActionRejected = { ...rejected, reason_code: 'duplicate', existing_action_id: 'act-1' };
    const dupWire = toWire(duplicate, ctxAt(AT));
    expect(dupWire !== null && fromWire(dupWire, {}, DEFAULT_PLANNER_CONFIG)).toMatchObject({ existing_action_id: null });

    const parked = { ...admitted, proposal: { ...admitted.proposal, proposed_at: T0 } };
    const parkedWire = toWire(parked, ctxAt(AT));
    expect(parkedWire !== null && fromWire(parkedWire, joinFor(parked), DEFAULT_PLANNER_CONFIG)).toMatchObject({ proposal: { proposed_at: AT } });

    const noCurrency = completed('act-9', 'rejected', 'tool_unknown', 'no tool', AT, { currency: '' });
    expect(toWire(noCurrency, ctxAt(AT))?.payload).toMatchObject({ currency: 'EUR', reason_code: 'TOOL_UNKNOWN' });
  });

  it('reads a legacy reservation request back as nothing: it only joins its admission to the estimate', () => {
    expect(fromWire(legacyRequest, join, DEFAULT_PLANNER_CONFIG)).toBeNull();
    const event = fromWire(published.ActionAdmitted, { proposal }, DEFAULT_PLANNER_CONFIG);
    expect(event?.type === 'ActionAdmitted' && event.proposal).toMatchObject({ estimated_cost_micros: 0, currency: 'USD' });
  });

  it('publishes nothing for the run start, releases and the internal events', () => {
    const internal = executing('act-1').filter((event) => event.type === 'WarrantRecorded' || event.type === 'ReservationRecorded');
    expect(internal).toHaveLength(2);
    const held = { type: 'AnswerHeld', run_id: RUN, action_id: 'a', answer: { kind: 'policy', verdict: { decision: 'approval_required' }, at: AT } } as const;
    for (const event of [
      runStarted(),
      ...internal,
      held,
      { type: 'BudgetReleaseRequested', run_id: RUN, action_id: 'a', reservation_id: 'a', reason_code: 'action_ended' } as const,
    ]) {
      expect(toWire(event, ctxAt(AT))).toBeNull();
    }
  });
});

describe('input events -> commands', () => {
  const meta = metaOf({ run_id: RUN, action_id: 'act-1', occurred_at: T0 });
  const NOW = T0 + 3 * SECOND;
  const warrant = published.ExecutionRequested.payload.warrant;
  const decided = (
    fields: Pick<PolicyDecided, 'decision' | 'warrant' | 'determining_policies'> & Partial<Pick<PolicyDecided, 'approval_requirement' | 'approvals'>>,
    m: Metadata = meta,
  ): WireEvent => ({
    type: 'PolicyDecided',
    payload: {
      meta: m,
      policy_set_hash: 'h',
      errors: [],
      approval_requirement: null,
      approvals: [],
      denied_by: null,
      policy_set_version: 'v1',
      run_stats: null,
      warnings: [],
      shadow_results: [],
      request_json: '',
      ...fields,
    },
  });

  it('RunStarted -> StartRun with the run caps', () => {
    const event: WireEvent = {
      type: 'RunStarted',
      payload: {
        meta,
        agent_id: AGENT,
        goal: 'refund',
        limits: { max_steps: 20, max_tool_calls: 10, max_cost_micros: 2_000_000, wall_clock_ms: 3_600_000, currency: 'USD' },
        mode: 'shadow',
      },
    };
    expect(commandOf(event, NOW)).toEqual({
      type: 'StartRun',
      run_id: RUN,
      tenant_id: TENANT,
      agent_id: AGENT,
      goal: 'refund',
      limits: { max_steps: 20, max_tool_calls: 10, max_cost_micros: 2_000_000, currency: 'USD', wall_clock_ms: 3_600_000 },
      mode: 'shadow',
      now: NOW,
    });
  });

  it('PolicyDecided -> RecordPolicyDecision for each verdict; allow needs its warrant', () => {
    const base = { type: 'RecordPolicyDecision', run_id: RUN, action_id: 'act-1', now: NOW };
    expect(commandOf(decided({ decision: 'allow', warrant, determining_policies: ['p1'] }), NOW)).toEqual({
      ...base,
      verdict: { decision: 'allow', warrant, approved: false },
    });
    // Decided after a person's approval: a budget at its approval step lets it execute.
    const approved = decided({ decision: 'allow', warrant, determining_policies: ['p1'], approvals: [{ approver_id: 'mgr', role: 'manager' }] });
    expect(commandOf(approved, NOW)).toEqual({ ...base, verdict: { decision: 'allow', warrant, approved: true } });
    expect(commandOf(decided({ decision: 'deny', warrant: null, determining_policies: ['p1', 'p2'] }), NOW)).toEqual({
      ...base,
      verdict: { decision: 'deny', determining_policies: ['p1', 'p2'] },
    });
    expect(commandOf(decided({ decision: 'approval_required', warrant: null, determining_policies: [] }), NOW)).toEqual({
      ...base,
      verdict: { decision: 'approval_required', expires_in_ms: null },
    });
    const expiring = decided({
      decision: 'approval_required',
      warrant: null,
      determining_policies: ['p1'],
      approval_requirement: { policy_id: 'p1', count: 2, roles: ['manager'], expires_in_ms: 120_000, reason: null },
    });
    expect(commandOf(expiring, NOW)).toEqual({ ...base, verdict: { decision: 'approval_required', expires_in_ms: 120_000 } });
    expect(() => commandOf(decided({ decision: 'allow', warrant: null, determining_policies: [] }), NOW)).toThrow(
      expect.objectContaining({ code: 'PLANNER_INVALID_COMMAND' }),
    );
    expect(() => commandOf(decided({ decision: 'deny', warrant: null, determining_policies: [] }, { ...meta, action_id: ' ' }), NOW)).toThrow(
      expect.objectContaining({ code: 'PLANNER_INVALID_COMMAND' }),
    );
  });

  it('BudgetReserved and BudgetRefused -> RecordBudgetResult', () => {
    const reserved: WireEvent = {
      type: 'BudgetReserved',
      payload: {
        meta,
        reservation_id: 'act-1',
        amount_micros: 2_000,
        currency: 'USD',
        expires_at: T0 + MINUTE,
        key_id: 'k1',
        signature: 's1',
        agent_id: AGENT,
        tool: 'refunds.create',
        tool_calls: 1,
        day: '2026-05-28',
        approval_step: null,
      },
    };
    const reservation = { reservation_id: 'act-1', amount_micros: 2_000, currency: 'USD', expires_at: T0 + MINUTE, key_id: 'k1', signature: 's1' };
    expect(commandOf(reserved, NOW)).toEqual({
      type: 'RecordBudgetResult',
      run_id: RUN,
      action_id: 'act-1',
      result: { outcome: 'reserved', reservation, approval: null },
      now: NOW,
    });
    const step = {
      scope: 'agent_week',
      subject: AGENT,
      period: '2026-W22',
      window_ms: null,
      kind: 'money',
      percent: 75,
      limit: 50_000_000,
      used: 40_000_000,
      currency: 'USD',
    } as const;
    expect(commandOf({ ...reserved, payload: { ...reserved.payload, approval_step: step } } as WireEvent, NOW)).toMatchObject({
      result: {
        outcome: 'reserved',
        reservation,
        approval:
          'budget agent_week (2026-W22) money is at 80% of 50.00 USD (40.00 USD used): its approval step is 75%, so an action with side effects needs an approval',
      },
    });
    const refused: WireEvent = {
      type: 'BudgetRefused',
      payload: {
        meta,
        agent_id: AGENT,
        scope: 'agent_day',
        kind: 'money',
        limit: 50_000,
        used: 49_000,
        requested: 2_000,
        currency: 'USD',
        subject: AGENT,
        rule: 'reads_only',
        period: '2026-05-01',
        window_ms: null,
      },
    };
    expect(commandOf(refused, NOW)).toEqual({
      type: 'RecordBudgetResult',
      run_id: RUN,
      action_id: 'act-1',
      result: {
        outcome: 'refused',
        scope: 'agent_day',
        kind: 'money',
        limit: 50_000,
        used: 49_000,
        requested: 2_000,
        rule: 'reads_only',
        period: '2026-05-01',
      },
      now: NOW,
    });
  });

  it('ActionExecuted and ActionFailed -> RecordExecutionOutcome', () => {
    const executed: WireEvent = {
      type: 'ActionExecuted',
      payload: {
        meta,
        outcome: 'succeeded',
        tool: 'refunds.create',
        reservation_id: 'act-1',
        result_json: null,
        result_sha256: 'r'.repeat(64),
        result_ref: 'b'.repeat(64),
        cost_micros: 1_800,
        currency: 'USD',
        side_effect_refs: [],
        verified: true,
        attempts: 1,
        duration_ms: 80,
      },
    };
    expect(commandOf(executed, NOW)).toEqual({
      type: 'RecordExecutionOutcome',
      run_id: RUN,
      action_id: 'act-1',
      outcome: 'succeeded',
      cost_micros: 1_800,
      currency: 'USD',
      result_json: null,
      result_ref: 'b'.repeat(64),
      error_code: null,
      message: '',
      now: NOW,
    });
    const failed: WireEvent = {
      type: 'ActionFailed',
      payload: {
        meta,
        outcome: 'unknown',
        tool: 'refunds.create',
        reservation_id: 'act-1',
        error_code: 'TOOL_TIMEOUT',
        message: 'no answer',
        retriable: true,
        attempts: 3,
        cost_micros: 0,
        currency: 'USD',
      },
    };
    expect(commandOf(failed, NOW)).toEqual({
      type: 'RecordExecutionOutcome',
      run_id: RUN,
      action_id: 'act-1',
      outcome: 'unknown',
      cost_micros: 0,
      currency: 'USD',
      result_json: null,
      result_ref: null,
      error_code: 'TOOL_TIMEOUT',
      message: 'no answer',
      now: NOW,
    });
  });

  it('ignores what it does not act on: its own outputs and ActionProposed (mapped with the registry, in the service)', () => {
    for (const wire of Object.values<PlannerOutputWire>(published)) expect(commandOf(wire, NOW)).toBeNull();
    expect(commandOf({ type: 'ActionProposed', payload: proposal }, NOW)).toBeNull();
  });
});
