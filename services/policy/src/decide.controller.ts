import { BadRequestException, Body, Controller, HttpCode, Inject, Post } from '@nestjs/common';
import { isWritError } from '@writ/errors';
import type { Decision, DecisionRequest } from '@writ/policy-engine';
import { PDP_SETUP } from './pdp.engine.ts';
import type { PdpSetup } from './setup.ts';

/**
 * `POST /v1/decide`: the decision alone (allow / deny / approval_required with the determining
 * policies and the approval asked for), for any gateway that wants to ask the PDP directly. It
 * issues no warrant and records nothing: only an admitted action's decision on Kafka does.
 */
@Controller('v1')
export class DecideController {
  constructor(@Inject(PDP_SETUP) private readonly setup: PdpSetup) {}

  @Post('decide')
  @HttpCode(200)
  decide(@Body() body: unknown): Decision {
    try {
      return this.setup.decisionPoint.decide(body as DecisionRequest);
    } catch (error) {
      if (isWritError(error, 'POLICY_REQUEST_INVALID')) {
        throw new BadRequestException({ code: error.code, message: error.message, field: error.field, rule: error.rule });
      }
      throw error;
    }
  }
}
