import { describe, expect, it } from 'vitest';
import { decodeEvent, encodeEvent, newMetadata } from '@writ/contracts';
import type { ActionCompleted, ActionProposed, ApprovalSubmitted, BudgetReserved, PolicyDecided } from '@writ/contracts';
import { canonicalJson, createKeyring, generateSigningKey, sha256Canonical } from '@writ/crypto';
import { WritError } from '@writ/errors';
import { BUDGET_APPROVAL_POLICY, verifyWarrant } from '@writ/policy-engine';
import type { ApprovalAuthorizationRequest, Decision, DecisionPoint, DecisionRequest } from '@writ/policy-engine';
import { onActionProposed, onApprovalSubmitted, onBudgetApprovalStep } from './decide.ts';
import { notificationOfDecision } from './notifications.ts';
import type { PdpEnvironment, PdpOutput, ToolFacts } from './decide.ts';
import { emptyPdpState, evolvePdpState, runKey } from './state.ts';
import type { PdpEvent, PdpState } from './state.ts';
import { warrantFromEvent, warrantOfDecision } from './warrant-event.ts';

const HASH = 'a'.repeat(64);
const key = generateSigningKey('warrant-test');
const keyring = createKeyring({ 'warrant-test': key.exportPublicKeyPem() });
/** Every request put to the fake Cedar, in order: what the decisions saw. */
const requests: DecisionRequest[] = [];

/** A stand-in for Cedar with the helpdesk's refund rules, so the service logic is tested alone. */
const fakePoint: DecisionPoint = {
  policySetHash: HASH,
  version: '9.9.9',
  history: [],
  escalations: {},
  decide(request: DecisionRequest): Decision {
    requests.push(request);
    const base = { errors: [], policySetHash: HASH, warnings: [], shadowResults: [] };
    if (request.tool.name === 'customers.delete') return { ...base, decision: 'deny', determiningPolicies: ['customer-delete-forbidden'] };
    const amount = request.arguments['amount_cents'];
    if (typeof amount === 'string')
      throw new WritError('POLICY_REQUEST_INVALID', 'arguments.amount_cents must be a Long', { field: 'arguments.amount_cents', rule: 'Long' });
    if (typeof amount !== 'number') return { ...base, decision: 'allow', determiningPolicies: ['read-tools-allowed'] };
    if (amount <= 10_000) return { ...base, decision: 'allow', determiningPolicies: ['refund-up-to-100-support'] };
    const counted = new Set((request.approvals ?? []).filter((a) => a.role === 'manager' && a.approverId !== request.agent.owner).map((a) => a.approverId));
    const policy = amount > 50_000 ? 'refund-over-500-needs-two' : 'refund-over-100-needs-manager-approval';
    const needed = amount > 50_000 ? 2 : 1;
    if (counted.size >= needed) return { ...base, decision: 'allow', determiningPolicies: [policy] };
    const approval = { policyId: policy, count: needed, roles: ['manager'], ...(needed === 2 ? { expiresInMs: 4 * 3_600_000 } : {}) };
    return { ...base, decision: 'approval_required', determiningPolicies: [policy], approval };
  },
  authorizeApproval(request: ApprovalAuthorizationRequest) {
    const base = { errors: [], policySetHash: HASH };
    if (request.pendingAction.agent.owner === request.approver.id) return { ...base, decision: 'deny', determiningPolicies: ['owner-may-not-approve'] };
    if (request.approver.role === 'manager' && request.approver.tenant === request.pendingAction.tenant) {
      return { ...base, decision: 'allow', determiningPolicies: ['managers-approve-in-own-tenant'] };
    }
    return { ...base, decision: 'deny', determiningPolicies: [] };
  },
};

const users: Record<string, { id: string; tenant: string; role: string }> = {
  dana: { id: 'dana', tenant: 'acme', role: 'manager' },
  maria: { id: 'maria', tenant: 'acme', role: 'manager' },
  mike: { id: 'mike', tenant: 'acme', role: 'manager' },
  sam: { id: 'sam', tenant: 'acme', role: 'support' },
  gina: { id: 'gina', tenant: 'globex', role: 'manager' },
};

/** The registry: every version of each tool, ascending (the last is the latest, as in @writ/tools). */
const registry: Record<string, readonly ToolFacts[]> = {
  'refunds.issue': [
    { version: '1.2.0', effect: 'write', risk: 'medium', cost: { currency: 'USD' } },
    { version: '1.3.0', effect: 'write', risk: 'medium', cost: { currency: 'USD' } },
  ],
  'customers.delete': [{ version: '1.0.0', effect: 'destructive', risk: 'high', cost: { currency: 'USD' } }],
  'invoices.get': [{ version: '2.0.0', effect: 'read', risk: 'low', cost: { currency: 'EUR' } }],
};

