// An eval case (evals/**/*.json, format "writ.eval/1", docs/evals.md): proposals an agent made, or
// could make, with what the pipeline must answer to each: the tool contract's validation (the
// gateway's schema check, the planner's destination allowlists), the policy decision (Cedar, with
// the run statistics, history facts and approvals given), the approvals' own authorization, and the
// budget's answer (the accountant's decider, on the budgets file, the run's caps and what the run
// had used). evaluateCase() puts a case to the current policies, tool registry and budgets, as the
// services would, and lists every expectation it misses. Sensitive values in a case are masked ("[redacted]"): they are
// never checked (they passed when recorded) and never reach Cedar (the PDP never sees them either).
import { BUDGET_SCOPES } from '@writ/budget-core';
import type { BudgetKind, BudgetScope, RefusalRule } from '@writ/budget-core';
import { withoutSealedValues } from '@writ/crypto';
import type { SealedValue } from '@writ/crypto';
import { WritError, describeError, isWritError } from '@writ/errors';
import { HISTORY_ZERO } from '@writ/policy-engine';
import type { ApprovalGrant, Decision, DecisionPoint, DecisionRequest, PolicyDecision } from '@writ/policy-engine';
import { REDACTED, checkDestinations, sealArguments, sensitivePaths, validateArguments } from '@writ/tools';
import type { ToolDefinition } from '@writ/tools';
import { budgetAnswer } from './run-budget.ts';
import type { BudgetAnswer, RunBudgets, RunCaps } from './run-budget.ts';

export const EVAL_FORMAT = 'writ.eval/1';
export const MASKED = REDACTED;

export type ValidationCode = 'TOOL_UNKNOWN' | 'ARGUMENTS_INVALID' | 'DESTINATION_NOT_ALLOWED';
const VALIDATION_CODES: readonly ValidationCode[] = ['TOOL_UNKNOWN', 'ARGUMENTS_INVALID', 'DESTINATION_NOT_ALLOWED'];
const DECISIONS: readonly PolicyDecision[] = ['allow', 'deny', 'approval_required'];

/** The answer of the tool contract: valid, or the first problem as the gateway or the planner names it. */
export type ValidationResult = 'valid' | { readonly code: ValidationCode; readonly field: string; readonly rule?: string };

export interface RunContext {
  readonly steps: number;
  readonly spend_micros: number;
  readonly calls_in_window: number;
}

export interface DecisionExpectation {
  readonly decision: PolicyDecision;
  readonly determining_policies: readonly string[];
  /** For approval_required: the approval the permit asks for. */
  readonly approval?: { readonly policy: string; readonly count: number; readonly roles: readonly string[] };
}

/**
 * What the accountant must answer to a proposal: a reservation (at a budget's approval step, or at
 * none), or a refusal by a budget, its kind and rule (limit, used and requested checked when given).
 */
export type BudgetExpectation =
  | {
      readonly answer: 'reserved';
      /** Absent: at no approval step. */
      readonly approval_step?: { readonly scope: BudgetScope; readonly kind: BudgetKind; readonly percent: number };
    }
  | {
      readonly answer: 'refused';
      readonly scope: BudgetScope;
      readonly kind: BudgetKind;
      readonly rule: RefusalRule;
      readonly limit?: number;
      readonly used?: number;
      readonly requested?: number;
    };

/** What the run's own budget had used before a proposal: money (micro-units) and tool calls, settled and held. */
export interface RunBudgetUsed {
  readonly used_micros: number;
  readonly used_calls: number;
}

export interface EvalApproval {
  readonly approver: { readonly id: string; readonly role: string };
  readonly verdict: 'approve' | 'deny';
  readonly expect: { readonly accepted: boolean; readonly determining_policies: readonly string[] };
}

export interface EvalProposal {
  readonly tool: string;
  /** Omitted: the registry's highest version, as the gateway resolves it. */
  readonly version?: string;
  readonly arguments: Readonly<Record<string, unknown>>;
  /** Omitted: the case's run. */
  readonly run_stats?: RunContext;
  /** Values of the policies' history facts (context.history); a fact not given is its zero. */
  readonly history?: Readonly<Record<string, number | boolean | string>>;
  /** The approval request escalated (context.approval.escalated). */
  readonly escalated?: boolean;
  /** Approvals submitted in order, each with what the policies must answer. */
  readonly approvals?: readonly EvalApproval[];
  /** What the run's budget had used before this proposal (with expect.budget); omitted: its spend_micros and no tool calls. */
  readonly run_budget?: RunBudgetUsed;
  readonly expect: {
    readonly validation: ValidationResult;
    /** Required when the proposal is valid; absent otherwise (nothing is decided). */
    readonly decision?: DecisionExpectation;
    /** The decision once the approvals are in (required with approvals). */
    readonly after_approvals?: DecisionExpectation;
    /** The accountant's answer (a valid proposal only). */
    readonly budget?: BudgetExpectation;
  };
  /** How the recorded action ended (a captured case): for the reader, not checked. */
  readonly recorded?: Readonly<Record<string, unknown>>;
}

