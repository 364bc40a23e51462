// The executor's wiring: the controls topic read from the beginning into a ControlBoard, the
// idempotency journal on disk, and writ.executions.v1 consumed into @writ/executor-core, whose
// outcomes are produced as ActionExecuted / ActionFailed on writ.outcomes.v1 (its only writer).
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { SpanStatusCode, context as otelContext, trace } from '@opentelemetry/api';
import type { JSONWebKeySet } from 'jose';
import { EventConsumer, EventProducer, KeyedLock, createKafka, eventTraceOf, silentLogger, sleep, traceHeaders, writEvent } from '@writ/bus';
import type { BusLogger, DecodedEvent, EventContext, OutgoingEvent } from '@writ/bus';
import { TOPICS, nameBasedUuid, newMetadata } from '@writ/contracts';
import type { ExecutionRequested, Metadata, ModelUsage, TraceContext } from '@writ/contracts';
import { TenantKeyDir, loadKeyringFromDir, loadSigningKey } from '@writ/crypto';
import { WritError, describeError } from '@writ/errors';
import { CallInterrupted, Executor, idempotencyHeader, outcomeEvents } from '@writ/executor-core';
import type { ActionTokens, ExecutionRecord, ExecutionReport, ExecutionResult } from '@writ/executor-core';
import { withMcpUpstreams } from '@writ/mcp-gateway';
import { ModelCallDoor, withModelCalls } from '@writ/model-proxy';
import { observeConsumerLag } from '@writ/runtime';
import type { ConsumerLagGauge } from '@writ/runtime';
import { WRIT_ATTR, WRIT_METRIC, observeWritGauge, writCounter, writHistogram } from '@writ/telemetry';
import { ActionTokenSigner, ControlBoard, loadToolRegistry, mintsCredential, tokensAt } from '@writ/tools';
import type { ToolDefinition, ToolRegistry } from '@writ/tools';
import type { ExecutorServiceConfig } from './config.ts';
import { FileIdempotencyStore } from './file-store.ts';

const tracer = trace.getTracer('writ.executor');
const DLQ = 'writ.executor.dlq';

