// `writ mcp-import --config FILE [--out DIR]`: imports the declared tools of upstream MCP servers
// into the tool registry (docs/mcp.md, "Upstream MCP servers").
import { importUpstreams } from '@writ/mcp-gateway';

const USAGE = 'usage: writ mcp-import --config <upstreams.json> [--out <tools dir>, default $WRIT_TOOLS_DIR or tools]';

export async function runMcpImport(args: readonly string[]): Promise<number> {
  const valueOf = (flag: string): string | undefined => {
    const at = args.indexOf(flag);
    return at < 0 ? undefined : args[at + 1];
  };
  const config = valueOf('--config');
  if (config === undefined) {
    console.error(USAGE);
    return 2;
  }
  const out = valueOf('--out') ?? (process.env['WRIT_TOOLS_DIR'] || 'tools');
  const written = await importUpstreams(config, out);
  for (const file of written) console.log(`[mcp-import] wrote ${file}`);
  console.log(`[mcp-import] ${written.length} tool(s) imported into ${out}: restart (or roll) the services that read the registry`);
  return 0;
}
