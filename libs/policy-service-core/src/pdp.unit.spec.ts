import { describe, expect, it } from 'vitest';
import { encodeEvent, newMetadata } from '@writ/contracts';
import type { ActionAdmitted, ApprovalSubmitted, PolicyDecided } from '@writ/contracts';
import { canonicalJson, createKeyring, generateSigningKey, sha256Canonical } from '@writ/crypto';
import { WritError } from '@writ/errors';
import { verifyWarrant } from '@writ/policy-engine';
import type { ApprovalAuthorizationRequest, Decision, DecisionPoint, DecisionRequest } from '@writ/policy-engine';
import { onActionAdmitted, onApprovalSubmitted } from './decide.ts';
import type { PdpEnvironment, PdpOutput, ToolFacts } from './decide.ts';
import { emptyPdpState, evolvePdpState } from './state.ts';
import type { PdpState } from './state.ts';
import { warrantOfDecision } from './warrant-event.ts';

const HASH = 'a'.repeat(64);
const key = generateSigningKey('warrant-test');
const keyring = createKeyring({ 'warrant-test': key.exportPublicKeyPem() });

/** A stand-in for Cedar with the helpdesk's refund rules, so the service logic is tested alone. */
const fakePoint: DecisionPoint = {
  policySetHash: HASH,
  version: '9.9.9',
  decide(request: DecisionRequest): Decision {
    const base = { errors: [], policySetHash: HASH };
    if (request.tool.name === 'customers.delete') return { ...base, decision: 'deny', determiningPolicies: ['customer-delete-forbidden'] };
    const amount = request.arguments['amount_cents'];
    if (typeof amount === 'string') throw new WritError('POLICY_REQUEST_INVALID', 'arguments.amount_cents must be a Long', { field: 'arguments.amount_cents', rule: 'Long' });
    if (typeof amount !== 'number') return { ...base, decision: 'allow', determiningPolicies: ['read-tools-allowed'] };
    if (amount <= 10_000) return { ...base, decision: 'allow', determiningPolicies: ['refund-up-to-100-support'] };
    const counted = new Set((request.approvals ?? []).filter((a) => a.role === 'manager' && a.approverId !== request.agent.owner).map((a) => a.approverId));
    const policy = amount > 50_000 ? 'refund-over-500-needs-two' : 'refund-over-100-needs-manager-approval';
    const needed = amount > 50_000 ? 2 : 1;
    if (counted.size >= needed) return { ...base, decision: 'allow', determiningPolicies: [policy] };
    return { ...base, decision: 'approval_required', determiningPolicies: [policy], approval: { policyId: policy, count: needed, roles: ['manager'] } };
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

const tools: Record<string, ToolFacts | undefined> = {
  'refunds.issue@1.2.0': { effect: 'write', risk: 'medium' },
  'customers.delete@1.0.0': { effect: 'destructive', risk: 'high' },
};

function environment(now = 1_000_000): PdpEnvironment {
  return {
    decisionPoint: fakePoint,
    agent: (id) => (id === 'triage-bot' ? { id, tenant: 'acme', role: 'support', owner: 'dana' } : undefined),
    user: (id) => users[id],
    tool: (name, version) => tools[`${name}@${version}`],
    signingKey: key,
    warrantTtlMs: 60_000,
    producer: 'policy@0.1.0',
    now,
  };
}

let counter = 0;
function admitted(args: Record<string, unknown>, overrides: Partial<ActionAdmitted> = {}): ActionAdmitted {
  counter += 1;
  return {
    meta: newMetadata({ tenant_id: 'acme', run_id: 'run-1', action_id: `action-${counter}`, producer: 'planner@0.1.0' }),
    agent_id: 'triage-bot',
    tool: 'refunds.issue',
    tool_version: '1.2.0',
    arguments_json: canonicalJson(args),
    args_sha256: sha256Canonical(args),
    run_stats: { steps: 1, spend_micros: 0, currency: 'USD', tool_calls_in_window: 0 },
    ...overrides,
  };
}

function submitted(action: ActionAdmitted, approver: string, verdict: 'approve' | 'deny' = 'approve', tenant = 'acme'): ApprovalSubmitted {
  return {
    meta: newMetadata({ tenant_id: tenant, run_id: action.meta.run_id, action_id: action.meta.action_id, producer: 'gateway@0.1.0' }),
    approver_id: approver,
    approver_role: 'manager',
    verdict,
    comment: null,
  };
}

/** What the service does: handle, then fold the input and the outputs. */
function admit(state: PdpState, event: ActionAdmitted, env = environment()): PdpOutput[] {
  const outputs = onActionAdmitted(state, event, env);
  evolvePdpState(state, { type: 'ActionAdmitted', payload: event });
  for (const output of outputs) evolvePdpState(state, output);
  return outputs;
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

describe('ActionAdmitted', () => {
  it('allows with a warrant bound to the action that verifyWarrant accepts, and encodes', () => {
    const state = emptyPdpState();
    const event = admitted(refund(2_500));
    const outputs = admit(state, event);
    const decision = decided(outputs);
    expect(decision).toMatchObject({ decision: 'allow', determining_policies: ['refund-up-to-100-support'], policy_set_version: '9.9.9' });
    expect(decision.meta).toMatchObject({ action_id: event.meta.action_id, causation_id: event.meta.event_id, producer: 'policy@0.1.0' });
    expect(decision.warrant?.not_after).toBe(1_000_000 + 60_000);
    const warrant = warrantOfDecision(decision);
    if (warrant === undefined) throw new Error('no warrant');
    const check = verifyWarrant(
      warrant,
      { action_id: event.meta.action_id ?? '', tenant: 'acme', agent: 'triage-bot', tool: 'refunds.issue', tool_version: '1.2.0', args_sha256: event.args_sha256 },
      keyring,
      1_000_001,
    );
    expect(check.ok).toBe(true);
    expect(() => encodeEvent('PolicyDecided', decision)).not.toThrow();
  });

  it('denies naming the forbid, without a warrant', () => {
    const decision = decided(admit(emptyPdpState(), admitted({ customer_id: 'C-1' }, { tool: 'customers.delete', tool_version: '1.0.0' })));
    expect(decision).toMatchObject({ decision: 'deny', determining_policies: ['customer-delete-forbidden'], warrant: null });
  });

  it('asks for approval naming the permit and the requirement', () => {
    const decision = decided(admit(emptyPdpState(), admitted(refund(25_000))));
    expect(decision).toMatchObject({
      decision: 'approval_required',
      determining_policies: ['refund-over-100-needs-manager-approval'],
      approval_requirement: { policy_id: 'refund-over-100-needs-manager-approval', count: 1, roles: ['manager'] },
      warrant: null,
    });
    expect(() => encodeEvent('PolicyDecided', decision)).not.toThrow();
  });

  it.each([
    ['an unknown agent', { agent_id: 'nobody' }, 'not in the directory'],
    ['an agent of another tenant', { meta: newMetadata({ tenant_id: 'globex', run_id: 'r', action_id: 'x-1', producer: 'planner@0.1.0' }) }, 'does not belong to tenant'],
    ['an unknown tool version', { tool_version: '9.0.0' }, 'not in the registry'],
    ['arguments that do not match their hash', { args_sha256: 'b'.repeat(64) }, 'args_sha256'],
    ['arguments Cedar refuses', { arguments_json: '{"amount_cents":"500"}', args_sha256: sha256Canonical({ amount_cents: '500' }) }, 'amount_cents'],
  ])('denies %s, fail closed, with the reason in errors', (_name, overrides, reason) => {
    const decision = decided(admit(emptyPdpState(), admitted(refund(100), overrides as Partial<ActionAdmitted>)));
    expect(decision.decision).toBe('deny');
    expect(decision.determining_policies).toEqual([]);
    expect(decision.errors.join(' ')).toContain(reason);
  });

  it('is idempotent: a redelivered admission of a decided action emits nothing', () => {
    const state = emptyPdpState();
    const event = admitted(refund(2_500));
    expect(admit(state, event)).toHaveLength(1);
    expect(admit(state, event, environment(2_000_000))).toEqual([]);
    const pending = admitted(refund(25_000));
    admit(state, pending);
    expect(admit(state, pending)).toEqual([]);
  });

  it('emits nothing for an action that already ended', () => {
    const state = emptyPdpState();
    const event = admitted(refund(2_500));
    evolvePdpState(state, {
      type: 'ActionCompleted',
      payload: { meta: { ...event.meta, event_id: 'e' }, status: 'expired', reason: '', reason_code: 'decision_timeout', result_json: null, cost_micros: 0, currency: 'USD' },
    });
    expect(admit(state, event)).toEqual([]);
  });
});

describe('ApprovalSubmitted', () => {
  it("refuses the owner's approval, naming the forbid, and decides nothing", () => {
    const state = emptyPdpState();
    const event = admitted(refund(25_000));
    admit(state, event);
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
    const event = admitted(refund(25_000));
    admit(state, event);
    const submission = submitted(event, 'maria');
    const outputs = approve(state, submission, environment(5_000_000));
    expect(outputs.map((o) => o.type)).toEqual(['ApprovalRecorded', 'PolicyDecided']);
    expect(outputs[0]?.payload).toMatchObject({ accepted: true, reason: 'permitted by managers-approve-in-own-tenant', meta: { causation_id: submission.meta.event_id } });
    const decision = decided(outputs);
    expect(decision).toMatchObject({ decision: 'allow', approvals: [{ approver_id: 'maria', role: 'manager' }], approval_requirement: null });
    expect(decision.warrant?.not_after).toBe(5_060_000);
    // The same submission again is answered once only; a later approval finds the action decided.
    expect(approve(state, submission)).toEqual([]);
    expect(approve(state, submitted(event, 'mike'))[0]?.payload).toMatchObject({ accepted: false });
  });

  it('stays approval_required while a quorum of two is short, then allows', () => {
    const state = emptyPdpState();
    const event = admitted(refund(60_000));
    admit(state, event);
    expect(decided(approve(state, submitted(event, 'maria')))).toMatchObject({ decision: 'approval_required', approvals: [{ approver_id: 'maria' }] });
    expect(decided(approve(state, submitted(event, 'maria')))).toMatchObject({ decision: 'approval_required' });
    const last = decided(approve(state, submitted(event, 'mike')));
    expect(last).toMatchObject({ decision: 'allow', approvals: [{ approver_id: 'maria' }, { approver_id: 'mike' }] });
  });

  it("an authorized approver's denial denies, naming the approver", () => {
    const state = emptyPdpState();
    const event = admitted(refund(25_000));
    admit(state, event);
    const decision = decided(approve(state, submitted(event, 'maria', 'deny')));
    expect(decision).toMatchObject({ decision: 'deny', denied_by: 'maria', determining_policies: ['managers-approve-in-own-tenant'], warrant: null });
    expect(approve(state, submitted(event, 'mike'))[0]?.payload).toMatchObject({ accepted: false });
  });

  it.each([
    ['a support user', 'sam', 'acme'],
    ['a manager of another tenant', 'gina', 'acme'],
    ['an unknown user', 'zed', 'acme'],
    ['a submission in another tenant', 'maria', 'globex'],
  ])('refuses %s without deciding', (_name, approver, tenant) => {
    const state = emptyPdpState();
    const event = admitted(refund(25_000));
    admit(state, event);
    const outputs = approve(state, submitted(event, approver, 'approve', tenant));
    expect(outputs).toHaveLength(1);
    expect(outputs[0]?.payload).toMatchObject({ accepted: false });
    expect(() => encodeEvent('ApprovalRecorded', outputs[0]?.payload as never)).not.toThrow();
  });

  it('refuses an approval of an action that is not pending', () => {
    const state = emptyPdpState();
    const allowed = admitted(refund(100));
    admit(state, allowed);
    expect(approve(state, submitted(allowed, 'maria'))[0]?.payload).toMatchObject({ accepted: false, reason: expect.stringContaining('not awaiting approval') });
    expect(approve(state, submitted(admitted(refund(1)), 'maria'))[0]?.payload).toMatchObject({ accepted: false });
  });
});

describe('state rebuilt from the topics', () => {
  it('folding the recorded events gives the same pending approvals and decisions', () => {
    const live = emptyPdpState();
    const event = admitted(refund(60_000));
    const log: Parameters<typeof evolvePdpState>[1][] = [{ type: 'ActionAdmitted', payload: event }];
    for (const output of admit(live, event)) log.push(output);
    for (const output of approve(live, submitted(event, 'maria'))) log.push(output);

    const rebuilt = emptyPdpState();
    for (const entry of log) evolvePdpState(rebuilt, entry);
    expect(rebuilt.actions).toEqual(live.actions);
    expect(rebuilt.answeredSubmissions).toEqual(live.answeredSubmissions);
    // After the restart the redelivered admission is still not decided twice, and the quorum continues.
    expect(onActionAdmitted(rebuilt, event, environment())).toEqual([]);
    expect(decided(approve(rebuilt, submitted(event, 'mike')))).toMatchObject({ decision: 'allow' });
  });
});
