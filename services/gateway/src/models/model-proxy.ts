// Writ's OpenAI-compatible model proxy (docs/model-proxy.md). A chat completion is a governed
// action on the same path as any tool call: the model is a metered tool of the registry, the
// request becomes a proposal whose arguments are the model, the request's digest and sizes (never
// the prompt), and the policy, the budget and the executor decide and run it. The request body
// itself goes to the executor over its model door (a connection the gateway holds open), and the
// executor answers there with the provider's bytes, relayed to the client as they come. A
// completion ends once the executor's outcome of its action is on the log (the executor says so at
// the end of the relay; the cost settles from it at the tokens used); a budget refusal of a model
// with a cheaper `degrade_to` routes the call to that model.
import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import type { Span } from '@opentelemetry/api';
import type { OnModuleInit } from '@nestjs/common';
import type { ServerResponse } from 'node:http';
import type { Principal } from '@writ/directory';
import { WritError } from '@writ/errors';
import { isTerminalStatus, requireAgent } from '@writ/gateway-core';
import type { ActionState } from '@writ/gateway-core';
import {
  CallSlots,
  PipelineGate,
  RelayReader,
  loadModelCatalogue,
  modelToolName,
  openAiError,
  parseChatRequest,
  proposalArguments,
  providerError,
} from '@writ/model-proxy';
import type { ChatRequest, ModelCatalogue, ModelEntry, OpenAiError, RelayHead, SlotRefusal } from '@writ/model-proxy';
import { SERVICE_CONFIG } from '@writ/runtime';
import { WRIT_ATTR } from '@writ/telemetry';
import type { ToolRegistry } from '@writ/tools';
import { TOOL_REGISTRY } from '../config.ts';
import type { GatewayConfig } from '../config.ts';
import { AgentDoor } from '../agent-door.ts';
import type { TraceHeaders } from '../agent-door.ts';
import { GatewayBus } from '../gateway-bus.ts';
import { inSpan } from '../tracing.ts';
import { ToolVisibility } from '../mcp/tool-visibility.ts';

/** How long a finished call whose executor did not say its outcome is on the log waits for the action's completion. */
const COMPLETION_WAIT_MS = 30_000;

/** A call's action, as far as the proxy needs it. */
type Ending = { readonly kind: 'ended'; readonly action: ActionState } | ({ readonly kind: 'executing' } & RelayHead);

