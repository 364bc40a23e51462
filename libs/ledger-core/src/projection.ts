// What the ledger writes to ClickHouse for each committed chain entry: pure mapping from the entry
// and its event to rows, with sensitive tool fields redacted first (invariant 6). The service does
// the I/O: it fills ProjectionMemory for the batch (agents of runs, last state of actions) and inserts.
import { ALL_TENANTS } from '@writ/config';
import type { TenantFilter } from '@writ/config';
import { canonicalJson } from '@writ/crypto';
import { decodeEvent } from '@writ/contracts';
import type { DecodedEvent, EventPayloads, LedgerCheckpoint, LedgerEntry, Metadata, Provenance } from '@writ/contracts';
import { REDACTED, redactJson } from '@writ/tools';
import type { ToolRegistry } from '@writ/tools';

/** Replaces sensitive tool fields in arguments/results JSON. */
export interface Redactor {
  arguments(tool: string, version: string | null, json: string): string;
  result(tool: string, version: string | null, json: string): string;
}

/**
 * Redaction by the tool registry. Arguments of a tool the registry does not know are withheld
 * entirely (nothing says which fields are safe); results of unknown tools are kept, because the
 * executor, which knew the tool, already redacted them before they left it.
 */
export function registryRedactor(registry: Pick<ToolRegistry, 'get'>): Redactor {
  const withheld = canonicalJson(REDACTED);
  const safely = (json: string, redact: () => string): string => {
    try {
      return redact();
    } catch {
      return json === '' ? json : withheld; // not JSON: nothing to go by, so nothing is shown
    }
  };
  return {
    arguments(tool, version, json) {
      const definition = registry.get(tool, version ?? undefined);
      return definition === undefined ? withheld : safely(json, () => redactJson(definition, json, 'arguments'));
    },
    result(tool, version, json) {
      const definition = registry.get(tool, version ?? undefined);
      return definition === undefined ? json : safely(json, () => redactJson(definition, json, 'result'));
    },
  };
}

export interface ActionRow {
  readonly tenant_id: string;
  readonly action_id: string;
  readonly run_id: string;
  readonly agent_id: string;
  readonly tool: string;
  readonly tool_version: string;
  readonly idempotency_key: string;
  readonly reason: string;
  readonly arguments: string;
  readonly args_sha256: string;
  /**
   * The last step seen: proposed, admitted, rejected, decided, approval, reserved, refused,
   * executing, executed, failed, completed. Never goes back from executing, executed/failed or
   * completed: an action's events travel on several topics and may be chained in another order.
   */
  readonly stage: string;
  readonly decision: string;
  readonly determining_policies: readonly string[];
  readonly approved_by: string;
  readonly reservation_id: string;
  /** The terminal status (ActionCompleted), '' until then. */
  readonly status: string;
  readonly status_reason: string;
  /** The stable code of how it ended (ActionCompleted v2 reason_code, e.g. POLICY_DENIED), '' until then and before v2. */
  readonly reason_code: string;
  /** When it ended (its ActionCompleted), null until then. */
  readonly ended_at: string | null;
  readonly outcome: string;
  readonly cost_micros: number;
  readonly currency: string;
  /** live, or shadow: the action's run never executes anything (its status says what would have happened; cost 0). */
  readonly run_mode: string;
  /**
   * An unknown outcome (outcome 'unknown') resolved by an operator (OutcomeReconciled): succeeded
   * or failed, '' while unresolved or never unknown; the first resolution chained counts.
   */
  readonly reconciled_outcome: string;
  readonly reconciled_by: string;
  readonly reconciled_at: string | null;
  /** Provenance the agent gave with the proposal (ActionProposed v3): the model, '' when not given. */
  readonly model_name: string;
  readonly model_provider: string;
  readonly model_version: string;
  readonly prompt_version: string;
  /** The retrieved documents as parallel arrays (version '' when the document has none); [] when none. */
  readonly retrieved_document_ids: readonly string[];
  readonly retrieved_document_versions: readonly string[];
  readonly retrieved_document_sha256: readonly string[];
  readonly proposed_at: string;
  readonly updated_at: string;
  /** Chain seq of the last event folded in: ReplacingMergeTree keeps the highest. */
  readonly version: number;
}

