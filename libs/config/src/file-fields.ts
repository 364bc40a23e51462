// Readers of an operator's JSON file (the models file, the MCP upstreams file): each field checked
// as it is read, and a bad one refused with CONFIG_INVALID naming the file, the field and the rule.
import { WritError } from '@writ/errors';

type Json = Record<string, unknown>;

/** A secret the executor reads when it calls: an environment variable or a file (never in the file itself). */
export type CredentialSource = { readonly env: string } | { readonly file: string };

const ENV_NAME = /^[A-Z_][A-Z0-9_]*$/;

export interface FileFields {
  invalid(field: string, rule: string, why: string): WritError;
  /** An object; with `allowed`, no other keys. */
  object(value: unknown, field: string, allowed?: readonly string[]): Json;
  /** A non-empty string, matching `pattern` when given. */
  string(value: unknown, field: string, pattern?: RegExp): string;
  /** A safe integer from `min` to `max`. */
  integer(value: unknown, field: string, min: number, max?: number): number;
  oneOf<T extends string>(value: unknown, field: string, allowed: readonly T[]): T;
  /** `{ env }` or `{ file }`, exactly one; undefined when absent. */
  credential(value: unknown, field: string): CredentialSource | undefined;
}

/** The readers of one file; `file` names it in every message (e.g. "models file"). */
export function fileFields(file: string): FileFields {
  const invalid = (field: string, rule: string, why: string): WritError => new WritError('CONFIG_INVALID', `${file}: ${field} ${why}`, { field, rule });
  const object = (value: unknown, field: string, allowed?: readonly string[]): Json => {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid(field, 'type', 'must be an object');
    const unknown = allowed === undefined ? undefined : Object.keys(value).find((key) => !allowed.includes(key));
    if (unknown !== undefined && allowed !== undefined)
      throw invalid(`${field}.${unknown}`, 'additionalProperties', `is not a known field (known: ${allowed.join(', ')})`);
    return value as Json;
  };
  const string = (value: unknown, field: string, pattern?: RegExp): string => {
    if (typeof value !== 'string' || value.trim() === '') throw invalid(field, value === undefined ? 'required' : 'type', 'must be a non-empty string');
    if (pattern !== undefined && !pattern.test(value)) throw invalid(field, 'pattern', `must match ${pattern.source}`);
    return value;
  };
  return {
    invalid,
    object,
    string,
    integer(value, field, min, max = Number.MAX_SAFE_INTEGER) {
      if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw invalid(field, value === undefined ? 'required' : 'type', 'must be a whole number');
      if (value < min || value > max) throw invalid(field, value < min ? 'minimum' : 'maximum', `must be from ${min} to ${max}`);
      return value;
    },
    oneOf<T extends string>(value: unknown, field: string, allowed: readonly T[]): T {
      if (!allowed.includes(value as T)) throw invalid(field, value === undefined ? 'required' : 'enum', `must be one of ${allowed.join(', ')}`);
      return value as T;
    },
    credential(value, field) {
      if (value === undefined) return undefined;
      const raw = object(value, field, ['env', 'file']);
      if (raw['env'] !== undefined && raw['file'] === undefined) return { env: string(raw['env'], `${field}.env`, ENV_NAME) };
      if (raw['file'] !== undefined && raw['env'] === undefined) return { file: string(raw['file'], `${field}.file`) };
      throw invalid(field, 'oneOf', 'must name exactly one of env or file');
    },
  };
}
