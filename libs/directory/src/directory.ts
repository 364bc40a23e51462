import { createHash, timingSafeEqual } from 'node:crypto';
import { WritError } from '@writ/errors';

/** An agent: acts in one tenant, has a role (what policy lets it do) and an owner (a user of its tenant). */
export interface Agent {
  readonly id: string;
  readonly tenant: string;
  readonly role: string;
  readonly owner: string;
  readonly api_key_sha256: string;
  readonly name?: string;
}

/** A person: approver (manager, support...) or operator (kill switches, safe mode), in one tenant. */
export interface User {
  readonly id: string;
  readonly tenant: string;
  readonly role: string;
  readonly api_key_sha256: string;
  readonly name?: string;
}

/** Who an API key belongs to. */
export type Principal = { readonly kind: 'agent'; readonly agent: Agent } | { readonly kind: 'user'; readonly user: User };

export interface Directory {
  /** The agent or user holding this API key, or undefined. The key is hashed and compared in constant time. */
  authenticate(apiKey: string): Principal | undefined;
  agent(id: string): Agent | undefined;
  user(id: string): User | undefined;
  readonly agents: readonly Agent[];
  readonly users: readonly User[];
}

const CODE = 'DIRECTORY_INVALID';
const ID = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$/;
const ID_RULE = 'must be 1-128 characters of letters, digits, ".", "_", "@" or "-", starting with a letter or digit';
const ROLE = /^[a-z][a-z0-9_-]{0,63}$/;
const ROLE_RULE = 'must be 1-64 lower-case letters, digits, "_" or "-", starting with a letter';
const SHA256 = /^[0-9a-f]{64}$/;
const SHA256_RULE = 'must be the lower-case hex sha256 of the API key (64 characters), never the key itself';

const AGENT_FIELDS = ['id', 'tenant', 'role', 'owner', 'api_key_sha256', 'name'] as const;
const USER_FIELDS = ['id', 'tenant', 'role', 'api_key_sha256', 'name'] as const;

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

function list(source: string, document: Record<string, unknown>, key: 'agents' | 'users'): readonly unknown[] {
  const value = document[key];
  if (value === undefined) throw invalid(source, key, 'is required');
  if (!Array.isArray(value)) throw invalid(source, key, 'must be an array');
  return value as readonly unknown[];
}

/**
 * Validates a parsed directory document `{ agents: [...], users: [...] }` and builds the directory.
 * Errors are WritError DIRECTORY_INVALID naming the field (e.g. `agents[1].owner`) and the rule.
 */
export function parseDirectory(document: unknown, source = 'document'): Directory {
  if (!isRecord(document)) throw invalid(source, '', 'must be a JSON object with "agents" and "users" arrays');
  checkFields(source, '', document, ['agents', 'users']);
  const rawUsers = list(source, document, 'users');
  const rawAgents = list(source, document, 'agents');

  const ids = new Set<string>();
  const hashes = new Set<string>();
  const unique = (path: string, id: string, hash: string): void => {
    if (ids.has(id)) throw invalid(source, `${path}.id`, 'must be unique among agents and users', `id "${id}" appears twice`);
    if (hashes.has(hash)) throw invalid(source, `${path}.api_key_sha256`, 'must be unique: one API key per principal');
    ids.add(id);
    hashes.add(hash);
  };

  const users: User[] = rawUsers.map((raw, index) => {
    const path = `users[${index}]`;
    if (!isRecord(raw)) throw invalid(source, path, 'must be an object');
    checkFields(source, path, raw, USER_FIELDS);
    const user: User = Object.freeze({
      id: text(source, path, raw, 'id', ID, ID_RULE),
      tenant: text(source, path, raw, 'tenant', ID, ID_RULE),
      role: text(source, path, raw, 'role', ROLE, ROLE_RULE),
      api_key_sha256: text(source, path, raw, 'api_key_sha256', SHA256, SHA256_RULE),
      ...optionalName(source, path, raw),
    });
    unique(path, user.id, user.api_key_sha256);
    return user;
  });
  const userById = new Map(users.map((user) => [user.id, user]));

  const agents: Agent[] = rawAgents.map((raw, index) => {
    const path = `agents[${index}]`;
    if (!isRecord(raw)) throw invalid(source, path, 'must be an object');
    checkFields(source, path, raw, AGENT_FIELDS);
    const agent: Agent = Object.freeze({
      id: text(source, path, raw, 'id', ID, ID_RULE),
      tenant: text(source, path, raw, 'tenant', ID, ID_RULE),
      role: text(source, path, raw, 'role', ROLE, ROLE_RULE),
      owner: text(source, path, raw, 'owner', ID, ID_RULE),
      api_key_sha256: text(source, path, raw, 'api_key_sha256', SHA256, SHA256_RULE),
      ...optionalName(source, path, raw),
    });
    // A misspelt owner would silently let the real owner approve the agent's actions.
    const owner = userById.get(agent.owner);
    if (owner?.tenant !== agent.tenant) {
      throw invalid(source, `${path}.owner`, 'must be the id of a user of the same tenant');
    }
    unique(path, agent.id, agent.api_key_sha256);
    return agent;
  });

  return buildDirectory(Object.freeze(agents), Object.freeze(users));
}

function buildDirectory(agents: readonly Agent[], users: readonly User[]): Directory {
  const agentById = new Map(agents.map((agent) => [agent.id, agent]));
  const userById = new Map(users.map((user) => [user.id, user]));
  const principals: readonly { readonly digest: Buffer; readonly principal: Principal }[] = [
    ...agents.map((agent) => ({ digest: Buffer.from(agent.api_key_sha256, 'hex'), principal: { kind: 'agent', agent } as const })),
    ...users.map((user) => ({ digest: Buffer.from(user.api_key_sha256, 'hex'), principal: { kind: 'user', user } as const })),
  ];

  return Object.freeze({
    agents,
    users,
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
