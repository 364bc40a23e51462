// The places of a value that a tool's schema marks "x-writ-sensitive": one walk over schema and
// value (nested objects, arrays, allOf/anyOf/oneOf, local $refs), shared by sealing and redaction.
import type { JsonSchema } from './definition.ts';
import { SENSITIVE_KEYWORD } from './schema.ts';

export type Segment = string | number;

export function isRecord(value: unknown): value is Record<string, unknown> {
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

/** `$`, `.name`, `["odd name"]`, `[3]`: the path a sealed value is bound to. */
export function jsonPath(segments: readonly Segment[]): string {
  return segments.reduce<string>(
    (path, segment) =>
      typeof segment === 'number'
        ? `${path}[${segment}]`
        : /^[A-Za-z_][A-Za-z0-9_]*$/.test(segment)
          ? `${path}.${segment}`
          : `${path}[${JSON.stringify(segment)}]`,
    '$',
  );
}

function collect(root: JsonSchema, schema: unknown, value: unknown, path: Segment[], out: Segment[][], depth: number): void {
  if (!isRecord(schema) || depth > 64) return;
  if (schema[SENSITIVE_KEYWORD] === true) {
    out.push(path);
    return;
  }
  if (typeof schema['$ref'] === 'string') collect(root, resolveRef(root, schema['$ref']), value, path, out, depth + 1);
  for (const combinator of ['allOf', 'anyOf', 'oneOf'] as const) {
    const subs = schema[combinator];
    if (Array.isArray(subs)) for (const sub of subs) collect(root, sub, value, path, out, depth + 1);
  }
  if (Array.isArray(value)) {
    const prefix = Array.isArray(schema['prefixItems']) ? (schema['prefixItems'] as unknown[]) : [];
    value.forEach((item, index) => collect(root, index < prefix.length ? prefix[index] : schema['items'], item, [...path, index], out, depth + 1));
  } else if (isRecord(value)) {
    const properties = isRecord(schema['properties']) ? schema['properties'] : {};
    for (const [key, item] of Object.entries(value)) {
      collect(root, Object.hasOwn(properties, key) ? properties[key] : schema['additionalProperties'], item, [...path, key], out, depth + 1);
    }
  }
}

/**
 * The places of a value that a schema marks sensitive, outermost only (a sensitive object is
 * sealed whole), each once, in document order.
 */
export function sensitivePaths(schema: JsonSchema | undefined, value: unknown): Segment[][] {
  if (schema === undefined) return [];
  const found: Segment[][] = [];
  collect(schema, schema, value, [], found, 0);
  const keys = new Set(found.map((path) => jsonPath(path)));
  const isInside = (path: Segment[]) => path.some((_, i) => keys.has(jsonPath(path.slice(0, i))));
  const seen = new Set<string>();
  return found.filter((path) => {
    const key = jsonPath(path);
    if (seen.has(key) || isInside(path)) return false;
    seen.add(key);
    return true;
  });
}

export function replaceAt(value: unknown, path: readonly Segment[], replace: (current: unknown) => unknown): unknown {
  if (path.length === 0) return replace(value);
  const [head, ...rest] = path;
  if (Array.isArray(value) && typeof head === 'number') return value.map((item, index) => (index === head ? replaceAt(item, rest, replace) : item));
  if (isRecord(value) && typeof head === 'string') return { ...value, [head]: replaceAt(value[head], rest, replace) };
  return value;
}
