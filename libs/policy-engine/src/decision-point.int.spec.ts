import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { createDecisionPoint } from './decision-point.ts';
import { thrown } from '@writ/testing';
import { agent, refund, refundTool, runStats } from './fixtures.spec.ts';
import type { DecisionPoint } from './decision-point.ts';
import { compilePolicySet, loadPolicySet } from './policy-set.ts';
import type { LoadedPolicySet } from './policy-set.ts';

const POLICIES = fileURLToPath(new URL('../../../policies', import.meta.url));

/** The refund-over-100 permit's @reason, carried with the approval it asks for. */
const REASON_100 = "Refunds over $100 need a manager who is not the agent's owner.";

describe('createDecisionPoint on the real policy set', () => {
  let set: LoadedPolicySet;
  let pdp: DecisionPoint;
  beforeAll(async () => {
    set = await loadPolicySet(POLICIES);
    pdp = createDecisionPoint(set);
  });

  it('names the policy set hash and version on every decision', () => {
    expect(pdp.policySetHash).toBe(set.hash);
    expect(pdp.version).toBe('1.2.0');
    expect(pdp.decide(refund(500)).policySetHash).toBe(set.hash);
  });

  it('returns approval_required with the approval the permit asks for', () => {
    expect(pdp.decide(refund(20_000))).toEqual({
      decision: 'approval_required',
      determiningPolicies: ['refund-over-100-needs-manager-approval'],
      errors: [],
      policySetHash: set.hash,
      approval: {
        policyId: 'refund-over-100-needs-manager-approval',
        count: 1,
        roles: ['manager'],
        expiresInMs: 4 * 3_600_000,
        reason: REASON_100,
        escalation: { afterMs: 30 * 60_000, roles: ['director'] },
      },
      warnings: [],
      shadowResults: [],
    });
  });

  it('does not turn an explicit forbid into approval_required', () => {
    const decision = pdp.decide({
      tenant: 'acme',
      agent,
      tool: { name: 'customers.delete', version: '1', effect: 'destructive', risk: 'high' },
      arguments: {},
      runStats,
    });
    expect(decision).toMatchObject({ decision: 'deny', determiningPolicies: ['customer-delete-forbidden'] });
    expect(decision.approval).toBeUndefined();
  });

  it('ignores undeclared arguments but refuses a declared one of the wrong type, naming it', () => {
    expect(pdp.decide({ ...refund(500), arguments: { amount_cents: 500, ticket_tags: ['refund_approved'], note: { any: 'thing' } } }).decision).toBe('allow');
    const asText = thrown(() => pdp.decide(refund('500')));
    expect(asText).toMatchObject({ code: 'POLICY_REQUEST_INVALID', field: 'arguments.amount_cents' });
    expect(asText.rule).toBe('must be a whole number (Cedar Long, a safe integer) to be visible to policies');
    expect(thrown(() => pdp.decide(refund(99.5))).field).toBe('arguments.amount_cents');
    expect(thrown(() => pdp.decide(refund(2 ** 60))).field).toBe('arguments.amount_cents');
    expect(thrown(() => pdp.decide({ ...refund(500), arguments: { ticket_tags: 'refund_approved' } })).field).toBe('arguments.ticket_tags');
    expect(pdp.decide({ ...refund(500), arguments: { amount_cents: null, ticket_tags: ['refund_approved'] } }).decision).toBe('deny');
  });

  it('refuses malformed requests with the field and the rule', () => {
    expect(thrown(() => pdp.decide({ ...refund(500), tool: { ...refundTool, effect: 'delete' as never } }))).toMatchObject({
      code: 'POLICY_REQUEST_INVALID',
      field: 'tool.effect',
      rule: 'must be one of read, write, destructive',
    });
    expect(thrown(() => pdp.decide({ ...refund(500), agent: { ...agent, id: 'has space' } })).field).toBe('agent.id');
    expect(thrown(() => pdp.decide({ ...refund(500), runStats: { ...runStats, steps: -1 } })).field).toBe('runStats.steps');
    expect(thrown(() => pdp.decide({ ...refund(500), approvals: [{ approverId: 'mia', role: '' }] })).field).toBe('approvals[0].role');
    expect(thrown(() => pdp.decide({ ...refund(500), tenant: '' })).field).toBe('tenant');
  });

  it('authorizes approving by policy: same-tenant managers yes, the owner no', () => {
    const pendingAction = { actionId: 'act-1', tenant: 'acme', agent, tool: refundTool, arguments: { amount_cents: 20_000 } };
    expect(pdp.authorizeApproval({ approver: { id: 'mia', role: 'manager', tenant: 'acme' }, pendingAction })).toEqual({
      decision: 'allow',
      determiningPolicies: ['managers-approve-in-own-tenant'],
      errors: [],
      policySetHash: set.hash,
    });
    expect(pdp.authorizeApproval({ approver: { id: 'olivia', role: 'manager', tenant: 'acme' }, pendingAction })).toMatchObject({
      decision: 'deny',
      determiningPolicies: ['owner-may-not-approve'],
    });
  });

  it('refuses a policy set whose hash does not match its content', () => {
    const tampered = { ...set, policies: { ...set.policies, 'read-tools-allowed': set.policies['read-tools-allowed']?.replace('read', 'write') ?? '' } };
    expect(thrown(() => createDecisionPoint(tampered)).code).toBe('POLICY_SET_INVALID');
  });
});

