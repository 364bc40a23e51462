// Redaction guided by the tool's schemas: a value whose schema node says "x-writ-sensitive": true is
// replaced by "[redacted]" wherever it sits (nested objects, arrays, allOf/anyOf/oneOf, local $refs).
import { canonicalJson } from '@writ/crypto';
import { WritError } from '@writ/errors';
import type { JsonSchema, ToolDefinition } from './definition.ts';
import { SENSITIVE_KEYWORD } from './schema.ts';
import { isRecord, replaceAt, sensitivePaths } from './sensitive-paths.ts';

export const REDACTED = '[redacted]';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

function redactWith(schema: JsonSchema, value: unknown): unknown {
  return sensitivePaths(schema, value).reduce((current, path) => replaceAt(current, path, () => REDACTED), value);
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
  return redactWith(tool.arguments, args);
}

/**
 * A copy of a tool result with its sensitive fields replaced by "[redacted]": those the result
 * schema marks, and, wherever they appear, fields named like a sensitive argument (a tool that
 * echoes a card number back must not leak it through its result).
 */
export function redactResult(tool: Pick<ToolDefinition, 'arguments' | 'result'>, result: unknown): unknown {
  const marked = tool.result === undefined ? result : redactWith(tool.result, result);
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