function header(headers: TraceHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** The OpenAI error of an action that ended without running (or failed). */
function endingError(action: ActionState, model: ModelEntry): OpenAiError {
  const id = action.action_id;
  const policies = action.determining_policies;
  switch (action.status) {
    case 'denied':
      return openAiError(
        403,
        'POLICY_DENIED',
        `${model.id} is denied to this agent by ${policies.length === 0 ? 'the default deny (no policy permits it)' : `policy ${policies.join(', ')}`}`,
        {
          action_id: id,
          policies,
        },
      );
    case 'refused':
      return openAiError(429, 'BUDGET_REFUSED', `the budget refused ${model.id}: ${action.reason ?? action.reason_code ?? 'over budget'}`, {
        action_id: id,
        type: 'insufficient_quota',
      });
    case 'rejected':
      return openAiError(
        action.rejection?.field == null ? 409 : 400,
        'ACTION_REJECTED',
        `the call was rejected: ${action.reason ?? action.reason_code ?? 'rejected'}`,
        {
          action_id: id,
          ...(action.rejection?.field == null ? {} : { field: action.rejection.field }),
        },
      );
    case 'awaiting_approval':
      return openAiError(
        403,
        'APPROVAL_REQUIRED',
        `a call of ${model.id} needs a person's approval (policy ${policies.join(', ') || 'none'}) and none came while the proxy held the request; it is no longer held, so an approval given now fails the action: call again`,
        { action_id: id, policies },
      );
    default:
      return openAiError(502, 'ACTION_FAILED', `the call ended ${action.status}: ${action.reason ?? action.reason_code ?? 'no reason given'}`, {
        action_id: id,
      });
  }
}

@Injectable()
export class ModelProxy implements OnModuleInit {
  readonly catalogue: ModelCatalogue | undefined;
  readonly #watchers = new Map<string, (action: ActionState) => void>();
  /** Model calls this gateway holds now (WRIT_MODEL_MAX_IN_FLIGHT, WRIT_MODEL_MAX_IN_FLIGHT_PER_AGENT). */
  readonly #slots: CallSlots;
  /** Of them, those on their way through the pipeline, at most as many as it takes in time (WRIT_MODEL_PIPELINE_TARGET_MS). */
  readonly #gate: PipelineGate;

  constructor(
    @Inject(AgentDoor) private readonly door: AgentDoor,
    @Inject(GatewayBus) private readonly bus: GatewayBus,
    @Inject(TOOL_REGISTRY) private readonly tools: ToolRegistry,
    @Inject(ToolVisibility) private readonly visibility: ToolVisibility,
    @Inject(SERVICE_CONFIG) private readonly config: GatewayConfig,
  ) {
    this.catalogue = config.WRIT_MODELS_FILE === undefined ? undefined : loadModelCatalogue(config.WRIT_MODELS_FILE);
    this.#gate = new PipelineGate({
      max: config.WRIT_MODEL_MAX_IN_FLIGHT,
      min: Math.min(PIPELINE_MIN_CALLS, config.WRIT_MODEL_MAX_IN_FLIGHT),
      targetMs: config.WRIT_MODEL_PIPELINE_TARGET_MS,
      decreaseEveryMs: config.WRIT_MODEL_PIPELINE_TARGET_MS,
    });
    this.#slots = new CallSlots(config.WRIT_MODEL_MAX_IN_FLIGHT, config.WRIT_MODEL_MAX_IN_FLIGHT_PER_AGENT, this.#gate);
    for (const model of this.catalogue?.models.values() ?? []) {
      if (this.tools.get(modelToolName(model.id)) === undefined) {
        throw new WritError(
          'CONFIG_INVALID',
          `WRIT_MODELS_FILE: model ${model.id} has no tool ${modelToolName(model.id)} in WRIT_TOOLS_DIR (import the models first: docs/model-proxy.md)`,
          {
            field: 'WRIT_MODELS_FILE',
            rule: 'every model must be in the tool registry',
          },
        );
      }
    }
  }

  onModuleInit(): void {
    this.bus.observe({
      onControl: () => undefined,
      onChange: (change) => {
        if (change.kind !== 'action') return;
        this.#watchers.get(change.after.action_id)?.(change.after);
      },
    });
  }

  /** The models the agent may call (those no policy denies it outright), as GET /v1/models lists them. */
  async models(caller: Principal): Promise<{ object: 'list'; data: Record<string, unknown>[] }> {
    requireAgent(caller);
    const catalogue = this.#catalogue();
    const tools = [...catalogue.models.values()].flatMap((model) => this.tools.get(modelToolName(model.id)) ?? []);
    const visible = new Set((await this.visibility.visible(caller, tools)).map((tool) => tool.name));
    const data = [...catalogue.models.values()]
      .filter((model) => visible.has(modelToolName(model.id)))
      .map((model) => ({
        id: model.id,
        object: 'model',
        created: 0,
        owned_by: model.provider,
        writ: {
          tool: modelToolName(model.id),
          tier: model.tier,
          currency: model.currency,
          input_micros_per_million: model.input_micros_per_million,
          output_micros_per_million: model.output_micros_per_million,
          max_output_tokens: model.max_output_tokens,
          ...(model.degrade_to === undefined ? {} : { degrade_to: model.degrade_to }),
        },
      }));
    return { object: 'list', data };
  }

  /** Answers one POST /v1/chat/completions on `res` (a completion, a stream, or an OpenAI error). */
  async complete(caller: Principal, body: unknown, headers: TraceHeaders, res: ServerResponse, gone: AbortSignal): Promise<void> {
    const me = requireAgent(caller);
    const catalogue = this.#catalogue();
    const runId = header(headers, 'x-writ-run');
    if (runId === undefined || runId.trim() === '') {
      throw new WritError('REQUEST_INVALID', 'x-writ-run: send the run the call belongs to (POST /v1/runs opens one)', {
        field: 'x-writ-run',
        rule: 'required',
      });
    }
    const first = parseChatRequest(body, catalogue);
    // Shed load before any work: past a limit a call is refused at once, not queued behind the others.
    const agent = `${me.tenant}/${me.id}`;
    const refused = this.#slots.take(agent);
    if (refused !== undefined) {
      res.setHeader('retry-after', '1');
      throw slotsExceeded(refused, this.config.WRIT_MODEL_PIPELINE_TARGET_MS);
    }
    // The gate's place taken with the slot: given back once the call is through the pipeline.
    const pass = new PipelinePass(this.#gate);
    const attributes = { [WRIT_ATTR.tenantId]: me.tenant, [WRIT_ATTR.agentId]: me.id, [WRIT_ATTR.runId]: runId, 'writ.model': first.model.id };
    try {
      // One span for the whole call, parent of its proposal's: where the call's time went (CallPhases).
      await inSpan('gateway.model_call', headers, attributes, async (span, trace) => {
        const phases = new CallPhases(span);
        const inner: TraceHeaders =
          trace === null ? {} : { traceparent: trace.traceparent, ...(trace.tracestate === null ? {} : { tracestate: trace.tracestate }) };
        let request: ChatRequest = first;
        const routedFrom: string[] = [];
        for (;;) {
          const answered = await this.#attempt(caller, runId, request, inner, res, gone, routedFrom, phases, pass);
          if (answered.kind === 'done') return;
          const cheaper = request.model.degrade_to === undefined ? undefined : catalogue.models.get(request.model.degrade_to);
          if (answered.action.status === 'refused' && cheaper !== undefined) {
            routedFrom.push(request.model.id);
            request = parseChatRequest(body, catalogue, cheaper);
            span.setAttribute('writ.model.routed_to', request.model.id);
            continue;
          }
          send(res, endingError(answered.action, request.model));
          return;
        }
      });
    } finally {
      pass.leave(null);
      this.#slots.release(agent);
    }
  }

  #catalogue(): ModelCatalogue {
    const catalogue = this.catalogue;
    if (catalogue === undefined || this.config.WRIT_GATEWAY_EXECUTOR_URL === undefined || this.config.WRIT_MODEL_DOOR_TOKEN === undefined) {
      throw new WritError('MODEL_PROXY_UNAVAILABLE', 'the model proxy is not configured (WRIT_MODELS_FILE, WRIT_GATEWAY_EXECUTOR_URL, WRIT_MODEL_DOOR_TOKEN)', {
        retriable: false,
      });
    }
    return catalogue;
  }

  /** One governed call of one model: answered (done), or ended without running (the caller decides what next). */
  async #attempt(
    caller: Principal,
    runId: string,
    request: ChatRequest,
    headers: TraceHeaders,
    res: ServerResponse,
    gone: AbortSignal,
    routedFrom: readonly string[],
    phases: CallPhases,
    pass: PipelinePass,
  ): Promise<{ kind: 'done' } | { kind: 'ended'; action: ActionState }> {
    const callId = randomUUID();
    const handover = new AbortController();
    const onGone = (): void => handover.abort();
    gone.addEventListener('abort', onGone, { once: true });
    try {
      // The body is parked at the executor before the proposal exists, so its execution finds it.
      const relay = await this.#handOver(callId, request, handover.signal);
      phases.mark('parked');
      const proposed = await this.door.propose(
        caller,
        runId,
        {
          tool: modelToolName(request.model.id),
          arguments: proposalArguments(request, callId),
          reason:
            routedFrom.length === 0
              ? `chat completion with ${request.model.id}`
              : `chat completion routed from ${routedFrom.join(' → ')} to ${request.model.id} (budget)`,
          idempotency_key: `model-call:${callId}`,
        },
        headers,
      );
      const actionId = proposed.action_id;
      phases.mark('proposed');
      const relayed = new RelayReader(relay.getReader());
      const ending = await this.#untilExecutingOrEnded(actionId, relayed, gone, pass);
      const endedAt = phases.mark(ending.kind === 'executing' ? 'answering' : 'ended');
      // Through the pipeline in the time to `answering` (the body parked and the proposal on the log
      // included, as the executor and the gateway slow down too), less the provider's; unless a person's approval was waited for.
      if (ending.kind === 'executing' && ending.providerMs !== null) phases.provider(ending.providerMs);
      const held = this.bus.model.action(actionId)?.approval_requested_at != null;
      pass.leave(ending.kind === 'executing' && !held && ending.providerMs !== null ? endedAt - ending.providerMs : null);
      if (ending.kind === 'ended') {
        if (ending.action.status === 'failed') {
          // Failed at the executor before anything came back (a refusal by its checks): nothing to relay.
          send(res, endingError(ending.action, request.model));
          return { kind: 'done' };
        }
        return ending;
      }
      const modelHeaders = {
        'x-writ-action-id': actionId,
        'x-writ-model': request.model.id,
        ...(routedFrom.length === 0 ? {} : { 'x-writ-routed-from': routedFrom.join(',') }),
      };
      if (ending.status < 200 || ending.status >= 300) {
        const text = await relayed.rest();
        // The provider's error is the answer; it goes out once the call's failure is on the log.
        if (relayed.logged === undefined) await this.door.awaitOutcome(caller, actionId, COMPLETION_WAIT_MS, gone);
        send(res, providerError(ending.status, text, actionId), modelHeaders);
        return { kind: 'done' };
      }
      if (request.stream) {
        res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', ...modelHeaders });
        res.flushHeaders();
        const events = new SseEvents((event) => {
          if (!res.destroyed) res.write(withModel(event, request.model.id));
        });
        await relayed.forEachChunk((bytes) => events.feed(bytes));
        events.end();
        phases.mark('relayed');
        // [DONE] only once the call's outcome is on the log: what the client saw is what is charged.
        const done = await this.#onTheLog(caller, actionId, relayed, gone);
        phases.mark('logged');
        if (done.kind === 'ended') res.write(`data: ${JSON.stringify(endingError(done.action, request.model).body)}\n\n`);
        res.end('data: [DONE]\n\n');
        return { kind: 'done' };
      }
      const text = await relayed.rest();
      phases.mark('relayed');
      const done = await this.#onTheLog(caller, actionId, relayed, gone);
      phases.mark('logged');
      if (done.kind === 'ended') {
        send(res, endingError(done.action, request.model), modelHeaders);
        return { kind: 'done' };
      }
      let answer: unknown;
      try {
        answer = { ...(JSON.parse(text) as Record<string, unknown>), model: request.model.id };
      } catch {
        send(res, openAiError(502, 'PROVIDER_ERROR', 'the model provider answered something that is not JSON', { action_id: actionId }), modelHeaders);
        return { kind: 'done' };
      }
      res.writeHead(200, {
        'content-type': 'application/json; charset=utf-8',
        ...modelHeaders,
        ...(done.cost_micros === null ? {} : { 'x-writ-cost-micros': String(done.cost_micros), 'x-writ-currency': done.currency ?? '' }),
      });
      res.end(JSON.stringify(answer));
      return { kind: 'done' };
    } finally {
      gone.removeEventListener('abort', onGone);
      handover.abort();
    }
  }

  /** Parks the request body at the executor's model door; resolves with the relay once it is parked. */
  async #handOver(callId: string, request: ChatRequest, signal: AbortSignal): Promise<ReadableStream<Uint8Array>> {
    let response: Response;
    try {
      response = await fetch(`${this.config.WRIT_GATEWAY_EXECUTOR_URL ?? ''}/internal/model-calls/${callId}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${this.config.WRIT_MODEL_DOOR_TOKEN ?? ''}`, 'content-type': 'application/json' },
        body: JSON.stringify(request.upstream),
        signal,
      });
    } catch (cause) {
      throw new WritError('MODEL_PROXY_UNAVAILABLE', 'the executor’s model door cannot be reached', { retriable: true, cause });
    }
    if (response.status !== 200 || response.body === null) {
      const text = await response.text().catch(() => '');
      throw new WritError('MODEL_PROXY_UNAVAILABLE', `the executor’s model door answered HTTP ${response.status} ${text.slice(0, 200)}`, { retriable: true });
    }
    return response.body;
  }

  /**
   * Waits until the executor begins answering (the action executes) or the action ends; a call held
   * for a person's approval waits for it, all within WRIT_MODEL_DECISION_WAIT_MS (then, still held,
   * it ends awaiting approval).
   */
  async #untilExecutingOrEnded(actionId: string, frame: RelayReader, gone: AbortSignal, pass: PipelinePass): Promise<Ending> {
    let stopWatching = (): void => undefined;
    const ended = new Promise<Ending>((resolve) => {
      const check = (action: ActionState | undefined): void => {
        if (action === undefined) return;
        // Held for a person: out of the pipeline's count while they decide.
        if (action.status === 'awaiting_approval') pass.leave(null);
        if (isTerminalStatus(action.status) && action.status !== 'completed') resolve({ kind: 'ended', action });
      };
      this.#watchers.set(actionId, check);
      stopWatching = () => this.#watchers.delete(actionId);
      check(this.bus.model.action(actionId));
    });
    const timeout = new Promise<Ending>((resolve, reject) => {
      const timer = setTimeout(() => {
        const action = this.bus.model.action(actionId);
        if (action?.status === 'awaiting_approval') resolve({ kind: 'ended', action });
        else reject(new WritError('MODEL_PROXY_UNAVAILABLE', 'the call was not decided and executed in time', { retriable: true }));
      }, this.config.WRIT_MODEL_DECISION_WAIT_MS);
      gone.addEventListener('abort', () => clearTimeout(timer), { once: true });
      const clear = (): void => clearTimeout(timer);
      void ended.then(clear);
      frame.head.then(clear, clear);
    });
    // Settled after the race at the latest: never an unhandled rejection.
    timeout.catch(() => undefined);
    try {
      return await Promise.race([frame.head.then((head): Ending => ({ kind: 'executing', ...head })), ended, timeout]);
    } finally {
      stopWatching();
    }
  }

  /**
   * The call once its outcome is on the log. The executor says so at the end of its relay, once its
   * ActionExecuted is acknowledged by the broker (cost settled from it by the accountant, the
   * planner's ActionCompleted to follow): answered then, without waiting for the completion. When it
   * did not say (it stopped) or the call failed, the action as the log ends it (its completion).
   */
  async #onTheLog(
    caller: Principal,
    actionId: string,
    relayed: RelayReader,
    gone: AbortSignal,
  ): Promise<{ kind: 'completed'; cost_micros: number | null; currency: string | null } | { kind: 'ended'; action: ActionState }> {
    const logged = relayed.logged;
    if (logged?.outcome === 'executed') return { kind: 'completed', cost_micros: logged.cost_micros, currency: logged.currency };
    const action = await this.door.awaitOutcome(caller, actionId, COMPLETION_WAIT_MS, gone);
    return action.status === 'completed' ? { kind: 'completed', cost_micros: action.cost_micros, currency: action.currency } : { kind: 'ended', action };
  }
}

