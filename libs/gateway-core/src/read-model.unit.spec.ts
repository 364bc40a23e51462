import { describe, expect, it } from 'vitest';
import { sampleEvent } from '@writ/contracts/testing';
import type { EventPayloads } from '@writ/contracts';
import { GatewayReadModel, awaitsDetail, evolveAction, evolveRun, presentAction, presentRun, resultJsonOf, traceIdOf } from './index.ts';
import type { ActionEvent, ActionState, ReadModelEvent } from './index.ts';

const TENANT = 'acme';
const RUN = 'run-1';
const ACTION = 'action-1';
let clock = 1_700_000_000_000;

function meta(extra: { action_id?: string | null; tenant_id?: string; run_id?: string } = {}) {
  clock += 10;
  return { tenant_id: TENANT, run_id: RUN, action_id: ACTION, occurred_at: clock, ...extra };
}

function event<T extends ReadModelEvent['type']>(type: T, overrides: Partial<EventPayloads[T]> = {}, m = meta()): Extract<ReadModelEvent, { type: T }> {
  return { type, payload: { ...sampleEvent(type, m), ...overrides } } as unknown as Extract<ReadModelEvent, { type: T }>;
}

const proposed = (m = meta()) =>
  event(
    'ActionProposed',
    {
      agent_id: 'triage-bot',
      tool: 'refunds.issue',
      tool_version: '1.2.0',
      arguments_json: '{"a":1}',
      args_sha256: 'f'.repeat(64),
      reason: 'customer asked',
      idempotency_key: 'k1',
    },
    m,
  );
const approvalRequired = () =>
  event('PolicyDecided', {
    decision: 'approval_required',
    determining_policies: ['refund-over-100-needs-manager-approval'],
    warrant: null,
    approval_requirement: { policy_id: 'refund-over-100-needs-manager-approval', count: 1, roles: ['manager'], expires_in_ms: null, reason: null },
    approvals: [],
    denied_by: null,
    policy_set_version: '3',
  });
const completed = (status: 'completed' | 'denied' = 'completed') =>
  event('ActionCompleted', {
    status,
    reason: 'done',
    reason_code: status === 'completed' ? 'SUCCEEDED' : 'POLICY_DENIED',
    result_json: '{"refund_id":"r1"}',
    result_ref: null,
    cost_micros: 20000,
    currency: 'USD',
  });

function fold(events: readonly ActionEvent[]): ActionState | undefined {
  return events.reduce<ActionState | undefined>((state, e) => evolveAction(state, e), undefined);
}

