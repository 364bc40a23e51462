// Checks a decision request and turns it into Cedar entities and context for the Writ schema.
import { WritError } from '@writ/errors';
import { projectRecord } from './arguments.ts';
import type { ArgumentType } from './arguments.ts';
import type { CedarValueJson, EntityJson } from './cedar.ts';
import type { AgentIdentity, ApprovalGrant, Approver, PendingAction, RunStats, ToolDescriptor } from './types.ts';

const NS = 'Writ';
const ID_RULE = 'must be 1-256 characters without spaces or control characters';
const ID = /^[^\s\p{Cc}]{1,256}$/u;

export type RecordArgumentType = Extract<ArgumentType, { kind: 'Record' }>;

/** What the request builder needs to know about the schema. */
export interface RequestShape {
  readonly invokeArguments: RecordArgumentType;
  readonly pendingArguments: RecordArgumentType;
  /** The invoke context's `history` record, when the schema declares one (its attributes are the set's facts). */
  readonly history: RecordArgumentType | undefined;
  /** The schema's approval record declares `escalated` (a schema from before escalation does not: it is left out). */
  readonly approvalEscalated: boolean;
  /** The schema's run record declares `mode` (a schema from before shadow runs does not: it is left out). */
  readonly runMode: boolean;
  readonly effects: ReadonlySet<string>;
  readonly risks: ReadonlySet<string>;
}

export function requestInvalid(field: string, rule: string): WritError {
  return new WritError('POLICY_REQUEST_INVALID', `${field} ${rule}`, { field, rule });
}

export function uid(type: string, id: string): { type: string; id: string } {
  return { type: `${NS}::${type}`, id };
}

function ref(type: string, id: string): CedarValueJson {
  return { __entity: uid(type, id) };
}

function checkId(value: unknown, field: string): string {
  if (typeof value !== 'string' || !ID.test(value)) throw requestInvalid(field, ID_RULE);
  return value;
}

function checkText(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.trim() === '' || value.length > 256)
    throw requestInvalid(field, 'must be a non-empty string of at most 256 characters');
  return value;
}

function checkCount(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw requestInvalid(field, 'must be a whole number >= 0');
  return value;
}

function checkObject(value: unknown, field: string): Readonly<Record<string, unknown>> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw requestInvalid(field, 'must be an object');
  return value as Record<string, unknown>;
}

function checkOneOf(value: unknown, allowed: ReadonlySet<string>, field: string): string {
  if (typeof value !== 'string' || !allowed.has(value)) throw requestInvalid(field, `must be one of ${[...allowed].join(', ')}`);
  return value;
}

export function agentEntity(agent: AgentIdentity, tenant: string, field: string): EntityJson {
  checkObject(agent, field);
  return {
    uid: uid('Agent', checkId(agent.id, `${field}.id`)),
    attrs: { role: checkText(agent.role, `${field}.role`), owner: ref('User', checkId(agent.owner, `${field}.owner`)) },
    parents: [uid('Tenant', tenant)],
  };
}

export function toolEntity(tool: ToolDescriptor, shape: RequestShape, field: string): EntityJson {
  checkObject(tool, field);
  return {
    uid: uid('Tool', checkId(tool.name, `${field}.name`)),
    attrs: {
      effect: ref('Effect', checkOneOf(tool.effect, shape.effects, `${field}.effect`)),
      risk: ref('Risk', checkOneOf(tool.risk, shape.risks, `${field}.risk`)),
      version: checkText(tool.version, `${field}.version`),
    },
    parents: [],
  };
}

export function tenantEntity(tenant: unknown, field: string): EntityJson {
  return { uid: uid('Tenant', checkId(tenant, field)), attrs: {}, parents: [] };
}

export function argumentsRecord(args: unknown, type: RecordArgumentType, field: string): Record<string, CedarValueJson> {
  return projectRecord(checkObject(args, field), type, field);
}

/** Cedar's run record; `mode` (live | shadow) only when the schema declares it. */
export function runContext(stats: RunStats, mode?: 'live' | 'shadow'): Record<string, CedarValueJson> {
  checkObject(stats, 'runStats');
  if (mode !== undefined && mode !== 'live' && mode !== 'shadow') throw requestInvalid('runMode', 'must be live or shadow');
  return {
    steps: checkCount(stats.steps, 'runStats.steps'),
    spend_micros: checkCount(stats.spendMicros, 'runStats.spendMicros'),
    calls_in_window: checkCount(stats.callsInWindow, 'runStats.callsInWindow'),
    ...(mode === undefined ? {} : { mode }),
  };
}

/** Cedar's approval record: distinct approvers (approving twice counts once) and their roles. */
export function approvalContext(approvals: readonly ApprovalGrant[] | undefined, escalated?: boolean): Record<string, CedarValueJson> {
  if (approvals !== undefined && !Array.isArray(approvals)) throw requestInvalid('approvals', 'must be an array');
  const approvers = new Set<string>();
  const roles = new Set<string>();
  (approvals ?? []).forEach((grant, i) => {
    checkObject(grant, `approvals[${i}]`);
    approvers.add(checkId(grant.approverId, `approvals[${i}].approverId`));
    roles.add(checkText(grant.role, `approvals[${i}].role`));
  });
  return {
    count: approvers.size,
    roles: [...roles].sort(),
    approvers: [...approvers].sort().map((id) => ref('User', id)),
    ...(escalated === undefined ? {} : { escalated }),
  };
}

/**
 * The approval record a policy asks for, with placeholder approvers whose ids cannot collide with
 * real ones (real ids have no spaces), so "not the owner" style conditions hold for them.
 */
export function hypotheticalApproval(count: number, roles: readonly string[], escalated?: boolean): Record<string, CedarValueJson> {
  return {
    count,
    roles: [...roles],
    approvers: Array.from({ length: count }, (_, i) => ref('User', `hypothetical approver ${i + 1}`)),
    ...(escalated === undefined ? {} : { escalated }),
  };
}

export function approverEntity(approver: Approver): EntityJson {
  checkObject(approver, 'approver');
  const tenant = checkId(approver.tenant, 'approver.tenant');
  return {
    uid: uid('User', checkId(approver.id, 'approver.id')),
    attrs: { role: checkText(approver.role, 'approver.role'), tenant: ref('Tenant', tenant) },
    parents: [uid('Tenant', tenant)],
  };
}

export function pendingActionEntities(pending: PendingAction, shape: RequestShape): { resource: EntityJson; entities: EntityJson[] } {
  checkObject(pending, 'pendingAction');
  const tenantId = checkId(pending.tenant, 'pendingAction.tenant');
  const tenant = tenantEntity(tenantId, 'pendingAction.tenant');
  const agent = agentEntity(pending.agent, tenantId, 'pendingAction.agent');
  const tool = toolEntity(pending.tool, shape, 'pendingAction.tool');
  const resource: EntityJson = {
    uid: uid('PendingAction', checkId(pending.actionId, 'pendingAction.actionId')),
    attrs: {
      agent: ref('Agent', checkId(pending.agent.id, 'pendingAction.agent.id')),
      tool: ref('Tool', checkId(pending.tool.name, 'pendingAction.tool.name')),
      arguments: argumentsRecord(pending.arguments, shape.pendingArguments, 'pendingAction.arguments'),
    },
    parents: [uid('Tenant', tenantId)],
  };
  return { resource, entities: [resource, agent, tool, tenant] };
}
