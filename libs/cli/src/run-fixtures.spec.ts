// Test helpers (no tests here): a recorded run written event by event as the ledger projects it
// (each topic's offsets counted), and a decision point double with the demo's rules in miniature.
import type { Decision, DecisionPoint, DecisionRequest } from '@writ/policy-engine';
import type { RecordedEvent } from './run-record.ts';

export const SET_A = 'a'.repeat(64);
export const SET_B = 'b'.repeat(64);
export const AGENT = { id: 'triage-bot', role: 'support', owner: 'dana' };
/** The accountant's reservation time-to-live in these records. */
export const TTL_MS = 3_600_000;

const TOPIC: Readonly<Record<string, string>> = {
  RunStarted: 'writ.proposals.v1',
  ActionProposed: 'writ.proposals.v1',
  ActionAdmitted: 'writ.actions.v1',
  ActionRejected: 'writ.actions.v1',
  ActionCompleted: 'writ.actions.v1',
  RunEnded: 'writ.actions.v1',
  PolicyDecided: 'writ.policy.v1',
  ApprovalRecorded: 'writ.policy.v1',
  ApprovalSubmitted: 'writ.approvals.v1',
  BudgetReserved: 'writ.budget.v1',
  BudgetRefused: 'writ.budget.v1',
  BudgetSettled: 'writ.budget.v1',
  ExecutionRequested: 'writ.executions.v1',
  ActionExecuted: 'writ.outcomes.v1',
  ActionFailed: 'writ.outcomes.v1',
};

const TOOLS: Readonly<Record<string, { version: string; effect: string; risk: string }>> = {
  'refunds.issue': { version: '1.2.0', effect: 'write', risk: 'medium' },
  'customers.delete': { version: '1.0.0', effect: 'destructive', risk: 'high' },
  'tickets.get': { version: '1.0.0', effect: 'read', risk: 'low' },
};

export function requestOf(tool: string, args: Record<string, unknown>, steps: number, approvals: { approverId: string; role: string }[] = []): DecisionRequest {
  const t = TOOLS[tool] ?? { version: '1.0.0', effect: 'write', risk: 'low' };
  return {
    tenant: 'acme',
    agent: AGENT,
    tool: { name: tool, version: t.version, effect: t.effect as 'write', risk: t.risk as 'low' },
    arguments: args,
    runStats: { steps, spendMicros: 0, callsInWindow: 0 },
    approvals,
  };
}

/** A run's record, built in the order things happened. */
export class RecordedRun {
  readonly events: RecordedEvent[] = [];
  readonly #offsets = new Map<string, number>();
  #clock = Date.UTC(2026, 11, 7, 9, 0, 0);
  #mode = 'live';

  constructor(readonly runId = 'run-1') {}

