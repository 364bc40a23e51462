import { budgetPeriodText } from '@writ/contracts';
import { WritError } from '@writ/errors';
import { accumulator, assertNever, lookup } from '@writ/decider';
import { admissionEvents, rejection, rejectionEvents } from './admission.ts';
import { executeIfReady, expiryOf, finish, outOfOrder, requireAction } from './action-flow.ts';
import type { RunAccumulator } from './action-flow.ts';
import type {
  BudgetResult,
  EndRun,
  ExpireActions,
  PlannerCommand,
  ProposeAction,
  RecordBudgetResult,
  RecordExecutionOutcome,
  RecordPolicyDecision,
  StartRun,
} from './commands.ts';
import type { PlannerConfig } from './config.ts';
import type { PlannerEvent } from './events.ts';
import { evolvePlanner } from './evolve.ts';
import { isTerminalStatus } from './model.ts';
import type { ActionState, HeldAnswer, PlannerState, Proposal, RunLimits, RunLimitsInput } from './model.ts';
import { invalidCommand, requireCount, requireInstant, requireOptionalCount, requireText } from './validation.ts';

/** What a budget refusal tells the agent: the budget, its period, what it counts and the rule. */
function refusalReason(result: Extract<BudgetResult, { outcome: 'refused' }>): string {
  const period = budgetPeriodText(result.period);
  if (result.rule === 'reads_only') {
    const percent = result.limit === 0 ? 100 : Math.floor((result.used * 100) / result.limit);
    return `budget ${result.scope}${period} ${result.kind} is at ${percent}% of its limit of ${result.limit} (${result.used} used) and has degraded to reads: a tool with side effects is refused`;
  }
  return `budget ${result.scope}${period} ${result.kind}: ${result.used} used + ${result.requested} requested would exceed the limit of ${result.limit}`;
}

export function decidePlanner(command: PlannerCommand, state: PlannerState, config: PlannerConfig): PlannerEvent[] {
  requireText(command.run_id, 'run_id');
  requireInstant(command.now, 'now');
  if (state.run_id !== null && state.run_id !== command.run_id) {
    throw new WritError('PLANNER_WRONG_RUN', `command for run ${command.run_id} was given the state of run ${state.run_id}`, {
      field: 'run_id',
      rule: 'must match the run of the state',
    });
  }
  const acc = accumulator(evolvePlanner, state);
  switch (command.type) {
    case 'StartRun':
      startRun(acc, command, config);
      break;
    case 'EndRun':
      endRun(acc, command);
      break;
    case 'ProposeAction':
      proposeAction(acc, command, config);
      break;
    case 'RecordPolicyDecision':
      recordPolicyDecision(acc, command, config);
      break;
    case 'RecordBudgetResult':
      recordBudgetResult(acc, command, config);
      break;
    case 'RecordExecutionOutcome':
      recordExecutionOutcome(acc, command);
      break;
    case 'ExpireActions':
      expireActions(acc, command);
      break;
    default:
      return assertNever(command, 'planner command');
  }
  return [...acc.events];
}

function resolveLimits(input: RunLimitsInput, config: PlannerConfig): RunLimits {
  const loopThreshold = input.loop_threshold ?? config.default_loop_threshold;
  const limits: RunLimits = {
    max_steps: input.max_steps ?? null,
    max_tool_calls: input.max_tool_calls ?? null,
    max_cost_micros: input.max_cost_micros ?? null,
    currency: input.currency ?? null,
    wall_clock_ms: input.wall_clock_ms ?? null,
    loop_threshold: loopThreshold,
    loop_window: input.loop_window ?? Math.max(config.default_loop_window, loopThreshold - 1),
  };
  requireOptionalCount(limits.max_steps, 'limits.max_steps');
  requireOptionalCount(limits.max_tool_calls, 'limits.max_tool_calls');
  requireOptionalCount(limits.max_cost_micros, 'limits.max_cost_micros');
  requireOptionalCount(limits.wall_clock_ms, 'limits.wall_clock_ms');
  requireCount(limits.loop_threshold, 'limits.loop_threshold');
  if (limits.loop_threshold < 2) throw invalidCommand('limits.loop_threshold', 'must be at least 2', limits.loop_threshold);
  requireCount(limits.loop_window, 'limits.loop_window');
  if (limits.loop_window < limits.loop_threshold - 1) {
    throw invalidCommand('limits.loop_window', `must be at least loop_threshold - 1 (${limits.loop_threshold - 1})`, limits.loop_window);
  }
  if (limits.max_cost_micros !== null && (limits.currency === null || !/^[A-Z]{3}$/.test(limits.currency))) {
    throw invalidCommand('limits.currency', 'must be an ISO 4217 code when max_cost_micros is set', limits.currency);
  }
  return limits;
}