/** Sends an OpenAI error (once nothing else was sent). */
function send(res: ServerResponse, error: OpenAiError, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  res.writeHead(error.status, { 'content-type': 'application/json; charset=utf-8', ...headers });
  res.end(JSON.stringify(error.body));
}

/** A stream event with the client's model id (the provider names its own), or as it is. */
function withModel(event: string, model: string): string {
  const data = event.startsWith('data:') ? event.slice(5).trim() : undefined;
  if (data === undefined || data === '[DONE]') return `${event}\n\n`;
  try {
    return `data: ${JSON.stringify({ ...(JSON.parse(data) as Record<string, unknown>), model })}\n\n`;
  } catch {
    return `${event}\n\n`;
  }
}

/** Splits the provider's server-sent events as they come, handing each (without its blank line) to `onEvent`, but the provider's [DONE]. */
class SseEvents {
  readonly #decoder = new TextDecoder();
  readonly #onEvent: (event: string) => void;
  #buffer = '';

  constructor(onEvent: (event: string) => void) {
    this.#onEvent = onEvent;
  }

  feed(bytes: Uint8Array): void {
    this.#buffer += this.#decoder.decode(bytes, { stream: true });
    this.#flush(false);
  }

  end(): void {
    this.#buffer += this.#decoder.decode();
    this.#flush(true);
  }