export interface EvalCase {
  readonly format: typeof EVAL_FORMAT;
  readonly name: string;
  readonly description: string;
  readonly tags?: readonly string[];
  readonly tenant: string;
  readonly agent: { readonly id: string; readonly role: string; readonly owner: string };
  /** limits: the run's own caps, as its RunStarted gives them (omitted: the budgets file's run budget alone). */
  readonly run: RunContext & { readonly mode: 'live' | 'shadow'; readonly limits?: RunCaps };
  /** Where a captured case came from (run, actions, policy set): for the reader, not checked. */
  readonly captured?: Readonly<Record<string, unknown>>;
  readonly proposals: readonly EvalProposal[];
}

// ---- reading a case: every problem names the field and the rule ----

type Json = Record<string, unknown>;

function invalid(field: string, rule: string, got?: unknown): WritError {
  const shown = got === undefined ? '' : ` (got ${JSON.stringify(got)?.slice(0, 80) ?? String(got)})`;
  return new WritError('EVAL_CASE_INVALID', `${field} ${rule}${shown}`, { field, rule });
}

function objectAt(value: unknown, field: string): Json {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid(field, 'must be a JSON object', value);
  return value as Json;
}

function onlyKeys(value: Json, field: string, allowed: readonly string[]): void {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key))
      throw invalid(`${field === '' ? '' : `${field}.`}${key}`, `is not a field of ${field === '' ? 'a case' : field}: use ${allowed.join(', ')}`);
  }
}

function stringAt(value: unknown, field: string, pattern?: RegExp, rule?: string): string {
  if (typeof value !== 'string' || value === '') throw invalid(field, 'must be a non-empty string', value);
  if (pattern !== undefined && !pattern.test(value)) throw invalid(field, rule ?? `must match ${String(pattern)}`, value);
  return value;
}

