import { describe, expect, it } from 'vitest';
import { newMetadata } from '@writ/contracts';
import type { ControlChanged } from '@writ/contracts';
import { ControlBoard, decodeControl, encodeControl } from './index.ts';
import type { ControlSetting } from './index.ts';

const REFUND = { name: 'refunds.issue', version: '1.2.0', effect: 'write' } as const;
const TICKET = { name: 'tickets.get', version: '1.0.0', effect: 'read' } as const;

/** A ControlChanged as the gateway writes it. */
function control(setting: ControlSetting, enabled = true): ControlChanged {
  return {
    meta: newMetadata({ tenant_id: setting.scope, run_id: 'ops', producer: 'gateway@test' }),
    ...encodeControl(setting),
    enabled,
    value: null,
    reason: 'test',
    set_by: 'oscar',
  };
}

const toolSwitch = (scope: string, tool: string, enabled = true) => control({ scope, control: 'kill_switch', subject: { kind: 'tool', tool } }, enabled);
const agentSwitch = (scope: string, agent: string, enabled = true) => control({ scope, control: 'kill_switch', subject: { kind: 'agent', agent } }, enabled);
const tenantSwitch = (scope: string, enabled = true) => control({ scope, control: 'kill_switch', subject: { kind: 'all' } }, enabled);
const safeMode = (scope: string, enabled = true) => control({ scope, control: 'safe_mode', subject: { kind: 'all' } }, enabled);
const toolSafeMode = (scope: string, tool: string) => control({ scope, control: 'safe_mode', subject: { kind: 'tool', tool } });
const agentSafeMode = (scope: string, agent: string) => control({ scope, control: 'safe_mode', subject: { kind: 'agent', agent } });

function board(...controls: ControlChanged[]): ControlBoard {
  const result = new ControlBoard();
  for (const c of controls) result.apply(c);
  return result;
}

describe('control keys', () => {
  it('carry the scope, the kind and the subject', () => {
    expect(toolSwitch('acme', 'refunds.issue')).toMatchObject({ control_key: 'acme/tool:refunds.issue', kind: 'tool_kill_switch', target: 'refunds.issue' });
    expect(agentSwitch('acme', 'bot')).toMatchObject({ control_key: 'acme/agent:bot', kind: 'agent_kill_switch', target: 'bot' });
    expect(tenantSwitch('acme')).toMatchObject({ control_key: 'acme/tool:*', kind: 'tool_kill_switch', target: '*' });
    expect(safeMode('*')).toMatchObject({ control_key: '*/safe_mode:*', kind: 'safe_mode', target: '*' });
    expect(toolSafeMode('acme', 'refunds.*')).toMatchObject({ control_key: 'acme/safe_mode:tool:refunds.*', target: 'tool:refunds.*' });
    expect(agentSafeMode('globex', 'bot')).toMatchObject({ control_key: 'globex/safe_mode:agent:bot', target: 'agent:bot' });
  });

  it('decode to what they encode', () => {
    const settings: ControlSetting[] = [
      { scope: 'acme', control: 'kill_switch', subject: { kind: 'tool', tool: 'refunds.issue@1.2.0' } },
      { scope: '*', control: 'kill_switch', subject: { kind: 'all' } },
      { scope: 'acme', control: 'kill_switch', subject: { kind: 'agent', agent: 'bot' } },
      { scope: 'acme', control: 'safe_mode', subject: { kind: 'agent', agent: 'bot' } },
      { scope: 'acme', control: 'safe_mode', subject: { kind: 'tool', tool: 'refunds.*' } },
      { scope: '*', control: 'safe_mode', subject: { kind: 'all' } },
    ];
    for (const setting of settings) expect(decodeControl(control(setting))).toEqual(setting);
  });
});

