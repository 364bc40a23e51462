// One Ajv (JSON Schema 2020-12) for tool argument schemas: every error reported, unknown keywords
// refused (a typo in a schema fails registry loading instead of silently validating nothing).
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { ErrorObject, ValidateFunction } from 'ajv/dist/2020.js';
import type { JsonSchema, ToolDefinition } from './definition.ts';

export const SENSITIVE_KEYWORD = 'x-writ-sensitive';

/** One broken rule in a tool's arguments: `field` is a dotted path ("amount_cents", "items[0].sku"). */
export interface ArgumentProblem {
  readonly field: string;
  /** The JSON Schema keyword that failed: required, type, minimum, maxLength, additionalProperties... */
  readonly rule: string;
  readonly message: string;
}

export type ArgumentCheck = { readonly ok: true } | { readonly ok: false; readonly problems: readonly ArgumentProblem[] };

// A few common formats, so "format" is enforced rather than ignored (ajv-formats is not a dependency).
const FORMATS: Record<string, RegExp> = {
  email: /^[^\s@]+@[^\s@]+\.[^\s@]+$/,
  date: /^\d{4}-\d{2}-\d{2}$/,
  'date-time': /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i,
  uuid: /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i,
  uri: /^[a-z][a-z0-9+.-]*:[^\s]*$/i,
};

export function createSchemaCompiler(): Ajv2020 {
  const ajv = new Ajv2020({
    allErrors: true,
    strict: true,
    strictTypes: false,
    strictTuples: false,
    strictRequired: false,
    addUsedSchema: false,
    logger: false,
  });
  ajv.addKeyword({ keyword: SENSITIVE_KEYWORD, schemaType: 'boolean', metaSchema: { type: 'boolean' } });
  for (const [name, pattern] of Object.entries(FORMATS)) ajv.addFormat(name, pattern);
  return ajv;
}

const compiler = createSchemaCompiler();
const validators = new WeakMap<JsonSchema, ValidateFunction>();

/** The compiled validator of a schema (cached per schema object). Throws when the schema is invalid. */
export function validatorFor(schema: JsonSchema): ValidateFunction {
  let validate = validators.get(schema);
  if (validate === undefined) {
    validate = compiler.compile(schema);
    validators.set(schema, validate);
  }
  return validate;
}

/** "/items/0/sku" -> "items[0].sku" */
export function pointerToPath(pointer: string): string {
  if (pointer === '') return '';
  let path = '';
  for (const raw of pointer.slice(1).split('/')) {
    const part = raw.replaceAll('~1', '/').replaceAll('~0', '~');
    if (/^\d+$/.test(part)) path += `[${part}]`;
    else path += path === '' ? part : `.${part}`;
  }
  return path;
}

function join(base: string, name: string): string {
  return base === '' ? name : `${base}.${name}`;
}

export function problemOf(error: ErrorObject): ArgumentProblem {
  const base = pointerToPath(error.instancePath);
  const params = error.params as Record<string, unknown>;
  let field = base;
  if (error.keyword === 'required' && typeof params['missingProperty'] === 'string') field = join(base, params['missingProperty']);
  if (error.keyword === 'additionalProperties' && typeof params['additionalProperty'] === 'string') {
    field = join(base, params['additionalProperty']);
  }
  if (error.keyword === 'unevaluatedProperties' && typeof params['unevaluatedProperty'] === 'string') {
    field = join(base, params['unevaluatedProperty']);
  }
  const what =
    error.keyword === 'additionalProperties' || error.keyword === 'unevaluatedProperties'
      ? 'is not an argument of this tool'
      : error.keyword === 'required'
        ? 'is required'
        : (error.message ?? `breaks ${error.keyword}`);
  return { field: field === '' ? '(arguments)' : field, rule: error.keyword, message: `${field === '' ? 'arguments' : field} ${what}` };
}

/** Validates arguments against the tool's schema; reports every problem, each naming its field and rule. */
export function validateArguments(tool: Pick<ToolDefinition, 'arguments'>, args: unknown): ArgumentCheck {
  const validate = validatorFor(tool.arguments);
  if (validate(args)) return { ok: true };
  const seen = new Set<string>();
  const problems: ArgumentProblem[] = [];
  for (const error of validate.errors ?? []) {
    const problem = problemOf(error);
    const key = `${problem.field}\u0000${problem.rule}`;
    if (seen.has(key)) continue;
    seen.add(key);
    problems.push(problem);
  }
  return { ok: false, problems };
}
