import { describe, expect, it } from 'vitest';
import { explainEnd, explainEvent, runExplain } from './explain.ts';

const meta = { run_id: 'run-1', action_id: 'a-1', tenant_id: 'acme' };
const row = (event_type: string, payload: Record<string, unknown>, seq = 1) => ({
  event_type,
  occurred_at: '2026-12-06 23:00:00.000',
  chain_seq: seq,
  payload: JSON.stringify({ meta, ...payload }),
});

describe('writ explain', () => {
  it('explains a decision: policies, set, approval asked for and its expiry, warnings, shadow results, and the context Cedar saw', () => {
    const lines = explainEvent(
      row('PolicyDecided', {
        decision: 'approval_required',
        determining_policies: ['refund-over-500-needs-two-managers'],
        policy_set_hash: 'ab'.repeat(32),
        policy_set_version: '1.1.0',
        approval_requirement: { policy_id: 'refund-over-500-needs-two-managers', count: 2, roles: ['manager'], expires_in_ms: 4 * 3_600_000 },
        errors: [],
        denied_by: null,
        warnings: ['refund-weekend-warning'],
        shadow_results: [
          { policy_id: 'refund-hold', decision: 'deny', determining_policies: ['refund-hold'] },
          { policy_id: 'refund-cap', decision: 'approval_required', determining_policies: ['refund-over-500-needs-two-managers'] },
        ],
        request_json: JSON.stringify({
          agent: { id: 'triage-bot', role: 'support', owner: 'dana' },
          arguments: { amount_cents: 60_000 },
          runStats: { steps: 3, spendMicros: 12_000, callsInWindow: 1 },
          approvals: [{ approverId: 'maria', role: 'manager' }],
          history: { refunds_to_customer_today: 2 },
          historyFacts: { refunds_to_customer_today: 'count refunds.issue where allowed|pending same arguments.customer_id within 1d' },
        }),
      }),
    ).join('\n');
    expect(lines).toContain('policy: approval_required by refund-over-500-needs-two-managers (policy set 1.1.0, abababababab)');
    expect(lines).toContain('asks for 2 approval(s) by manager (refund-over-500-needs-two-managers, expires in 240 min)');
    expect(lines).toContain('warnings (warn mode, not enforced): refund-weekend-warning');
    expect(lines).toContain('shadow refund-hold: would decide deny (DISAGREES)');
    expect(lines).toContain('shadow refund-cap: would decide approval_required (agrees)');
    expect(lines).toContain('context: agent triage-bot (role support, owner dana); arguments {"amount_cents":60000}');
    expect(lines).toContain('run so far: 3 steps, 12000 micros spent, 1 calls of the tool in the window');
    expect(lines).toContain('approvals it saw: maria (manager)');
    expect(lines).toContain('history refunds_to_customer_today = 2 (count refunds.issue where allowed|pending same arguments.customer_id within 1d)');
  });

  it('says when a decision carries no recorded context, and explains the other steps of an action', () => {
    expect(
      explainEvent(
        row('PolicyDecided', { decision: 'deny', determining_policies: [], policy_set_hash: '00', errors: ['no policy set'], request_json: '' }),
      ).join('\n'),
    ).toContain('context: not recorded');
    expect(
      explainEvent(row('ApprovalRecorded', { approver_id: 'dana', verdict: 'approve', accepted: false, reason: 'forbidden by owner-may-not-approve' }))[0],
    ).toContain('approve of dana refused: forbidden by owner-may-not-approve');
    expect(explainEvent(row('ActionCompleted', { status: 'completed', reason_code: 'SUCCEEDED', reason: 'refund issued' }))[0]).toContain(
      'ended completed (SUCCEEDED): refund issued',
    );
    expect(explainEvent(row('SomethingNew', {}))[0]).toMatch(/#1 {2}SomethingNew$/);
  });

  it("shows the proposal's provenance: the model, the prompt version and each retrieved document with its version and sha256", () => {
    const proposal = (provenance: unknown) =>
      explainEvent(
        row('ActionProposed', {
          agent_id: 'triage-bot',
          tool: 'tickets.get',
          tool_version: '1.0.0',
          reason: 'read the ticket',
          arguments_json: '{"ticket_id":"T-1"}',
          provenance,
        }),
      ).join('\n');
    const lines = proposal({
      model: { name: 'claude-sonnet-4-5', provider: 'anthropic', version: '20250929' },
      prompt_version: 'triage-v7',
      retrieved_documents: [
        { id: 'kb/refund-policy', version: '12', sha256: 'ab'.repeat(32) },
        { id: 'tickets/T-1', version: null, sha256: 'cd'.repeat(32) },
      ],
    });
    expect(lines).toContain('proposed by agent triage-bot: tickets.get@1.0.0');
    expect(lines).toContain('model: claude-sonnet-4-5 (provider anthropic, version 20250929)');
    expect(lines).toContain('prompt version: triage-v7');
    expect(lines).toContain('retrieved documents (2):');
    expect(lines).toContain(`kb/refund-policy version 12, sha256 ${'ab'.repeat(32)}`);
    expect(lines).toContain(`tickets/T-1, sha256 ${'cd'.repeat(32)}`);
    expect(proposal({ model: { name: 'm', provider: null, version: null }, prompt_version: null, retrieved_documents: [] })).toMatch(/model: m$/);
    expect(proposal(null)).toContain('provenance: none given by the agent');
  });

  it("tells the end from the action's permanent row once its execution events are past the detail retention, and only then", () => {
    const proposed = row('ActionProposed', { agent_id: 'triage-bot', tool: 'tickets.get', reason: 'r', arguments_json: '{}', provenance: null });
    const end = {
      status: 'completed',
      status_reason: 'the tool succeeded',
      outcome: 'succeeded',
      cost_micros: '1500',
      currency: 'USD',
      updated_at: '2026-11-01 10:00:00.000',
    };
    expect(explainEnd([proposed], end).join('\n')).toContain(
      '2026-11-01 10:00:00.000  ended completed, outcome succeeded, cost 1500 micros USD: the tool succeeded',
    );
    expect(explainEnd([proposed], end).join('\n')).toContain('past their retention');
    expect(explainEnd([proposed, row('ActionCompleted', { status: 'completed' })], end)).toEqual([]);
    expect(explainEnd([proposed], { ...end, status: '' })).toEqual([]); // still running
    expect(explainEnd([proposed], undefined)).toEqual([]);
  });

  it('refuses a missing action id or an unknown flag with exit 2 and the usage, naming it', async () => {
    const lines: string[] = [];
    const io = { out: (l: string) => lines.push(l), err: (l: string) => lines.push(l) };
    expect(await runExplain([], io, {})).toBe(2);
    expect(lines.join('\n')).toContain('ACTION_ID is required');
    lines.length = 0;
    expect(await runExplain(['a-1', '--tenant', 'acme'], io, {})).toBe(2);
    expect(lines.join('\n')).toContain('unknown argument "--tenant"');
  });
});
