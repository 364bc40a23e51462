import { WritError } from '@writ/errors';

export interface RunLimits {
  readonly max_steps?: number;
  readonly max_cost_micros?: number;
  readonly max_tool_calls?: number;
  readonly wall_clock_ms?: number;
  readonly currency?: string;
}

/** live (default): allowed actions execute; shadow: they are decided, budgeted and recorded, never executed. */
export type RunMode = 'live' | 'shadow';

/** A run as the gateway reports it. */
export interface RunView {
  readonly run_id: string;
  readonly agent_id: string;
  readonly goal: string;
  readonly mode: RunMode;
  readonly status: string;
  readonly [more: string]: unknown;
}

/**
 * Where a proposal came from, recorded with it (the ledger, its export, ClickHouse, `writ explain`).
 * Metadata only: ids, versions and the sha256 of what was read, never a document's content, a
 * prompt's text or a secret. At least one field; at most 32 documents.
 */
export interface ProposalProvenance {
  readonly model?: { readonly name: string; readonly provider?: string; readonly version?: string };
  readonly prompt_version?: string;
  /** `sha256`: 64 lowercase hex digits of the exact content the agent read. */
  readonly retrieved_documents?: readonly { readonly id: string; readonly version?: string; readonly sha256: string }[];
}

export interface ProposeRequest {
  readonly tool: string;
  readonly arguments: Readonly<Record<string, unknown>>;
  readonly reason: string;
  readonly idempotency_key: string;
  readonly provenance?: ProposalProvenance;
}

/** An action as the gateway reports it; terminal statuses are those of ActionCompleted. */
export interface ActionView {
  readonly action_id: string;
  readonly run_id: string;
  readonly status: string;
  /** The action belongs to a shadow run: nothing executed; the status and result say what would have happened. */
  readonly shadow?: boolean;
  readonly tool?: string;
  readonly reason?: string;
  readonly determining_policies?: readonly string[];
  readonly cost_micros?: number;
  readonly result?: unknown;
  readonly [more: string]: unknown;
}

export const TERMINAL_STATUSES = ['completed', 'failed', 'denied', 'rejected', 'refused', 'expired'] as const;

export function isTerminal(status: string): boolean {
  return (TERMINAL_STATUSES as readonly string[]).includes(status);
}

/** The gateway's error body: `{ error: { code, message, field?, rule? } }`. */
interface ErrorBody {
  readonly error?: { code?: string; message?: string; field?: string; rule?: string };
}

/**
 * A client of the Writ gateway's HTTP API, authenticated with one API key (an agent's, an
 * approver's or an operator's). Every non-2xx answer becomes a WritError carrying the gateway's
 * code, field and rule, plus the HTTP status in `details.status`.
 */
export class WritClient {
  readonly #baseUrl: string;
  readonly #apiKey: string;

  constructor(baseUrl: string, apiKey: string) {
    this.#baseUrl = baseUrl;
    this.#apiKey = apiKey;
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await fetch(new URL(path, this.#baseUrl), {
      method,
      headers: {
        authorization: `Bearer ${this.#apiKey}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    const parsed: unknown = text === '' ? undefined : JSON.parse(text);
    if (!response.ok) {
      const error = (parsed as ErrorBody | undefined)?.error;
      throw new WritError<string>(error?.code ?? `HTTP_${response.status}`, error?.message ?? `${method} ${path}: HTTP ${response.status}`, {
        ...(error?.field === undefined ? {} : { field: error.field }),
        ...(error?.rule === undefined ? {} : { rule: error.rule }),
        details: { status: response.status },
      });
    }
    return parsed as T;
  }

  /** Opens a run; `mode` shadow: its actions are decided, budgeted and recorded, but nothing executes. */
  openRun(goal: string, limits?: RunLimits, mode?: RunMode): Promise<{ run_id: string }> {
    return this.request('POST', '/v1/runs', { goal, ...(mode === undefined ? {} : { mode }), ...(limits === undefined ? {} : { limits }) });
  }

  run(runId: string): Promise<RunView> {
    return this.request('GET', `/v1/runs/${encodeURIComponent(runId)}`);
  }

  propose(runId: string, proposal: ProposeRequest): Promise<{ action_id: string; status: string }> {
    return this.request('POST', `/v1/runs/${encodeURIComponent(runId)}/actions`, proposal);
  }

  action(actionId: string): Promise<ActionView> {
    return this.request('GET', `/v1/actions/${encodeURIComponent(actionId)}`);
  }

  /** Long-polls until the action is terminal or `timeoutMs` passes (then the current state). */
  async outcome(actionId: string, timeoutMs = 30_000): Promise<ActionView> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const wait = Math.max(0, Math.min(10_000, deadline - Date.now()));
      const view = await this.request<ActionView>('GET', `/v1/actions/${encodeURIComponent(actionId)}/outcome?timeout_ms=${wait}`);
      if (isTerminal(view.status) || Date.now() >= deadline) return view;
    }
  }

  pendingApprovals(): Promise<{ approvals: readonly ActionView[] }> {
    return this.request('GET', '/v1/approvals?status=pending');
  }

  decide(actionId: string, verdict: 'approve' | 'deny', comment?: string): Promise<unknown> {
    return this.request('POST', `/v1/approvals/${encodeURIComponent(actionId)}`, {
      verdict,
      ...(comment === undefined ? {} : { comment }),
    });
  }

  /**
   * Pulls or releases a kill switch, or switches safe mode, in the caller's tenant (an operator's
   * or admin's key): for every tool of the tenant, one tool or one agent. `platform: true` acts on
   * every tenant (a platform admin's key), for every tool or one tool.
   */
  setControl(control: ControlRequest, enabled: boolean, reason: string): Promise<ControlView> {
    const subject =
      control.tool !== undefined
        ? `/tools/${encodeURIComponent(control.tool)}`
        : control.agent !== undefined
          ? `/agents/${encodeURIComponent(control.agent)}`
          : '';
    return this.request('PUT', `/v1/controls${control.platform === true ? '/platform' : ''}${subject}/${control.kind}`, { enabled, reason });
  }

  setToolKillSwitch(tool: string, enabled: boolean, reason: string): Promise<ControlView> {
    return this.setControl({ kind: 'kill-switch', tool }, enabled, reason);
  }

  /** The controls that apply to the caller's tenant (its own and the platform-wide ones). */
  controls(): Promise<{ controls: readonly ControlView[] }> {
    return this.request('GET', '/v1/controls');
  }
}

/** Which control: a kill switch or safe mode, of the tenant, a tool or an agent (a platform control: every tenant). */
export type ControlRequest = { readonly kind: 'kill-switch' | 'safe-mode' } & (
  | { readonly tool?: undefined; readonly agent?: undefined; readonly platform?: boolean }
  | { readonly tool: string; readonly agent?: undefined; readonly platform?: boolean }
  | { readonly agent: string; readonly tool?: undefined; readonly platform?: false }
);

export interface ControlView {
  readonly control_key: string;
  readonly kind: string;
  readonly target: string;
  readonly enabled: boolean;
  readonly reason: string;
  readonly set_by: string;
  readonly [field: string]: unknown;
}