describe('ControlBoard: tenants', () => {
  // Tenant A's operator pulled refunds.issue; tenant B's pulled its agent bot-b and safe mode;
  // the platform stopped tools.export everywhere.
  const controls = board(toolSwitch('tenant-a', 'refunds.issue'), agentSwitch('tenant-b', 'bot-b'), safeMode('tenant-b'), toolSwitch('*', 'tools.export'));
  const EXPORT = { name: 'tools.export', version: '1.0.0', effect: 'read' } as const;

  it('applies a tenant’s tool kill switch to that tenant only', () => {
    expect(controls.refusal(REFUND, 'bot-a', 'tenant-a')?.code).toBe('TOOL_KILL_SWITCH');
    expect(controls.refusal(REFUND, 'bot-c', 'tenant-c')).toBeUndefined();
    expect(controls.isToolKilled('tenant-a', REFUND)).toBe(true);
    expect(controls.isToolKilled('tenant-c', REFUND)).toBe(false);
  });

  it('applies a tenant’s agent switch and safe mode to that tenant only', () => {
    expect(controls.refusal(TICKET, 'bot-b', 'tenant-b')?.code).toBe('AGENT_KILL_SWITCH');
    expect(controls.refusal(REFUND, 'bot-b2', 'tenant-b')?.code).toBe('SAFE_MODE');
    // Reads run in safe mode.
    expect(controls.refusal(TICKET, 'bot-b2', 'tenant-b')).toBeUndefined();
    // An agent id of tenant B used in tenant A is not B's agent.
    expect(controls.isAgentKilled('tenant-b', 'bot-b')).toBe(true);
    expect(controls.isAgentKilled('tenant-a', 'bot-b')).toBe(false);
    expect(controls.refusal(TICKET, 'bot-b', 'tenant-a')).toBeUndefined();
    // Safe mode of B does not touch A's writes (A's refunds are stopped by A's own switch, not B's).
    expect(controls.refusal({ ...REFUND, name: 'refunds.partial' }, 'bot-a', 'tenant-a')).toBeUndefined();
  });

  it('applies a platform-wide control to every tenant', () => {
    for (const tenant of ['tenant-a', 'tenant-b', 'tenant-c']) {
      expect(controls.refusal(EXPORT, 'bot-x', tenant)?.message).toContain('platform-wide');
      expect(controls.isToolKilled(tenant, EXPORT)).toBe(true);
    }
  });

  it('lists to a tenant its own controls and the platform’s, never another tenant’s', () => {
    expect(
      controls
        .activeFor('tenant-a')
        .map((c) => c.control_key)
        .sort(),
    ).toEqual(['*/tool:tools.export', 'tenant-a/tool:refunds.issue']);
    expect(
      controls
        .activeFor('tenant-b')
        .map((c) => c.control_key)
        .sort(),
    ).toEqual(['*/tool:tools.export', 'tenant-b/agent:bot-b', 'tenant-b/safe_mode:*']);
    expect(controls.activeFor('tenant-c').map((c) => c.control_key)).toEqual(['*/tool:tools.export']);
  });

  it('keeps two tenants’ switches of the same tool apart: releasing one leaves the other', () => {
    const both = board(toolSwitch('tenant-a', 'refunds.issue'), toolSwitch('tenant-b', 'refunds.issue'), toolSwitch('tenant-b', 'refunds.issue', false));
    expect(both.refusal(REFUND, 'bot', 'tenant-a')?.code).toBe('TOOL_KILL_SWITCH');
    expect(both.refusal(REFUND, 'bot', 'tenant-b')).toBeUndefined();
  });

  it('lets no tenant release the platform’s switch (a tenant’s release is its own control)', () => {
    const released = board(tenantSwitch('*'), tenantSwitch('tenant-a', false), safeMode('*'), safeMode('tenant-a', false));
    expect(released.refusal(TICKET, 'bot', 'tenant-a')?.code).toBe('TOOL_KILL_SWITCH');
    expect(released.refusal(REFUND, 'bot', 'tenant-a')?.code).toBe('TOOL_KILL_SWITCH');
    const safeOnly = board(safeMode('*'), safeMode('tenant-a', false));
    expect(safeOnly.refusal(REFUND, 'bot', 'tenant-a')?.code).toBe('SAFE_MODE');
  });
});