function countAt(value: unknown, field: string, fallback?: number): number {
  if (value === undefined && fallback !== undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw invalid(field, 'must be a whole number from 0', value);
  return value;
}

function idsAt(value: unknown, field: string): string[] {
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string' || v === '')) throw invalid(field, 'must be a list of policy ids', value);
  return value as string[];
}

function runStatsAt(value: unknown, field: string, fallback?: RunContext): RunContext {
  const o = objectAt(value ?? {}, field);
  onlyKeys(o, field, ['steps', 'spend_micros', 'calls_in_window', ...(fallback === undefined ? ['mode', 'limits'] : [])]);
  return {
    steps: countAt(o['steps'], `${field}.steps`, fallback?.steps ?? 0),
    spend_micros: countAt(o['spend_micros'], `${field}.spend_micros`, fallback?.spend_micros ?? 0),
    calls_in_window: countAt(o['calls_in_window'], `${field}.calls_in_window`, fallback?.calls_in_window ?? 0),
  };
}

function decisionAt(value: unknown, field: string): DecisionExpectation {
  const o = objectAt(value, field);
  onlyKeys(o, field, ['decision', 'determining_policies', 'approval']);
  const decision = o['decision'];
  if (typeof decision !== 'string' || !(DECISIONS as readonly string[]).includes(decision)) {
    throw invalid(`${field}.decision`, `must be one of ${DECISIONS.join(', ')}`, decision);
  }
  const expectation: DecisionExpectation = {
    decision: decision as PolicyDecision,
    determining_policies: idsAt(o['determining_policies'], `${field}.determining_policies`),
  };
  if (o['approval'] === undefined) {
    if (decision === 'approval_required') throw invalid(`${field}.approval`, 'is required for approval_required: {"policy", "count", "roles"}');
    return expectation;
  }
  if (decision !== 'approval_required') throw invalid(`${field}.approval`, 'is only for approval_required');
  const a = objectAt(o['approval'], `${field}.approval`);
  onlyKeys(a, `${field}.approval`, ['policy', 'count', 'roles']);
  const roles = a['roles'];
  if (!Array.isArray(roles) || roles.some((r) => typeof r !== 'string')) throw invalid(`${field}.approval.roles`, 'must be a list of roles', roles);
  return {
    ...expectation,
    approval: { policy: stringAt(a['policy'], `${field}.approval.policy`), count: countAt(a['count'], `${field}.approval.count`), roles: roles as string[] },
  };
}

function validationAt(value: unknown, field: string): ValidationResult {
  if (value === 'valid') return 'valid';
  const o = objectAt(value, field);
  onlyKeys(o, field, ['code', 'field', 'rule']);
  const code = o['code'];
  if (typeof code !== 'string' || !(VALIDATION_CODES as readonly string[]).includes(code)) {
    throw invalid(`${field}.code`, `must be one of ${VALIDATION_CODES.join(', ')} (or the validation is "valid")`, code);
  }
  return {
    code: code as ValidationCode,
    field: stringAt(o['field'], `${field}.field`),
    ...(o['rule'] === undefined ? {} : { rule: stringAt(o['rule'], `${field}.rule`) }),
  };
}

function approvalAt(value: unknown, field: string): EvalApproval {
  const o = objectAt(value, field);
  onlyKeys(o, field, ['approver', 'verdict', 'expect']);
  const approver = objectAt(o['approver'], `${field}.approver`);
  onlyKeys(approver, `${field}.approver`, ['id', 'role']);
  const verdict = o['verdict'];
  if (verdict !== 'approve' && verdict !== 'deny') throw invalid(`${field}.verdict`, 'must be approve or deny', verdict);
  const expect = objectAt(o['expect'], `${field}.expect`);
  onlyKeys(expect, `${field}.expect`, ['accepted', 'determining_policies']);
  if (typeof expect['accepted'] !== 'boolean') throw invalid(`${field}.expect.accepted`, 'must be true or false', expect['accepted']);
  return {
    approver: { id: stringAt(approver['id'], `${field}.approver.id`), role: stringAt(approver['role'], `${field}.approver.role`) },
    verdict,
    expect: { accepted: expect['accepted'], determining_policies: idsAt(expect['determining_policies'], `${field}.expect.determining_policies`) },
  };
}

function historyAt(value: unknown, field: string): Record<string, number | boolean | string> {
  const o = objectAt(value, field);
  for (const [name, v] of Object.entries(o)) {
    if (typeof v !== 'number' && typeof v !== 'boolean' && typeof v !== 'string')
      throw invalid(`${field}.${name}`, 'must be a number, a boolean or a string', v);
  }
  return o as Record<string, number | boolean | string>;
}

function capAt(value: unknown, field: string): number | null {
  return value === undefined || value === null ? null : countAt(value, field);
}

function limitsAt(value: unknown, field: string): RunCaps {
  const o = objectAt(value, field);
  onlyKeys(o, field, ['max_cost_micros', 'max_tool_calls']);
  const limits = {
    max_cost_micros: capAt(o['max_cost_micros'], `${field}.max_cost_micros`),
    max_tool_calls: capAt(o['max_tool_calls'], `${field}.max_tool_calls`),
  };
  if (limits.max_cost_micros === null && limits.max_tool_calls === null) throw invalid(field, 'must set max_cost_micros or max_tool_calls (or be left out)');
  return limits;
}

function runBudgetAt(value: unknown, field: string): RunBudgetUsed {
  const o = objectAt(value, field);
  onlyKeys(o, field, ['used_micros', 'used_calls']);
  return { used_micros: countAt(o['used_micros'], `${field}.used_micros`, 0), used_calls: countAt(o['used_calls'], `${field}.used_calls`, 0) };
}

const KINDS: readonly BudgetKind[] = ['money', 'tool_calls'];
const RULES: readonly RefusalRule[] = ['cap', 'reads_only'];

function oneOf<T extends string>(value: unknown, field: string, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) throw invalid(field, `must be one of ${allowed.join(', ')}`, value);
  return value as T;
}