export interface ExecutorEngineOptions {
  readonly config: ExecutorServiceConfig;
  readonly producerName: string;
  readonly logger?: BusLogger;
  /** Where `${VAR}` in tool urls and `credential.env` are read; default process.env. */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/** A tool's static bearer token: from its environment variable, or the first line of its file. Never from an event. */
export function credentialReader(env: Readonly<Record<string, string | undefined>>): (tool: ToolDefinition) => Promise<string | undefined> {
  return async (tool) => {
    const credential = tool.credential;
    if (credential === undefined || 'mint' in credential) return undefined;
    if ('env' in credential) return env[credential.env]?.trim() || undefined;
    try {
      return (await readFile(resolve(credential.file), 'utf8')).trim() || undefined;
    } catch {
      return undefined;
    }
  };
}

/**
 * The key that mints per-action tokens, from WRIT_EXECUTOR_TOKEN_SIGNING_KEY. Required when a
 * registered tool declares `credential.mint` (boot stops naming the variable); otherwise loaded
 * only if the file is there.
 */
export async function loadActionTokens(
  config: Pick<ExecutorServiceConfig, 'WRIT_EXECUTOR_TOKEN_SIGNING_KEY' | 'WRIT_EXECUTOR_TOKEN_ISSUER'>,
  registry: ToolRegistry,
): Promise<ActionTokens | undefined> {
  const minting = registry.list().filter((tool) => mintsCredential(tool));
  const path = config.WRIT_EXECUTOR_TOKEN_SIGNING_KEY;
  let key;
  try {
    key = await loadSigningKey(path);
  } catch (cause) {
    if (minting.length === 0) return undefined;
    throw new WritError(
      'KEY_INVALID',
      `WRIT_EXECUTOR_TOKEN_SIGNING_KEY: ${describeError(cause)} (needed by ${minting.map((tool) => `${tool.name}@${tool.version}`).join(', ')}, which declare credential.mint)`,
      {
        field: 'WRIT_EXECUTOR_TOKEN_SIGNING_KEY',
        rule: 'must be a readable PKCS#8 PEM Ed25519 private key when a tool declares credential.mint',
        cause,
      },
    );
  }
  return { issuer: config.WRIT_EXECUTOR_TOKEN_ISSUER, signer: await ActionTokenSigner.fromPem(key.keyId, key.exportPrivateKeyPem()) };
}

/** A call that broke its tool's cost contract, and by how much a reported cost exceeded the maximum. */
function countCostBreach(request: ExecutionRequested, cost: NonNullable<ExecutionReport['cost']>, currency: string | null): void {
  const tenant = request.meta.tenant_id;
  const breach = cost.breach;
  if (breach === null) return;
  writCounter(WRIT_METRIC.executorCostBreaches).add(1, { tenant, tool: request.tool, breach });
  const excess = cost.micros - cost.max_micros;
  if (breach === 'over_max' && excess > 0 && currency !== null) {
    writCounter(WRIT_METRIC.executorCostBreachExcessMicros).add(excess, { tenant, tool: request.tool, currency });
  }
}

/**
 * A fresh execution's metrics (never a redelivery's replayed outcome): the call (when one went out)
 * by outcome, its attempts beyond the first and its duration; a failure by its error code.
 */
function countExecution(tenant: string, tool: string, result: ExecutionResult, called: boolean, seconds: number | null): void {
  const outcome = result.type === 'ActionExecuted' ? 'succeeded' : result.payload.outcome;
  if (called) {
    writCounter(WRIT_METRIC.executorCalls).add(1, { tenant, tool, outcome });
    if (result.payload.attempts > 1) writCounter(WRIT_METRIC.executorRetries).add(result.payload.attempts - 1, { tenant, tool });
    if (seconds !== null) writHistogram(WRIT_METRIC.executorCallDurationSeconds).record(seconds, { tenant, tool, outcome });
  }
  if (result.type === 'ActionFailed') writCounter(WRIT_METRIC.executorErrors).add(1, { tenant, tool, error_code: result.payload.error_code });
}

const BREAKER_STATES = ['closed', 'open', 'half-open'] as const;

type ModelUsagePayload = Omit<ModelUsage, 'meta'>;

/** A metered tool's (a model's) successful call: its tokens and cost, from the result's usage; undefined for any other outcome. */
function modelUsageOf(request: ExecutionRequested, tool: ToolDefinition | undefined, result: ExecutionResult): ModelUsagePayload | undefined {
  if (result.type !== 'ActionExecuted' || tool?.cost.tokens === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(result.payload.result_json) as unknown;
  } catch {
    return undefined;
  }
  const used = tokensAt(parsed, tool.cost.tokens.usage);
  if (used === undefined) return undefined;
  const model = (parsed as { model?: unknown }).model;
  return {
    agent_id: request.agent_id,
    model: typeof model === 'string' && model !== '' ? model : tool.name,
    input_tokens: used.input,
    output_tokens: used.output,
    cost_micros: result.payload.cost_micros,
    currency: result.payload.currency,
  };
}
/** How often outlived journal records leave memory. */
const JOURNAL_PRUNE_EVERY_MS = 10 * 60_000;

export class ExecutorEngine {
  readonly controls = new ControlBoard();
  /** Model calls' request bodies handed over by the gateway, waiting for their execution (docs/model-proxy.md). */
  readonly modelCalls: ModelCallDoor;
  #registry: ToolRegistry | undefined;
  #tokens: ActionTokens | undefined;
  readonly #options: ExecutorEngineOptions;
  readonly #logger: BusLogger;
  #store: FileIdempotencyStore | undefined;
  #producer: EventProducer | undefined;
  #controlsConsumer: EventConsumer | undefined;
  #executionsConsumer: EventConsumer | undefined;
  readonly #perAction = new KeyedLock();
  #executor: Executor | undefined;
  readonly #controlsSeen = new Map<number, bigint>();
  #lag: ConsumerLagGauge | undefined;
  #stopBreakerGauge: (() => void) | undefined;
  #pruneTimer: ReturnType<typeof setInterval> | undefined;

  constructor(options: ExecutorEngineOptions) {
    this.#options = options;
    this.#logger = options.logger ?? silentLogger;
    this.modelCalls = new ModelCallDoor(options.config.WRIT_EXECUTOR_MODEL_PARK_MS);
  }

