import { describe, expect, it } from 'vitest';
import { agentTrigger, parseSafeModeFile } from './index.ts';

const trigger = { window: '5m', min_actions: 10, error_rate_percent: 50 };
const withTenant = (acme: unknown) => JSON.stringify({ tenants: { acme } });

function refusal(text: string): { field: string | undefined; rule: string | undefined; message: string } {
  try {
    parseSafeModeFile(text);
  } catch (error) {
    const e = error as { code: string; field?: string; rule?: string; message: string };
    expect(e.code).toBe('CONFIG_INVALID');
    return { field: e.field, rule: e.rule, message: e.message };
  }
  throw new Error('expected the file to be refused');
}

describe('parseSafeModeFile', () => {
  it('reads the triggers of every agent, of named agents and of the tenant', () => {
    const file = parseSafeModeFile(
      withTenant({
        currency: 'EUR',
        agent: { ...trigger, denial_rate_percent: 80, spend: '20.00' },
        agents: { 'canary-bot': { window: '30s', min_actions: 3, error_rate_percent: 100 } },
        tenant: { window: '1h', min_actions: 50, spend: '200.5' },
      }),
    );
    expect(agentTrigger(file, 'acme', 'bot')).toEqual({
      window: '5m',
      window_ms: 300_000,
      min_actions: 10,
      error_rate_percent: 50,
      denial_rate_percent: 80,
      spend_micros: 20_000_000,
    });
    expect(agentTrigger(file, 'acme', 'canary-bot')).toMatchObject({ window_ms: 30_000, min_actions: 3, error_rate_percent: 100, spend_micros: null });
    expect(file.tenants.get('acme')).toMatchObject({ currency: 'EUR', tenant: { window_ms: 3_600_000, spend_micros: 200_500_000, error_rate_percent: null } });
    expect(agentTrigger(file, 'globex', 'bot')).toBeUndefined();
  });

  it('defaults the currency to USD, and a tenant may have only named agents', () => {
    const file = parseSafeModeFile(withTenant({ agents: { a: trigger } }));
    expect(file.tenants.get('acme')).toMatchObject({ currency: 'USD', agent: null, tenant: null });
    expect(agentTrigger(file, 'acme', 'b')).toBeUndefined();
  });

  it.each([
    ['not JSON', '{', 'file', /must be JSON/],
    ['an array', '[]', 'file', /must be an object with tenants/],
    ['an unknown top-level field', JSON.stringify({ tenants: {}, extra: 1 }), '(root).extra', /is not a known field/],
    ['tenants not an object', JSON.stringify({ tenants: [] }), 'tenants', /must be an object of tenant id/],
    ['the platform tenant', JSON.stringify({ tenants: { '*': { agent: trigger } } }), 'tenants', /must name tenants by id/],
    ['an empty tenant', withTenant({}), 'tenants.acme', /must set agent, agents or tenant/],
    ['an unknown tenant field', withTenant({ agent: trigger, agnet: trigger }), 'tenants.acme.agnet', /is not a known field/],
    ['a bad currency', withTenant({ currency: 'usd', agent: trigger }), 'tenants.acme.currency', /ISO 4217/],
    ['a trigger without threshold', withTenant({ agent: { window: '5m', min_actions: 1 } }), 'tenants.acme.agent', /at least one of/],
    ['an unknown trigger field', withTenant({ agent: { ...trigger, error_rate: 5 } }), 'tenants.acme.agent.error_rate', /is not a known field/],
    ['a window without unit', withTenant({ agent: { ...trigger, window: '300' } }), 'tenants.acme.agent.window', /a length such as/],
    ['a window too short', withTenant({ agent: { ...trigger, window: '5s' } }), 'tenants.acme.agent.window', /from 10 seconds to 7 days/],
    ['a window too long', withTenant({ agent: { ...trigger, window: '8d' } }), 'tenants.acme.agent.window', /from 10 seconds to 7 days/],
    ['a window as a number', withTenant({ agent: { ...trigger, window: 300_000 } }), 'tenants.acme.agent.window', /a length such as/],
    ['a huge window', withTenant({ agent: { ...trigger, window: '9999999d' } }), 'tenants.acme.agent.window', /a length such as/],
    ['min_actions 0', withTenant({ agent: { ...trigger, min_actions: 0 } }), 'tenants.acme.agent.min_actions', /whole number from 1/],
    ['min_actions fractional', withTenant({ agent: { ...trigger, min_actions: 2.5 } }), 'tenants.acme.agent.min_actions', /whole number from 1/],
    ['min_actions a string', withTenant({ agent: { ...trigger, min_actions: '10' } }), 'tenants.acme.agent.min_actions', /whole number from 1/],
    ['a rate over 100', withTenant({ agent: { ...trigger, error_rate_percent: 101 } }), 'tenants.acme.agent.error_rate_percent', /percentage from 1 to 100/],
    ['a rate of 0', withTenant({ agent: { ...trigger, denial_rate_percent: 0 } }), 'tenants.acme.agent.denial_rate_percent', /percentage from 1 to 100/],
    ['a rate as text', withTenant({ agent: { ...trigger, error_rate_percent: '50' } }), 'tenants.acme.agent.error_rate_percent', /percentage from 1 to 100/],
    ['spend as a number', withTenant({ agent: { ...trigger, spend: 20 } }), 'tenants.acme.agent.spend', /positive decimal amount/],
    ['spend of 0', withTenant({ agent: { ...trigger, spend: '0.00' } }), 'tenants.acme.agent.spend', /positive decimal amount/],
    ['negative spend', withTenant({ agent: { ...trigger, spend: '-1' } }), 'tenants.acme.agent.spend', /positive decimal amount/],
    ['spend with 7 decimals', withTenant({ agent: { ...trigger, spend: '1.0000001' } }), 'tenants.acme.agent.spend', /positive decimal amount/],
    ['spend too large', withTenant({ agent: { ...trigger, spend: '99999999999' } }), 'tenants.acme.agent.spend', /positive decimal amount/],
    ['agents as a list', withTenant({ agents: [trigger] }), 'tenants.acme.agents', /must be an object of agent id/],
    ['agent "*"', withTenant({ agents: { '*': trigger } }), 'tenants.acme.agents', /must name agents by id/],
    ['a null trigger', withTenant({ tenant: null }), 'tenants.acme.tenant', /must be an object/],
    [
      'a prototype key',
      '{"tenants": {"acme": {"agent": {"window": "5m", "min_actions": 1, "error_rate_percent": 5, "__proto__": {}}}}}',
      'tenants.acme.agent.__proto__',
      /is not a known field/,
    ],
  ])('refuses %s, naming the field and the rule', (_what, text, field, rule) => {
    const problem = refusal(text);
    expect(problem.field).toBe(field);
    expect(problem.rule).toMatch(rule);
    expect(problem.message).toContain(`safe-mode file: ${field}`);
  });
});