function budgetExpectationAt(value: unknown, field: string): BudgetExpectation {
  const o = objectAt(value, field);
  const answer = oneOf(o['answer'], `${field}.answer`, ['reserved', 'refused'] as const);
  if (answer === 'reserved') {
    onlyKeys(o, field, ['answer', 'approval_step']);
    if (o['approval_step'] === undefined || o['approval_step'] === null) return { answer };
    const step = objectAt(o['approval_step'], `${field}.approval_step`);
    onlyKeys(step, `${field}.approval_step`, ['scope', 'kind', 'percent']);
    const percent = countAt(step['percent'], `${field}.approval_step.percent`);
    if (percent < 1 || percent > 100) throw invalid(`${field}.approval_step.percent`, 'must be a whole percentage from 1 to 100', percent);
    return {
      answer,
      approval_step: {
        scope: oneOf(step['scope'], `${field}.approval_step.scope`, BUDGET_SCOPES),
        kind: oneOf(step['kind'], `${field}.approval_step.kind`, KINDS),
        percent,
      },
    };
  }
  onlyKeys(o, field, ['answer', 'scope', 'kind', 'rule', 'limit', 'used', 'requested']);
  return {
    answer,
    scope: oneOf(o['scope'], `${field}.scope`, BUDGET_SCOPES),
    kind: oneOf(o['kind'], `${field}.kind`, KINDS),
    rule: oneOf(o['rule'], `${field}.rule`, RULES),
    ...(o['limit'] === undefined ? {} : { limit: countAt(o['limit'], `${field}.limit`) }),
    ...(o['used'] === undefined ? {} : { used: countAt(o['used'], `${field}.used`) }),
    ...(o['requested'] === undefined ? {} : { requested: countAt(o['requested'], `${field}.requested`) }),
  };
}

function proposalAt(value: unknown, field: string): EvalProposal {
  const o = objectAt(value, field);
  onlyKeys(o, field, ['tool', 'version', 'arguments', 'run_stats', 'history', 'escalated', 'approvals', 'run_budget', 'expect', 'recorded']);
  const expect = objectAt(o['expect'], `${field}.expect`);
  onlyKeys(expect, `${field}.expect`, ['validation', 'decision', 'after_approvals', 'budget']);
  const validation = validationAt(expect['validation'], `${field}.expect.validation`);
  const approvals = o['approvals'] === undefined ? [] : o['approvals'];
  if (!Array.isArray(approvals)) throw invalid(`${field}.approvals`, 'must be a list of approvals', approvals);
  if (validation !== 'valid') {
    for (const key of ['decision', 'after_approvals', 'budget']) {
      if (expect[key] !== undefined) throw invalid(`${field}.expect.${key}`, 'must be absent: an invalid proposal is never decided');
    }
    if (approvals.length > 0) throw invalid(`${field}.approvals`, 'must be absent: an invalid proposal is never decided');
  } else if (expect['decision'] === undefined) throw invalid(`${field}.expect.decision`, 'is required for a valid proposal');
  if (approvals.length > 0 && expect['after_approvals'] === undefined) throw invalid(`${field}.expect.after_approvals`, 'is required with approvals');
  if (approvals.length === 0 && expect['after_approvals'] !== undefined)
    throw invalid(`${field}.expect.after_approvals`, 'is only for a proposal with approvals');
  if (o['escalated'] !== undefined && typeof o['escalated'] !== 'boolean') throw invalid(`${field}.escalated`, 'must be true or false', o['escalated']);
  if (o['run_budget'] !== undefined && expect['budget'] === undefined) throw invalid(`${field}.run_budget`, 'is only for a proposal with expect.budget');
  return {
    tool: stringAt(o['tool'], `${field}.tool`),
    ...(o['version'] === undefined ? {} : { version: stringAt(o['version'], `${field}.version`) }),
    arguments: objectAt(o['arguments'], `${field}.arguments`),
    ...(o['run_stats'] === undefined ? {} : { run_stats: runStatsAt(o['run_stats'], `${field}.run_stats`, { steps: 0, spend_micros: 0, calls_in_window: 0 }) }),
    ...(o['history'] === undefined ? {} : { history: historyAt(o['history'], `${field}.history`) }),
    ...(o['escalated'] === undefined ? {} : { escalated: o['escalated'] as boolean }),
    ...(approvals.length === 0 ? {} : { approvals: approvals.map((a, i) => approvalAt(a, `${field}.approvals[${i}]`)) }),
    ...(o['run_budget'] === undefined ? {} : { run_budget: runBudgetAt(o['run_budget'], `${field}.run_budget`) }),
    expect: {
      validation,
      ...(expect['decision'] === undefined ? {} : { decision: decisionAt(expect['decision'], `${field}.expect.decision`) }),
      ...(expect['after_approvals'] === undefined ? {} : { after_approvals: decisionAt(expect['after_approvals'], `${field}.expect.after_approvals`) }),
      ...(expect['budget'] === undefined ? {} : { budget: budgetExpectationAt(expect['budget'], `${field}.expect.budget`) }),
    },
    ...(o['recorded'] === undefined ? {} : { recorded: objectAt(o['recorded'], `${field}.recorded`) }),
  };
}

const NAME = /^[a-z0-9][a-z0-9._-]{0,127}$/;

