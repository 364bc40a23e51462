export { compareVersions, hasSideEffects, mintsCredential, reservedCostOf, tokenCostMicros, tokensAt } from './definition.ts';
export { ACTION_TOKEN_ALGORITHM, ACTION_TOKEN_TYPE, ActionTokenSigner, verifyActionToken } from './action-token.ts';
export type { ActionTokenClaims, ActionTokenExpectation } from './action-token.ts';
export { argumentsOfRequest, fitsToolEndpoint, fitsVerifyRequest, matchPathTemplate, pathTemplateOf, verifyPathOf } from './request-match.ts';
export type { ReceivedRequest } from './request-match.ts';
export { loadToolRegistry, createToolRegistry, checkToolDefinition } from './registry.ts';
export { validateArguments, SENSITIVE_KEYWORD } from './schema.ts';
export { checkDestinations } from './destinations.ts';
export type { DestinationCheckOptions, DestinationDeclarationProblem, DestinationKind, DestinationProblem } from './destinations.ts';
export { redactArguments, redactResult, redactJson, sensitiveNames, REDACTED } from './redact.ts';
export {
  MIN_SCRUB_LENGTH,
  hasSensitiveArguments,
  hasSensitiveFields,
  scrubberOf,
  sealArguments,
  sensitiveTexts,
  unsealArguments,
  validateSealedArguments,
} from './seal.ts';
export { jsonPath, sensitivePaths } from './sensitive-paths.ts';
export { actualCostOf, buildToolRequest, buildVerifyRequest, expandEnv, sideEffectRefs, valueAt } from './request.ts';
export type {
  ToolDefinition,
  ToolEffect,
  ToolRisk,
  HttpMethod,
  JsonSchema,
  ToolCost,
  ToolTokenPrice,
  ToolRetry,
  ToolEndpoint,
  ToolCredential,
  ToolCredentialMint,
  ToolVerification,
  ToolDestination,
} from './definition.ts';
export type { ToolRegistry } from './registry.ts';
export type { ArgumentProblem, ArgumentCheck } from './schema.ts';
export type { ToolHttpRequest } from './request.ts';
export { ControlBoard, PLATFORM_SCOPE, decodeControl, encodeControl, scopeCovers, targetsTool } from './controls.ts';
export type { ControlRefusal, ControlSetting, ControlSubject } from './controls.ts';
