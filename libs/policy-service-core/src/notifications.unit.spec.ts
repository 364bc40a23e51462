import { describe, expect, it } from 'vitest';
import { sampleEvent } from '@writ/contracts/testing';
import type { ActionCompleted, PolicyDecided } from '@writ/contracts';
import type { DecisionPoint } from '@writ/policy-engine';
import { escalationDue } from './decide.ts';
import { notificationOfCompletion, notificationOfDecision, notificationOfEscalation } from './notifications.ts';
import type { ActionRecord } from './state.ts';

const meta = { tenant_id: 'acme', run_id: 'run-1', action_id: 'action-1', occurred_at: Date.UTC(2026, 11, 6, 12, 0, 0) };
const request = JSON.stringify({ tool: { name: 'refunds.issue' }, agent: { id: 'triage-bot' } });
const requirement = {
  policy_id: 'refund-over-500-needs-two-managers',
  count: 2,
  roles: ['manager'],
  expires_in_ms: 4 * 3_600_000,
  reason: 'Large refunds need two pairs of eyes.',
};
const decided = (overrides: Partial<PolicyDecided>): PolicyDecided =>
  ({ ...sampleEvent('PolicyDecided', meta), warrant: null, approvals: [], denied_by: null, request_json: request, ...overrides }) as PolicyDecided;

describe('approval notifications', () => {
  it('the first approval_required asks for an approval, naming the tool, agent, policy, quorum and expiry', () => {
    const notification = notificationOfDecision(
      decided({ decision: 'approval_required', determining_policies: [requirement.policy_id], approval_requirement: requirement }),
    );
    expect(notification).toMatchObject({
      event: 'approval.requested',
      tenant: 'acme',
      action_id: 'action-1',
      tool: 'refunds.issue',
      agent: 'triage-bot',
      policy: 'refund-over-500-needs-two-managers',
      needs: { count: 2, roles: ['manager'] },
      expires_at: '2026-12-06T16:00:00.000Z',
    });
    expect(notification?.text).toBe(
      'Approval requested: refunds.issue by triage-bot in acme (action action-1) needs 2 approval(s) by manager (refund-over-500-needs-two-managers), until 2026-12-06T16:00:00.000Z. Why: Large refunds need two pairs of eyes.',
    );
  });

  it("a shadow run's action asks nobody: its approval_required is not notified", () => {
    const shadowRequest = JSON.stringify({ tool: { name: 'refunds.issue' }, agent: { id: 'triage-bot' }, runMode: 'shadow' });
    const asked = { decision: 'approval_required', determining_policies: [requirement.policy_id], approval_requirement: requirement } as const;
    expect(notificationOfDecision(decided({ ...asked, request_json: shadowRequest }))).toBeUndefined();
    expect(notificationOfDecision(decided(asked))?.event).toBe('approval.requested');
  });

  it("a quorum still short notifies nothing; the allow after the approvals, or an approver's denial, decides it", () => {
    const oneOfTwo = decided({ decision: 'approval_required', approval_requirement: requirement, approvals: [{ approver_id: 'maria', role: 'manager' }] });
    expect(notificationOfDecision(oneOfTwo)).toBeUndefined();
    const approved = notificationOfDecision(
      decided({
        decision: 'allow',
        approvals: [
          { approver_id: 'maria', role: 'manager' },
          { approver_id: 'mike', role: 'manager' },
        ],
      }),
    );
    expect(approved).toMatchObject({ event: 'approval.decided', decision: 'allow', approvers: ['maria', 'mike'] });
    expect(approved?.text).toContain('is allowed after the approval of maria, mike');
    const denied = notificationOfDecision(decided({ decision: 'deny', denied_by: 'maria' }));
    expect(denied).toMatchObject({ event: 'approval.decided', decision: 'deny', denied_by: 'maria' });
    expect(denied?.text).toContain('was denied by maria');
    // A decision that never involved an approval is no notification.
    expect(notificationOfDecision(decided({ decision: 'allow' }))).toBeUndefined();
    expect(notificationOfDecision(decided({ decision: 'deny' }))).toBeUndefined();
  });

  it('an action ended as APPROVAL_TIMEOUT is an expired request; other ends are not notified', () => {
    const completed = (reason_code: string): ActionCompleted =>
      ({ ...sampleEvent('ActionCompleted', meta), status: 'expired', reason_code, reason: 'no approval in time' }) as ActionCompleted;
    expect(notificationOfCompletion(completed('APPROVAL_TIMEOUT'))).toMatchObject({ event: 'approval.expired', action_id: 'action-1' });
    expect(notificationOfCompletion(completed('DECISION_TIMEOUT'))).toBeUndefined();
  });
});

describe('approval escalation', () => {
  const escalations = { 'refund-over-100-needs-manager-approval': { afterMs: 30 * 60_000, roles: ['director'] } };
  const point = { escalations } as unknown as DecisionPoint;
  const since = meta.occurred_at;
  const pending: ActionRecord = {
    proposed: undefined,
    counted: true,
    decision: 'approval_required',
    run_stats: null,
    pending_since: since,
    pending_policy: 'refund-over-100-needs-manager-approval',
    approvals: [],
    terminal: false,
  };

  it("is due once the action has waited the permit's delay since it first awaited approval, and only while it still waits", () => {
    expect(escalationDue(pending, { decisionPoint: point, now: since + 30 * 60_000 - 1 })).toBeUndefined();
    expect(escalationDue(pending, { decisionPoint: point, now: since + 30 * 60_000 })).toEqual({ afterMs: 30 * 60_000, roles: ['director'], since });
    const later = since + 60 * 60_000;
    expect(escalationDue({ ...pending, decision: 'allow' }, { decisionPoint: point, now: later })).toBeUndefined();
    expect(escalationDue({ ...pending, terminal: true }, { decisionPoint: point, now: later })).toBeUndefined();
    expect(escalationDue({ ...pending, pending_policy: 'refund-over-500-needs-two-managers' }, { decisionPoint: point, now: later })).toBeUndefined();
  });

  it('tells who may now approve, under an id per action (a repeat from another instance is dropped by it)', () => {
    const notification = notificationOfEscalation({
      tenant: 'acme',
      run_id: 'run-1',
      action_id: 'action-1',
      tool: 'refunds.issue',
      agent: 'triage-bot',
      policy: 'refund-over-100-needs-manager-approval',
      roles: ['director'],
      afterMs: 30 * 60_000,
      since,
    });
    expect(notification).toMatchObject({
      event: 'approval.escalated',
      id: 'escalated:action-1',
      occurred_at: new Date(since + 30 * 60_000).toISOString(),
      decision: 'approval_required',
      policy: 'refund-over-100-needs-manager-approval',
      text: 'Approval escalated: refunds.issue by triage-bot in acme (action action-1) has waited 30 min for approval (refund-over-100-needs-manager-approval); director may now approve.',
    });
  });
});
