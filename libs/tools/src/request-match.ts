// The other side of request.ts: what a tool that receives a call can tell about it from the tool's
// contract. Which tool's endpoint (or read-back) a request fits, and the arguments it carries, so
// a tool can check an action token's argument hash against the request it actually got. Pure.
import type { JsonSchema, ToolDefinition } from './definition.ts';
import { valueAt } from './request.ts';

/** A request as the tool received it: the path still percent-encoded, the query parsed, the raw body. */
export interface ReceivedRequest {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly body: string | undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The path of a url template, its origin left out (`${VAR:-…}` or `scheme://host`):
 * `${HELPDESK_URL:-http://127.0.0.1:26090}/tickets/{ticket_id}` gives `/tickets/{ticket_id}`.
 */
export function pathTemplateOf(url: string): string {
  const withoutOrigin = url.replace(/^\$\{[^}]*\}/, '').replace(/^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i, '');
  const path = withoutOrigin.split(/[?#]/)[0] ?? '';
  return path === '' ? '/' : path;
}

/** The placeholder values of a path that fits the template (decoded), or undefined. */
export function matchPathTemplate(template: string, path: string): Record<string, string> | undefined {
  const names: string[] = [];
  const pattern = template
    .split(/(\{[A-Za-z0-9_.]+\})/)
    .map((part) => {
      const placeholder = /^\{([A-Za-z0-9_.]+)\}$/.exec(part);
      if (placeholder === null) return part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      names.push(placeholder[1] ?? '');
      return '([^/]+)';
    })
    .join('');
  const match = new RegExp(`^${pattern}$`).exec(path);
  if (match === null) return undefined;
  const values: Record<string, string> = {};
  try {
    names.forEach((name, index) => {
      values[name] = decodeURIComponent(match[index + 1] ?? '');
    });
  } catch {
    return undefined;
  }
  return values;
}

function propertySchema(tool: Pick<ToolDefinition, 'arguments'>, name: string): JsonSchema | undefined {
  const properties = tool.arguments['properties'];
  const schema = isRecord(properties) ? properties[name] : undefined;
  return isRecord(schema) ? schema : undefined;
}

/** A query or path text back to the scalar it was sent as (String() of a number or boolean). */
function scalarOf(schema: JsonSchema | undefined, text: string): unknown {
  const type = schema?.['type'];
  if ((type === 'integer' || type === 'number') && /^-?\d+(\.\d+)?([eE][+-]?\d+)?$/.test(text)) return Number(text);
  if (type === 'boolean' && (text === 'true' || text === 'false')) return text === 'true';
  return text;
}

/**
 * The arguments of a call of this tool, as the executor sent them (buildToolRequest), or undefined
 * when the request does not fit the tool's endpoint: another method or path, a body that is not a
 * JSON object, a path value that differs from the body's. GET and DELETE arguments come back from
 * the path and the query, typed by the argument schema (numbers, booleans, arrays of them); an
 * empty array or an object argument cannot travel in a query and does not come back.
 */
export function argumentsOfRequest(tool: Pick<ToolDefinition, 'endpoint' | 'arguments'>, request: ReceivedRequest): Record<string, unknown> | undefined {
  if (request.method.toUpperCase() !== tool.endpoint.method) return undefined;
  const inPath = matchPathTemplate(pathTemplateOf(tool.endpoint.url), request.path);
  if (inPath === undefined) return undefined;
  const method = tool.endpoint.method;
  if (method === 'GET' || method === 'DELETE') {
    const args: Record<string, unknown> = {};
    for (const [name, text] of Object.entries(inPath)) args[name] = scalarOf(propertySchema(tool, name), text);
    for (const name of new Set(request.query.keys())) {
      if (Object.hasOwn(inPath, name)) return undefined;
      const schema = propertySchema(tool, name);
      const texts = request.query.getAll(name);
      if (schema?.['type'] === 'array') {
        const items = isRecord(schema['items']) ? schema['items'] : undefined;
        args[name] = texts.map((text) => scalarOf(items, text));
      } else if (texts.length === 1) {
        args[name] = scalarOf(schema, texts[0] ?? '');
      } else {
        return undefined;
      }
    }
    return args;
  }
  if (request.query.size > 0) return undefined;
  let body: unknown;
  try {
    body = JSON.parse(request.body ?? '');
  } catch {
    return undefined;
  }
  if (!isRecord(body)) return undefined;
  for (const [name, text] of Object.entries(inPath)) {
    const value = body[name];
    if ((typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') || String(value) !== text) return undefined;
  }
  return body;
}

/** Whether a request fits the tool's read-back (`verify`): a GET of its url template's path, any values. */
export function fitsVerifyRequest(tool: Pick<ToolDefinition, 'verify'>, request: Pick<ReceivedRequest, 'method' | 'path'>): boolean {
  if (tool.verify === undefined || request.method.toUpperCase() !== 'GET') return false;
  return matchPathTemplate(pathTemplateOf(tool.verify.url), request.path) !== undefined;
}

/** Whether a request fits the tool's endpoint (method and path; the arguments are not looked at). */
export function fitsToolEndpoint(tool: Pick<ToolDefinition, 'endpoint'>, request: Pick<ReceivedRequest, 'method' | 'path'>): boolean {
  return request.method.toUpperCase() === tool.endpoint.method && matchPathTemplate(pathTemplateOf(tool.endpoint.url), request.path) !== undefined;
}

/**
 * The path of the read-back of one call (the verify url's path, filled from the call's arguments
 * and `{result.<path>}` from its result, as the executor fills it), or undefined when the tool
 * declares none or a value is missing.
 */
export function verifyPathOf(tool: Pick<ToolDefinition, 'verify'>, args: unknown, result: unknown): string | undefined {
  if (tool.verify === undefined) return undefined;
  const values: Record<string, unknown> = { ...(isRecord(args) ? args : {}), result };
  let complete = true;
  const path = pathTemplateOf(tool.verify.url).replace(/\{([A-Za-z0-9_.]+)\}/g, (_match, name: string) => {
    const value = valueAt(values, name);
    if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
      complete = false;
      return '';
    }
    return encodeURIComponent(String(value));
  });
  return complete ? path : undefined;
}
