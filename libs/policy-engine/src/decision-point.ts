import { sha256Hex } from '@writ/crypto';
import { WritError, isWritError } from '@writ/errors';
import { argumentTypeOf } from './arguments.ts';
import { describeCedarError, policyToJson, preparsePolicySet, preparseSchema, schemaToJsonWithResolvedTypes, statefulIsAuthorized } from './cedar.ts';
import type { CedarValueJson, EntityJson, PolicyJson, SchemaJson } from './cedar.ts';
import { contextReads, contextRecordReads, readsContextAttribute, scopeMayMatchRequest } from './context-reads.ts';
import type { ContextPath } from './context-reads.ts';
import { HISTORY_VALUE_TYPE, HISTORY_ZERO } from './history.ts';
import type { HistoryFact } from './history.ts';
import { POLICY_NAMESPACE, policySetHash } from './policy-set.ts';
import type { LoadedPolicySet } from './policy-set.ts';
import {
  agentEntity,
  approvalContext,
  approverEntity,
  argumentsRecord,
  hypotheticalApproval,
  pendingActionEntities,
  requestInvalid,
  runContext,
  tenantEntity,
  toolEntity,
  uid,
} from './request.ts';
import type { RecordArgumentType, RequestShape } from './request.ts';
import type {
  ApprovalEscalation,
  ApprovalAuthorization,
  ApprovalAuthorizationRequest,
  ApprovalRequirement,
  Decision,
  DecisionRequest,
  PolicyDecision,
  PolicyMode,
} from './types.ts';

/** The PDP's evaluator: one policy set, parsed once, answering many requests. */
export interface DecisionPoint {
  readonly policySetHash: string;
  readonly version: string;
  /** The history facts the policies define: the PDP computes each into the request's `history`. */
  readonly history: readonly HistoryFact[];
  /** Per permit asking for an approval that escalates (@approval_escalate_after / _to), by policy id. */
  readonly escalations: Readonly<Record<string, ApprovalEscalation>>;
  /** allow / deny / approval_required for `invoke`, by ARCHITECTURE's approval rule. */
  decide(request: DecisionRequest): Decision;
  /** allow / deny for `approve`: may this user approve this pending action? */
  authorizeApproval(request: ApprovalAuthorizationRequest): ApprovalAuthorization;
  /** The evaluations put to Cedar so far (not those answered from the evaluation cache). */
  readonly cedarEvaluations?: () => number;
}

interface Evaluation {
  readonly kind: 'allow' | 'forbid' | 'default-deny';
  readonly policies: readonly string[];
  readonly errors: readonly string[];
}

/** A preparsed view of the policy set (its enforced policies, or those plus warn or one shadow policy) and its approval gates. */
interface View {
  readonly id: string;
  readonly gates: readonly ApprovalRequirement[];
  /**
   * The view's permits that may read context.approval (their JSON form; undefined: not known):
   * only they can answer an approval probe, as the probe changes nothing else.
   */
  readonly approvalPermits: readonly (PolicyJson | undefined)[];
}

export interface DecisionPointOptions {
  /**
   * Cedar evaluations remembered, by the exact request Cedar is given (its entities and context,
   * and the view of the policies): an identical one is answered from memory, as Cedar would answer
   * it again. For a replay of many requests (a backtest); default 0, none.
   */
  readonly evaluationCache?: number;
}

interface Verdict {
  readonly decision: PolicyDecision;
  readonly evaluation: Evaluation;
  readonly approval?: ApprovalRequirement;
}

/** The warn-mode policies behind a decision that differs from the enforced one; all of them when none is named. */
function warnedBy(warned: Verdict, warnIds: ReadonlySet<string>): string[] {
  const named = [...warned.evaluation.policies, ...(warned.approval === undefined ? [] : [warned.approval.policyId])].filter((id) => warnIds.has(id));
  return [...new Set(named.length > 0 ? named : warnIds)].sort();
}

interface Call {
  readonly action: 'invoke' | 'approve';
  readonly principal: EntityJson;
  readonly resource: EntityJson;
  readonly entities: readonly EntityJson[];
  readonly context: Record<string, CedarValueJson>;
}

