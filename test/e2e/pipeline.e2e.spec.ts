// The governed pipeline end to end, one instance of each service (test/e2e/pipeline-cases.ts),
// and the cases that need no second instance.
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { governedPipelineCases } from './pipeline-cases.ts';
import { callsAtTool, helpdeskStats } from './support.ts';

const stack = governedPipelineCases(26280);

describe('destination allowlists of the tool contract', () => {
  it('executes a note to the listed domain and rejects one to another domain before it runs, naming the argument and the rule', async () => {
    const e2e = stack();
    const { run_id: run } = await e2e.agent.openRun('e2e: escalate a ticket to the team');
    const note = { ticket_id: 'T-1001', subject: 'T-1001 needs a manager', body: 'The customer asks for more than my refund limit.' };

    const allowedKey = randomUUID();
    const allowed = await e2e.agent.propose(run, {
      tool: 'notifications.send',
      arguments: { ...note, to: 'escalations@acme.example', cc: ['lead@eu.acme.example'] },
      reason: 'escalate to a manager',
      idempotency_key: allowedKey,
    });
    expect((await e2e.agent.outcome(allowed.action_id, 30_000)).status).toBe('completed');
    const afterAllowed = await helpdeskStats(e2e.stack);
    expect(callsAtTool(afterAllowed, allowedKey)).toBe(1);
    expect(afterAllowed['notifications']).toContainEqual(expect.objectContaining({ to: 'escalations@acme.example', cc: ['lead@eu.acme.example'] }));

    const refusedKey = randomUUID();
    const refused = await e2e.agent.propose(run, {
      tool: 'notifications.send',
      arguments: { ...note, to: 'escalations@acme.example.evil.example' },
      reason: 'escalate to a manager',
      idempotency_key: refusedKey,
    });
    const outcome = await e2e.agent.outcome(refused.action_id, 30_000);
    expect(outcome).toMatchObject({ status: 'rejected', reason_code: 'DESTINATION_NOT_ALLOWED' });
    const rule =
      'arguments.to: "escalations@acme.example.evil.example" is not an allowed destination: its domain acme.example.evil.example is not listed (email_domain must be one of acme.example, *.acme.example)';
    expect((await e2e.agent.action(refused.action_id))['rejection']).toEqual({ code: 'DESTINATION_NOT_ALLOWED', field: 'to', message: rule });
    expect(callsAtTool(await helpdeskStats(e2e.stack), refusedKey)).toBe(0);
  });
});
