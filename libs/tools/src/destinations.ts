// Destination allowlists (a tool's `destinations`): for an argument that names where a call sends
// something, only listed destinations pass. Checked by the planner before policy (the ones it can
// read: sensitive arguments travel sealed) and by the executor again just before the call (all of
// them, sensitive ones opened). A value is accepted only in one unambiguous form: ASCII, no user info, no whitespace or
// backslashes, an IP address only as written canonically. Anything a URL parser would rewrite
// (tabs dropped, `\` read as `/`, `0x7f.1` read as 127.0.0.1, Unicode mapped) is refused rather
// than normalised, so the tool cannot read the value as a destination other than the one checked.
import { isSealedValue } from '@writ/crypto';
import { WritError } from '@writ/errors';
import type { ToolDefinition } from './definition.ts';
import { isRecord, jsonPath, sensitivePaths } from './sensitive-paths.ts';
import type { Segment } from './sensitive-paths.ts';

export type DestinationKind = 'email_domain' | 'url_host' | 'values';

/** A refused destination: `field` is the argument's path ("to", "cc[1]"), `rule` the kind of list. */
export interface DestinationProblem {
  readonly field: string;
  readonly rule: DestinationKind;
  readonly message: string;
}

/** What is wrong with a `destinations` declaration: `field` under the tool file, e.g. "destinations.to.email_domain[1]". */
export interface DestinationDeclarationProblem {
  readonly field: string;
  readonly rule: string;
  readonly why: string;
}

type Scheme = 'https' | 'http';

interface HostPattern {
  /** Canonical ASCII host without a trailing dot; for a wildcard, the part after `*.`. */
  readonly host: string;
  readonly wildcard: boolean;
  /** null: the scheme's default port only. */
  readonly port: number | null;
}

interface DestinationRule {
  readonly path: readonly string[];
  readonly kind: DestinationKind;
  /** The entries as declared, for messages. */
  readonly declared: readonly string[];
  readonly hosts: readonly HostPattern[];
  readonly values: ReadonlySet<string>;
  readonly schemes: readonly Scheme[];
}

type Compiled = { readonly ok: true; readonly rules: readonly DestinationRule[] } | { readonly ok: false; readonly problem: DestinationDeclarationProblem };