function schemaShape(policySet: LoadedPolicySet): RequestShape {
  const fail = (message: string): WritError =>
    new WritError('POLICY_SET_INVALID', `invalid policy set: the schema ${message}`, { field: 'schema', rule: message });
  const resolved = schemaToJsonWithResolvedTypes(policySet.schemaText);
  if (resolved.type === 'failure') throw fail(resolved.errors.map(describeCedarError).join('; '));
  const schema = resolved.json as SchemaJson<string>;
  const ns = schema[POLICY_NAMESPACE];
  if (ns === undefined) throw fail(`lacks namespace ${POLICY_NAMESPACE}`);
  const record = (type: unknown, where: string): RecordArgumentType => {
    if (type === undefined) throw fail(`lacks ${where}, which the PDP fills`);
    try {
      const resolvedType = argumentTypeOf(schema, POLICY_NAMESPACE, type as { type: string }, where);
      if (resolvedType.kind !== 'Record') throw new Error(`${where} must be a record type`);
      return resolvedType;
    } catch (error) {
      throw fail((error as Error).message);
    }
  };
  const attributesOf = (type: unknown): Record<string, unknown> => (type as { attributes?: Record<string, unknown> } | undefined)?.attributes ?? {};
  const enumOf = (name: string): ReadonlySet<string> => {
    const entity = ns.entityTypes[name] as { enum?: string[] } | undefined;
    if (entity?.enum === undefined) throw fail(`lacks the enumerated entity type ${name}`);
    return new Set(entity.enum);
  };
  const pendingShape = (ns.entityTypes['PendingAction'] as { shape?: unknown } | undefined)?.shape;
  const invokeContext = attributesOf(ns.actions['invoke']?.appliesTo?.context);
  const commonTypes = (ns.commonTypes ?? {}) as Record<string, { attributes?: Record<string, unknown> } | undefined>;
  /**
   * Whether a record of the invoke context declares an attribute the PDP fills only when declared
   * (a schema from before it leaves it out), which must then be required and of `kind`. Only that
   * attribute is resolved: the approval record's approvers are entities, which the argument types
   * do not cover.
   */
  const declares = (recordName: string, attribute: string, kind: 'Boolean' | 'String'): boolean => {
    const where = `context.${recordName}.${attribute}`;
    const recordType = invokeContext[recordName] as { type?: string; name?: string; attributes?: Record<string, unknown> } | undefined;
    // A common type is named by `type` ("Writ::Approval") in the resolved form, by `name` in another.
    const typeName = (recordType?.type === 'EntityOrCommon' ? recordType.name : recordType?.type) ?? '';
    const attributes = recordType?.attributes ?? commonTypes[typeName.replace(`${POLICY_NAMESPACE}::`, '')]?.attributes ?? {};
    const declared = attributes[attribute] as { type: string; required?: boolean } | undefined;
    if (declared === undefined) return false;
    let found: string;
    try {
      found = argumentTypeOf(schema, POLICY_NAMESPACE, declared, where).kind;
    } catch (error) {
      throw fail((error as Error).message);
    }
    if (found !== kind || declared.required === false) throw fail(`declares ${where}, which must be a required ${kind === 'Boolean' ? 'Bool' : kind}`);
    return true;
  };
  return {
    approvalEscalated: declares('approval', 'escalated', 'Boolean'),
    // `mode` of the run record: a schema from before shadow runs lacks it.
    runMode: declares('run', 'mode', 'String'),
    invokeArguments: record(invokeContext['arguments'], 'invoke context attribute "arguments"'),
    history: historyShape(
      invokeContext['history'] === undefined ? undefined : record(invokeContext['history'], 'invoke context attribute "history"'),
      policySet.history,
      fail,
    ),
    pendingArguments: record(attributesOf(pendingShape)['arguments'], 'PendingAction attribute "arguments"'),
    effects: enumOf('Effect'),
    risks: enumOf('Risk'),
  };
}

/**
 * The schema's context.history must declare every fact the policies define, with its operation's
 * type, and must exist when any is defined; a required attribute no fact computes is an error too.
 * An optional attribute may have no fact yet (like the arguments: declare the names a set may
 * define, read them with `has`); it is left out of the context until a published set defines it.
 */