describe('evolveAction', () => {
  it('follows an approval path to its terminal state', () => {
    const afterProposal = fold([proposed()]);
    expect(afterProposal).toMatchObject({
      status: 'proposed',
      agent_id: 'triage-bot',
      tool: 'refunds.issue',
      proposal_reason: 'customer asked',
      idempotency_key: 'k1',
    });

    const waiting = fold([proposed(), event('ActionAdmitted'), approvalRequired()]);
    expect(waiting).toMatchObject({
      status: 'awaiting_approval',
      decision: 'approval_required',
      determining_policies: ['refund-over-100-needs-manager-approval'],
      approval_requirement: { roles: ['manager'] },
      policy_set_version: '3',
    });

    const submittedByOwner = event('ApprovalSubmitted', { approver_id: 'dana', approver_role: 'manager', verdict: 'approve', comment: 'ok' });
    const refused = event('ApprovalRecorded', {
      approver_id: 'dana',
      approver_role: 'manager',
      verdict: 'approve',
      accepted: false,
      reason: 'the owner may not approve',
      determining_policies: ['owner-may-not-approve'],
    });
    const submittedByManager = event('ApprovalSubmitted', { approver_id: 'maria', approver_role: 'manager', verdict: 'approve', comment: null });
    const accepted = event('ApprovalRecorded', {
      approver_id: 'maria',
      approver_role: 'manager',
      verdict: 'approve',
      accepted: true,
      reason: 'approved',
      determining_policies: ['managers-approve-in-own-tenant'],
    });
    const allowed = event('PolicyDecided', { decision: 'allow', determining_policies: ['refund-over-100-needs-manager-approval'], approval_requirement: null });
    const end = completed();
    const final = fold([proposed(), event('ActionAdmitted'), approvalRequired(), submittedByOwner, refused, submittedByManager, accepted, allowed, end]);
    expect(final).toMatchObject({
      status: 'completed',
      reason: 'done',
      reason_code: 'SUCCEEDED',
      result_json: '{"refund_id":"r1"}',
      cost_micros: 20000,
      decision: 'allow',
      completed_at: end.payload.meta.occurred_at,
    });
    expect(final?.approvals).toEqual([
      expect.objectContaining({
        approver_id: 'dana',
        state: 'refused',
        accepted: false,
        reason: 'the owner may not approve',
        comment: 'ok',
        determining_policies: ['owner-may-not-approve'],
      }),
      expect.objectContaining({ approver_id: 'maria', state: 'accepted', accepted: true }),
    ]);
  });

  it("completes the PDP's record when the submission (another topic) is read after it", () => {
    const submission = event('ApprovalSubmitted', { approver_id: 'maria', approver_role: 'manager', verdict: 'approve', comment: 'checked' });
    const record = event('ApprovalRecorded', {
      approver_id: 'maria',
      approver_role: 'manager',
      verdict: 'approve',
      accepted: true,
      reason: 'approved',
      determining_policies: ['managers-approve-in-own-tenant'],
    });
    const recordFirst = fold([proposed(), approvalRequired(), record, submission]);
    expect(recordFirst?.approvals).toEqual([
      expect.objectContaining({
        submission_id: submission.payload.meta.event_id,
        approver_id: 'maria',
        state: 'accepted',
        comment: 'checked',
        submitted_at: submission.payload.meta.occurred_at,
      }),
    ]);
    const inOrder = fold([proposed(), approvalRequired(), submission, record]);
    expect(inOrder?.approvals).toEqual(recordFirst?.approvals);
  });

  it('ignores redelivered events: a second proposal, submission or completion changes nothing', () => {
    const proposal = proposed();
    const once = fold([proposal]);
    expect(evolveAction(once, proposal)).toBe(once);
    expect(evolveAction(once, proposed())).toBe(once);

    const submission = event('ApprovalSubmitted', { approver_id: 'maria' });
    const withApproval = fold([proposal, submission]);
    expect(evolveAction(withApproval, submission)).toBe(withApproval);
    expect(withApproval?.approvals).toHaveLength(1);

    const done = fold([proposal, completed('denied')]);
    expect(evolveAction(done, completed('completed'))).toBe(done);
    expect(done?.status).toBe('denied');
  });

  it('takes events of other topics before the proposal, and never moves a status back', () => {
    const early = fold([approvalRequired()]);
    expect(early).toMatchObject({ status: 'awaiting_approval', tool: null, proposed_at: null, tenant_id: TENANT, run_id: RUN });
    const filled = evolveAction(early, proposed());
    expect(filled).toMatchObject({ status: 'awaiting_approval', tool: 'refunds.issue', agent_id: 'triage-bot' });
    // The planner's admission read after the policy's decision does not undo it.
    expect(evolveAction(filled, event('ActionAdmitted'))?.status).toBe('awaiting_approval');
    // A decision read after the terminal event does not reopen the action.
    const done = fold([proposed(), completed('denied')]);
    expect(evolveAction(done, approvalRequired())?.status).toBe('denied');
  });

  it('records a rejection and skips events about no action', () => {
    const rejected = fold([proposed(), event('ActionRejected', { reason_code: 'loop', message: 'same call again', field: 'arguments' })]);
    expect(rejected?.rejection).toEqual({ code: 'loop', message: 'same call again', field: 'arguments' });
    expect(evolveAction(undefined, event('ActionAdmitted', {}, meta({ action_id: null })))).toBeUndefined();
  });
});