export interface EventRow {
  readonly event_id: string;
  readonly event_type: string;
  readonly schema_version: number;
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly tenant_id: string;
  readonly run_id: string;
  readonly action_id: string | null;
  readonly agent_id: string;
  readonly causation_id: string | null;
  readonly producer: string;
  readonly occurred_at: string;
  readonly chain_seq: number;
  readonly payload: string;
}

export interface LedgerRow {
  /** The entry's hash rule (1: before LedgerEntry v3; 2: every field bound). */
  readonly hash_version: number;
  readonly chain_id: string;
  readonly seq: number;
  readonly prev_hash: string;
  readonly event_hash: string;
  readonly chain_hash: string;
  readonly source_event_id: string;
  readonly event_type: string;
  readonly source_topic: string;
  readonly source_partition: number;
  readonly source_offset: number;
  readonly run_id: string;
  readonly action_id: string | null;
  readonly occurred_at: string;
  /** base64 of the event's exact bytes; '' when withheld because it holds sensitive values. */
  readonly event_bytes: string;
  readonly event_bytes_withheld: number;
  readonly ledger_partition: number;
  readonly ledger_offset: number;
}

export interface CheckpointRow {
  readonly chain_id: string;
  readonly seq: number;
  readonly chain_hash: string;
  readonly key_id: string;
  readonly signature: string;
  readonly signed_at: string;
  readonly ledger_partition: number;
  readonly ledger_offset: number;
}

export interface DecisionRow {
  readonly event_id: string;
  readonly tenant_id: string;
  readonly run_id: string;
  readonly action_id: string;
  readonly agent_id: string;
  readonly decision: string;
  readonly determining_policies: readonly string[];
  readonly policy_set_hash: string;
  readonly errors: readonly string[];
  /** Policies in warn mode that would have changed the decision (PolicyDecided v4; [] before). */
  readonly warnings: readonly string[];
  readonly decided_at: string;
}

/** One shadow-mode policy's result on one decision (PolicyDecided.shadow_results): recorded, never enforced. */
export interface ShadowResultRow {
  /** The PolicyDecided's event id (one row per decision and shadow policy). */
  readonly event_id: string;
  readonly tenant_id: string;
  readonly run_id: string;
  readonly action_id: string;
  readonly agent_id: string;
  readonly policy_set_hash: string;
  /** The shadow policy. */
  readonly policy_id: string;
  /** The decision that was enforced. */
  readonly enforced_decision: string;
  /** The decision had this policy been enforced too. */
  readonly shadow_decision: string;
  readonly shadow_determining_policies: readonly string[];
  /** 1 when the shadow decision differs from the enforced one. */
  readonly disagrees: number;
  readonly decided_at: string;
}

/** One PolicySetPublished: a policy set became its stream's current one (publish, rollback or bootstrap). */
export interface PolicyPublicationRow {
  readonly event_id: string;
  readonly tenant_id: string;
  readonly stream: string;
  readonly sequence: number;
  readonly policy_set_hash: string;
  readonly previous_hash: string | null;
  readonly version: string;
  readonly origin: string;
  readonly author: string;
  readonly message: string;
  /** How many policies the set holds; their ids (never their texts: the events table's payload has those). */
  readonly policies: number;
  readonly policy_ids: readonly string[];
  readonly published_at: string;
}

export interface ApprovalRow {
  readonly event_id: string;
  readonly tenant_id: string;
  readonly run_id: string;
  readonly action_id: string;
  readonly agent_id: string;
  /** submitted (an approver asked) or recorded (the PDP's verdict on it). */
  readonly kind: 'submitted' | 'recorded';
  readonly approver_id: string;
  readonly approver_role: string;
  readonly verdict: string;
  readonly accepted: number | null;
  readonly comment: string;
  readonly at: string;
}