describe('createDecisionPoint on purpose-built policy sets', () => {
  let schemaText: string;
  const approveByManagers = '@id("managers-approve") permit (principal, action == Writ::Action::"approve", resource) when { principal.role == "manager" };';
  beforeAll(async () => {
    schemaText = await readFile(`${POLICIES}/writ.cedarschema`, 'utf8');
  });

  function pointWith(policies: Record<string, string>): DecisionPoint {
    return createDecisionPoint(compilePolicySet({ schemaText, policies: { 'managers-approve': approveByManagers, ...policies } }));
  }

  it('keeps a dual-approval action pending until two distinct approvers with the roles have approved', () => {
    const pdp = pointWith({
      'dual-approval': `@id("dual-approval") @approval_count("2") @approval_roles("manager, finance")
        permit (principal, action == Writ::Action::"invoke", resource == Writ::Tool::"refunds.issue")
        when { context.approval.count >= 2 && context.approval.roles.containsAll(["manager", "finance"])
               && !context.approval.approvers.contains(principal.owner) };`,
    });
    expect(pdp.decide(refund(1)).approval).toEqual({ policyId: 'dual-approval', count: 2, roles: ['manager', 'finance'] });
    const one = [{ approverId: 'mia', role: 'manager' }];
    expect(pdp.decide(refund(1, { approvals: one })).decision).toBe('approval_required');
    const sameTwice = [...one, { approverId: 'mia', role: 'finance' }];
    expect(pdp.decide(refund(1, { approvals: sameTwice })).decision).toBe('approval_required');
    const two = [...one, { approverId: 'fred', role: 'finance' }];
    expect(pdp.decide(refund(1, { approvals: two }))).toMatchObject({ decision: 'allow', determiningPolicies: ['dual-approval'] });
    const withOwner = [
      { approverId: 'olivia', role: 'manager' },
      { approverId: 'fred', role: 'finance' },
    ];
    expect(pdp.decide(refund(1, { approvals: withOwner })).decision).toBe('approval_required');
  });

  it('denies when a forbid errors at evaluation instead of silently skipping it (fail closed)', () => {
    const pdp = pointWith({
      'everything-allowed': '@id("everything-allowed") permit (principal, action == Writ::Action::"invoke", resource);',
      'overflowing-forbid': `@id("overflowing-forbid") forbid (principal, action == Writ::Action::"invoke", resource)
        when { context.arguments has amount_cents && context.arguments.amount_cents * 1000000000000 > 9000000000000000000 };`,
    });
    expect(pdp.decide(refund(5)).decision).toBe('allow');
    expect(pdp.decide(refund(9_100_000))).toMatchObject({ decision: 'deny', determiningPolicies: ['overflowing-forbid'] });
    const overflow = pdp.decide(refund(10_000_000));
    expect(overflow.decision).toBe('deny');
    expect(overflow.determiningPolicies).toEqual(['overflowing-forbid']);
    expect(overflow.errors[0]).toMatch(/^overflowing-forbid: integer overflow.*\(a forbid that cannot be evaluated denies\)$/);
  });

  it('keeps several policy sets apart in the same process (pre-parsed by content hash)', () => {
    const strict = pointWith({
      'reads-only': '@id("reads-only") permit (principal, action == Writ::Action::"invoke", resource) when { resource.effect == Writ::Effect::"read" };',
    });
    const lax = pointWith({ 'all-tools': '@id("all-tools") permit (principal, action == Writ::Action::"invoke", resource);' });
    expect(strict.policySetHash).not.toBe(lax.policySetHash);
    expect(strict.decide(refund(5)).decision).toBe('deny');
    expect(lax.decide(refund(5))).toMatchObject({ decision: 'allow', determiningPolicies: ['all-tools'] });
    expect(strict.decide(refund(5)).decision).toBe('deny');
  });

  it('refuses at creation a schema that does not fit the requests the PDP builds', () => {
    const set = compilePolicySet({
      schemaText: 'namespace Writ { entity Tenant; entity Agent; entity Tool; action invoke appliesTo { principal: Agent, resource: Tool }; }',
      policies: { all: '@id("all") permit (principal, action, resource);' },
    });
    const error = thrown(() => createDecisionPoint(set));
    expect(error.code).toBe('POLICY_SET_INVALID');
    expect(error.message).toContain('invoke context attribute "arguments"');
  });
});

