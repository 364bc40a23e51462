// What a tenant's webhook is told when a budget reaches one of its thresholds (its degradation step
// included): a chat-shaped message and the figures. Pure: sending and retrying are the budget
// service's (services/budget/src/notifier.ts).
import { microsToMoney } from '@writ/contracts';
import type { EventPayloads } from '@writ/contracts';

export interface BudgetNotification {
  /** A chat message as is (Slack, Mattermost and Teams incoming webhooks read `text`). */
  readonly text: string;
  readonly event: 'budget.threshold';
  /** The BudgetThresholdCrossed event's id: a receiver drops a redelivery by it. */
  readonly id: string;
  readonly tenant: string;
  readonly run_id: string;
  readonly agent: string;
  readonly scope: string;
  readonly subject: string;
  readonly period: string | null;
  readonly kind: 'money' | 'tool_calls';
  readonly threshold_percent: number;
  readonly used: number;
  readonly limit: number;
  readonly currency: string | null;
  readonly occurred_at: string;
}

export { microsToMoney };

export function thresholdNotification(crossed: EventPayloads['BudgetThresholdCrossed']): BudgetNotification {
  const { meta } = crossed;
  const subject = crossed.subject ?? '*';
  const whose = crossed.scope === 'run' ? `run ${subject}` : subject === '*' ? 'the tenant' : subject;
  const period = crossed.period === null || crossed.period === 'run' ? '' : ` (${crossed.period})`;
  const amount = (value: number) => (crossed.kind === 'money' ? `${microsToMoney(value)} ${crossed.currency ?? ''}`.trim() : `${value} calls`);
  return {
    text: `${meta.tenant_id}: budget ${crossed.scope} of ${whose}${period} reached ${crossed.threshold_percent} % of its ${crossed.kind === 'money' ? 'money' : 'tool-call'} limit: ${amount(crossed.used)} of ${amount(crossed.limit)} used (agent ${crossed.agent_id})`,
    event: 'budget.threshold',
    id: meta.event_id,
    tenant: meta.tenant_id,
    run_id: meta.run_id,
    agent: crossed.agent_id,
    scope: crossed.scope,
    subject,
    period: crossed.period,
    kind: crossed.kind,
    threshold_percent: crossed.threshold_percent,
    used: crossed.used,
    limit: crossed.limit,
    currency: crossed.currency,
    occurred_at: new Date(meta.occurred_at).toISOString(),
  };
}