/** A case from its parsed JSON; throws EVAL_CASE_INVALID naming the field and the rule. */
export function parseEvalCase(value: unknown): EvalCase {
  const o = objectAt(value, 'case');
  onlyKeys(o, '', ['format', 'name', 'description', 'tags', 'tenant', 'agent', 'run', 'captured', 'proposals']);
  if (o['format'] !== EVAL_FORMAT) throw invalid('format', `must be "${EVAL_FORMAT}"`, o['format']);
  const agent = objectAt(o['agent'], 'agent');
  onlyKeys(agent, 'agent', ['id', 'role', 'owner']);
  const run = objectAt(o['run'] ?? {}, 'run');
  const mode = run['mode'] ?? 'live';
  if (mode !== 'live' && mode !== 'shadow') throw invalid('run.mode', 'must be live or shadow', mode);
  const tags = o['tags'] ?? [];
  if (!Array.isArray(tags) || tags.some((t) => typeof t !== 'string')) throw invalid('tags', 'must be a list of strings', tags);
  const proposals = o['proposals'];
  if (!Array.isArray(proposals) || proposals.length === 0) throw invalid('proposals', 'must be a list of at least one proposal', proposals);
  return {
    format: EVAL_FORMAT,
    name: stringAt(o['name'], 'name', NAME, 'must be 1-128 lower-case letters, digits, ".", "_" or "-"'),
    description: stringAt(o['description'], 'description'),
    ...(tags.length === 0 ? {} : { tags: tags as string[] }),
    tenant: stringAt(o['tenant'], 'tenant'),
    agent: { id: stringAt(agent['id'], 'agent.id'), role: stringAt(agent['role'], 'agent.role'), owner: stringAt(agent['owner'], 'agent.owner') },
    run: { mode, ...runStatsAt(run, 'run'), ...(run['limits'] === undefined ? {} : { limits: limitsAt(run['limits'], 'run.limits') }) },
    ...(o['captured'] === undefined ? {} : { captured: objectAt(o['captured'], 'captured') }),
    proposals: proposals.map((p, i) => proposalAt(p, `proposals[${i}]`)),
  };
}

// ---- evaluating a case against the current policies and registry ----

/** What the case is put to. */
export interface EvalTarget {
  readonly point: DecisionPoint;
  readonly tool: (name: string, version: string | undefined) => ToolDefinition | undefined;
  /** The budgets file the budget expectations are judged against; undefined: none (a budget expectation fails, saying so). */
  readonly budgets?: RunBudgets;
}

export interface DecisionAnswer {
  readonly decision: PolicyDecision;
  readonly determining_policies: readonly string[];
  readonly approval?: { readonly policy: string; readonly count: number; readonly roles: readonly string[] };
}

export interface ProposalAnswer {
  readonly validation: ValidationResult;
  readonly decision?: DecisionAnswer;
  readonly approvals?: readonly { readonly accepted: boolean; readonly determining_policies: readonly string[]; readonly why: string }[];
  readonly after_approvals?: DecisionAnswer;
  /** The accountant's answer (for a proposal with a budget expectation), or why there is none. */
  readonly budget?: BudgetAnswer | { readonly unanswered: string };
}

export interface ProposalResult {
  readonly index: number;
  readonly tool: string;
  readonly answer: ProposalAnswer;
  /** Expectations missed, one line each ("decision: expected deny, got allow"). */
  readonly problems: readonly string[];
}

export interface CaseResult {
  readonly name: string;
  readonly passed: boolean;
  readonly proposals: readonly ProposalResult[];
}

/** A stand-in for a sealed value: the case holds no secret, and the checks after the gateway only see that it is sealed. */
const MASKED_SEAL: SealedValue = { $sealed: 'v1.0000000000000000.masked', hmac: '0'.repeat(64) };

/** "items[0].sku" for a path, as the tool contract names a field. */
function dotted(path: readonly (string | number)[]): string {
  return path.reduce<string>((out, segment) => (typeof segment === 'number' ? `${out}[${segment}]` : out === '' ? segment : `${out}.${segment}`), '');
}

function valueAt(value: unknown, path: readonly (string | number)[]): unknown {
  return path.reduce<unknown>(
    (node, segment) => (typeof node === 'object' && node !== null ? (node as Record<string | number, unknown>)[segment] : undefined),
    value,
  );
}

/**
 * The tool contract as the gateway and the planner apply it: a registered tool (TOOL_UNKNOWN), the
 * arguments against its schema (ARGUMENTS_INVALID, `arguments.<field>` and the schema keyword; a
 * masked sensitive value is not checked), then the destination allowlists of the values the
 * planner can read (DESTINATION_NOT_ALLOWED). Returns the arguments as they travel (sealed).
 */
