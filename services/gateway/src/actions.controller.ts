import { Controller, Get, Inject, Param, Query, Res, UseGuards } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import type { Principal } from '@writ/directory';
import { parseLongPollTimeout } from '@writ/gateway-core';
import type { ActionJson } from '@writ/gateway-core';
import { AgentDoor } from './agent-door.ts';
import { ApiKeyGuard, Caller } from './http.ts';
import { Views } from './presenter.ts';

/** An action's state, and the long-poll for its outcome. */
@Controller('v1/actions')
@UseGuards(ApiKeyGuard)
export class ActionsController {
  constructor(
    @Inject(AgentDoor) private readonly door: AgentDoor,
    @Inject(Views) private readonly views: Views,
  ) {}

  @Get(':action_id')
  async get(@Caller() caller: Principal, @Param('action_id') actionId: string): Promise<ActionJson> {
    return this.views.present(await this.views.action(caller, actionId));
  }

  /**
   * Waits until the action is terminal (its ActionCompleted arrived) or `timeout_ms` (0-30000,
   * default 10000) passes, then answers its state; a pending status at the timeout means "ask again".
   */
  @Get(':action_id/outcome')
  async outcome(
    @Caller() caller: Principal,
    @Param('action_id') actionId: string,
    @Query() query: Record<string, unknown>,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<ActionJson> {
    const timeoutMs = parseLongPollTimeout(query);
    const gone = new AbortController();
    const onClose = (): void => {
      if (!reply.raw.writableFinished) gone.abort();
    };
    reply.raw.once('close', onClose);
    try {
      return this.views.present(await this.door.awaitOutcome(caller, actionId, timeoutMs, gone.signal));
    } finally {
      reply.raw.off('close', onClose);
    }
  }
}