describe('results by reference', () => {
  const BODY = '{"refund_id":"r1","status":"issued"}';
  const REF = 'a'.repeat(64);
  const byRef = () => event('ActionCompleted', { status: 'completed', reason: 'done', reason_code: 'SUCCEEDED', result_json: null, result_ref: REF });
  const body = (json = BODY, ref = REF) => event('ToolResultRecorded', { tool: 'refunds.issue', result_json: json, result_ref: ref });
  const decided = () => event('PolicyDecided', { decision: 'allow', determining_policies: ['p'], denied_by: null, approval_requirement: null });

  it('shows the body whose digest the completion references, whichever of the two is read first', () => {
    for (const order of [
      [decided(), body(), byRef()],
      [decided(), byRef(), body()],
    ]) {
      const state = fold([proposed(), ...order]);
      if (state === undefined) throw new Error('no state');
      expect(resultJsonOf(state)).toBe(BODY);
      expect(awaitsDetail(state)).toBe(false);
      expect(presentAction(state, (_tool, _version, args) => args)).toMatchObject({
        status: 'completed',
        result: { refund_id: 'r1', status: 'issued' },
        result_ref: REF,
      });
    }
  });

  it('waits for the body (or the grace) while the completion references one not read yet', () => {
    const state = fold([proposed(), decided(), byRef()]);
    if (state === undefined) throw new Error('no state');
    expect(awaitsDetail(state)).toBe(true);
    expect(presentAction(state, (_tool, _version, args) => args)).toMatchObject({ status: 'completed', terminal: true, result: null, result_ref: REF });
  });

  it('never shows a body with another digest, and keeps the first body of a redelivered request', () => {
    const wrong = fold([proposed(), decided(), body('{"other":1}', 'b'.repeat(64)), byRef()]);
    if (wrong === undefined) throw new Error('no state');
    expect(resultJsonOf(wrong)).toBeNull();
    const twice = fold([proposed(), decided(), body(), body('{"later":1}'), byRef()]);
    if (twice === undefined) throw new Error('no state');
    expect(resultJsonOf(twice)).toBe(BODY);
  });

  it('reads a result carried inline (events written before v3) as before', () => {
    const state = fold([proposed(), decided(), completed()]);
    if (state === undefined) throw new Error('no state');
    expect(awaitsDetail(state)).toBe(false);
    expect(presentAction(state, (_tool, _version, args) => args)).toMatchObject({ result: { refund_id: 'r1' }, result_ref: null });
  });
});

describe('evolveRun', () => {
  it('opens once and ends once', () => {
    const started = event('RunStarted', { agent_id: 'triage-bot', goal: 'work the queue' }, meta({ action_id: null }));
    const open = evolveRun(undefined, started);
    expect(open).toMatchObject({ run_id: RUN, tenant_id: TENANT, agent_id: 'triage-bot', goal: 'work the queue', status: 'open', ended_at: null });
    expect(evolveRun(open, event('RunStarted', { agent_id: 'other' }, meta({ action_id: null })))).toBe(open);
    const ended = evolveRun(open, event('RunEnded', { status: 'killed', reason: 'kill switch' }, meta({ action_id: null })));
    expect(ended).toMatchObject({ status: 'killed', reason: 'kill switch' });
    expect(evolveRun(ended, event('RunEnded', { status: 'completed' }, meta({ action_id: null })))).toBe(ended);
    expect(evolveRun(undefined, event('RunEnded', {}, meta({ action_id: null })))).toBeUndefined();
  });
});

describe('shadow runs', () => {
  it('a run opened in shadow mode shows its mode; a run of before v2 reads as live', () => {
    const shadow = evolveRun(undefined, event('RunStarted', { mode: 'shadow' }, meta({ action_id: null })));
    expect(shadow).toMatchObject({ mode: 'shadow' });
    expect(shadow === undefined ? undefined : presentRun(shadow).mode).toBe('shadow');
    expect(evolveRun(undefined, event('RunStarted', {}, meta({ action_id: null })))?.mode).toBe('live');
  });

  it("marks its actions shadow and keeps them out of the approvers' queue, whatever the order of the events", () => {
    const model = new GatewayReadModel();
    model.apply(approvalRequired());
    expect(model.awaitingApproval(TENANT).map((a) => a.action_id)).toEqual([ACTION]);
    model.apply(event('ActionProposed', { ...proposed().payload, mode: 'shadow' }));
    expect(model.awaitingApproval(TENANT)).toEqual([]);
    const state = model.action(ACTION);
    expect(state?.status).toBe('awaiting_approval');
    expect(state === undefined ? undefined : presentAction(state, (_tool, _version, args) => args).shadow).toBe(true);
    const live = fold([proposed()]);
    expect(live === undefined ? undefined : presentAction(live, (_tool, _version, args) => args).shadow).toBe(false);
  });
});

