import { Body, Controller, Get, Headers, HttpCode, Inject, Param, Put, UseGuards } from '@nestjs/common';
import type { Directory, Principal } from '@writ/directory';
import { PLATFORM_TENANT } from '@writ/directory';
import {
  PLATFORM_SCOPE,
  controlChangedEvent,
  notFound,
  parseSwitch,
  presentControl,
  requireControlsReader,
  requirePlatformAdmin,
  requireTenantOperator,
} from '@writ/gateway-core';
import type { ControlJson, ControlTarget } from '@writ/gateway-core';
import { WRIT_ATTR } from '@writ/telemetry';
import type { ToolRegistry } from '@writ/tools';
import { DIRECTORY, TOOL_REGISTRY } from './config.ts';
import { GatewayBus } from './gateway-bus.ts';
import { ApiKeyGuard, Caller } from './http.ts';
import { inSpan } from './tracing.ts';

type HeaderMap = Record<string, string | string[] | undefined>;
type Switch = ControlTarget['control'];

/**
 * Kill switches and safe mode (ControlChanged on the compacted controls topic). A tenant's
 * operators and admins change their tenant's controls only (a tool's switch is always the
 * caller's tenant's; another tenant's agent is a 404); platform admins change the platform-wide
 * ones under /v1/controls/platform. Operators, auditors and admins list what reaches their tenant.
 */
@Controller('v1/controls')
@UseGuards(ApiKeyGuard)
export class ControlsController {
  constructor(
    @Inject(GatewayBus) private readonly bus: GatewayBus,
    @Inject(DIRECTORY) private readonly directory: Directory,
    @Inject(TOOL_REGISTRY) private readonly tools: ToolRegistry,
  ) {}

  /** The controls switched on that reach the caller's tenant: its own and the platform-wide ones (a platform admin sees all). */
  @Get()
  list(@Caller() caller: Principal): { controls: ControlJson[] } {
    const reader = requireControlsReader(caller);
    const active = reader.tenant === PLATFORM_TENANT ? this.bus.controls.active() : this.bus.controls.activeFor(reader.tenant);
    return { controls: active.map(presentControl).sort((a, b) => a.control_key.localeCompare(b.control_key)) };
  }

  /** The tenant's switch: every tool of the caller's tenant stops. */
  @Put('kill-switch')
  @HttpCode(202)
  tenantKillSwitch(@Caller() caller: Principal, @Body() body: unknown, @Headers() headers: HeaderMap): Promise<ControlJson> {
    const operator = requireTenantOperator(caller);
    return this.#change(operator.tenant, operator.id, { control: 'kill_switch', subject: { kind: 'all' } }, body, headers);
  }

  /** The tenant's safe mode: only reads run. */
  @Put('safe-mode')
  @HttpCode(202)
  tenantSafeMode(@Caller() caller: Principal, @Body() body: unknown, @Headers() headers: HeaderMap): Promise<ControlJson> {
    const operator = requireTenantOperator(caller);
    return this.#change(operator.tenant, operator.id, { control: 'safe_mode', subject: { kind: 'all' } }, body, headers);
  }

  @Put('tools/:tool/kill-switch')
  @HttpCode(202)
  toolKillSwitch(@Caller() caller: Principal, @Param('tool') tool: string, @Body() body: unknown, @Headers() headers: HeaderMap): Promise<ControlJson> {
    const operator = requireTenantOperator(caller);
    return this.#change(operator.tenant, operator.id, this.#tool('kill_switch', tool), body, headers);
  }

  @Put('tools/:tool/safe-mode')
  @HttpCode(202)
  toolSafeMode(@Caller() caller: Principal, @Param('tool') tool: string, @Body() body: unknown, @Headers() headers: HeaderMap): Promise<ControlJson> {
    const operator = requireTenantOperator(caller);
    return this.#change(operator.tenant, operator.id, this.#tool('safe_mode', tool), body, headers);
  }