function environment(now = 1_000_000): PdpEnvironment {
  return {
    decisionPoint: fakePoint,
    agent: (id) => (id === 'triage-bot' ? { id, tenant: 'acme', role: 'support', owner: 'dana' } : undefined),
    user: (id) => users[id],
    tool: (name, version) => {
      const versions = registry[name] ?? [];
      return version === undefined ? versions.at(-1) : versions.find((tool) => tool.version === version);
    },
    signingKey: key,
    warrantTtlMs: 60_000,
    producer: 'policy@0.1.0',
    now,
    newMetadata,
  };
}

const T0 = 1_700_000_000_000;
let counter = 0;

interface ProposalOptions {
  readonly tool?: string;
  readonly tool_version?: string | null;
  readonly run?: string;
  readonly tenant?: string;
  readonly at?: number;
  readonly agent?: string;
}

function proposal(args: Record<string, unknown>, options: ProposalOptions = {}): ActionProposed {
  counter += 1;
  const run = options.run ?? 'run-1';
  return {
    meta: newMetadata({
      tenant_id: options.tenant ?? 'acme',
      run_id: run,
      action_id: `action-${counter}`,
      producer: 'gateway@0.1.0',
      occurred_at: options.at ?? T0,
    }),
    agent_id: options.agent ?? 'triage-bot',
    tool: options.tool ?? 'refunds.issue',
    tool_version: options.tool_version === undefined ? '1.2.0' : options.tool_version,
    arguments_json: canonicalJson(args),
    args_sha256: sha256Canonical(args),
    reason: 'the customer was charged twice',
    idempotency_key: `${run}:${counter}`,
    mode: 'live',
    provenance: null,
  };
}

function completed(action: ActionProposed, costMicros: number, status: ActionCompleted['status'] = 'completed'): ActionCompleted {
  return {
    meta: newMetadata({ tenant_id: action.meta.tenant_id, run_id: action.meta.run_id, action_id: action.meta.action_id, producer: 'planner@0.1.0' }),
    status,
    reason: '',
    reason_code: status === 'completed' ? 'SUCCEEDED' : 'DECISION_TIMEOUT',
    result_json: null,
    result_ref: null,
    cost_micros: costMicros,
    currency: 'USD',
  };
}

function submitted(action: ActionProposed, approver: string, verdict: 'approve' | 'deny' = 'approve', tenant = 'acme'): ApprovalSubmitted {
  return {
    meta: newMetadata({ tenant_id: tenant, run_id: action.meta.run_id, action_id: action.meta.action_id, producer: 'gateway@0.1.0' }),
    approver_id: approver,
    approver_role: 'manager',
    verdict,
    comment: null,
  };
}

/** What the service does: handle, then fold the outputs and the input. */
function propose(state: PdpState, event: ActionProposed, env = environment()): PdpOutput[] {
  const { outputs } = onActionProposed(state, event, env);
  for (const output of outputs) evolvePdpState(state, output);
  evolvePdpState(state, { type: 'ActionProposed', payload: event });
  return outputs;
}

function complete(state: PdpState, event: ActionCompleted): void {
  evolvePdpState(state, { type: 'ActionCompleted', payload: event });
}

function approve(state: PdpState, event: ApprovalSubmitted, env = environment()): PdpOutput[] {
  const outputs = onApprovalSubmitted(state, event, env);
  for (const output of outputs) evolvePdpState(state, output);
  return outputs;
}

function decided(outputs: readonly PdpOutput[]): PolicyDecided {
  const found = outputs.find((o) => o.type === 'PolicyDecided');
  if (found?.type !== 'PolicyDecided') throw new Error('no PolicyDecided');
  return found.payload;
}

const refund = (cents: number) => ({ ticket_id: 'T-1', customer_id: 'C-1', amount_cents: cents, ticket_tags: ['refund_approved'], reason: 'r' });

