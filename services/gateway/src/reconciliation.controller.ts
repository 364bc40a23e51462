import { Body, Controller, Get, Headers, HttpCode, Inject, Param, Post, UseGuards } from '@nestjs/common';
import type { Principal } from '@writ/directory';
import { WritError } from '@writ/errors';
import { checkResolvable, outcomeReconciledEvent, parseResolution, presentReconciliationItem, requireReconciler } from '@writ/gateway-core';
import type { ReconciliationItemJson } from '@writ/gateway-core';
import { WRIT_ATTR } from '@writ/telemetry';
import { GatewayBus } from './gateway-bus.ts';
import { ApiKeyGuard, Caller } from './http.ts';
import { Views } from './presenter.ts';
import { inSpan } from './tracing.ts';

type HeaderMap = Record<string, string | string[] | undefined>;

/**
 * The reconciliation queue of a tenant's operators: actions whose outcome is unknown (the executor
 * could not tell whether the side effect happened), and their resolution by a person who looked
 * the call up in the system of record (OutcomeReconciled on writ.approvals.v1).
 */
@Controller('v1/reconciliation')
@UseGuards(ApiKeyGuard)
export class ReconciliationController {
  /** Resolutions of this instance whose event is on its way: a second one meanwhile is refused. */
  readonly #resolving = new Set<string>();

  constructor(
    @Inject(GatewayBus) private readonly bus: GatewayBus,
    @Inject(Views) private readonly views: Views,
  ) {}

  /** The caller's tenant's unresolved unknown outcomes, the longest unknown first. */
  @Get()
  list(@Caller() caller: Principal): { reconciliation: ReconciliationItemJson[] } {
    const operator = requireReconciler(caller);
    return { reconciliation: this.bus.model.awaitingReconciliation(operator.tenant).map(presentReconciliationItem) };
  }

  /**
   * Resolves one: `{ outcome: succeeded|failed, note }`. 404 for an action that is not the
   * tenant's, 409 for one whose outcome is not unknown or was already reconciled.
   */
  @Post(':action_id')
  @HttpCode(202)
  async resolve(
    @Caller() caller: Principal,
    @Param('action_id') actionId: string,
    @Body() body: unknown,
    @Headers() headers: HeaderMap,
  ): Promise<{ action_id: string; status: 'reconciled'; outcome: string; resolved_by: string }> {
    const operator = requireReconciler(caller);
    const request = parseResolution(body);
    const action = await this.views.action(caller, actionId);
    checkResolvable(action);
    if (this.#resolving.has(action.action_id)) {
      throw new WritError('OUTCOME_ALREADY_RECONCILED', `action ${action.action_id} is being reconciled by another request`, {
        field: 'action_id',
        rule: 'must not be reconciled yet',
      });
    }
    this.#resolving.add(action.action_id);
    const attributes = { [WRIT_ATTR.tenantId]: action.tenant_id, [WRIT_ATTR.runId]: action.run_id, [WRIT_ATTR.actionId]: action.action_id };
    try {
      return await inSpan('gateway.reconcile', headers, attributes, async (_span, trace) => {
        const event = outcomeReconciledEvent({ action, resolver: operator, request, stamp: this.bus.stamp(trace) });
        await this.bus.emit('OutcomeReconciled', event);
        return { action_id: action.action_id, status: 'reconciled', outcome: request.outcome, resolved_by: operator.id };
      });
    } finally {
      this.#resolving.delete(action.action_id);
    }
  }
}
