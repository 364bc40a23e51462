import { Inject, Injectable, Logger, Module } from '@nestjs/common';
import type { OnApplicationShutdown } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { watchDirectory } from '@writ/directory';
import type { LiveDirectory } from '@writ/directory';
import { SERVICE_CONFIG, packageVersion } from '@writ/runtime';
import { loadToolRegistry } from '@writ/tools';
import { ActionsController } from './actions.controller.ts';
import { AgentDoor } from './agent-door.ts';
import { ApprovalsController } from './approvals.controller.ts';
import { DIRECTORY, GATEWAY_VERSION, TOOL_REGISTRY } from './config.ts';
import type { GatewayConfig } from './config.ts';
import { ConsoleAssetsController, ConsoleController } from './console.controller.ts';
import { ControlsController } from './controls.controller.ts';
import { GatewayBus } from './gateway-bus.ts';
import { KafkaDoor } from './kafka-door/kafka-door.ts';
import { McpController } from './mcp/mcp.controller.ts';
import { ModelProxy } from './models/model-proxy.ts';
import { ModelsController } from './models/models.controller.ts';
import { McpGateway } from './mcp/mcp-gateway.ts';
import { ToolVisibility } from './mcp/tool-visibility.ts';
import { ApiKeyGuard, GatewayExceptionFilter } from './http.ts';
import { OpenApiController } from './openapi.controller.ts';
import { Views } from './presenter.ts';
import { ReconciliationController } from './reconciliation.controller.ts';
import { RunsController } from './runs.controller.ts';
import { AutoSafeMode, SafeModeNotifications } from './safe-mode.ts';

/** The directory follows its file: a key rotated or revoked there is in force within a second, without a restart. */
async function liveDirectory(config: GatewayConfig): Promise<LiveDirectory> {
  const logger = new Logger('Directory');
  return watchDirectory(config.WRIT_DIRECTORY_FILE, {
    onReload: (principals) => logger.log(`directory ${config.WRIT_DIRECTORY_FILE} reloaded: ${principals} principals`),
    onError: (message) => logger.error(message),
  });
}

/** Stops following the directory file when the gateway shuts down. */
@Injectable()
class DirectoryWatch implements OnApplicationShutdown {
  constructor(@Inject(DIRECTORY) private readonly directory: LiveDirectory) {}

  onApplicationShutdown(): void {
    this.directory.close();
  }
}

/** Every controller of the gateway: the OpenAPI test checks each of their routes is documented. */
export const GATEWAY_CONTROLLERS = [
  RunsController,
  ActionsController,
  ApprovalsController,
  ReconciliationController,
  ControlsController,
  ConsoleController,
  OpenApiController,
];

/** The gateway service: HTTP API for agents and approvers; answers waiting agents with outcomes. */
@Module({
  // The console's page and bundle are pages, not API routes: outside the OpenAPI document.
  // The MCP door speaks JSON-RPC, not REST: docs/mcp.md documents it, not the OpenAPI document.
  // The model proxy follows OpenAI's API: docs/model-proxy.md documents it, not the OpenAPI document.
  controllers: [...GATEWAY_CONTROLLERS, ConsoleAssetsController, McpController, ModelsController],
  providers: [
    { provide: GATEWAY_VERSION, useValue: packageVersion(import.meta.url) },
    { provide: DIRECTORY, inject: [SERVICE_CONFIG], useFactory: liveDirectory },
    DirectoryWatch,
    { provide: TOOL_REGISTRY, inject: [SERVICE_CONFIG], useFactory: (config: GatewayConfig) => loadToolRegistry(config.WRIT_TOOLS_DIR) },
    GatewayBus,
    AutoSafeMode,
    SafeModeNotifications,
    Views,
    AgentDoor,
    ToolVisibility,
    McpGateway,
    ModelProxy,
    KafkaDoor,
    ApiKeyGuard,
    { provide: APP_FILTER, useClass: GatewayExceptionFilter },
  ],
})
export class GatewayModule {}
