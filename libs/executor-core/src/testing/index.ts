export { signedExecutionRequest, TEST_POLICY_SET_HASH } from './signed-request.ts';
export type { SignedRequestInput } from './signed-request.ts';
