import { describe, expect, it } from 'vitest';
import { newMetadata, uuidv7 } from '@writ/contracts';
import { hashApiKey, parseDirectory } from '@writ/directory';
import { ControlBoard } from '@writ/tools';
import { controlChangedEvent, presentControl, requireControlsReader, requirePlatformAdmin, requireTenantOperator } from './index.ts';

const stamp = { producer: 'gateway@0.1.0', trace: null, newMetadata, newRunId: () => uuidv7() };
const directory = parseDirectory({
  agents: [{ id: 'bot', tenant: 'acme', role: 'support', owner: 'dana', api_key_sha256: hashApiKey('bot') }],
  users: [
    { id: 'dana', tenant: 'acme', role: 'manager', roles: ['approver'], api_key_sha256: hashApiKey('dana') },
    { id: 'oscar', tenant: 'acme', role: 'operator', roles: ['operator'], api_key_sha256: hashApiKey('oscar') },
    { id: 'audrey', tenant: 'acme', role: 'auditor', roles: ['auditor'], api_key_sha256: hashApiKey('audrey') },
    { id: 'ana', tenant: 'acme', role: 'analyst', roles: ['analyst'], api_key_sha256: hashApiKey('ana') },
    { id: 'gina', tenant: 'globex', role: 'admin', roles: ['admin'], api_key_sha256: hashApiKey('gina') },
    { id: 'root', tenant: '*', role: 'admin', roles: ['admin'], api_key_sha256: hashApiKey('root') },
  ],
  services: [{ id: 'cli', api_key_sha256: hashApiKey('cli') }],
});
const who = (key: string) => directory.authenticate(key) ?? expect.unreachable();
const refused = expect.objectContaining({ code: 'FORBIDDEN' }) as Error;

describe('controlChangedEvent', () => {
  const base = { setBy: 'oscar', request: { enabled: true, reason: 'incident' }, stamp };

  it('writes the scope in meta.tenant_id and in the key', () => {
    const event = controlChangedEvent({ ...base, scope: 'acme', target: { control: 'kill_switch', subject: { kind: 'tool', tool: 'refunds.issue' } } });
    expect(event).toMatchObject({
      control_key: 'acme/tool:refunds.issue',
      kind: 'tool_kill_switch',
      target: 'refunds.issue',
      enabled: true,
      reason: 'incident',
      set_by: 'oscar',
      value: null,
      meta: { tenant_id: 'acme', action_id: null },
    });
    expect(controlChangedEvent({ ...base, scope: '*', target: { control: 'safe_mode', subject: { kind: 'all' } } })).toMatchObject({
      control_key: '*/safe_mode:*',
      kind: 'safe_mode',
      target: '*',
      meta: { tenant_id: '*' },
    });
    expect(controlChangedEvent({ ...base, scope: 'acme', target: { control: 'safe_mode', subject: { kind: 'agent', agent: 'bot' } } })).toMatchObject({
      control_key: 'acme/safe_mode:agent:bot',
      target: 'agent:bot',
    });
  });

  it('is shown with its scope and subject', () => {
    const board = new ControlBoard();
    board.apply(controlChangedEvent({ ...base, scope: 'acme', target: { control: 'safe_mode', subject: { kind: 'tool', tool: 'refunds.*' } } }));
    const [shown] = board.active().map(presentControl);
    expect(shown).toMatchObject({
      control_key: 'acme/safe_mode:tool:refunds.*',
      scope: 'acme',
      control: 'safe_mode',
      subject: 'tool',
      tool: 'refunds.*',
      enabled: true,
      set_by: 'oscar',
    });
    expect(shown?.set_at).toMatch(/^\d{4}-\d\d-\d\dT/);
  });
});

describe('who may change and read controls', () => {
  it('tenant controls: operators and admins of a tenant, never a platform admin through a tenant route', () => {
    expect(requireTenantOperator(who('oscar')).tenant).toBe('acme');
    expect(requireTenantOperator(who('gina')).tenant).toBe('globex');
    for (const key of ['dana', 'audrey', 'ana', 'bot', 'cli', 'root']) expect(() => requireTenantOperator(who(key)), key).toThrow(refused);
  });

  it('platform controls: platform admins only', () => {
    expect(requirePlatformAdmin(who('root')).id).toBe('root');
    for (const key of ['oscar', 'gina', 'dana', 'bot', 'cli']) expect(() => requirePlatformAdmin(who(key)), key).toThrow(refused);
  });

  it('the list: operators, auditors, admins and platform admins', () => {
    for (const key of ['oscar', 'audrey', 'gina', 'root']) expect(requireControlsReader(who(key)).id).toBe(key);
    for (const key of ['dana', 'ana', 'bot', 'cli']) expect(() => requireControlsReader(who(key)), key).toThrow(refused);
  });
});