describe('GatewayReadModel', () => {
  it('reports changes, and indexes actions awaiting approval per tenant', () => {
    const model = new GatewayReadModel();
    const first = model.apply(proposed());
    expect(first).toMatchObject({ kind: 'action', before: undefined, after: { status: 'proposed' } });
    expect(model.apply(proposed())).toBeUndefined();
    model.apply(approvalRequired());
    const other = meta({ tenant_id: 'globex', action_id: 'action-2', run_id: 'run-2' });
    model.apply(event('PolicyDecided', { decision: 'approval_required' }, other));
    expect(model.awaitingApproval(TENANT).map((a) => a.action_id)).toEqual([ACTION]);
    expect(model.awaitingApproval('globex').map((a) => a.action_id)).toEqual(['action-2']);
    expect(model.awaitingApproval('nobody')).toEqual([]);

    const done = model.apply(completed());
    expect(done).toMatchObject({ kind: 'action', before: { status: 'awaiting_approval' }, after: { status: 'completed' } });
    expect(model.awaitingApproval(TENANT)).toEqual([]);
  });

  it("sums each tenant's queues for the gauges: approvals waiting since the oldest request, and the reconciliation queue", () => {
    const model = new GatewayReadModel();
    expect(model.queues()).toEqual([]);
    model.apply(proposed());
    model.apply(approvalRequired());
    const requestedAt = model.action(ACTION)?.approval_requested_at;
    const second = meta({ action_id: 'action-2' });
    model.apply(event('PolicyDecided', { decision: 'approval_required' }, second));
    model.apply(event('PolicyDecided', { decision: 'approval_required' }, meta({ tenant_id: 'globex', action_id: 'action-3', run_id: 'run-3' })));
    const globexAt = model.action('action-3')?.approval_requested_at;
    expect(requestedAt).toBeTypeOf('number');
    expect(model.queues().sort((a, b) => a.tenant.localeCompare(b.tenant))).toEqual([
      { tenant: TENANT, awaiting_approval: 2, oldest_approval_since: requestedAt, awaiting_reconciliation: 0 },
      { tenant: 'globex', awaiting_approval: 1, oldest_approval_since: globexAt, awaiting_reconciliation: 0 },
    ]);
    model.apply(completed());
    model.apply(event('ActionCompleted', { status: 'denied', reason_code: 'APPROVAL_DENIED' }, meta({ action_id: 'action-2' })));
    expect(model.queues()).toEqual([{ tenant: 'globex', awaiting_approval: 1, oldest_approval_since: globexAt, awaiting_reconciliation: 0 }]);
  });

  it('knows runs, and prunes only terminal actions and ended runs older than the cut', () => {
    const model = new GatewayReadModel();
    model.apply(event('RunStarted', {}, meta({ action_id: null })));
    expect(model.run(RUN)?.status).toBe('open');
    model.apply(proposed());
    model.apply(event('ActionProposed', {}, meta({ action_id: 'still-pending' })));
    model.apply(completed());
    model.apply(event('RunEnded', {}, meta({ action_id: null })));
    expect(model.size).toEqual({ runs: 1, actions: 2 });
    expect(model.prune(0)).toBe(0);
    expect(model.prune(clock + 1)).toBe(2);
    expect(model.action(ACTION)).toBeUndefined();
    expect(model.action('still-pending')).toBeDefined();
    expect(model.run(RUN)).toBeUndefined();
  });

  it('holds a RunEnded read before its RunStarted (two topics) and ends the run when the start arrives', () => {
    const model = new GatewayReadModel();
    const started = event('RunStarted', { agent_id: 'triage-bot' }, meta({ action_id: null }));
    const ended = event('RunEnded', { status: 'killed', reason: 'kill switch' }, meta({ action_id: null }));
    expect(model.apply(ended)).toBeUndefined();
    expect(model.run(RUN)).toBeUndefined();
    expect(model.apply(event('RunEnded', { status: 'completed' }, meta({ action_id: null })))).toBeUndefined();
    const change = model.apply(started);
    expect(change).toMatchObject({ kind: 'run', before: undefined, after: { status: 'killed', reason: 'kill switch', agent_id: 'triage-bot' } });
    expect(model.run(RUN)).toMatchObject({ status: 'killed', started_at: started.payload.meta.occurred_at, ended_at: ended.payload.meta.occurred_at });
    // Applied once: a redelivered start changes nothing.
    expect(model.apply(started)).toBeUndefined();
    // An end whose start never comes is pruned like an ended run.
    model.apply(event('RunEnded', {}, meta({ action_id: null, run_id: 'run-never-started' })));
    expect(model.prune(clock + 1)).toBe(2);
  });

  it("takes an action's events in any order across the proposals, actions and policy topics", () => {
    const model = new GatewayReadModel();
    // The planner's ActionCompleted (writ.actions.v1) read before the gateway's ActionProposed (writ.proposals.v1).
    expect(model.apply(completed('denied'))).toMatchObject({ kind: 'action', before: undefined, after: { status: 'denied', tool: null } });
    expect(model.apply(proposed())).toMatchObject({ after: { status: 'denied', tool: 'refunds.issue', agent_id: 'triage-bot', idempotency_key: 'k1' } });
    expect(model.apply(event('ActionAdmitted'))?.after).toMatchObject({ status: 'denied' });
    expect(model.apply(approvalRequired())?.after).toMatchObject({ status: 'denied' });
    expect(model.awaitingApproval(TENANT)).toEqual([]);
  });
});

