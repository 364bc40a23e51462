// The executor's behaviour for one ExecutionRequested: replay a recorded outcome, or report an
// unknown one, or check, record "started" durably, call the tool, record and report the outcome.
import type { ExecutionRequested } from '@writ/contracts';
import { canonicalJson, sha256Hex } from '@writ/crypto';
import type { Keyring, TenantDataKey, TenantKeyStore } from '@writ/crypto';
import { describeError } from '@writ/errors';
import type { ControlBoard, ToolDefinition, ToolRegistry } from '@writ/tools';
import {
  actualCostOf,
  buildToolRequest,
  hasSensitiveFields,
  hasSideEffects,
  mintsCredential,
  redactResult,
  reservedCostOf,
  scrubberOf,
  sensitiveTexts,
  sideEffectRefs,
} from '@writ/tools';
import { CircuitBreakers } from './breaker.ts';
import type { BreakerOptions, BreakerState } from './breaker.ts';
import { callTool } from './call.ts';
import type { HttpFetch } from './call.ts';
import { checkRequest, runtimeRefusal } from './checks.ts';
import { actionTokenClaims, credentialSource, idempotencyHeader } from './credentials.ts';
import type { ActionTokens } from './credentials.ts';
import type { ExecutionRecord, ExecutionResult, FailedPayload, IdempotencyStore } from './store.ts';
import { verifySideEffect } from './verify.ts';
import type { Verification } from './verify.ts';

export interface ExecutorDeps {
  readonly registry: ToolRegistry;
  readonly warrantKeys: Keyring;
  readonly reservationKeys: Keyring;
  readonly controls: ControlBoard;
  readonly store: IdempotencyStore;
  readonly fetch: HttpFetch;
  /** The static bearer token of a tool (`credential.env` / `.file`), never from an event; undefined when missing. */
  readonly credential: (tool: ToolDefinition) => Promise<string | undefined>;
  /** The key that mints a token per action for tools declaring `credential.mint`; without it, such tools are refused. */
  readonly tokens?: ActionTokens;
  /**
   * Tenants' data keys, to open sealed sensitive arguments just before the call. Without it (or
   * without the tenant's key) a request that carries a sensitive argument is refused.
   */
  readonly tenantKeys?: TenantKeyStore;
  /** Environment for `${VAR}` in endpoint urls. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** The runtime's clock, timer and randomness (the executor service passes Date.now, a setTimeout sleep and Math.random): the core reads none itself. */
  readonly now: () => number;
  readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  readonly random: () => number;
  readonly breaker?: BreakerOptions;
}

/** What happened, for the caller's span and logs (never arguments or results). */
export interface ExecutionReport {
  readonly result: ExecutionResult;
  /** The tool was called (at least one attempt went out) for this delivery. */
  readonly called: boolean;
  /** A recorded outcome was re-emitted (a redelivery). */
  readonly replayed: boolean;
  /** The request was refused before any call; the code names the check. */
  readonly refused: boolean;
  /** What the call cost and whether the tool kept to its declared cost (null when nothing succeeded). */
  readonly cost?: CostReport | null;
}

/**
 * A successful call's cost against its tool's contract. `breach`: the result reported more than
 * the declared maximum (settled at what it reported, an overrun), or no usable cost where the tool
 * declared one (the maximum is charged).
 */
export interface CostReport {
  readonly micros: number;
  readonly max_micros: number;
  readonly breach: 'over_max' | 'unreported' | null;
}

function costReport(tool: ToolDefinition, args: unknown, result: unknown): CostReport {
  const actual = actualCostOf(tool, result);
  const max = reservedCostOf(tool, args);
  return { micros: actual.micros, max_micros: max, breach: !actual.reported ? 'unreported' : actual.micros > max ? 'over_max' : null };
}

export interface ExecuteOptions {
  /** traceparent to send to the tool. */
  readonly traceparent?: string;
  /** Aborted when the executor stops: the call is abandoned and its record stays "started". */
  readonly signal?: AbortSignal;
}

