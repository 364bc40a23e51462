// The tool registry: one JSON file per tool version in a folder, each checked in full at load time
// (shape, argument schema compiles, placeholders name real arguments) so a bad file stops the
// service at boot with the file and the field, never at the first call.
import { readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { WritError } from '@writ/errors';
import type { ToolDefinition } from './definition.ts';
import { compareVersions } from './definition.ts';
import { destinationDeclarationProblem } from './destinations.ts';
import { createSchemaCompiler, pointerToPath, validatorFor } from './schema.ts';

export interface ToolRegistry {
  /** The folder the registry was loaded from (absolute). */
  readonly dir: string;
  /** One version of a tool, the highest one when `version` is omitted; undefined when unknown. */
  get(name: string, version?: string): ToolDefinition | undefined;
  /** Every tool version, sorted by name then version. */
  list(): readonly ToolDefinition[];
}

const NAME = '^[a-z][a-z0-9_]*(\\.[a-z][a-z0-9_]*)+$';
const VERSION = '^(0|[1-9]\\d*)\\.(0|[1-9]\\d*)\\.(0|[1-9]\\d*)$';
const ENV_NAME = '^[A-Z_][A-Z0-9_]*$';
/** A minted token's audience: a name or a URL, without spaces. */
const AUDIENCE = '^[A-Za-z0-9][A-Za-z0-9._:/-]{0,199}$';

const DOTTED_PATH = '^[A-Za-z0-9_]+(\\.[A-Za-z0-9_]+)*$';
const TOKEN_PATHS = {
  type: 'object',
  additionalProperties: false,
  required: ['input', 'output'],
  properties: { input: { type: 'string', pattern: DOTTED_PATH }, output: { type: 'string', pattern: DOTTED_PATH } },
} as const;

const DEFINITION_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'version', 'description', 'effect', 'risk', 'arguments', 'cost', 'timeout_ms', 'retry', 'idempotent', 'endpoint'],
  properties: {
    $schema: { type: 'string' },
    name: { type: 'string', pattern: NAME },
    version: { type: 'string', pattern: VERSION },
    description: { type: 'string', minLength: 1 },
    effect: { enum: ['read', 'write', 'destructive'] },
    risk: { enum: ['low', 'medium', 'high'] },
    arguments: { type: 'object' },
    result: { type: 'object' },
    cost: {
      type: 'object',
      additionalProperties: false,
      required: ['micros', 'currency'],
      properties: {
        micros: { type: 'integer', minimum: 0 },
        max_micros: { type: 'integer', minimum: 0 },
        actual: { type: 'string', pattern: '^[A-Za-z0-9_]+(\\.[A-Za-z0-9_]+)*$' },
        currency: { type: 'string', pattern: '^[A-Z]{3}$' },
        tokens: {
          type: 'object',
          additionalProperties: false,
          required: ['input_micros_per_million', 'output_micros_per_million', 'reserve', 'usage'],
          properties: {
            input_micros_per_million: { type: 'integer', minimum: 0 },
            output_micros_per_million: { type: 'integer', minimum: 0 },
            reserve: TOKEN_PATHS,
            usage: TOKEN_PATHS,
          },
        },
      },
    },
    timeout_ms: { type: 'integer', minimum: 1, maximum: 600000 },
    retry: {
      type: 'object',
      additionalProperties: false,
      required: ['max_attempts', 'initial_backoff_ms', 'max_backoff_ms'],
      properties: {
        max_attempts: { type: 'integer', minimum: 1, maximum: 10 },
        initial_backoff_ms: { type: 'integer', minimum: 0 },
        max_backoff_ms: { type: 'integer', minimum: 0 },
      },
    },
    idempotent: { type: 'boolean' },
    endpoint: {
      type: 'object',
      additionalProperties: false,
      required: ['method', 'url'],
      properties: { method: { enum: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] }, url: { type: 'string', minLength: 1 } },
    },
    credential: {
      oneOf: [
        { type: 'object', additionalProperties: false, required: ['env'], properties: { env: { type: 'string', pattern: ENV_NAME } } },
        { type: 'object', additionalProperties: false, required: ['file'], properties: { file: { type: 'string', minLength: 1 } } },
        {
          type: 'object',
          additionalProperties: false,
          required: ['mint'],
          properties: {
            mint: {
              type: 'object',
              additionalProperties: false,
              required: ['audience'],
              properties: { audience: { type: 'string', pattern: AUDIENCE } },
            },
          },
        },
      ],
    },
    side_effect_refs: { type: 'array', items: { type: 'string', minLength: 1 } },
    verify: {
      type: 'object',
      additionalProperties: false,
      required: ['method', 'url'],
      properties: { method: { const: 'GET' }, url: { type: 'string', minLength: 1 } },
    },
    // Checked in full by destinations.ts (argument paths, host entries), naming the entry at fault.
    destinations: { type: 'object' },
  },
} as const;

