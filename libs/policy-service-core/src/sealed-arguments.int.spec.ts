// The policy service decides on sealed arguments: it never holds a tenant's data key, Cedar sees
// no sensitive value (not even sealed), and the repository's policies declare no sensitive field.
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { newMetadata } from '@writ/contracts';
import type { ActionProposed } from '@writ/contracts';
import { TenantDataKey, canonicalJson, generateSigningKey, sha256Canonical } from '@writ/crypto';
import { createDecisionPoint, loadPolicySet } from '@writ/policy-engine';
import type { DecisionPoint, DecisionRequest } from '@writ/policy-engine';
import { loadToolRegistry, sealArguments, sensitivePaths } from '@writ/tools';
import type { ToolDefinition, ToolRegistry } from '@writ/tools';
import { onActionProposed } from './decide.ts';
import type { PdpEnvironment } from './decide.ts';
import { emptyPdpState } from './state.ts';

const POLICIES = fileURLToPath(new URL('../../../policies', import.meta.url));
const TOOLS = fileURLToPath(new URL('../../../tools', import.meta.url));
const CANARY = '8317';

let registry: ToolRegistry;
let pdp: DecisionPoint;
const seen: DecisionRequest[] = [];

beforeAll(async () => {
  registry = loadToolRegistry(TOOLS);
  const real = createDecisionPoint(await loadPolicySet(POLICIES));
  pdp = {
    ...real,
    decide: (request) => {
      seen.push(request);
      return real.decide(request);
    },
  };
});

function environment(): PdpEnvironment {
  return {
    decisionPoint: pdp,
    agent: (id) => (id === 'triage-bot' ? { id, tenant: 'acme', role: 'support', owner: 'dana' } : undefined),
    user: () => undefined,
    tool: (name, version) => registry.get(name, version),
    signingKey: generateSigningKey('warrant-test'),
    warrantTtlMs: 60_000,
    producer: 'policy@test',
    now: Date.now(),
    newMetadata,
  };
}

describe('policy service on sealed arguments', () => {
  it('decides a refund whose card digits are sealed, binds the sealed digest, and puts no sensitive value into Cedar', () => {
    const refund = registry.get('refunds.issue', '1.2.0') as ToolDefinition;
    const key = TenantDataKey.generate('acme');
    const clear = { ticket_id: 'T-1', customer_id: 'C-1', amount_cents: 2500, ticket_tags: ['refund_approved'], reason: 'dup', card_last4: CANARY };
    const sealed = sealArguments(refund, clear, (value, path) => key.seal(value, path));
    const event: ActionProposed = {
      meta: newMetadata({ tenant_id: 'acme', run_id: 'run-1', action_id: 'action-1', producer: 'gateway@test' }),
      agent_id: 'triage-bot',
      tool: 'refunds.issue',
      tool_version: '1.2.0',
      arguments_json: canonicalJson(sealed),
      args_sha256: sha256Canonical(sealed),
      reason: 'duplicate charge',
      idempotency_key: 'run-1:1',
      mode: 'live',
      provenance: null,
    };
    const { outputs } = onActionProposed(emptyPdpState(), event, environment());
    const decided = outputs.find((o) => o.type === 'PolicyDecided');
    expect(decided?.payload).toMatchObject({ decision: 'allow', determining_policies: ['refund-up-to-100-support'] });
    expect(JSON.stringify(decided?.payload)).toContain(event.args_sha256);
    expect(JSON.stringify(outputs)).not.toContain(`"${CANARY}"`);
    const request = seen.at(-1);
    expect(request?.arguments).toMatchObject({ amount_cents: 2500 });
    // The Cedar request is built from what the schema declares: the sealed field is not even passed.
    const cedarArguments = JSON.stringify(request?.arguments);
    expect(cedarArguments).not.toContain(CANARY);
    expect(cedarArguments).not.toContain('$sealed');
  });

  it('no argument that a registered tool marks sensitive is declared for policies in writ.cedarschema', async () => {
    const schema = await readFile(`${POLICIES}/writ.cedarschema`, 'utf8');
    const block = /type Arguments = \{([^}]*)\};/.exec(schema)?.[1] ?? '';
    const declared = new Set([...block.matchAll(/^\s*([A-Za-z_][A-Za-z0-9_]*)\??\s*:/gm)].map((m) => m[1]));
    expect(declared.has('amount_cents')).toBe(true); // the block was found
    const sensitive = registry.list().flatMap((tool) => sensitivePaths(tool.arguments, exampleOf(tool.arguments)).map((path) => String(path.at(-1))));
    expect(sensitive).toContain('card_last4');
    expect(sensitive.filter((name) => declared.has(name))).toEqual([]);
  });
});

/** An object with every declared property present (for finding sensitive places by schema). */
function exampleOf(schema: unknown): unknown {
  const properties = (schema as { properties?: Record<string, unknown> }).properties ?? {};
  return Object.fromEntries(Object.keys(properties).map((name) => [name, 'x']));
}