export function validateProposal(
  proposal: Pick<EvalProposal, 'tool' | 'version' | 'arguments'>,
  target: Pick<EvalTarget, 'tool'>,
): { readonly validation: ValidationResult; readonly tool?: ToolDefinition; readonly sealed?: unknown } {
  const tool = target.tool(proposal.tool, proposal.version);
  if (tool === undefined)
    return { validation: { code: 'TOOL_UNKNOWN', field: proposal.version === undefined ? 'tool' : 'tool_version', rule: 'must name a registered tool' } };
  const masked = new Set(
    sensitivePaths(tool.arguments, proposal.arguments)
      .filter((path) => valueAt(proposal.arguments, path) === MASKED)
      .map(dotted),
  );
  const check = validateArguments(tool, proposal.arguments);
  const problems = check.ok ? [] : check.problems.filter((p) => !masked.has(p.field));
  const [first] = problems;
  if (first !== undefined) {
    return {
      validation: { code: 'ARGUMENTS_INVALID', field: first.field === '(arguments)' ? 'arguments' : `arguments.${first.field}`, rule: first.rule },
      tool,
    };
  }
  const sealed = sealArguments(tool, proposal.arguments, () => MASKED_SEAL);
  const [refused] = checkDestinations(tool, sealed, { sealed: true });
  if (refused !== undefined) return { validation: { code: 'DESTINATION_NOT_ALLOWED', field: refused.field, rule: refused.rule }, tool };
  return { validation: 'valid', tool, sealed };
}

function answerOf(decision: Decision): DecisionAnswer {
  const approval = decision.decision === 'approval_required' ? decision.approval : undefined;
  return {
    decision: decision.decision,
    determining_policies: decision.determiningPolicies,
    ...(approval === undefined ? {} : { approval: { policy: approval.policyId, count: approval.count, roles: approval.roles } }),
  };
}

function decide(point: DecisionPoint, request: DecisionRequest): DecisionAnswer {
  try {
    return answerOf(point.decide(request));
  } catch (error) {
    // The PDP denies a request Cedar refuses (e.g. an argument of the wrong type for the schema).
    if (isWritError(error)) return { decision: 'deny', determining_policies: [] };
    throw error;
  }
}

/**
 * The accountant's answer to a proposal that expects one: its reservation decided on the budgets
 * file, the case's run caps and what the run had used before it (run_budget, else the spend the
 * proposal sees and no tool calls).
 */
function budgetOf(evalCase: EvalCase, index: number, tool: ToolDefinition, target: EvalTarget): ProposalAnswer['budget'] {
  const proposal = evalCase.proposals[index] as EvalProposal;
  if (proposal.expect.budget === undefined) return undefined;
  if (target.budgets === undefined) return { unanswered: 'no budgets file to judge it against (--budgets FILE)' };
  const used = proposal.run_budget ?? { used_micros: (proposal.run_stats ?? evalCase.run).spend_micros, used_calls: 0 };
  const context = {
    tenant: evalCase.tenant,
    agentId: evalCase.agent.id,
    runId: `eval-${evalCase.name}`,
    mode: evalCase.run.mode,
    limits: evalCase.run.limits,
    used: { micros: used.used_micros, calls: used.used_calls },
  };
  try {
    return budgetAnswer(target.budgets.file, context, tool, proposal.version ?? null);
  } catch (error) {
    return { unanswered: describeError(error) };
  }
}

/**
 * A proposal through the pipeline's checks and the PDP: the tool contract, the decision, then each
 * approval as the PDP takes it (Cedar's `approve`; an approval of an action not awaiting one is
 * refused before Cedar), re-deciding with the accepted ones.
 */
