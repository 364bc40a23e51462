import { Body, Controller, Get, Headers, HttpCode, Inject, Param, Post, UseGuards } from '@nestjs/common';
import { TenantKeyDir } from '@writ/crypto';
import type { Principal } from '@writ/directory';
import { checkRepeatedProposal, parseOpenRun, parsePropose, presentRun, proposalEvent, requireAgent, runStartedEvent } from '@writ/gateway-core';
import type { RunJson } from '@writ/gateway-core';
import { SERVICE_CONFIG } from '@writ/runtime';
import { hasSensitiveFields } from '@writ/tools';
import type { ToolRegistry } from '@writ/tools';
import { WRIT_ATTR } from '@writ/telemetry';
import { TOOL_REGISTRY } from './config.ts';
import type { GatewayConfig } from './config.ts';
import { GatewayBus } from './gateway-bus.ts';
import { ApiKeyGuard, Caller } from './http.ts';
import { Views } from './presenter.ts';
import { inSpan } from './tracing.ts';

type HeaderMap = Record<string, string | string[] | undefined>;

/** Runs and proposals: the agent's side of the API. */
@Controller('v1/runs')
@UseGuards(ApiKeyGuard)
export class RunsController {
  readonly #inFlight = new Map<string, Promise<string>>();
  readonly #tenantKeys: TenantKeyDir;

  constructor(
    @Inject(GatewayBus) private readonly bus: GatewayBus,
    @Inject(Views) private readonly views: Views,
    @Inject(TOOL_REGISTRY) private readonly tools: ToolRegistry,
    @Inject(SERVICE_CONFIG) config: GatewayConfig,
  ) {
    this.#tenantKeys = new TenantKeyDir(config.WRIT_TENANT_KEYS_DIR);
  }

  /** Opens a run for the calling agent: RunStarted. */
  @Post()
  @HttpCode(201)
  async open(@Caller() caller: Principal, @Body() body: unknown, @Headers() headers: HeaderMap): Promise<{ run_id: string }> {
    const agent = requireAgent(caller);
    const request = parseOpenRun(body);
    return inSpan('gateway.open_run', headers, { [WRIT_ATTR.tenantId]: agent.tenant, [WRIT_ATTR.agentId]: agent.id }, async (span, trace) => {
      const event = runStartedEvent({ tenant: agent.tenant, agentId: agent.id, request, stamp: this.bus.stamp(trace) });
      span.setAttribute(WRIT_ATTR.runId, event.meta.run_id);
      await this.bus.emit('RunStarted', event);
      return { run_id: event.meta.run_id };
    });
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
    const agent = requireAgent(caller);
    const request = parsePropose(body);
    const run = await this.views.run(caller, runId);
    const attributes = { [WRIT_ATTR.tenantId]: agent.tenant, [WRIT_ATTR.agentId]: agent.id, [WRIT_ATTR.runId]: run.run_id, [WRIT_ATTR.tool]: request.tool };
    return inSpan('gateway.propose', headers, attributes, async (span, trace) => {
      // The tenant's data key is fetched only for tools that declare sensitive fields.
      const tool = this.tools.get(request.tool, request.tool_version ?? undefined);
      const sealer = tool !== undefined && hasSensitiveFields(tool) ? await this.#tenantKeys.getOrCreate(agent.tenant) : undefined;
      const event = proposalEvent({
        sealer,
        tools: this.tools,
        tenant: agent.tenant,
        runId: run.run_id,
        runMode: run.mode,
        agentId: agent.id,
        request,
        stamp: this.bus.stamp(trace),
      });
      const actionId = event.meta.action_id ?? '';
      span.setAttribute(WRIT_ATTR.actionId, actionId);
      const pending = this.#inFlight.get(actionId);
      if (pending !== undefined) await pending.catch(() => undefined);
      const known = this.bus.model.action(actionId);
      if (known !== undefined && known.proposed_at !== null) {
        checkRepeatedProposal(known, event);
        span.setAttribute('writ.gateway.repeated', true);
        return { action_id: actionId, status: known.status };
      }
      const sending = this.bus.emit('ActionProposed', event).then(() => actionId);
      this.#inFlight.set(actionId, sending);
      try {
        await sending;
      } finally {
        this.#inFlight.delete(actionId);
      }
      return { action_id: actionId, status: this.bus.model.action(actionId)?.status ?? 'proposed' };
    });
  }
}
