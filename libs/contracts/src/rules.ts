import { PRIMITIVE_TYPES, fullNameOf, isJsonObject, isNamedTypeSchema, namespaceOf, resolveReference } from './schema-json.ts';
import type { AvroSchemaJson, JsonObject } from './schema-json.ts';

/**
 * Semantic rules that Avro types cannot say ("a UUID", "not negative", "an ISO currency"). A
 * schema field names its rule in the custom attribute `"writ.rule"`; Parsing Canonical Form drops
 * custom attributes, so adding or tightening a rule never changes a fingerprint. Rules come from
 * the current (reader) schema and run on every encode and every decode.
 *
 * A rule applies to the field's value; for a nullable field only when it is not null, for an
 * array field to each item.
 */
export const RULE_ATTRIBUTE = 'writ.rule';

interface Rule {
  readonly describe: string;
  test(value: unknown): boolean;
}

const pattern = (regex: RegExp, describe: string): Rule => ({
  describe,
  test: (value) => typeof value === 'string' && regex.test(value),
});

export const RULES = {
  uuid: pattern(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i, 'must be a UUID (8-4-4-4-12 hex digits)'),
  'non-empty': { describe: 'must not be empty', test: (value) => typeof value === 'string' && value.trim() !== '' },
  'non-negative': { describe: 'must not be negative', test: (value) => typeof value === 'number' && value >= 0 },
  'sha256-hex': pattern(/^[0-9a-f]{64}$/, 'must be a sha256 digest: 64 lowercase hex digits'),
  currency: pattern(/^[A-Z]{3}$/, 'must be an ISO 4217 currency code (3 capital letters)'),
  'service-at-version': pattern(/^[a-z][a-z0-9-]*@[^\s@]+$/, 'must be service@version (e.g. planner@0.1.0)'),
  traceparent: pattern(/^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/, 'must be a W3C traceparent'),
  base64: pattern(/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/, 'must be base64'),
} as const satisfies Record<string, Rule>;

export type RuleName = keyof typeof RULES;

export function isRuleName(name: string): name is RuleName {
  return Object.hasOwn(RULES, name);
}

/** One broken rule: the path of the offending value (`meta.event_id`, `errors[2]`) and the rule. */
export interface RuleViolation {
  readonly field: string;
  readonly rule: string;
}

/** Checks a structurally valid value; returns the first broken rule, if any. */
export type Validator = (value: unknown) => RuleViolation | undefined;

type Check = (value: unknown, path: string) => RuleViolation | undefined;

/**
 * Compiles the rules of a schema into one function, once per schema. Throws on an unknown rule
 * name, so a typo in a schema fails generation and tests rather than silently checking nothing.
 */
export function compileValidator(schema: AvroSchemaJson): Validator {
  const named = new Map<string, JsonObject>();
  collectNamed(schema, undefined, named);
  const compiled = new Map<string, Check | null>();
  const check = compileType(schema, undefined, named, compiled);
  if (check === null) return () => undefined;
  return (value) => check(value, '');
}

function collectNamed(schema: AvroSchemaJson, namespace: string | undefined, named: Map<string, JsonObject>): void {
  if (Array.isArray(schema)) {
    for (const branch of schema as readonly AvroSchemaJson[]) collectNamed(branch, namespace, named);
    return;
  }
  if (!isJsonObject(schema)) return;
  const type = schema['type'];
  if (type !== undefined && typeof type !== 'string') return collectNamed(type, namespace, named);
  if (isNamedTypeSchema(schema) && typeof schema['name'] === 'string') {
    const own = schema['namespace'];
    const fullName = fullNameOf(schema['name'], typeof own === 'string' ? own : namespace);
    named.set(fullName, schema);
    const inner = namespaceOf(fullName);
    const fields = schema['fields'];
    if (Array.isArray(fields)) {
      for (const field of fields as readonly AvroSchemaJson[]) {
        if (isJsonObject(field) && field['type'] !== undefined) collectNamed(field['type'], inner, named);
      }
    }
    return;
  }
  if (schema['items'] !== undefined) collectNamed(schema['items'], namespace, named);
  if (schema['values'] !== undefined) collectNamed(schema['values'], namespace, named);
}

function join(path: string, name: string): string {
  return path === '' ? name : `${path}.${name}`;
}