describe('ActionProposed', () => {
  it('allows with a warrant bound to the action that verifyWarrant accepts, and encodes', () => {
    const state = emptyPdpState();
    const event = proposal(refund(2_500));
    const outputs = propose(state, event);
    const decision = decided(outputs);
    expect(decision).toMatchObject({ decision: 'allow', determining_policies: ['refund-up-to-100-support'], policy_set_version: '9.9.9' });
    expect(decision.meta).toMatchObject({ action_id: event.meta.action_id, causation_id: event.meta.event_id, producer: 'policy@0.1.0' });
    expect(decision.warrant?.not_after).toBe(1_000_000 + 60_000);
    const warrant = warrantOfDecision(decision);
    if (warrant === undefined) throw new Error('no warrant');
    const check = verifyWarrant(
      warrant,
      {
        action_id: event.meta.action_id ?? '',
        tenant: 'acme',
        agent: 'triage-bot',
        tool: 'refunds.issue',
        tool_version: '1.2.0',
        args_sha256: event.args_sha256,
      },
      keyring,
      1_000_001,
    );
    expect(check.ok).toBe(true);
    expect(() => encodeEvent('PolicyDecided', decision)).not.toThrow();
  });

  it('records the run statistics it decided with (PolicyDecided v3), and they survive the wire', () => {
    const decision = decided(propose(emptyPdpState(), proposal(refund(2_500))));
    expect(decision.run_stats).toEqual({ steps: 0, spend_micros: 0, currency: 'USD', tool_calls_in_window: 0 });
    const decoded = decodeEvent(encodeEvent('PolicyDecided', decision));
    expect(decoded.type).toBe('PolicyDecided');
    expect(decoded.payload).toMatchObject({ run_stats: { steps: 0, spend_micros: 0, currency: 'USD', tool_calls_in_window: 0 } });
  });

  it('binds the tool version resolved from the registry: the latest when the proposal names none', () => {
    const latest = proposal(refund(100), { tool_version: null });
    const decision = decided(propose(emptyPdpState(), latest));
    expect(decision.warrant).toMatchObject({ tool: 'refunds.issue', tool_version: '1.3.0' });
    expect(requests.at(-1)?.tool).toMatchObject({ name: 'refunds.issue', version: '1.3.0', effect: 'write', risk: 'medium' });
    const warrant = warrantOfDecision(decision);
    if (warrant === undefined) throw new Error('no warrant');
    const claims = { action_id: latest.meta.action_id ?? '', tenant: 'acme', agent: 'triage-bot', tool: 'refunds.issue', args_sha256: latest.args_sha256 };
    expect(verifyWarrant(warrant, { ...claims, tool_version: '1.3.0' }, keyring, 1_000_001).ok).toBe(true);
    expect(verifyWarrant(warrant, { ...claims, tool_version: '1.2.0' }, keyring, 1_000_001).ok).toBe(false);
    // A version asked for is the one bound, even when a later one exists.
    expect(decided(propose(emptyPdpState(), proposal(refund(100), { tool_version: '1.2.0' }))).warrant?.tool_version).toBe('1.2.0');
  });

  it('denies deleting a customer naming the forbid, without a warrant', () => {
    const decision = decided(propose(emptyPdpState(), proposal({ customer_id: 'C-1' }, { tool: 'customers.delete', tool_version: '1.0.0' })));
    expect(decision).toMatchObject({ decision: 'deny', determining_policies: ['customer-delete-forbidden'], warrant: null });
  });

  it('asks for approval naming the permit and the requirement', () => {
    const decision = decided(propose(emptyPdpState(), proposal(refund(25_000))));
    expect(decision).toMatchObject({
      decision: 'approval_required',
      determining_policies: ['refund-over-100-needs-manager-approval'],
      approval_requirement: { policy_id: 'refund-over-100-needs-manager-approval', count: 1, roles: ['manager'], expires_in_ms: null, reason: null },
      warrant: null,
    });
    expect(() => encodeEvent('PolicyDecided', decision)).not.toThrow();
  });

  it("signs a shadow run's allow into a warrant that verifies as shadow and never as the live warrant an executor rebuilds", () => {
    const event = { ...proposal(refund(2_500)), mode: 'shadow' as const };
    const decision = decided(propose(emptyPdpState(), event));
    expect(decision.decision).toBe('allow');
    const expected = {
      action_id: event.meta.action_id ?? '',
      tenant: 'acme',
      agent: 'triage-bot',
      tool: 'refunds.issue',
      tool_version: '1.2.0',
      args_sha256: event.args_sha256,
    };
    const shadow = warrantOfDecision(decision);
    if (shadow === undefined || decision.warrant === null) throw new Error('no warrant');
    expect(shadow.mode).toBe('shadow');
    expect(verifyWarrant(shadow, expected, keyring, 1_000_001).ok).toBe(true);
    const live = verifyWarrant(warrantFromEvent(decision.warrant, expected.action_id, 'acme'), expected, keyring, 1_000_001);
    expect(live.ok ? 'accepted' : live.error.code).toBe('WARRANT_FORGED');
  });

  it("decides a shadow run's proposal as any other and records the mode with the request, so nobody is paged for it", () => {
    const shadow = decided(propose(emptyPdpState(), { ...proposal(refund(25_000)), mode: 'shadow' }));
    expect(shadow).toMatchObject({ decision: 'approval_required', determining_policies: ['refund-over-100-needs-manager-approval'] });
    expect(JSON.parse(shadow.request_json)).toMatchObject({ runMode: 'shadow' });
    expect(notificationOfDecision(shadow)).toBeUndefined();
    const live = decided(propose(emptyPdpState(), proposal(refund(25_000))));
    expect(JSON.parse(live.request_json)).not.toHaveProperty('runMode');
    expect(notificationOfDecision(live)?.event).toBe('approval.requested');
  });

  it.each([
    ['an unknown agent', (e: ActionProposed): ActionProposed => ({ ...e, agent_id: 'nobody' }), 'not in the directory'],
    ['an agent of another tenant', (e: ActionProposed): ActionProposed => ({ ...e, meta: { ...e.meta, tenant_id: 'globex' } }), 'does not belong to tenant'],
    ['arguments that do not match their hash', (e: ActionProposed): ActionProposed => ({ ...e, args_sha256: 'b'.repeat(64) }), 'args_sha256'],
    [
      'arguments Cedar refuses',
      (e: ActionProposed): ActionProposed => ({ ...e, arguments_json: '{"amount_cents":"500"}', args_sha256: sha256Canonical({ amount_cents: '500' }) }),
      'amount_cents',
    ],
  ])('denies %s, fail closed, with the reason in errors', (_name, change, reason) => {
    const decision = decided(propose(emptyPdpState(), change(proposal(refund(100)))));
    expect(decision.decision).toBe('deny');
    expect(decision.determining_policies).toEqual([]);
    expect(decision.errors.join(' ')).toContain(reason);
  });

  it.each([
    ['an unknown tool', { tool: 'wire.transfer', tool_version: null }, 'no tool wire.transfer in the registry'],
    ['an unknown version of a known tool', { tool_version: '9.0.0' }, 'tool refunds.issue has no version 9.0.0'],
  ])('decides nothing on %s (the planner rejects it as tool_unknown), saying why', (_name, options, reason) => {
    const state = emptyPdpState();
    const event = proposal(refund(100), options);
    const outcome = onActionProposed(state, event, environment());
    expect(outcome.outputs).toEqual([]);
    expect(outcome.ignored).toContain(reason);
    expect(outcome.ignored).toContain('tool_unknown');
    evolvePdpState(state, { type: 'ActionProposed', payload: event });
    expect(state.actions.get(event.meta.action_id ?? '')?.decision).toBeUndefined();
    // Nothing to approve either.
    expect(approve(state, submitted(event, 'maria'))[0]?.payload).toMatchObject({ accepted: false, reason: expect.stringContaining('not awaiting approval') });
  });

  it('is idempotent: a redelivered proposal of a decided action emits nothing', () => {
    const state = emptyPdpState();
    const event = proposal(refund(2_500));
    expect(propose(state, event)).toHaveLength(1);
    expect(propose(state, event, environment(2_000_000))).toEqual([]);
    const pending = proposal(refund(25_000));
    propose(state, pending);
    expect(propose(state, pending)).toEqual([]);
  });

  it('emits nothing for an action that already ended', () => {
    const state = emptyPdpState();
    const event = proposal(refund(2_500));
    complete(state, completed(event, 0, 'expired'));
    expect(propose(state, event)).toEqual([]);
  });
});

