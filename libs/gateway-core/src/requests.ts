import { WritError } from '@writ/errors';
import type { ApprovalVerdict, Provenance, ReconciledOutcome, RunMode, RetrievedDocument } from '@writ/contracts';

/**
 * Validation of the gateway's request bodies and query strings. A bad request throws WritError
 * REQUEST_INVALID whose `field` is the dotted path of the offending value and whose `rule` is the
 * JSON Schema keyword it broke (required, type, minLength, maxLength, pattern, minimum, maximum,
 * enum, additionalProperties), the same vocabulary as a tool's ARGUMENTS_INVALID.
 */
export const REQUEST_INVALID = 'REQUEST_INVALID';

export const LONG_POLL_DEFAULT_MS = 10_000;
export const LONG_POLL_MAX_MS = 30_000;

const TOOL_NAME = /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$/;
const VERSION = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$/;
const CURRENCY = /^[A-Z]{3}$/;
const IDEMPOTENCY_KEY = /^[\x21-\x7e]+$/;

export function requestInvalid(field: string, rule: string, message: string): WritError {
  return new WritError(REQUEST_INVALID, `${field} ${message}`, { field, rule });
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describeType(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return `a ${typeof value}`;
}

function object(value: unknown, field: string, allowed: readonly string[]): Json {
  if (!isObject(value)) throw requestInvalid(field, 'type', `must be a JSON object, got ${describeType(value)}`);
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) {
      const path = field === 'body' ? key : `${field}.${key}`;
      throw requestInvalid(path, 'additionalProperties', `is not a known field (known: ${allowed.join(', ')})`);
    }
  }
  return value;
}

function path(parent: string, key: string): string {
  return parent === 'body' ? key : `${parent}.${key}`;
}

interface TextRule {
  readonly min?: number;
  readonly max: number;
  readonly pattern?: RegExp;
  readonly patternText?: string;
}

function text(body: Json, parent: string, key: string, rule: TextRule): string {
  const field = path(parent, key);
  const value = body[key];
  if (value === undefined || value === null) throw requestInvalid(field, 'required', 'is required');
  if (typeof value !== 'string') throw requestInvalid(field, 'type', `must be a string, got ${describeType(value)}`);
  const min = rule.min ?? 1;
  if (value.trim().length < min) throw requestInvalid(field, 'minLength', `must have at least ${min} non-blank character${min === 1 ? '' : 's'}`);
  if (value.length > rule.max) throw requestInvalid(field, 'maxLength', `must have at most ${rule.max} characters, got ${value.length}`);
  if (rule.pattern !== undefined && !rule.pattern.test(value)) {
    throw requestInvalid(field, 'pattern', `must match ${rule.patternText ?? rule.pattern.source}`);
  }
  return value;
}

function optionalText(body: Json, parent: string, key: string, rule: TextRule): string | null {
  return body[key] === undefined || body[key] === null ? null : text(body, parent, key, rule);
}

function optionalInteger(body: Json, parent: string, key: string, min: number, max = Number.MAX_SAFE_INTEGER): number | null {
  const field = path(parent, key);
  const value = body[key];
  if (value === undefined || value === null) return null;
  if (typeof value !== 'number' || !Number.isInteger(value)) throw requestInvalid(field, 'type', `must be a whole number, got ${describeType(value)}`);
  if (value < min) throw requestInvalid(field, 'minimum', `must be at least ${min}, got ${value}`);
  if (value > max) throw requestInvalid(field, 'maximum', `must be at most ${max}, got ${value}`);
  return value;
}

function boolean(body: Json, parent: string, key: string): boolean {
  const field = path(parent, key);
  const value = body[key];
  if (value === undefined || value === null) throw requestInvalid(field, 'required', 'is required');
  if (typeof value !== 'boolean') throw requestInvalid(field, 'type', `must be true or false, got ${describeType(value)}`);
  return value;
}

export interface OpenRunRequest {
  readonly goal: string;
  /** live (default): allowed actions execute; shadow: they are decided, budgeted and recorded, never executed. */
  readonly mode: RunMode;
  readonly limits: {
    readonly max_steps: number | null;
    readonly max_cost_micros: number | null;
    readonly max_tool_calls: number | null;
    readonly wall_clock_ms: number | null;
    readonly currency: string | null;
  };
}

const LIMIT_FIELDS = ['max_steps', 'max_cost_micros', 'max_tool_calls', 'wall_clock_ms', 'currency'] as const;

const RUN_MODES: readonly RunMode[] = ['live', 'shadow'];