function historyShape(
  declared: RecordArgumentType | undefined,
  facts: readonly HistoryFact[],
  fail: (message: string) => WritError,
): RecordArgumentType | undefined {
  const declaration = facts.map((f) => `${f.name}: ${HISTORY_VALUE_TYPE[f.operation]}`).join(', ');
  if (declared === undefined) {
    if (facts.length === 0) return undefined;
    throw fail(
      `lacks the invoke context attribute "history", which the @history facts ${facts.map((f) => f.name).join(', ')} fill: declare history: { ${declaration} }`,
    );
  }
  const byName = new Map(facts.map((f) => [f.name, f]));
  for (const [name, attribute] of Object.entries(declared.attributes)) {
    const fact = byName.get(name);
    if (fact === undefined) {
      if (attribute.required)
        throw fail(`declares context.history.${name} as required, but no policy defines it with @history("${name} = ...") (make it optional: ${name}?)`);
      continue;
    }
    const type = HISTORY_VALUE_TYPE[fact.operation];
    if (attribute.type.kind !== type) throw fail(`declares context.history.${name} as ${attribute.type.kind}, but its fact (${fact.operation}) is a ${type}`);
  }
  for (const fact of facts) {
    if (!(fact.name in declared.attributes))
      throw fail(`lacks context.history.${fact.name}: declare ${fact.name}: ${HISTORY_VALUE_TYPE[fact.operation]} in the history record`);
  }
  return declared;
}

/** context.history from the request's values (a fact without one: its zero), each checked against its type. */
function historyContext(values: DecisionRequest['history'], facts: readonly HistoryFact[]): Record<string, CedarValueJson> {
  if (values !== undefined && (typeof values !== 'object' || values === null || Array.isArray(values))) throw requestInvalid('history', 'must be an object');
  const context: Record<string, CedarValueJson> = {};
  for (const fact of facts) {
    const value = values?.[fact.name] ?? HISTORY_ZERO[fact.operation];
    const type = HISTORY_VALUE_TYPE[fact.operation];
    const fits =
      type === 'Long' ? typeof value === 'number' && Number.isSafeInteger(value) : type === 'Boolean' ? typeof value === 'boolean' : typeof value === 'string';
    if (!fits) throw requestInvalid(`history.${fact.name}`, `must be a ${type === 'Long' ? 'whole number' : type === 'Boolean' ? 'boolean' : 'string'}`);
    context[fact.name] = value;
  }
  return context;
}

/** Whether every string in a JSON value is well-formed UTF-16 (Cedar is given it as JSON text). */
function wellFormed(value: CedarValueJson): boolean {
  if (typeof value === 'string') return value.isWellFormed();
  if (Array.isArray(value)) return value.every(wellFormed);
  if (typeof value === 'object' && value !== null)
    return Object.entries(value).every(([key, item]) => key.isWellFormed() && wellFormed(item as CedarValueJson));
  return true;
}

/**
 * context.arguments without the optional attributes no policy reads (`reads`: those some policy
 * may read): Cedar would accept them (they were type-checked against the schema here) and no
 * condition can see them. All of them when one is not well-formed text, as Cedar would refuse it.
 */
function readableArguments(args: Record<string, CedarValueJson>, reads: ReadonlySet<string> | 'all', type: RecordArgumentType): Record<string, CedarValueJson> {
  if (reads === 'all') return args;
  let readable: Record<string, CedarValueJson> | undefined;
  for (const [name, value] of Object.entries(args)) {
    if (reads.has(name) || type.attributes[name]?.required !== false) continue;
    if (!wellFormed(value)) return args;
    readable ??= { ...args };
    delete readable[name];
  }
  return readable ?? args;
}

