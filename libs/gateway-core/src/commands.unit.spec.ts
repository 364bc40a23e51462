import { describe, expect, it } from 'vitest';
import { withoutIdentifiers } from '@writ/testing';
import { actionIdFor, decodeEvent, encodeEvent, newMetadata, uuidv7 } from '@writ/contracts';
import { TenantDataKey, canonicalJson, sha256Canonical } from '@writ/crypto';
import { createToolRegistry } from '@writ/tools';
import { hashApiKey, parseDirectory } from '@writ/directory';
import {
  approvalSubmittedEvent,
  checkRepeatedProposal,
  evolveAction,
  maySeeAction,
  maySeeRun,
  presentAction,
  proposalEvent,
  requireAgent,
  requireRole,
  runStartedEvent,
} from './index.ts';
import type { ActionState, RunState } from './index.ts';

const tools = createToolRegistry([
  {
    name: 'refunds.issue',
    version: '1.0.0',
    description: 'refund',
    effect: 'write',
    risk: 'medium',
    arguments: {
      type: 'object',
      additionalProperties: false,
      required: ['ticket_id', 'amount_cents'],
      properties: {
        ticket_id: { type: 'string', pattern: '^T-[0-9]+$' },
        amount_cents: { type: 'integer', minimum: 1 },
        card_last4: { type: 'string', 'x-writ-sensitive': true },
      },
    },
    cost: { micros: 20000, currency: 'USD' },
    timeout_ms: 1000,
    retry: { max_attempts: 1, initial_backoff_ms: 0, max_backoff_ms: 0 },
    idempotent: true,
    endpoint: { method: 'POST', url: 'http://127.0.0.1:1/refunds' },
  },
]);
const stamp = {
  producer: 'gateway@0.1.0',
  trace: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', tracestate: null },
  newMetadata,
  newRunId: () => uuidv7(),
};
const request = { tool: 'refunds.issue', tool_version: null, arguments: { amount_cents: 500, ticket_id: 'T-1' }, reason: 'why', idempotency_key: 'k-1' };

function expectError(run: () => unknown, code: string, field: string, rule: string): Record<string, unknown> {
  try {
    run();
  } catch (error) {
    expect(error).toMatchObject({ code, field, rule });
    return error as Record<string, unknown>;
  }
  throw new Error(`expected ${code}`);
}