export interface SpendRow {
  readonly event_id: string;
  readonly tenant_id: string;
  readonly agent_id: string;
  readonly run_id: string;
  readonly action_id: string;
  readonly reservation_id: string;
  readonly cost_micros: number;
  readonly released_micros: number;
  readonly currency: string;
  /** The action's run mode (from its proposal): a shadow action's reservation is released at once, never spent. */
  readonly run_mode: string;
  readonly settled_at: string;
}

/**
 * One row per action that ended (table endings), made once both its ActionCompleted and its
 * proposal are folded (they travel on different topics and may be chained in either order), so
 * agent, tool and run mode are those of the proposal.
 */
export interface EndingRow {
  readonly tenant_id: string;
  readonly action_id: string;
  readonly run_id: string;
  readonly agent_id: string;
  readonly tool: string;
  readonly run_mode: string;
  readonly status: string;
  readonly reason_code: string;
  readonly cost_micros: number;
  readonly currency: string;
  readonly proposed_at: string;
  readonly ended_at: string;
}

/**
 * One budget's cap of one kind in a BudgetsConfigured (table budget_limits): every announcement
 * stays; a tenant's current budgets are those of its latest (view current_budget_limits).
 */
export interface BudgetLimitRow {
  readonly event_id: string;
  readonly tenant_id: string;
  readonly config_sha256: string;
  readonly configured_at: string;
  readonly currency: string;
  readonly time_zone: string;
  /** The budget's place in the announcement (its two caps share it). */
  readonly position: number;
  readonly scope: string;
  /** run, tenant, agent or tool (the scope's level). */
  readonly level: string;
  /** run, day, week, month, window or concurrent (the scope's period). */
  readonly period: string;
  readonly subject: string;
  readonly window_ms: number | null;
  readonly kind: 'money' | 'tool_calls';
  readonly limit_value: number;
  readonly thresholds_percent: readonly number[];
  readonly approval_at_percent: number | null;
  readonly reads_only_at_percent: number | null;
}

/** The rows of a BudgetsConfigured: one per budget and kind of cap it has. */
export function budgetLimitRows(payload: EventPayloads['BudgetsConfigured']): BudgetLimitRow[] {
  const { meta } = payload;
  return payload.budgets.flatMap((budget, position) => {
    const [level = budget.scope, period = budget.scope] = budget.scope === 'run' ? ['run', 'run'] : budget.scope.split('_');
    const common = {
      event_id: meta.event_id,
      tenant_id: meta.tenant_id,
      config_sha256: payload.config_sha256,
      configured_at: dateTime64(meta.occurred_at),
      currency: payload.currency,
      time_zone: payload.time_zone,
      position,
      scope: budget.scope,
      level,
      period,
      subject: budget.subject,
      window_ms: budget.window_ms,
      thresholds_percent: [...budget.thresholds_percent],
      approval_at_percent: budget.approval_at_percent,
      reads_only_at_percent: budget.reads_only_at_percent,
    };
    return [
      ...(budget.money_micros === null ? [] : [{ ...common, kind: 'money' as const, limit_value: budget.money_micros }]),
      ...(budget.tool_calls === null ? [] : [{ ...common, kind: 'tool_calls' as const, limit_value: budget.tool_calls }]),
    ];
  });
}

/** One model call's tokens and cost (ModelUsage), per run, agent and model. */
export interface ModelUsageRow {
  readonly event_id: string;
  readonly tenant_id: string;
  readonly run_id: string;
  readonly agent_id: string;
  readonly action_id: string;
  readonly model: string;
  readonly input_tokens: number;
  readonly output_tokens: number;
  readonly cost_micros: number;
  readonly currency: string;
  readonly used_at: string;
}