export function answerProposal(evalCase: EvalCase, index: number, target: EvalTarget): ProposalAnswer {
  const proposal = evalCase.proposals[index] as EvalProposal;
  const checked = validateProposal(proposal, target);
  if (checked.validation !== 'valid' || checked.tool === undefined) return { validation: checked.validation };
  const tool = checked.tool;
  const stats = proposal.run_stats ?? evalCase.run;
  const facts = target.point.history;
  const request: DecisionRequest = {
    tenant: evalCase.tenant,
    agent: evalCase.agent,
    tool: { name: tool.name, version: tool.version, effect: tool.effect, risk: tool.risk },
    arguments: withoutSealedValues(checked.sealed) as Record<string, unknown>,
    runStats: { steps: stats.steps, spendMicros: stats.spend_micros, callsInWindow: stats.calls_in_window },
    ...(facts.length === 0
      ? {}
      : {
          history: Object.fromEntries(facts.map((f) => [f.name, proposal.history?.[f.name] ?? HISTORY_ZERO[f.operation]])),
          historyFacts: Object.fromEntries(facts.map((f) => [f.name, f.text])),
        }),
    ...(proposal.escalated === true ? { escalated: true } : {}),
    ...(evalCase.run.mode === 'shadow' ? { runMode: 'shadow' as const } : {}),
    approvals: [],
  };
  const first = decide(target.point, request);
  const budget = budgetOf(evalCase, index, tool, target);
  const budgeted = budget === undefined ? {} : { budget };
  if (proposal.approvals === undefined) return { validation: 'valid', decision: first, ...budgeted };
  let current = first;
  let granted: ApprovalGrant[] = [];
  const approvals: NonNullable<ProposalAnswer['approvals']>[number][] = [];
  for (const approval of proposal.approvals) {
    if (current.decision !== 'approval_required') {
      approvals.push({ accepted: false, determining_policies: [], why: `not awaiting approval (${current.decision})` });
      continue;
    }
    const authorization = target.point.authorizeApproval({
      approver: { id: approval.approver.id, role: approval.approver.role, tenant: evalCase.tenant },
      pendingAction: { actionId: `${evalCase.name}#${index}`, tenant: evalCase.tenant, agent: request.agent, tool: request.tool, arguments: request.arguments },
    });
    const policies = authorization.determiningPolicies;
    if (authorization.decision !== 'allow') {
      approvals.push({
        accepted: false,
        determining_policies: policies,
        why: policies.length > 0 ? `forbidden by ${policies.join(', ')}` : 'no policy permits it',
      });
      continue;
    }
    approvals.push({ accepted: true, determining_policies: policies, why: `permitted by ${policies.join(', ')}` });
    if (approval.verdict === 'deny') {
      current = { decision: 'deny', determining_policies: policies };
      continue;
    }
    if (!granted.some((g) => g.approverId === approval.approver.id)) granted = [...granted, { approverId: approval.approver.id, role: approval.approver.role }];
    current = decide(target.point, { ...request, approvals: granted });
  }
  return { validation: 'valid', decision: first, approvals, after_approvals: current, ...budgeted };
}

const list = (ids: readonly string[]): string => `[${ids.join(', ')}]`;

function sameIds(a: readonly string[], b: readonly string[]): boolean {
  const left = [...new Set(a)].sort();
  const right = [...new Set(b)].sort();
  return left.length === right.length && left.every((id, i) => id === right[i]);
}

function validationText(v: ValidationResult | undefined): string {
  if (v === undefined) return 'nothing';
  return v === 'valid' ? 'valid' : `${v.code} at ${v.field}${v.rule === undefined ? '' : ` (${v.rule})`}`;
}

function decisionProblems(what: string, expected: DecisionExpectation, got: DecisionAnswer | undefined): string[] {
  if (got === undefined) return [`${what}: expected ${expected.decision}, got no decision`];
  const out: string[] = [];
  if (got.decision !== expected.decision) out.push(`${what}: expected ${expected.decision}, got ${got.decision}`);
  if (!sameIds(got.determining_policies, expected.determining_policies)) {
    out.push(`${what} determining policies: expected ${list(expected.determining_policies)}, got ${list(got.determining_policies)}`);
  }
  const a = expected.approval;
  const b = got.approval;
  if (a !== undefined && got.decision === 'approval_required') {
    if (b === undefined || a.policy !== b.policy || a.count !== b.count || !sameIds(a.roles, b.roles)) {
      const show = (x: typeof a | undefined) => (x === undefined ? 'none' : `${x.count} by ${list(x.roles)} (${x.policy})`);
      out.push(`${what} approval asked for: expected ${show(a)}, got ${show(b)}`);
    }
  }
  return out;
}

function budgetExpectationText(e: BudgetExpectation): string {
  if (e.answer === 'refused') return `refused by the ${e.scope} ${e.kind} budget (${e.rule})`;
  return e.approval_step === undefined
    ? 'reserved at no approval step'
    : `reserved at the ${e.approval_step.scope} ${e.approval_step.kind} budget's approval step (${e.approval_step.percent} %)`;
}