describe('ControlBoard: subjects', () => {
  it('a tenant’s switch stops every tool of the tenant, reads included', () => {
    const controls = board(tenantSwitch('acme'));
    expect(controls.refusal(TICKET, 'bot', 'acme')?.message).toContain('every tool');
    expect(controls.isToolKilled('acme', TICKET)).toBe(true);
    expect(controls.isAgentKilled('acme', 'bot')).toBe(false);
    expect(controls.refusal(TICKET, 'bot', 'globex')).toBeUndefined();
  });

  it('per-tool safe mode stops the side effects of that tool only', () => {
    const controls = board(toolSafeMode('acme', 'refunds.*'));
    expect(controls.refusal(REFUND, 'bot', 'acme')?.code).toBe('SAFE_MODE');
    expect(controls.refusal({ ...REFUND, name: 'customers.delete', effect: 'destructive' }, 'bot', 'acme')).toBeUndefined();
    expect(controls.refusal(REFUND, 'bot', 'globex')).toBeUndefined();
    // Safe mode is no kill switch: the planner still admits.
    expect(controls.isToolKilled('acme', REFUND)).toBe(false);
  });

  it('per-agent safe mode lets that agent read, not write', () => {
    const controls = board(agentSafeMode('acme', 'bot'));
    expect(controls.refusal(REFUND, 'bot', 'acme')?.code).toBe('SAFE_MODE');
    expect(controls.refusal(TICKET, 'bot', 'acme')).toBeUndefined();
    expect(controls.refusal(REFUND, 'other-bot', 'acme')).toBeUndefined();
    expect(controls.refusal(REFUND, 'bot', 'globex')).toBeUndefined();
  });

  it('the latest change of a control wins, and released controls are not active', () => {
    const controls = board(toolSwitch('acme', 'refunds.issue'), toolSwitch('acme', 'refunds.issue', false));
    expect(controls.refusal(REFUND, 'bot', 'acme')).toBeUndefined();
    expect(controls.active()).toEqual([]);
    expect(controls.version).toBe(2);
  });
});

describe('ControlBoard: controls written before keys carried the tenant', () => {
  const legacy = (kind: ControlChanged['kind'], target: string, tenant: string, key: string, enabled = true): ControlChanged => ({
    meta: newMetadata({ tenant_id: tenant, run_id: 'ops', producer: 'gateway@0.1.0' }),
    control_key: key,
    kind,
    target,
    enabled,
    value: null,
    reason: 'old',
    set_by: 'oscar',
  });

  it('apply in their own tenant only', () => {
    const controls = board(
      legacy('tool_kill_switch', 'refunds.issue', 'acme', 'tool:refunds.issue'),
      legacy('safe_mode', 'globex', 'globex', 'safe_mode:globex'),
    );
    expect(controls.refusal(REFUND, 'bot', 'acme')?.code).toBe('TOOL_KILL_SWITCH');
    expect(controls.refusal(REFUND, 'bot', 'initech')).toBeUndefined();
    expect(controls.refusal(REFUND, 'bot', 'globex')?.code).toBe('SAFE_MODE');
  });

  it('are ended by a release under the new key', () => {
    const controls = board(legacy('tool_kill_switch', 'refunds.issue', 'acme', 'tool:refunds.issue'), toolSwitch('acme', 'refunds.issue', false));
    expect(controls.refusal(REFUND, 'bot', 'acme')).toBeUndefined();
    const safe = board(legacy('safe_mode', 'acme', 'acme', 'safe_mode:acme'), safeMode('acme', false));
    expect(safe.refusal(REFUND, 'bot', 'acme')).toBeUndefined();
  });

  it('trust the event’s tenant, not the key it was sent under', () => {
    // A key naming another tenant changes nothing of that tenant.
    const controls = board(legacy('tool_kill_switch', 'refunds.issue', 'acme', 'globex/tool:refunds.issue'));
    expect(controls.refusal(REFUND, 'bot', 'globex')).toBeUndefined();
    expect(controls.activeFor('acme').map((c) => c.control_key)).toEqual(['acme/tool:refunds.issue']);
  });
});
