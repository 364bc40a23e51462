export { importUpstreams, importedDefinitions, listUpstreamTools } from './import.ts';
export type { ListedTool } from './import.ts';
export { mcpTargetOf, mcpToolUrl, resultOfToolCall, withMcpUpstreams } from './upstream-call.ts';
export type { FetchLike, ResponseLike } from './upstream-call.ts';
export { parseUpstreams } from './upstreams.ts';
export type { UpstreamServer, UpstreamTool, UpstreamsFile } from './upstreams.ts';