/** The accountant's answer as a case's diff and `writ eval run` print it. */
export function budgetAnswerText(a: NonNullable<ProposalAnswer['budget']>): string {
  if ('unanswered' in a) return `no answer: ${a.unanswered}`;
  if (a.answer === 'refused') return `refused by the ${a.scope} ${a.kind} budget (${a.rule}): limit ${a.limit}, used ${a.used}, asked ${a.requested}`;
  const step = a.approval_step;
  return step === null
    ? 'reserved at no approval step'
    : `reserved at the ${step.scope} ${step.kind} budget's approval step (${step.percent} %: used ${step.used} of ${step.limit})`;
}

function budgetProblems(expected: BudgetExpectation, got: ProposalAnswer['budget']): string[] {
  if (got === undefined || 'unanswered' in got)
    return [`budget: expected ${budgetExpectationText(expected)}, got ${got === undefined ? 'no answer' : budgetAnswerText(got)}`];
  let same: boolean;
  if (expected.answer === 'refused')
    same = got.answer === 'refused' && got.scope === expected.scope && got.kind === expected.kind && got.rule === expected.rule;
  else {
    const want = expected.approval_step;
    const step = got.answer === 'reserved' ? got.approval_step : null;
    same =
      got.answer === 'reserved' &&
      (want === undefined ? step === null : step !== null && step.scope === want.scope && step.kind === want.kind && step.percent === want.percent);
  }
  if (!same) return [`budget: expected ${budgetExpectationText(expected)}, got ${budgetAnswerText(got)}`];
  const out: string[] = [];
  if (expected.answer === 'refused' && got.answer === 'refused') {
    for (const field of ['limit', 'used', 'requested'] as const) {
      const want = expected[field];
      if (want !== undefined && want !== got[field]) out.push(`budget refusal ${field}: expected ${want}, got ${got[field]}`);
    }
  }
  return out;
}

/** The expectations a proposal's answer misses. */
export function proposalProblems(proposal: EvalProposal, answer: ProposalAnswer): string[] {
  const out: string[] = [];
  const expected = proposal.expect.validation;
  const got = answer.validation;
  const validationMatches =
    expected === 'valid' || got === 'valid'
      ? expected === got
      : expected.code === got.code && expected.field === got.field && (expected.rule === undefined || expected.rule === got.rule);
  if (!validationMatches) out.push(`validation: expected ${validationText(expected)}, got ${validationText(got)}`);
  if (!validationMatches || expected !== 'valid') return out;
  if (proposal.expect.decision !== undefined) out.push(...decisionProblems('decision', proposal.expect.decision, answer.decision));
  (proposal.approvals ?? []).forEach((approval, i) => {
    const answered = answer.approvals?.[i];
    const who = `approval ${i + 1} (${approval.verdict} of ${approval.approver.id}, ${approval.approver.role})`;
    if (answered === undefined) out.push(`${who}: not answered`);
    else {
      if (answered.accepted !== approval.expect.accepted) {
        out.push(`${who}: expected ${approval.expect.accepted ? 'accepted' : 'refused'}, got ${answered.accepted ? 'accepted' : 'refused'} (${answered.why})`);
      }
      if (!sameIds(answered.determining_policies, approval.expect.determining_policies)) {
        out.push(`${who} determining policies: expected ${list(approval.expect.determining_policies)}, got ${list(answered.determining_policies)}`);
      }
    }
  });
  if (proposal.expect.after_approvals !== undefined)
    out.push(...decisionProblems('after the approvals', proposal.expect.after_approvals, answer.after_approvals));
  if (proposal.expect.budget !== undefined) out.push(...budgetProblems(proposal.expect.budget, answer.budget));
  return out;
}

/** A case against the target: each proposal's answer and the expectations it misses. */
export function evaluateCase(evalCase: EvalCase, target: EvalTarget): CaseResult {
  const proposals = evalCase.proposals.map((proposal, index) => {
    let answer: ProposalAnswer;
    try {
      answer = answerProposal(evalCase, index, target);
    } catch (error) {
      return { index, tool: proposal.tool, answer: { validation: 'valid' as const }, problems: [`evaluation failed: ${describeError(error)}`] };
    }
    return { index, tool: proposal.tool, answer, problems: proposalProblems(proposal, answer) };
  });
  return { name: evalCase.name, passed: proposals.every((p) => p.problems.length === 0), proposals };
}

/** The expectation a case would carry for an answer (what `writ eval capture` checks a captured case against). */
export function expectationOf(answer: DecisionAnswer): DecisionExpectation {
  return {
    decision: answer.decision,
    determining_policies: [...answer.determining_policies],
    ...(answer.approval === undefined ? {} : { approval: { ...answer.approval, roles: [...answer.approval.roles] } }),
  };
}
