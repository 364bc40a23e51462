// Redaction guided by the tool's schemas: a value whose schema node says "x-writ-sensitive": true is
// replaced by "[redacted]" wherever it sits (nested objects, arrays, allOf/anyOf/oneOf, local $refs).
import { canonicalJson } from '@writ/crypto';
import { WritError } from '@writ/errors';
import type { JsonSchema, ToolDefinition } from './definition.ts';
import { SENSITIVE_KEYWORD } from './schema.ts';

export const REDACTED = '[redacted]';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function resolveRef(root: JsonSchema, ref: string): unknown {
  if (!ref.startsWith('#/')) return undefined;
  let node: unknown = root;
  for (const raw of ref.slice(2).split('/')) {
    const part = raw.replaceAll('~1', '/').replaceAll('~0', '~');
    node = isRecord(node) ? node[part] : undefined;
  }
  return node;
}

function redactWith(root: JsonSchema, schema: unknown, value: unknown, depth: number): unknown {
  if (!isRecord(schema) || depth > 64) return value;
  if (schema[SENSITIVE_KEYWORD] === true) return REDACTED;
  let result = value;
  if (typeof schema['$ref'] === 'string') result = redactWith(root, resolveRef(root, schema['$ref']), result, depth + 1);
  for (const combinator of ['allOf', 'anyOf', 'oneOf'] as const) {
    const subs = schema[combinator];
    if (Array.isArray(subs)) for (const sub of subs) result = redactWith(root, sub, result, depth + 1);
  }
  if (Array.isArray(result)) {
    const prefix = Array.isArray(schema['prefixItems']) ? (schema['prefixItems'] as unknown[]) : [];
    return result.map((item, index) => redactWith(root, index < prefix.length ? prefix[index] : schema['items'], item, depth + 1));
  }
  if (isRecord(result)) {
    const properties = isRecord(schema['properties']) ? schema['properties'] : {};
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(result)) {
      const sub = Object.hasOwn(properties, key) ? properties[key] : schema['additionalProperties'];
      out[key] = redactWith(root, sub, item, depth + 1);
    }
    return out;
  }
  return result;
}

/** Property names marked sensitive anywhere in a schema. */
export function sensitiveNames(schema: JsonSchema | undefined): Set<string> {
  const names = new Set<string>();
  const visit = (node: unknown, name: string | undefined, depth: number): void => {
    if (depth > 64) return;
    if (Array.isArray(node)) {
      for (const item of node) visit(item, undefined, depth + 1);
      return;
    }
    if (!isRecord(node)) return;
    if (node[SENSITIVE_KEYWORD] === true && name !== undefined) names.add(name);
    for (const [key, sub] of Object.entries(node)) {
      if (key === 'properties' && isRecord(sub)) for (const [prop, subSchema] of Object.entries(sub)) visit(subSchema, prop, depth + 1);
      else visit(sub, undefined, depth + 1);
    }
  };
  visit(schema, undefined, 0);
  return names;
}

function redactNames(value: unknown, names: ReadonlySet<string>, depth = 0): unknown {
  if (names.size === 0 || depth > 64) return value;
  if (Array.isArray(value)) return value.map((item) => redactNames(item, names, depth + 1));
  if (!isRecord(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) out[key] = names.has(key) ? REDACTED : redactNames(item, names, depth + 1);
  return out;
}

/** A copy of the arguments with every sensitive field replaced by "[redacted]". */
export function redactArguments(tool: Pick<ToolDefinition, 'arguments'>, args: unknown): unknown {
  return redactWith(tool.arguments, tool.arguments, args, 0);
}

/**
 * A copy of a tool result with its sensitive fields replaced by "[redacted]": those the result
 * schema marks, and, wherever they appear, fields named like a sensitive argument (a tool that
 * echoes a card number back must not leak it through its result).
 */
export function redactResult(tool: Pick<ToolDefinition, 'arguments' | 'result'>, result: unknown): unknown {
  const marked = tool.result === undefined ? result : redactWith(tool.result, tool.result, result, 0);
  return redactNames(marked, sensitiveNames(tool.arguments));
}

/**
 * Redacts a JSON text and returns canonical JSON. `part` says what the text is: the tool's
 * result (default; what ActionExecuted.result_json carries) or its arguments (ExecutionRequested.arguments_json).
 */
export function redactJson(tool: Pick<ToolDefinition, 'arguments' | 'result'>, json: string, part: 'result' | 'arguments' = 'result'): string {
  let value: Json;
  try {
    value = JSON.parse(json) as Json;
  } catch (cause) {
    throw new WritError('JSON_INVALID', `${part} is not valid JSON`, { field: part, rule: 'must be JSON', cause });
  }
  return canonicalJson(part === 'result' ? redactResult(tool, value) : redactArguments(tool, value));
}