function startRun(acc: RunAccumulator, command: StartRun, config: PlannerConfig): void {
  requireText(command.tenant_id, 'tenant_id');
  requireText(command.agent_id, 'agent_id');
  const limits = resolveLimits(command.limits ?? {}, config);
  // A redelivered or repeated start changes nothing; a run that ended stays ended.
  if (acc.state.phase !== 'not_started') return;
  acc.emit({
    type: 'RunStarted',
    run_id: command.run_id,
    tenant_id: command.tenant_id,
    agent_id: command.agent_id,
    goal: command.goal,
    limits,
    mode: command.mode ?? 'live',
    started_at: command.now,
  });
  // Proposals that arrived first (records written before RunStarted shared their topic) are admitted now, in arrival order.
  for (const actionId of acc.state.parked) {
    const proposal = lookup(acc.state.actions, actionId)?.proposal;
    if (proposal) admit(acc, actionId, proposal, command.now, config);
  }
}

/**
 * Admits (or rejects) a proposal into the started run, then applies the answers of the PDP and the
 * accountant that were read before it, in the order they came.
 */
function admit(acc: RunAccumulator, actionId: string, proposal: Proposal, now: number, config: PlannerConfig): void {
  const held = lookup(acc.state.held, actionId) ?? [];
  acc.emit(...admissionEvents(acc.state, actionId, proposal, now, config));
  const runId = acc.state.run_id ?? '';
  for (const answer of held) {
    const at = answer.at;
    if (answer.kind === 'policy')
      recordPolicyDecision(acc, { type: 'RecordPolicyDecision', run_id: runId, action_id: actionId, verdict: answer.verdict, now: at }, config);
    else recordBudgetResult(acc, { type: 'RecordBudgetResult', run_id: runId, action_id: actionId, result: answer.result, now: at }, config);
  }
}

/** The PDP or the accountant answered before the admission (they react to the same proposal): keep it for then. */
function hold(acc: RunAccumulator, runId: string, actionId: string, answer: HeldAnswer): void {
  // The same answer delivered again is held once.
  const same = JSON.stringify({ ...answer, at: 0 });
  if ((lookup(acc.state.held, actionId) ?? []).some((held) => JSON.stringify({ ...held, at: 0 }) === same)) return;
  acc.emit({ type: 'AnswerHeld', run_id: runId, action_id: actionId, answer });
}

/** The actions not yet terminal (the open index, looked up), in the order the run got them. */
function openActions(state: PlannerState): ActionState[] {
  const open: ActionState[] = [];
  state.open.forEach((_deadline, actionId) => {
    const action = lookup(state.actions, actionId);
    if (action !== undefined && !isTerminalStatus(action.status)) open.push(action);
  });
  return open.sort((a, b) => a.seq - b.seq);
}

/** Actions not yet sent to execution. */
function openBeforeExecution(state: PlannerState): ActionState[] {
  return openActions(state).filter((action) => action.status !== 'executing');
}

function endRun(acc: RunAccumulator, command: EndRun): void {
  requireText(command.reason, 'reason');
  if (acc.state.phase === 'ended') return;
  const runId = command.run_id;
  acc.emit({ type: 'RunEnded', run_id: runId, status: command.status, reason: command.reason, ended_at: command.now });
  const code = command.status === 'killed' ? 'kill_switch' : 'run_closed';
  const why = command.status === 'killed' ? `the run was killed: ${command.reason}` : `the run ended (${command.status}) before this action ran`;
  // Actions already executing keep going: their outcome still arrives and is recorded.
  for (const action of openBeforeExecution(acc.state)) {
    if (action.status === 'awaiting_run') {
      const currency = action.proposal?.currency ?? '';
      acc.emit(...rejectionEvents(runId, action.action_id, action.idempotency_key, currency, rejection(code, why), command.now));
    } else {
      finish(acc, action.action_id, 'rejected', code, why, command.now);
    }
  }
}

function proposalOf(command: ProposeAction): Proposal {
  requireText(command.action_id, 'action_id');
  requireText(command.agent_id, 'agent_id');
  requireText(command.tool, 'tool');
  requireText(command.tool_version, 'tool_version');
  requireText(command.args_sha256, 'args_sha256');
  requireText(command.idempotency_key, 'idempotency_key');
  requireText(command.currency, 'currency');
  requireCount(command.estimated_cost_micros, 'estimated_cost_micros');
  return {
    agent_id: command.agent_id,
    tool: command.tool,
    tool_version: command.tool_version,
    arguments_json: command.arguments_json,
    args_sha256: command.args_sha256,
    idempotency_key: command.idempotency_key,
    reason: command.reason,
    estimated_cost_micros: command.estimated_cost_micros,
    currency: command.currency,
    proposed_at: command.now,
  };
}