export interface ProjectionRows {
  readonly events: EventRow[];
  readonly ledger: LedgerRow[];
  readonly checkpoints: CheckpointRow[];
  readonly actions: ActionRow[];
  readonly decisions: DecisionRow[];
  readonly shadow_results: ShadowResultRow[];
  readonly policy_publications: PolicyPublicationRow[];
  readonly approvals: ApprovalRow[];
  readonly spend: SpendRow[];
  /** Possibly more than once per action across batches (a batch projected again, a late event): insert those not present. */
  readonly endings: EndingRow[];
  readonly budget_limits: BudgetLimitRow[];
  readonly model_usage: ModelUsageRow[];
}

/** What the projection remembers between batches; the service fills misses from ClickHouse. */
export interface ProjectionMemory {
  /** Agent of each run (every event of a run belongs to its agent). */
  readonly agentOfRun: Map<string, string>;
  /** Last projected row of each action, by `${tenant}|${action_id}`. */
  readonly actions: Map<string, ActionRow>;
}

/** One record read from the chain topic. */
export type ChainRecord = (
  { readonly type: 'LedgerEntry'; readonly payload: LedgerEntry } | { readonly type: 'LedgerCheckpoint'; readonly payload: LedgerCheckpoint }
) & {
  readonly partition: number;
  readonly offset: number;
};

/** ClickHouse DateTime64(3) text for a millisecond timestamp (UTC). */
export function dateTime64(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').replace('Z', '');
}

export const actionKey = (tenant: string, actionId: string): string => `${tenant}|${actionId}`;

const AGENT_CARRIERS = new Set([
  'RunStarted',
  'ActionProposed',
  'ActionAdmitted',
  'BudgetReservationRequested',
  'BudgetRefused',
  'BudgetThresholdCrossed',
  'ExecutionRequested',
  'ModelUsage',
]);

/** The event as the ledger projects it: payload with sensitive tool fields redacted. */
export function redactedPayload(
  event: DecodedEvent,
  redactor: Redactor,
  toolOf: (actionId: string | null) => { tool: string; version: string | null } | undefined,
): unknown {
  switch (event.type) {
    case 'ActionProposed':
    case 'ActionAdmitted':
    case 'ExecutionRequested': {
      const p = event.payload;
      return { ...p, arguments_json: redactor.arguments(p.tool, p.tool_version, p.arguments_json) };
    }
    case 'ActionExecuted': {
      // Since v2 the result travels by reference (result_ref); an older event carries it inline.
      const p = event.payload;
      if (p.result_json === null) return p;
      const version = toolOf(p.meta.action_id)?.version ?? null;
      return { ...p, result_json: redactor.result(p.tool, version, p.result_json) };
    }
    case 'ActionCompleted': {
      const p = event.payload;
      const tool = toolOf(p.meta.action_id);
      if (p.result_json === null || tool === undefined) return p;
      return { ...p, result_json: redactor.result(tool.tool, tool.version, p.result_json) };
    }
    default:
      return event.payload;
  }
}

type ProvenanceColumns = Pick<
  ActionRow,
  'model_name' | 'model_provider' | 'model_version' | 'prompt_version' | 'retrieved_document_ids' | 'retrieved_document_versions' | 'retrieved_document_sha256'
>;

/** The actions row's provenance columns of a proposal's provenance ('' and [] for what was not given). */
export function provenanceColumns(provenance: Provenance | null): ProvenanceColumns {
  const documents = provenance?.retrieved_documents ?? [];
  return {
    model_name: provenance?.model?.name ?? '',
    model_provider: provenance?.model?.provider ?? '',
    model_version: provenance?.model?.version ?? '',
    prompt_version: provenance?.prompt_version ?? '',
    retrieved_document_ids: documents.map((document) => document.id),
    retrieved_document_versions: documents.map((document) => document.version ?? ''),
    retrieved_document_sha256: documents.map((document) => document.sha256),
  };
}