const KINDS: readonly DestinationKind[] = ['email_domain', 'url_host', 'values'];
const SCHEMES: readonly Scheme[] = ['https', 'http'];
const DEFAULT_PORT: Record<Scheme, number> = { https: 443, http: 80 };
const PATH_SEGMENT = /^[A-Za-z0-9_-]+$/;
const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const IPV6_LITERAL = /^\[[0-9A-Fa-f:.]+\]$/;
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
/** RFC 5322 atext and dots, without `%` (the percent hack relays to another host). */
const LOCAL_PART = /^[A-Za-z0-9!#$&'*+/=?^_`{|}~.-]{1,64}$/;
/** Characters a host name never holds; `%`, `\` and whitespace are where URL parsers disagree. */
const NOT_IN_HOST = /[^A-Za-z0-9.-]/;
const UNSAFE_IN_URL = /[\s\\\u0000-\u001f\u007f]/u;
const MAX_SHOWN = 120;
const MAX_LISTED = 10;

// ---- hosts

/** The canonical form of an ASCII host name or IPv4 address, or undefined; a trailing dot is dropped. */
function canonicalAsciiHost(text: string): string | undefined {
  if (text === '' || text.length > 254 || NOT_IN_HOST.test(text)) return undefined;
  const host = (text.endsWith('.') ? text.slice(0, -1) : text).toLowerCase();
  if (IPV4.test(host)) return host;
  if (host.length > 253 || !host.split('.').every((label) => LABEL.test(label))) return undefined;
  // A name whose last label is numeric is an IPv4 address to a URL parser ("3.4" is 3.0.0.4).
  if (/^\d+$/.test(host.split('.').at(-1) ?? '')) return undefined;
  try {
    // Punycode labels must decode: "xn--a" is no host.
    return new URL(`http://${host}/`).hostname === host ? host : undefined;
  } catch {
    return undefined;
  }
}

function canonicalIPv6(text: string): string | undefined {
  if (!IPV6_LITERAL.test(text)) return undefined;
  try {
    const host = new URL(`http://${text}/`).hostname;
    return host === text.toLowerCase() ? host : undefined;
  } catch {
    return undefined;
  }
}

/** An entry's host (trusted, from the tool file): any case; Unicode names become their ASCII (punycode) form. */
function entryHost(text: string): string | undefined {
  const ipv6 = text.startsWith('[');
  if (ipv6 ? !IPV6_LITERAL.test(text) : /[\s/\\@:?#%[\]]/u.test(text)) return undefined;
  let host: string;
  try {
    host = new URL(`http://${text}/`).hostname;
  } catch {
    return undefined;
  }
  return ipv6 ? host : canonicalAsciiHost(host);
}

function isIp(host: string): boolean {
  return IPV4.test(host) || host.startsWith('[');
}

function hostMatches(pattern: HostPattern, host: string): boolean {
  if (!pattern.wildcard) return host === pattern.host;
  return !isIp(host) && host.endsWith(`.${pattern.host}`);
}

// ---- declarations

function declarationProblem(field: string, rule: string, why: string): Compiled {
  return { ok: false, problem: { field, rule, why } };
}

function parseHostEntry(text: string, kind: 'email_domain' | 'url_host'): HostPattern | string {
  let rest = text.trim();
  if (rest !== text || rest === '') return 'must be a host name without spaces';
  let port: number | null = null;
  if (kind === 'url_host') {
    const withPort = /^(.*):(\d{1,5})$/.exec(rest);
    if (withPort !== null) {
      port = Number(withPort[2]);
      if (port < 1 || port > 65535) return 'has a port outside 1..65535';
      rest = withPort[1] ?? '';
    }
  }
  const wildcard = rest.startsWith('*.');
  const name = wildcard ? rest.slice(2) : rest;
  if (name.includes('*')) return 'may hold a wildcard only as its whole first label ("*.example.com")';
  const host = entryHost(name);
  if (host === undefined) return `is not a host name${kind === 'url_host' ? ' or IP address (with an optional :port)' : ''}`;
  if (kind === 'email_domain' && isIp(host)) return 'must be a domain name, not an IP address';
  if (wildcard && (isIp(host) || !host.includes('.'))) return 'may put a wildcard only before a name of two labels or more ("*.example.com", not "*.com")';
  return { host, wildcard, port };
}

function stringList(value: unknown, field: string): readonly string[] | Compiled {
  if (!Array.isArray(value) || value.length === 0) return declarationProblem(field, 'type', 'must be a non-empty array of strings');
  for (const [index, item] of value.entries()) {
    if (typeof item !== 'string' || item === '') return declarationProblem(`${field}[${index}]`, 'type', 'must be a non-empty string');
  }
  const list = value as string[];
  const repeated = list.findIndex((item, index) => list.indexOf(item) !== index);
  if (repeated >= 0) return declarationProblem(`${field}[${repeated}]`, 'unique', `repeats ${JSON.stringify(list[repeated])}`);
  return list;
}

/** Whether a destination path names a declared argument of type string or array of strings. */
function argumentProblem(tool: Pick<ToolDefinition, 'arguments'>, path: readonly string[], field: string): Compiled | undefined {
  let node: unknown = tool.arguments;
  const where = (depth: number) => `arguments.properties.${path.slice(0, depth + 1).join('.properties.')}`;
  for (const [depth, segment] of path.entries()) {
    const properties = isRecord(node) ? node['properties'] : undefined;
    if (!isRecord(properties) || !Object.hasOwn(properties, segment)) {
      return declarationProblem(field, 'argument', `names no declared argument (${where(depth)} is missing)`);
    }
    node = properties[segment];
    if (!isRecord(node)) return declarationProblem(field, 'argument', `names no declared argument (${where(depth)} is not a schema)`);
    if (depth < path.length - 1 && node['type'] !== 'object') {
      return declarationProblem(field, 'argument', `must go through object arguments only (${where(depth)} has no "type": "object")`);
    }
  }
  if (!isRecord(node)) return declarationProblem(field, 'argument', 'names no declared argument');
  const items = node['items'];
  if (node['type'] === 'string' || (node['type'] === 'array' && isRecord(items) && items['type'] === 'string')) return undefined;
  return declarationProblem(
    field,
    'type',
    `must name an argument of "type": "string", or "type": "array" with "items": {"type": "string"} (${where(path.length - 1)})`,
  );
}

function compileRule(tool: Pick<ToolDefinition, 'arguments'>, name: string, declaration: unknown): DestinationRule | Compiled {
  const field = `destinations.${name}`;
  const path = name.split('.');
  if (!path.every((segment) => PATH_SEGMENT.test(segment))) {
    return declarationProblem(field, 'path', 'must be a dotted argument path of names of letters, digits, "_" and "-" ("to", "delivery.url")');
  }
  if (!isRecord(declaration)) return declarationProblem(field, 'type', `must be an object with one of ${KINDS.join(', ')}`);
  const kinds = KINDS.filter((kind) => Object.hasOwn(declaration, kind));
  const unknown = Object.keys(declaration).find((key) => !KINDS.includes(key as DestinationKind) && key !== 'schemes');
  if (unknown !== undefined) return declarationProblem(`${field}.${unknown}`, 'additionalProperties', `is not a known field (${KINDS.join(', ')}, schemes)`);
  const [kind] = kinds;
  if (kind === undefined || kinds.length > 1) return declarationProblem(field, 'oneOf', `must hold exactly one of ${KINDS.join(', ')}`);
  const argument = argumentProblem(tool, path, field);
  if (argument !== undefined) return argument;

  const declared = stringList(declaration[kind], `${field}.${kind}`);
  if (!Array.isArray(declared)) return declared as Compiled;
  let schemes: readonly Scheme[] = ['https'];
  if (Object.hasOwn(declaration, 'schemes')) {
    if (kind !== 'url_host') return declarationProblem(`${field}.schemes`, 'schemes', 'applies to url_host only');
    const list = stringList(declaration['schemes'], `${field}.schemes`);
    if (!Array.isArray(list)) return list as Compiled;
    const bad = list.findIndex((scheme) => !SCHEMES.includes(scheme as Scheme));
    if (bad >= 0) return declarationProblem(`${field}.schemes[${bad}]`, 'enum', `must be one of ${SCHEMES.join(', ')}`);
    schemes = list as Scheme[];
  }
  const hosts: HostPattern[] = [];
  if (kind !== 'values') {
    for (const [index, entry] of declared.entries()) {
      const parsed = parseHostEntry(entry, kind);
      if (typeof parsed === 'string') return declarationProblem(`${field}.${kind}[${index}]`, kind, `${JSON.stringify(entry)} ${parsed}`);
      hosts.push(parsed);
    }
  }
  return { path, kind, declared, hosts, values: new Set(kind === 'values' ? declared : []), schemes };
}

const compiled = new WeakMap<object, Compiled>();

function compile(tool: Pick<ToolDefinition, 'arguments' | 'destinations'>): Compiled {
  const known = compiled.get(tool);
  if (known !== undefined) return known;
  let result: Compiled = { ok: true, rules: [] };
  const declarations: unknown = tool.destinations;
  if (declarations !== undefined) {
    if (!isRecord(declarations)) {
      result = declarationProblem('destinations', 'type', 'must be an object of argument paths');
    } else {
      const rules: DestinationRule[] = [];
      for (const [name, declaration] of Object.entries(declarations)) {
        const rule = compileRule(tool, name, declaration);
        if ('ok' in rule) {
          result = rule;
          break;
        }
        rules.push(rule);
      }
      if (result.ok) result = { ok: true, rules };
    }
  }
  compiled.set(tool, result);
  return result;
}

/** What is wrong with a tool's `destinations` (registry load), or undefined when it is sound or absent. */
export function destinationDeclarationProblem(tool: Pick<ToolDefinition, 'arguments' | 'destinations'>): DestinationDeclarationProblem | undefined {
  const result = compile(tool);
  return result.ok ? undefined : result.problem;
}

// ---- values

/** Why a value is not allowed, or undefined when it is. */
function emailRefusal(rule: DestinationRule, value: string): string | undefined {
  const at = value.indexOf('@');
  if (at < 0 || at !== value.lastIndexOf('@') || !LOCAL_PART.test(value.slice(0, at)) || value.length > 254) {
    return 'it is not a plain email address (local@domain, one "@", no display name, no quotes)';
  }
  const domain = value.slice(at + 1);
  if (/[^\x00-\x7f]/.test(domain)) return 'its domain is not ASCII: give an internationalised domain in its punycode (xn--) form';
  const host = canonicalAsciiHost(domain);
  if (host === undefined || IPV4.test(host)) return 'its domain is not a domain name';
  return rule.hosts.some((pattern) => hostMatches(pattern, host)) ? undefined : `its domain ${host} is not listed`;
}

function urlRefusal(rule: DestinationRule, value: string): string | undefined {
  if (UNSAFE_IN_URL.test(value)) return 'a URL with whitespace, control characters or backslashes is refused';
  if (/[^\x20-\x7e]/.test(value)) return 'a URL with non-ASCII characters is refused: give an internationalised host in its punycode (xn--) form';
  const parts = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)([/?#].*)?$/s.exec(value);
  if (parts === null) return 'it is not an absolute URL (scheme://host/...)';
  const scheme = (parts[1] ?? '').toLowerCase();
  const authority = parts[2] ?? '';
  if (!rule.schemes.includes(scheme as Scheme)) return `its scheme ${scheme} is not allowed (${rule.schemes.join(', ')} only)`;
  if (authority.includes('@')) return 'a URL with user info before the host is refused';
  const hostPort = /^(\[[^\]]*\]|[^:]*)(?::(\d{1,5}))?$/.exec(authority);
  const rawHost = hostPort?.[1] ?? '';
  const host = rawHost.startsWith('[') ? canonicalIPv6(rawHost) : canonicalAsciiHost(rawHost);
  if (hostPort === null || host === undefined) return 'its host is not a host name or an IP address written canonically';
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    return 'it is not a valid URL';
  }
  // Our reading of the host must be the URL parser's, else the tool could go elsewhere.
  const parserHost = parsed.hostname.endsWith('.') ? parsed.hostname.slice(0, -1) : parsed.hostname;
  if (parserHost !== host) return 'its host is ambiguous';
  const port = hostPort[2] === undefined ? DEFAULT_PORT[scheme as Scheme] : Number(hostPort[2]);
  const byHost = rule.hosts.filter((pattern) => hostMatches(pattern, host));
  if (byHost.length === 0) return `its host ${host} is not listed`;
  const portAllowed = byHost.some((pattern) => (pattern.port ?? DEFAULT_PORT[scheme as Scheme]) === port);
  return portAllowed ? undefined : `port ${port} of host ${host} is not listed`;
}

function refusalOf(rule: DestinationRule, value: unknown): string | undefined {
  if (typeof value !== 'string') return 'it is not a string';
  switch (rule.kind) {
    case 'email_domain':
      return emailRefusal(rule, value);
    case 'url_host':
      return urlRefusal(rule, value);
    case 'values':
      return rule.values.has(value) ? undefined : 'it is not listed';
    default: {
      const never: never = rule.kind;
      return never;
    }
  }
}

function shown(value: unknown): string {
  const text = typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value));
  return JSON.stringify(text.length > MAX_SHOWN ? `${text.slice(0, MAX_SHOWN)}…` : text);
}