  @Put('agents/:agent/kill-switch')
  @HttpCode(202)
  agentKillSwitch(@Caller() caller: Principal, @Param('agent') agent: string, @Body() body: unknown, @Headers() headers: HeaderMap): Promise<ControlJson> {
    const operator = requireTenantOperator(caller);
    return this.#change(operator.tenant, operator.id, this.#agent('kill_switch', agent, operator.tenant), body, headers);
  }

  @Put('agents/:agent/safe-mode')
  @HttpCode(202)
  agentSafeMode(@Caller() caller: Principal, @Param('agent') agent: string, @Body() body: unknown, @Headers() headers: HeaderMap): Promise<ControlJson> {
    const operator = requireTenantOperator(caller);
    return this.#change(operator.tenant, operator.id, this.#agent('safe_mode', agent, operator.tenant), body, headers);
  }

  /** Platform-wide: every tool of every tenant stops. Platform admins only. */
  @Put('platform/kill-switch')
  @HttpCode(202)
  platformKillSwitch(@Caller() caller: Principal, @Body() body: unknown, @Headers() headers: HeaderMap): Promise<ControlJson> {
    const admin = requirePlatformAdmin(caller);
    return this.#change(PLATFORM_SCOPE, admin.id, { control: 'kill_switch', subject: { kind: 'all' } }, body, headers);
  }

  /** Platform-wide safe mode: only reads run, in every tenant. Platform admins only. */
  @Put('platform/safe-mode')
  @HttpCode(202)
  platformSafeMode(@Caller() caller: Principal, @Body() body: unknown, @Headers() headers: HeaderMap): Promise<ControlJson> {
    const admin = requirePlatformAdmin(caller);
    return this.#change(PLATFORM_SCOPE, admin.id, { control: 'safe_mode', subject: { kind: 'all' } }, body, headers);
  }

  /** One tool stopped in every tenant. Platform admins only. */
  @Put('platform/tools/:tool/kill-switch')
  @HttpCode(202)
  platformToolKillSwitch(@Caller() caller: Principal, @Param('tool') tool: string, @Body() body: unknown, @Headers() headers: HeaderMap): Promise<ControlJson> {
    const admin = requirePlatformAdmin(caller);
    return this.#change(PLATFORM_SCOPE, admin.id, this.#tool('kill_switch', tool), body, headers);
  }

  /** One tool's side effects stopped in every tenant. Platform admins only. */
  @Put('platform/tools/:tool/safe-mode')
  @HttpCode(202)
  platformToolSafeMode(@Caller() caller: Principal, @Param('tool') tool: string, @Body() body: unknown, @Headers() headers: HeaderMap): Promise<ControlJson> {
    const admin = requirePlatformAdmin(caller);
    return this.#change(PLATFORM_SCOPE, admin.id, this.#tool('safe_mode', tool), body, headers);
  }

  #tool(control: Switch, tool: string): ControlTarget {
    if (this.tools.get(tool) === undefined) throw notFound('tool', tool);
    return { control, subject: { kind: 'tool', tool } };
  }

  /** An agent of the caller's tenant; another tenant's agent is answered like one that does not exist. */
  #agent(control: Switch, agent: string, tenant: string): ControlTarget {
    if (this.directory.agent(agent)?.tenant !== tenant) throw notFound('agent', agent);
    return { control, subject: { kind: 'agent', agent } };
  }

  #change(scope: string, setBy: string, target: ControlTarget, body: unknown, headers: HeaderMap): Promise<ControlJson> {
    const request = parseSwitch(body);
    return inSpan('gateway.control', headers, { [WRIT_ATTR.tenantId]: scope }, async (span, trace) => {
      const event = controlChangedEvent({ scope, target, setBy, request, stamp: this.bus.stamp(trace) });
      span.setAttributes({ 'writ.control.key': event.control_key, 'writ.control.enabled': event.enabled });
      await this.bus.emit('ControlChanged', event);
      return presentControl(event);
    });
  }
}
