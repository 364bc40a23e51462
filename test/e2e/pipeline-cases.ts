// The governed pipeline end to end, as cases that a suite runs against its own stack: agents
// talk HTTP to the gateway; the six services run as processes on a fresh Kafka broker, with real
// Cedar, real chDB and the demo helpdesk as the system of record. Each test opens its own run.
import { createHash, randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WritStackOptions } from '@writ/devstack';
import { decodeEvent } from '@writ/contracts';
import { canonicalJson } from '@writ/crypto';
import { isWritError } from '@writ/errors';
import { WritClient } from '@writ/sdk';
import { metricValue, scrapeMetrics, startWebhookReceiver, waitFor } from '@writ/testing';
import type { WebhookReceiver } from '@writ/testing';
import { runExplain } from '../../libs/cli/src/explain.ts';
import { webhookSignature } from '@writ/runtime';
import {
  CANARY_AGENT,
  CANARY_KEY,
  authAs,
  autoSafeModeEnv,
  callsAtTool,
  helpdeskStats,
  keyOf,
  refundArgs,
  runSpendMicros,
  startE2eStack,
  stopE2eStack,
} from './support.ts';
import type { E2eStack } from './support.ts';

/**
 * The pipeline's cases against a stack on `basePort`, with `replicas` instances of the services;
 * returns the stack, for a suite's own cases (once its beforeAll ran).
 */
