export { loadModelCatalogue, modelToolName, parseModelCatalogue } from './catalogue.ts';
export type { ModelCatalogue, ModelEntry, ModelProvider } from './catalogue.ts';
export { parseChatRequest, proposalArguments, upstreamDigest } from './chat-request.ts';
export type { ChatRequest } from './chat-request.ts';
export { openAiError, openAiErrorOf, providerError } from './errors.ts';
export type { OpenAiError, OpenAiErrorBody } from './errors.ts';
export { ModelCallDoor, SseSplitter, withModelCalls } from './model-call.ts';
export type { ModelCallDeps, ModelCallSink, ModelCallSummary, ModelFetchLike, ModelResponseLike } from './model-call.ts';
export { modelEndpointUrl, modelMaxCostMicros, modelTargetOf, modelToolDefinition, modelToolDefinitions, writeModelTools } from './tools.ts';