/** `POST /v1/runs` body: `{ goal, mode?, limits? }`. */
export function parseOpenRun(body: unknown): OpenRunRequest {
  const root = object(body ?? undefined, 'body', ['goal', 'mode', 'limits']);
  const goal = text(root, 'body', 'goal', { max: 2000 });
  const mode = root['mode'] ?? 'live';
  if (!RUN_MODES.includes(mode as RunMode)) {
    const got = typeof mode === 'string' ? `"${mode}"` : describeType(mode);
    throw requestInvalid('mode', 'enum', `must be "live" or "shadow" (shadow: actions are decided, budgeted and recorded but never executed), got ${got}`);
  }
  const rawLimits = root['limits'] ?? {};
  const limits = object(rawLimits, 'limits', LIMIT_FIELDS);
  const parsed = {
    max_steps: optionalInteger(limits, 'limits', 'max_steps', 1),
    max_cost_micros: optionalInteger(limits, 'limits', 'max_cost_micros', 0),
    max_tool_calls: optionalInteger(limits, 'limits', 'max_tool_calls', 0),
    wall_clock_ms: optionalInteger(limits, 'limits', 'wall_clock_ms', 1),
    currency: optionalText(limits, 'limits', 'currency', { max: 3, pattern: CURRENCY, patternText: 'an ISO 4217 code such as "USD"' }),
  };
  if (parsed.max_cost_micros !== null && parsed.currency === null) {
    throw requestInvalid('limits.currency', 'required', 'is required when limits.max_cost_micros is set');
  }
  return { goal, mode: mode as RunMode, limits: parsed };
}

export interface ProposeRequest {
  readonly tool: string;
  readonly tool_version: string | null;
  readonly arguments: Readonly<Record<string, unknown>>;
  readonly reason: string;
  readonly idempotency_key: string;
  /** What the agent says the proposal came from (model, prompt version, retrieved documents); null or absent when not given. */
  readonly provenance?: Provenance | null;
}

/** Bounds of a proposal's `provenance`: metadata about where it came from, never the documents themselves. */
export const PROVENANCE_LIMITS = {
  /** Retrieved documents one proposal may name. */
  documents: 32,
  /** Characters of a document id. */
  documentId: 256,
  /** Characters of the model's name, a document's version, the prompt version. */
  name: 128,
  /** Characters of the model's provider and version. */
  label: 64,
} as const;

const SHA256_HEX = /^[0-9a-f]{64}$/;
/** No control characters (line breaks, tabs, escapes): these are labels, one line each. */
const ONE_LINE = /^[^\p{Cc}]+$/u;
const ONE_LINE_TEXT = 'one line of text without control characters';

function optionalLabel(body: Json, parent: string, key: string, max: number): string | null {
  return optionalText(body, parent, key, { max, pattern: ONE_LINE, patternText: ONE_LINE_TEXT });
}

function parseProvenance(value: unknown): Provenance | null {
  if (value === undefined || value === null) return null;
  const root = object(value, 'provenance', ['model', 'prompt_version', 'retrieved_documents']);
  const given = (key: string): boolean => root[key] !== undefined && root[key] !== null;
  if (!given('model') && !given('prompt_version') && !given('retrieved_documents')) {
    throw requestInvalid('provenance', 'minProperties', 'must name at least one of model, prompt_version, retrieved_documents (or be left out)');
  }
  let model: Provenance['model'] = null;
  if (given('model')) {
    const raw = object(root['model'], 'provenance.model', ['name', 'provider', 'version']);
    model = {
      name: text(raw, 'provenance.model', 'name', { max: PROVENANCE_LIMITS.name, pattern: ONE_LINE, patternText: ONE_LINE_TEXT }),
      provider: optionalLabel(raw, 'provenance.model', 'provider', PROVENANCE_LIMITS.label),
      version: optionalLabel(raw, 'provenance.model', 'version', PROVENANCE_LIMITS.label),
    };
  }
  const documents = root['retrieved_documents'] ?? [];
  if (!Array.isArray(documents)) throw requestInvalid('provenance.retrieved_documents', 'type', `must be an array, got ${describeType(documents)}`);
  if (documents.length > PROVENANCE_LIMITS.documents) {
    throw requestInvalid(
      'provenance.retrieved_documents',
      'maxItems',
      `must name at most ${PROVENANCE_LIMITS.documents} documents, got ${documents.length} (name the ones the proposal rests on)`,
    );
  }
  const retrieved = documents.map((item: unknown, index): RetrievedDocument => {
    const at = `provenance.retrieved_documents[${index}]`;
    const raw = object(item, at, ['id', 'version', 'sha256']);
    return {
      id: text(raw, at, 'id', { max: PROVENANCE_LIMITS.documentId, pattern: ONE_LINE, patternText: ONE_LINE_TEXT }),
      version: optionalLabel(raw, at, 'version', PROVENANCE_LIMITS.name),
      sha256: text(raw, at, 'sha256', { max: 64, pattern: SHA256_HEX, patternText: 'a sha256 digest of the content read: 64 lowercase hex digits' }),
    };
  });
  return {
    model,
    prompt_version: optionalLabel(root, 'provenance', 'prompt_version', PROVENANCE_LIMITS.name),
    retrieved_documents: retrieved,
  };
}

