// Checks Cedar's validator does not make: a policy set that can never allow an action, a forbid
// that shadows every permit, and approval annotations that do not match what a policy reads.
import type { HistoryFact } from './history.ts';
import type { PolicyJson, SchemaJson } from './cedar.ts';
import type { ApprovalEscalation, PolicyMode } from './types.ts';

export interface ApprovalAnnotation {
  readonly count: number;
  readonly roles: readonly string[];
  /** From @approval_expires_in("30m"): how long the approval may be waited for (else the planner's default). */
  readonly expiresInMs?: number;
  /** From @approval_escalate_after("1h") and @approval_escalate_to("director"): who else is asked after how long. */
  readonly escalation?: ApprovalEscalation;
}

export interface PolicyProblem {
  readonly policyId: string;
  readonly message: string;
}

const MAX_APPROVALS = 10;
const DURATION = /^(\d{1,6})(s|m|h|d)$/;
const UNIT_MS: Readonly<Record<string, number>> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const MIN_APPROVAL_EXPIRY_MS = 10_000;
const MIN_ESCALATION_MS = 1_000;
const MAX_APPROVAL_EXPIRY_MS = 30 * 86_400_000;

type ActionScope = PolicyJson['action'];

function actionUidsOf(scope: ActionScope): { type: string; id: string }[] | 'all' {
  if (scope.op === 'All') return 'all';
  const uids = 'entities' in scope ? scope.entities : 'entity' in scope ? [scope.entity] : [];
  return uids.map((uid) => ('__entity' in uid ? uid.__entity : uid));
}

/** Action names (e.g. "invoke") of the schema with the groups each is a member of, transitively. */
export function actionAncestry(schema: SchemaJson<string>, namespace: string): Map<string, Set<string>> {
  const actions = schema[namespace]?.actions ?? {};
  const parentsOf = (name: string): string[] => (actions[name]?.memberOf ?? []).map((parent) => parent.id);
  const ancestry = new Map<string, Set<string>>();
  for (const name of Object.keys(actions)) {
    const seen = new Set<string>([name]);
    const queue = parentsOf(name);
    for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
      if (seen.has(next)) continue;
      seen.add(next);
      queue.push(...parentsOf(next));
    }
    ancestry.set(name, seen);
  }
  return ancestry;
}

function appliesTo(policy: PolicyJson, action: string, ancestry: Map<string, Set<string>>, actionType: string): boolean {
  const uids = actionUidsOf(policy.action);
  if (uids === 'all') return true;
  const self = ancestry.get(action) ?? new Set([action]);
  return uids.some((uid) => uid.type === actionType && (policy.action.op === '==' ? uid.id === action : self.has(uid.id)));
}

function unconstrained(scope: PolicyJson['principal'] | PolicyJson['resource']): boolean {
  return scope.op === 'All' || (scope.op === 'is' && scope.in === undefined);
}

/** True when the policy's conditions read `context.approval` anywhere. */
export function readsApprovalContext(policy: PolicyJson): boolean {
  const visit = (node: unknown): boolean => {
    if (Array.isArray(node)) return node.some(visit);
    if (typeof node !== 'object' || node === null) return false;
    const access = (node as Record<string, unknown>)['.'];
    if (typeof access === 'object' && access !== null) {
      const { left, attr } = access as { left?: unknown; attr?: unknown };
      if (attr === 'approval' && typeof left === 'object' && left !== null && (left as { Var?: unknown }).Var === 'context') {
        return true;
      }
    }
    return Object.values(node).some(visit);
  };
  return visit(policy.conditions);
}

/**
 * Reads @approval_count("n") / @approval_roles("a,b"). Returns undefined when neither is present.
 * The count defaults to the number of roles (at least 1).
 */
