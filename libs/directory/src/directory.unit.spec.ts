import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isWritError } from '@writ/errors';
import { hashApiKey, holds, isPlatformAdmin, loadDirectory, mayActIn, parseDirectory, principalId, tenantOf, watchDirectory } from './index.ts';

const demoFolder = join(import.meta.dirname, '../../../deploy/demo');

function sample(): { agents: Record<string, unknown>[]; users: Record<string, unknown>[] } {
  return {
    agents: [{ id: 'bot', tenant: 't1', role: 'support', owner: 'olga', api_key_sha256: hashApiKey('agent-key') }],
    users: [
      { id: 'olga', tenant: 't1', role: 'manager', roles: ['approver'], api_key_sha256: hashApiKey('olga-key') },
      { id: 'ivan', tenant: 't2', role: 'operator', roles: ['operator'], api_key_sha256: hashApiKey('ivan-key') },
    ],
  };
}

function expectInvalid(run: () => unknown, field: string, rule?: RegExp): void {
  try {
    run();
  } catch (error) {
    expect(isWritError(error, 'DIRECTORY_INVALID')).toBe(true);
    const writError = error as { field?: string; rule?: string; message: string };
    expect(writError.field).toBe(field);
    if (rule !== undefined) expect(writError.rule).toMatch(rule);
    expect(writError.message).toContain(field);
    return;
  }
  throw new Error(`expected DIRECTORY_INVALID on ${field}`);
}

