import { Inject, Injectable } from '@nestjs/common';
import { TenantKeyDir } from '@writ/crypto';
import type { Principal } from '@writ/directory';
import { checkRepeatedProposal, isTerminalStatus, parseOpenRun, parsePropose, proposalEvent, requireAgent, runStartedEvent } from '@writ/gateway-core';
import type { ActionState } from '@writ/gateway-core';
import { SERVICE_CONFIG } from '@writ/runtime';
import { hasSensitiveFields } from '@writ/tools';
import type { ToolRegistry } from '@writ/tools';
import { WRIT_ATTR } from '@writ/telemetry';
import { TOOL_REGISTRY } from './config.ts';
import type { GatewayConfig } from './config.ts';
import { GatewayBus } from './gateway-bus.ts';
import { Views } from './presenter.ts';
import { inSpan } from './tracing.ts';

/** Request headers as a door sees them; only `traceparent` and `tracestate` are read here. */
export type TraceHeaders = Readonly<Record<string, string | string[] | undefined>>;

/**
 * The agent's commands, whichever door they come through (the HTTP API, the MCP gateway): open a
 * run, propose an action (validated against the tool's contract before anything is emitted, then
 * ActionProposed; the same idempotency key is the same action, emitted once) and wait for an
 * action's outcome. One path, so no door can go around the contract, policy, budget or ledger.
 */
@Injectable()
export class AgentDoor {
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

  /**
   * Opens a run for the calling agent (`body` as for POST /v1/runs): RunStarted. `options.runId`: the
   * run's id when the door names it (the Kafka door: one run per idempotency key), else a new one.
   */
  async openRun(caller: Principal, body: unknown, headers: TraceHeaders, options: { readonly runId?: string } = {}): Promise<{ run_id: string }> {
    const agent = requireAgent(caller);
    const request = parseOpenRun(body);
    return inSpan('gateway.open_run', headers, { [WRIT_ATTR.tenantId]: agent.tenant, [WRIT_ATTR.agentId]: agent.id }, async (span, trace) => {
      const stamp = this.bus.stamp(trace);
      const { runId } = options;
      const event = runStartedEvent({
        tenant: agent.tenant,
        agentId: agent.id,
        request,
        stamp: runId === undefined ? stamp : { ...stamp, newRunId: () => runId },
      });
      span.setAttribute(WRIT_ATTR.runId, event.meta.run_id);
      await this.bus.emit('RunStarted', event);
      return { run_id: event.meta.run_id };
    });
  }

  /** Proposes an action in a run of the calling agent (`body` as for POST /v1/runs/{run}/actions). */
  async propose(caller: Principal, runId: string, body: unknown, headers: TraceHeaders): Promise<{ action_id: string; status: string }> {
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

  /**
   * The caller's action once terminal (its ActionCompleted arrived), or as it stands when
   * `timeoutMs` passes or `signal` aborts (a pending status then means "ask again").
   */
  async awaitOutcome(caller: Principal, actionId: string, timeoutMs: number, signal: AbortSignal): Promise<ActionState> {
    const deadline = Date.now() + timeoutMs;
    let action = await this.views.action(caller, actionId, signal);
    while (!isTerminalStatus(action.status) && Date.now() < deadline && !signal.aborted) {
      await this.bus.outcomes.wait(actionId, deadline - Date.now(), signal);
      action = this.bus.model.action(actionId) ?? action;
    }
    return action;
  }
}