export const OUTCOME_UNKNOWN = 'OUTCOME_UNKNOWN';
/** The tool answered success and its declared read-back says the side effect is not there (404/410). */
export const VERIFICATION_REFUTED = 'VERIFICATION_REFUTED';

function failed(
  request: ExecutionRequested,
  tool: ToolDefinition | undefined,
  code: string,
  message: string,
  retriable: boolean,
  attempts = 0,
): ExecutionResult {
  return {
    type: 'ActionFailed',
    payload: {
      outcome: 'failed',
      tool: request.tool,
      reservation_id: request.reservation.reservation_id,
      error_code: code,
      message,
      retriable,
      attempts,
      cost_micros: 0,
      currency: tool?.cost.currency ?? request.reservation.currency,
    },
  };
}

/** ActionFailed(unknown) for a call that started and whose end nobody saw. */
export function unknownOutcome(
  record: ExecutionRecord,
  message = 'the executor stopped during the call; the side effect may or may not have happened (reconcile before retrying)',
): { readonly type: 'ActionFailed'; readonly payload: FailedPayload } {
  return {
    type: 'ActionFailed',
    payload: {
      outcome: 'unknown',
      tool: record.tool,
      reservation_id: record.reservation_id,
      error_code: OUTCOME_UNKNOWN,
      message,
      retriable: false,
      attempts: 1,
      cost_micros: record.cost_micros,
      currency: record.currency,
    },
  };
}

/**
 * result_sha256: for a tool with sensitive fields, HMAC-SHA256 of the whole result under the
 * tenant's hash key (a plain sha256 of a result whose only unknown is a card's 4 digits is
 * reversed by 10,000 guesses); without a key, the sha256 of what result_json shows anyway.
 */
function resultDigest(tool: ToolDefinition, result: unknown, key: TenantDataKey | undefined, scrub: (value: unknown) => unknown): string {
  if (!hasSensitiveFields(tool)) return sha256Hex(canonicalJson(result));
  if (key !== undefined) return key.keyedDigest('result', canonicalJson(result));
  return sha256Hex(canonicalJson(scrub(redactResult(tool, result))));
}

/**
 * ActionExecuted.verified: true when the read-back confirmed the side effect, false when none
 * could be made (the tool's own success stands, unverified), null when the tool declares none.
 */
function verifiedFlag(verification: Verification | undefined): boolean | null {
  if (verification === undefined || verification.kind === 'none') return null;
  return verification.kind === 'confirmed';
}

export class Executor {
  readonly #deps: ExecutorDeps;
  readonly #now: () => number;
  readonly #sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  readonly #random: () => number;
  readonly #breakers: CircuitBreakers;
  readonly #inFlight = new Map<string, Promise<ExecutionReport>>();

  constructor(deps: ExecutorDeps) {
    this.#deps = deps;
    this.#now = deps.now;
    this.#sleep = deps.sleep;
    this.#random = deps.random;
    this.#breakers = new CircuitBreakers(deps.breaker);
  }

  /** The state of each tool's circuit breaker now, for the tools called since start. */
  breakerStates(): [string, BreakerState][] {
    return this.#breakers.states(this.#now());
  }

  /** Handles one delivery of an ExecutionRequested. Throws CallInterrupted when stopped mid-call. */
  execute(request: ExecutionRequested, options: ExecuteOptions = {}): Promise<ExecutionReport> {
    const actionId = request.meta.action_id ?? '';
    const running = this.#inFlight.get(actionId);
    // The same action delivered again while this process is still calling: share the one call.
    if (running !== undefined && actionId !== '') return running.then((report) => ({ ...report, called: false, replayed: true }));
    const work = this.#execute(request, options);
    if (actionId !== '') {
      this.#inFlight.set(actionId, work);
      void work.then(
        () => this.#inFlight.delete(actionId),
        () => this.#inFlight.delete(actionId),
      );
    }
    return work;
  }

