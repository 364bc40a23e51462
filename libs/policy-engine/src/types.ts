/** What a tool does to the world; mirrors the Writ::Effect enum of the schema. */
export type ToolEffect = 'read' | 'write' | 'destructive';
/** How bad a wrong call would be; mirrors the Writ::Risk enum of the schema. */
export type ToolRisk = 'low' | 'medium' | 'high';

export type PolicyDecision = 'allow' | 'deny' | 'approval_required';

/**
 * How a policy takes part in decisions (annotation `@mode`, default enforce): enforce decides;
 * warn never changes a decision but names itself in the decision's warnings when it would have;
 * shadow is evaluated on every request and its result recorded beside the decision, never enforced.
 */
export type PolicyMode = 'enforce' | 'warn' | 'shadow';
export const POLICY_MODES: readonly PolicyMode[] = ['enforce', 'warn', 'shadow'];

/**
 * approval_requirement.policy_id of the approval a budget asks for once a reservation reached its
 * approval step (docs/budgets.md): no Cedar permit asked for it, the policies allowed.
 */
export const BUDGET_APPROVAL_POLICY = 'writ:budget-approval-step';

export interface AgentIdentity {
  readonly id: string;
  readonly role: string;
  /** The user accountable for the agent (a Writ::User id). */
  readonly owner: string;
}

export interface ToolDescriptor {
  readonly name: string;
  readonly version: string;
  readonly effect: ToolEffect;
  readonly risk: ToolRisk;
}

export interface RunStats {
  readonly steps: number;
  readonly spendMicros: number;
  /** Calls of this tool in the current rate window. */
  readonly callsInWindow: number;
}

/** One recorded approval of a pending action. */
export interface ApprovalGrant {
  readonly approverId: string;
  /** The approver's role when they approved (e.g. "manager"). */
  readonly role: string;
}

/** May this agent invoke this tool with these (already schema-validated) arguments? */
export interface DecisionRequest {
  readonly tenant: string;
  readonly agent: AgentIdentity;
  readonly tool: ToolDescriptor;
  readonly arguments: Readonly<Record<string, unknown>>;
  readonly runStats: RunStats;
  /** Approvals recorded so far; absent or empty on the first decision. */
  readonly approvals?: readonly ApprovalGrant[];
  /**
   * context.history: the value of each history fact the policy set defines, by name (absent: the
   * fact's zero — 0, false or "none"). The PDP computes them from the decisions before this one.
   */
  readonly history?: Readonly<Record<string, number | boolean | string>>;
  /** The definition (normal form) of each fact in `history`, by name: a backtest reuses a value only for the same definition. */
  readonly historyFacts?: Readonly<Record<string, string>>;
  /**
   * context.approval.escalated: the action has waited for approval at least the escalation delay of
   * the permit that asked for it (@approval_escalate_after). Absent: false.
   */
  readonly escalated?: boolean;
  /**
   * shadow: the action belongs to a shadow run (decided and budgeted, never executed). Recorded
   * with the request (PolicyDecided.request_json) so that nobody is paged for an approval it will
   * never need; Cedar does not see it. Absent: live.
   */
  readonly runMode?: 'live' | 'shadow';
}

/** The approval a policy asks for before it would permit, read from its annotations. */
export interface ApprovalRequirement {
  readonly policyId: string;
  readonly count: number;
  readonly roles: readonly string[];
  /** From the permit's @approval_expires_in; absent: the planner's default wait. */
  readonly expiresInMs?: number;
  /** The permit's @reason, for the approver. */
  readonly reason?: string;
  /** From @approval_escalate_after / @approval_escalate_to. */
  readonly escalation?: ApprovalEscalation;
}

/**
 * An approval that escalates: unanswered for `afterMs` since the action first awaited it,
 * `context.approval.escalated` is true (so a policy may accept other approvers then) and the
 * tenant's webhook is told that `roles` may now act.
 */
export interface ApprovalEscalation {
  readonly afterMs: number;
  readonly roles: readonly string[];
}

export interface Decision {
  readonly decision: PolicyDecision;
  /**
   * allow: the permits that allowed; deny: the forbids that denied (empty for default deny);
   * approval_required: the permits that would allow once approved.
   */
  readonly determiningPolicies: readonly string[];
  /** Evaluation errors, "<policy id>: <message>"; a policy that errored was not applied. */
  readonly errors: readonly string[];
  readonly policySetHash: string;
  /** Present for approval_required only. */
  readonly approval?: ApprovalRequirement;
  /** Warn-mode policies that would have changed the decision had they been enforced (sorted); empty when none would. */
  readonly warnings: readonly string[];
  /** Each shadow-mode policy's result: the decision with it enforced too, by policy id. */
  readonly shadowResults: readonly ShadowResult[];
}

/** What one shadow-mode policy would have decided had it been enforced (beside the enforced policies). */
export interface ShadowResult {
  readonly policyId: string;
  readonly decision: PolicyDecision;
  readonly determiningPolicies: readonly string[];
}

export interface Approver {
  readonly id: string;
  readonly role: string;
  readonly tenant: string;
}

export interface PendingAction {
  readonly actionId: string;
  readonly tenant: string;
  readonly agent: AgentIdentity;
  readonly tool: ToolDescriptor;
  readonly arguments: Readonly<Record<string, unknown>>;
}

/** May this user approve this pending action (Cedar action `approve`)? */
export interface ApprovalAuthorizationRequest {
  readonly approver: Approver;
  readonly pendingAction: PendingAction;
}

export interface ApprovalAuthorization {
  readonly decision: 'allow' | 'deny';
  readonly determiningPolicies: readonly string[];
  readonly errors: readonly string[];
  readonly policySetHash: string;
}