function proposeAction(acc: RunAccumulator, command: ProposeAction, config: PlannerConfig): void {
  const proposal = proposalOf(command);
  const { action_id: actionId, run_id: runId, now } = command;
  // The same proposal delivered again: it already has its answer.
  if (lookup(acc.state.actions, actionId) !== undefined) return;
  const reject = (why: ReturnType<typeof rejection>): void =>
    acc.emit(...rejectionEvents(runId, actionId, proposal.idempotency_key, proposal.currency, why, now));

  const holder = lookup(acc.state.idempotency_keys, proposal.idempotency_key);
  if (holder !== undefined) {
    reject(
      rejection(
        'duplicate',
        `idempotency key ${proposal.idempotency_key} was already used in this run by action ${holder}; that action's outcome answers this proposal`,
        'idempotency_key',
        holder,
      ),
    );
    return;
  }
  if (command.invalid) {
    reject(rejection(command.invalid.reason_code, command.invalid.message, command.invalid.field));
    return;
  }
  if (command.agent_killed === true || command.tool_killed === true) {
    const which = command.agent_killed === true ? `agent ${proposal.agent_id}` : `tool ${proposal.tool}`;
    reject(rejection('kill_switch', `the kill switch of ${which} is pulled`, command.agent_killed === true ? 'agent_id' : 'tool'));
    return;
  }
  if (acc.state.phase === 'not_started') {
    acc.emit({ type: 'ActionParked', run_id: runId, action_id: actionId, proposal, deadline: now + config.decision_timeout_ms });
    return;
  }
  admit(acc, actionId, proposal, now, config);
}

function recordPolicyDecision(acc: RunAccumulator, command: RecordPolicyDecision, config: PlannerConfig): void {
  const { now, verdict } = command;
  const action = lookup(acc.state.actions, command.action_id);
  if (action === undefined || action.status === 'awaiting_run') {
    hold(acc, command.run_id, command.action_id, { kind: 'policy', verdict, at: now });
    return;
  }
  if (isTerminalStatus(action.status) || action.status === 'executing') return;
  if (action.proposal === null) throw outOfOrder(action, 'policy decision', 'must name an admitted action');
  // The first allow or deny wins; a later, contradicting or repeated decision changes nothing.
  if (action.warrant !== null) return;
  switch (verdict.decision) {
    case 'allow': {
      const { warrant } = verdict;
      const proposal = action.proposal;
      const mismatch = (
        [
          ['agent_id', warrant.agent_id, proposal.agent_id],
          ['tool', warrant.tool, proposal.tool],
          ['tool_version', warrant.tool_version, proposal.tool_version],
          ['args_sha256', warrant.args_sha256, proposal.args_sha256],
        ] as const
      ).find(([, granted, proposed]) => granted !== proposed);
      if (mismatch !== undefined) {
        finish(acc, action.action_id, 'denied', 'warrant_mismatch', `the warrant's ${mismatch[0]} does not match the proposal`, now);
        return;
      }
      if (action.budget_approval != null && verdict.approved !== true) {
        // A budget at its approval step: this allow, decided without an approval, waits for one.
        awaitApproval(acc, action, now + config.approval_timeout_ms, now, config);
        return;
      }
      const deadline = action.status === 'awaiting_approval' ? now + config.decision_timeout_ms : (action.deadline ?? now + config.decision_timeout_ms);
      acc.emit({
        type: 'WarrantRecorded',
        run_id: command.run_id,
        action_id: action.action_id,
        warrant,
        deadline,
        ...(verdict.approved === true ? { approved: true } : {}),
      });
      executeIfReady(acc, action.action_id, now, config);
      return;
    }
    case 'deny': {
      const policies = verdict.determining_policies.length > 0 ? `: ${verdict.determining_policies.join(', ')}` : ' (no policy permits it)';
      finish(acc, action.action_id, 'denied', 'policy_denied', `denied by policy${policies}`, now);
      return;
    }
    case 'approval_required':
      // Past the deadline the action fails closed (approval_timeout): the policy's own expiry, else the planner's default.
      awaitApproval(acc, action, now + (verdict.expires_in_ms ?? config.approval_timeout_ms), now, config);
      return;
    default:
      assertNever(verdict, 'policy verdict');
  }
}

/**
 * The action waits for a person's approval until `deadline` (a warrant it holds without one is set
 * aside); already waiting, it keeps its deadline. A shadow run asks nobody: once reserved, the
 * action ends saying it would await approval.
 */