describe('the approval request an approver sees', () => {
  const redactNothing = (_tool: string, _version: string | null, args: unknown) => args;
  const propose = (actionId: string, args: Record<string, unknown>, agent = 'triage-bot', tool = 'refunds.issue') =>
    event(
      'ActionProposed',
      {
        agent_id: agent,
        tool,
        tool_version: '1.2.0',
        arguments_json: JSON.stringify(args),
        args_sha256: 'f'.repeat(64),
        reason: 'customer asked',
        idempotency_key: actionId,
      },
      meta({ action_id: actionId }),
    );
  const hold = (actionId: string, expires: number | null) =>
    event(
      'PolicyDecided',
      {
        decision: 'approval_required',
        determining_policies: ['refund-over-500-needs-two-managers'],
        warrant: null,
        approval_requirement: {
          policy_id: 'refund-over-500-needs-two-managers',
          count: 2,
          roles: ['manager'],
          expires_in_ms: expires,
          reason: 'Refunds over $500 need two managers.',
        },
        approvals: [],
        denied_by: null,
        run_stats: { steps: 4, spend_micros: 69_000, currency: 'USD', tool_calls_in_window: 2 },
      },
      meta({ action_id: actionId }),
    );

  it("shows the tool's risk, what the policy asks for and until when, the run's spend, and what changed since the agent's last similar action", () => {
    const model = new GatewayReadModel();
    model.apply(propose('earlier', { amount_cents: 2_500, customer_id: 'C-1', ticket_id: 'T-1' }));
    model.apply(propose('other-tool', { ticket_id: 'T-9' }, 'triage-bot', 'tickets.get'));
    model.apply(propose('other-agent', { amount_cents: 1 }, 'globex-bot'));
    model.apply(propose('held', { amount_cents: 60_000, customer_id: 'C-1', ticket_id: 'T-10' }));
    const decided = hold('held', 4 * 3_600_000);
    model.apply(decided);
    model.apply(propose('later', { amount_cents: 5 }));
    const held = model.action('held') as ActionState;
    const previous = model.previousSimilar(held);
    expect(previous?.action_id).toBe('earlier');

    const shown = presentAction(held, redactNothing, { tool: { effect: 'write', risk: 'medium' }, ...(previous === undefined ? {} : { previous }) });
    expect(shown.approval_request).toEqual({
      tool: 'refunds.issue',
      tool_version: '1.2.0',
      effect: 'write',
      risk: 'medium',
      policy: 'refund-over-500-needs-two-managers',
      reason: 'Refunds over $500 need two managers.',
      needs: { count: 2, roles: ['manager'] },
      approved_by: [],
      requested_at: new Date(decided.payload.meta.occurred_at).toISOString(),
      expires_at: new Date(decided.payload.meta.occurred_at + 4 * 3_600_000).toISOString(),
      proposal_reason: 'customer asked',
      run_spend: { micros: 69_000, currency: 'USD' },
      previous_similar: {
        action_id: 'earlier',
        run_id: RUN,
        status: 'proposed',
        proposed_at: expect.any(String),
        changes: [
          { field: 'amount_cents', before: 2_500, after: 60_000 },
          { field: 'ticket_id', before: 'T-1', after: 'T-10' },
        ],
      },
    });
    // Without an expiry of its own the planner's default applies: no expires_at.
    model.apply(propose('held-2', { amount_cents: 70_000 }));
    model.apply(hold('held-2', null));
    expect(presentAction(model.action('held-2') as ActionState, redactNothing).approval_request?.expires_at).toBeNull();
    // An action not awaiting approval carries no request.
    expect(presentAction(model.action('earlier') as ActionState, redactNothing).approval_request).toBeNull();
  });

  it('compares masked arguments: a sensitive value that changed is not shown, nor is its change', () => {
    const mask = (_tool: string, _version: string | null, args: unknown) => ({ ...(args as Record<string, unknown>), card_number: '[redacted]' });
    const model = new GatewayReadModel();
    model.apply(propose('first', { amount_cents: 60_000, card_number: '4111111111111111' }));
    model.apply(propose('second', { amount_cents: 60_000, card_number: '4242424242424242' }));
    model.apply(hold('second', null));
    const second = model.action('second') as ActionState;
    const previous = model.previousSimilar(second);
    const text = JSON.stringify(presentAction(second, mask, previous === undefined ? {} : { previous }).approval_request);
    expect(text).not.toContain('4242');
    expect(text).not.toContain('4111');
    expect(presentAction(second, mask, previous === undefined ? {} : { previous }).approval_request?.previous_similar?.changes).toEqual([]);
  });

  it('forgets pruned actions in its index of similar ones', () => {
    const model = new GatewayReadModel();
    model.apply(propose('old', { amount_cents: 1 }));
    model.apply(
      event(
        'ActionCompleted',
        { status: 'denied', reason: 'x', reason_code: 'POLICY_DENIED', result_json: null, cost_micros: 0, currency: 'USD' },
        meta({ action_id: 'old' }),
      ),
    );
    model.apply(propose('new', { amount_cents: 2 }));
    expect(model.previousSimilar(model.action('new') as ActionState)?.action_id).toBe('old');
    model.prune(clock + 1);
    expect(model.action('old')).toBeUndefined();
    expect(model.previousSimilar(model.action('new') as ActionState)).toBeUndefined();
  });
});

