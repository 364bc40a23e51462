// Turns validated tool arguments into the closed Cedar record the schema declares: arguments the
// schema names are type-checked and copied, the rest stay invisible to policies.
import { WritError } from '@writ/errors';
import type { CedarValueJson, SchemaJson } from './cedar.ts';

/** The Cedar types an argument may have; entity and extension types are not fillable from JSON. */
export type ArgumentType =
  | { readonly kind: 'Long' }
  | { readonly kind: 'String' }
  | { readonly kind: 'Boolean' }
  | { readonly kind: 'Set'; readonly element: ArgumentType }
  | { readonly kind: 'Record'; readonly attributes: Readonly<Record<string, { readonly type: ArgumentType; readonly required: boolean }>> };

type SchemaType = { type: string; name?: string; element?: SchemaType; attributes?: Record<string, SchemaType & { required?: boolean }> };

/** Resolves a (resolved-types) schema JSON type to an ArgumentType, or says why it cannot. */
export function argumentTypeOf(schema: SchemaJson<string>, namespace: string, type: SchemaType, path: string): ArgumentType {
  const commonTypes = (schema[namespace]?.commonTypes ?? {}) as Record<string, SchemaType>;
  const resolve = (t: SchemaType, at: string, depth: number): ArgumentType => {
    if (depth > 32) throw new Error(`${at}: type nests too deeply`);
    switch (t.type) {
      case 'Long':
      case 'String':
      case 'Boolean':
        return { kind: t.type };
      case 'Set':
        if (t.element === undefined) throw new Error(`${at}: set without element type`);
        return { kind: 'Set', element: resolve(t.element, `${at}[]`, depth + 1) };
      case 'Record': {
        const attributes: Record<string, { type: ArgumentType; required: boolean }> = {};
        for (const [name, attr] of Object.entries(t.attributes ?? {})) {
          attributes[name] = { type: resolve(attr, `${at}.${name}`, depth + 1), required: attr.required !== false };
        }
        return { kind: 'Record', attributes };
      }
      case 'Entity':
      case 'Extension':
        throw new Error(`${at} has ${t.type} type ${t.name ?? ''}, which the PDP cannot fill from JSON arguments`);
      default: {
        const name = t.type === 'EntityOrCommon' ? (t.name ?? '') : t.type;
        const local = name.startsWith(`${namespace}::`) ? name.slice(namespace.length + 2) : name;
        // The schema's primitive names, as an unresolved reference may still carry them.
        if (local === 'Bool' || local === 'Boolean' || name === '__cedar::Bool') return { kind: 'Boolean' };
        if (local === 'Long' || local === 'String') return { kind: local };
        const common = commonTypes[local];
        if (common === undefined) throw new Error(`${at} has unknown type ${name}`);
        return resolve(common, at, depth + 1);
      }
    }
  };
  return resolve(type, path, 0);
}

function invalidArgument(field: string, rule: string): WritError {
  return new WritError('POLICY_REQUEST_INVALID', `${field} ${rule}`, { field, rule });
}

function describe(type: ArgumentType): string {
  switch (type.kind) {
    case 'Long':
      return 'a whole number (Cedar Long, a safe integer)';
    case 'String':
      return 'a string';
    case 'Boolean':
      return 'true or false';
    case 'Set':
      return `an array of ${describe(type.element)}`;
    case 'Record':
      return 'an object';
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function toCedar(value: unknown, type: ArgumentType, field: string): CedarValueJson {
  switch (type.kind) {
    case 'Long':
      if (typeof value === 'number' && Number.isSafeInteger(value)) return value;
      break;
    case 'String':
      if (typeof value === 'string') return value;
      break;
    case 'Boolean':
      if (typeof value === 'boolean') return value;
      break;
    case 'Set':
      if (Array.isArray(value)) return value.map((item, i) => toCedar(item, type.element, `${field}[${i}]`));
      break;
    case 'Record':
      if (isPlainObject(value)) return projectRecord(value, type, field);
      break;
  }
  throw invalidArgument(field, `must be ${describe(type)} to be visible to policies`);
}

/**
 * Copies the declared attributes of a record; undeclared keys are left out (policies cannot name
 * them, Cedar's validator sees to that). null counts as absent. A declared attribute with a value
 * of the wrong type is refused rather than dropped, so a forbid keyed on it cannot be sidestepped.
 */
export function projectRecord(
  value: Readonly<Record<string, unknown>>,
  type: Extract<ArgumentType, { kind: 'Record' }>,
  field: string,
): Record<string, CedarValueJson> {
  const record: Record<string, CedarValueJson> = {};
  for (const [name, attribute] of Object.entries(type.attributes)) {
    const item = Object.hasOwn(value, name) ? value[name] : undefined;
    if (item === undefined || item === null) {
      if (attribute.required) throw invalidArgument(`${field}.${name}`, 'is required');
      continue;
    }
    record[name] = toCedar(item, attribute.type, `${field}.${name}`);
  }
  return record;
}