describe('proposalEvent', () => {
  it('builds the ActionProposed: deterministic action id, canonical arguments and their hash, the resolved tool version', () => {
    const event = proposalEvent({ tools, tenant: 'acme', runId: 'run-1', runMode: 'live', agentId: 'bot', request, stamp });
    expect(event.meta).toMatchObject({
      tenant_id: 'acme',
      run_id: 'run-1',
      action_id: actionIdFor('acme', 'run-1', 'k-1'),
      producer: 'gateway@0.1.0',
      trace: stamp.trace,
    });
    expect(event).toMatchObject({ agent_id: 'bot', tool: 'refunds.issue', tool_version: '1.0.0', reason: 'why', idempotency_key: 'k-1' });
    expect(event.arguments_json).toBe('{"amount_cents":500,"ticket_id":"T-1"}');
    expect(event.arguments_json).toBe(canonicalJson(request.arguments));
    expect(event.args_sha256).toBe(sha256Canonical({ ticket_id: 'T-1', amount_cents: 500 }));
  });

  it("carries the agent's provenance as given (null without one), and it encodes as ActionProposed", () => {
    const provenance = {
      model: { name: 'claude-sonnet-4-5', provider: 'anthropic', version: null },
      prompt_version: 'triage-v7',
      retrieved_documents: [{ id: 'kb/refund-policy', version: '12', sha256: 'ab'.repeat(32) }],
    };
    const event = proposalEvent({ tools, tenant: 'acme', runId: 'run-1', runMode: 'live', agentId: 'bot', request: { ...request, provenance }, stamp });
    expect(event.provenance).toEqual(provenance);
    const decoded = decodeEvent(encodeEvent('ActionProposed', event));
    expect(decoded.type === 'ActionProposed' ? decoded.payload.provenance : undefined).toEqual(provenance);
    expect(proposalEvent({ tools, tenant: 'acme', runId: 'run-1', runMode: 'live', agentId: 'bot', request, stamp }).provenance).toBeNull();
  });

  it('refuses an unknown tool or version, naming the field', () => {
    expectError(
      () => proposalEvent({ tools, tenant: 'acme', runId: 'r', runMode: 'live', agentId: 'bot', request: { ...request, tool: 'refunds.nope' }, stamp }),
      'TOOL_UNKNOWN',
      'tool',
      'must name a registered tool',
    );
    expectError(
      () => proposalEvent({ tools, tenant: 'acme', runId: 'r', runMode: 'live', agentId: 'bot', request: { ...request, tool_version: '9.9.9' }, stamp }),
      'TOOL_UNKNOWN',
      'tool_version',
      'must name a registered tool',
    );
  });

  it('refuses schema-invalid arguments naming arguments.<field> and the JSON Schema keyword, listing every problem', () => {
    const error = expectError(
      () =>
        proposalEvent({
          tools,
          tenant: 'acme',
          runId: 'r',
          runMode: 'live',
          agentId: 'bot',
          request: { ...request, arguments: { ticket_id: 'X', amount_cents: 0, extra: true } },
          stamp,
        }),
      'ARGUMENTS_INVALID',
      'arguments.extra',
      'additionalProperties',
    );
    const problems = (error['details'] as { problems: { field: string; rule: string }[] }).problems;
    expect(problems.map((p) => `${p.field}:${p.rule}`).sort()).toEqual([
      'arguments.amount_cents:minimum',
      'arguments.extra:additionalProperties',
      'arguments.ticket_id:pattern',
    ]);
    expectError(
      () =>
        proposalEvent({ tools, tenant: 'acme', runId: 'r', runMode: 'live', agentId: 'bot', request: { ...request, arguments: { ticket_id: 'T-1' } }, stamp }),
      'ARGUMENTS_INVALID',
      'arguments.amount_cents',
      'required',
    );
  });

  it('accepts the same proposal again and refuses the key reused for other arguments', () => {
    const first = proposalEvent({ tools, tenant: 'acme', runId: 'r', runMode: 'live', agentId: 'bot', request, stamp });
    const state = evolveAction(undefined, { type: 'ActionProposed', payload: first }) as ActionState;
    expect(() =>
      checkRepeatedProposal(state, proposalEvent({ tools, tenant: 'acme', runId: 'r', runMode: 'live', agentId: 'bot', request, stamp })),
    ).not.toThrow();
    const other = proposalEvent({
      tools,
      tenant: 'acme',
      runId: 'r',
      runMode: 'live',
      agentId: 'bot',
      request: { ...request, arguments: { ticket_id: 'T-1', amount_cents: 501 } },
      stamp,
    });
    expect(other.meta.action_id).toBe(first.meta.action_id);
    expectError(() => checkRepeatedProposal(state, other), 'IDEMPOTENCY_CONFLICT', 'idempotency_key', 'must be new for a different tool or arguments');
  });
});

describe('proposalEvent with sensitive arguments', () => {
  const withCard = { ...request, arguments: { amount_cents: 500, ticket_id: 'T-1', card_last4: '4242' } };

  it('seals them with the tenant key: no clear value in the event, a deterministic digest of the sealed form, the view still masked', () => {
    const key = TenantDataKey.generate('acme');
    const event = proposalEvent({ tools, tenant: 'acme', runId: 'r', runMode: 'live', agentId: 'bot', request: withCard, stamp, sealer: key });
    expect(withoutIdentifiers(JSON.stringify(event))).not.toContain('4242');
    const sealed = JSON.parse(event.arguments_json) as Record<string, unknown>;
    expect(sealed['card_last4']).toEqual(key.seal('4242', '$.card_last4'));
    expect(event.args_sha256).toBe(sha256Canonical(sealed));
    expect(event.args_sha256).not.toBe(sha256Canonical(withCard.arguments));
    expect(key.unseal(sealed['card_last4'], '$.card_last4')).toBe('4242');
    const state = evolveAction(undefined, { type: 'ActionProposed', payload: event }) as ActionState;
    expect(() =>
      checkRepeatedProposal(
        state,
        proposalEvent({ tools, tenant: 'acme', runId: 'r', runMode: 'live', agentId: 'bot', request: withCard, stamp, sealer: key }),
      ),
    ).not.toThrow();
    const otherCard = { ...withCard, arguments: { ...withCard.arguments, card_last4: '4243' } };
    expect(() =>
      checkRepeatedProposal(
        state,
        proposalEvent({ tools, tenant: 'acme', runId: 'r', runMode: 'live', agentId: 'bot', request: otherCard, stamp, sealer: key }),
      ),
    ).toThrow(/already used/);
  });

  it('refuses to emit a sensitive value when no key can seal it, and needs none when no sensitive field is given', () => {
    expect(() => proposalEvent({ tools, tenant: 'acme', runId: 'r', runMode: 'live', agentId: 'bot', request: withCard, stamp })).toThrow(
      expect.objectContaining({ code: 'SEALING_UNAVAILABLE' }),
    );
    expect(proposalEvent({ tools, tenant: 'acme', runId: 'r', runMode: 'live', agentId: 'bot', request, stamp }).arguments_json).toBe(
      '{"amount_cents":500,"ticket_id":"T-1"}',
    );
  });
});

