import { WritError } from '@writ/errors';

/** The JSON values canonicalJson accepts: what survives a JSON round trip unchanged. */
export type CanonicalJsonValue = null | boolean | number | string | readonly CanonicalJsonValue[] | { readonly [key: string]: CanonicalJsonValue };

const MAX_DEPTH = 128;

function invalid(path: string, rule: string): WritError {
  return new WritError('CANONICAL_JSON_INVALID', `cannot canonicalise ${path}: ${rule}`, { field: path, rule });
}

function childPath(path: string, key: string): string {
  return /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
}

function isPlainObject(value: object): value is Record<string, unknown> {
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function writeString(text: string, path: string): string {
  // RFC 8785 works on Unicode text; a lone surrogate has no UTF-8 form, so two parties could hash it differently.
  if (!text.isWellFormed()) throw invalid(path, 'string contains a lone UTF-16 surrogate');
  return JSON.stringify(text);
}

function write(value: unknown, path: string, ancestors: object[]): string {
  switch (typeof value) {
    case 'string':
      return writeString(value, path);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) throw invalid(path, `number must be finite, got ${String(value)}`);
      // ECMAScript number serialisation is exactly RFC 8785's; -0 becomes 0.
      return JSON.stringify(value);
    case 'undefined':
      throw invalid(path, 'value is undefined (omit the key or use null)');
    case 'bigint':
      throw invalid(path, 'bigint is not a JSON number (convert it to a string or a safe integer)');
    case 'function':
    case 'symbol':
      throw invalid(path, `${typeof value} is not a JSON value`);
    case 'object':
      break;
  }
  if (value === null) return 'null';
  if (ancestors.includes(value)) throw invalid(path, 'value is circular');
  if (ancestors.length >= MAX_DEPTH) throw invalid(path, `nesting is deeper than ${MAX_DEPTH} levels`);
  ancestors.push(value);
  try {
    if (Array.isArray(value)) {
      const items: string[] = [];
      for (let i = 0; i < value.length; i++) {
        if (!(i in value)) throw invalid(`${path}[${i}]`, 'array has a hole (sparse arrays are not JSON)');
        items.push(write(value[i], `${path}[${i}]`, ancestors));
      }
      return `[${items.join(',')}]`;
    }
    if (!isPlainObject(value)) {
      const kind = (value as { constructor?: { name?: string } }).constructor?.name ?? 'object';
      throw invalid(path, `${kind} is not a plain object (convert it to plain JSON data first)`);
    }
    // Default sort compares UTF-16 code units, which is the order RFC 8785 prescribes.
    const keys = Object.keys(value).sort();
    const members = keys.map((key) => {
      const member = childPath(path, key);
      return `${writeString(key, member)}:${write(value[key], member, ancestors)}`;
    });
    return `{${members.join(',')}}`;
  } finally {
    ancestors.pop();
  }
}

/**
 * Deterministic JSON in the spirit of RFC 8785 (JCS): object keys sorted by UTF-16 code units, no
 * whitespace, ECMAScript number and string serialisation. Anything that would not survive a JSON
 * round trip unchanged (undefined, non-finite numbers, bigint, class instances, cycles, lone
 * surrogates) is rejected with CANONICAL_JSON_INVALID naming the path, instead of being dropped or
 * coerced, so what is signed or hashed is exactly what the other side will see.
 */
export function canonicalJson(value: unknown): string {
  return write(value, '$', []);
}