const validateDefinition = createSchemaCompiler().compile(DEFINITION_SCHEMA);

function invalid(file: string, field: string, rule: string, why: string, cause?: unknown): WritError {
  return new WritError('TOOL_REGISTRY_INVALID', `tool registry file ${file}: ${field === '' ? '' : `${field} `}${why}`, {
    field: field === '' ? file : field,
    rule,
    cause,
    details: { file },
  });
}

function placeholders(url: string): string[] {
  const withoutEnv = url.replace(/\$\{[^}]*\}/g, '');
  return [...withoutEnv.matchAll(/\{([A-Za-z0-9_.]+)\}/g)].map((m) => m[1] ?? '');
}

/** Checks one parsed registry file; returns the definition or throws TOOL_REGISTRY_INVALID. */
export function checkToolDefinition(value: unknown, file: string): ToolDefinition {
  if (!validateDefinition(value)) {
    const first = validateDefinition.errors?.[0];
    const params = (first?.params ?? {}) as Record<string, unknown>;
    const base = pointerToPath(first?.instancePath ?? '');
    const extra = typeof params['missingProperty'] === 'string' ? params['missingProperty'] : params['additionalProperty'];
    const field = typeof extra === 'string' ? (base === '' ? extra : `${base}.${extra}`) : base;
    const why =
      first?.keyword === 'additionalProperties' ? 'is not a known field' : first?.keyword === 'required' ? 'is required' : (first?.message ?? 'is invalid');
    throw invalid(file, field, first?.keyword ?? 'schema', why);
  }
  const tool = value as unknown as ToolDefinition;
  if (tool.arguments['type'] !== 'object') throw invalid(file, 'arguments.type', 'type', 'must be "object"');
  for (const [field, schema] of [
    ['arguments', tool.arguments],
    ['result', tool.result],
  ] as const) {
    if (schema === undefined) continue;
    try {
      validatorFor(schema);
    } catch (cause) {
      throw invalid(file, field, 'json-schema', `is not a valid JSON Schema 2020-12: ${(cause as Error).message}`, cause);
    }
  }
  if (tool.cost.max_micros !== undefined && tool.cost.max_micros < tool.cost.micros) {
    throw invalid(file, 'cost.max_micros', 'minimum', 'must be at least cost.micros (the expected cost cannot exceed the maximum)');
  }
  if (tool.cost.tokens !== undefined && tool.cost.max_micros === undefined) {
    throw invalid(file, 'cost.max_micros', 'required', 'is required when cost.tokens is set (charged when a result reports no usage)');
  }
  if (tool.cost.tokens !== undefined && tool.cost.actual !== undefined) {
    throw invalid(file, 'cost.actual', 'exclusive', 'cannot be set with cost.tokens (a metered tool is settled at the tokens it used)');
  }
  if (tool.cost.actual !== undefined && tool.cost.max_micros === undefined) {
    throw invalid(file, 'cost.max_micros', 'required', 'is required when cost.actual is set (a reported cost needs a declared maximum to reserve)');
  }
  if (tool.retry.max_backoff_ms < tool.retry.initial_backoff_ms) {
    throw invalid(file, 'retry.max_backoff_ms', 'minimum', 'must be at least retry.initial_backoff_ms');
  }
  const properties = (tool.arguments['properties'] ?? {}) as Record<string, unknown>;
  const required = new Set((tool.arguments['required'] ?? []) as string[]);
  for (const name of placeholders(tool.endpoint.url)) {
    if (!Object.hasOwn(properties, name) || !required.has(name)) {
      throw invalid(file, 'endpoint.url', 'placeholder', `uses {${name}}, which must be a required argument`);
    }
  }
  if (!/^(\$\{[A-Z_][A-Z0-9_]*(:-[^}]*)?\}|https?:\/\/)/.test(tool.endpoint.url)) {
    throw invalid(file, 'endpoint.url', 'url', 'must start with http://, https:// or ${VAR}');
  }
  const destinations = destinationDeclarationProblem(tool);
  if (destinations !== undefined) throw invalid(file, destinations.field, destinations.rule, destinations.why);
  return tool;
}

