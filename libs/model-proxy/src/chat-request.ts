// A client's chat completion request, checked before anything is emitted: each problem names the
// field and the rule, in OpenAI's error shape (errors.ts). What the pipeline sees of it is the
// proposal's arguments (tools.ts): the model, a digest of the request, its size and limits.
import { canonicalJson, sha256Hex } from '@writ/crypto';
import { WritError } from '@writ/errors';
import type { ModelCatalogue, ModelEntry } from './catalogue.ts';

/** Request fields passed to the provider as they are (besides model, messages, max_tokens, stream). */
const PASSED_THROUGH = [
  'temperature',
  'top_p',
  'stop',
  'presence_penalty',
  'frequency_penalty',
  'seed',
  'user',
  'response_format',
  'tools',
  'tool_choice',
  'parallel_tool_calls',
  'logit_bias',
  'metadata',
] as const;
const KNOWN = new Set<string>(['model', 'messages', 'max_tokens', 'max_completion_tokens', 'stream', 'stream_options', 'n', ...PASSED_THROUGH]);
const ROLES = new Set(['system', 'developer', 'user', 'assistant', 'tool', 'function']);
const MAX_MESSAGES = 2_000;

export interface ChatRequest {
  readonly model: ModelEntry;
  /** The body the provider gets, but for `model` (the upstream's name, set by the executor). */
  readonly upstream: Readonly<Record<string, unknown>>;
  readonly max_tokens: number;
  readonly stream: boolean;
  readonly messages: number;
  /** An upper bound of the prompt's tokens: the UTF-8 bytes of its messages and tool declarations (a token is at least one byte). */
  readonly prompt_tokens_max: number;
}

function invalid(field: string, rule: string, message: string): WritError {
  return new WritError('REQUEST_INVALID', `${field}: ${message}`, { field, rule });
}

/** Checks a chat completion request; `override` routes it to another model of the catalogue (degradation). */
export function parseChatRequest(body: unknown, catalogue: ModelCatalogue, override?: ModelEntry): ChatRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw invalid('body', 'type', 'must be a JSON object');
  const raw = body as Record<string, unknown>;
  for (const key of Object.keys(raw)) {
    if (!KNOWN.has(key)) throw invalid(key, 'additionalProperties', `is not supported by Writ's model proxy (supported: ${[...KNOWN].join(', ')})`);
  }
  if (typeof raw['model'] !== 'string' || raw['model'] === '') throw invalid('model', 'required', 'must be a non-empty string');
  const requested = catalogue.models.get(raw['model']);
  if (requested === undefined) {
    throw new WritError('MODEL_UNKNOWN', `model: no model "${raw['model']}" (GET /v1/models lists them)`, { field: 'model', rule: 'enum' });
  }
  const model = override ?? requested;
  const messages = raw['messages'];
  if (!Array.isArray(messages) || messages.length === 0)
    throw invalid('messages', messages === undefined ? 'required' : 'minItems', 'must be a non-empty array');
  if (messages.length > MAX_MESSAGES) throw invalid('messages', 'maxItems', `must have at most ${MAX_MESSAGES} items`);
  messages.forEach((message: unknown, index) => {
    const field = `messages[${index}]`;
    if (typeof message !== 'object' || message === null || Array.isArray(message)) throw invalid(field, 'type', 'must be an object');
    const m = message as Record<string, unknown>;
    if (typeof m['role'] !== 'string' || !ROLES.has(m['role'])) throw invalid(`${field}.role`, 'enum', `must be one of ${[...ROLES].join(', ')}`);
    const content = m['content'];
    if (content !== null && content !== undefined && typeof content !== 'string' && !Array.isArray(content)) {
      throw invalid(`${field}.content`, 'type', 'must be a string, an array of parts or null');
    }
  });
  const maxField = raw['max_completion_tokens'] !== undefined ? 'max_completion_tokens' : 'max_tokens';
  const asked = raw[maxField];
  if (asked !== undefined && (typeof asked !== 'number' || !Number.isSafeInteger(asked) || asked < 1))
    throw invalid(maxField, 'minimum', 'must be a whole number of at least 1');
  if (typeof asked === 'number' && asked > requested.max_output_tokens) {
    throw invalid(maxField, 'maximum', `must be at most ${requested.max_output_tokens}, the most ${requested.id} may produce`);
  }
  const maxTokens = Math.min(typeof asked === 'number' ? asked : requested.max_output_tokens, model.max_output_tokens);
  if (raw['stream'] !== undefined && typeof raw['stream'] !== 'boolean') throw invalid('stream', 'type', 'must be a boolean');
  const stream = raw['stream'] === true;
  // n > 1 multiplies the output: one choice per call keeps the reservation honest.
  if (raw['n'] !== undefined && raw['n'] !== 1) throw invalid('n', 'const', 'must be 1 (one choice per call)');
  const passed: Record<string, unknown> = {};
  for (const key of PASSED_THROUGH) if (raw[key] !== undefined) passed[key] = raw[key];
  const promptBytes = Buffer.byteLength(canonicalJson({ messages, tools: raw['tools'] ?? null }), 'utf8');
  if (promptBytes > model.context_tokens * 8)
    throw invalid('messages', 'maxLength', `are too large for ${model.id} (${model.context_tokens} tokens of context)`);
  return {
    model,
    upstream: {
      ...passed,
      messages,
      max_tokens: maxTokens,
      stream,
      // The usage of a stream comes in its last chunk only when asked for.
      ...(stream ? { stream_options: { include_usage: true } } : {}),
    },
    max_tokens: maxTokens,
    stream,
    messages: messages.length,
    prompt_tokens_max: Math.min(promptBytes, model.context_tokens),
  };
}

/** The sha256 of the canonical JSON of what the provider gets (the executor checks the body it is handed against it). */
export function upstreamDigest(upstream: Readonly<Record<string, unknown>>): string {
  return sha256Hex(canonicalJson(upstream));
}

/** The proposal's arguments (the model's tool contract, tools.ts): sizes and digests, never the prompt. */
export function proposalArguments(request: ChatRequest, callId: string): Record<string, unknown> {
  return {
    model: request.model.id,
    call_id: callId,
    request_sha256: upstreamDigest(request.upstream),
    messages: request.messages,
    prompt_tokens_max: request.prompt_tokens_max,
    max_tokens: request.max_tokens,
    stream: request.stream,
  };
}