describe('policy modes (@mode): enforce, warn, shadow', () => {
  let base: LoadedPolicySet;
  beforeAll(async () => {
    base = await loadPolicySet(POLICIES);
  });
  /** The real set plus extra policies: a refund cap of 50 USD in the given mode, and a second rule. */
  const withCap = (mode: string | undefined, extra: Record<string, string> = {}): DecisionPoint =>
    createDecisionPoint(
      compilePolicySet({
        schemaText: base.schemaText,
        policies: {
          ...base.policies,
          'refund-cap-50': `@id("refund-cap-50")${mode === undefined ? '' : `\n@mode("${mode}")`}\nforbid (principal, action == Writ::Action::"invoke", resource == Writ::Tool::"refunds.issue")\nwhen { context.arguments has amount_cents && context.arguments.amount_cents > 5000 };`,
          ...extra,
        },
      }),
    );

  it('enforce (the default): the cap denies a 60 USD refund, and there is nothing to record beside it', () => {
    for (const mode of [undefined, 'enforce']) {
      const decision = withCap(mode).decide(refund(6_000));
      expect(decision).toMatchObject({ decision: 'deny', determiningPolicies: ['refund-cap-50'], warnings: [], shadowResults: [] });
    }
  });

  it('shadow: the decision is what the enforced policies say, and the shadow result is recorded beside it', () => {
    const pdp = withCap('shadow');
    expect(pdp.decide(refund(6_000))).toMatchObject({
      decision: 'allow',
      determiningPolicies: ['refund-up-to-100-support'],
      warnings: [],
      shadowResults: [{ policyId: 'refund-cap-50', decision: 'deny', determiningPolicies: ['refund-cap-50'] }],
    });
    // Where it agrees, the result is recorded all the same (the disagreement is for analytics to find).
    expect(pdp.decide(refund(1_000)).shadowResults).toEqual([
      { policyId: 'refund-cap-50', decision: 'allow', determiningPolicies: ['refund-up-to-100-support'] },
    ]);
  });

  it('shadow: each shadow policy is judged alone beside the enforced ones', () => {
    const other =
      '@id("refund-cap-10")\n@mode("shadow")\nforbid (principal, action == Writ::Action::"invoke", resource == Writ::Tool::"refunds.issue")\nwhen { context.arguments has amount_cents && context.arguments.amount_cents > 1000 };';
    const decision = withCap('shadow', { 'refund-cap-10': other }).decide(refund(2_000));
    expect(decision.decision).toBe('allow');
    expect(decision.shadowResults).toEqual([
      { policyId: 'refund-cap-10', decision: 'deny', determiningPolicies: ['refund-cap-10'] },
      { policyId: 'refund-cap-50', decision: 'allow', determiningPolicies: ['refund-up-to-100-support'] },
    ]);
  });

  it('warn: enforced as allow, and the warning names the policy that would have denied', () => {
    const pdp = withCap('warn');
    expect(pdp.decide(refund(6_000))).toMatchObject({
      decision: 'allow',
      determiningPolicies: ['refund-up-to-100-support'],
      warnings: ['refund-cap-50'],
      shadowResults: [],
    });
    expect(pdp.decide(refund(1_000)).warnings).toEqual([]);
  });

  it('a shadow or warn forbid without a condition is allowed (a what-if), an enforced one is not; an unknown mode is refused, naming it', () => {
    const everything = (mode: string) => `@id("stop-everything")\n@mode("${mode}")\nforbid (principal, action, resource);`;
    for (const mode of ['shadow', 'warn']) {
      const pdp = createDecisionPoint(compilePolicySet({ schemaText: base.schemaText, policies: { ...base.policies, 'stop-everything': everything(mode) } }));
      expect(pdp.decide(refund(1_000)).decision).toBe('allow');
    }
    expect(
      thrown(() => compilePolicySet({ schemaText: base.schemaText, policies: { ...base.policies, 'stop-everything': everything('enforce') } })).message,
    ).toContain('forbids every request');
    const unknown = thrown(() => compilePolicySet({ schemaText: base.schemaText, policies: { ...base.policies, 'stop-everything': everything('audit') } }));
    expect(unknown.code).toBe('POLICY_SET_INVALID');
    expect(unknown.message).toContain('@mode("audit") is not a mode');
  });
});