describe('run statistics counted by the PDP', () => {
  const statsOf = (outputs: readonly PdpOutput[]) => decided(outputs).run_stats;

  it('steps: the distinct proposals of the run seen before this one; a redelivery counts once; other runs and tenants apart', () => {
    const state = emptyPdpState();
    const first = proposal(refund(100));
    expect(statsOf(propose(state, first))).toMatchObject({ steps: 0 });
    propose(state, first); // redelivered
    propose(state, { ...first, meta: { ...first.meta, event_id: newMetadata({ tenant_id: 'acme', run_id: 'run-1', producer: 'gateway@0.1.0' }).event_id } }); // the same action, another event
    propose(state, proposal(refund(100), { run: 'run-2' }));
    propose(state, proposal(refund(100), { tenant: 'globex', agent: 'nobody' }));
    // An unknown tool is not decided but is a step of the run all the same.
    propose(state, proposal(refund(100), { tool: 'wire.transfer' }));
    expect(statsOf(propose(state, proposal(refund(100))))).toMatchObject({ steps: 2 });
    expect(statsOf(propose(state, proposal(refund(100))))).toMatchObject({ steps: 3 });
    // And Cedar is asked with them.
    expect(requests.at(-1)?.runStats).toEqual({ steps: 3, spendMicros: 0, callsInWindow: 2 });
    expect(state.runs.get(runKey('acme', 'run-1'))?.steps).toBe(4);
  });

  it("spend: the sum of cost_micros of the run's ActionCompleted events, each counted once", () => {
    const state = emptyPdpState();
    const a = proposal(refund(100));
    const b = proposal(refund(100));
    propose(state, a);
    propose(state, b);
    complete(state, completed(a, 1_250_000));
    complete(state, completed(a, 1_250_000)); // redelivered: one terminal event per action
    complete(state, completed(proposal(refund(100), { run: 'run-2' }), 9_000_000));
    expect(statsOf(propose(state, proposal(refund(100))))).toMatchObject({ steps: 2, spend_micros: 1_250_000, currency: 'USD' });
    complete(state, completed(b, 500_000));
    expect(statsOf(propose(state, proposal(refund(100))))).toMatchObject({ steps: 3, spend_micros: 1_750_000 });
  });

  it('an ActionCompleted read before its proposal (another topic) is spent once, and the proposal still counts a step', () => {
    const state = emptyPdpState();
    const early = proposal(refund(100));
    complete(state, completed(early, 300_000));
    expect(propose(state, early)).toEqual([]); // ended: not decided
    expect(state.actions.get(early.meta.action_id ?? '')?.proposed).toBeUndefined();
    expect(statsOf(propose(state, proposal(refund(100))))).toMatchObject({ steps: 1, spend_micros: 300_000 });
  });

  it("currency: the resolved tool's cost currency", () => {
    expect(statsOf(propose(emptyPdpState(), proposal({ invoice_id: 'I-1' }, { tool: 'invoices.get', tool_version: null })))).toMatchObject({ currency: 'EUR' });
  });

  it('calls in window: proposals of the same tool in the run whose occurred_at lies within the window before this one', () => {
    const state = emptyPdpState(60_000);
    propose(state, proposal(refund(100), { at: T0 }));
    propose(state, proposal(refund(100), { at: T0 + 10_000 }));
    propose(state, proposal({ customer_id: 'C-1' }, { tool: 'customers.delete', tool_version: '1.0.0', at: T0 + 20_000 })); // another tool
    propose(state, proposal(refund(100), { at: T0 + 30_000, run: 'run-2' })); // another run
    const at50 = proposal(refund(100), { at: T0 + 50_000 });
    expect(statsOf(propose(state, at50))).toMatchObject({ steps: 3, tool_calls_in_window: 2 });
    propose(state, at50); // redelivered: not a call more
    // At T0 + 70 s the window is (T0 + 10 s, T0 + 70 s]: T0 is out, and T0 + 10 s is on the edge, out too.
    expect(statsOf(propose(state, proposal(refund(100), { at: T0 + 70_000 })))).toMatchObject({ steps: 4, tool_calls_in_window: 1 });
  });

  it('the window is WRIT_POLICY_RATE_WINDOW_MS long, and older timestamps are pruned so memory stays bounded', () => {
    const state = emptyPdpState(10_000);
    for (let i = 0; i < 100; i += 1) propose(state, proposal(refund(100), { at: T0 + i * 1_000 }));
    const tally = state.runs.get(runKey('acme', 'run-1'));
    // Only the proposals within 10 s of the newest (T0 + 99 s) are kept: (T0 + 89 s, T0 + 99 s].
    expect(tally?.calls.get('refunds.issue')).toEqual(Array.from({ length: 10 }, (_, i) => T0 + (90 + i) * 1_000));
    expect(tally?.steps).toBe(100);
    expect(statsOf(propose(state, proposal(refund(100), { at: T0 + 100_000 })))).toMatchObject({ steps: 100, tool_calls_in_window: 9 });
    expect(() => emptyPdpState(0)).toThrow(/rateWindowMs/);
  });

  it('the same log folded again gives the same statistics (deterministic, whatever the clock)', () => {
    const log: ActionProposed[] = [0, 5_000, 61_000, 62_000].map((offset) => proposal(refund(100), { at: T0 + offset }));
    const decide = () => {
      const state = emptyPdpState();
      return log.map((event, i) => statsOf(propose(state, event, environment(i * 999_999))));
    };
    const first = decide();
    expect(first.map((s) => s?.tool_calls_in_window)).toEqual([0, 1, 1, 2]);
    expect(decide()).toEqual(first);
  });
});