  /**
   * Records started at boot and never finished: each is reported as ActionFailed(unknown) and
   * its record closed, so a redelivery re-emits the same outcome and nothing is called again.
   */
  async recoverUnfinished(): Promise<{ record: ExecutionRecord; result: ExecutionResult }[]> {
    const recovered: { record: ExecutionRecord; result: ExecutionResult }[] = [];
    for (const record of this.#deps.store.unfinished()) {
      if (this.#inFlight.has(record.action_id)) continue;
      const result = unknownOutcome(record);
      await this.#deps.store.finish(record, result, this.#now());
      recovered.push({ record, result });
    }
    return recovered;
  }

  async #execute(request: ExecutionRequested, options: ExecuteOptions): Promise<ExecutionReport> {
    const deps = this.#deps;
    const actionId = request.meta.action_id ?? '';
    const existing = actionId === '' ? undefined : deps.store.get(actionId);
    if (existing?.outcome !== undefined) return { result: existing.outcome, called: false, replayed: true, refused: false };
    if (existing !== undefined) {
      const result = unknownOutcome(existing);
      await deps.store.finish(existing, result, this.#now());
      return { result, called: false, replayed: false, refused: false };
    }

    let tenantKey: TenantDataKey | undefined;
    const declared = deps.registry.get(request.tool, request.tool_version);
    if (declared !== undefined && hasSensitiveFields(declared) && deps.tenantKeys !== undefined) {
      try {
        tenantKey = await deps.tenantKeys.get(request.meta.tenant_id);
      } catch (error) {
        return { result: failed(request, declared, 'TENANT_KEY_UNREADABLE', describeError(error), false), called: false, replayed: false, refused: true };
      }
    }
    const now = this.#now();
    const checked = checkRequest(request, deps, now, tenantKey);
    if (!checked.ok) {
      return { result: failed(request, checked.tool, checked.refusal.code, checked.refusal.message, false), called: false, replayed: false, refused: true };
    }
    const { tool, args } = checked;

    const token = await this.#credential(request, tool, args, now);
    // Clear sensitive values and the credential never leave in an outcome, whatever the tool echoes.
    const scrub = scrubberOf([...sensitiveTexts(tool, args), token]);
    if (tool.credential !== undefined && (token === undefined || token === '')) {
      return {
        result: failed(request, tool, 'CREDENTIAL_UNAVAILABLE', `no credential for ${tool.name} from ${credentialSource(tool)}`, false),
        called: false,
        replayed: false,
        refused: true,
      };
    }
    let httpRequest;
    try {
      httpRequest = buildToolRequest(tool, args, deps.env);
    } catch (error) {
      return {
        result: failed(request, tool, 'TOOL_ENDPOINT_UNRESOLVED', scrub.text(describeError(error)), false),
        called: false,
        replayed: false,
        refused: true,
      };
    }
    const breaker = this.#breakers.for(tool.name);
    if (breaker.state(now) === 'open') {
      return {
        result: failed(request, tool, 'CIRCUIT_OPEN', `the circuit breaker of ${tool.name} is open`, true),
        called: false,
        replayed: false,
        refused: true,
      };
    }

    const record: ExecutionRecord = {
      action_id: actionId,
      tenant_id: request.meta.tenant_id,
      run_id: request.meta.run_id,
      agent_id: request.agent_id,
      tool: tool.name,
      tool_version: tool.version,
      args_sha256: request.args_sha256,
      reservation_id: request.reservation.reservation_id,
      currency: tool.cost.currency,
      cost_micros: reservedCostOf(tool, args),
      causation_id: request.meta.event_id,
      trace: request.meta.trace,
      started_at: now,
      deadline: request.deadline,
    };
    // The promise of "at most once": durable before the first byte goes to a tool that changes things.
    if (hasSideEffects(tool)) await deps.store.start(record);

    const headers: Record<string, string> = {
      accept: 'application/json',
      'idempotency-key': idempotencyHeader(request),
      ...(token === undefined || token === '' ? {} : { authorization: `Bearer ${token}` }),
      ...(options.traceparent === undefined ? {} : { traceparent: options.traceparent }),
    };
    const outcome = await callTool(
      { fetch: deps.fetch, now: this.#now, sleep: this.#sleep, random: this.#random },
      {
        tool,
        request: httpRequest,
        headers,
        breaker,
        mayContinue: () => runtimeRefusal(request, tool, deps.controls, this.#now()),
        ...(options.signal === undefined ? {} : { signal: options.signal }),
      },
    );

    let result: ExecutionResult;
    let cost: CostReport | null = null;
    const verification = outcome.ok
      ? await verifySideEffect(
          { fetch: deps.fetch, now: this.#now, sleep: this.#sleep, random: this.#random },
          { tool, args, result: outcome.result, headers, env: deps.env, ...(options.signal === undefined ? {} : { signal: options.signal }) },
        )
      : undefined;
    if (outcome.ok && verification?.kind === 'refuted' && hasSideEffects(tool)) {
      // The tool said done, the system of record says no such thing: contradicting evidence. Not
      // `failed`: the side effect may still land (processed late, a lagging replica), and a
      // failure invites a retry under a new key, a second refund. A person reconciles it.
      const refs = sideEffectRefs(tool, outcome.result).map((ref) => scrub.text(ref));
      result = {
        type: 'ActionFailed',
        payload: {
          ...unknownOutcome(
            record,
            scrub.text(
              `${tool.name} answered HTTP ${outcome.status}${refs.length === 0 ? '' : ` (side effect ${refs.join(', ')})`} but its read-back GET ${verification.target} ` +
                `answered HTTP ${verification.status}: the side effect is not where the tool said; reconcile before retrying`,
            ),
          ).payload,
          error_code: VERIFICATION_REFUTED,
          attempts: outcome.attempts,
        },
      };
    } else if (outcome.ok) {
      cost = costReport(tool, args, outcome.result);
      const verified = verifiedFlag(verification);
      result = {
        type: 'ActionExecuted',
        payload: {
          outcome: 'succeeded',
          tool: tool.name,
          reservation_id: request.reservation.reservation_id,
          result_json: canonicalJson(scrub.json(redactResult(tool, outcome.result))),
          result_sha256: resultDigest(tool, outcome.result, tenantKey, scrub.json),
          cost_micros: cost.micros,
          currency: tool.cost.currency,
          side_effect_refs: sideEffectRefs(tool, outcome.result).map((ref) => scrub.text(ref)),
          verified,
          attempts: outcome.attempts,
          duration_ms: outcome.duration_ms,
        },
      };
    } else if (outcome.maybeDone && hasSideEffects(tool)) {
      result = {
        type: 'ActionFailed',
        payload: {
          ...unknownOutcome(record, `${scrub.text(outcome.message)}; the side effect may have happened`).payload,
          error_code: outcome.code,
          attempts: outcome.attempts,
        },
      };
    } else {
      result = failed(request, tool, outcome.code, scrub.text(outcome.message), outcome.retriable, outcome.attempts);
    }
    // A call with side effects is reported only once its outcome is durable (a redelivery must find
    // it, not call again); a read may be called again after a crash, so it waits for no disk flush.
    if (hasSideEffects(tool)) await deps.store.finish(record, result, this.#now());
    else deps.store.remember(record, result, this.#now());
    return { result, called: outcome.attempts > 0, replayed: false, refused: false, cost };
  }

  /**
   * The call's bearer token: minted for this one action when the tool declares `credential.mint`
   * (its read-back included), else the tool's static token; undefined when there is none to send.
   */
  async #credential(request: ExecutionRequested, tool: ToolDefinition, args: unknown, now: number): Promise<string | undefined> {
    if (!mintsCredential(tool)) return this.#deps.credential(tool);
    const tokens = this.#deps.tokens;
    if (tokens === undefined) return undefined;
    try {
      return await tokens.signer.sign(actionTokenClaims({ request, tool, args, issuer: tokens.issuer, now }));
    } catch {
      return undefined;
    }
  }
}