describe('approval expiry (@approval_expires_in)', () => {
  let base: LoadedPolicySet;
  beforeAll(async () => {
    base = await loadPolicySet(POLICIES);
  });
  /** The repository's set with the $100 permit's expiry and escalation replaced by `annotation`. */
  const withExpiry = (annotation: string): LoadedPolicySet => {
    const id = 'refund-over-100-needs-manager-approval';
    const text = (base.policies[id] ?? '')
      .replace(/@approval_(expires_in|escalate_after|escalate_to)\("[^"]*"\)\n/g, '')
      .replace('@approval_count("1")', `@approval_count("1")\n${annotation}`);
    return compilePolicySet({ schemaText: base.schemaText, policies: { ...base.policies, [id]: text } });
  };

  it('the approval a permit asks for carries its expiry; without the annotation there is none (the planner default applies)', () => {
    expect(createDecisionPoint(withExpiry('@approval_expires_in("15m")')).decide(refund(20_000)).approval).toEqual({
      policyId: 'refund-over-100-needs-manager-approval',
      count: 1,
      roles: ['manager'],
      expiresInMs: 15 * 60_000,
      reason: REASON_100,
    });
    expect(createDecisionPoint(withExpiry('@approval_expires_in("2d")')).decide(refund(20_000)).approval?.expiresInMs).toBe(2 * 86_400_000);
    expect(createDecisionPoint(withExpiry('')).decide(refund(20_000)).approval).not.toHaveProperty('expiresInMs');
  });

  it('refuses an expiry that is not a duration from 10 s to 30 days, or one on a policy that asks for no approval, naming the policy', () => {
    for (const bad of ['"soon"', '"5s"', '"31d"', '"15"', '"-1m"']) {
      const error = thrown(() => withExpiry(`@approval_expires_in(${bad})`));
      expect(error.code).toBe('POLICY_SET_INVALID');
      expect(error.message).toContain('refund-over-100-needs-manager-approval');
      expect(error.message).toContain('@approval_expires_in');
    }
    const id = 'refund-up-to-100-support';
    const orphan = (base.policies[id] ?? '').replace(`@id("${id}")`, `@id("${id}")\n@approval_expires_in("1h")`);
    expect(thrown(() => compilePolicySet({ schemaText: base.schemaText, policies: { ...base.policies, [id]: orphan } })).message).toContain(
      '@approval_expires_in needs @approval_count or @approval_roles',
    );
  });
});

describe('approval escalation (@approval_escalate_after / @approval_escalate_to)', () => {
  let set: LoadedPolicySet;
  let pdp: DecisionPoint;
  beforeAll(async () => {
    set = await loadPolicySet(POLICIES);
    pdp = createDecisionPoint(set);
  });
  const byDirector = [{ approverId: 'diane', role: 'director' }];

  it("a director's approval counts only once the request escalated (context.approval.escalated), as the $100 permit says", () => {
    expect(pdp.escalations['refund-over-100-needs-manager-approval']).toEqual({ afterMs: 30 * 60_000, roles: ['director'] });
    expect(pdp.decide(refund(20_000, { approvals: byDirector }))).toMatchObject({ decision: 'approval_required' });
    expect(pdp.decide(refund(20_000, { approvals: byDirector, escalated: true }))).toMatchObject({
      decision: 'allow',
      determiningPolicies: ['refund-over-100-needs-manager-approval'],
    });
    // Escalation widens who may approve; it approves nothing by itself.
    expect(pdp.decide(refund(20_000, { escalated: true }))).toMatchObject({ decision: 'approval_required' });
  });

  it('a schema without context.approval.escalated still decides (the record is left as it was); one declaring it otherwise is refused', () => {
    const id = 'refund-over-100-needs-manager-approval';
    const schemaText = set.schemaText.replace('    escalated: Bool,\n', '');
    const policies = {
      ...set.policies,
      [id]: (set.policies[id] ?? '').replace('(context.approval.escalated && context.approval.roles.contains("director"))', 'false'),
    };
    const older = createDecisionPoint(compilePolicySet({ schemaText, policies }));
    expect(older.decide(refund(20_000, { approvals: [{ approverId: 'mia', role: 'manager' }], escalated: true }))).toMatchObject({ decision: 'allow' });
    const optional = set.schemaText.replace('escalated: Bool,', 'escalated?: Bool,');
    const error = thrown(() => createDecisionPoint(compilePolicySet({ schemaText: optional, policies: set.policies })));
    expect(error.code).toBe('POLICY_SET_INVALID');
  });

  it('a policy sees a shadow run in context.run.mode ("live" unless the request says shadow); a schema without it still decides', () => {
    const strict = `@id("no-shadow-refunds")\nforbid (principal, action == Writ::Action::"invoke", resource == Writ::Tool::"refunds.issue") when { context.run.mode == "shadow" };\n`;
    const withRule = createDecisionPoint(compilePolicySet({ schemaText: set.schemaText, policies: { ...set.policies, 'no-shadow-refunds': strict } }));
    expect(withRule.decide(refund(2_500))).toMatchObject({ decision: 'allow' });
    expect(withRule.decide({ ...refund(2_500), runMode: 'live' })).toMatchObject({ decision: 'allow' });
    expect(withRule.decide({ ...refund(2_500), runMode: 'shadow' })).toMatchObject({ decision: 'deny', determiningPolicies: ['no-shadow-refunds'] });
    // A set published before shadow runs (no mode in its run record) decides as before, whatever the request says.
    const older = createDecisionPoint(compilePolicySet({ schemaText: set.schemaText.replace('    mode: String,\n', ''), policies: set.policies }));
    expect(older.decide({ ...refund(2_500), runMode: 'shadow' })).toMatchObject({ decision: 'allow' });
    const optional = set.schemaText.replace('mode: String,', 'mode?: String,');
    expect(thrown(() => createDecisionPoint(compilePolicySet({ schemaText: optional, policies: set.policies }))).code).toBe('POLICY_SET_INVALID');
  });

  it('refuses an escalation without its other half, outside 1 s to 30 days, or not before the expiry, naming the policy', () => {
    const id = 'refund-over-100-needs-manager-approval';
    const strip = (set.policies[id] ?? '').replace(/@approval_(expires_in|escalate_after|escalate_to)\("[^"]*"\)\n/g, '');
    const withAnnotations = (annotations: string) =>
      compilePolicySet({
        schemaText: set.schemaText,
        policies: { ...set.policies, [id]: strip.replace('@approval_count("1")', `@approval_count("1")\n${annotations}`) },
      });
    expect(withAnnotations('@approval_escalate_after("90s")\n@approval_escalate_to("director, vp")').metadata[id]?.approval?.escalation).toEqual({
      afterMs: 90_000,
      roles: ['director', 'vp'],
    });
    for (const [bad, says] of [
      ['@approval_escalate_after("1h")', 'go together'],
      ['@approval_escalate_to("director")', 'go together'],
      ['@approval_escalate_after("soon")\n@approval_escalate_to("director")', 'from 1 s to 30 days'],
      ['@approval_escalate_after("2h")\n@approval_escalate_to("director")\n@approval_expires_in("1h")', 'must be shorter than @approval_expires_in'],
    ] as const) {
      const error = thrown(() => withAnnotations(bad));
      expect(error.code).toBe('POLICY_SET_INVALID');
      expect(error.message).toContain(id);
      expect(error.message).toContain(says);
    }
  });
});

describe('@reason', () => {
  it('is carried with the approval a permit asks for; a blank or over-long one is refused, naming the policy', async () => {
    const base = await loadPolicySet(POLICIES);
    expect(base.metadata['refund-over-500-needs-two-managers']?.reason).toBe("Refunds over $500 need two managers, neither of them the agent's owner.");
    const id = 'refund-up-to-100-support';
    for (const bad of ['@reason("  ")', `@reason("${'x'.repeat(301)}")`]) {
      const text = (base.policies[id] ?? '').replace(`@id("${id}")`, `@id("${id}")\n${bad}`);
      const error = thrown(() => compilePolicySet({ schemaText: base.schemaText, policies: { ...base.policies, [id]: text } }));
      expect(error.message).toContain(`${id}.cedar (policy "${id}"): @reason must be 1 to 300 characters`);
    }
  });
});

describe('what the decision point puts to Cedar', () => {
  let set: LoadedPolicySet;
  beforeAll(async () => {
    set = await loadPolicySet(POLICIES);
  });
  const email = (ticket: string, steps: number) => ({
    tenant: 'acme',
    agent,
    tool: { name: 'email.send', version: '1.0.0', effect: 'write', risk: 'low' } as const,
    arguments: { recipient_domain: 'example.com', ticket_id: ticket },
    runStats: { ...runStats, steps },
  });

  it('probes the approval gates of a default deny only when a permit that reads the approvals may apply: a refund yes, an e-mail no', () => {
    const pdp = createDecisionPoint(set);
    const evaluations = (request: Parameters<DecisionPoint['decide']>[0]) => {
      const before = pdp.cedarEvaluations?.() ?? 0;
      const decision = pdp.decide(request);
      return { decision: decision.decision, determiningPolicies: decision.determiningPolicies, evaluations: (pdp.cedarEvaluations?.() ?? 0) - before };
    };
    // No permit allows an e-mail, and the gated permits are about refunds.issue only: one evaluation.
    expect(evaluations(email('T-1', 1))).toEqual({ decision: 'deny', determiningPolicies: [], evaluations: 1 });
    // A sales agent's refund: denied by default, both gates probed (neither allows).
    expect(evaluations(refund(20_000, { agent: { ...agent, role: 'sales' } }))).toEqual({ decision: 'deny', determiningPolicies: [], evaluations: 3 });
    expect(evaluations(refund(20_000))).toEqual({
      decision: 'approval_required',
      determiningPolicies: ['refund-over-100-needs-manager-approval'],
      evaluations: 2,
    });
  });

  it('with an evaluation cache, decides as without one, evaluating once what differs only in what no policy reads', () => {
    const plain = createDecisionPoint(set);
    const cached = createDecisionPoint(set, { evaluationCache: 100 });
    const start = cached.cedarEvaluations?.() ?? 0;
    const requests = [
      email('T-1', 1),
      email('T-2', 1), // another ticket id: no policy reads it
      email('T-2', 7), // another step count: Cedar is given the run's statistics (a required record)
      refund(20_000),
      refund(20_000, {}, { ticket_id: 'T-9', currency: 'EUR' }),
      refund(20_000, { approvals: [{ approverId: 'maria', role: 'manager' }] }),
      refund(20_000, { approvals: [{ approverId: agent.owner, role: 'manager' }] }),
      refund(900, {}, { ticket_tags: ['vip'] }),
    ];
    for (const request of requests) expect(cached.decide(request)).toEqual(plain.decide(request));
    // e-mails: 1, 0 and 1; the refund at $200: 2 (with its probe), the same with
    // another ticket id and currency: 0; with approvals: 1 each (the owner's is denied by default,
    // and its probe is the $200 refund's, remembered); the vip refund: 1 and its 2 probes.
    expect((cached.cedarEvaluations?.() ?? 0) - start).toBe(1 + 0 + 1 + 2 + 0 + 1 + 1 + 3);
  });

  it('gives Cedar an argument some policy reads', () => {
    const sources = {
      schemaText: set.schemaText,
      policies: {
        ...set.policies,
        'email-on-ticket-1': `@id("email-on-ticket-1")
permit (principal, action == Writ::Action::"invoke", resource == Writ::Tool::"email.send")
when { context.arguments has ticket_id && context.arguments.ticket_id == "T-1" };`,
      },
    };
    const pdp = createDecisionPoint(compilePolicySet(sources), { evaluationCache: 100 });
    expect(pdp.decide(email('T-1', 1)).decision).toBe('allow');
    expect(pdp.decide(email('T-2', 1)).decision).toBe('deny');
  });
});
