import 'reflect-metadata';
import { describe, expect, it } from 'vitest';
import type { AccessRole, Principal } from '@writ/directory';
import { CONSOLE_CSP, consoleSession } from './console.controller.ts';

const user = (roles: AccessRole[], tenant = 'acme'): Principal => ({
  kind: 'user',
  user: { id: 'u', tenant, role: 'staff', roles, api_keys_sha256: [], name: 'U' },
});

describe('the console session', () => {
  it('opens the views of the caller’s roles only, and refuses agents and services', () => {
    expect(consoleSession(user(['approver'])).views).toEqual(['approvals', 'runs']);
    expect(consoleSession(user(['operator'])).views).toEqual(['runs', 'controls']);
    expect(consoleSession(user(['analyst'])).views).toEqual(['runs', 'spend']);
    expect(consoleSession(user(['auditor'])).views).toEqual(['runs', 'controls', 'spend', 'ledger']);
    // An admin is operator, analyst and auditor, never approver (the directory's rule).
    expect(consoleSession(user(['admin'])).views).toEqual(['runs', 'controls', 'spend', 'ledger']);
    expect(consoleSession(user(['analyst'])).tenant).toBe('acme');
    const agent: Principal = { kind: 'agent', agent: { id: 'bot', tenant: 'acme' } as never };
    expect(() => consoleSession(agent)).toThrow(expect.objectContaining({ code: 'FORBIDDEN', field: 'authorization', rule: 'must be a user API key' }));
    const service: Principal = { kind: 'service', service: { id: 'cli' } as never };
    expect(() => consoleSession(service)).toThrow(expect.objectContaining({ code: 'FORBIDDEN' }));
  });

  it('serves the page under a CSP with no inline script or style and no other origin', () => {
    expect(CONSOLE_CSP).toContain("default-src 'none'");
    expect(CONSOLE_CSP).toContain("script-src 'self'");
    expect(CONSOLE_CSP).toContain("connect-src 'self'");
    expect(CONSOLE_CSP).toContain("frame-ancestors 'none'");
    expect(CONSOLE_CSP).not.toMatch(/unsafe-|https?:/);
  });
});