function uniqueEntities(entities: readonly EntityJson[]): EntityJson[] {
  const seen = new Set<string>();
  return entities.filter((entity) => {
    const key = JSON.stringify(entity.uid);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/**
 * Parses the policy set and schema once into cedar-wasm's cache (ids derived from their hashes)
 * and returns an evaluator. Refuses a policy set whose hash does not match its content, and checks
 * with one synthetic request per action that the schema fits the requests the PDP builds.
 */
export function createDecisionPoint(policySet: LoadedPolicySet, options: DecisionPointOptions = {}): DecisionPoint {
  if (policySetHash(policySet.schemaText, policySet.policies) !== policySet.hash) {
    throw new WritError('POLICY_SET_INVALID', 'invalid policy set: its hash does not match its content', {
      field: 'hash',
      rule: 'must be the sha256 of the canonical policy set',
    });
  }
  const shape = schemaShape(policySet);
  const schemaName = `writ-schema:${sha256Hex(policySet.schemaText)}`;
  const metadata = Object.values(policySet.metadata);
  const idsIn = (mode: PolicyMode): string[] =>
    metadata
      .filter((m) => m.mode === mode)
      .map((m) => m.id)
      .sort();
  // What each policy reads of context, from its JSON form (undefined: not known, so anything).
  const jsonOf = new Map<string, PolicyJson | undefined>();
  const readsOf = new Map<string, readonly ContextPath[]>();
  for (const [policyId, text] of Object.entries(policySet.policies)) {
    const answer = policyToJson(text);
    const json = answer.type === 'success' ? answer.json : undefined;
    jsonOf.set(policyId, json);
    readsOf.set(policyId, json === undefined ? [[]] : contextReads(json));
  }
  const allReads = [...readsOf.values()].flat();
  const argumentReads = contextRecordReads(allReads, 'arguments');
  const enforcedIds = idsIn('enforce');
  const warnIds = new Set(idsIn('warn'));
  // One preparsed Cedar set per view of the policies: the enforced ones; with the warn ones; with
  // each shadow one. A set without warn or shadow policies pays for one view only.
  const view = (name: string, ids: readonly string[]): View => {
    const id = `writ-policies:${policySet.hash}:${name}`;
    const answer = preparsePolicySet(id, { staticPolicies: Object.fromEntries(ids.map((policyId) => [policyId, policySet.policies[policyId] ?? ''])) });
    if (answer.type === 'failure') {
      throw new WritError('POLICY_SET_INVALID', `invalid policy set: ${answer.errors.map(describeCedarError).join('; ')}`);
    }
    const inView = new Set(ids);
    return {
      id,
      approvalPermits: metadata
        .filter((m) => inView.has(m.id) && m.effect === 'permit' && readsContextAttribute(readsOf.get(m.id) ?? [[]], 'approval'))
        .map((m) => jsonOf.get(m.id)),
      gates: metadata
        .flatMap((m) =>
          m.approval === undefined || !inView.has(m.id)
            ? []
            : [
                {
                  policyId: m.id,
                  count: m.approval.count,
                  roles: m.approval.roles,
                  ...(m.approval.expiresInMs === undefined ? {} : { expiresInMs: m.approval.expiresInMs }),
                  ...(m.reason === undefined ? {} : { reason: m.reason }),
                  ...(m.approval.escalation === undefined ? {} : { escalation: m.approval.escalation }),
                },
              ],
        )
        .sort((a, b) => a.count - b.count || a.roles.length - b.roles.length || a.policyId.localeCompare(b.policyId)),
    };
  };
  const schemaAnswer = preparseSchema(schemaName, policySet.schemaText);
  if (schemaAnswer.type === 'failure') {
    throw new WritError('POLICY_SET_INVALID', `invalid policy set: ${schemaAnswer.errors.map(describeCedarError).join('; ')}`);
  }
  const enforced = view('enforce', enforcedIds);
  const withWarn = warnIds.size === 0 ? undefined : view('warn', [...enforcedIds, ...warnIds]);
  const shadows = idsIn('shadow').map((policyId) => ({ policyId, view: view(`shadow:${policyId}`, [...enforcedIds, policyId]) }));
  const forbids = new Set(metadata.filter((m) => m.effect === 'forbid').map((m) => m.id));

  const memoSize = Math.max(0, Math.floor(options.evaluationCache ?? 0));
  const memo = new Map<string, Evaluation>();
  const evaluate = (call: Call, policies: View): Evaluation => {
    if (memoSize === 0) return evaluateInCedar(call, policies);
    const key = sha256Hex(JSON.stringify([policies.id, call.action, call.principal.uid, call.resource.uid, call.context, call.entities]));
    let evaluation = memo.get(key);
    if (evaluation === undefined) {
      evaluation = evaluateInCedar(call, policies);
      if (memo.size >= memoSize) memo.delete(memo.keys().next().value as string);
      memo.set(key, evaluation);
    }
    return { kind: evaluation.kind, policies: [...evaluation.policies], errors: [...evaluation.errors] };
  };
  let cedarEvaluations = 0;
  const evaluateInCedar = (call: Call, policies: View): Evaluation => {
    cedarEvaluations++;
    const answer = statefulIsAuthorized({
      principal: call.principal.uid,
      action: uid('Action', call.action),
      resource: call.resource.uid,
      context: call.context,
      entities: uniqueEntities(call.entities),
      preparsedSchemaName: schemaName,
      preparsedPolicySetId: policies.id,
      validateRequest: true,
    });
    if (answer.type === 'failure') {
      const message = answer.errors.map(describeCedarError).join('; ');
      throw new WritError('POLICY_EVALUATION_FAILED', `Cedar could not evaluate the ${call.action} request: ${message}`, {
        details: { cedarErrors: answer.errors.map((e) => e.message) },
      });
    }
    const { decision, diagnostics } = answer.response;
    // Cedar skips a policy whose evaluation errors. For a forbid that would mean failing open, so a
    // forbid that cannot be evaluated denies, and is named as the reason.
    const erroredForbids = diagnostics.errors.filter((e) => forbids.has(e.policyId)).map((e) => e.policyId);
    const errors = diagnostics.errors.map(
      (e) => `${e.policyId}: ${e.error.message}${forbids.has(e.policyId) ? ' (a forbid that cannot be evaluated denies)' : ''}`,
    );
    if (erroredForbids.length > 0) {
      const firedForbids = decision === 'deny' ? diagnostics.reason : [];
      return { kind: 'forbid', policies: [...new Set([...firedForbids, ...erroredForbids])].sort(), errors };
    }
    if (decision === 'allow') return { kind: 'allow', policies: [...diagnostics.reason].sort(), errors };
    if (diagnostics.reason.length > 0) return { kind: 'forbid', policies: [...diagnostics.reason].sort(), errors };
    return { kind: 'default-deny', policies: [], errors };
  };

  /** The ARCHITECTURE's approval rule over one view of the policies. */
  const decideIn = (policies: View, call: (approval: Record<string, CedarValueJson>) => Call, request: DecisionRequest): Verdict => {
    // Filled only when the schema declares it: a set written before escalation keeps its exact record.
    const escalated = shape.approvalEscalated ? request.escalated === true : undefined;
    const first = evaluate(call(approvalContext(request.approvals, escalated)), policies);
    if (first.kind === 'allow') return { decision: 'allow', evaluation: first };
    if (first.kind === 'forbid') return { decision: 'deny', evaluation: first };
    // Denied by default, not by a forbid: would the approval some permit asks for allow it? Also
    // after some approvals were recorded, so a quorum still short of its count stays pending.
    // A probe changes context.approval only, so a permit that cannot read it, or whose scope does
    // not match this request, is as unsatisfied as it was: without one that can, no probe allows.
    if (policies.gates.length === 0) return { decision: 'deny', evaluation: first };
    const { principal, resource } = call({});
    const action = uid('Action', 'invoke');
    if (!policies.approvalPermits.some((json) => json === undefined || scopeMayMatchRequest(json, principal.uid, action, resource.uid))) {
      return { decision: 'deny', evaluation: first };
    }
    for (const gate of policies.gates) {
      const probe = evaluate(call(hypotheticalApproval(gate.count, gate.roles, escalated)), policies);
      if (probe.kind === 'allow') {
        return { decision: 'approval_required', evaluation: { ...probe, errors: [...new Set([...first.errors, ...probe.errors])] }, approval: gate };
      }
    }
    return { decision: 'deny', evaluation: first };
  };

  const decide = (request: DecisionRequest): Decision => {
    if (typeof request !== 'object' || request === null) throw requestInvalid('request', 'must be an object');
    const tenant = tenantEntity(request.tenant, 'tenant');
    const principal = agentEntity(request.agent, request.tenant, 'agent');
    const resource = toolEntity(request.tool, shape, 'tool');
    const base = {
      arguments: readableArguments(argumentsRecord(request.arguments, shape.invokeArguments, 'arguments'), argumentReads, shape.invokeArguments),
      run: runContext(request.runStats, shape.runMode ? (request.runMode ?? 'live') : undefined),
      ...(shape.history === undefined ? {} : { history: historyContext(request.history, policySet.history) }),
    };
    const call = (approval: Record<string, CedarValueJson>): Call => ({
      action: 'invoke',
      principal,
      resource,
      entities: [principal, resource, tenant],
      context: { ...base, approval },
    });
    const effective = decideIn(enforced, call, request);
    const warned = withWarn === undefined ? undefined : decideIn(withWarn, call, request);
    return {
      decision: effective.decision,
      determiningPolicies: effective.evaluation.policies,
      errors: effective.evaluation.errors,
      policySetHash: policySet.hash,
      ...(effective.approval === undefined ? {} : { approval: effective.approval }),
      warnings: warned === undefined || warned.decision === effective.decision ? [] : warnedBy(warned, warnIds),
      shadowResults: shadows.map(({ policyId, view: policies }) => {
        const shadow = decideIn(policies, call, request);
        return { policyId, decision: shadow.decision, determiningPolicies: shadow.evaluation.policies };
      }),
    };
  };

  const authorizeApproval = (request: ApprovalAuthorizationRequest): ApprovalAuthorization => {
    if (typeof request !== 'object' || request === null) throw requestInvalid('request', 'must be an object');
    const principal = approverEntity(request.approver);
    const { resource, entities } = pendingActionEntities(request.pendingAction, shape);
    const approverTenant = tenantEntity(request.approver.tenant, 'approver.tenant');
    const evaluation = evaluate(
      {
        action: 'approve',
        principal,
        resource,
        entities: [principal, approverTenant, ...entities],
        context: {},
      },
      enforced,
    );
    return {
      decision: evaluation.kind === 'allow' ? 'allow' : 'deny',
      determiningPolicies: evaluation.policies,
      errors: evaluation.errors,
      policySetHash: policySet.hash,
    };
  };

  selfCheck(decide, authorizeApproval);
  const escalations = Object.fromEntries(metadata.flatMap((m) => (m.approval?.escalation === undefined ? [] : [[m.id, m.approval.escalation] as const])));
  return {
    policySetHash: policySet.hash,
    version: policySet.version,
    history: policySet.history,
    escalations,
    decide,
    authorizeApproval,
    cedarEvaluations: () => cedarEvaluations,
  };
}

/** One synthetic request per action: a schema that does not fit the PDP's requests fails at boot. */
function selfCheck(decide: DecisionPoint['decide'], authorizeApproval: DecisionPoint['authorizeApproval']): void {
  const agent = { id: 'self-check-agent', role: 'self-check', owner: 'self-check-owner' };
  const tool = { name: 'self-check.tool', version: '0', effect: 'read', risk: 'low' } as const;
  try {
    decide({ tenant: 'self-check', agent, tool, arguments: {}, runStats: { steps: 0, spendMicros: 0, callsInWindow: 0 } });
    authorizeApproval({
      approver: { id: 'self-check-approver', role: 'self-check', tenant: 'self-check' },
      pendingAction: { actionId: 'self-check-action', tenant: 'self-check', agent, tool, arguments: {} },
    });
  } catch (error) {
    if (!isWritError(error)) throw error;
    throw new WritError('POLICY_SET_INVALID', `invalid policy set: the schema does not fit the requests the PDP builds: ${error.message}`, {
      field: 'schema',
      rule: 'must declare the entities, actions and context the PDP fills (see policies/README.md)',
      cause: error,
    });
  }
}

/**
 * The decision point of a PDP that has no policy set (none published for its stream, or the
 * current one cannot be loaded here): it fails closed, denying every request and every approval
 * with the reason as its one error, under the hash of the empty set.
 */
export function failClosedDecisionPoint(reason: string): DecisionPoint {
  const hash = policySetHash('', {});
  const deny = { decision: 'deny', determiningPolicies: [], errors: [reason], policySetHash: hash } as const;
  return {
    policySetHash: hash,
    version: 'none',
    history: [],
    escalations: {},
    decide: () => ({ ...deny, warnings: [], shadowResults: [] }),
    authorizeApproval: () => deny,
  };
}
