import { Body, Controller, HttpCode, Inject, Post, UseFilters, UseGuards } from '@nestjs/common';
import { mayActIn } from '@writ/directory';
import type { Principal } from '@writ/directory';
import { WritError } from '@writ/errors';
import type { Decision, DecisionRequest } from '@writ/policy-engine';
import { BearerGuard, Caller, DoorErrorFilter, Requires } from '@writ/runtime';
import { PDP_SETUP } from './pdp.engine.ts';
import type { PdpSetup } from './setup.ts';

/**
 * `POST /v1/decide`: the decision alone (allow / deny / approval_required with the determining
 * policies and the approval asked for), for any gateway that wants to ask the PDP directly. It
 * issues no warrant and records nothing: only an admitted action's decision on Kafka does.
 * Callers: a service principal, or an admin of the request's tenant (another tenant is a 404,
 * decided for no one).
 */
@Controller('v1')
@UseGuards(BearerGuard)
@UseFilters(new DoorErrorFilter())
export class DecideController {
  constructor(@Inject(PDP_SETUP) private readonly setup: PdpSetup) {}

  @Post('decide')
  @HttpCode(200)
  @Requires('admin', 'service')
  decide(@Caller() caller: Principal, @Body() body: unknown): Decision {
    const tenant = typeof body === 'object' && body !== null ? (body as { tenant?: unknown }).tenant : undefined;
    if (typeof tenant !== 'string' || tenant === '') {
      throw new WritError('POLICY_REQUEST_INVALID', 'tenant is required', { field: 'tenant', rule: 'a non-empty string' });
    }
    if (!mayActIn(caller, tenant)) throw new WritError('NOT_FOUND', `no tenant ${tenant}`, { field: 'tenant', rule: "the caller's own tenant" });
    return this.setup.decisionPoint.decide(body as DecisionRequest);
  }
}
