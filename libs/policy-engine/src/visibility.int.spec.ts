import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { compilePolicySet, readPolicySetSources } from './policy-set.ts';
import type { LoadedPolicySet } from './policy-set.ts';
import { toolReach } from './visibility.ts';

const POLICIES = fileURLToPath(new URL('../../../policies', import.meta.url));
const support = { id: 'triage-bot', role: 'support', owner: 'dana' };
const analyst = { id: 'report-bot', role: 'reporting', owner: 'dana' };

let set: LoadedPolicySet;
beforeAll(async () => {
  set = compilePolicySet(await readPolicySetSources(POLICIES));
});

describe('toolReach: may an agent use a tool at all, with the real Cedar and the repository’s policies', () => {
  it('says no for a tool an unconditional forbid denies to everyone, naming the forbid', () => {
    const reach = toolReach(set, 'acme', support, { name: 'customers.delete', version: '1.0.0', effect: 'destructive', risk: 'high' });
    expect(reach).toEqual({ mayInvoke: false, forbiddenBy: ['customer-delete-forbidden'], errors: [] });
  });

  it('says yes when only the call’s arguments or an approval decide (refunds), and for reads', () => {
    expect(toolReach(set, 'acme', support, { name: 'refunds.issue', version: '1.2.0', effect: 'write', risk: 'medium' }).mayInvoke).toBe(true);
    expect(toolReach(set, 'acme', support, { name: 'tickets.get', version: '1.0.0', effect: 'read', risk: 'low' }).mayInvoke).toBe(true);
  });

  it('says no, without a forbid, when no permit could ever apply to this agent (default deny)', () => {
    const reach = toolReach(set, 'acme', analyst, { name: 'notifications.send', version: '1.0.0', effect: 'write', risk: 'low' });
    expect(reach).toEqual({ mayInvoke: false, forbiddenBy: [], errors: [] });
    expect(toolReach(set, 'acme', support, { name: 'notifications.send', version: '1.0.0', effect: 'write', risk: 'low' }).mayInvoke).toBe(true);
  });
});
