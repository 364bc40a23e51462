// Imports the declared tools of upstream MCP servers into the tool registry: one registry file per
// tool, with the operator's name, version, effect, risk, cost, timeout and retry, the arguments'
// schema the operator declared (else the upstream's, frozen: a later change upstream changes
// nothing until the next import, which shows in the registry's diff), and an endpoint that makes
// the executor call the upstream with the MCP client (upstream-call.ts).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { WritError, describeError } from '@writ/errors';
import { checkToolDefinition, expandEnv } from '@writ/tools';
import { mcpToolUrl } from './upstream-call.ts';
import { parseUpstreams } from './upstreams.ts';
import type { UpstreamServer, UpstreamsFile } from './upstreams.ts';

/** A tool as an upstream's tools/list shows it. */
export interface ListedTool {
  readonly name: string;
  readonly description?: string | undefined;
  readonly inputSchema: Readonly<Record<string, unknown>>;
}

type Env = Readonly<Record<string, string | undefined>>;

/**
 * The registry definitions of the declared tools, given what each server lists. A declared tool
 * the server does not offer is an error naming it; every definition is checked as the registry
 * checks its files.
 */
export function importedDefinitions(file: UpstreamsFile, listed: ReadonlyMap<string, readonly ListedTool[]>): Record<string, unknown>[] {
  const definitions: Record<string, unknown>[] = [];
  for (const [serverName, server] of Object.entries(file.servers)) {
    const offered = new Map((listed.get(serverName) ?? []).map((tool) => [tool.name, tool]));
    for (const [upstreamName, declared] of Object.entries(server.tools)) {
      const upstream = offered.get(upstreamName);
      if (upstream === undefined) {
        throw new WritError(
          'CONFIG_INVALID',
          `MCP upstreams file: server "${serverName}" offers no tool "${upstreamName}" (it lists: ${[...offered.keys()].join(', ') || 'none'})`,
          {
            field: `servers.${serverName}.tools.${upstreamName}`,
            rule: 'must be a tool the server lists',
          },
        );
      }
      const definition: Record<string, unknown> = {
        name: declared.name,
        version: declared.version,
        description: declared.description ?? upstream.description ?? `${upstreamName} of the MCP server ${serverName}`,
        effect: declared.effect,
        risk: declared.risk,
        arguments: declared.arguments ?? upstream.inputSchema,
        cost: declared.cost,
        timeout_ms: declared.timeout_ms,
        retry: declared.retry,
        idempotent: declared.idempotent,
        endpoint: { method: 'POST', url: mcpToolUrl(server.url, upstreamName) },
        ...(server.credential === undefined ? {} : { credential: server.credential }),
      };
      checkToolDefinition(definition, `${declared.name}@${declared.version}.json (servers.${serverName}.tools.${upstreamName})`);
      definitions.push(definition);
    }
  }
  return definitions;
}

function tokenOf(server: UpstreamServer, env: Env): string | undefined {
  const credential = server.credential;
  if (credential === undefined) return undefined;
  if ('env' in credential) return env[credential.env];
  return readFileSync(credential.file, 'utf8').trim();
}

/** What the server at `server.url` lists, asked with the official MCP client (its credential as a bearer token). */
export async function listUpstreamTools(server: UpstreamServer, env: Env = process.env): Promise<ListedTool[]> {
  const token = tokenOf(server, env);
  const client = new Client({ name: 'writ-mcp-import', version: '1' });
  const transport = new StreamableHTTPClientTransport(new URL(expandEnv(server.url, env, 'url')), {
    requestInit: { headers: token === undefined ? {} : { authorization: `Bearer ${token}` } },
  });
  await client.connect(transport);
  try {
    const tools: ListedTool[] = [];
    let cursor: string | undefined;
    do {
      const page = await client.listTools(cursor === undefined ? {} : { cursor });
      tools.push(...page.tools.map((tool) => ({ name: tool.name, description: tool.description, inputSchema: tool.inputSchema })));
      cursor = page.nextCursor;
    } while (cursor !== undefined);
    return tools;
  } finally {
    await client.close();
  }
}

/** Reads the upstreams file, asks each server for its tools, writes `<name>@<version>.json` into `toolsDir`; returns the files written. */
export async function importUpstreams(upstreamsFile: string, toolsDir: string, env: Env = process.env): Promise<string[]> {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(upstreamsFile, 'utf8'));
  } catch (error) {
    throw new WritError('CONFIG_INVALID', `MCP upstreams file ${upstreamsFile}: ${describeError(error)}`, {
      field: upstreamsFile,
      rule: 'must be a readable JSON file',
    });
  }
  const file = parseUpstreams(raw);
  const listed = new Map<string, ListedTool[]>();
  for (const [name, server] of Object.entries(file.servers)) {
    try {
      listed.set(name, await listUpstreamTools(server, env));
    } catch (error) {
      throw new WritError('TOOL_ENDPOINT_UNRESOLVED', `MCP server "${name}" (${server.url}) did not list its tools: ${describeError(error)}`, {
        field: `servers.${name}.url`,
        rule: 'must be a reachable MCP server (Streamable HTTP)',
        retriable: true,
      });
    }
  }
  mkdirSync(toolsDir, { recursive: true });
  return importedDefinitions(file, listed).map((definition) => {
    const path = join(toolsDir, `${String(definition['name'])}@${String(definition['version'])}.json`);
    writeFileSync(path, `${JSON.stringify(definition, null, 2)}\n`);
    return path;
  });
}
