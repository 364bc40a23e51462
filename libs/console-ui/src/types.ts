// The gateway's JSON as the console reads it (services/gateway/openapi.json): only the fields it shows.

export interface ApprovalJson {
  readonly approver_id: string;
  readonly approver_role: string;
  readonly verdict: string;
  readonly comment: string | null;
  readonly accepted: boolean | null;
  readonly reason: string | null;
  readonly recorded_at: string | null;
  readonly submitted_at: string | null;
}

export interface ApprovalRequestJson {
  readonly tool: string | null;
  readonly effect: string | null;
  readonly risk: string | null;
  readonly policy: string;
  readonly reason: string | null;
  readonly needs: { readonly count: number; readonly roles: readonly string[] };
  readonly approved_by: readonly string[];
  readonly requested_at: string | null;
  readonly expires_at: string | null;
  readonly proposal_reason: string | null;
  readonly run_spend: { readonly micros: number; readonly currency: string | null } | null;
  readonly previous_similar: {
    readonly action_id: string;
    readonly status: string;
    readonly proposed_at: string | null;
    readonly changes: readonly { readonly field: string; readonly before?: unknown; readonly after?: unknown }[];
  } | null;
}

export interface ActionJson {
  readonly action_id: string;
  readonly run_id: string;
  readonly tenant_id: string;
  readonly agent_id: string | null;
  readonly tool: string | null;
  readonly status: string;
  readonly terminal: boolean;
  readonly shadow: boolean;
  readonly reason: string | null;
  readonly reason_code: string | null;
  readonly arguments: unknown;
  readonly proposal_reason: string | null;
  readonly decision: string | null;
  readonly determining_policies: readonly string[];
  readonly approval_requirement: { readonly count: number; readonly roles: readonly string[] } | null;
  readonly approval_request: ApprovalRequestJson | null;
  readonly denied_by: string | null;
  readonly approvals: readonly ApprovalJson[];
  readonly result: unknown;
  readonly cost_micros: number | null;
  readonly currency: string | null;
  readonly proposed_at: string | null;
  readonly updated_at: string | null;
  readonly completed_at: string | null;
}

/** What a shadow-mode policy would have decided (recorded, never enforced). */
export interface ShadowResultJson {
  readonly policy_id: string;
  readonly decision: string;
  readonly determining_policies: readonly string[];
}

/** An action on a run's timeline (GET /v1/console/runs/{run_id}/timeline): its trace and shadow results too. */
export interface TimelineActionJson extends ActionJson {
  readonly trace_id: string | null;
  readonly trace_url: string | null;
  readonly shadow_results: readonly ShadowResultJson[];
}

export interface RunJson {
  readonly run_id: string;
  readonly tenant_id: string;
  readonly agent_id: string;
  readonly goal: string;
  readonly mode: string;
  readonly status: string;
  readonly reason: string | null;
  readonly started_at: string | null;
  readonly ended_at: string | null;
}

export interface ControlJson {
  readonly control_key: string;
  readonly scope: string;
  readonly control: 'kill_switch' | 'safe_mode';
  readonly subject: 'all' | 'tool' | 'agent';
  readonly tool?: string;
  readonly agent?: string;
  readonly target: string;
  readonly enabled: boolean;
  readonly reason: string;
  readonly set_by: string;
  readonly set_at?: string;
}

export type ConsoleView = 'approvals' | 'runs' | 'controls' | 'spend' | 'ledger';

export interface ConsoleSession {
  readonly user_id: string;
  readonly name: string | null;
  readonly tenant: string;
  readonly roles: readonly string[];
  readonly views: readonly ConsoleView[];
}

export interface QueryAnswer {
  readonly rows: readonly Record<string, unknown>[];
}