describe('ApprovalSubmitted', () => {
  it("refuses the owner's approval, naming the forbid, and decides nothing", () => {
    const state = emptyPdpState();
    const event = proposal(refund(25_000));
    propose(state, event);
    const outputs = approve(state, submitted(event, 'dana'));
    expect(outputs).toHaveLength(1);
    expect(outputs[0]).toMatchObject({
      type: 'ApprovalRecorded',
      payload: { accepted: false, approver_id: 'dana', approver_role: 'manager', determining_policies: ['owner-may-not-approve'] },
    });
    expect(state.actions.get(event.meta.action_id ?? '')?.approvals).toEqual([]);
  });

  it("a manager's approval records it and allows with a warrant that counts the approval", () => {
    const state = emptyPdpState();
    const event = proposal(refund(25_000));
    propose(state, event);
    const submission = submitted(event, 'maria');
    const outputs = approve(state, submission, environment(5_000_000));
    expect(outputs.map((o) => o.type)).toEqual(['ApprovalRecorded', 'PolicyDecided']);
    expect(outputs[0]?.payload).toMatchObject({
      accepted: true,
      reason: 'permitted by managers-approve-in-own-tenant',
      meta: { causation_id: submission.meta.event_id },
    });
    const decision = decided(outputs);
    expect(decision).toMatchObject({ decision: 'allow', approvals: [{ approver_id: 'maria', role: 'manager' }], approval_requirement: null });
    expect(decision.warrant?.not_after).toBe(5_060_000);
    // The same submission again is answered once only; a later approval finds the action decided.
    expect(approve(state, submission)).toEqual([]);
    expect(approve(state, submitted(event, 'mike'))[0]?.payload).toMatchObject({ accepted: false });
  });

  it('a re-decision keeps the statistics of the first decision, however the run moved on', () => {
    const state = emptyPdpState();
    propose(state, proposal(refund(100), { at: T0 }));
    const pending = proposal(refund(25_000), { at: T0 + 1_000, tool_version: null });
    const first = decided(propose(state, pending));
    expect(first.run_stats).toEqual({ steps: 1, spend_micros: 0, currency: 'USD', tool_calls_in_window: 1 });
    // The run goes on meanwhile: more steps, spend, calls.
    const later = proposal(refund(100), { at: T0 + 2_000 });
    propose(state, later);
    complete(state, completed(later, 700_000));
    const allowed = decided(approve(state, submitted(pending, 'maria')));
    expect(allowed).toMatchObject({ decision: 'allow', run_stats: first.run_stats });
    expect(requests.at(-1)?.runStats).toEqual({ steps: 1, spendMicros: 0, callsInWindow: 1 });
    // The version resolved again is the same the first decision resolved.
    expect(allowed.warrant?.tool_version).toBe('1.3.0');
  });

  it('stays approval_required while a quorum of two is short, then allows', () => {
    const state = emptyPdpState();
    const event = proposal(refund(60_000));
    // The policy's expiry of the approval travels with the requirement (the planner waits that long).
    expect(decided(propose(state, event))).toMatchObject({
      decision: 'approval_required',
      approval_requirement: { policy_id: 'refund-over-500-needs-two', count: 2, expires_in_ms: 4 * 3_600_000, reason: null },
    });
    expect(decided(approve(state, submitted(event, 'maria')))).toMatchObject({ decision: 'approval_required', approvals: [{ approver_id: 'maria' }] });
    expect(decided(approve(state, submitted(event, 'maria')))).toMatchObject({ decision: 'approval_required' });
    const last = decided(approve(state, submitted(event, 'mike')));
    expect(last).toMatchObject({ decision: 'allow', approvals: [{ approver_id: 'maria' }, { approver_id: 'mike' }] });
  });

  it("an authorized approver's denial denies, naming the approver", () => {
    const state = emptyPdpState();
    const event = proposal(refund(25_000));
    propose(state, event);
    const decision = decided(approve(state, submitted(event, 'maria', 'deny')));
    expect(decision).toMatchObject({ decision: 'deny', denied_by: 'maria', determining_policies: ['managers-approve-in-own-tenant'], warrant: null });
    expect(decision.run_stats).toMatchObject({ steps: 0 });
    expect(approve(state, submitted(event, 'mike'))[0]?.payload).toMatchObject({ accepted: false });
  });

  it.each([
    ['a support user', 'sam', 'acme'],
    ['a manager of another tenant', 'gina', 'acme'],
    ['an unknown user', 'zed', 'acme'],
    ['a submission in another tenant', 'maria', 'globex'],
  ])('refuses %s without deciding', (_name, approver, tenant) => {
    const state = emptyPdpState();
    const event = proposal(refund(25_000));
    propose(state, event);
    const outputs = approve(state, submitted(event, approver, 'approve', tenant));
    expect(outputs).toHaveLength(1);
    const [output] = outputs;
    if (output?.type !== 'ApprovalRecorded') throw new Error('no ApprovalRecorded');
    expect(output.payload).toMatchObject({ accepted: false });
    expect(() => encodeEvent('ApprovalRecorded', output.payload)).not.toThrow();
  });

  it('refuses an approval of an action that is not pending', () => {
    const state = emptyPdpState();
    const allowed = proposal(refund(100));
    propose(state, allowed);
    expect(approve(state, submitted(allowed, 'maria'))[0]?.payload).toMatchObject({
      accepted: false,
      reason: expect.stringContaining('not awaiting approval'),
    });
    expect(approve(state, submitted(proposal(refund(1)), 'maria'))[0]?.payload).toMatchObject({ accepted: false });
  });
});