describe('hashApiKey', () => {
  it('is the lower-case hex sha256 of the UTF-8 key', () => {
    expect(hashApiKey('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });
});

describe('parseDirectory', () => {
  it('authenticates agents and users by key, and nobody else', () => {
    const directory = parseDirectory(sample());
    expect(directory.authenticate('agent-key')).toEqual({ kind: 'agent', agent: expect.objectContaining({ id: 'bot', owner: 'olga' }) });
    expect(directory.authenticate('olga-key')).toEqual({ kind: 'user', user: expect.objectContaining({ id: 'olga', role: 'manager' }) });
    expect(directory.authenticate('ivan-key')).toMatchObject({ kind: 'user', user: { tenant: 't2' } });
    expect(directory.authenticate('agent-key ')).toBeUndefined();
    expect(directory.authenticate('')).toBeUndefined();
    // The stored hash is not a key.
    expect(directory.authenticate(hashApiKey('agent-key'))).toBeUndefined();
  });

  it('looks agents and users up by id, in separate namespaces', () => {
    const directory = parseDirectory(sample());
    expect(directory.agent('bot')?.tenant).toBe('t1');
    expect(directory.user('olga')?.role).toBe('manager');
    expect(directory.agent('olga')).toBeUndefined();
    expect(directory.user('bot')).toBeUndefined();
    expect(directory.agent('__proto__')).toBeUndefined();
    expect(directory.agents.map((agent) => agent.id)).toEqual(['bot']);
    expect(directory.users.map((user) => user.id)).toEqual(['olga', 'ivan']);
  });

  it('returns frozen entries', () => {
    const agent = parseDirectory(sample()).agent('bot');
    expect(Object.isFrozen(agent)).toBe(true);
  });

  it('names the field and rule of every kind of mistake', () => {
    expectInvalid(() => parseDirectory([]), '', /JSON object/);
    expectInvalid(() => parseDirectory({ users: [] }), 'agents', /required/);
    expectInvalid(() => parseDirectory({ agents: [], users: {} }), 'users', /array/);
    expectInvalid(() => parseDirectory({ ...sample(), extra: 1 }), '.extra', /unknown field/);

    const missingRole = sample();
    delete missingRole.agents[0]!['role'];
    expectInvalid(() => parseDirectory(missingRole), 'agents[0].role', /required/);

    const badHash = sample();
    badHash.users[1]!['api_key_sha256'] = 'plain-text-key';
    expectInvalid(() => parseDirectory(badHash), 'users[1].api_key_sha256', /sha256/);

    const upperHash = sample();
    upperHash.users[0]!['api_key_sha256'] = hashApiKey('x').toUpperCase();
    expectInvalid(() => parseDirectory(upperHash), 'users[0].api_key_sha256');

    const badRole = sample();
    badRole.users[0]!['role'] = 'Manager!';
    expectInvalid(() => parseDirectory(badRole), 'users[0].role', /lower-case/);

    const badId = sample();
    badId.agents[0]!['id'] = '';
    expectInvalid(() => parseDirectory(badId), 'agents[0].id');

    const typo = sample();
    typo.agents[0]!['owner_id'] = 'olga';
    expectInvalid(() => parseDirectory(typo), 'agents[0].owner_id', /unknown field/);

    const notObject = sample();
    (notObject.users as unknown[])[0] = 'olga';
    expectInvalid(() => parseDirectory(notObject), 'users[0]', /object/);
  });

  it('refuses an owner that is unknown or in another tenant', () => {
    const unknownOwner = sample();
    unknownOwner.agents[0]!['owner'] = 'olgaa';
    expectInvalid(() => parseDirectory(unknownOwner), 'agents[0].owner', /same tenant/);

    const foreignOwner = sample();
    foreignOwner.agents[0]!['owner'] = 'ivan';
    expectInvalid(() => parseDirectory(foreignOwner), 'agents[0].owner', /same tenant/);
  });

  it('refuses duplicate ids and shared keys', () => {
    const duplicateId = sample();
    duplicateId.agents[0]!['id'] = 'ivan';
    expectInvalid(() => parseDirectory(duplicateId), 'agents[0].id', /unique/);

    const sharedKey = sample();
    sharedKey.users[1]!['api_key_sha256'] = hashApiKey('olga-key');
    expectInvalid(() => parseDirectory(sharedKey), 'users[1].api_key_sha256', /unique/);
  });
});

describe('loadDirectory', () => {
  let folder: string;
  beforeAll(async () => {
    folder = await mkdtemp(join(tmpdir(), 'writ-directory-'));
  });
  afterAll(async () => {
    await rm(folder, { recursive: true, force: true });
  });

  it('reads the file named by WRIT_DIRECTORY_FILE by default', async () => {
    const path = join(folder, 'directory.json');
    await writeFile(path, JSON.stringify(sample()));
    const previous = process.env['WRIT_DIRECTORY_FILE'];
    process.env['WRIT_DIRECTORY_FILE'] = path;
    try {
      const directory = await loadDirectory();
      expect(directory.authenticate('agent-key')?.kind).toBe('agent');
    } finally {
      if (previous === undefined) delete process.env['WRIT_DIRECTORY_FILE'];
      else process.env['WRIT_DIRECTORY_FILE'] = previous;
    }
  });

  it('says what is wrong: unset variable, missing file, bad JSON, bad content with the file name', async () => {
    await expect(loadDirectory('')).rejects.toMatchObject({ code: 'DIRECTORY_INVALID', field: 'WRIT_DIRECTORY_FILE' });
    await expect(loadDirectory(join(folder, 'missing.json'))).rejects.toMatchObject({ code: 'DIRECTORY_UNREADABLE' });
    const broken = join(folder, 'broken.json');
    await writeFile(broken, '{"agents": [');
    await expect(loadDirectory(broken)).rejects.toMatchObject({ code: 'DIRECTORY_INVALID', rule: 'must be valid JSON' });
    const wrong = join(folder, 'wrong.json');
    await writeFile(wrong, JSON.stringify({ agents: [], users: [{ id: 'x' }] }));
    await expect(loadDirectory(wrong)).rejects.toMatchObject({
      code: 'DIRECTORY_INVALID',
      field: 'users[0].tenant',
      message: expect.stringContaining(wrong) as unknown,
    });
  });
});

describe('the demo directory', () => {
  it('holds the demo principals, and every demo key authenticates as its own id', async () => {
    const directory = await loadDirectory(join(demoFolder, 'directory.json'));
    const { demoKeys } = JSON.parse(await readFile(join(demoFolder, 'keys.json'), 'utf8')) as { demoKeys: Record<string, string> };
    for (const [id, key] of Object.entries(demoKeys)) {
      const principal = directory.authenticate(key);
      expect(principal === undefined ? undefined : principalId(principal)).toBe(id);
    }
    expect(Object.keys(demoKeys).sort()).toEqual([...directory.agents, ...directory.users, ...directory.services].map((entry) => entry.id).sort());

    expect(directory.agent('triage-bot')).toMatchObject({ tenant: 'acme', role: 'support', owner: 'dana' });
    expect(directory.user('dana')).toMatchObject({ tenant: 'acme', role: 'manager' });
    expect(directory.user('maria')).toMatchObject({ tenant: 'acme', role: 'manager' });
    expect(directory.user('oscar')).toMatchObject({ tenant: 'acme', role: 'operator', roles: ['operator'] });
    for (const role of ['approver', 'operator', 'analyst', 'auditor', 'admin'] as const) {
      expect(
        directory.users.some((user) => user.tenant === 'acme' && user.roles.includes(role)),
        role,
      ).toBe(true);
    }
    expect(directory.agents.filter((agent) => agent.tenant === 'globex')).toHaveLength(1);
  });
});

describe('access roles', () => {
  const document = {
    ...sample(),
    users: [
      ...sample().users,
      { id: 'ada', tenant: 't1', role: 'admin', roles: ['admin'], api_key_sha256: hashApiKey('ada-key') },
      { id: 'root', tenant: '*', role: 'admin', roles: ['admin'], api_key_sha256: hashApiKey('root-key') },
    ],
    services: [{ id: 'writ-cli', api_key_sha256: hashApiKey('cli-key') }],
  };
  const directory = parseDirectory(document);
  const who = (key: string) => directory.authenticate(key) ?? expect.unreachable();

  it('a user holds its roles; an admin also holds operator, analyst and auditor but never approver', () => {
    expect(holds(who('olga-key'), 'approver')).toBe(true);
    expect(holds(who('olga-key'), 'operator')).toBe(false);
    for (const role of ['operator', 'analyst', 'auditor', 'admin'] as const) expect(holds(who('ada-key'), role)).toBe(true);
    expect(holds(who('ada-key'), 'approver')).toBe(false);
    expect(holds(who('agent-key'), 'agent')).toBe(true);
    expect(holds(who('agent-key'), 'analyst')).toBe(false);
    expect(holds(who('cli-key'), 'service')).toBe(true);
    expect(holds(who('cli-key'), 'admin')).toBe(false);
  });

  it('tenants: a user acts in its own tenant only; platform admins and services act on every tenant', () => {
    expect(tenantOf(who('ivan-key'))).toBe('t2');
    expect(mayActIn(who('ivan-key'), 't2')).toBe(true);
    expect(mayActIn(who('ivan-key'), 't1')).toBe(false);
    expect(mayActIn(who('ada-key'), 't2')).toBe(false);
    expect(isPlatformAdmin(who('ada-key'))).toBe(false);
    expect(isPlatformAdmin(who('root-key'))).toBe(true);
    expect(mayActIn(who('root-key'), 't1')).toBe(true);
    expect(mayActIn(who('cli-key'), 't2')).toBe(true);
  });

  it('refuses unknown, duplicate or missing roles, and a platform user that is not only an admin', () => {
    const withUser = (user: Record<string, unknown>) => () => parseDirectory({ ...sample(), users: [...sample().users, user] });
    const base = { id: 'x', tenant: 't1', role: 'r', api_key_sha256: hashApiKey('x') };
    expectInvalid(withUser(base), 'users[2].roles', /required/);
    expectInvalid(withUser({ ...base, roles: [] }), 'users[2].roles', /access roles/);
    expectInvalid(withUser({ ...base, roles: ['root'] }), 'users[2].roles', /approver, operator, analyst, auditor, admin/);
    expectInvalid(withUser({ ...base, roles: ['analyst', 'analyst'] }), 'users[2].roles', /distinct/);
    expectInvalid(withUser({ ...base, tenant: '*', roles: ['admin', 'approver'] }), 'users[2].roles', /platform/);
  });

  it('a key can be rotated: two hashes are valid at once, and keys stay unique across principals', () => {
    const rotating = parseDirectory({
      ...sample(),
      agents: [{ id: 'bot', tenant: 't1', role: 'support', owner: 'olga', api_key_sha256: [hashApiKey('old'), hashApiKey('new')] }],
    });
    expect(rotating.authenticate('old')?.kind).toBe('agent');
    expect(rotating.authenticate('new')?.kind).toBe('agent');
    expect(rotating.authenticate('agent-key')).toBeUndefined();
    expectInvalid(
      () => parseDirectory({ ...sample(), agents: [{ id: 'bot', tenant: 't1', role: 'support', owner: 'olga', api_key_sha256: [hashApiKey('olga-key')] }] }),
      'agents[0].api_key_sha256',
      /unique/,
    );
    expectInvalid(
      () => parseDirectory({ ...sample(), agents: [{ id: 'bot', tenant: 't1', role: 'support', owner: 'olga', api_key_sha256: [] }] }),
      'agents[0].api_key_sha256',
      /1-4/,
    );
  });
});

describe('watchDirectory', () => {
  it('rotates and revokes keys without a restart, and keeps the last valid directory when the file turns invalid', async () => {
    const folder = await mkdtemp(join(tmpdir(), 'writ-directory-live-'));
    const file = join(folder, 'directory.json');
    const errors: string[] = [];
    await writeFile(file, JSON.stringify(sample()));
    const live = await watchDirectory(file, { intervalMs: 20, onError: (message) => errors.push(message) });
    try {
      expect(live.authenticate('agent-key')?.kind).toBe('agent');
      const rotated = sample();
      rotated.agents[0] = { ...rotated.agents[0], api_key_sha256: hashApiKey('agent-key-2') };
      await writeFile(file, JSON.stringify(rotated));
      expect(await live.reload()).toBe(true);
      expect(live.authenticate('agent-key')).toBeUndefined();
      expect(live.authenticate('agent-key-2')?.kind).toBe('agent');

      await writeFile(file, '{"agents": [}');
      expect(await live.reload()).toBe(false);
      expect(errors.join('\n')).toMatch(/previous one stays in force/);
      expect(live.authenticate('agent-key-2')?.kind).toBe('agent');

      // The file watcher alone picks up a revocation.
      const revoked = sample();
      revoked.agents = [];
      await writeFile(file, JSON.stringify(revoked));
      const deadline = Date.now() + 5_000;
      while (live.authenticate('agent-key-2') !== undefined && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      expect(live.authenticate('agent-key-2')).toBeUndefined();
      expect(live.user('olga')?.roles).toEqual(['approver']);
    } finally {
      live.close();
      await rm(folder, { recursive: true, force: true });
    }
  });
});
