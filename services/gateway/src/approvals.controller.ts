import { Body, Controller, Get, Headers, HttpCode, Inject, Param, Post, Query, UseGuards } from '@nestjs/common';
import type { Principal } from '@writ/directory';
import { WritError } from '@writ/errors';
import { approvalSubmittedEvent, parseApproval, parseApprovalStatus, requireRole } from '@writ/gateway-core';
import type { ActionJson } from '@writ/gateway-core';
import { WRIT_ATTR } from '@writ/telemetry';
import { GatewayBus } from './gateway-bus.ts';
import { ApiKeyGuard, Caller } from './http.ts';
import { Views } from './presenter.ts';
import { inSpan } from './tracing.ts';

type HeaderMap = Record<string, string | string[] | undefined>;

/** The approval queue of a tenant's users (approvers). */
@Controller('v1/approvals')
@UseGuards(ApiKeyGuard)
export class ApprovalsController {
  constructor(
    @Inject(GatewayBus) private readonly bus: GatewayBus,
    @Inject(Views) private readonly views: Views,
  ) {}

  /** Actions of the caller's tenant awaiting approval, with tool, agent, exact (redacted) arguments and the policy asking. */
  @Get()
  list(@Caller() caller: Principal, @Query() query: Record<string, unknown>): { approvals: ActionJson[] } {
    const user = requireRole(caller, 'approver');
    parseApprovalStatus(query);
    return { approvals: this.bus.model.awaitingApproval(user.tenant).map((action) => this.views.present(action)) };
  }

  /**
   * Approves or denies an action awaiting approval: ApprovalSubmitted with the approver's id and
   * role from the directory. Whether it counts is the PDP's call (ApprovalRecorded, shown in
   * GET /v1/actions/{action_id}).
   */
  @Post(':action_id')
  @HttpCode(202)
  async decide(
    @Caller() caller: Principal,
    @Param('action_id') actionId: string,
    @Body() body: unknown,
    @Headers() headers: HeaderMap,
  ): Promise<{ action_id: string; status: 'submitted'; approver_id: string; verdict: string }> {
    const user = requireRole(caller, 'approver');
    const request = parseApproval(body);
    const action = await this.views.action(caller, actionId);
    if (action.status !== 'awaiting_approval') {
      throw new WritError('ACTION_NOT_AWAITING_APPROVAL', `action ${actionId} is ${action.status}, not awaiting approval`, {
        field: 'action_id',
        rule: 'must be awaiting approval',
      });
    }
    // A shadow run's action only says it would await an approval; nobody approves it.
    if (action.run_mode === 'shadow') {
      throw new WritError('ACTION_NOT_AWAITING_APPROVAL', `action ${actionId} belongs to a shadow run: it never executes and needs no approval`, {
        field: 'action_id',
        rule: 'must be an action of a live run',
      });
    }
    const attributes = { [WRIT_ATTR.tenantId]: action.tenant_id, [WRIT_ATTR.runId]: action.run_id, [WRIT_ATTR.actionId]: action.action_id };
    return inSpan('gateway.approve', headers, attributes, async (_span, trace) => {
      const event = approvalSubmittedEvent({
        action,
        approverId: user.id,
        approverRole: user.role,
        request,
        stamp: this.bus.stamp(trace),
      });
      await this.bus.emit('ApprovalSubmitted', event);
      return { action_id: action.action_id, status: 'submitted', approver_id: user.id, verdict: request.verdict };
    });
  }
}
