// `writ eval capture`'s core: an eval case from a recorded run (an incident becomes a regression
// case). Each chosen action becomes a proposal with its recorded context (the agent, the run
// statistics and history facts its decision saw, the approvals submitted, what the run's budget had
// used) and what the pipeline answered then as the expectation: the tool contract's verdict (a
// planner's rejection), the policy decisions, and the run's own budget's answer (reserved, at its
// approval step or not, or refused). Sensitive values are masked: the ledger's payloads hold them redacted already,
// any sealed value left is masked too, and the registry's sensitive fields are masked again.
import { isSealedValue } from '@writ/crypto';
import type { EventPayloads } from '@writ/contracts';
import { WritError } from '@writ/errors';
import { BUDGET_APPROVAL_POLICY } from '@writ/policy-engine';
import type { DecisionRequest } from '@writ/policy-engine';
import { redactArguments } from '@writ/tools';
import type { ToolDefinition } from '@writ/tools';
import { EVAL_FORMAT, MASKED, parseEvalCase } from './eval-case.ts';
import type { BudgetExpectation, DecisionExpectation, EvalApproval, EvalCase, EvalProposal, RunBudgetUsed, ValidationResult } from './eval-case.ts';
import { groupActions } from './replay-run.ts';
import type { ActionEvents } from './replay-run.ts';
import { runUsageBefore } from './run-budget.ts';
import type { RecordedEvent } from './run-record.ts';

type Payload<T extends keyof EventPayloads> = EventPayloads[T];
const payloadOf = <T extends keyof EventPayloads>(event: RecordedEvent): Payload<T> => event.payload as unknown as Payload<T>;

export interface CaptureOptions {
  readonly runId: string;
  readonly name: string;
  readonly description: string;
  /** The actions to capture (default: every action of the run). */
  readonly actions?: readonly string[];
  readonly tool?: (name: string, version: string | undefined) => ToolDefinition | undefined;
}

export interface Capture {
  readonly evalCase: EvalCase;
  /** Actions left out (or an action's budget answer), and why. */
  readonly skipped: readonly string[];
}

/** The planner's rejections that are the tool contract's verdict (the others are the run's state: kill switch, step limit...). */
const CONTRACT_REJECTIONS: Readonly<Record<string, 'TOOL_UNKNOWN' | 'ARGUMENTS_INVALID' | 'DESTINATION_NOT_ALLOWED'>> = {
  TOOL_UNKNOWN: 'TOOL_UNKNOWN',
  ARGS_INVALID: 'ARGUMENTS_INVALID',
  DESTINATION_NOT_ALLOWED: 'DESTINATION_NOT_ALLOWED',
};

function masked(value: unknown): unknown {
  if (isSealedValue(value)) return MASKED;
  if (Array.isArray(value)) return value.map(masked);
  if (typeof value === 'object' && value !== null) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, masked(v)]));
  return value;
}

function requestOf(p: Payload<'PolicyDecided'>): DecisionRequest | undefined {
  const json = p.request_json ?? '';
  return json === '' ? undefined : (JSON.parse(json) as DecisionRequest);
}

/** A recorded decision as an expectation; a budget's approval step is the accountant's, so the policies' own answer was an allow. */
function expectationOf(p: Payload<'PolicyDecided'>): DecisionExpectation {
  const requirement = p.approval_requirement;
  if (requirement?.policy_id === BUDGET_APPROVAL_POLICY) return { decision: 'allow', determining_policies: [...p.determining_policies] };
  return {
    decision: p.decision,
    determining_policies: [...p.determining_policies],
    ...(p.decision === 'approval_required' && requirement !== null && requirement !== undefined
      ? { approval: { policy: requirement.policy_id, count: requirement.count, roles: [...requirement.roles] } }
      : {}),
  };
}

/** Approvals Cedar answered (not those refused before it: not pending, unknown approver), as the case's approvals. */
function approvalsOf(action: ActionEvents): EvalApproval[] {
  const out: EvalApproval[] = [];
  for (const event of action.policy) {
    if (event.type !== 'ApprovalRecorded') continue;
    const p = payloadOf<'ApprovalRecorded'>(event);
    const fromCedar = p.accepted || p.reason.startsWith('forbidden by ') || p.reason === 'no policy permits this approver to approve it';
    if (!fromCedar || (p.approver_role ?? '') === '') continue;
    out.push({
      approver: { id: p.approver_id, role: p.approver_role },
      verdict: p.verdict,
      expect: { accepted: p.accepted, determining_policies: [...(p.determining_policies ?? [])] },
    });
  }
  return out;
}