  async start(): Promise<void> {
    const { config } = this.#options;
    const env = this.#options.env ?? process.env;
    const registry = loadToolRegistry(config.WRIT_TOOLS_DIR);
    this.#registry = registry;
    const [warrantKeys, reservationKeys] = await Promise.all([
      loadKeyringFromDir(config.WRIT_EXECUTOR_WARRANT_KEYS_DIR),
      loadKeyringFromDir(config.WRIT_EXECUTOR_RESERVATION_KEYS_DIR),
    ]);
    this.#tokens = await loadActionTokens(config, registry);
    const retentionMs = config.WRIT_EXECUTOR_JOURNAL_RETENTION_HOURS * 3_600_000;
    this.#store = await FileIdempotencyStore.open(config.WRIT_EXECUTOR_DATA_DIR, { retentionMs, now: Date.now });
    if (this.#store.compacted > 0)
      this.#logger.info('journal compacted', { dropped: this.#store.compacted, retention_hours: config.WRIT_EXECUTOR_JOURNAL_RETENTION_HOURS });
    const store = this.#store;
    // Outlived records leave memory as the executor runs; the file drops them at the next boot.
    if (retentionMs > 0) this.#pruneTimer = setInterval(() => store.prune(), JOURNAL_PRUNE_EVERY_MS).unref();
    this.#executor = new Executor({
      registry,
      warrantKeys,
      reservationKeys,
      controls: this.controls,
      store: this.#store,
      // A tool an upstream MCP server serves (its registry URL ends #mcp-tool=...) is called with the MCP client.
      // A model (its registry URL ends #writ-model=...) is called with the body the gateway handed over, streamed back to it.
      fetch: withModelCalls(
        withMcpUpstreams((url, init) => fetch(url, init)),
        { door: this.modelCalls, fetch },
      ),
      credential: credentialReader(env),
      ...(this.#tokens === undefined ? {} : { tokens: this.#tokens }),
      tenantKeys: new TenantKeyDir(config.WRIT_TENANT_KEYS_DIR),
      env,
      breaker: { threshold: config.WRIT_EXECUTOR_BREAKER_THRESHOLD, cooldownMs: config.WRIT_EXECUTOR_BREAKER_COOLDOWN_MS },
      now: Date.now,
      sleep: async (ms, signal) => {
        await sleep(ms, signal);
      },
      random: Math.random,
    });
    this.#producer = new EventProducer({
      brokers: config.WRIT_KAFKA_BROKERS,
      clientId: `${config.WRIT_KAFKA_GROUP_ID}.producer`,
      lingerMs: config.WRIT_EXECUTOR_LINGER_MS,
      logger: this.#logger,
    });
    await this.#producer.connect();

    await this.#startControls();
    await this.#recover();