class FolderRegistry implements ToolRegistry {
  readonly dir: string;
  readonly #byName = new Map<string, ToolDefinition[]>();

  // No parameter properties: the demo helpdesk loads this file with Node's type stripping.
  constructor(dir: string, tools: readonly ToolDefinition[]) {
    this.dir = dir;
    for (const tool of tools) {
      const versions = this.#byName.get(tool.name) ?? [];
      versions.push(tool);
      this.#byName.set(tool.name, versions);
    }
    for (const versions of this.#byName.values()) versions.sort((a, b) => compareVersions(a.version, b.version));
  }

  get(name: string, version?: string): ToolDefinition | undefined {
    const versions = this.#byName.get(name);
    if (versions === undefined) return undefined;
    return version === undefined ? versions.at(-1) : versions.find((tool) => tool.version === version);
  }

  list(): readonly ToolDefinition[] {
    return [...this.#byName.keys()].sort().flatMap((name) => this.#byName.get(name) ?? []);
  }
}

/** A registry over definitions already in memory (tests, generated registries); checked like files. */
export function createToolRegistry(tools: readonly unknown[], dir = '(memory)'): ToolRegistry {
  const checked: ToolDefinition[] = [];
  const seen = new Map<string, string>();
  tools.forEach((value, index) => {
    const source = `${dir}#${index}`;
    const tool = checkToolDefinition(value, source);
    const ref = `${tool.name}@${tool.version}`;
    const earlier = seen.get(ref);
    if (earlier !== undefined) throw invalid(source, 'version', 'unique', `${ref} is also declared in ${earlier}`);
    seen.set(ref, source);
    checked.push(tool);
  });
  return new FolderRegistry(dir, checked);
}

/**
 * Loads every `*.json` file of a folder (not recursive) as one tool version. Any invalid file,
 * or two files declaring the same name@version, throws TOOL_REGISTRY_INVALID naming the file and field.
 */
export function loadToolRegistry(dir: string = process.env['WRIT_TOOLS_DIR'] ?? 'tools'): ToolRegistry {
  const root = resolve(dir);
  let files: string[];
  try {
    files = readdirSync(root)
      .filter((name) => name.endsWith('.json'))
      .sort();
  } catch (cause) {
    throw new WritError('TOOL_REGISTRY_INVALID', `cannot read the tool registry folder ${root}`, {
      field: 'WRIT_TOOLS_DIR',
      rule: 'must be a readable folder of tool JSON files',
      cause,
      details: { dir: root },
    });
  }
  const tools: ToolDefinition[] = [];
  const seen = new Map<string, string>();
  for (const file of files) {
    const path = join(root, file);
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(path, 'utf8'));
    } catch (cause) {
      throw invalid(path, '', 'json', `is not valid JSON: ${(cause as Error).message}`, cause);
    }
    const tool = checkToolDefinition(parsed, path);
    const ref = `${tool.name}@${tool.version}`;
    const earlier = seen.get(ref);
    if (earlier !== undefined) throw invalid(path, 'version', 'unique', `${ref} is also declared in ${earlier}`);
    seen.set(ref, path);
    tools.push(tool);
  }
  return new FolderRegistry(root, tools);
}
