// Approval notifications: what a tenant's webhook is told when the policy asks for an approval,
// when the request is decided (approved into an allow, or denied by an approver), and when it
// expires unanswered (the planner ends the action as approval_timeout). Pure: the message and its
// signature; sending and retrying are the policy service's (services/policy/src/notifier.ts).
import type { ActionCompleted, PolicyDecided } from '@writ/contracts';

export type ApprovalNotificationEvent = 'approval.requested' | 'approval.decided' | 'approval.expired' | 'approval.escalated';

/** The webhook's JSON body. `text` makes it a chat message as is (Slack, Mattermost and Teams incoming webhooks read it). */
export interface ApprovalNotification {
  readonly text: string;
  readonly event: ApprovalNotificationEvent;
  /** Unique per notification (the event it comes from): a receiver drops a redelivery by it. */
  readonly id: string;
  readonly tenant: string;
  readonly run_id: string;
  readonly action_id: string;
  readonly occurred_at: string;
  readonly tool: string | null;
  readonly agent: string | null;
  readonly decision: string | null;
  readonly policy: string | null;
  /** The permit's @reason, for the approver. */
  readonly reason: string | null;
  readonly needs: { readonly count: number; readonly roles: readonly string[] } | null;
  readonly expires_at: string | null;
  readonly approvers: readonly string[];
  readonly denied_by: string | null;
}

interface RequestSeen {
  readonly tool?: { readonly name?: string };
  readonly agent?: { readonly id?: string };
  readonly runMode?: string;
}

function requestOf(decided: PolicyDecided): RequestSeen {
  if (decided.request_json === '') return {};
  try {
    return JSON.parse(decided.request_json) as RequestSeen;
  } catch {
    return {};
  }
}

/** The notification a PolicyDecided calls for, if any: the first approval_required, or the decision that ends a request. */
export function notificationOfDecision(decided: PolicyDecided): ApprovalNotification | undefined {
  const { meta } = decided;
  if (meta.action_id === null) return undefined;
  const asked = decided.decision === 'approval_required' && decided.approvals.length === 0 && decided.denied_by === null;
  const answered = decided.decision !== 'approval_required' && (decided.approvals.length > 0 || decided.denied_by !== null);
  if (!asked && !answered) return undefined;
  const request = requestOf(decided);
  // A shadow run's action only says it would await an approval: nobody is asked.
  if (request.runMode === 'shadow') return undefined;
  const tool = request.tool?.name ?? decided.warrant?.tool ?? null;
  const agent = request.agent?.id ?? decided.warrant?.agent_id ?? null;
  const requirement = decided.approval_requirement;
  const approvers = decided.approvals.map((a) => a.approver_id);
  const expiresAt = requirement?.expires_in_ms == null ? null : new Date(meta.occurred_at + requirement.expires_in_ms).toISOString();
  const what = `${tool ?? 'an action'}${agent === null ? '' : ` by ${agent}`} in ${meta.tenant_id} (action ${meta.action_id})`;
  const text = asked
    ? `Approval requested: ${what} needs ${requirement?.count ?? 1} approval(s) by ${requirement === null || requirement.roles.length === 0 ? 'an approver the policies permit' : requirement.roles.join(', ')} (${requirement?.policy_id ?? decided.determining_policies.join(', ')})${expiresAt === null ? '' : `, until ${expiresAt}`}.${requirement?.reason == null ? '' : ` Why: ${requirement.reason}`}`
    : decided.denied_by !== null
      ? `Approval denied: ${what} was denied by ${decided.denied_by}.`
      : `Approval decided: ${what} is ${decided.decision === 'allow' ? 'allowed' : 'denied'} after the approval of ${approvers.join(', ')}.`;
  return {
    text,
    event: asked ? 'approval.requested' : 'approval.decided',
    id: meta.event_id,
    tenant: meta.tenant_id,
    run_id: meta.run_id,
    action_id: meta.action_id,
    occurred_at: new Date(meta.occurred_at).toISOString(),
    tool,
    agent,
    decision: decided.decision,
    policy: requirement?.policy_id ?? decided.determining_policies[0] ?? null,
    reason: requirement?.reason ?? null,
    needs: requirement === null ? null : { count: requirement.count, roles: requirement.roles },
    expires_at: expiresAt,
    approvers,
    denied_by: decided.denied_by,
  };
}

/** The notification of an action the planner ended because nobody approved it in time. */
export function notificationOfCompletion(completed: ActionCompleted): ApprovalNotification | undefined {
  const { meta } = completed;
  if (meta.action_id === null || completed.reason_code !== 'APPROVAL_TIMEOUT') return undefined;
  return {
    text: `Approval expired: action ${meta.action_id} in ${meta.tenant_id} was not approved in time and did not run (${completed.reason}).`,
    event: 'approval.expired',
    id: meta.event_id,
    tenant: meta.tenant_id,
    run_id: meta.run_id,
    action_id: meta.action_id,
    occurred_at: new Date(meta.occurred_at).toISOString(),
    tool: null,
    agent: null,
    decision: null,
    policy: null,
    reason: null,
    needs: null,
    expires_at: null,
    approvers: [],
    denied_by: null,
  };
}

/** An action still awaiting approval whose escalation is due (escalationDue): who may now act. */
export interface DueEscalation {
  readonly tenant: string;
  readonly run_id: string;
  readonly action_id: string;
  readonly tool: string;
  readonly agent: string;
  /** The permit that asked for the approval. */
  readonly policy: string;
  readonly roles: readonly string[];
  readonly afterMs: number;
  /** When the action first awaited approval (ms). */
  readonly since: number;
}

function duration(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000} h`;
  if (ms % 60_000 === 0) return `${ms / 60_000} min`;
  return `${Math.round(ms / 1000)} s`;
}

/**
 * The notification that an approval escalated: unanswered for the permit's @approval_escalate_after,
 * its @approval_escalate_to roles may now act. Its id is the action's, so a receiver drops the
 * repeat a restarted or second policy service instance may send.
 */
export function notificationOfEscalation(due: DueEscalation): ApprovalNotification {
  const at = due.since + due.afterMs;
  return {
    text: `Approval escalated: ${due.tool} by ${due.agent} in ${due.tenant} (action ${due.action_id}) has waited ${duration(due.afterMs)} for approval (${due.policy}); ${due.roles.join(', ')} may now approve.`,
    event: 'approval.escalated',
    id: `escalated:${due.action_id}`,
    tenant: due.tenant,
    run_id: due.run_id,
    action_id: due.action_id,
    occurred_at: new Date(at).toISOString(),
    tool: due.tool,
    agent: due.agent,
    decision: 'approval_required',
    policy: due.policy,
    reason: null,
    // How many of them a policy asks for is the policy's: the roles are in the text.
    needs: null,
    expires_at: null,
    approvers: [],
    denied_by: null,
  };
}
