// The accountant's books, as the decider runtime keeps them (a state per tenant): a tenant's first
// state (the limits of the budgets file), and the fold of the committed records that rebuilds them,
// the service's own events on writ.budget.v1 and the run caps of RunStarted on writ.proposals.v1.
// The fold also notes each tenant's last BudgetsConfigured, so the boot announces only a change.
import { BUDGET_WIRE_TYPES, budgetsAnnouncement, initialBudgetState, limitCommandsFor, replayWire } from '@writ/budget-core';
import type { BudgetDecider, BudgetState, BudgetWireEvent, BudgetsAnnouncement, BudgetsFile } from '@writ/budget-core';
import type { TenantFilter } from '@writ/config';
import { decodeEvent } from '@writ/contracts';
import type { EventPayloads } from '@writ/contracts';

export const PRODUCER_NAME = 'budget';

export class BudgetBooks {
  readonly #decider: BudgetDecider;
  readonly #file: BudgetsFile;
  readonly #tenants: TenantFilter;
  /** The config_sha256 of the last BudgetsConfigured read back per tenant (replay). */
  readonly #announced = new Map<string, string>();

  constructor(decider: BudgetDecider, file: BudgetsFile, tenants: TenantFilter) {
    this.#decider = decider;
    this.#file = file;
    this.#tenants = tenants;
  }

  /** Whether this instance keeps the books of the tenant. */
  serves(tenant: string): boolean {
    return this.#tenants.serves(tenant);
  }

  /**
   * The tenants this instance serves whose budgets in the file differ from their last announcement
   * read back (none yet, or another digest), with what to announce: the file's tenants only.
   */
  unannounced(): { readonly tenant: string; readonly previous: string | null; readonly announcement: BudgetsAnnouncement }[] {
    return Object.keys(this.#file.tenants)
      .filter((tenant) => this.serves(tenant))
      .flatMap((tenant) => {
        const announcement = budgetsAnnouncement(this.#file, tenant);
        const previous = this.#announced.get(tenant) ?? null;
        return announcement === null || previous === announcement.config_sha256 ? [] : [{ tenant, previous, announcement }];
      });
  }

  /** Notes an announcement as made (published and acknowledged). */
  announced(tenant: string, digest: string): void {
    this.#announced.set(tenant, digest);
  }

  /** The books of a tenant seen for the first time: the limits of the budgets file. */
  initial(tenant: string, now: number): BudgetState {
    let state = initialBudgetState();
    for (const command of limitCommandsFor(this.#file, tenant, now)) {
      for (const event of this.#decider.decide(command, state)) state = this.#decider.evolve(state, event);
    }
    return state;
  }

  /**
   * Folds one committed record of writ.budget.v1 or writ.proposals.v1 into `states`: the budget
   * service's own events, and the run caps of RunStarted (handed to `onRunLimits`, applied once the
   * books are read). Anything else (proposals, other producers' events, other tenants, undecodable
   * records: they went to some DLQ already) is skipped.
   */
  replay(
    states: Map<string, BudgetState>,
    value: Buffer | null,
    now: number,
    onRunLimits: (tenant: string, payload: EventPayloads['RunStarted']) => void,
  ): 'applied' | 'skipped' {
    if (value === null) return 'skipped';
    let decoded;
    try {
      decoded = decodeEvent(value);
    } catch {
      return 'skipped';
    }
    const meta = decoded.payload.meta;
    if (!this.serves(meta.tenant_id)) return 'skipped';
    if (decoded.type === 'BudgetsConfigured') {
      if (!meta.producer.startsWith(`${PRODUCER_NAME}@`)) return 'skipped';
      this.#announced.set(meta.tenant_id, decoded.payload.config_sha256);
      return 'applied';
    }
    if (decoded.type === 'RunStarted') {
      onRunLimits(meta.tenant_id, decoded.payload);
      return 'applied';
    }
    if (!(BUDGET_WIRE_TYPES as readonly string[]).includes(decoded.type) || !meta.producer.startsWith(`${PRODUCER_NAME}@`)) return 'skipped';
    const wire = { type: decoded.type, payload: decoded.payload } as BudgetWireEvent;
    states.set(meta.tenant_id, replayWire(states.get(meta.tenant_id) ?? this.initial(meta.tenant_id, now), wire));
    return 'applied';
  }
}
