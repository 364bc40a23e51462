// What a policy can read of the request, found in its JSON form (policyToJson): the paths into
// `context` its conditions name, and whether its scope can match a request. Conservative by
// construction: `context` used other than through attribute accesses (`context.a.b`,
// `context has a.b`) reads all of it, and a scope other than `==` may match anything. The decision
// point leaves out of Cedar's request what no policy can read, and skips the approval probes no
// permit can answer, without changing a decision.
import type { PolicyJson } from './cedar.ts';

/** A path into `context` a policy reads: [] is all of it, ["arguments", "rows"] one attribute. */
export type ContextPath = readonly string[];

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** The path of `context.a.b...` when the expression is one, else undefined. */
function contextPathOf(expr: unknown): ContextPath | undefined {
  if (!isObject(expr)) return undefined;
  if (expr['Var'] === 'context') return [];
  const access = expr['.'];
  if (isObject(access) && typeof access['attr'] === 'string') {
    const left = contextPathOf(access['left']);
    if (left !== undefined) return [...left, access['attr']];
  }
  return undefined;
}

/** Every path into `context` the policy's conditions read (with `has`: the attribute tested). */
export function contextReads(policy: PolicyJson): ContextPath[] {
  const reads: ContextPath[] = [];
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) {
      for (const item of node) visit(item);
      return;
    }
    if (!isObject(node)) return;
    const path = contextPathOf(node);
    if (path !== undefined) {
      reads.push(path);
      return;
    }
    const has = node['has'];
    if (isObject(has)) {
      const left = contextPathOf(has['left']);
      const attr = has['attr'];
      const attrs = typeof attr === 'string' ? [attr] : Array.isArray(attr) && attr.every((a) => typeof a === 'string') ? (attr as string[]) : undefined;
      if (left !== undefined && attrs !== undefined) {
        reads.push([...left, ...attrs]);
        return;
      }
    }
    for (const value of Object.values(node)) visit(value);
  };
  visit(policy.conditions);
  return reads;
}

/** Whether one of the paths reads the context attribute `name` (or more of context, or all of it). */
export function readsContextAttribute(reads: readonly ContextPath[], name: string): boolean {
  return reads.some((path) => path.length === 0 || path[0] === name);
}

/**
 * The attributes of the record context.<name> the paths read, or 'all' when one of them reads the
 * record itself (or all of context).
 */
export function contextRecordReads(reads: readonly ContextPath[], name: string): ReadonlySet<string> | 'all' {
  const names = new Set<string>();
  for (const path of reads) {
    if (path.length === 0 || (path[0] === name && path.length === 1)) return 'all';
    if (path[0] === name && path[1] !== undefined) names.add(path[1]);
  }
  return names;
}

interface Uid {
  readonly type: string;
  readonly id: string;
}

const uidOf = (entity: unknown): Uid | undefined => {
  const inner = isObject(entity) && isObject(entity['__entity']) ? entity['__entity'] : entity;
  return isObject(inner) && typeof inner['type'] === 'string' && typeof inner['id'] === 'string' ? { type: inner['type'], id: inner['id'] } : undefined;
};

/** Whether a scope constraint may match the entity `uid`: only `== <entity>` is known not to match another one. */
function scopeMayMatch(scope: PolicyJson['principal'] | PolicyJson['action'] | PolicyJson['resource'], entity: unknown): boolean {
  if (scope.op !== '==' || !('entity' in scope)) return true;
  const fixed = uidOf(scope.entity);
  const uid = uidOf(entity);
  return fixed === undefined || uid === undefined || (fixed.type === uid.type && fixed.id === uid.id);
}

/** Whether the policy's scope may match a request on these principal, action and resource uids (false only when it cannot). */
export function scopeMayMatchRequest(policy: PolicyJson, principal: unknown, action: unknown, resource: unknown): boolean {
  return scopeMayMatch(policy.principal, principal) && scopeMayMatch(policy.action, action) && scopeMayMatch(policy.resource, resource);
}