describe('other events', () => {
  it('RunStarted gets a fresh UUIDv7 run id and the limits as given', () => {
    const limits = { max_steps: 5, max_cost_micros: null, max_tool_calls: null, wall_clock_ms: 60000, currency: null };
    const a = runStartedEvent({ tenant: 'acme', agentId: 'bot', request: { goal: 'g', mode: 'live' as const, limits }, stamp });
    const b = runStartedEvent({ tenant: 'acme', agentId: 'bot', request: { goal: 'g', mode: 'live' as const, limits }, stamp });
    expect(a.meta.run_id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(a.meta.run_id).not.toBe(b.meta.run_id);
    expect(a).toMatchObject({ agent_id: 'bot', goal: 'g', limits, meta: { tenant_id: 'acme', action_id: null } });
  });

  it('ApprovalSubmitted is about the action, by the approver with their role', () => {
    const action = { action_id: 'a1', run_id: 'r1', tenant_id: 'acme' } as ActionState;
    const event = approvalSubmittedEvent({ action, approverId: 'maria', approverRole: 'manager', request: { verdict: 'approve', comment: null }, stamp });
    expect(event).toMatchObject({
      approver_id: 'maria',
      approver_role: 'manager',
      verdict: 'approve',
      comment: null,
      meta: { action_id: 'a1', run_id: 'r1', tenant_id: 'acme' },
    });
  });
});

describe('access', () => {
  const directory = parseDirectory({
    agents: [
      { id: 'bot', tenant: 'acme', role: 'support', owner: 'dana', api_key_sha256: hashApiKey('bot') },
      { id: 'bot2', tenant: 'acme', role: 'support', owner: 'dana', api_key_sha256: hashApiKey('bot2') },
    ],
    users: [
      { id: 'dana', tenant: 'acme', role: 'manager', roles: ['approver'], api_key_sha256: hashApiKey('dana') },
      { id: 'oscar', tenant: 'acme', role: 'operator', roles: ['operator'], api_key_sha256: hashApiKey('oscar') },
      { id: 'gina', tenant: 'globex', role: 'admin', roles: ['admin'], api_key_sha256: hashApiKey('gina') },
      { id: 'root', tenant: '*', role: 'admin', roles: ['admin'], api_key_sha256: hashApiKey('root') },
    ],
    services: [{ id: 'cli', api_key_sha256: hashApiKey('cli') }],
  });
  const who = (key: string) => directory.authenticate(key) ?? expect.unreachable();
  const run = { run_id: 'r', tenant_id: 'acme', agent_id: 'bot' } as RunState;
  const action = { action_id: 'a', tenant_id: 'acme', agent_id: 'bot' } as ActionState;

  it('an agent sees only its own runs and actions, a user those of their tenant', () => {
    expect(maySeeRun(who('bot'), run)).toBe(true);
    expect(maySeeRun(who('bot2'), run)).toBe(false);
    expect(maySeeRun(who('dana'), run)).toBe(true);
    expect(maySeeRun(who('gina'), run)).toBe(false);
    expect(maySeeAction(who('bot'), action)).toBe(true);
    expect(maySeeAction(who('bot2'), action)).toBe(false);
    expect(maySeeAction(who('oscar'), action)).toBe(true);
    expect(maySeeAction(who('gina'), action)).toBe(false);
    // Platform principals read no tenant's data.
    expect(maySeeRun(who('root'), run)).toBe(false);
    expect(maySeeAction(who('cli'), action)).toBe(false);
  });

  it('roles: agents act, approvers approve, operators and admins change controls', () => {
    const refused = expect.objectContaining({ code: 'FORBIDDEN' }) as Error;
    expect(requireAgent(who('bot')).id).toBe('bot');
    expect(() => requireAgent(who('dana'))).toThrow(refused);
    expect(() => requireRole(who('bot'), 'approver')).toThrow(refused);
    expect(requireRole(who('dana'), 'approver').id).toBe('dana');
    expect(() => requireRole(who('oscar'), 'approver')).toThrow(refused);
    expect(requireRole(who('oscar'), 'operator').id).toBe('oscar');
    expect(requireRole(who('gina'), 'operator').id).toBe('gina');
    // An admin is not an approver: approving stays with the people policy names.
    expect(() => requireRole(who('gina'), 'approver')).toThrow(refused);
    expect(() => requireRole(who('dana'), 'operator')).toThrow(refused);
    expect(() => requireRole(who('cli'), 'operator')).toThrow(refused);
  });
});

describe('presentAction', () => {
  it('parses JSON, formats times, and shows arguments through the redactor', () => {
    const proposal = proposalEvent({
      tools,
      tenant: 'acme',
      runId: 'r',
      runMode: 'live',
      agentId: 'bot',
      request: { ...request, arguments: { ticket_id: 'T-1', amount_cents: 5, card_last4: '4242' } },
      stamp,
      sealer: TenantDataKey.generate('acme'),
    });
    const state = evolveAction(undefined, { type: 'ActionProposed', payload: proposal }) as ActionState;
    const json = presentAction(state, (_tool, _version, args) => ({ ...(args as object), card_last4: '[redacted]' }));
    expect(json).toMatchObject({
      action_id: proposal.meta.action_id,
      status: 'proposed',
      terminal: false,
      arguments: { ticket_id: 'T-1', amount_cents: 5, card_last4: '[redacted]' },
      args_sha256: proposal.args_sha256,
      proposed_at: new Date(proposal.meta.occurred_at).toISOString(),
      result: null,
      completed_at: null,
    });
    expect(presentAction(state, () => undefined).arguments).toBeNull();
  });

  it('lists judged approvals apart from those the PDP has not judged yet', () => {
    const proposal = proposalEvent({ tools, tenant: 'acme', runId: 'r', runMode: 'live', agentId: 'bot', request, stamp });
    const at = (approver: string) => ({ ...proposal.meta, event_id: `e-${approver}` });
    const events = [
      { type: 'ActionProposed' as const, payload: proposal },
      {
        type: 'ApprovalSubmitted' as const,
        payload: { meta: at('dana'), approver_id: 'dana', approver_role: 'manager', verdict: 'approve' as const, comment: null },
      },
      {
        type: 'ApprovalSubmitted' as const,
        payload: { meta: at('maria'), approver_id: 'maria', approver_role: 'manager', verdict: 'approve' as const, comment: null },
      },
      {
        type: 'ApprovalRecorded' as const,
        payload: {
          meta: at('r'),
          approver_id: 'dana',
          verdict: 'approve' as const,
          accepted: false,
          reason: 'owner',
          approver_role: 'manager',
          determining_policies: ['owner-may-not-approve'],
        },
      },
    ];
    const state = events.reduce<ActionState | undefined>((s, e) => evolveAction(s, e), undefined) as ActionState;
    const json = presentAction(state, () => undefined);
    expect(json.approvals).toEqual([expect.objectContaining({ approver_id: 'dana', state: 'refused', accepted: false, reason: 'owner' })]);
    expect(json.submitted_approvals).toEqual([expect.objectContaining({ approver_id: 'maria', state: 'submitted', accepted: null })]);
  });
});
