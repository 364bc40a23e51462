// The operator's models file (WRIT_MODELS_FILE, docs/model-proxy.md): providers (base URL and the
// credential the executor sends them) and models (upstream name, tier, price table, limits and the
// cheaper model a call is routed to under budget pressure). Each model becomes a metered tool in
// the registry (tools.ts), so contracts, Cedar policies and budgets see models as they see tools.
import { readFileSync } from 'node:fs';
import { fileFields } from '@writ/config';
import { WritError } from '@writ/errors';
import type { CredentialSource } from '@writ/config';

export interface ModelProvider {
  /** OpenAI-compatible base URL, e.g. "https://api.openai.com/v1" (`${VAR}` / `${VAR:-default}` expanded by the executor). */
  readonly base_url: string;
  /** The provider's API key: an environment variable or a file the executor reads (never an event). */
  readonly credential?: CredentialSource;
}

export interface ModelEntry {
  /** The id clients send as `model` (lower case, digits, `.`, `-`, `_`). */
  readonly id: string;
  readonly provider: string;
  /** The provider's own model name. */
  readonly upstream_model: string;
  /** A label for the model's price class, e.g. "large", "small". */
  readonly tier: string;
  readonly currency: string;
  readonly input_micros_per_million: number;
  readonly output_micros_per_million: number;
  /** The largest prompt, in tokens, a call may send. */
  readonly context_tokens: number;
  /** The most output tokens a call may ask for (and the default `max_tokens`). */
  readonly max_output_tokens: number;
  /** A cheaper model a call is routed to when the budget refuses this one (docs/model-proxy.md, "Degradation"). */
  readonly degrade_to?: string;
  readonly timeout_ms: number;
  /** The registry version of the model's tool. */
  readonly version: string;
}

export interface ModelCatalogue {
  readonly providers: Readonly<Record<string, ModelProvider>>;
  /** By model id. */
  readonly models: ReadonlyMap<string, ModelEntry>;
}

const MODEL_ID = /^[a-z][a-z0-9._-]{0,63}$/;
const PROVIDER_NAME = /^[a-z][a-z0-9_-]{0,62}$/;
const VERSION = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$/;

const { invalid, object, string, integer, credential: credentialOf } = fileFields('models file');

/** Checks a parsed models file; throws CONFIG_INVALID naming the field and the rule. */
export function parseModelCatalogue(value: unknown): ModelCatalogue {
  const file = object(value, '(models file)', ['$comment', 'providers', 'models']);
  const providers: Record<string, ModelProvider> = {};
  for (const [name, raw] of Object.entries(object(file['providers'], 'providers'))) {
    const field = `providers.${name}`;
    if (!PROVIDER_NAME.test(name)) throw invalid(field, 'pattern', `name must match ${PROVIDER_NAME.source}`);
    const p = object(raw, field, ['base_url', 'credential']);
    const baseUrl = string(p['base_url'], `${field}.base_url`);
    if (!/^(\$\{[A-Z_][A-Z0-9_]*(:-[^}]*)?\}|https?:\/\/)/.test(baseUrl))
      throw invalid(`${field}.base_url`, 'url', 'must start with http://, https:// or ${VAR}');
    const credential = credentialOf(p['credential'], `${field}.credential`);
    providers[name] = { base_url: baseUrl.replace(/\/+$/, ''), ...(credential === undefined ? {} : { credential }) };
  }
  const models = new Map<string, ModelEntry>();
  const toolNames = new Map<string, string>();
  for (const [id, raw] of Object.entries(object(file['models'], 'models'))) {
    const field = `models.${id}`;
    if (!MODEL_ID.test(id)) throw invalid(field, 'pattern', `id must match ${MODEL_ID.source}`);
    const m = object(raw, field, [
      'provider',
      'upstream_model',
      'tier',
      'currency',
      'input_micros_per_million',
      'output_micros_per_million',
      'context_tokens',
      'max_output_tokens',
      'degrade_to',
      'timeout_ms',
      'version',
    ]);
    const provider = string(m['provider'], `${field}.provider`);
    if (providers[provider] === undefined) throw invalid(`${field}.provider`, 'reference', `names no provider of the file ("${provider}")`);
    const tool = modelToolName(id);
    const clash = toolNames.get(tool);
    if (clash !== undefined) throw invalid(field, 'unique', `has the same tool name ${tool} as models.${clash}`);
    toolNames.set(tool, id);
    models.set(id, {
      id,
      provider,
      upstream_model: string(m['upstream_model'], `${field}.upstream_model`),
      tier: string(m['tier'], `${field}.tier`),
      currency: string(m['currency'], `${field}.currency`, /^[A-Z]{3}$/),
      input_micros_per_million: integer(m['input_micros_per_million'], `${field}.input_micros_per_million`, 0),
      output_micros_per_million: integer(m['output_micros_per_million'], `${field}.output_micros_per_million`, 0),
      context_tokens: integer(m['context_tokens'], `${field}.context_tokens`, 1, 10_000_000),
      max_output_tokens: integer(m['max_output_tokens'], `${field}.max_output_tokens`, 1, 1_000_000),
      ...(m['degrade_to'] === undefined ? {} : { degrade_to: string(m['degrade_to'], `${field}.degrade_to`) }),
      timeout_ms: m['timeout_ms'] === undefined ? 120_000 : integer(m['timeout_ms'], `${field}.timeout_ms`, 1, 600_000),
      version: m['version'] === undefined ? '1.0.0' : string(m['version'], `${field}.version`, VERSION),
    });
  }
  for (const model of models.values()) {
    if (model.degrade_to === undefined) continue;
    const target = models.get(model.degrade_to);
    const field = `models.${model.id}.degrade_to`;
    if (target === undefined) throw invalid(field, 'reference', `names no model of the file ("${model.degrade_to}")`);
    if (target.currency !== model.currency) throw invalid(field, 'currency', `must be priced in ${model.currency}, like the model it replaces`);
    // A chain of degradations must end: each step strictly cheaper per output token.
    if (target.output_micros_per_million >= model.output_micros_per_million) {
      throw invalid(field, 'cheaper', `must name a model whose output tokens cost less than ${model.id}'s`);
    }
  }
  return { providers, models };
}

/** Reads and checks the models file at `path`. */
export function loadModelCatalogue(path: string): ModelCatalogue {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (cause) {
    throw new WritError('CONFIG_INVALID', `models file ${path}: ${(cause as Error).message}`, {
      field: 'WRIT_MODELS_FILE',
      rule: 'must be a readable JSON file',
      cause,
    });
  }
  return parseModelCatalogue(parsed);
}

/** The registry name of a model's tool: policies name it Writ::Tool::"model.<id with . and - as _>". */
export function modelToolName(id: string): string {
  return `model.${id.replace(/[.-]/g, '_')}`;
}
