import { Inject, Injectable } from '@nestjs/common';
import type { Principal } from '@writ/directory';
import { maySeeAction, maySeeRun, notFound, presentAction } from '@writ/gateway-core';
import type { ActionJson, ActionState, RunState } from '@writ/gateway-core';
import { redactArguments } from '@writ/tools';
import type { ToolRegistry } from '@writ/tools';
import { TOOL_REGISTRY } from './config.ts';
import { GatewayBus } from './gateway-bus.ts';

/**
 * Finds runs and actions for a caller (404 for what does not exist or is not theirs: another
 * tenant's ids leak nothing) and shows actions with their sensitive arguments redacted.
 */
@Injectable()
export class Views {
  constructor(
    @Inject(GatewayBus) private readonly bus: GatewayBus,
    @Inject(TOOL_REGISTRY) private readonly tools: ToolRegistry,
  ) {}

  async run(caller: Principal, runId: string, signal?: AbortSignal): Promise<RunState> {
    const run = await this.bus.lookup(runId, () => this.bus.model.run(runId), signal);
    if (run !== undefined && maySeeRun(caller, run)) return run;
    if (run !== undefined) await this.bus.asSlowAsUnknown(signal);
    throw notFound('run', runId);
  }

  async action(caller: Principal, actionId: string, signal?: AbortSignal): Promise<ActionState> {
    const action = await this.bus.lookup(actionId, () => this.bus.model.action(actionId), signal);
    if (action !== undefined && maySeeAction(caller, action)) return action;
    if (action !== undefined) await this.bus.asSlowAsUnknown(signal);
    throw notFound('action', actionId);
  }

  present(action: ActionState): ActionJson {
    const definition = action.tool === null ? undefined : (this.tools.get(action.tool, action.tool_version ?? undefined) ?? this.tools.get(action.tool));
    const previous = action.status === 'awaiting_approval' ? this.bus.model.previousSimilar(action) : undefined;
    return presentAction(
      action,
      (tool, version, args) => {
        const known = this.tools.get(tool, version ?? undefined) ?? this.tools.get(tool);
        // A tool no longer registered: its sensitive fields are unknown, so nothing is shown.
        return known === undefined ? undefined : redactArguments(known, args);
      },
      {
        ...(definition === undefined ? {} : { tool: { effect: definition.effect, risk: definition.risk } }),
        ...(previous === undefined ? {} : { previous }),
      },
    );
  }
}