  #flush(final: boolean): void {
    this.#buffer = this.#buffer.replace(/\r\n/g, '\n');
    for (let at = this.#buffer.indexOf('\n\n'); at >= 0; at = this.#buffer.indexOf('\n\n')) {
      const event = this.#buffer.slice(0, at);
      this.#buffer = this.#buffer.slice(at + 2);
      if (event.trim() !== '' && event.trim() !== 'data: [DONE]') this.#onEvent(event);
    }
    if (final && this.#buffer.trim() !== '' && this.#buffer.trim() !== 'data: [DONE]') this.#onEvent(this.#buffer);
  }
}

/**
 * The gateway's milestones of a model call, as `writ.model.<milestone>_ms` attributes of its span
 * (milliseconds since the call came in; a degraded call's last attempt): `parked` (the body is at
 * the executor), `proposed` (ActionProposed acknowledged), `answering` (the executor's relay began:
 * decided, reserved, started and the provider's head back) or `ended` (it did not run), `relayed`
 * (the provider's last byte through), `logged` (its outcome on the log); and `writ.model.provider_ms`,
 * the provider's own part of `answering`.
 */
class CallPhases {
  readonly #span: Span;
  readonly #started = performance.now();

  constructor(span: Span) {
    this.#span = span;
  }

  /** The provider's time to answer (status and headers), as the executor measured it: part of `answering`. */
  provider(ms: number): void {
    this.#span.setAttribute('writ.model.provider_ms', ms);
  }

