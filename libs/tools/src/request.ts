// How a tool call becomes an HTTP request, and how its result names side effects. Pure: the
// environment is passed in.
import { WritError } from '@writ/errors';
import type { HttpMethod, ToolDefinition } from './definition.ts';
import { reservedCostOf, tokenCostMicros, tokensAt } from './definition.ts';

export interface ToolHttpRequest {
  readonly method: HttpMethod;
  readonly url: string;
  /** JSON body (POST, PUT, PATCH), or undefined. */
  readonly body: string | undefined;
}

type Env = Readonly<Record<string, string | undefined>>;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function scalar(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return undefined;
}

/** Replaces `${VAR}` / `${VAR:-default}` with the environment's value; a missing variable without default is an error. */
export function expandEnv(template: string, env: Env, field = 'endpoint.url'): string {
  return template.replace(/\$\{([A-Z_][A-Z0-9_]*)(?::-([^}]*))?\}/g, (_match, name: string, fallback: string | undefined) => {
    const value = env[name];
    if (value !== undefined && value !== '') return value;
    if (fallback !== undefined) return fallback;
    throw new WritError('TOOL_ENDPOINT_UNRESOLVED', `${field} needs the environment variable ${name}`, {
      field: name,
      rule: 'must be set in the environment',
    });
  });
}

/** Fills `{arg}` placeholders; returns the url and the argument names it used. */
function fillPlaceholders(template: string, values: Record<string, unknown>, used: Set<string>): string {
  return template.replace(/\{([A-Za-z0-9_.]+)\}/g, (_match, name: string) => {
    const value = scalar(valueAt(values, name));
    if (value === undefined) {
      throw new WritError('TOOL_ARGUMENTS_INVALID', `the url needs {${name}}, a scalar value`, { field: name, rule: 'required' });
    }
    used.add(name);
    return encodeURIComponent(value);
  });
}

/** The HTTP request of one call: method, url with placeholders and query, JSON body. */
export function buildToolRequest(tool: Pick<ToolDefinition, 'endpoint'>, args: unknown, env: Env): ToolHttpRequest {
  const values = isRecord(args) ? args : {};
  const used = new Set<string>();
  const url = new URL(fillPlaceholders(expandEnv(tool.endpoint.url, env), values, used));
  const method = tool.endpoint.method;
  if (method === 'GET' || method === 'DELETE') {
    for (const [key, value] of Object.entries(values)) {
      if (used.has(key)) continue;
      if (Array.isArray(value)) {
        for (const item of value) {
          const text = scalar(item);
          if (text !== undefined) url.searchParams.append(key, text);
        }
      } else {
        const text = scalar(value);
        if (text !== undefined) url.searchParams.set(key, text);
      }
    }
    return { method, url: url.toString(), body: undefined };
  }
  return { method, url: url.toString(), body: JSON.stringify(values) };
}

/** The verification read-back request, or undefined when the tool declares none. */
export function buildVerifyRequest(tool: Pick<ToolDefinition, 'verify'>, args: unknown, result: unknown, env: Env): ToolHttpRequest | undefined {
  if (tool.verify === undefined) return undefined;
  const values: Record<string, unknown> = { ...(isRecord(args) ? args : {}), result };
  const url = fillPlaceholders(expandEnv(tool.verify.url, env, 'verify.url'), values, new Set());
  return { method: 'GET', url: new URL(url).toString(), body: undefined };
}

/** The value at a dotted path ("refund.id", "items.0.id"), or undefined. */
export function valueAt(value: unknown, path: string): unknown {
  let node: unknown = value;
  for (const part of path.split('.')) {
    if (Array.isArray(node) && /^\d+$/.test(part)) node = node[Number(part)];
    else if (isRecord(node) && Object.hasOwn(node, part)) node = node[part];
    else return undefined;
  }
  return node;
}

/**
 * What a call cost: the number at `cost.actual` in its result when the tool declares that path,
 * else the expected cost. A declared path without a whole, non-negative number in the result is a
 * cost nobody knows: the declared maximum is charged, and `reported` is false so the caller says so.
 */
export function actualCostOf(tool: Pick<ToolDefinition, 'cost'>, result: unknown): { readonly micros: number; readonly reported: boolean } {
  const tokens = tool.cost.tokens;
  if (tokens !== undefined) {
    const used = tokensAt(result, tokens.usage);
    return used === undefined
      ? { micros: reservedCostOf(tool), reported: false }
      : { micros: tokenCostMicros(tokens, used.input, used.output), reported: true };
  }
  if (tool.cost.actual === undefined) return { micros: tool.cost.micros, reported: true };
  const value = valueAt(result, tool.cost.actual);
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return { micros: value, reported: true };
  return { micros: reservedCostOf(tool), reported: false };
}

/** The side-effect references a result names, by the tool's `side_effect_refs` paths (scalars, or arrays of them). */
export function sideEffectRefs(tool: Pick<ToolDefinition, 'side_effect_refs'>, result: unknown): string[] {
  const refs: string[] = [];
  for (const path of tool.side_effect_refs ?? []) {
    const value = valueAt(result, path);
    for (const item of Array.isArray(value) ? value : [value]) {
      const text = scalar(item);
      if (text !== undefined && !refs.includes(text)) refs.push(text);
    }
  }
  return refs;
}
