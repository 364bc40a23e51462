// The announcement of a tenant's configured budgets (BudgetsConfigured on writ.budget.v1): what the
// budgets file gives the tenant, in the file's order, with a digest of it. The service announces a
// tenant's budgets when they differ from the last announcement it reads back (by digest), so a
// restart with the same file announces nothing and the ledger keeps a record of every change.
import { createHash } from 'node:crypto';
import type { ConfiguredBudget } from '@writ/contracts';
import { canonicalJson } from '@writ/crypto';
import { limitCommandsFor } from './budgets-file.ts';
import type { BudgetsFile } from './budgets-file.ts';
import { DEFAULT_SUBJECT, DEFAULT_TIME_ZONE } from './model.ts';

/** The payload of a BudgetsConfigured without its metadata. */
export interface BudgetsAnnouncement {
  readonly config_sha256: string;
  readonly currency: string;
  readonly time_zone: string;
  readonly budgets: readonly ConfiguredBudget[];
}

/** A tenant's budgets as the file gives them, and their digest; null for a tenant not in the file. */
export function budgetsAnnouncement(file: BudgetsFile, tenant: string): BudgetsAnnouncement | null {
  if (!Object.hasOwn(file.tenants, tenant)) return null;
  const commands = limitCommandsFor(file, tenant, 0);
  let timeZone = DEFAULT_TIME_ZONE;
  let currency = file.tenants[tenant]?.currency ?? 'USD';
  const budgets: ConfiguredBudget[] = [];
  for (const command of commands) {
    if (command.type === 'SetTimeZone') {
      timeZone = command.time_zone;
      continue;
    }
    currency = command.currency;
    const caps = command.caps;
    budgets.push({
      scope: command.scope,
      subject: command.subject ?? DEFAULT_SUBJECT,
      window_ms: command.window_ms ?? null,
      money_micros: caps.money_micros,
      tool_calls: caps.tool_calls,
      thresholds_percent: [...(caps.thresholds_percent ?? [])],
      approval_at_percent: caps.approval_at_percent ?? null,
      reads_only_at_percent: caps.reads_only_at_percent ?? null,
    });
  }
  const body = { currency, time_zone: timeZone, budgets };
  return { config_sha256: createHash('sha256').update(canonicalJson(body)).digest('hex'), ...body };
}
