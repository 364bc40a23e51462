import type { ActionAdmitted, ActionCompleted, ApprovalRecorded, PolicyDecided, PolicyDecision } from '@writ/contracts';
import type { ApprovalGrant } from '@writ/policy-engine';

/** What the PDP remembers of an admitted action until it ends. */
export interface AdmittedAction {
  readonly action_id: string;
  readonly tenant: string;
  readonly run_id: string;
  readonly agent_id: string;
  readonly tool: string;
  readonly tool_version: string;
  readonly arguments_json: string;
  readonly args_sha256: string;
  readonly run_stats: ActionAdmitted['run_stats'];
  /** event_id of the ActionAdmitted: the causation of the decisions about it. */
  readonly admitted_event_id: string;
}

export interface ActionRecord {
  /** Dropped once the action is terminal (its arguments are no longer needed). */
  readonly admitted: AdmittedAction | undefined;
  /** The latest decision emitted; undefined while undecided. */
  readonly decision: PolicyDecision | undefined;
  /** Accepted "approve" verdicts, in the order they were recorded (one per approver). */
  readonly approvals: readonly ApprovalGrant[];
  readonly terminal: boolean;
}

/**
 * The PDP's memory, rebuilt at boot by folding writ.actions.v1 and writ.policy.v1 (its own
 * outputs included), then kept current by folding each input and each output it produced.
 */
export interface PdpState {
  readonly actions: Map<string, ActionRecord>;
  /** event_ids of the ApprovalSubmitted events already answered by an ApprovalRecorded. */
  readonly answeredSubmissions: Set<string>;
}

/** The events the PDP folds; anything else on its topics is ignored. */
export type PdpEvent =
  | { readonly type: 'ActionAdmitted'; readonly payload: ActionAdmitted }
  | { readonly type: 'PolicyDecided'; readonly payload: PolicyDecided }
  | { readonly type: 'ApprovalRecorded'; readonly payload: ApprovalRecorded }
  | { readonly type: 'ActionCompleted'; readonly payload: ActionCompleted };

export function emptyPdpState(): PdpState {
  return { actions: new Map(), answeredSubmissions: new Set() };
}

const EMPTY: ActionRecord = { admitted: undefined, decision: undefined, approvals: [], terminal: false };

export function admittedActionOf(event: ActionAdmitted): AdmittedAction | undefined {
  const { meta } = event;
  if (meta.action_id === null) return undefined;
  return {
    action_id: meta.action_id,
    tenant: meta.tenant_id,
    run_id: meta.run_id,
    agent_id: event.agent_id,
    tool: event.tool,
    tool_version: event.tool_version,
    arguments_json: event.arguments_json,
    args_sha256: event.args_sha256,
    run_stats: event.run_stats,
    admitted_event_id: meta.event_id,
  };
}

function update(state: PdpState, actionId: string | null, change: (record: ActionRecord) => ActionRecord): void {
  if (actionId === null) return;
  state.actions.set(actionId, change(state.actions.get(actionId) ?? EMPTY));
}

/**
 * Folds one event into the state (in place: the state is the service's working memory). Folding
 * the same event twice changes nothing, so a redelivered input or a replayed output is harmless.
 */
export function evolvePdpState(state: PdpState, event: PdpEvent): void {
  switch (event.type) {
    case 'ActionAdmitted': {
      const admitted = admittedActionOf(event.payload);
      update(state, event.payload.meta.action_id, (record) =>
        record.admitted !== undefined || record.terminal || admitted === undefined ? record : { ...record, admitted },
      );
      return;
    }
    case 'PolicyDecided':
      update(state, event.payload.meta.action_id, (record) =>
        // A final decision is never replaced by a pending one (a redelivery cannot reopen it).
        record.decision === 'allow' || record.decision === 'deny' ? record : { ...record, decision: event.payload.decision },
      );
      return;
    case 'ApprovalRecorded': {
      const recorded = event.payload;
      const submission = recorded.meta.causation_id;
      if (submission !== null) state.answeredSubmissions.add(submission);
      if (!recorded.accepted || recorded.verdict !== 'approve') return;
      update(state, recorded.meta.action_id, (record) =>
        record.approvals.some((a) => a.approverId === recorded.approver_id)
          ? record
          : { ...record, approvals: [...record.approvals, { approverId: recorded.approver_id, role: recorded.approver_role }] },
      );
      return;
    }
    case 'ActionCompleted':
      update(state, event.payload.meta.action_id, (record) => ({ ...record, admitted: undefined, terminal: true }));
      return;
    default: {
      const never: never = event;
      throw new Error(`unexpected event ${JSON.stringify(never)}`);
    }
  }
}
