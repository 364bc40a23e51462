import { loadSigningKey } from '@writ/crypto';
import type { SigningKey } from '@writ/crypto';
import { loadDirectory } from '@writ/directory';
import type { Directory } from '@writ/directory';
import { createDecisionPoint, loadPolicySet } from '@writ/policy-engine';
import type { DecisionPoint } from '@writ/policy-engine';
import type { DirectoryAgent, DirectoryUser, ToolFacts } from '@writ/policy-service-core';
import { loadToolRegistry } from '@writ/tools';
import type { PolicyServiceConfig } from './config.ts';

/** What the PDP loads once at boot. Any part that is invalid stops the service. */
export interface PdpSetup {
  readonly decisionPoint: DecisionPoint;
  readonly signingKey: SigningKey;
  agent(id: string): DirectoryAgent | undefined;
  user(id: string): DirectoryUser | undefined;
  /** The tool version, or the latest without one: the registry's own lookup, the planner's too. */
  tool(name: string, version: string | undefined): ToolFacts | undefined;
}

/**
 * The validated policy set (parsed once into the stateful evaluator), the tool registry, the
 * directory and the warrant key. Errors are the loaders' WritErrors: POLICY_SET_INVALID names the
 * file and policy, TOOL_REGISTRY_INVALID / DIRECTORY_INVALID the field, KEY_INVALID the path.
 * `live` is the service's directory that follows its file (else the file is read once).
 */
export async function loadPdpSetup(
  config: Pick<PolicyServiceConfig, 'WRIT_POLICY_DIR' | 'WRIT_TOOLS_DIR' | 'WRIT_DIRECTORY_FILE' | 'WRIT_POLICY_SIGNING_KEY'>,
  live?: Directory,
): Promise<PdpSetup> {
  const decisionPoint = createDecisionPoint(await loadPolicySet(config.WRIT_POLICY_DIR));
  const registry = loadToolRegistry(config.WRIT_TOOLS_DIR);
  const directory = live ?? (await loadDirectory(config.WRIT_DIRECTORY_FILE));
  const signingKey = await loadSigningKey(config.WRIT_POLICY_SIGNING_KEY);
  return {
    decisionPoint,
    signingKey,
    agent: (id) => directory.agent(id),
    user: (id) => directory.user(id),
    tool: (name, version) => registry.get(name, version),
  };
}