describe('GatewayReadModel for the console', () => {
  it('lists a tenant’s runs latest first with a search, a run’s actions in order, and the decided approvals', () => {
    const model = new GatewayReadModel();
    model.apply(event('RunStarted', { agent_id: 'triage-bot', goal: 'work the queue' }, meta({ action_id: null, run_id: 'run-a' })));
    model.apply(event('RunStarted', { agent_id: 'billing-bot', goal: 'refund T-1' }, meta({ action_id: null, run_id: 'run-b' })));
    model.apply(event('RunStarted', { agent_id: 'globex-bot', goal: 'other tenant' }, meta({ action_id: null, run_id: 'run-c', tenant_id: 'globex' })));
    expect(model.runsOf(TENANT, { limit: 10 }).map((run) => run.run_id)).toEqual(['run-b', 'run-a']);
    expect(model.runsOf(TENANT, { search: 'QUEUE', limit: 10 }).map((run) => run.run_id)).toEqual(['run-a']);
    expect(model.runsOf(TENANT, { limit: 1 }).map((run) => run.run_id)).toEqual(['run-b']);

    model.apply(proposed(meta({ run_id: 'run-a', action_id: 'first' })));
    model.apply(proposed(meta({ run_id: 'run-a', action_id: 'second' })));
    model.apply(proposed(meta({ run_id: 'run-b', action_id: 'elsewhere' })));
    expect(model.actionsOfRun('run-a').map((action) => action.action_id)).toEqual(['first', 'second']);

    model.apply(proposed(meta({ action_id: ACTION })));
    model.apply(approvalRequired());
    expect(model.decidedApprovals(TENANT, 10)).toEqual([]);
    // The approval's allow replaces the requirement: the action is still one that asked.
    model.apply(event('PolicyDecided', { decision: 'allow', determining_policies: ['refund-over-100-needs-manager-approval'], approval_requirement: null }));
    model.apply(completed());
    expect(model.decidedApprovals(TENANT, 10).map((action) => action.action_id)).toEqual([ACTION]);
    expect(model.decidedApprovals('globex', 10)).toEqual([]);
  });
});

describe('the console’s facts of an action', () => {
  it('keeps the proposal’s trace id and the latest decision’s shadow results', () => {
    // The sample proposal carries a traceparent, as the gateway's span gives it.
    let state = evolveAction(undefined, proposed());
    expect(state?.trace_id).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(state?.shadow_results).toEqual([]);
    const shadow = [{ policy_id: 'refunds-new-cap', decision: 'deny' as const, determining_policies: ['refunds-new-cap'] }];
    state = evolveAction(state, event('PolicyDecided', { decision: 'allow', shadow_results: shadow }));
    expect(state?.shadow_results).toEqual(shadow);
    expect(state?.trace_id).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
  });

  it('reads no trace id from a missing, malformed or all-zero traceparent', () => {
    expect(traceIdOf(null)).toBeNull();
    expect(traceIdOf('00-xyz-00f067aa0ba902b7-01')).toBeNull();
    expect(traceIdOf(`00-${'0'.repeat(32)}-00f067aa0ba902b7-01`)).toBeNull();
    const untraced = proposed();
    expect(evolveAction(undefined, { ...untraced, payload: { ...untraced.payload, meta: { ...untraced.payload.meta, trace: null } } })?.trace_id).toBeNull();
  });
});
