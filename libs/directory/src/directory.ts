import { createHash, timingSafeEqual } from 'node:crypto';
import { WritError } from '@writ/errors';

/**
 * What a person may do through Writ's doors (closed set): approve held actions, pull kill switches,
 * query analytics, export and verify the ledger, or all of the tenant's operations (admin). Agents
 * have the implicit access role `agent`; a service has `service`.
 */
export const ACCESS_ROLES = ['approver', 'operator', 'analyst', 'auditor', 'admin'] as const;
export type AccessRole = (typeof ACCESS_ROLES)[number];

/** The tenant of platform administrators: the only principals whose switches act on every tenant. */
export const PLATFORM_TENANT = '*';

/** An agent: acts in one tenant, has a role (what policy lets it do) and an owner (a user of its tenant). */
export interface Agent {
  readonly id: string;
  readonly tenant: string;
  /** The job role Cedar policies see (`principal.role`), e.g. "support". */
  readonly role: string;
  readonly owner: string;
  /** sha256 of each valid API key: two during a rotation, one otherwise. */
  readonly api_keys_sha256: readonly string[];
  readonly name?: string;
  /**
   * The agent's own Kafka principal, when it proposes through the Kafka door (docs/kafka-door.md):
   * it may write only writ.door.<principal>.proposals.v1 and read only writ.door.<principal>.outcomes.v1.
   */
  readonly kafka_principal?: string;
}

/** A person of one tenant (or a platform admin, tenant "*"), with access roles and a job role. */
export interface User {
  readonly id: string;
  readonly tenant: string;
  /** The job role Cedar policies see (approvals: `context.approval.roles`), e.g. "manager". */
  readonly role: string;
  /** What the user may do through Writ's doors. */
  readonly roles: readonly AccessRole[];
  readonly api_keys_sha256: readonly string[];
  readonly name?: string;
}

/** A Writ service calling another service's HTTP door (e.g. the CLI or a peer gateway); platform-wide. */
export interface ServicePrincipal {
  readonly id: string;
  readonly api_keys_sha256: readonly string[];
}

/** Who an API key belongs to. */
export type Principal =
  | { readonly kind: 'agent'; readonly agent: Agent }
  | { readonly kind: 'user'; readonly user: User }
  | { readonly kind: 'service'; readonly service: ServicePrincipal };

export interface Directory {
  /** The agent or user holding this API key, or undefined. The key is hashed and compared in constant time. */
  authenticate(apiKey: string): Principal | undefined;
  agent(id: string): Agent | undefined;
  user(id: string): User | undefined;
  readonly agents: readonly Agent[];
  readonly users: readonly User[];
  readonly services: readonly ServicePrincipal[];
}

const CODE = 'DIRECTORY_INVALID';
const ID = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$/;
const ID_RULE = 'must be 1-128 characters of letters, digits, ".", "_", "@" or "-", starting with a letter or digit';
const ROLE = /^[a-z][a-z0-9_-]{0,63}$/;
const ROLE_RULE = 'must be 1-64 lower-case letters, digits, "_" or "-", starting with a letter';
const SHA256 = /^[0-9a-f]{64}$/;
const SHA256_RULE = 'must be the lower-case hex sha256 of the API key (64 characters), never the key itself';

const AGENT_FIELDS = ['id', 'tenant', 'role', 'owner', 'api_key_sha256', 'name', 'kafka_principal'] as const;
/** A Kafka user name that is also one segment of a topic name (no dots), never a service's (writ-*). */
const KAFKA_PRINCIPAL = /^(?!writ-)[a-z0-9][a-z0-9-]{0,99}$/;
const KAFKA_PRINCIPAL_RULE = 'must be 1-100 lower-case letters, digits or "-", starting with a letter or digit, not starting with "writ-"';
const USER_FIELDS = ['id', 'tenant', 'role', 'roles', 'api_key_sha256', 'name'] as const;
const SERVICE_FIELDS = ['id', 'api_key_sha256'] as const;
const MAX_KEYS = 4;
const ROLES_RULE = `must be a non-empty array of distinct access roles: ${ACCESS_ROLES.join(', ')}`;

/** Lower-case hex sha256 of an API key: what the directory stores instead of the key. */
export function hashApiKey(apiKey: string): string {
  return createHash('sha256').update(apiKey, 'utf8').digest('hex');
}