export function parseApprovalAnnotation(policyId: string, policy: PolicyJson, problems: PolicyProblem[]): ApprovalAnnotation | undefined {
  const annotations = policy.annotations ?? {};
  const countText = annotations['approval_count'];
  const rolesText = annotations['approval_roles'];
  const expiryText = annotations['approval_expires_in'];
  const escalateAfterText = annotations['approval_escalate_after'];
  const escalateToText = annotations['approval_escalate_to'];
  if (countText === undefined && rolesText === undefined) {
    if (expiryText !== undefined)
      problems.push({ policyId, message: '@approval_expires_in needs @approval_count or @approval_roles: it is the expiry of the approval they ask for' });
    if (escalateAfterText !== undefined || escalateToText !== undefined)
      problems.push({
        policyId,
        message: '@approval_escalate_after and @approval_escalate_to need @approval_count or @approval_roles: they escalate the approval those ask for',
      });
    return undefined;
  }
  let expiresInMs: number | undefined;
  if (expiryText !== undefined) {
    const match = DURATION.exec(expiryText);
    expiresInMs = match === null ? Number.NaN : Number(match[1]) * (UNIT_MS[match[2] ?? ''] ?? Number.NaN);
    if (!(expiresInMs >= MIN_APPROVAL_EXPIRY_MS && expiresInMs <= MAX_APPROVAL_EXPIRY_MS)) {
      problems.push({ policyId, message: `@approval_expires_in("${expiryText}") must be a duration like "90s", "30m", "4h" or "2d", from 10 s to 30 days` });
      return undefined;
    }
  }
  const roles = (rolesText ?? '')
    .split(',')
    .map((role) => role.trim())
    .filter((role) => role !== '');
  let count = Math.max(1, roles.length);
  if (countText !== undefined) {
    if (!/^\d+$/.test(countText) || Number(countText) < 1 || Number(countText) > MAX_APPROVALS) {
      problems.push({ policyId, message: `@approval_count("${countText}") must be a whole number from 1 to ${MAX_APPROVALS}` });
      return undefined;
    }
    count = Number(countText);
  }
  if (count < roles.length) {
    problems.push({ policyId, message: `@approval_count("${count}") is smaller than the ${roles.length} roles of @approval_roles` });
    return undefined;
  }
  let escalation: ApprovalEscalation | undefined;
  if (escalateAfterText !== undefined || escalateToText !== undefined) {
    const match = DURATION.exec(escalateAfterText ?? '');
    const afterMs = match === null ? Number.NaN : Number(match[1]) * (UNIT_MS[match[2] ?? ''] ?? Number.NaN);
    const escalateTo = (escalateToText ?? '')
      .split(',')
      .map((role) => role.trim())
      .filter((role) => role !== '');
    if (escalateAfterText === undefined || escalateTo.length === 0) {
      problems.push({ policyId, message: '@approval_escalate_after("1h") and @approval_escalate_to("role,...") go together: after how long, to whom' });
      return undefined;
    }
    if (!(afterMs >= MIN_ESCALATION_MS && afterMs <= MAX_APPROVAL_EXPIRY_MS)) {
      problems.push({
        policyId,
        message: `@approval_escalate_after("${escalateAfterText}") must be a duration like "90s", "30m" or "4h", from 1 s to 30 days`,
      });
      return undefined;
    }
    if (expiresInMs !== undefined && afterMs >= expiresInMs) {
      problems.push({
        policyId,
        message: `@approval_escalate_after("${escalateAfterText}") must be shorter than @approval_expires_in("${expiryText ?? ''}"): the request would expire first`,
      });
      return undefined;
    }
    escalation = { afterMs, roles: escalateTo };
  }
  return { count, roles, ...(expiresInMs === undefined ? {} : { expiresInMs }), ...(escalation === undefined ? {} : { escalation }) };
}

export interface AnalysedPolicy {
  readonly id: string;
  readonly json: PolicyJson;
  readonly approval: ApprovalAnnotation | undefined;
  /** Absent: enforce. Only enforced policies can shadow every permit or be the permit an action needs. */
  readonly mode?: PolicyMode;
  /** From `@reason("...")`. */
  readonly reason?: string;
  /** From `@history("...")`. */
  readonly history?: readonly HistoryFact[];
}

/**
 * Structural checks over the whole set. Cheap and conservative: they flag only what is certain
 * (an unconditional forbid over every principal and resource; an action no permit mentions), and
 * leave subtler dead rules to Cedar's validator (which reports impossible policies) and to cases.
 */
export function analysePolicySet(policies: readonly AnalysedPolicy[], schema: SchemaJson<string>, namespace: string): PolicyProblem[] {
  const problems: PolicyProblem[] = [];
  const actionType = `${namespace}::Action`;
  const ancestry = actionAncestry(schema, namespace);
  const enforced = (p: AnalysedPolicy): boolean => (p.mode ?? 'enforce') === 'enforce';
  for (const policy of policies) {
    const { id, json, approval } = policy;
    const reads = readsApprovalContext(json);
    if (approval !== undefined && json.effect !== 'permit') {
      problems.push({ policyId: id, message: 'approval annotations belong on permit policies only' });
    }
    if (approval !== undefined && !reads) {
      problems.push({ policyId: id, message: 'declares @approval_count/@approval_roles but its conditions never read context.approval' });
    }
    if (approval === undefined && reads && json.effect === 'permit') {
      problems.push({
        policyId: id,
        message: 'reads context.approval but declares no @approval_count/@approval_roles, so the PDP cannot ask for that approval',
      });
    }
    if (enforced(policy) && json.effect === 'forbid' && json.conditions.length === 0 && unconstrained(json.principal) && unconstrained(json.resource)) {
      const shadowed = [...ancestry.keys()].filter((action) => appliesTo(json, action, ancestry, actionType));
      problems.push({
        policyId: id,
        message: `forbids every request for ${shadowed.map((a) => `${actionType}::"${a}"`).join(', ')} without a condition, so no permit can ever apply`,
      });
    }
  }
  for (const action of ancestry.keys()) {
    const permits = policies.filter((p) => enforced(p) && p.json.effect === 'permit' && appliesTo(p.json, action, ancestry, actionType));
    if (permits.length === 0) {
      problems.push({ policyId: '(policy set)', message: `no enforced permit policy applies to ${actionType}::"${action}", so it can never be allowed` });
    }
  }
  return problems;
}
