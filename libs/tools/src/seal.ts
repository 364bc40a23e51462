// Sealing guided by the tool's argument schema: every value at a place marked "x-writ-sensitive"
// is replaced by a sealed value (`@writ/crypto` TenantDataKey) at the gateway and opened again by
// the executor just before the call. The place's JSON path ($.card_last4, $.notes[0].pin) is bound
// into the ciphertext, so a sealed value cannot be moved to another field.
import { isSealedValue } from '@writ/crypto';
import type { SealedValue } from '@writ/crypto';
import { WritError } from '@writ/errors';
import type { JsonSchema, ToolDefinition } from './definition.ts';
import { REDACTED } from './redact.ts';
import { isRecord, jsonPath, replaceAt, sensitivePaths } from './sensitive-paths.ts';
import { SENSITIVE_KEYWORD, validateArguments } from './schema.ts';
import type { ArgumentCheck } from './schema.ts';

/** Whether a tool declares any sensitive field, in its arguments or its result. */
export function hasSensitiveFields(tool: Pick<ToolDefinition, 'arguments' | 'result'>): boolean {
  const marked = (node: unknown, depth: number): boolean => {
    if (depth > 64) return false;
    if (Array.isArray(node)) return node.some((item) => marked(item, depth + 1));
    if (!isRecord(node)) return false;
    return node[SENSITIVE_KEYWORD] === true || Object.values(node).some((sub) => marked(sub, depth + 1));
  };
  return marked(tool.arguments, 0) || marked(tool.result, 0);
}

/** Whether these (validated, clear) arguments hold a value at a sensitive place. */
export function hasSensitiveArguments(tool: Pick<ToolDefinition, 'arguments'>, args: unknown): boolean {
  return sensitivePaths(tool.arguments, args).length > 0;
}

/** A copy of validated clear arguments with each sensitive value replaced by `seal(value, path)`. */
export function sealArguments(tool: Pick<ToolDefinition, 'arguments'>, args: unknown, seal: (value: unknown, path: string) => SealedValue): unknown {
  return sensitivePaths(tool.arguments, args).reduce((current, path) => replaceAt(current, path, (value) => seal(value, jsonPath(path))), args);
}

/**
 * A copy of sealed arguments with each sensitive value opened by `open(sealed, path)`. A clear
 * value where the schema asks for a sealed one is refused (SENSITIVE_NOT_SEALED): it did not come
 * through the gateway, and must not be acted on.
 */
export function unsealArguments(tool: Pick<ToolDefinition, 'arguments'>, args: unknown, open: (sealed: SealedValue, path: string) => unknown): unknown {
  return sensitivePaths(tool.arguments, args).reduce(
    (current, path) =>
      replaceAt(current, path, (value) => {
        const at = jsonPath(path);
        if (!isSealedValue(value)) {
          throw new WritError('SENSITIVE_NOT_SEALED', `arguments${at.slice(1)} is marked sensitive but is not sealed`, {
            field: `arguments${at.slice(1)}`,
            rule: 'a sensitive argument must be sealed by the gateway ({"$sealed", "hmac"})',
          });
        }
        return open(value, at);
      }),
    args,
  );
}

/** Every string a value holds (numbers and booleans as their text), the value itself included. */
function leafTexts(value: unknown, out: string[], depth = 0): void {
  if (depth > 64) return;
  if (typeof value === 'string') out.push(value);
  else if (typeof value === 'number' || typeof value === 'bigint') out.push(String(value));
  else if (Array.isArray(value)) for (const item of value) leafTexts(item, out, depth + 1);
  else if (isRecord(value)) for (const item of Object.values(value)) leafTexts(item, out, depth + 1);
}

/** The texts of the clear values at sensitive places of some arguments (to scrub them out of tool answers). */
export function sensitiveTexts(tool: Pick<ToolDefinition, 'arguments'>, clearArgs: unknown): string[] {
  const out: string[] = [];
  for (const path of sensitivePaths(tool.arguments, clearArgs)) {
    let node: unknown = clearArgs;
    for (const segment of path) node = Array.isArray(node) || isRecord(node) ? (node as Record<string | number, unknown>)[segment] : undefined;
    leafTexts(node, out);
  }
  return out;
}

/** Shorter secrets are not scrubbed out of free text (a "7" would mangle every message); see docs/security/sensitive-data.md. */
export const MIN_SCRUB_LENGTH = 4;

/**
 * A scrubber that replaces every occurrence of the given secrets (clear sensitive values, the
 * tool's credential) by "[redacted]", in text and in every string of a JSON value.
 */
export function scrubberOf(secrets: readonly (string | undefined)[]): { text(value: string): string; json(value: unknown): unknown } {
  const needles = [...new Set(secrets.filter((s): s is string => s !== undefined && s.length >= MIN_SCRUB_LENGTH))].sort((a, b) => b.length - a.length);
  const text = (value: string): string => needles.reduce((current, needle) => current.split(needle).join(REDACTED), value);
  const json = (value: unknown, depth = 0): unknown => {
    if (needles.length === 0 || depth > 64) return value;
    if (typeof value === 'string') return text(value);
    if (typeof value === 'number' && needles.includes(String(value))) return REDACTED;
    if (Array.isArray(value)) return value.map((item) => json(item, depth + 1));
    if (isRecord(value)) return Object.fromEntries(Object.entries(value).map(([key, item]) => [text(key), json(item, depth + 1)]));
    return value;
  };
  return { text, json: (value) => json(value) };
}

/** What a sealed value looks like on the wire, for validating arguments as they travel. */
const SEALED_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['$sealed', 'hmac'],
  properties: { $sealed: { type: 'string', pattern: '^v1\\.[0-9a-f]{16}\\.[A-Za-z0-9_-]+$' }, hmac: { type: 'string', pattern: '^[0-9a-f]{64}$' } },
} as const;

const sealedSchemas = new WeakMap<object, JsonSchema>();

function sealedSchemaOf(schema: JsonSchema): JsonSchema {
  const known = sealedSchemas.get(schema);
  if (known !== undefined) return known;
  const rewrite = (node: unknown, depth: number): unknown => {
    if (depth > 64) return node;
    if (Array.isArray(node)) return node.map((item) => rewrite(item, depth + 1));
    if (!isRecord(node)) return node;
    if (node[SENSITIVE_KEYWORD] === true) return SEALED_SCHEMA;
    return Object.fromEntries(
      Object.entries(node)
        .filter(([key]) => key !== '$id')
        .map(([key, sub]) => [key, rewrite(sub, depth + 1)]),
    );
  };
  const sealed = rewrite(schema, 0) as JsonSchema;
  sealedSchemas.set(schema, sealed);
  return sealed;
}

/**
 * Validates arguments as they travel after the gateway: every sensitive place holds a sealed
 * value, every other place satisfies the tool's schema. (The clear values are validated by the
 * gateway before sealing and by the executor after opening.)
 */
export function validateSealedArguments(tool: Pick<ToolDefinition, 'arguments'>, args: unknown): ArgumentCheck {
  return validateArguments({ arguments: sealedSchemaOf(tool.arguments) }, args);
}