interface Captured {
  readonly proposal: EvalProposal;
  readonly request: DecisionRequest | undefined;
  readonly decision: Payload<'PolicyDecided'> | undefined;
  /** Why the action's budget answer is not in the case (a budget that counts other runs answered). */
  readonly budgetLeftOut?: string;
}

/**
 * The run's own budget's answer to an action, as recorded, and what the run had used before it.
 * A refusal or an approval step of the agent's, a tool's or the tenant's budget counts other runs,
 * which a case does not know: it is left out, and said why.
 */
function budgetOf(
  action: ActionEvents,
  events: readonly RecordedEvent[],
  runId: string,
): { readonly expectation: BudgetExpectation; readonly used: RunBudgetUsed } | { readonly leftOut: string } | undefined {
  const [event] = [...(action.reserved === undefined ? [] : [action.reserved]), ...action.refused].sort(
    (a, b) => a.partition - b.partition || a.offset - b.offset,
  );
  if (event === undefined) return undefined;
  const usage = runUsageBefore(events, runId, event.eventId);
  const used = { used_micros: usage.micros, used_calls: usage.calls };
  if (event.type === 'BudgetRefused') {
    const r = payloadOf<'BudgetRefused'>(event);
    if (r.scope !== 'run') return { leftOut: `refused by the ${r.scope} budget, which counts other runs` };
    return {
      expectation: { answer: 'refused', scope: r.scope, kind: r.kind, rule: r.rule ?? 'cap', limit: r.limit, used: r.used, requested: r.requested },
      used,
    };
  }
  const step = payloadOf<'BudgetReserved'>(event).approval_step ?? null;
  if (step !== null && step.scope !== 'run') return { leftOut: `reserved at the ${step.scope} budget's approval step, which counts other runs` };
  return {
    expectation: { answer: 'reserved', ...(step === null ? {} : { approval_step: { scope: step.scope, kind: step.kind, percent: step.percent } }) },
    used,
  };
}

function captureAction(action: ActionEvents, options: CaptureOptions, events: readonly RecordedEvent[]): Captured | string {
  const proposed = action.proposals[0];
  if (proposed === undefined) return `action ${action.actionId}: no proposal recorded`;
  const p = payloadOf<'ActionProposed'>(proposed);
  const decisions = action.policy.filter((e) => e.type === 'PolicyDecided').map((e) => payloadOf<'PolicyDecided'>(e));
  const first = decisions[0];
  const request = decisions.map(requestOf).find((r) => r !== undefined);
  const admitted = action.admitted === undefined ? undefined : payloadOf<'ActionAdmitted'>(action.admitted);
  const version = admitted?.tool_version ?? request?.tool.version ?? p.tool_version ?? undefined;
  let args: unknown;
  try {
    args = JSON.parse(p.arguments_json);
  } catch {
    args = undefined;
  }
  if (typeof args !== 'object' || args === null || Array.isArray(args)) {
    return `action ${action.actionId} (${p.tool}): its arguments are withheld in the ledger (a tool it did not know): write the case by hand`;
  }
  const definition = options.tool?.(p.tool, version);
  const safe = masked(definition === undefined ? args : redactArguments(definition, args)) as Record<string, unknown>;

  let validation: ValidationResult = 'valid';
  if (action.rejected !== undefined) {
    const r = payloadOf<'ActionRejected'>(action.rejected);
    const code = CONTRACT_REJECTIONS[r.reason_code.toUpperCase()];
    if (code === undefined)
      return `action ${action.actionId} (${p.tool}): rejected ${r.reason_code} by the planner, a matter of the run, not of the tool contract`;
    const field = r.field ?? (code === 'TOOL_UNKNOWN' ? 'tool' : 'arguments');
    validation = { code, field: code === 'ARGUMENTS_INVALID' && !field.startsWith('arguments') ? `arguments.${field}` : field };
  } else if (first === undefined) {
    return `action ${action.actionId} (${p.tool}): no policy decision recorded`;
  } else if (request === undefined) {
    return `action ${action.actionId} (${p.tool}): its decision carries no request (made without Cedar, or before PolicyDecided v5)`;
  }
  const approvals = validation === 'valid' ? approvalsOf(action) : [];
  const budget = validation === 'valid' ? budgetOf(action, events, options.runId) : undefined;
  const budgeted = budget !== undefined && 'expectation' in budget ? budget : undefined;
  const last = decisions.at(-1);
  const history = request?.history ?? {};
  const ending = action.completions[0] === undefined ? undefined : payloadOf<'ActionCompleted'>(action.completions[0]);
  const proposal: EvalProposal = {
    tool: p.tool,
    ...(version === undefined ? {} : { version }),
    arguments: safe,
    ...(request === undefined
      ? {}
      : { run_stats: { steps: request.runStats.steps, spend_micros: request.runStats.spendMicros, calls_in_window: request.runStats.callsInWindow } }),
    ...(Object.keys(history).length === 0 ? {} : { history: { ...history } }),
    ...(decisions.some((d) => requestOf(d)?.escalated === true) ? { escalated: true } : {}),
    ...(approvals.length === 0 ? {} : { approvals }),
    ...(budgeted === undefined ? {} : { run_budget: budgeted.used }),
    expect: {
      validation,
      ...(validation === 'valid' && first !== undefined ? { decision: expectationOf(first) } : {}),
      ...(approvals.length > 0 && last !== undefined ? { after_approvals: expectationOf(last) } : {}),
      ...(budgeted === undefined ? {} : { budget: budgeted.expectation }),
    },
    ...(ending === undefined
      ? {}
      : {
          recorded: {
            action_id: action.actionId,
            status: ending.status,
            reason_code: (ending.reason_code ?? '').toUpperCase(),
            cost_micros: ending.cost_micros,
          },
        }),
  };
  const leftOut = budget !== undefined && 'leftOut' in budget ? `action ${action.actionId} (${p.tool}): its budget answer (${budget.leftOut})` : undefined;
  return { proposal, request, decision: first, ...(leftOut === undefined ? {} : { budgetLeftOut: leftOut }) };
}

