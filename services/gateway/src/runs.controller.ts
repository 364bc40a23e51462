import { Body, Controller, Get, Headers, HttpCode, Inject, Param, Post, UseGuards } from '@nestjs/common';
import type { Principal } from '@writ/directory';
import { presentRun } from '@writ/gateway-core';
import type { RunJson } from '@writ/gateway-core';
import { AgentDoor } from './agent-door.ts';
import { ApiKeyGuard, Caller } from './http.ts';
import { Views } from './presenter.ts';

type HeaderMap = Record<string, string | string[] | undefined>;

/** Runs and proposals: the agent's side of the API (the commands are AgentDoor's, shared with the MCP gateway). */
@Controller('v1/runs')
@UseGuards(ApiKeyGuard)
export class RunsController {
  constructor(
    @Inject(AgentDoor) private readonly door: AgentDoor,
    @Inject(Views) private readonly views: Views,
  ) {}

  /** Opens a run for the calling agent: RunStarted. */
  @Post()
  @HttpCode(201)
  async open(@Caller() caller: Principal, @Body() body: unknown, @Headers() headers: HeaderMap): Promise<{ run_id: string }> {
    return this.door.openRun(caller, body, headers);
  }

  /** A run of the calling agent (or, for a user, of their tenant). */
  @Get(':run_id')
  async get(@Caller() caller: Principal, @Param('run_id') runId: string): Promise<RunJson> {
    return presentRun(await this.views.run(caller, runId));
  }

  /**
   * Proposes an action in a run of the calling agent: validated against the tool's schema before
   * anything is emitted, then ActionProposed. The same idempotency key gives the same action and
   * is emitted once.
   */
  @Post(':run_id/actions')
  @HttpCode(202)
  async propose(
    @Caller() caller: Principal,
    @Param('run_id') runId: string,
    @Body() body: unknown,
    @Headers() headers: HeaderMap,
  ): Promise<{ action_id: string; status: string }> {
    return this.door.propose(caller, runId, body, headers);
  }
}