function listed(rule: DestinationRule): string {
  const first = rule.declared.slice(0, MAX_LISTED).join(', ');
  return rule.declared.length > MAX_LISTED ? `${first} and ${rule.declared.length - MAX_LISTED} more` : first;
}

function fieldOf(path: readonly string[], index?: number): string {
  return `${path.join('.')}${index === undefined ? '' : `[${index}]`}`;
}

/** Whether a place is, or is inside, one of the (outermost) sensitive places. */
function isHidden(hidden: ReadonlySet<string>, segments: readonly Segment[]): boolean {
  return segments.some((_, i) => hidden.has(jsonPath(segments.slice(0, i + 1))));
}

export interface DestinationCheckOptions {
  /**
   * The arguments travel sealed (the planner): a sealed value at a place marked x-writ-sensitive
   * is left to the executor, which checks it in the clear. A sealed value anywhere else is refused.
   */
  readonly sealed?: boolean;
}

/**
 * Every destination of these arguments that the tool's allowlists refuse, each naming the
 * argument and the rule. An absent optional argument names no destination; each item of an array
 * is checked. The message of a sensitive value shows neither the value nor why it was refused (a
 * domain is part of the secret). A declaration the registry would refuse throws TOOL_REGISTRY_INVALID.
 */
export function checkDestinations(
  tool: Pick<ToolDefinition, 'arguments' | 'destinations'>,
  args: unknown,
  options: DestinationCheckOptions = {},
): readonly DestinationProblem[] {
  const result = compile(tool);
  if (!result.ok) {
    const { field, rule, why } = result.problem;
    throw new WritError('TOOL_REGISTRY_INVALID', `${field} ${why}`, { field, rule });
  }
  const problems: DestinationProblem[] = [];
  if (result.rules.length === 0) return problems;
  const hidden = new Set(sensitivePaths(tool.arguments, args).map((path) => jsonPath(path)));
  for (const rule of result.rules) {
    let value: unknown = args;
    for (const segment of rule.path) value = isRecord(value) ? value[segment] : undefined;
    if (value === undefined) continue;
    const items: [unknown, number | undefined][] = Array.isArray(value) ? value.map((item, index) => [item, index]) : [[value, undefined]];
    for (const [item, index] of items) {
      const secret = isHidden(hidden, index === undefined ? rule.path : [...rule.path, index]);
      if (options.sealed === true && secret && isSealedValue(item)) continue;
      const why = refusalOf(rule, item);
      if (why === undefined) continue;
      const field = fieldOf(rule.path, index);
      const what = secret ? 'the sensitive value (not shown) is not an allowed destination' : `${shown(item)} is not an allowed destination: ${why}`;
      problems.push({ field, rule: rule.kind, message: `arguments.${field}: ${what} (${rule.kind} must be one of ${listed(rule)})` });
    }
  }
  return problems;
}