function emptyAction(meta: Metadata, version: number): ActionRow {
  const at = dateTime64(meta.occurred_at);
  return {
    tenant_id: meta.tenant_id,
    action_id: meta.action_id ?? '',
    run_id: meta.run_id,
    agent_id: '',
    tool: '',
    tool_version: '',
    idempotency_key: '',
    reason: '',
    arguments: '',
    args_sha256: '',
    stage: '',
    decision: '',
    determining_policies: [],
    approved_by: '',
    reservation_id: '',
    status: '',
    status_reason: '',
    reason_code: '',
    ended_at: null,
    outcome: '',
    cost_micros: 0,
    currency: '',
    run_mode: 'live',
    reconciled_outcome: '',
    reconciled_by: '',
    reconciled_at: null,
    ...provenanceColumns(null),
    proposed_at: at,
    updated_at: at,
    version,
  };
}

/**
 * How far the late stages are: an ExecutionRequested (writ.executions.v1) chained after its
 * outcome (writ.outcomes.v1), or a decision chained after the planner's rejection or refusal or
 * the ActionCompleted (writ.actions.v1), does not move the row back (policy and budget react to
 * the proposal itself, so their answers may be read after the planner's). The stages from
 * proposed to reserved keep their arrival order, but for the admission (below).
 */
const STAGE_RANK: Readonly<Record<string, number>> = { executing: 1, rejected: 2, refused: 2, executed: 2, failed: 2, completed: 3 };

/** Folds one event into an action's row (undefined: the event says nothing about the action's state). */
function foldAction(row: ActionRow, event: DecodedEvent, redacted: Record<string, unknown>): ActionRow | undefined {
  const folded = foldActionEvent(row, event, redacted);
  if (folded === undefined || (STAGE_RANK[folded.stage] ?? 0) >= (STAGE_RANK[row.stage] ?? 0)) return folded;
  return { ...folded, stage: row.stage };
}

function foldActionEvent(row: ActionRow, event: DecodedEvent, redacted: Record<string, unknown>): ActionRow | undefined {
  const base = { ...row };
  switch (event.type) {
    case 'ActionProposed': {
      const p = event.payload;
      return {
        ...base,
        agent_id: p.agent_id,
        tool: p.tool,
        tool_version: p.tool_version ?? row.tool_version,
        idempotency_key: p.idempotency_key,
        reason: p.reason,
        arguments: String(redacted['arguments_json']),
        args_sha256: p.args_sha256,
        run_mode: p.mode,
        ...provenanceColumns(p.provenance),
        stage: row.stage === '' ? 'proposed' : row.stage,
        proposed_at: dateTime64(p.meta.occurred_at),
      };
    }
    case 'ActionAdmitted': {
      const p = event.payload;
      // The admission may be read after the decision or the reservation (the PDP and the accountant do not wait for it).
      const stage = row.stage === '' || row.stage === 'proposed' ? 'admitted' : row.stage;
      return {
        ...base,
        agent_id: p.agent_id,
        tool: p.tool,
        tool_version: p.tool_version,
        args_sha256: p.args_sha256,
        arguments: row.arguments || String(redacted['arguments_json']),
        stage,
      };
    }
    case 'ActionRejected':
      return { ...base, stage: 'rejected' };
    case 'PolicyDecided': {
      const p = event.payload;
      return { ...base, stage: 'decided', decision: p.decision, determining_policies: [...p.determining_policies] };
    }
    case 'ApprovalSubmitted':
      return { ...base, stage: 'approval' };
    case 'ApprovalRecorded': {
      const p = event.payload;
      return p.accepted && p.verdict === 'approve' ? { ...base, approved_by: p.approver_id } : base;
    }
    case 'BudgetReservationRequested':
      return base;
    case 'BudgetReserved': {
      const p = event.payload;
      return { ...base, stage: row.stage === 'decided' || row.stage === 'admitted' ? 'reserved' : row.stage, reservation_id: p.reservation_id };
    }
    case 'BudgetRefused':
      return { ...base, stage: 'refused' };
    case 'ExecutionRequested': {
      const p = event.payload;
      return { ...base, stage: 'executing', reservation_id: p.reservation.reservation_id, idempotency_key: p.idempotency_key };
    }
    case 'ActionExecuted': {
      const p = event.payload;
      return { ...base, stage: 'executed', outcome: p.outcome, cost_micros: p.cost_micros, currency: p.currency };
    }
    case 'ActionFailed': {
      const p = event.payload;
      return { ...base, stage: 'failed', outcome: p.outcome, cost_micros: p.cost_micros, currency: p.currency };
    }
    case 'ActionCompleted': {
      const p = event.payload;
      return {
        ...base,
        stage: 'completed',
        status: p.status,
        status_reason: p.reason,
        reason_code: p.reason_code,
        ended_at: dateTime64(p.meta.occurred_at),
        cost_micros: p.cost_micros,
        currency: p.currency,
      };
    }
    case 'OutcomeReconciled': {
      // The stage and status stay the pipeline's (the planner ended it failed); the resolution sits beside them.
      if (row.reconciled_outcome !== '') return undefined;
      const p = event.payload;
      return { ...base, reconciled_outcome: p.outcome, reconciled_by: p.resolved_by, reconciled_at: dateTime64(p.meta.occurred_at) };
    }
    default:
      return undefined;
  }
}