/** null when nothing inside the type carries a rule (so validation skips it entirely). */
function compileType(
  schema: AvroSchemaJson,
  namespace: string | undefined,
  named: ReadonlyMap<string, JsonObject>,
  compiled: Map<string, Check | null>,
): Check | null {
  if (typeof schema === 'string') {
    if (PRIMITIVE_TYPES.has(schema)) return null;
    const fullName = resolveReference(schema, namespace, named);
    const definition = named.get(fullName);
    if (definition === undefined) throw new TypeError(`unknown type ${schema}`);
    return compileType(definition, namespaceOf(fullName), named, compiled);
  }
  if (Array.isArray(schema)) {
    const branches = (schema as readonly AvroSchemaJson[])
      .filter((branch) => branch !== 'null')
      .map((branch) => compileType(branch, namespace, named, compiled));
    const [only] = branches;
    if (branches.length === 1 && only !== null && only !== undefined) {
      return (value, path) => (value === null ? undefined : only(value, path));
    }
    return null; // only ["null", T] unions carry rules in Writ's schemas
  }
  if (!isJsonObject(schema)) return null;
  const type = schema['type'];
  if (type !== undefined && typeof type !== 'string') return compileType(type, namespace, named, compiled);
  if (type === 'array') {
    const items = compileType(schema['items'] ?? null, namespace, named, compiled);
    if (items === null) return null;
    return (value, path) => {
      if (!Array.isArray(value)) return undefined;
      for (let index = 0; index < value.length; index += 1) {
        const broken = items(value[index], `${path}[${String(index)}]`);
        if (broken) return broken;
      }
      return undefined;
    };
  }
  if (type !== 'record' && type !== 'error') return null;
  const own = schema['namespace'];
  const fullName = fullNameOf(String(schema['name']), typeof own === 'string' ? own : namespace);
  if (compiled.has(fullName)) {
    // Recursive or repeated type: refer to the compiled check lazily.
    return compiled.get(fullName) === null ? null : (value, path) => compiled.get(fullName)?.(value, path);
  }
  compiled.set(fullName, null);
  const inner = namespaceOf(fullName);
  const checks: { readonly name: string; readonly check: Check }[] = [];
  for (const field of (schema['fields'] ?? []) as readonly AvroSchemaJson[]) {
    if (!isJsonObject(field) || typeof field['name'] !== 'string') continue;
    const check = compileField(field, inner, named, compiled);
    if (check !== null) checks.push({ name: field['name'], check });
  }
  if (checks.length === 0) return null;
  const record: Check = (value, path) => {
    if (typeof value !== 'object' || value === null) return undefined;
    const fields = value as Record<string, unknown>;
    for (const { name, check } of checks) {
      const broken = check(fields[name], join(path, name));
      if (broken) return broken;
    }
    return undefined;
  };
  compiled.set(fullName, record);
  return record;
}

function compileField(
  field: JsonObject,
  namespace: string | undefined,
  named: ReadonlyMap<string, JsonObject>,
  compiled: Map<string, Check | null>,
): Check | null {
  const type = field['type'] ?? null;
  const inner = compileType(type, namespace, named, compiled);
  const ruleName = field[RULE_ATTRIBUTE];
  if (ruleName === undefined) return inner;
  if (typeof ruleName !== 'string' || !isRuleName(ruleName)) {
    throw new TypeError(`field ${String(field['name'])}: unknown ${RULE_ATTRIBUTE} ${JSON.stringify(ruleName)} (known: ${Object.keys(RULES).join(', ')})`);
  }
  const rule: Rule = RULES[ruleName];
  const nullable = Array.isArray(type) && (type as readonly AvroSchemaJson[]).includes('null');
  const isArray = isJsonObject(type) && type['type'] === 'array';
  const apply = (value: unknown, path: string): RuleViolation | undefined => (rule.test(value) ? undefined : { field: path, rule: rule.describe });
  const own: Check = isArray
    ? (value, path) => {
        if (!Array.isArray(value)) return undefined;
        for (let index = 0; index < value.length; index += 1) {
          const broken = apply(value[index], `${path}[${String(index)}]`);
          if (broken) return broken;
        }
        return undefined;
      }
    : nullable
      ? (value, path) => (value === null ? undefined : apply(value, path))
      : apply;
  if (inner === null) return own;
  return (value, path) => own(value, path) ?? inner(value, path);
}