/** `POST /v1/runs/{run_id}/actions` body: `{ tool, tool_version?, arguments, reason, idempotency_key, provenance? }`. */
export function parsePropose(body: unknown): ProposeRequest {
  const root = object(body ?? undefined, 'body', ['tool', 'tool_version', 'arguments', 'reason', 'idempotency_key', 'provenance']);
  const tool = text(root, 'body', 'tool', { max: 128, pattern: TOOL_NAME, patternText: 'a dotted lower-case tool name such as "refunds.issue"' });
  const toolVersion = optionalText(root, 'body', 'tool_version', { max: 32, pattern: VERSION, patternText: 'major.minor.patch' });
  const args = root['arguments'];
  if (args === undefined || args === null) throw requestInvalid('arguments', 'required', 'is required (an object, {} when the tool takes none)');
  if (!isObject(args)) throw requestInvalid('arguments', 'type', `must be a JSON object, got ${describeType(args)}`);
  const reason = text(root, 'body', 'reason', { max: 2000 });
  const idempotencyKey = text(root, 'body', 'idempotency_key', {
    max: 200,
    pattern: IDEMPOTENCY_KEY,
    patternText: 'printable ASCII without spaces',
  });
  return { tool, tool_version: toolVersion, arguments: args, reason, idempotency_key: idempotencyKey, provenance: parseProvenance(root['provenance']) };
}

export interface ApprovalRequest {
  readonly verdict: ApprovalVerdict;
  readonly comment: string | null;
}

/** `POST /v1/approvals/{action_id}` body: `{ verdict: approve|deny, comment? }`. */
export function parseApproval(body: unknown): ApprovalRequest {
  const root = object(body ?? undefined, 'body', ['verdict', 'comment']);
  const verdict = root['verdict'];
  if (verdict === undefined || verdict === null) throw requestInvalid('verdict', 'required', 'is required');
  if (verdict !== 'approve' && verdict !== 'deny') throw requestInvalid('verdict', 'enum', 'must be "approve" or "deny"');
  const comment = optionalText(root, 'body', 'comment', { min: 0, max: 2000 });
  return { verdict, comment };
}

export interface SwitchRequest {
  readonly enabled: boolean;
  readonly reason: string;
}

/** `PUT /v1/controls/...` body: `{ enabled, reason }`. */
export function parseSwitch(body: unknown): SwitchRequest {
  const root = object(body ?? undefined, 'body', ['enabled', 'reason']);
  return { enabled: boolean(root, 'body', 'enabled'), reason: text(root, 'body', 'reason', { max: 500 }) };
}

export interface ResolutionRequest {
  readonly outcome: ReconciledOutcome;
  readonly note: string;
}

/** `POST /v1/reconciliation/{action_id}` body: `{ outcome: succeeded|failed, note }` (the note is the evidence, required). */
export function parseResolution(body: unknown): ResolutionRequest {
  const root = object(body ?? undefined, 'body', ['outcome', 'note']);
  const outcome = root['outcome'];
  if (outcome === undefined || outcome === null) throw requestInvalid('outcome', 'required', 'is required ("succeeded" or "failed")');
  if (outcome !== 'succeeded' && outcome !== 'failed') {
    const got = typeof outcome === 'string' ? `"${outcome}"` : describeType(outcome);
    throw requestInvalid('outcome', 'enum', `must be "succeeded" (the side effect happened) or "failed" (it did not), got ${got}`);
  }
  const note = text(root, 'body', 'note', { max: 2000 });
  return { outcome, note };
}

function single(query: Readonly<Record<string, unknown>>, key: string): string | undefined {
  const value = query[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw requestInvalid(key, 'type', 'must be given once');
  return value;
}

/** `?timeout_ms=` of the long-poll: 0 to 30000, default 10000. */
export function parseLongPollTimeout(query: Readonly<Record<string, unknown>>): number {
  const raw = single(query, 'timeout_ms');
  if (raw === undefined || raw === '') return LONG_POLL_DEFAULT_MS;
  if (!/^\d+$/.test(raw)) throw requestInvalid('timeout_ms', 'type', `must be a whole number of milliseconds, got "${raw}"`);
  const value = Number(raw);
  if (value > LONG_POLL_MAX_MS) throw requestInvalid('timeout_ms', 'maximum', `must be at most ${LONG_POLL_MAX_MS}, got ${value}`);
  return value;
}

/** `?status=` of the approvals list: only `pending` (the default) for now. */
export function parseApprovalStatus(query: Readonly<Record<string, unknown>>): 'pending' {
  const raw = single(query, 'status');
  if (raw === undefined || raw === '' || raw === 'pending') return 'pending';
  throw requestInvalid('status', 'enum', `must be "pending", got "${raw}"`);
}
