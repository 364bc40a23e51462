// How a budget is named in the reasons agents and approvers read (a refusal, an approval step):
// its scope and period as the budgets file writes them.
import type { BudgetApprovalStep } from './events.generated.ts';
import { microsToMoney } from './money.ts';

/** 90 min -> "90m", 1 h -> "1h", 7 d -> "7d": a rolling window's length as the budgets file writes it. */
function durationText(ms: number): string {
  if (ms % 86_400_000 === 0) return `${ms / 86_400_000}d`;
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  return `${Math.round(ms / 60_000)}m`;
}

/**
 * A counter's period as a reason shows it after the scope: " (2026-12)", " (rolling 1h)",
 * " (in flight)", or nothing for the run (and for events of before the period was published).
 */
export function budgetPeriodText(period: string | null | undefined): string {
  const window = /^w(\d+):/.exec(period ?? '');
  if (window !== null) return ` (rolling ${durationText(Number(window[1]))})`;
  if (period === 'now') return ' (in flight)';
  return period == null || period === 'run' ? '' : ` (${period})`;
}

/** An amount of a budget's kind: money with its currency ("800.00 USD"), else a count of tool calls. */
function amountText(amount: number, kind: BudgetApprovalStep['kind'], currency: string | null): string {
  return kind === 'money' ? `${microsToMoney(amount)}${currency === null ? '' : ` ${currency}`}` : `${amount} tool calls`;
}

/**
 * Why an action waits for a person: the budget that reached its approval step, how full it is, and
 * the rule ("budget tenant_month (2026-12) money is at 80% of 1000.00 USD (800.00 USD used): its
 * approval step is 80%, so an action with side effects needs an approval").
 */
export function describeApprovalStep(step: BudgetApprovalStep): string {
  const percent = step.limit === 0 ? 100 : Math.floor((step.used * 100) / step.limit);
  return (
    `budget ${step.scope}${budgetPeriodText(step.period)} ${step.kind} is at ${percent}% of ${amountText(step.limit, step.kind, step.currency)} ` +
    `(${amountText(step.used, step.kind, step.currency)} used): its approval step is ${step.percent}%, so an action with side effects needs an approval`
  );
}
