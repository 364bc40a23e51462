// The governed pipeline end to end: agents talk HTTP to the gateway; the six services run as
// processes on a fresh Kafka broker, with real Cedar, real chDB and the demo helpdesk as the
// system of record. Each test opens its own run.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeEvent } from '@writ/contracts';
import type { ApprovalRecorded } from '@writ/contracts';
import { isWritError } from '@writ/errors';
import type { WritClient } from '@writ/sdk';
import { waitFor } from '@writ/testing';
import { authAs, helpdeskStats, refundArgs, startE2eStack } from './support.ts';
import type { E2eStack } from './support.ts';

let e2e: E2eStack;

beforeAll(async () => {
  e2e = await startE2eStack(38280);
}, 180_000);

afterAll(async () => {
  await e2e?.stack.stop();
});

async function rejection(call: Promise<unknown>) {
  try {
    await call;
  } catch (error) {
    if (isWritError(error)) return error;
    throw error;
  }
  throw new Error('expected the gateway to refuse');
}

async function openRun(client: WritClient = e2e.agent, limits?: Parameters<WritClient['openRun']>[1]) {
  return (await client.openRun('e2e', limits)).run_id;
}

const key = () => randomUUID();

describe('the governed pipeline', () => {
  it('executes an allowed write exactly once and answers the waiting agent', async () => {
    const run = await openRun();
    const idempotencyKey = key();
    const { action_id } = await e2e.agent.propose(run, {
      tool: 'refunds.issue',
      arguments: refundArgs(2500),
      reason: 'customer was charged twice',
      idempotency_key: idempotencyKey,
    });
    const outcome = await e2e.agent.outcome(action_id, 30_000);
    expect(outcome.status).toBe('completed');
    expect(JSON.stringify(outcome)).not.toContain('4242');
    const stats = await helpdeskStats(e2e.stack);
    expect(Object.entries(stats.effects).filter(([k]) => k.includes(idempotencyKey))).toHaveLength(1);
    expect(Object.entries(stats.effects).find(([k]) => k.includes(idempotencyKey))?.[1]).toBe(1);
  });

  it('never calls the tool for a denied action, and names the policy', async () => {
    const run = await openRun();
    const before = await helpdeskStats(e2e.stack);
    const { action_id } = await e2e.agent.propose(run, {
      tool: 'customers.delete',
      arguments: { customer_id: 'C-501', reason: 'asked to be forgotten' },
      reason: 'gdpr',
      idempotency_key: key(),
    });
    const outcome = await e2e.agent.outcome(action_id, 30_000);
    expect(outcome.status).toBe('denied');
    expect(outcome.determining_policies).toContain('customer-delete-forbidden');
    const after = await helpdeskStats(e2e.stack);
    expect(after.calls).toEqual(before.calls);
  });

  it('holds a large refund for a manager: the owner cannot approve, a manager can, and it runs once', async () => {
    const run = await openRun();
    const idempotencyKey = key();
    const { action_id } = await e2e.agent.propose(run, {
      tool: 'refunds.issue',
      arguments: refundArgs(25_000, 'T-1002', 'C-502'),
      reason: 'refund of a cancelled annual plan',
      idempotency_key: idempotencyKey,
    });
    const pending = await waitFor(
      async () => (await e2e.manager.pendingApprovals()).approvals.find((a) => a.action_id === action_id),
      { timeoutMs: 30_000, what: 'the refund in the approval queue' },
    );
    expect(pending.tool).toBe('refunds.issue');
    expect((await e2e.agent.action(action_id)).status).toBe('awaiting_approval');

    await e2e.owner.decide(action_id, 'approve', 'my own bot, fine');
    const refused = await waitFor(
      async () => {
        const view = await e2e.agent.action(action_id);
        const approvals = (view['approvals'] ?? []) as { approver_id: string; accepted: boolean }[];
        return approvals.find((a) => a.approver_id === 'dana');
      },
      { timeoutMs: 30_000, what: "the owner's approval to be recorded" },
    );
    expect(refused.accepted).toBe(false);
    expect((await e2e.agent.action(action_id)).status).toBe('awaiting_approval');
    expect(Object.keys((await helpdeskStats(e2e.stack)).effects).some((k) => k.includes(idempotencyKey))).toBe(false);

    await e2e.manager.decide(action_id, 'approve', 'checked the contract');
    const outcome = await e2e.agent.outcome(action_id, 30_000);
    expect(outcome.status).toBe('completed');
    const effects = Object.entries((await helpdeskStats(e2e.stack)).effects).filter(([k]) => k.includes(idempotencyKey));
    expect(effects).toEqual([[expect.stringContaining(idempotencyKey), 1]]);

    // The ledger records who approved, and that the owner's approval did not count.
    const approvals = await waitFor(
      async () => {
        const response = await fetch(`${e2e.stack.service('ledger').url}/v1/ledger/acme`, { headers: authAs('audrey') });
        const recorded = (await response.text())
          .split('\n')
          .filter((line) => line.includes('"ApprovalRecorded"') && line.includes(action_id));
        return recorded.length === 2 ? recorded : undefined;
      },
      { timeoutMs: 30_000, what: 'both approvals in the ledger' },
    );
    const decoded = approvals.map((line) => {
      const entry = JSON.parse(line) as { event_bytes: string };
      return decodeEvent(Buffer.from(entry.event_bytes, 'base64')).payload as ApprovalRecorded;
    });
    expect(decoded.map((a) => [a.approver_id, a.accepted]).sort()).toEqual([
      ['dana', false],
      ['maria', true],
    ]);
  });

  it('rejects schema-invalid arguments with the field and the rule, before any decision', async () => {
    const run = await openRun();
    const error = await rejection(
      e2e.agent.propose(run, {
        tool: 'refunds.issue',
        arguments: { ...refundArgs(2500), amount_cents: 'a lot' },
        reason: 'typo',
        idempotency_key: key(),
      }),
    );
    expect(error.details?.['status']).toBe(400);
    expect(error.field).toContain('amount_cents');
    expect(error.rule).toBeTruthy();
  });

  it('runs a write once when the same idempotency key is proposed twice', async () => {
    const run = await openRun();
    const idempotencyKey = key();
    const proposal = { tool: 'refunds.issue', arguments: refundArgs(1500, 'T-1003', 'C-503'), reason: 'retry', idempotency_key: idempotencyKey };
    const first = await e2e.agent.propose(run, proposal);
    const second = await e2e.agent.propose(run, proposal);
    expect(second.action_id).toBe(first.action_id);
    expect((await e2e.agent.outcome(first.action_id, 30_000)).status).toBe('completed');
    const effects = Object.entries((await helpdeskStats(e2e.stack)).effects).filter(([k]) => k.includes(idempotencyKey));
    expect(effects.map(([, n]) => n)).toEqual([1]);
  });

  it('refuses a proposal over the run budget before execution', async () => {
    const run = await openRun(e2e.agent, { max_cost_micros: 10_000, currency: 'USD' });
    const idempotencyKey = key();
    const { action_id } = await e2e.agent.propose(run, {
      tool: 'refunds.issue',
      arguments: refundArgs(1000, 'T-1004', 'C-504'),
      reason: 'costs 20000 micros, the run allows 10000',
      idempotency_key: idempotencyKey,
    });
    const outcome = await e2e.agent.outcome(action_id, 30_000);
    expect(outcome.status).toBe('refused');
    expect(outcome.cost_micros ?? 0).toBe(0);
    expect(Object.keys((await helpdeskStats(e2e.stack)).effects).some((k) => k.includes(idempotencyKey))).toBe(false);
  });

  it('records spend equal to the sum of the actual costs of the executed actions', async () => {
    const run = await openRun();
    const costs: number[] = [];
    for (const [tool, args] of [
      ['tickets.get', { ticket_id: 'T-1003' }],
      ['refunds.issue', refundArgs(999, 'T-1008', 'C-503')],
      ['customers.delete', { customer_id: 'C-506', reason: 'denied, costs nothing' }],
    ] as const) {
      const { action_id } = await e2e.agent.propose(run, { tool, arguments: args, reason: 'spend', idempotency_key: key() });
      const outcome = await e2e.agent.outcome(action_id, 30_000);
      costs.push(outcome.status === 'completed' ? (outcome.cost_micros ?? 0) : 0);
    }
    const expected = costs.reduce((a, b) => a + b, 0);
    expect(expected).toBe(1_000 + 20_000);
    const spent = await waitFor(
      async () => {
        const response = await fetch(`${e2e.stack.service('ledger').url}/v1/query`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...authAs('ana') },
          body: JSON.stringify({ sql: 'SELECT sum(cost_micros) AS spent FROM spend WHERE run_id = {run:String}', params: { run } }),
        });
        const [row] = ((await response.json()) as { rows: { spent: string | number }[] }).rows;
        return Number(row?.spent ?? 0) === expected ? expected : undefined;
      },
      { timeoutMs: 30_000, what: `spend of ${expected} micros in ClickHouse` },
    );
    expect(spent).toBe(expected);
  });

  it('keeps an agent of one tenant out of another tenant’s runs', async () => {
    const run = await openRun();
    const { action_id } = await e2e.agent.propose(run, {
      tool: 'tickets.get',
      arguments: { ticket_id: 'T-1001' },
      reason: 'read',
      idempotency_key: key(),
    });
    const read = await rejection(e2e.otherTenantAgent.action(action_id));
    expect(read.details?.['status']).toBe(404);
    const act = await rejection(
      e2e.otherTenantAgent.propose(run, { tool: 'tickets.get', arguments: { ticket_id: 'T-1001' }, reason: 'x', idempotency_key: key() }),
    );
    expect(act.details?.['status']).toBe(404);
  });

  it('stops new calls to a tool within a second of its kill switch', async () => {
    await e2e.operator.setToolKillSwitch('tickets.get', true, 'e2e');
    try {
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      const before = await helpdeskStats(e2e.stack);
      const run = await openRun();
      const { action_id } = await e2e.agent.propose(run, {
        tool: 'tickets.get',
        arguments: { ticket_id: 'T-1001' },
        reason: 'read while killed',
        idempotency_key: key(),
      });
      const outcome = await e2e.agent.outcome(action_id, 30_000);
      expect(['rejected', 'failed']).toContain(outcome.status);
      expect((await helpdeskStats(e2e.stack)).calls).toEqual(before.calls);
    } finally {
      await e2e.operator.setToolKillSwitch('tickets.get', false, 'e2e done');
    }
  });
});