function invalid(source: string, field: string, rule: string, detail?: string): WritError {
  const where = field === '' ? source : `${source}: ${field}`;
  return new WritError(CODE, `directory ${where} ${detail ?? rule}`, { field, rule, details: { source } });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function checkFields(source: string, path: string, entry: Record<string, unknown>, allowed: readonly string[]): void {
  for (const key of Object.keys(entry)) {
    if (!allowed.includes(key)) {
      const rule = `unknown field; allowed: ${allowed.join(', ')}`;
      throw invalid(source, `${path}.${key}`, rule);
    }
  }
}

function text(source: string, path: string, entry: Record<string, unknown>, key: string, pattern: RegExp, rule: string): string {
  const value = entry[key];
  const field = `${path}.${key}`;
  if (value === undefined) throw invalid(source, field, 'is required');
  if (typeof value !== 'string' || !pattern.test(value)) throw invalid(source, field, rule);
  return value;
}

function optionalName(source: string, path: string, entry: Record<string, unknown>): { name?: string } {
  const value = entry['name'];
  if (value === undefined) return {};
  if (typeof value !== 'string' || value.length === 0 || value.length > 200) {
    throw invalid(source, `${path}.name`, 'must be a string of 1-200 characters');
  }
  return { name: value };
}

/** `api_key_sha256`: one hash, or up to four during a rotation (old and new keys both valid). */
function keyHashes(source: string, path: string, entry: Record<string, unknown>): readonly string[] {
  const value = entry['api_key_sha256'];
  const field = `${path}.api_key_sha256`;
  if (value === undefined) throw invalid(source, field, 'is required');
  const hashes = Array.isArray(value) ? (value as unknown[]) : [value];
  if (hashes.length === 0 || hashes.length > MAX_KEYS) {
    throw invalid(source, field, `must be one hash or an array of 1-${MAX_KEYS} hashes (old and new during a rotation)`);
  }
  for (const hash of hashes) if (typeof hash !== 'string' || !SHA256.test(hash)) throw invalid(source, field, SHA256_RULE);
  return Object.freeze(hashes as string[]);
}

function accessRoles(source: string, path: string, entry: Record<string, unknown>): readonly AccessRole[] {
  const value = entry['roles'];
  const field = `${path}.roles`;
  if (value === undefined) throw invalid(source, field, 'is required');
  if (!Array.isArray(value) || value.length === 0) throw invalid(source, field, ROLES_RULE);
  const roles = value as unknown[];
  const known = (role: unknown): role is AccessRole => typeof role === 'string' && (ACCESS_ROLES as readonly string[]).includes(role);
  if (!roles.every(known) || new Set(roles).size !== roles.length) throw invalid(source, field, ROLES_RULE);
  return Object.freeze([...roles]);
}

function list(source: string, document: Record<string, unknown>, key: 'agents' | 'users' | 'services'): readonly unknown[] {
  const value = document[key];
  if (value === undefined) {
    if (key === 'services') return [];
    throw invalid(source, key, 'is required');
  }
  if (!Array.isArray(value)) throw invalid(source, key, 'must be an array');
  return value as readonly unknown[];
}

/**
 * Validates a parsed directory document `{ agents: [...], users: [...] }` and builds the directory.
 * Errors are WritError DIRECTORY_INVALID naming the field (e.g. `agents[1].owner`) and the rule.
 */
export function parseDirectory(document: unknown, source = 'document'): Directory {
  if (!isRecord(document)) throw invalid(source, '', 'must be a JSON object with "agents" and "users" arrays');
  checkFields(source, '', document, ['agents', 'users', 'services']);
  const rawUsers = list(source, document, 'users');
  const rawAgents = list(source, document, 'agents');
  const rawServices = list(source, document, 'services');

  const ids = new Set<string>();
  const hashes = new Set<string>();
  const unique = (path: string, id: string, keys: readonly string[]): void => {
    if (ids.has(id)) throw invalid(source, `${path}.id`, 'must be unique among agents, users and services', `id "${id}" appears twice`);
    for (const hash of keys) {
      if (hashes.has(hash)) throw invalid(source, `${path}.api_key_sha256`, 'must be unique: one API key per principal');
      hashes.add(hash);
    }
    ids.add(id);
  };

  const users: User[] = rawUsers.map((raw, index) => {
    const path = `users[${index}]`;
    if (!isRecord(raw)) throw invalid(source, path, 'must be an object');
    checkFields(source, path, raw, USER_FIELDS);
    const platform = raw['tenant'] === PLATFORM_TENANT;
    const user: User = Object.freeze({
      id: text(source, path, raw, 'id', ID, ID_RULE),
      tenant: platform ? PLATFORM_TENANT : text(source, path, raw, 'tenant', ID, ID_RULE),
      role: text(source, path, raw, 'role', ROLE, ROLE_RULE),
      roles: accessRoles(source, path, raw),
      api_keys_sha256: keyHashes(source, path, raw),
      ...optionalName(source, path, raw),
    });
    if (platform && (user.roles.length !== 1 || user.roles[0] !== 'admin')) {
      throw invalid(source, `${path}.roles`, 'a platform user (tenant "*") must have exactly the roles ["admin"]');
    }
    unique(path, user.id, user.api_keys_sha256);
    return user;
  });
  const userById = new Map(users.map((user) => [user.id, user]));
  const kafkaPrincipals = new Set<string>();

  const agents: Agent[] = rawAgents.map((raw, index) => {
    const path = `agents[${index}]`;
    if (!isRecord(raw)) throw invalid(source, path, 'must be an object');
    checkFields(source, path, raw, AGENT_FIELDS);
    const agent: Agent = Object.freeze({
      id: text(source, path, raw, 'id', ID, ID_RULE),
      tenant: text(source, path, raw, 'tenant', ID, ID_RULE),
      role: text(source, path, raw, 'role', ROLE, ROLE_RULE),
      owner: text(source, path, raw, 'owner', ID, ID_RULE),
      api_keys_sha256: keyHashes(source, path, raw),
      ...optionalName(source, path, raw),
      ...(raw['kafka_principal'] === undefined ? {} : { kafka_principal: text(source, path, raw, 'kafka_principal', KAFKA_PRINCIPAL, KAFKA_PRINCIPAL_RULE) }),
    });
    if (agent.kafka_principal !== undefined) {
      if (kafkaPrincipals.has(agent.kafka_principal)) throw invalid(source, `${path}.kafka_principal`, 'must be unique: one Kafka principal per agent');
      kafkaPrincipals.add(agent.kafka_principal);
    }
    // A misspelt owner would silently let the real owner approve the agent's actions.
    const owner = userById.get(agent.owner);
    if (owner?.tenant !== agent.tenant) {
      throw invalid(source, `${path}.owner`, 'must be the id of a user of the same tenant');
    }
    unique(path, agent.id, agent.api_keys_sha256);
    return agent;
  });

  const services: ServicePrincipal[] = rawServices.map((raw, index) => {
    const path = `services[${index}]`;
    if (!isRecord(raw)) throw invalid(source, path, 'must be an object');
    checkFields(source, path, raw, SERVICE_FIELDS);
    const service: ServicePrincipal = Object.freeze({
      id: text(source, path, raw, 'id', ID, ID_RULE),
      api_keys_sha256: keyHashes(source, path, raw),
    });
    unique(path, service.id, service.api_keys_sha256);
    return service;
  });

  return buildDirectory(Object.freeze(agents), Object.freeze(users), Object.freeze(services));
}

function buildDirectory(agents: readonly Agent[], users: readonly User[], services: readonly ServicePrincipal[]): Directory {
  const agentById = new Map(agents.map((agent) => [agent.id, agent]));
  const userById = new Map(users.map((user) => [user.id, user]));
  const entries = (keys: readonly string[], principal: Principal) => keys.map((hash) => ({ digest: Buffer.from(hash, 'hex'), principal }));
  const principals: readonly { readonly digest: Buffer; readonly principal: Principal }[] = [
    ...agents.flatMap((agent) => entries(agent.api_keys_sha256, { kind: 'agent', agent })),
    ...users.flatMap((user) => entries(user.api_keys_sha256, { kind: 'user', user })),
    ...services.flatMap((service) => entries(service.api_keys_sha256, { kind: 'service', service })),
  ];

  return Object.freeze({
    agents,
    users,
    services,
    agent: (id: string) => agentById.get(id),
    user: (id: string) => userById.get(id),
    authenticate(apiKey: string): Principal | undefined {
      if (typeof apiKey !== 'string' || apiKey.length === 0) return undefined;
      const digest = createHash('sha256').update(apiKey, 'utf8').digest();
      // Every entry is compared, without an early exit, so timing says nothing about which one matched.
      let found: Principal | undefined;
      for (const entry of principals) {
        if (timingSafeEqual(entry.digest, digest) && found === undefined) found = entry.principal;
      }
      return found;
    },
  });
}
