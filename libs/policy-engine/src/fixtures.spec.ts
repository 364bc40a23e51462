// Requests and helpers shared by the policy engine's specs (not a test file itself: the test
// projects collect *.unit.spec.ts and *.int.spec.ts; the build leaves *.spec.ts out).
import type { DecisionRequest } from './types.ts';

export const agent = { id: 'support-bot-1', role: 'support', owner: 'olivia' };
export const refundTool = { name: 'refunds.issue', version: '1.2.0', effect: 'write', risk: 'medium' } as const;
export const runStats = { steps: 1, spendMicros: 0, callsInWindow: 0 };

/** A refund by a support agent on a ticket tagged refund_approved; `args` adds or replaces arguments. */
export function refund(amountCents: unknown, extra: Partial<DecisionRequest> = {}, args: Readonly<Record<string, unknown>> = {}): DecisionRequest {
  return {
    tenant: 'acme',
    agent,
    tool: refundTool,
    arguments: { amount_cents: amountCents, ticket_tags: ['refund_approved'], ticket_id: 'T-1', ...args },
    runStats,
    ...extra,
  };
}
