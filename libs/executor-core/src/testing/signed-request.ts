// Builds a genuine ExecutionRequested (warrant and reservation signed with the given keys), as the
// planner would send after policy allowed and budget reserved. For tests of the executor.
import type { ExecutionRequested, TraceContext } from '@writ/contracts';
import { actionIdFor, issueReservation, newMetadata } from '@writ/contracts';
import { canonicalJson, sha256Canonical } from '@writ/crypto';
import type { SigningKey, TenantDataKey } from '@writ/crypto';
import { issueWarrant } from '@writ/policy-engine';
import { sealArguments } from '@writ/tools';
import type { ToolDefinition } from '@writ/tools';

export interface SignedRequestInput {
  readonly tenant: string;
  readonly runId: string;
  readonly agent: string;
  readonly tool: string;
  readonly toolVersion: string;
  readonly args: unknown;
  readonly idempotencyKey: string;
  readonly warrantKey: SigningKey;
  readonly reservationKey: SigningKey;
  readonly amountMicros?: number;
  readonly currency?: string;
  /** Default Date.now(). */
  readonly now?: number;
  /** Warrant lifetime from now; default 60 s. */
  readonly warrantTtlMs?: number;
  /** Reservation lifetime from now; default 60 s. */
  readonly reservationTtlMs?: number;
  /** Default now + 60 s. */
  readonly deadline?: number;
  readonly trace?: TraceContext | null;
  readonly producer?: string;
  /** Seal the sensitive arguments of this tool as the gateway does (without it they travel in clear, which the executor refuses). */
  readonly sealWith?: { readonly key: TenantDataKey; readonly tool: Pick<ToolDefinition, 'arguments'> };
}

export const TEST_POLICY_SET_HASH = 'a'.repeat(64);

export function signedExecutionRequest(input: SignedRequestInput): ExecutionRequested {
  const now = input.now ?? Date.now();
  const actionId = actionIdFor(input.tenant, input.runId, input.idempotencyKey);
  const args =
    input.sealWith === undefined
      ? input.args
      : sealArguments(input.sealWith.tool, input.args, (value, path) => (input.sealWith as { key: TenantDataKey }).key.seal(value, path));
  const argsSha256 = sha256Canonical(args);
  const warrant = issueWarrant(
    {
      action_id: actionId,
      tenant: input.tenant,
      agent: input.agent,
      tool: input.tool,
      tool_version: input.toolVersion,
      args_sha256: argsSha256,
      decision: 'allow',
      policy_set_hash: TEST_POLICY_SET_HASH,
      not_after: now + (input.warrantTtlMs ?? 60_000),
    },
    input.warrantKey,
  );
  const reservation = issueReservation(
    {
      reservation_id: actionId,
      action_id: actionId,
      tenant: input.tenant,
      run_id: input.runId,
      agent: input.agent,
      tool: input.tool,
      amount_micros: input.amountMicros ?? 20_000,
      currency: input.currency ?? 'USD',
      expires_at: now + (input.reservationTtlMs ?? 60_000),
    },
    input.reservationKey,
  );
  return {
    meta: newMetadata({
      tenant_id: input.tenant,
      run_id: input.runId,
      action_id: actionId,
      producer: input.producer ?? 'planner@test',
      trace: input.trace ?? null,
    }),
    agent_id: input.agent,
    tool: input.tool,
    tool_version: input.toolVersion,
    arguments_json: canonicalJson(args),
    args_sha256: argsSha256,
    idempotency_key: input.idempotencyKey,
    warrant: {
      key_id: warrant.key_id,
      agent_id: input.agent,
      tool: input.tool,
      tool_version: input.toolVersion,
      args_sha256: warrant.args_sha256,
      policy_set_hash: warrant.policy_set_hash,
      not_after: warrant.not_after,
      signature: warrant.signature,
    },
    reservation,
    deadline: input.deadline ?? now + 60_000,
  };
}
