// Each model of the catalogue as a metered tool of the registry: the arguments are what policies
// and budgets need to decide a call (model, digests, sizes, limits), never the prompt itself; the
// cost is reserved from the call's prompt size and max_tokens and settled at the tokens used; the
// endpoint's `#writ-model=` fragment makes the executor call the provider through model-call.ts.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkToolDefinition, tokenCostMicros } from '@writ/tools';
import type { ToolDefinition } from '@writ/tools';
import type { ModelCatalogue, ModelEntry } from './catalogue.ts';
import { modelToolName } from './catalogue.ts';

const MARKER = 'writ-model=';

/** The registry URL of a model: its provider's chat completions endpoint, marked with the provider's model name for the executor. */
export function modelEndpointUrl(baseUrl: string, upstreamModel: string): string {
  return `${baseUrl}/chat/completions#${MARKER}${encodeURIComponent(upstreamModel)}`;
}

/** The provider URL and its model name of a URL made by modelEndpointUrl; undefined for any other URL. */
export function modelTargetOf(url: string): { readonly url: string; readonly model: string } | undefined {
  const at = url.indexOf(`#${MARKER}`);
  if (at < 0) return undefined;
  const model = decodeURIComponent(url.slice(at + 1 + MARKER.length));
  return model === '' ? undefined : { url: url.slice(0, at), model };
}

/** The most a call of the model can cost: a full context and the most output tokens. */
export function modelMaxCostMicros(model: ModelEntry): number {
  return tokenCostMicros(
    {
      input_micros_per_million: model.input_micros_per_million,
      output_micros_per_million: model.output_micros_per_million,
      reserve: { input: '', output: '' },
      usage: { input: '', output: '' },
    },
    model.context_tokens,
    model.max_output_tokens,
  );
}

/** The registry definition of one model (checked as the registry checks its files). */
export function modelToolDefinition(catalogue: ModelCatalogue, model: ModelEntry): ToolDefinition {
  const provider = catalogue.providers[model.provider];
  const max = modelMaxCostMicros(model);
  const definition = {
    name: modelToolName(model.id),
    version: model.version,
    description: `Chat completion with ${model.id} (${model.tier} tier; ${model.provider}'s ${model.upstream_model}), through Writ's model proxy.`,
    // A model call changes nothing in the world: it is governed for who may use which model and what it costs.
    effect: 'read',
    risk: 'low',
    arguments: {
      type: 'object',
      additionalProperties: false,
      required: ['model', 'call_id', 'request_sha256', 'messages', 'prompt_tokens_max', 'max_tokens', 'stream'],
      properties: {
        model: { const: model.id },
        call_id: { type: 'string', pattern: '^[0-9a-f-]{36}$' },
        request_sha256: { type: 'string', pattern: '^[0-9a-f]{64}$' },
        messages: { type: 'integer', minimum: 1 },
        prompt_tokens_max: { type: 'integer', minimum: 0, maximum: model.context_tokens },
        max_tokens: { type: 'integer', minimum: 1, maximum: model.max_output_tokens },
        stream: { type: 'boolean' },
      },
    },
    result: { type: 'object' },
    cost: {
      micros: max,
      max_micros: max,
      currency: model.currency,
      tokens: {
        input_micros_per_million: model.input_micros_per_million,
        output_micros_per_million: model.output_micros_per_million,
        reserve: { input: 'prompt_tokens_max', output: 'max_tokens' },
        usage: { input: 'usage.prompt_tokens', output: 'usage.completion_tokens' },
      },
    },
    timeout_ms: model.timeout_ms,
    // Never retried: a stream already relayed cannot be sent twice, and a provider bills every attempt.
    retry: { max_attempts: 1, initial_backoff_ms: 0, max_backoff_ms: 0 },
    idempotent: false,
    endpoint: { method: 'POST', url: modelEndpointUrl(provider?.base_url ?? '', model.upstream_model) },
    ...(provider?.credential === undefined ? {} : { credential: provider.credential }),
  };
  return checkToolDefinition(definition, `${definition.name}@${definition.version}.json (models.${model.id})`);
}

/** Every model's tool definition. */
export function modelToolDefinitions(catalogue: ModelCatalogue): ToolDefinition[] {
  return [...catalogue.models.values()].map((model) => modelToolDefinition(catalogue, model));
}

/** Writes one registry file per model into `dir` (`<tool>@<version>.json`); returns the paths. */
export function writeModelTools(catalogue: ModelCatalogue, dir: string): string[] {
  mkdirSync(dir, { recursive: true });
  return modelToolDefinitions(catalogue).map((tool) => {
    const path = join(dir, `${tool.name}@${tool.version}.json`);
    writeFileSync(path, `${JSON.stringify(tool, null, 2)}\n`);
    return path;
  });
}
