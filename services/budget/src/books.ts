// The accountant's books of every tenant this instance serves, in memory: rebuilt at boot from
// the service's own committed events on writ.budget.v1 (plus run limits from RunStarted on
// writ.proposals.v1), then kept up to date by the transactional handler.
import { BUDGET_WIRE_TYPES, initialBudgetState, limitCommandsFor, replayWire } from '@writ/budget-core';
import type { BudgetDecider, BudgetState, BudgetWireEvent, BudgetsFile, SetLimits } from '@writ/budget-core';
import type { TenantFilter } from '@writ/config';
import { decodeEvent } from '@writ/contracts';
import type { EventPayloads } from '@writ/contracts';

export const PRODUCER_NAME = 'budget';

export class BudgetBooks {
  readonly #decider: BudgetDecider;
  readonly #file: BudgetsFile;
  readonly #tenants: TenantFilter;
  #states = new Map<string, BudgetState>();

  constructor(decider: BudgetDecider, file: BudgetsFile, tenants: TenantFilter) {
    this.#decider = decider;
    this.#file = file;
    this.#tenants = tenants;
  }

  /** Whether this instance keeps the books of the tenant. */
  serves(tenant: string): boolean {
    return this.#tenants.serves(tenant);
  }

  get tenantCount(): number {
    return this.#states.size;
  }

  /** The tenant's books; a tenant seen for the first time starts with the limits of the budgets file. */
  stateOf(tenant: string, now: number = Date.now()): BudgetState {
    const known = this.#states.get(tenant);
    if (known !== undefined) return known;
    let state = initialBudgetState();
    for (const command of limitCommandsFor(this.#file, tenant, now)) state = this.#apply(state, command);
    this.#states.set(tenant, state);
    return state;
  }

  /** Every tenant's books. */
  entries(): [string, BudgetState][] {
    return [...this.#states.entries()];
  }

  set(tenant: string, state: BudgetState): void {
    this.#states.set(tenant, state);
  }

  /** Forgets everything (before a rebuild). */
  clear(): void {
    this.#states = new Map();
  }

  /** Applies a SetLimits (internal: limits are not published); returns the new state. */
  #apply(state: BudgetState, command: SetLimits): BudgetState {
    let current = state;
    for (const event of this.#decider.decide(command, current)) current = this.#decider.evolve(current, event);
    return current;
  }

  /**
   * Folds one committed record of writ.budget.v1 or writ.proposals.v1 into the books: the budget
   * service's own events, and the run caps of RunStarted. Anything else (proposals, other
   * producers' events, other tenants, undecodable records: they went to some DLQ already) is skipped.
   * Returns what was done, for counting.
   */
  replay(value: Buffer | null, onRunLimits: (tenant: string, payload: EventPayloads['RunStarted']) => void): 'applied' | 'skipped' {
    if (value === null) return 'skipped';
    let decoded;
    try {
      decoded = decodeEvent(value);
    } catch {
      return 'skipped';
    }
    const meta = decoded.payload.meta;
    if (!this.serves(meta.tenant_id)) return 'skipped';
    if (decoded.type === 'RunStarted') {
      onRunLimits(meta.tenant_id, decoded.payload);
      return 'applied';
    }
    if (!(BUDGET_WIRE_TYPES as readonly string[]).includes(decoded.type) || !meta.producer.startsWith(`${PRODUCER_NAME}@`)) return 'skipped';
    const wire = { type: decoded.type, payload: decoded.payload } as BudgetWireEvent;
    this.#states.set(meta.tenant_id, replayWire(this.stateOf(meta.tenant_id), wire));
    return 'applied';
  }
}