/**
 * The events after which an action may have both ended and been proposed: its completion, and
 * those that bring its agent and tool (its proposal; an admission or execution request chained
 * before it). An ending is made after each of them, so projecting a batch again makes it again.
 */
const ENDING_EVENTS: ReadonlySet<string> = new Set(['ActionCompleted', 'ActionProposed', 'ActionAdmitted', 'ExecutionRequested']);

/**
 * The ending of an action that ended and whose run mode is known: its proposal was folded
 * (idempotency_key and tool are set by it), or its execution was requested (only a live action
 * executes, and an admission gave the tool). Undefined otherwise.
 */
function endingOf(row: ActionRow): EndingRow | undefined {
  if (row.status === '' || row.ended_at === null || row.tool === '' || row.idempotency_key === '') return undefined;
  return {
    tenant_id: row.tenant_id,
    action_id: row.action_id,
    run_id: row.run_id,
    agent_id: row.agent_id,
    tool: row.tool,
    run_mode: row.run_mode,
    status: row.status,
    reason_code: row.reason_code,
    cost_micros: row.cost_micros,
    currency: row.currency,
    proposed_at: row.proposed_at,
    ended_at: row.ended_at,
  };
}

export interface ProjectOptions {
  readonly redactor: Redactor;
  /** Only the chains (tenants) it serves are projected (default: all). */
  readonly tenants?: TenantFilter;
}

/**
 * Maps a batch of chain records (in topic order) to rows. Memory is read and updated: agents of
 * runs and the last state of actions carry over to the next batch.
 */