  /** `payload` may be a function of the event's time (a reservation's expiry). */
  add(
    type: string,
    actionId: string | null,
    payload: Record<string, unknown> | ((at: number) => Record<string, unknown>),
    causation: string | null = null,
  ): RecordedEvent {
    const topic = TOPIC[type] ?? 'writ.other.v1';
    const offset = this.#offsets.get(topic) ?? 0;
    this.#offsets.set(topic, offset + 1);
    const eventId = `e${this.events.length + 1}`;
    const at = (this.#clock += 10);
    const fields = typeof payload === 'function' ? payload(at) : payload;
    const event: RecordedEvent = {
      eventId,
      type,
      topic,
      partition: 0,
      offset,
      chainSeq: this.events.length,
      payload: {
        meta: {
          event_id: eventId,
          occurred_at: at,
          tenant_id: 'acme',
          run_id: this.runId,
          action_id: actionId,
          causation_id: causation,
          producer: 'test@1',
        },
        ...fields,
      },
    };
    this.events.push(event);
    return event;
  }

  /** The tool an action proposed (null when it proposed none). */
  toolOf(actionId: string): string | null {
    const proposal = this.events.find((e) => e.type === 'ActionProposed' && (e.payload['meta'] as { action_id: string | null }).action_id === actionId);
    return (proposal?.payload['tool'] as string | undefined) ?? null;
  }

  started(limits: Record<string, unknown> = {}, mode = 'live'): this {
    this.#mode = mode;
    this.add('RunStarted', null, {
      agent_id: AGENT.id,
      goal: 'triage',
      limits: { max_steps: null, max_tool_calls: null, max_cost_micros: null, wall_clock_ms: null, currency: 'USD', ...limits },
      mode,
    });
    return this;
  }

  proposed(actionId: string, tool: string, args: Record<string, unknown>): this {
    this.add('ActionProposed', actionId, {
      agent_id: AGENT.id,
      tool,
      tool_version: null,
      arguments_json: JSON.stringify(args),
      args_sha256: '0'.repeat(64),
      reason: 'because',
      idempotency_key: actionId,
      mode: this.#mode,
    });
    this.add('ActionAdmitted', actionId, { agent_id: AGENT.id, tool, tool_version: TOOLS[tool]?.version ?? '1.0.0', arguments_json: JSON.stringify(args) });
    return this;
  }

  decided(
    actionId: string,
    decision: string,
    policies: string[],
    request: DecisionRequest | undefined,
    extra: Record<string, unknown> = {},
    causation: string | null = null,
  ): RecordedEvent {
    return this.add(
      'PolicyDecided',
      actionId,
      {
        decision,
        determining_policies: policies,
        policy_set_hash: SET_A,
        policy_set_version: '1.0.0',
        warrant: null,
        errors: [],
        approval_requirement: null,
        approvals: request?.approvals?.map((a) => ({ approver_id: a.approverId, role: a.role })) ?? [],
        denied_by: null,
        run_stats: request === undefined ? null : { steps: request.runStats.steps, spend_micros: 0, tool_calls_in_window: 0, currency: 'USD' },
        warnings: [],
        shadow_results: [],
        request_json: request === undefined ? '' : JSON.stringify(request),
        ...extra,
      },
      causation,
    );
  }

  approval(actionId: string, approver: string, role: string, accepted: boolean, policies: string[], causation: string): this {
    const reason = accepted
      ? `permitted by ${policies.join(', ')}`
      : policies.length > 0
        ? `forbidden by ${policies.join(', ')}`
        : 'no policy permits this approver to approve it';
    this.add(
      'ApprovalRecorded',
      actionId,
      { approver_id: approver, verdict: 'approve', accepted, reason, approver_role: role, determining_policies: policies },
      causation,
    );
    return this;
  }

  /** The accountant's reservation, as it writes one (its expiry TTL_MS on, the run's local day). */
  reserved(actionId: string, amount: number, extra: Record<string, unknown> = {}): this {
    this.add('BudgetReserved', actionId, (at) => ({
      reservation_id: actionId,
      amount_micros: amount,
      currency: 'USD',
      expires_at: at + TTL_MS,
      key_id: 'k',
      signature: 's',
      agent_id: AGENT.id,
      tool: this.toolOf(actionId),
      tool_calls: 1,
      day: '2026-12-07',
      approval_step: null,
      ...extra,
    }));
    return this;
  }

  refused(actionId: string, fields: { scope: string; kind: string; limit: number; used: number; requested: number; rule?: string }): this {
    this.add('BudgetRefused', actionId, { agent_id: AGENT.id, currency: 'USD', subject: this.runId, period: null, window_ms: null, rule: 'cap', ...fields });
    return this;
  }

  settled(actionId: string, disposition: 'settled' | 'released' | 'expired', actual: number, released: number, reserved: number): this {
    this.add('BudgetSettled', actionId, {
      reservation_id: actionId,
      actual_cost_micros: actual,
      released_micros: released,
      currency: 'USD',
      disposition,
      agent_id: AGENT.id,
      day: null,
      reserved_micros: reserved,
      overrun_micros: 0,
      tool_calls: 1,
      late: false,
    });
    return this;
  }

  executed(actionId: string, tool: string, cost: number): this {
    this.add('ExecutionRequested', actionId, { agent_id: AGENT.id, tool });
    this.add('ActionExecuted', actionId, {
      outcome: 'succeeded',
      tool,
      reservation_id: actionId,
      result_json: '{}',
      result_sha256: '',
      cost_micros: cost,
      currency: 'USD',
      side_effect_refs: [],
      verified: null,
      attempts: 1,
      duration_ms: 5,
    });
    return this;
  }

  completed(actionId: string, status: string, code: string, cost = 0): this {
    this.add('ActionCompleted', actionId, { status, reason: status, reason_code: code, result_json: null, cost_micros: cost, currency: 'USD' });
    return this;
  }

  /** An allowed refund that ran: proposed, allowed, reserved, executed, settled, completed. */
  allowedRefund(actionId: string, amountCents: number, steps: number, cost = 20_000): this {
    const args = { ticket_id: 'T-1', customer_id: 'C-1', amount_cents: amountCents, ticket_tags: ['refund_approved'], reason: 'x' };
    this.proposed(actionId, 'refunds.issue', args);
    this.decided(actionId, 'allow', ['refund-up-to-100-support'], requestOf('refunds.issue', args, steps));
    this.reserved(actionId, 20_000)
      .executed(actionId, 'refunds.issue', cost)
      .settled(actionId, 'settled', cost, 20_000 - cost, 20_000);
    return this.completed(actionId, 'completed', 'SUCCEEDED', cost);
  }

  /** A customer delete: proposed, denied, reserved and released, ended denied. */
  deniedDelete(actionId: string, steps: number): this {
    const args = { customer_id: 'C-9' };
    this.proposed(actionId, 'customers.delete', args);
    this.decided(actionId, 'deny', ['customer-delete-forbidden'], requestOf('customers.delete', args, steps));
    this.reserved(actionId, 2_000).settled(actionId, 'released', 0, 2_000, 2_000);
    return this.completed(actionId, 'denied', 'POLICY_DENIED');
  }
}

/**
 * The demo's rules in miniature: refunds up to $100 allowed, above held for one manager who is not
 * the owner, deletes forbidden, reads allowed; managers approve, owners may not. `frozen`: a
 * candidate that forbids every refund.
 */
export function demoPoint(hash = SET_A, options: { frozen?: boolean } = {}): DecisionPoint {
  const decide = (request: DecisionRequest): Decision => {
    const base = { errors: [], policySetHash: hash, warnings: [], shadowResults: [] };
    const amount = Number(request.arguments['amount_cents'] ?? 0);
    if (request.tool.name === 'customers.delete') return { ...base, decision: 'deny', determiningPolicies: ['customer-delete-forbidden'] };
    if (request.tool.name === 'refunds.issue') {
      if (options.frozen === true) return { ...base, decision: 'deny', determiningPolicies: ['refunds-frozen'] };
      if (amount <= 10_000) return { ...base, decision: 'allow', determiningPolicies: ['refund-up-to-100-support'] };
      const approved = (request.approvals ?? []).some((a) => a.role === 'manager' && a.approverId !== request.agent.owner);
      return approved
        ? { ...base, decision: 'allow', determiningPolicies: ['refund-over-100-needs-manager-approval'] }
        : {
            ...base,
            decision: 'approval_required',
            determiningPolicies: ['refund-over-100-needs-manager-approval'],
            approval: { policyId: 'refund-over-100-needs-manager-approval', count: 1, roles: ['manager'] },
          };
    }
    if (request.tool.effect === 'read') return { ...base, decision: 'allow', determiningPolicies: ['read-tools-allowed'] };
    return { ...base, decision: 'deny', determiningPolicies: [] };
  };
  return {
    policySetHash: hash,
    version: options.frozen === true ? 'frozen' : '1.0.0',
    history: [],
    escalations: {},
    decide,
    authorizeApproval: ({ approver, pendingAction }) => {
      const base = { errors: [], policySetHash: hash };
      if (approver.id === pendingAction.agent.owner) return { ...base, decision: 'deny', determiningPolicies: ['owner-may-not-approve'] };
      if (approver.role === 'manager') return { ...base, decision: 'allow', determiningPolicies: ['managers-approve-in-own-tenant'] };
      return { ...base, decision: 'deny', determiningPolicies: [] };
    },
  };
}