    this.#executionsConsumer = new EventConsumer({
      brokers: config.WRIT_KAFKA_BROKERS,
      groupId: config.WRIT_KAFKA_GROUP_ID,
      topics: [TOPICS.executions],
      dlqTopic: DLQ,
      partitionsConsumedConcurrently: config.WRIT_EXECUTOR_CONCURRENCY,
      messagesInFlight: config.WRIT_EXECUTOR_IN_FLIGHT,
      instanceId: config.WRIT_INSTANCE_ID,
      // Requests of one action (a redelivery, a duplicate) never overlap: the journal decides on the first.
      handler: (event, ctx) => this.#perAction.run(event.payload.meta.action_id ?? '', () => this.#handle(event, ctx)),
      logger: this.#logger,
    });
    await this.#executionsConsumer.start();
    this.#lag = observeConsumerLag(config.WRIT_KAFKA_BROKERS, config.WRIT_KAFKA_GROUP_ID, [TOPICS.executions]);
    const executor = this.#executor;
    this.#stopBreakerGauge = observeWritGauge(WRIT_METRIC.executorBreakerState, (gauge) => {
      for (const [tool, current] of executor.breakerStates()) {
        for (const state of BREAKER_STATES) gauge.observe(state === current ? 1 : 0, { tool, state: state.replace('-', '_') });
      }
    });
    this.#logger.info('executor consuming', { tools: registry.list().length, group: config.WRIT_KAFKA_GROUP_ID });
  }

  /** The public keys of the per-action tokens (RFC 7517 JWKS), for tools to verify them; empty without a signing key. */
  jwks(): JSONWebKeySet {
    return this.#tokens?.signer.jwks() ?? { keys: [] };
  }

  async stop(): Promise<void> {
    clearInterval(this.#pruneTimer);
    this.#stopBreakerGauge?.();
    await this.#lag?.stop();
    await this.#executionsConsumer?.stop();
    await this.#controlsConsumer?.stop();
    await this.#producer?.disconnect();
    await this.#store?.close();
  }

  /**
   * Reads the compacted controls topic from the beginning with a group of its own (every instance
   * sees every control), and waits until it has caught up with the end offsets seen at boot, so a
   * kill switch pulled before a restart is honoured from the first request.
   */
  async #startControls(): Promise<void> {
    const { config } = this.#options;
    const admin = createKafka({ brokers: config.WRIT_KAFKA_BROKERS, clientId: `${config.WRIT_KAFKA_GROUP_ID}.admin`, logger: this.#logger }).admin();
    await admin.connect();
    let ends: { partition: number; high: bigint }[];
    try {
      ends = (await admin.fetchTopicOffsets(TOPICS.controls)).map((p) => ({ partition: p.partition, high: BigInt(p.high) }));
    } finally {
      await admin.disconnect();
    }
    this.#controlsConsumer = new EventConsumer({
      brokers: config.WRIT_KAFKA_BROKERS,
      groupId: `${config.WRIT_KAFKA_GROUP_ID}.controls.${randomUUID()}`,
      topics: [TOPICS.controls],
      fromBeginning: true,
      dlqTopic: DLQ,
      commitIntervalMs: 1_000,
      handler: (event, ctx) => {
        this.#controlsSeen.set(ctx.partition, BigInt(ctx.offset));
        if (event.type === 'ControlChanged') this.controls.apply(event.payload);
      },
      logger: this.#logger,
    });
    await this.#controlsConsumer.start();
    const caughtUp = (): boolean => ends.every(({ partition, high }) => high === 0n || (this.#controlsSeen.get(partition) ?? -1n) >= high - 1n);
    const deadline = Date.now() + config.WRIT_EXECUTOR_CONTROLS_CATCHUP_MS;
    while (!caughtUp() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    if (!caughtUp()) this.#logger.warn('controls topic not fully read at boot; continuing', { waited_ms: config.WRIT_EXECUTOR_CONTROLS_CATCHUP_MS });
  }

  /** Calls that started before a crash and never finished: reported as unknown, never called again. */
  async #recover(): Promise<void> {
    const recovered = await (this.#executor as Executor).recoverUnfinished();
    // (Records are per data folder; the tenant prefix does not apply: this folder's calls are ours.)
    for (const { record, result } of recovered) {
      await this.#emit(record, result, record.trace);
      // The call went out before the crash; its duration is unknown.
      countExecution(record.tenant_id, record.tool, result, true, null);
      this.#logger.warn('unfinished call reported as unknown', { action_id: record.action_id, tool: record.tool });
    }
  }

  async #emit(
    origin: Pick<ExecutionRecord, 'tenant_id' | 'run_id' | 'action_id' | 'causation_id'>,
    result: ExecutionResult,
    traceContext: TraceContext | null,
    usage?: ModelUsagePayload,
  ): Promise<void> {
    const meta = (): Metadata =>
      newMetadata({
        tenant_id: origin.tenant_id,
        run_id: origin.run_id,
        action_id: origin.action_id,
        causation_id: origin.causation_id,
        producer: this.#options.producerName,
        trace: traceContext,
      });
    // A success is two events, the result's body (detail tier) and the audited ActionExecuted that
    // references it, sent in that order; a redelivered request sends both again. The body's event id
    // is named by the action and the digest, so its copies are one row in ClickHouse.
    const events: OutgoingEvent[] = outcomeEvents(result).map((event) =>
      event.type === 'ToolResultRecorded'
        ? writEvent('ToolResultRecorded', {
            meta: { ...meta(), event_id: nameBasedUuid(['ToolResultRecorded', origin.tenant_id, origin.action_id, event.payload.result_ref]) },
            ...event.payload,
          })
        : event.type === 'ActionExecuted'
          ? writEvent('ActionExecuted', { meta: meta(), ...event.payload })
          : writEvent('ActionFailed', { meta: meta(), ...event.payload }),
    );
    // A model call's tokens and cost, for the analytics (ClickHouse model_usage), after the outcome it belongs to.
    if (usage !== undefined) events.push(writEvent('ModelUsage', { meta: meta(), ...usage }));
    await (this.#producer as EventProducer).send(events);
  }

  async #handle(event: DecodedEvent, ctx: EventContext): Promise<void> {
    if (event.type !== 'ExecutionRequested') return; // the topic's only event type; anything else is not ours to run
    const request = event.payload;
    if (!this.#options.config.WRIT_EXECUTOR_TENANTS.serves(request.meta.tenant_id)) return;
    const span = tracer.startSpan(
      'executor.call',
      {
        attributes: {
          [WRIT_ATTR.tenantId]: request.meta.tenant_id,
          [WRIT_ATTR.runId]: request.meta.run_id,
          [WRIT_ATTR.actionId]: request.meta.action_id ?? '',
          [WRIT_ATTR.agentId]: request.agent_id,
          [WRIT_ATTR.tool]: `${request.tool}@${request.tool_version}`,
        },
      },
      ctx.traceContext,
    );
    const active = trace.setSpan(ctx.traceContext, span);
    try {
      await otelContext.with(active, async () => {
        const traceparent = traceHeaders(active)['traceparent'];
        const started = performance.now();
        const report = await (this.#executor as Executor).execute(request, {
          signal: ctx.signal,
          ...(traceparent === undefined ? {} : { traceparent }),
        });
        const seconds = (performance.now() - started) / 1_000;
        const result = report.result;
        const outcome = result.type === 'ActionExecuted' ? 'succeeded' : result.payload.outcome;
        span.setAttribute(WRIT_ATTR.toolOutcome, outcome);
        span.setAttribute('writ.executor.called', report.called);
        span.setAttribute('writ.executor.replayed', report.replayed);
        if (result.type === 'ActionFailed') {
          span.setAttribute('writ.executor.error_code', result.payload.error_code);
          span.setStatus({ code: SpanStatusCode.ERROR, message: result.payload.error_code });
        }
        span.setAttribute('writ.executor.attempts', result.payload.attempts);
        // The tool's own time (its attempts and backoffs), so a span tells the call from the rest.
        if (result.type === 'ActionExecuted') span.setAttribute('writ.executor.tool_ms', result.payload.duration_ms);
        if (report.cost?.breach != null) {
          // The tool broke its cost contract: the accountant settles what it reported (an overrun) or its maximum.
          span.setAttribute('writ.executor.cost_breach', report.cost.breach);
          this.#logger.warn('tool broke its declared cost', {
            tool: `${request.tool}@${request.tool_version}`,
            action_id: request.meta.action_id,
            breach: report.cost.breach,
            cost_micros: report.cost.micros,
            max_micros: report.cost.max_micros,
          });
          // Counted for the call itself: a redelivered request re-emits the recorded outcome (replayed), and is not counted again.
          if (!report.replayed) countCostBreach(request, report.cost, result.type === 'ActionExecuted' ? result.payload.currency : null);
        }
        await this.#emit(
          { tenant_id: request.meta.tenant_id, run_id: request.meta.run_id, action_id: request.meta.action_id ?? '', causation_id: request.meta.event_id },
          result,
          eventTraceOf(span),
          modelUsageOf(request, this.#registry?.get(request.tool, request.tool_version), result),
        );
        // A model call's relay ends once its outcome is acknowledged on the log: the gateway answers then.
        this.modelCalls.logged(idempotencyHeader(request), {
          outcome: result.type === 'ActionExecuted' ? 'executed' : 'failed',
          cost_micros: result.type === 'ActionExecuted' ? result.payload.cost_micros : null,
          currency: result.type === 'ActionExecuted' ? result.payload.currency : null,
        });
        // Counted once its outcome is on the log; a redelivered request re-emits the recorded outcome (replayed), not counted again.
        if (!report.replayed) countExecution(request.meta.tenant_id, request.tool, result, report.called, seconds);
      });
    } catch (error) {
      if (error instanceof CallInterrupted) span.setAttribute(WRIT_ATTR.toolOutcome, 'interrupted');
      span.recordException(error as Error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: describeError(error) });
      throw error;
    } finally {
      span.end();
    }
  }
}