/** An eval case from a run's recorded events; throws RUN_RECORD_INVALID when nothing in it can be captured. */
export function captureCase(events: readonly RecordedEvent[], options: CaptureOptions): Capture {
  const all = groupActions(events);
  const chosen = options.actions === undefined ? all : all.filter((a) => options.actions?.includes(a.actionId));
  for (const wanted of options.actions ?? []) {
    if (!all.some((a) => a.actionId === wanted))
      throw new WritError('RUN_RECORD_INVALID', `action ${wanted} is not an action of run ${options.runId}`, {
        field: '--action',
        rule: 'an action of the run',
      });
  }
  const skipped: string[] = [];
  const captured: Captured[] = [];
  for (const action of chosen) {
    const result = captureAction(action, options, events);
    if (typeof result === 'string') skipped.push(result);
    else {
      captured.push(result);
      if (result.budgetLeftOut !== undefined) skipped.push(result.budgetLeftOut);
    }
  }
  const withRequest = captured.find((c) => c.request !== undefined);
  if (captured.length === 0 || withRequest?.request === undefined) {
    throw new WritError(
      'RUN_RECORD_INVALID',
      `nothing of run ${options.runId} can be captured${skipped.length > 0 ? `: ${skipped.join('; ')}` : ''} (a case needs a decision's request for the agent's role and owner)`,
    );
  }
  const start = events.find((e) => e.type === 'RunStarted');
  const limits = start === undefined ? undefined : payloadOf<'RunStarted'>(start).limits;
  const caps =
    limits === undefined || (limits.max_cost_micros === null && limits.max_tool_calls === null)
      ? {}
      : { limits: { max_cost_micros: limits.max_cost_micros, max_tool_calls: limits.max_tool_calls } };
  const { request, decision } = withRequest;
  const raw = {
    format: EVAL_FORMAT,
    name: options.name,
    description: options.description,
    tenant: request.tenant,
    agent: { id: request.agent.id, role: request.agent.role, owner: request.agent.owner },
    run: { mode: start === undefined ? 'live' : payloadOf<'RunStarted'>(start).mode, ...caps },
    captured: {
      run_id: options.runId,
      policy_set_hash: decision?.policy_set_hash ?? null,
      policy_set_version: decision?.policy_set_version ?? null,
      at: decision === undefined ? null : new Date(decision.meta.occurred_at).toISOString(),
    },
    proposals: captured.map((c) => c.proposal),
  };
  // What is written must read back as a case (the same rules as a hand-written one).
  return { evalCase: parseEvalCase(JSON.parse(JSON.stringify(raw))), skipped };
}