export function projectRecords(records: readonly ChainRecord[], memory: ProjectionMemory, options: ProjectOptions): ProjectionRows {
  const rows: ProjectionRows = {
    events: [],
    ledger: [],
    checkpoints: [],
    actions: [],
    decisions: [],
    shadow_results: [],
    policy_publications: [],
    approvals: [],
    spend: [],
    endings: [],
    budget_limits: [],
    model_usage: [],
  };
  const touched = new Map<string, ActionRow>();
  const tenants = options.tenants ?? ALL_TENANTS;
  for (const record of records) {
    if (!tenants.serves(record.payload.chain_id)) continue;
    if (record.type === 'LedgerCheckpoint') {
      const p = record.payload;
      rows.checkpoints.push({
        chain_id: p.chain_id,
        seq: p.seq,
        chain_hash: p.chain_hash,
        key_id: p.key_id,
        signature: p.signature,
        signed_at: dateTime64(p.meta.occurred_at),
        ledger_partition: record.partition,
        ledger_offset: record.offset,
      });
      continue;
    }
    const entry = record.payload;
    const bytes = entry.event_bytes;
    let event: DecodedEvent | undefined;
    if (bytes.length > 0) {
      try {
        event = decodeEvent(bytes);
      } catch {
        event = undefined; // kept in the ledger table; verification will name it
      }
    }
    const meta = event?.payload.meta;
    // Under hash version 2 the entry carries the run, action and time its hash binds: export exactly those.
    const bound = entry.hash_version >= 2;
    const ledgerRow = (withheld: boolean): LedgerRow => ({
      hash_version: entry.hash_version,
      chain_id: entry.chain_id,
      seq: entry.seq,
      prev_hash: entry.prev_hash,
      event_hash: entry.event_hash,
      chain_hash: entry.chain_hash,
      source_event_id: entry.source_event_id,
      event_type: entry.event_type,
      source_topic: entry.source_topic,
      source_partition: entry.source_partition,
      source_offset: entry.source_offset,
      run_id: bound ? entry.source_run_id : (meta?.run_id ?? entry.meta.run_id),
      action_id: bound ? entry.source_action_id : (meta?.action_id ?? entry.meta.action_id),
      occurred_at: dateTime64(bound ? entry.source_occurred_at : (meta?.occurred_at ?? entry.meta.occurred_at)),
      event_bytes: withheld ? '' : Buffer.from(bytes).toString('base64'),
      event_bytes_withheld: withheld ? 1 : 0,
      ledger_partition: record.partition,
      ledger_offset: record.offset,
    });
    if (event === undefined || meta === undefined) {
      rows.ledger.push(ledgerRow(false));
      continue;
    }

    const toolOf = (actionId: string | null) => {
      const known =
        actionId === null ? undefined : (touched.get(actionKey(meta.tenant_id, actionId)) ?? memory.actions.get(actionKey(meta.tenant_id, actionId)));
      return known === undefined || known.tool === '' ? undefined : { tool: known.tool, version: known.tool_version || null };
    };
    const redacted = redactedPayload(event, options.redactor, toolOf) as Record<string, unknown>;
    const payloadJson = JSON.stringify(redacted);
    rows.ledger.push(ledgerRow(payloadJson !== JSON.stringify(event.payload)));

    const carried = 'agent_id' in event.payload ? event.payload.agent_id : undefined;
    if (AGENT_CARRIERS.has(event.type) && typeof carried === 'string' && carried !== '') {
      memory.agentOfRun.set(meta.run_id, carried);
    }
    // An event that names its agent (a settlement does) is its own authority: the run's start may be
    // chained after it (the chain follows read order across topics, and a backlog is read topic by topic).
    const agentId = (typeof carried === 'string' && carried !== '' ? carried : undefined) ?? memory.agentOfRun.get(meta.run_id) ?? '';
    const at = dateTime64(meta.occurred_at);
    rows.events.push({
      event_id: meta.event_id,
      event_type: event.type,
      schema_version: event.schemaVersion,
      topic: entry.source_topic,
      partition: entry.source_partition,
      offset: entry.source_offset,
      tenant_id: meta.tenant_id,
      run_id: meta.run_id,
      action_id: meta.action_id,
      agent_id: agentId,
      causation_id: meta.causation_id,
      producer: meta.producer,
      occurred_at: at,
      chain_seq: entry.seq,
      payload: payloadJson,
    });

    if (meta.action_id !== null) {
      const key = actionKey(meta.tenant_id, meta.action_id);
      const previous = touched.get(key) ?? memory.actions.get(key) ?? emptyAction(meta, entry.seq);
      const folded = foldAction(previous, event, redacted);
      if (folded !== undefined) {
        const next: ActionRow = { ...folded, agent_id: folded.agent_id || agentId, updated_at: at, version: entry.seq };
        touched.set(key, next);
        memory.actions.set(key, next);
        const ending = ENDING_EVENTS.has(event.type) ? endingOf(next) : undefined;
        if (ending !== undefined) rows.endings.push(ending);
      }
    }

    switch (event.type) {
      case 'PolicyDecided': {
        const p = event.payload;
        rows.decisions.push({
          event_id: meta.event_id,
          tenant_id: meta.tenant_id,
          run_id: meta.run_id,
          action_id: meta.action_id ?? '',
          agent_id: agentId,
          decision: p.decision,
          determining_policies: [...p.determining_policies],
          policy_set_hash: p.policy_set_hash,
          errors: [...p.errors],
          warnings: [...p.warnings],
          decided_at: at,
        });
        for (const shadow of p.shadow_results) {
          rows.shadow_results.push({
            event_id: meta.event_id,
            tenant_id: meta.tenant_id,
            run_id: meta.run_id,
            action_id: meta.action_id ?? '',
            agent_id: agentId,
            policy_set_hash: p.policy_set_hash,
            policy_id: shadow.policy_id,
            enforced_decision: p.decision,
            shadow_decision: shadow.decision,
            shadow_determining_policies: [...shadow.determining_policies],
            disagrees: shadow.decision === p.decision ? 0 : 1,
            decided_at: at,
          });
        }
        break;
      }
      case 'PolicySetPublished': {
        const p = event.payload;
        rows.policy_publications.push({
          event_id: meta.event_id,
          tenant_id: meta.tenant_id,
          stream: p.stream,
          sequence: p.sequence,
          policy_set_hash: p.policy_set_hash,
          previous_hash: p.previous_hash,
          version: p.version,
          origin: p.origin,
          author: p.author,
          message: p.message,
          policies: p.policies.length,
          policy_ids: p.policies.map((policy) => policy.policy_id),
          published_at: at,
        });
        break;
      }
      case 'ApprovalSubmitted':
      case 'ApprovalRecorded': {
        const submitted = event.type === 'ApprovalSubmitted' ? event.payload : undefined;
        const recorded = event.type === 'ApprovalRecorded' ? event.payload : undefined;
        const p = event.payload;
        rows.approvals.push({
          event_id: meta.event_id,
          tenant_id: meta.tenant_id,
          run_id: meta.run_id,
          action_id: meta.action_id ?? '',
          agent_id: agentId,
          kind: submitted === undefined ? 'recorded' : 'submitted',
          approver_id: p.approver_id,
          approver_role: submitted?.approver_role ?? '',
          verdict: p.verdict,
          accepted: recorded === undefined ? null : recorded.accepted ? 1 : 0,
          comment: submitted?.comment ?? recorded?.reason ?? '',
          at,
        });
        break;
      }
      case 'BudgetsConfigured':
        rows.budget_limits.push(...budgetLimitRows(event.payload));
        break;
      case 'ModelUsage': {
        const p = event.payload;
        rows.model_usage.push({
          event_id: meta.event_id,
          tenant_id: meta.tenant_id,
          run_id: meta.run_id,
          agent_id: p.agent_id,
          action_id: meta.action_id ?? '',
          model: p.model,
          input_tokens: p.input_tokens,
          output_tokens: p.output_tokens,
          cost_micros: p.cost_micros,
          currency: p.currency,
          used_at: at,
        });
        break;
      }
      case 'BudgetSettled': {
        const p = event.payload;
        const action =
          meta.action_id === null
            ? undefined
            : (touched.get(actionKey(meta.tenant_id, meta.action_id)) ?? memory.actions.get(actionKey(meta.tenant_id, meta.action_id)));
        rows.spend.push({
          event_id: meta.event_id,
          tenant_id: meta.tenant_id,
          agent_id: agentId,
          run_id: meta.run_id,
          action_id: meta.action_id ?? '',
          reservation_id: p.reservation_id,
          cost_micros: p.actual_cost_micros,
          released_micros: p.released_micros,
          currency: p.currency,
          run_mode: action?.run_mode ?? 'live',
          settled_at: at,
        });
        break;
      }
      default:
        break;
    }
  }
  rows.actions.push(...touched.values());
  return rows;
}

/** The runs and actions a batch refers to, so the service can load what memory lacks. */
export function referencesOf(records: readonly ChainRecord[]): { runs: Set<string>; actions: Set<string> } {
  const runs = new Set<string>();
  const actions = new Set<string>();
  for (const record of records) {
    if (record.type !== 'LedgerEntry') continue;
    const entry = record.payload;
    runs.add(entry.meta.run_id);
    if (entry.meta.action_id !== null) actions.add(actionKey(entry.chain_id, entry.meta.action_id));
  }
  return { runs, actions };
}
