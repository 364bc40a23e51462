import { isTerminal } from '@writ/sdk';
import type { ActionView, WritClient } from '@writ/sdk';

/** A ticket as the helpdesk's tickets.list tool returns it (after Writ's redaction). */
interface Ticket {
  readonly id: string;
  readonly subject: string;
  readonly status: string;
  readonly customer_id: string;
  readonly tags: readonly string[];
  readonly requested_refund_cents: number;
}

export interface AgentStep {
  readonly ticket: string;
  readonly tool: string;
  readonly action_id: string;
  readonly view: ActionView;
}

/** What the agent needs of a door: the HTTP client (WritClient) or the Kafka door's (KafkaDoorAgent). */
export type TriageAgentDoor = Pick<WritClient, 'propose' | 'outcome' | 'action'>;

/** Waits until an action is decided: awaiting approval, or terminal. */
async function settled(agent: TriageAgentDoor, actionId: string, waitMs: number): Promise<ActionView> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const view = await agent.action(actionId);
    if (view.status === 'awaiting_approval' || isTerminal(view.status) || Date.now() > deadline) return view;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function resultOf(view: ActionView): unknown {
  const raw = view.result ?? view['result_json'];
  return typeof raw === 'string' ? (JSON.parse(raw) as unknown) : raw;
}

/**
 * A scripted triage agent: it lists open tickets through Writ and works each one the way a support
 * bot would — refunds for tickets tagged refund_approved, a customer deletion for a GDPR request,
 * an export of the order history — without knowing the rules. Writ's policies decide.
 * Returns every action it proposed with its final (or, for approvals, current) state.
 */
export async function runTriageAgent(agent: TriageAgentDoor, runId: string, say: (line: string) => void, waitMs = 30_000): Promise<AgentStep[]> {
  const steps: AgentStep[] = [];
  const act = async (ticket: string, tool: string, args: Record<string, unknown>, reason: string, wait = true) => {
    const { action_id } = await agent.propose(runId, {
      tool,
      arguments: args,
      reason,
      idempotency_key: `${runId}:${ticket}:${tool}`,
    });
    const view = wait ? await agent.outcome(action_id, waitMs) : await settled(agent, action_id, waitMs);
    const policies = view.determining_policies?.length
      ? ` (${view.determining_policies.join(', ')})`
      : view.status === 'denied'
        ? ' (no policy permits it)'
        : '';
    say(`  ${ticket.padEnd(7)} ${tool.padEnd(17)} → ${view.status}${policies}`);
    steps.push({ ticket, tool, action_id, view });
    return view;
  };

  const listed = await act('queue', 'tickets.list', { status: 'open' }, 'fetch the queue of open tickets');
  const tickets = ((resultOf(listed) as { tickets?: Ticket[] } | undefined)?.tickets ?? []).filter((t) => t.status === 'open');
  say(`  the queue has ${tickets.length} open tickets`);
  for (const ticket of tickets) {
    await act(ticket.id, 'tickets.get', { ticket_id: ticket.id }, `read ${ticket.id}`);
    if (ticket.requested_refund_cents > 0) {
      const args = {
        ticket_id: ticket.id,
        customer_id: ticket.customer_id,
        amount_cents: ticket.requested_refund_cents,
        ticket_tags: [...ticket.tags],
        reason: ticket.subject,
      };
      // A refund over $100 waits for a manager: do not block the queue on it.
      await act(ticket.id, 'refunds.issue', args, `refund for "${ticket.subject}"`, ticket.requested_refund_cents <= 10_000);
    } else if (ticket.tags.includes('gdpr')) {
      await act(ticket.id, 'customers.delete', { customer_id: ticket.customer_id, reason: ticket.subject }, 'customer asked to be forgotten');
    }
  }
  await act('T-1007', 'customers.export', { rows: 5000, format: 'csv' }, 'export the order history for the customer');
  return steps;
}