  /** Records the milestone; returns its time (ms since the call came in). */
  mark(milestone: 'parked' | 'proposed' | 'answering' | 'ended' | 'relayed' | 'logged'): number {
    const ms = Math.round((performance.now() - this.#started) * 100) / 100;
    this.#span.setAttribute(`writ.model.${milestone}_ms`, ms);
    return ms;
  }
}

/** Why a call was refused a slot: the limit it hit, named with its variable. */
function slotsExceeded(refused: SlotRefusal, targetMs: number): WritError {
  const [message, rule] =
    refused.scope === 'agent'
      ? [
          `this agent has ${refused.held} model calls in progress already, the most it may: retry shortly`,
          `at most ${refused.limit} model calls at once per agent and gateway (WRIT_MODEL_MAX_IN_FLIGHT_PER_AGENT)`,
        ]
      : refused.scope === 'gateway'
        ? [
            `this gateway holds ${refused.held} model calls already, the most it may: retry shortly`,
            `at most ${refused.limit} model calls at once per gateway (WRIT_MODEL_MAX_IN_FLIGHT)`,
          ]
        : [
            `the pipeline takes ${refused.limit} model calls at once now, as many as it carries in time: retry shortly`,
            `as many calls at once as go through the pipeline within WRIT_MODEL_PIPELINE_TARGET_MS (${targetMs} ms)`,
          ];
  return new WritError('MODEL_CALLS_EXCEEDED', message, { rule, retriable: true });
}

/** The fewest calls the pipeline gate lets in at once, whatever the load: calls keep flowing, and measuring. */
const PIPELINE_MIN_CALLS = 8;

/** A call's place in the pipeline gate (CallSlots.take took it): given back once (with its pipeline time, when measured). */
class PipelinePass {
  readonly #gate: PipelineGate;
  #left = false;

  constructor(gate: PipelineGate) {
    this.#gate = gate;
  }

  leave(pipelineMs: number | null): void {
    if (this.#left) return;
    this.#left = true;
    this.#gate.leave(pipelineMs, performance.now());
  }
}