describe('state rebuilt from the topics', () => {
  it('folding the recorded events gives the same pending approvals, decisions and statistics', () => {
    const live = emptyPdpState();
    const log: PdpEvent[] = [];
    const record = (event: ActionProposed) => {
      const outputs = propose(live, event);
      log.push(...outputs, { type: 'ActionProposed', payload: event });
    };
    const done = proposal(refund(100));
    record(done);
    const spent = completed(done, 400_000);
    complete(live, spent);
    log.push({ type: 'ActionCompleted', payload: spent });
    const event = proposal(refund(60_000));
    record(event);
    for (const output of approve(live, submitted(event, 'maria'))) log.push(output);

    const rebuilt = emptyPdpState();
    for (const entry of log) evolvePdpState(rebuilt, entry);
    expect(rebuilt.actions).toEqual(live.actions);
    expect(rebuilt.runs).toEqual(live.runs);
    expect(rebuilt.answeredSubmissions).toEqual(live.answeredSubmissions);
    // After the restart the redelivered proposal is still not decided twice, nor counted twice, and the quorum continues.
    expect(onActionProposed(rebuilt, event, environment()).outputs).toEqual([]);
    evolvePdpState(rebuilt, { type: 'ActionProposed', payload: event });
    expect(rebuilt.runs.get(runKey('acme', 'run-1'))?.steps).toBe(2);
    const allowed = decided(approve(rebuilt, submitted(event, 'mike')));
    expect(allowed).toMatchObject({ decision: 'allow', run_stats: { steps: 1, spend_micros: 400_000 } });
  });

  it('a rebuild that reads the topics in another order keeps the statistics the first decision recorded', () => {
    const live = emptyPdpState();
    const done = proposal(refund(100));
    propose(live, done);
    const pending = proposal(refund(25_000));
    const first = decided(propose(live, pending)); // decided before the ActionCompleted below was read
    expect(first.run_stats).toMatchObject({ steps: 1, spend_micros: 0 });

    // Read again, the actions topic comes first: counted now, the spend would be in.
    const rebuilt = emptyPdpState();
    evolvePdpState(rebuilt, { type: 'ActionCompleted', payload: completed(done, 900_000) });
    evolvePdpState(rebuilt, { type: 'ActionProposed', payload: done });
    evolvePdpState(rebuilt, { type: 'ActionProposed', payload: pending });
    evolvePdpState(rebuilt, { type: 'PolicyDecided', payload: first });
    expect(rebuilt.actions.get(pending.meta.action_id ?? '')?.proposed?.counts).toMatchObject({ spend_micros: 900_000 });
    expect(decided(approve(rebuilt, submitted(pending, 'maria'))).run_stats).toEqual(first.run_stats);
  });

  it('a decision recorded before v3 (no run_stats): a re-decision falls back on the counts of the proposal', () => {
    const state = emptyPdpState();
    const pending = proposal(refund(25_000));
    const first = decided(onActionProposed(state, pending, environment()).outputs);
    evolvePdpState(state, { type: 'PolicyDecided', payload: { ...first, run_stats: null } });
    evolvePdpState(state, { type: 'ActionProposed', payload: pending });
    expect(state.actions.get(pending.meta.action_id ?? '')?.run_stats).toBeNull();
    expect(decided(approve(state, submitted(pending, 'maria')))).toMatchObject({ decision: 'allow', run_stats: { steps: 0, currency: 'USD' } });
  });

  it("a later decision without statistics (an instance still on v2, in a rolling upgrade) does not erase the first one's", () => {
    const state = emptyPdpState();
    const pending = proposal(refund(60_000));
    const first = decided(propose(state, pending));
    evolvePdpState(state, { type: 'PolicyDecided', payload: { ...first, run_stats: null, approvals: [{ approver_id: 'maria', role: 'manager' }] } });
    expect(state.actions.get(pending.meta.action_id ?? '')?.run_stats).toEqual(first.run_stats);
  });

  it('a proposal folded but never decided (a crash between) is decided on redelivery with the counts it saw first', () => {
    const state = emptyPdpState();
    propose(state, proposal(refund(100)));
    const lost = proposal(refund(100));
    evolvePdpState(state, { type: 'ActionProposed', payload: lost });
    propose(state, proposal(refund(100)));
    const decision = decided(onActionProposed(state, lost, environment()).outputs);
    expect(decision.run_stats).toMatchObject({ steps: 1, tool_calls_in_window: 1 });
    expect(decision.meta.causation_id).toBe(lost.meta.event_id);
  });
});

