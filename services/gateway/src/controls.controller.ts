import { Body, Controller, Headers, HttpCode, Inject, Param, Put, UseGuards } from '@nestjs/common';
import type { Directory, Principal } from '@writ/directory';
import { controlChangedEvent, notFound, parseSwitch, requireRole } from '@writ/gateway-core';
import type { ControlTarget } from '@writ/gateway-core';
import { WRIT_ATTR } from '@writ/telemetry';
import type { ToolRegistry } from '@writ/tools';
import { DIRECTORY, TOOL_REGISTRY } from './config.ts';
import { GatewayBus } from './gateway-bus.ts';
import { ApiKeyGuard, Caller } from './http.ts';
import { inSpan } from './tracing.ts';

type HeaderMap = Record<string, string | string[] | undefined>;

interface ControlAnswer {
  readonly control_key: string;
  readonly kind: string;
  readonly target: string;
  readonly enabled: boolean;
  readonly reason: string;
  readonly set_by: string;
}

/** Kill switches and safe mode: operators and admins only; ControlChanged on the compacted controls topic. */
@Controller('v1/controls')
@UseGuards(ApiKeyGuard)
export class ControlsController {
  constructor(
    @Inject(GatewayBus) private readonly bus: GatewayBus,
    @Inject(DIRECTORY) private readonly directory: Directory,
    @Inject(TOOL_REGISTRY) private readonly tools: ToolRegistry,
  ) {}

  @Put('tools/:tool/kill-switch')
  @HttpCode(202)
  tool(@Caller() caller: Principal, @Param('tool') tool: string, @Body() body: unknown, @Headers() headers: HeaderMap): Promise<ControlAnswer> {
    const operator = requireRole(caller, 'operator');
    const request = parseSwitch(body);
    if (this.tools.get(tool) === undefined) throw notFound('tool', tool);
    return this.#change(operator.tenant, operator.id, { kind: 'tool_kill_switch', tool }, request, headers);
  }

  @Put('agents/:agent/kill-switch')
  @HttpCode(202)
  agent(@Caller() caller: Principal, @Param('agent') agentId: string, @Body() body: unknown, @Headers() headers: HeaderMap): Promise<ControlAnswer> {
    const operator = requireRole(caller, 'operator');
    const request = parseSwitch(body);
    if (this.directory.agent(agentId)?.tenant !== operator.tenant) throw notFound('agent', agentId);
    return this.#change(operator.tenant, operator.id, { kind: 'agent_kill_switch', agent: agentId }, request, headers);
  }

  @Put('safe-mode')
  @HttpCode(202)
  safeMode(@Caller() caller: Principal, @Body() body: unknown, @Headers() headers: HeaderMap): Promise<ControlAnswer> {
    const operator = requireRole(caller, 'operator');
    const request = parseSwitch(body);
    return this.#change(operator.tenant, operator.id, { kind: 'safe_mode' }, request, headers);
  }

  #change(tenant: string, setBy: string, target: ControlTarget, request: { enabled: boolean; reason: string }, headers: HeaderMap): Promise<ControlAnswer> {
    return inSpan('gateway.control', headers, { [WRIT_ATTR.tenantId]: tenant }, async (span, trace) => {
      const event = controlChangedEvent({ tenant, target, setBy, request, stamp: { producer: this.bus.producerName, trace } });
      span.setAttributes({ 'writ.control.key': event.control_key, 'writ.control.enabled': event.enabled });
      await this.bus.emit('ControlChanged', event);
      return { control_key: event.control_key, kind: event.kind, target: event.target, enabled: event.enabled, reason: event.reason, set_by: event.set_by };
    });
  }
}