export function governedPipelineCases(basePort: number, replicas?: WritStackOptions['replicas']): () => E2eStack {
  let e2e: E2eStack;
  let hooks: WebhookReceiver;
  let safeModeFolder: string | undefined;
  const hookSecret = `e2e-hook-${randomUUID()}`;

  beforeAll(async () => {
    hooks = await startWebhookReceiver();
    const safeMode = autoSafeModeEnv(hooks.url, hookSecret);
    safeModeFolder = safeMode.folder;
    e2e = await startE2eStack(basePort, safeMode.env, replicas);
  }, 180_000);

  afterAll(async () => {
    await stopE2eStack(e2e);
    await hooks?.close();
    if (safeModeFolder !== undefined) rmSync(safeModeFolder, { recursive: true, force: true });
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
      // The card's last digits (a sensitive result field) as a value, quoted or inside result_json;
      // bare, '4242' also turns up by chance in the outcome's ids, hashes and times.
      expect(JSON.stringify(outcome)).toContain('card_last4');
      expect(JSON.stringify(outcome)).not.toMatch(/\\?"4242\\?"/);
      // Counted at the tool: one call carried this key (a retry the helpdesk deduplicated would be 2).
      expect(callsAtTool(await helpdeskStats(e2e.stack), idempotencyKey)).toBe(1);

      // The result travels by reference: the chain (an auditor's export) holds its digest, never the body.
      const digest = createHash('sha256').update(canonicalJson(outcome.result)).digest('hex');
      expect(outcome['result_ref']).toBe(digest);
      const entries = await waitFor(
        async () => {
          const exported = await fetch(`${e2e.stack.service('ledger').url}/v1/ledger/acme`, { headers: authAs('audrey') });
          const bytes = (await exported.text())
            .split('\n')
            .filter((l) => l.includes(action_id))
            .map((l) => (JSON.parse(l) as { event_bytes?: string }).event_bytes ?? '')
            .filter((b) => b !== ''); // an entry withheld as sensitive (the proposal) has none
          const chained = bytes.map((b) => decodeEvent(Buffer.from(b, 'base64')));
          return chained.some((e) => e.type === 'ActionCompleted') ? chained : undefined;
        },
        { timeoutMs: 30_000, what: "the action's end in the chain's export" },
      );
      const carried = entries.flatMap((e) => (e.type === 'ActionExecuted' || e.type === 'ActionCompleted' ? [e.payload] : []));
      expect(carried.map((p) => [p.result_json, p.result_ref])).toEqual([
        [null, digest],
        [null, digest],
      ]);
      expect(entries.map((e) => e.type)).not.toContain('ToolResultRecorded');
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
      const pending = await waitFor(async () => (await e2e.manager.pendingApprovals()).approvals.find((a) => a.action_id === action_id), {
        timeoutMs: 30_000,
        what: 'the refund in the approval queue',
      });
      expect(pending.tool).toBe('refunds.issue');
      // What the approver sees to decide in seconds: the tool's risk, what the policy asks, the run's spend so far.
      expect(pending['approval_request']).toMatchObject({
        tool: 'refunds.issue',
        effect: 'write',
        risk: 'medium',
        policy: 'refund-over-100-needs-manager-approval',
        reason: "Refunds over $100 need a manager who is not the agent's owner.",
        needs: { count: 1, roles: ['manager'] },
        approved_by: [],
        expires_at: expect.any(String),
        run_spend: { micros: 0, currency: 'USD' },
      });
      // The permit's own expiry (@approval_expires_in("4h")), from the decision that asked.
      const request = pending['approval_request'] as { requested_at: string; expires_at: string };
      expect(Date.parse(request.expires_at) - Date.parse(request.requested_at)).toBe(4 * 3_600_000);
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
      expect(callsAtTool(await helpdeskStats(e2e.stack), idempotencyKey)).toBe(0);

      await e2e.manager.decide(action_id, 'approve', 'checked the contract');
      const outcome = await e2e.agent.outcome(action_id, 30_000);
      expect(outcome.status).toBe('completed');
      expect(callsAtTool(await helpdeskStats(e2e.stack), idempotencyKey)).toBe(1);

      // The ledger records who approved, and that the owner's approval did not count.
      const approvals = await waitFor(
        async () => {
          const response = await fetch(`${e2e.stack.service('ledger').url}/v1/ledger/acme`, { headers: authAs('audrey') });
          const recorded = (await response.text()).split('\n').filter((line) => line.includes('"ApprovalRecorded"') && line.includes(action_id));
          return recorded.length === 2 ? recorded : undefined;
        },
        { timeoutMs: 30_000, what: 'both approvals in the ledger' },
      );
      const decoded = approvals.map((line) => {
        const entry = JSON.parse(line) as { event_bytes: string };
        const event = decodeEvent(Buffer.from(entry.event_bytes, 'base64'));
        if (event.type !== 'ApprovalRecorded') throw new Error(`expected ApprovalRecorded, got ${event.type}`);
        return event.payload;
      });
      expect(decoded.map((a) => [a.approver_id, a.accepted]).sort()).toEqual([
        ['dana', false],
        ['maria', true],
      ]);

      // `writ explain` tells the action's story from the ledger, to acme's analyst and to no other tenant's.
      const explain = async (who: string) => {
        const lines: string[] = [];
        const io = { out: (line: string) => lines.push(line), err: (line: string) => lines.push(line) };
        const code = await runExplain([action_id, '--url', e2e.stack.service('ledger').url, '--key', keyOf(who)], io, {});
        return { code, text: lines.join('\n') };
      };
      const story = await waitFor(
        async () => {
          const answer = await explain('ana');
          return answer.text.includes('ended completed') ? answer : undefined;
        },
        { timeoutMs: 30_000, what: 'the action explained to its end' },
      );
      expect(story.code).toBe(0);
      for (const part of [
        'proposed by agent triage-bot: refunds.issue',
        'policy: approval_required by refund-over-100-needs-manager-approval',
        'approve of dana refused: forbidden by owner-may-not-approve',
        'approve of maria accepted',
        'policy: allow by refund-over-100-needs-manager-approval',
        'approvals it saw: maria (manager)',
        'context: agent triage-bot (role support, owner dana)',
        'executed in',
      ]) {
        expect(story.text).toContain(part);
      }
      expect(story.text.indexOf('policy: approval_required')).toBeLessThan(story.text.indexOf('policy: allow'));
      expect(await explain('gus')).toMatchObject({ code: 1, text: expect.stringContaining('no events of action') });
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

    it("records the agent's provenance in the chain and its export, in ClickHouse and in writ explain; a bad one is a 400 naming field and rule", async () => {
      const run = await openRun();
      const digest = (content: string) => createHash('sha256').update(content).digest('hex');
      const read = { tool: 'tickets.get', arguments: { ticket_id: 'T-1001' }, reason: 'read the ticket before answering' };
      const provenance = {
        model: { name: 'claude-sonnet-4-5', provider: 'anthropic', version: '20250929' },
        prompt_version: 'triage-v7',
        retrieved_documents: [
          { id: 'kb/refund-policy', version: '12', sha256: digest('refunds within 30 days of purchase') },
          { id: 'tickets/T-1001', sha256: digest('my parcel arrived damaged') },
        ],
      };
      // Refused before anything is emitted: too many documents, a hash that is not one.
      const tooMany = await rejection(
        e2e.agent.propose(run, { ...read, idempotency_key: key(), provenance: { retrieved_documents: Array(33).fill(provenance.retrieved_documents[0]) } }),
      );
      expect(tooMany).toMatchObject({ code: 'REQUEST_INVALID', field: 'provenance.retrieved_documents', rule: 'maxItems' });
      expect(tooMany.details?.['status']).toBe(400);
      const badHash = await rejection(
        e2e.agent.propose(run, { ...read, idempotency_key: key(), provenance: { retrieved_documents: [{ id: 'kb/x', sha256: 'md5:0cc175b9' }] } }),
      );
      expect(badHash).toMatchObject({ code: 'REQUEST_INVALID', field: 'provenance.retrieved_documents[0].sha256', rule: 'pattern' });

      const { action_id } = await e2e.agent.propose(run, { ...read, idempotency_key: key(), provenance });
      expect((await e2e.agent.outcome(action_id, 30_000)).status).toBe('completed');

      // ClickHouse, as acme's analyst through the ledger's query door.
      const query = async (sql: string, params: Record<string, string>) => {
        const response = await fetch(`${e2e.stack.service('ledger').url}/v1/query`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...authAs('ana') },
          body: JSON.stringify({ sql, params }),
        });
        return ((await response.json()) as { rows: Record<string, unknown>[] }).rows;
      };
      const columns = await waitFor(
        async () =>
          (
            await query(
              'SELECT model_name, model_provider, model_version, prompt_version, retrieved_document_ids, retrieved_document_versions, retrieved_document_sha256 FROM actions WHERE action_id = {action:String}',
              { action: action_id },
            )
          ).find((row) => row['model_name'] !== ''),
        { timeoutMs: 30_000, what: 'the provenance on the action row' },
      );
      expect(columns).toEqual({
        model_name: 'claude-sonnet-4-5',
        model_provider: 'anthropic',
        model_version: '20250929',
        prompt_version: 'triage-v7',
        retrieved_document_ids: ['kb/refund-policy', 'tickets/T-1001'],
        retrieved_document_versions: ['12', ''],
        retrieved_document_sha256: provenance.retrieved_documents.map((d) => d.sha256),
      });
      // The actions that rested on one document (docs/analytics.md).
      const onDocument = await query(
        'SELECT action_id, document_version, document_sha256 FROM actions ARRAY JOIN retrieved_document_ids AS document_id, ' +
          'retrieved_document_versions AS document_version, retrieved_document_sha256 AS document_sha256 WHERE document_id = {document:String}',
        { document: 'tickets/T-1001' },
      );
      expect(onDocument).toContainEqual({ action_id, document_version: '', document_sha256: provenance.retrieved_documents[1]?.sha256 });

      // The chain's export (an auditor's): the ActionProposed entry's bytes carry it as given.
      // The chain is written apart from the ClickHouse rows: wait for the entry.
      const line = await waitFor(
        async () => {
          const exported = await fetch(`${e2e.stack.service('ledger').url}/v1/ledger/acme`, { headers: authAs('audrey') });
          return (await exported.text()).split('\n').find((l) => l.includes('"ActionProposed"') && l.includes(action_id));
        },
        { timeoutMs: 30_000, what: "the proposal's entry in the chain's export" },
      );
      const proposed = decodeEvent(Buffer.from((JSON.parse(line) as { event_bytes?: string }).event_bytes ?? '', 'base64'));
      expect(proposed.type === 'ActionProposed' ? proposed.payload.provenance : undefined).toEqual({
        ...provenance,
        retrieved_documents: [provenance.retrieved_documents[0], { ...provenance.retrieved_documents[1], version: null }],
      });

      // `writ explain`, as acme's analyst.
      const lines: string[] = [];
      const io = { out: (l: string) => lines.push(l), err: (l: string) => lines.push(l) };
      expect(await runExplain([action_id, '--url', e2e.stack.service('ledger').url, '--key', keyOf('ana')], io, {})).toBe(0);
      const story = lines.join('\n');
      expect(story).toContain('model: claude-sonnet-4-5 (provider anthropic, version 20250929)');
      expect(story).toContain('prompt version: triage-v7');
      expect(story).toContain(`kb/refund-policy version 12, sha256 ${provenance.retrieved_documents[0]?.sha256 ?? ''}`);
      expect(story).toContain(`tickets/T-1001, sha256 ${provenance.retrieved_documents[1]?.sha256 ?? ''}`);
    });

    it('runs a write once when the same idempotency key is proposed twice', async () => {
      const run = await openRun();
      const idempotencyKey = key();
      const proposal = { tool: 'refunds.issue', arguments: refundArgs(1500, 'T-1003', 'C-503'), reason: 'retry', idempotency_key: idempotencyKey };
      const first = await e2e.agent.propose(run, proposal);
      const second = await e2e.agent.propose(run, proposal);
      expect(second.action_id).toBe(first.action_id);
      expect((await e2e.agent.outcome(first.action_id, 30_000)).status).toBe('completed');
      expect(callsAtTool(await helpdeskStats(e2e.stack), idempotencyKey)).toBe(1);
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
      expect(callsAtTool(await helpdeskStats(e2e.stack), idempotencyKey)).toBe(0);
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
      const spent = await waitFor(async () => ((await runSpendMicros(e2e.stack, run)) === expected ? expected : undefined), {
        timeoutMs: 30_000,
        what: `spend of ${expected} micros in ClickHouse`,
      });
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
      const pulled = await e2e.operator.setToolKillSwitch('tickets.get', true, 'e2e');
      expect(pulled.control_key).toBe('acme/tool:tickets.get');
      expect((await e2e.operator.controls()).controls.map((c) => c.control_key)).toContain('acme/tool:tickets.get');
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
        await e2e.operator.setControl({ kind: 'kill-switch', tool: 'tickets.get' }, false, 'e2e done');
      }
      expect((await e2e.operator.controls()).controls.map((c) => c.control_key)).not.toContain('acme/tool:tickets.get');
    });
  });

  describe('a shadow run', () => {
    /** Rows of acme's analyst query through the ledger's door. */
    async function analystRows(sql: string, params: Record<string, string>): Promise<Record<string, string | number>[]> {
      const response = await fetch(`${e2e.stack.service('ledger').url}/v1/query`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...authAs('ana') },
        body: JSON.stringify({ sql, params }),
      });
      return ((await response.json()) as { rows: Record<string, string | number>[] }).rows;
    }

    it('refuses a mode it does not know, naming the field', async () => {
      const refused = await rejection(e2e.agent.openRun('e2e', undefined, 'dry-run' as 'shadow'));
      expect(refused).toMatchObject({ code: 'REQUEST_INVALID', field: 'mode', rule: 'enum' });
    });

    it('decides, budgets and records every action, executes none, and says what would have happened', async () => {
      // One refund (20,000 micros, one call) fills the run's caps: a reservation the books kept would refuse the next.
      const run = (await e2e.agent.openRun('e2e shadow', { max_cost_micros: 20_000, max_tool_calls: 1, currency: 'USD' }, 'shadow')).run_id;
      expect(await e2e.agent.run(run)).toMatchObject({ run_id: run, mode: 'shadow', status: 'open' });
      const before = await helpdeskStats(e2e.stack);
      const keys = [key(), key(), key(), key()];
      const propose = (i: number, tool: string, args: Record<string, unknown>) =>
        e2e.agent.propose(run, { tool, arguments: args, reason: 'shadow', idempotency_key: keys[i] ?? key() });

      // An allowed write: it would have executed, with the warrant and the reservation it held.
      const first = await e2e.agent.outcome((await propose(0, 'refunds.issue', refundArgs(2_500))).action_id, 30_000);
      expect(first).toMatchObject({ status: 'completed', shadow: true, reason_code: 'SHADOW_WOULD_EXECUTE', cost_micros: 0 });
      expect(first.result).toMatchObject({
        shadow: true,
        would: 'execute',
        tool: 'refunds.issue',
        args_sha256: first['args_sha256'],
        warrant: { policy_set_hash: expect.stringMatching(/^[0-9a-f]{64}$/) },
        reservation: { amount_micros: 20_000, currency: 'USD' },
      });
      // The first one's reservation was given back at once: the run's one call and 20,000 micros are still free.
      const second = await e2e.agent.outcome((await propose(1, 'refunds.issue', refundArgs(3_000, 'T-1002', 'C-502'))).action_id, 30_000);
      expect(second).toMatchObject({ status: 'completed', shadow: true, reason_code: 'SHADOW_WOULD_EXECUTE' });

      // A forbidden one is denied as it would be, naming the policy.
      const denied = await e2e.agent.outcome(
        (await propose(2, 'customers.delete', { customer_id: 'C-501', reason: 'asked to be forgotten' })).action_id,
        30_000,
      );
      expect(denied).toMatchObject({ status: 'denied', shadow: true });
      expect(denied.determining_policies).toContain('customer-delete-forbidden');

      // One that needs a manager says so, and pages nobody: it never enters the approval queue.
      const held = await propose(3, 'refunds.issue', refundArgs(25_000, 'T-1005', 'C-505'));
      const wouldAwait = await e2e.agent.outcome(held.action_id, 30_000);
      expect(wouldAwait).toMatchObject({ status: 'completed', shadow: true, reason_code: 'SHADOW_APPROVAL_REQUIRED', decision: 'approval_required' });
      expect(wouldAwait.result).toMatchObject({ would: 'await_approval', warrant: null });
      expect((await e2e.manager.pendingApprovals()).approvals.map((a) => a.action_id)).not.toContain(held.action_id);

      // Nothing reached the system of record.
      const after = await helpdeskStats(e2e.stack);
      for (const idempotencyKey of keys) expect(callsAtTool(after, idempotencyKey)).toBe(0);
      expect(after.calls).toEqual(before.calls);
      expect(after.refunds.length).toBe(before.refunds.length);

      // Recorded like any other, and told apart: every action and spend row of the run is shadow, and nothing was spent.
      const actions = await waitFor(
        async () => {
          const rows = await analystRows(
            "SELECT count() AS n, countIf(run_mode = 'shadow') AS shadow, sum(cost_micros) AS cost FROM actions WHERE run_id = {run:String} AND status != ''",
            { run },
          );
          return Number(rows[0]?.['n'] ?? 0) === 4 ? rows[0] : undefined;
        },
        { timeoutMs: 30_000, what: "the shadow run's four actions in ClickHouse" },
      );
      expect(Number(actions['shadow'])).toBe(4);
      expect(Number(actions['cost'])).toBe(0);
      const spend = await waitFor(
        async () => {
          const rows = await analystRows(
            "SELECT count() AS n, countIf(run_mode = 'shadow') AS shadow, sum(cost_micros) AS cost, sum(released_micros) AS released FROM spend WHERE run_id = {run:String}",
            { run },
          );
          return Number(rows[0]?.['n'] ?? 0) >= 3 ? rows[0] : undefined;
        },
        { timeoutMs: 30_000, what: "the releases of the shadow run's reservations in ClickHouse" },
      );
      expect(Number(spend['shadow'])).toBe(Number(spend['n']));
      expect(Number(spend['cost'])).toBe(0);
      expect(Number(spend['released'])).toBeGreaterThanOrEqual(3 * 20_000);
      expect(await runSpendMicros(e2e.stack, run)).toBe(0);
    });
  });

  describe('a run cap under concurrent proposals', () => {
    it('never spends over the cap: 20 refunds at once, the ones over it end refused, each executed one reached the tool exactly once', async () => {
      // refunds.issue is estimated and costs 20,000 micros: the cap admits five.
      const COST = 20_000;
      const CAP = 5 * COST;
      const run = await openRun(e2e.agent, { max_cost_micros: CAP, currency: 'USD' });
      const tickets = [
        ['T-1001', 'C-501'],
        ['T-1002', 'C-502'],
        ['T-1005', 'C-505'],
        ['T-1008', 'C-503'],
      ] as const;
      const before = await helpdeskStats(e2e.stack);
      const keys = Array.from({ length: 20 }, () => key());
      // Different amounts: twenty identical calls would be stopped as a loop, not by the budget.
      const proposed = await Promise.all(
        keys.map((idempotencyKey, i) => {
          const [ticket, customer] = tickets[i % tickets.length] ?? tickets[0];
          return e2e.agent.propose(run, {
            tool: 'refunds.issue',
            arguments: refundArgs(1_000 + i, ticket, customer),
            reason: 'concurrent',
            idempotency_key: idempotencyKey,
          });
        }),
      );
      expect(new Set(proposed.map((p) => p.action_id)).size).toBe(20);
      const outcomes = await Promise.all(proposed.map((p) => e2e.agent.outcome(p.action_id, 60_000)));
      const after = await helpdeskStats(e2e.stack);

      const completed = outcomes.flatMap((outcome, i) => (outcome.status === 'completed' ? [{ outcome, key: keys[i] ?? '' }] : []));
      const refused = outcomes.flatMap((outcome, i) => (outcome.status === 'refused' ? [{ outcome, key: keys[i] ?? '' }] : []));
      // Every action ends completed or refused: nothing denied, failed or left hanging.
      expect(outcomes.map((o) => o.status).filter((status) => status !== 'completed' && status !== 'refused')).toEqual([]);
      expect(completed.length).toBeGreaterThan(0);
      expect(completed.length).toBeLessThanOrEqual(CAP / COST);
      expect(refused.length).toBe(20 - completed.length);

      const spent = completed.reduce((sum, { outcome }) => sum + (outcome.cost_micros ?? 0), 0);
      expect(spent).toBe(completed.length * COST);
      expect(spent).toBeLessThanOrEqual(CAP);
      for (const { outcome, key: idempotencyKey } of refused) {
        expect(outcome['reason_code']).toBe('BUDGET_REFUSED');
        expect(outcome.cost_micros ?? 0).toBe(0);
        expect(callsAtTool(after, idempotencyKey)).toBe(0);
      }
      // At the tool: each executed action was called exactly once, and made one refund.
      for (const { key: idempotencyKey } of completed) expect(callsAtTool(after, idempotencyKey)).toBe(1);
      expect(after.refunds.length - before.refunds.length).toBe(completed.length);

      // The accountant's books agree: the run's settled spend in ClickHouse is what the tool was paid, and within the cap.
      const settled = await waitFor(async () => ((await runSpendMicros(e2e.stack, run)) === spent ? spent : undefined), {
        timeoutMs: 30_000,
        what: `settled spend of ${spent} micros in ClickHouse`,
      });
      expect(settled).toBeLessThanOrEqual(CAP);
    });
  });

  describe('automatic safe mode', () => {
    it('switches an agent whose calls fail to read-only, says why (control, webhook), and a person lifts it', async () => {
      const canary = new WritClient(e2e.stack.gatewayUrls[0] ?? e2e.stack.gatewayUrl, CANARY_KEY);
      const control = { kind: 'safe-mode', agent: CANARY_AGENT } as const;
      const canaryControl = async () => (await e2e.operator.controls()).controls.find((c) => c.control_key === `acme/safe_mode:agent:${CANARY_AGENT}`);
      // The gateways' count of the canary's automatic trips (writ_gateway_safe_mode_trips_total on each one's /metrics).
      const gateways = e2e.stack.instances('gateway');
      const tripsCounted = async () => {
        const scrapes = await Promise.all(gateways.map((g) => scrapeMetrics(g.metricsUrl ?? 'http://127.0.0.1:1/no-metrics-url')));
        const trips = { tenant: 'acme', subject: 'agent', trigger: 'error_rate' };
        return scrapes.reduce((sum, samples) => sum + metricValue(samples, 'writ_gateway_safe_mode_trips_total', trips), 0);
      };
      // Start from a lift: a suite that ran before on this broker may have left the canary's failures in its window.
      await e2e.operator.setControl(control, false, 'e2e: start from a lift');
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      const run = (await canary.openRun('e2e: a canary whose refunds fail')).run_id;
      const tripsBefore = await tripsCounted();

      // Three refunds the helpdesk refuses (ticket T-1001 is another customer's: 422): 3 of 3 failed trips its trigger.
      for (let i = 0; i < 3; i += 1) {
        const { action_id } = await canary.propose(run, {
          tool: 'refunds.issue',
          // Amounts differ: the same call three times would be a loop, rejected by the planner.
          arguments: refundArgs(500 + 100 * i, 'T-1001', 'C-502'),
          reason: 'refund the wrong customer',
          idempotency_key: key(),
        });
        const outcome = await canary.outcome(action_id, 30_000);
        expect(outcome.status, JSON.stringify(outcome)).toBe('failed');
      }
      const reason = 'automatic: 3 of 3 actions failed in the last 10m since safe mode was last lifted (100 % ≥ 100 %)';
      const tripped = await waitFor(async () => ((await canaryControl())?.set_by === 'writ:auto-safe-mode' ? canaryControl() : undefined), {
        timeoutMs: 15_000,
        what: 'the canary switched to safe mode automatically',
      });
      expect(tripped).toMatchObject({ enabled: true, reason, set_by: 'writ:auto-safe-mode', kind: 'safe_mode', target: `agent:${CANARY_AGENT}` });
      // Counted by the gateway that published it, on its /metrics (WRIT_METRICS_PORT, as the dev stack starts it). Every
      // gateway reads everything, so with several two may trip the canary at the same moment: each counts its own.
      const counted = await waitFor(async () => ((await tripsCounted()) > tripsBefore ? tripsCounted() : undefined), {
        timeoutMs: 15_000,
        what: 'the trip on a gateway’s /metrics',
      });
      expect(counted - tripsBefore).toBeGreaterThanOrEqual(1);
      expect(counted - tripsBefore).toBeLessThanOrEqual(gateways.length);
      // The planner and executor read it from the controls topic: give them the second the kill-switch case gives.
      await new Promise((resolve) => setTimeout(resolve, 1_000));

      // A write is refused for safe mode and never reaches the tool; a read still runs.
      const writeKey = key();
      const write = await canary.propose(run, { tool: 'refunds.issue', arguments: refundArgs(500), reason: 'a good refund', idempotency_key: writeKey });
      const refused = await canary.outcome(write.action_id, 30_000);
      expect(refused.status).toBe('failed');
      expect(refused.reason).toMatch(
        /^SAFE_MODE: safe mode is on for agent canary-bot in tenant acme \(acme\/safe_mode:agent:canary-bot, set by writ:auto-safe-mode\)/,
      );
      expect(callsAtTool(await helpdeskStats(e2e.stack), writeKey)).toBe(0);
      const read = await canary.propose(run, { tool: 'tickets.get', arguments: { ticket_id: 'T-1001' }, reason: 'read the ticket', idempotency_key: key() });
      expect((await canary.outcome(read.action_id, 30_000)).status).toBe('completed');

      // acme's webhook was told, signed with its secret, with the figures.
      const hook = await waitFor(async () => hooks.received.find((h) => h.event === 'safe_mode.tripped' && h.text.includes(reason)), {
        timeoutMs: 30_000,
        what: 'the safe_mode.tripped webhook',
      });
      const t = Number(/^t=(\d+),/.exec(hook.signature)?.[1]);
      expect(hook.signature).toBe(webhookSignature(hookSecret, hook.text, t));
      expect(hook.body).toMatchObject({
        event: 'safe_mode.tripped',
        tenant: 'acme',
        subject: 'agent',
        agent: CANARY_AGENT,
        control_key: `acme/safe_mode:agent:${CANARY_AGENT}`,
        reason,
        figures: { trigger: 'error_rate', window: '10m', actions: 3, failed: 3, denied: 0, threshold: '100' },
      });

      // An operator lifts it; the failures before the lift no longer count, and a write runs again.
      await e2e.operator.setControl(control, false, 'e2e: the canary was checked');
      expect((await canaryControl())?.enabled ?? false).toBe(false);
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      const againKey = key();
      const again = await canary.propose(run, { tool: 'refunds.issue', arguments: refundArgs(600), reason: 'a good refund', idempotency_key: againKey });
      expect((await canary.outcome(again.action_id, 30_000)).status).toBe('completed');
      expect(callsAtTool(await helpdeskStats(e2e.stack), againKey)).toBe(1);
      expect(await canaryControl()).toBeUndefined();
    });
  });
  return () => e2e;
}