function awaitApproval(acc: RunAccumulator, action: ActionState, deadline: number, now: number, config: PlannerConfig): void {
  if (action.status === 'awaiting_approval') return;
  acc.emit({ type: 'ActionAwaitingApproval', run_id: acc.state.run_id ?? '', action_id: action.action_id, deadline });
  executeIfReady(acc, action.action_id, now, config);
}

function recordBudgetResult(acc: RunAccumulator, command: RecordBudgetResult, config: PlannerConfig): void {
  const { result, now } = command;
  const action = lookup(acc.state.actions, command.action_id);
  if (action === undefined || action.status === 'awaiting_run') {
    hold(acc, command.run_id, command.action_id, { kind: 'budget', result, at: now });
    return;
  }
  switch (result.outcome) {
    case 'reserved': {
      const { reservation } = result;
      if (reservation.reservation_id !== action.action_id) {
        throw invalidCommand('result.reservation.reservation_id', `must be the action id ${action.action_id}`, reservation.reservation_id);
      }
      if (action.reservation !== null) return;
      if (isTerminalStatus(action.status)) {
        // The action ended while the accountant was reserving: give the amount back, once. (An
        // action never admitted, rejected or expired while its answers were held, is the
        // accountant's alone to release, on its ActionCompleted.)
        if (!action.release_requested && action.admitted_at !== null) {
          acc.emit({
            type: 'BudgetReleaseRequested',
            run_id: command.run_id,
            action_id: action.action_id,
            reservation_id: reservation.reservation_id,
            reason_code: 'action_ended',
          });
        }
        return;
      }
      const approval = result.approval ?? null;
      acc.emit({ type: 'ReservationRecorded', run_id: command.run_id, action_id: action.action_id, reservation, ...(approval === null ? {} : { approval }) });
      if (approval !== null && action.warrant !== null && action.approved !== true) {
        // Allowed without an approval, and the budget is at its approval step: the allow waits for one.
        awaitApproval(acc, action, now + config.approval_timeout_ms, now, config);
        return;
      }
      executeIfReady(acc, action.action_id, now, config);
      return;
    }
    case 'refused':
      if (isTerminalStatus(action.status) || action.reservation !== null) return;
      finish(acc, action.action_id, 'refused', 'budget_refused', refusalReason(result), now);
      return;
    default:
      assertNever(result, 'budget result');
  }
}

function recordExecutionOutcome(acc: RunAccumulator, command: RecordExecutionOutcome): void {
  const action = requireAction(acc.state, command.action_id);
  requireCount(command.cost_micros, 'cost_micros');
  if (isTerminalStatus(action.status)) return;
  if (action.status !== 'executing') throw outOfOrder(action, 'execution outcome', 'must name an action sent to execution');
  const spent = { cost_micros: command.cost_micros, result_json: command.result_json, result_ref: command.result_ref };
  switch (command.outcome) {
    case 'succeeded':
      finish(acc, action.action_id, 'completed', 'succeeded', command.message || 'the tool call succeeded', command.now, spent);
      return;
    case 'failed':
      finish(acc, action.action_id, 'failed', 'execution_failed', `${command.error_code ?? 'FAILED'}: ${command.message}`, command.now, spent);
      return;
    case 'unknown':
      finish(
        acc,
        action.action_id,
        'failed',
        'outcome_unknown',
        `outcome unknown, needs reconciliation (${command.error_code ?? 'UNKNOWN'}: ${command.message})`,
        command.now,
        spent,
      );
      return;
    default:
      assertNever(command.outcome, 'execution outcome');
  }
}

function expireActions(acc: RunAccumulator, command: ExpireActions): void {
  const { now } = command;
  const { limits, started_at: startedAt } = acc.state;
  if (acc.state.phase === 'active' && limits.wall_clock_ms !== null && startedAt !== null && now >= startedAt + limits.wall_clock_ms) {
    acc.emit({ type: 'RunEnded', run_id: command.run_id, status: 'expired', reason: `wall-clock limit of ${limits.wall_clock_ms} ms reached`, ended_at: now });
    for (const action of openBeforeExecution(acc.state)) {
      finish(acc, action.action_id, 'expired', 'run_wall_clock', `the run reached its wall-clock limit of ${limits.wall_clock_ms} ms`, now);
    }
  }
  for (const action of openActions(acc.state)) {
    if (action.deadline === null || now < action.deadline) continue;
    const expiry = expiryOf(action);
    finish(acc, action.action_id, 'expired', expiry.reason_code, expiry.reason, now);
  }
}
