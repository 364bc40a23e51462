/**
 * Avro schemas as plain JSON values (what `.avsc` files hold). Kept loose on purpose: the
 * canonical-form, rule and compatibility code inspects schemas key by key, and avsc checks them.
 */
export type Json = null | boolean | number | string | readonly Json[] | { readonly [key: string]: Json };

/** A JSON object, such as a record, enum or field definition inside a schema. */
export type JsonObject = { readonly [key: string]: Json };

export type AvroSchemaJson = Json;

export function isJsonObject(value: Json | undefined): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The eight primitive type names of the Avro specification. */
export const PRIMITIVE_TYPES: ReadonlySet<string> = new Set(['null', 'boolean', 'int', 'long', 'float', 'double', 'bytes', 'string']);

const NAMED_TYPES: ReadonlySet<string> = new Set(['record', 'error', 'enum', 'fixed']);

export function isNamedTypeSchema(schema: JsonObject): boolean {
  return typeof schema['type'] === 'string' && NAMED_TYPES.has(schema['type']);
}

/**
 * Full name of a named type per the specification: a dotted `name` is already full; otherwise
 * the type's own `namespace` applies, else the enclosing one (an empty namespace means none).
 */
export function fullNameOf(name: string, namespace: string | undefined): string {
  if (name.includes('.')) return name;
  return namespace ? `${namespace}.${name}` : name;
}

/** Namespace that a named type passes on to the types nested in it. */
export function namespaceOf(fullName: string): string | undefined {
  const dot = fullName.lastIndexOf('.');
  return dot < 0 ? undefined : fullName.slice(0, dot);
}

/** Resolves a reference to a named type the way Avro does: namespace-qualified first, then as given. */
export function resolveReference(name: string, namespace: string | undefined, known: { has(fullName: string): boolean }): string {
  const qualified = fullNameOf(name, namespace);
  if (known.has(qualified) || name.includes('.')) return qualified;
  return known.has(name) ? name : qualified;
}
