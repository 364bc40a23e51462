import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { WritError } from '@writ/errors';

// deploy/kafka/acls.json as data: who may produce, consume, join which groups and use which
// transactional ids. Pure: parsing and turning the table into ACL bindings need no broker.

export interface PrincipalGrants {
  readonly service: string;
  readonly produce: readonly string[];
  readonly consume: readonly string[];
  /** Consumer group id prefixes. */
  readonly groups: readonly string[];
  /** Transactional id prefixes. */
  readonly transactionalIds: readonly string[];
}

export interface AclTable {
  readonly superUser: string;
  readonly principals: Readonly<Record<string, PrincipalGrants>>;
  /** Event type -> the one principal allowed to emit it. */
  readonly owners: Readonly<Record<string, string>>;
}

export type AclResourceType = 'TOPIC' | 'GROUP' | 'TRANSACTIONAL_ID';

export interface AclBinding {
  /** `User:<name>` */
  readonly principal: string;
  readonly resourceType: AclResourceType;
  readonly patternType: 'LITERAL' | 'PREFIXED';
  readonly name: string;
  readonly operation: 'READ' | 'WRITE';
}

export function aclTablePath(root: string): string {
  return join(root, 'deploy', 'kafka', 'acls.json');
}

export function loadAclTable(root: string): AclTable {
  const path = aclTablePath(root);
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new WritError('ACL_TABLE_INVALID', `cannot read ${path}: ${(error as Error).message}`, { field: 'acls.json', rule: 'valid JSON', cause: error });
  }
  return parseAclTable(parsed, path);
}

const NAME = /^[A-Za-z0-9._-]+$/;

export function parseAclTable(raw: unknown, source = 'acls.json'): AclTable {
  const fail = (where: string, rule: string): never => {
    throw new WritError('ACL_TABLE_INVALID', `${source}: ${where} ${rule}`, { field: where, rule });
  };
  const object = (value: unknown, where: string): Record<string, unknown> =>
    typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : fail(where, 'must be an object');
  const names = (value: unknown, where: string): string[] => {
    if (!Array.isArray(value)) return fail(where, 'must be a list of names');
    return value.map((item, i) => (typeof item === 'string' && NAME.test(item) ? item : fail(`${where}[${i}]`, 'must be a name of [A-Za-z0-9._-]')));
  };
  const table = object(raw, '(root)');
  const superUser = typeof table['superUser'] === 'string' && NAME.test(table['superUser']) ? table['superUser'] : fail('superUser', 'must be a name');
  const principals: Record<string, PrincipalGrants> = {};
  for (const [name, value] of Object.entries(object(table['principals'], 'principals'))) {
    if (!NAME.test(name) || name === superUser) fail(`principals.${name}`, 'must be a name other than the super user');
    const p = object(value, `principals.${name}`);
    principals[name] = {
      service: typeof p['service'] === 'string' ? p['service'] : fail(`principals.${name}.service`, 'must be a string'),
      produce: names(p['produce'], `principals.${name}.produce`),
      consume: names(p['consume'], `principals.${name}.consume`),
      groups: names(p['groups'], `principals.${name}.groups`),
      transactionalIds: names(p['transactionalIds'], `principals.${name}.transactionalIds`),
    };
  }
  const owners: Record<string, string> = {};
  for (const [type, owner] of Object.entries(object(table['owners'], 'owners'))) {
    if (typeof owner !== 'string' || principals[owner] === undefined) fail(`owners.${type}`, 'must name a principal of the table');
    owners[type] = owner as string;
  }
  // ACLs are per topic: an event type has one owner on the broker only if its topic has one writer.
  if (table['sharedTopics'] !== undefined) fail('sharedTopics', 'is not allowed: every topic has exactly one writer');
  const writerOf = new Map<string, string>();
  for (const [name, grants] of Object.entries(principals)) {
    for (const topic of grants.produce) {
      const other = writerOf.get(topic);
      if (other !== undefined && other !== name)
        fail(`principals.${name}.produce`, `must not list ${topic}: ${other} writes it, and every topic has exactly one writer`);
      writerOf.set(topic, name);
    }
  }
  return { superUser, principals, owners };
}

/** The ACLs that grant exactly the table (StandardAuthorizer: READ and WRITE imply DESCRIBE). */
export function aclBindings(table: AclTable): AclBinding[] {
  const bindings: AclBinding[] = [];
  for (const [name, grants] of Object.entries(table.principals)) {
    const principal = `User:${name}`;
    for (const topic of grants.produce) bindings.push({ principal, resourceType: 'TOPIC', patternType: 'LITERAL', name: topic, operation: 'WRITE' });
    for (const topic of grants.consume) bindings.push({ principal, resourceType: 'TOPIC', patternType: 'LITERAL', name: topic, operation: 'READ' });
    for (const group of grants.groups) bindings.push({ principal, resourceType: 'GROUP', patternType: 'PREFIXED', name: group, operation: 'READ' });
    for (const id of grants.transactionalIds) {
      bindings.push({ principal, resourceType: 'TRANSACTIONAL_ID', patternType: 'PREFIXED', name: id, operation: 'WRITE' });
    }
  }
  return bindings;
}

/** The principal a service runs as. */
export function principalOfService(table: AclTable, service: string): string | undefined {
  return Object.entries(table.principals).find(([, grants]) => grants.service === service)?.[0];
}

/** Topic -> principals allowed to produce to it. */
export function writersByTopic(table: AclTable): Map<string, string[]> {
  const writers = new Map<string, string[]>();
  for (const [name, grants] of Object.entries(table.principals)) {
    for (const topic of grants.produce) writers.set(topic, [...(writers.get(topic) ?? []), name]);
  }
  return writers;
}
