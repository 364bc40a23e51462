// The operator's file of upstream MCP servers (docs/mcp.md, "Upstream MCP servers"): which tools of
// which server Writ fronts, under which registry name, with which effect, risk, cost and schema.
// Only the tools it names are imported: a tool the upstream adds later is not governed, so not
// callable through Writ, until an operator declares it.
import { fileFields } from '@writ/config';
import type { CredentialSource } from '@writ/config';

export interface UpstreamTool {
  /** The registry name (dotted, lower case), e.g. "orders.lookup": policies name it Writ::Tool::"orders.lookup". */
  readonly name: string;
  readonly version: string;
  readonly effect: 'read' | 'write' | 'destructive';
  readonly risk: 'low' | 'medium' | 'high';
  readonly cost: { readonly micros: number; readonly currency: string; readonly max_micros?: number };
  readonly timeout_ms: number;
  readonly retry: { readonly max_attempts: number; readonly initial_backoff_ms: number; readonly max_backoff_ms: number };
  readonly idempotent: boolean;
  /** Overrides the upstream's description. */
  readonly description?: string;
  /** The arguments' JSON Schema the contract enforces; absent: the upstream's inputSchema, frozen at import. */
  readonly arguments?: Readonly<Record<string, unknown>>;
}

export interface UpstreamServer {
  /** Its Streamable HTTP endpoint, e.g. "http://127.0.0.1:9400/mcp" (`${VAR}` allowed, expanded by the executor). */
  readonly url: string;
  /** The bearer token the executor sends it (never an event): an environment variable or a file. */
  readonly credential?: CredentialSource;
  /** By the upstream's own tool name. */
  readonly tools: Readonly<Record<string, UpstreamTool>>;
}

export interface UpstreamsFile {
  readonly servers: Readonly<Record<string, UpstreamServer>>;
}

const DEFAULT_RETRY = { max_attempts: 1, initial_backoff_ms: 200, max_backoff_ms: 2_000 } as const;
const SERVER_NAME = /^[a-z][a-z0-9_-]{0,62}$/;
const UPSTREAM_TOOL_NAME = /^[A-Za-z0-9_.-]{1,128}$/;

type Json = Record<string, unknown>;

const { invalid, object, string, integer, oneOf, credential: credentialOf } = fileFields('MCP upstreams file');

function tool(value: unknown, field: string): UpstreamTool {
  const raw = object(value, field, ['name', 'version', 'effect', 'risk', 'cost', 'timeout_ms', 'retry', 'idempotent', 'description', 'arguments']);
  const cost = object(raw['cost'] ?? undefined, `${field}.cost`, ['micros', 'currency', 'max_micros']);
  const retry = raw['retry'] === undefined ? DEFAULT_RETRY : object(raw['retry'], `${field}.retry`, ['max_attempts', 'initial_backoff_ms', 'max_backoff_ms']);
  if (typeof raw['idempotent'] !== 'boolean')
    throw invalid(`${field}.idempotent`, raw['idempotent'] === undefined ? 'required' : 'type', 'must be true or false');
  const args = raw['arguments'] === undefined ? undefined : object(raw['arguments'], `${field}.arguments`, Object.keys(raw['arguments'] as Json));
  return {
    name: string(raw['name'], `${field}.name`, /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$/),
    version: string(raw['version'], `${field}.version`, /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$/),
    effect: oneOf(raw['effect'], `${field}.effect`, ['read', 'write', 'destructive']),
    risk: oneOf(raw['risk'], `${field}.risk`, ['low', 'medium', 'high']),
    cost: {
      micros: integer(cost['micros'], `${field}.cost.micros`, 0, Number.MAX_SAFE_INTEGER),
      currency: string(cost['currency'], `${field}.cost.currency`, /^[A-Z]{3}$/),
      ...(cost['max_micros'] === undefined ? {} : { max_micros: integer(cost['max_micros'], `${field}.cost.max_micros`, 0, Number.MAX_SAFE_INTEGER) }),
    },
    timeout_ms: integer(raw['timeout_ms'], `${field}.timeout_ms`, 1, 600_000),
    retry: {
      max_attempts: integer(retry['max_attempts'], `${field}.retry.max_attempts`, 1, 10),
      initial_backoff_ms: integer(retry['initial_backoff_ms'], `${field}.retry.initial_backoff_ms`, 0, 600_000),
      max_backoff_ms: integer(retry['max_backoff_ms'], `${field}.retry.max_backoff_ms`, 0, 600_000),
    },
    idempotent: raw['idempotent'],
    ...(raw['description'] === undefined ? {} : { description: string(raw['description'], `${field}.description`) }),
    ...(args === undefined ? {} : { arguments: args }),
  };
}

/** Parses and checks the upstreams file: a bad value names its dotted path and the rule. */
export function parseUpstreams(value: unknown): UpstreamsFile {
  const root = object(value, 'file', ['$comment', 'servers']);
  const servers = object(root['servers'] ?? undefined, 'servers', Object.keys((root['servers'] as Json | undefined) ?? {}));
  const parsed: Record<string, UpstreamServer> = {};
  const names = new Set<string>();
  for (const [serverName, rawServer] of Object.entries(servers)) {
    const field = `servers.${serverName}`;
    string(serverName, field, SERVER_NAME);
    const server = object(rawServer, field, ['url', 'credential', 'tools']);
    const url = string(server['url'], `${field}.url`, /^(\$\{[A-Z_][A-Z0-9_]*(:-[^}]*)?\}|https?:\/\/)/);
    if (url.includes('#')) throw invalid(`${field}.url`, 'pattern', 'must have no fragment (#): Writ names the tool there');
    const credential = credentialOf(server['credential'], `${field}.credential`);
    const rawTools = object(server['tools'] ?? undefined, `${field}.tools`, Object.keys((server['tools'] as Json | undefined) ?? {}));
    const tools: Record<string, UpstreamTool> = {};
    for (const [upstreamName, rawTool] of Object.entries(rawTools)) {
      string(upstreamName, `${field}.tools.${upstreamName}`, UPSTREAM_TOOL_NAME);
      const declared = tool(rawTool, `${field}.tools.${upstreamName}`);
      if (names.has(declared.name)) throw invalid(`${field}.tools.${upstreamName}.name`, 'uniqueItems', `"${declared.name}" is declared twice`);
      names.add(declared.name);
      tools[upstreamName] = declared;
    }
    parsed[serverName] = { url, ...(credential === undefined ? {} : { credential }), tools };
  }
  return { servers: parsed };
}