describe('a budget at its approval step (BudgetReserved.approval_step)', () => {
  const STEP = {
    scope: 'tenant_month',
    subject: '*',
    period: '2026-12',
    window_ms: null,
    kind: 'money',
    percent: 80,
    limit: 1_000_000_000,
    used: 850_000_000,
    currency: 'USD',
  } as const;
  const WHY =
    'budget tenant_month (2026-12) money is at 85% of 1000.00 USD (850.00 USD used): its approval step is 80%, so an action with side effects needs an approval';

  function reservedFor(action: ActionProposed, step: BudgetReserved['approval_step'] = STEP): BudgetReserved {
    return {
      meta: newMetadata({ tenant_id: 'acme', run_id: action.meta.run_id, action_id: action.meta.action_id, producer: 'budget@0.1.0' }),
      reservation_id: action.meta.action_id ?? '',
      amount_micros: 2_000,
      currency: 'USD',
      expires_at: T0 + 3_600_000,
      key_id: 'reservation-1',
      signature: 'c2ln',
      agent_id: 'triage-bot',
      tool: 'refunds.issue',
      tool_calls: 1,
      day: '2026-12-07',
      approval_step: step,
    };
  }

  /** What the service does with such a reservation: fold it, then handle it, then fold the outputs. */
  function reserve(state: PdpState, event: BudgetReserved, env = environment()): PdpOutput[] {
    evolvePdpState(state, { type: 'BudgetReserved', payload: event });
    const outputs = onBudgetApprovalStep(state, event, env);
    for (const output of outputs) evolvePdpState(state, output);
    return outputs;
  }

  it('after an allow without approvals: asks for one approval naming the budget, without a warrant', () => {
    const state = emptyPdpState();
    const event = proposal(refund(2_500));
    expect(decided(propose(state, event)).decision).toBe('allow');
    const reservation = reservedFor(event);
    const asked = decided(reserve(state, reservation));
    expect(asked).toMatchObject({
      decision: 'approval_required',
      warrant: null,
      determining_policies: ['refund-up-to-100-support'],
      approval_requirement: { policy_id: BUDGET_APPROVAL_POLICY, count: 1, roles: [], expires_in_ms: null, reason: WHY },
      approvals: [],
    });
    expect(asked.meta.causation_id).toBe(reservation.meta.event_id);
    // The first decision's statistics, as every later decision of the action.
    expect(asked.run_stats).toEqual({ steps: 0, spend_micros: 0, currency: 'USD', tool_calls_in_window: 0 });
    expect(() => encodeEvent('PolicyDecided', asked)).not.toThrow();
    expect(state.actions.get(event.meta.action_id ?? '')?.decision).toBe('approval_required');
    // Approvers are told, as for any approval (the webhook names the budget's reason).
    expect(notificationOfDecision(asked)?.text).toContain('needs 1 approval(s) by an approver the policies permit (writ:budget-approval-step)');
    expect(notificationOfDecision(asked)?.text).toContain(`Why: ${WHY}`);
    // Read again (a redelivery), it asks nothing more.
    expect(reserve(state, reservation)).toEqual([]);
  });

  it("an approver the policies permit approves it: allow with a warrant and the approval; the owner's approval is refused", () => {
    const state = emptyPdpState();
    const event = proposal(refund(2_500));
    propose(state, event);
    reserve(state, reservedFor(event));
    const refused = approve(state, submitted(event, 'dana'));
    expect(refused).toHaveLength(1);
    expect(refused[0]?.payload).toMatchObject({ accepted: false, determining_policies: ['owner-may-not-approve'] });
    const outputs = approve(state, submitted(event, 'maria'));
    expect(decided(outputs)).toMatchObject({ decision: 'allow', approvals: [{ approver_id: 'maria', role: 'manager' }] });
    expect(decided(outputs).warrant).not.toBeNull();
    expect(state.actions.get(event.meta.action_id ?? '')?.decision).toBe('allow');
  });

  it('read before the proposal: the proposal is decided approval_required at once; a deny stays a deny', () => {
    const state = emptyPdpState();
    const event = proposal(refund(2_500));
    expect(reserve(state, reservedFor(event))).toEqual([]);
    expect(decided(propose(state, event))).toMatchObject({
      decision: 'approval_required',
      approval_requirement: { policy_id: BUDGET_APPROVAL_POLICY, reason: WHY },
    });
    const deleting = proposal({ customer_id: 'C-1' }, { tool: 'customers.delete', tool_version: '1.0.0' });
    reserve(state, reservedFor(deleting));
    expect(decided(propose(state, deleting))).toMatchObject({ decision: 'deny', determining_policies: ['customer-delete-forbidden'] });
  });

  it("a policy's own approval asks once for both: the quorum the policy wants answers the budget too", () => {
    const state = emptyPdpState();
    const event = proposal(refund(25_000));
    expect(decided(propose(state, event)).approval_requirement?.policy_id).toBe('refund-over-100-needs-manager-approval');
    expect(reserve(state, reservedFor(event))).toEqual([]);
    expect(decided(approve(state, submitted(event, 'maria')))).toMatchObject({ decision: 'allow' });
  });

  it('nothing for a reservation without a step, an action allowed after an approval, or one that ended', () => {
    const state = emptyPdpState();
    const plain = proposal(refund(2_500));
    propose(state, plain);
    expect(reserve(state, reservedFor(plain, null))).toEqual([]);
    const approved = proposal(refund(25_000));
    propose(state, approved);
    approve(state, submitted(approved, 'maria'));
    expect(reserve(state, reservedFor(approved))).toEqual([]);
    const ended = proposal(refund(2_500));
    propose(state, ended);
    complete(state, completed(ended, 0, 'expired'));
    expect(reserve(state, reservedFor(ended))).toEqual([]);
  });

  it('a rebuild folding allow, the budget approval and the approved allow in order ends allowed; a pending decision never reopens an approved one', () => {
    const live = emptyPdpState();
    const event = proposal(refund(2_500));
    const first = propose(live, event);
    const reservation = reservedFor(event);
    const asked = reserve(live, reservation);
    const approved = approve(live, submitted(event, 'maria'));
    const rebuilt = emptyPdpState();
    const fold = (outputs: readonly PdpOutput[]) => outputs.forEach((output) => evolvePdpState(rebuilt, output as PdpEvent));
    evolvePdpState(rebuilt, { type: 'ActionProposed', payload: event });
    fold(first);
    evolvePdpState(rebuilt, { type: 'BudgetReserved', payload: reservation });
    fold(asked);
    fold(approved);
    expect(rebuilt.actions.get(event.meta.action_id ?? '')).toMatchObject({
      decision: 'allow',
      budget_approval: WHY,
      approvals: [{ approverId: 'maria', role: 'manager' }],
    });
    fold(asked);
    expect(rebuilt.actions.get(event.meta.action_id ?? '')?.decision).toBe('allow');
  });
});
