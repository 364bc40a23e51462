// The one place that touches cedar-wasm: everything else speaks plain data.
export {
  checkParseSchema,
  isAuthorizedPartial,
  policySetTextToParts,
  policyToJson,
  preparsePolicySet,
  preparseSchema,
  schemaToJsonWithResolvedTypes,
  statefulIsAuthorized,
  validate,
} from '@cedar-policy/cedar-wasm/nodejs';
export type {
  AuthorizationAnswer,
  DetailedError,
  EntityJson,
  EntityUidJson,
  CedarValueJson,
  PolicyJson,
  SchemaJson,
  StatefulAuthorizationCall,
} from '@cedar-policy/cedar-wasm/nodejs';

import type { DetailedError } from '@cedar-policy/cedar-wasm/nodejs';

/** Cedar's message with its help line, as one sentence for an operator. */
export function describeCedarError(error: DetailedError): string {
  const help = error.help === null || error.help === '' ? '' : ` (${error.help})`;
  return `${error.message}${help}`;
}
