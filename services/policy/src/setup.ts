import { loadSigningKey } from '@writ/crypto';
import type { SigningKey } from '@writ/crypto';
import { loadDirectory } from '@writ/directory';
import type { Directory } from '@writ/directory';
import { loadPolicySet } from '@writ/policy-engine';
import type { DecisionPoint } from '@writ/policy-engine';
import type { DirectoryAgent, DirectoryUser, ToolFacts } from '@writ/policy-service-core';
import { loadToolRegistry } from '@writ/tools';
import type { PolicyServiceConfig } from './config.ts';

/** What the PDP loads once at boot. Any part that is invalid stops the service. */
export interface PdpSetup {
  /** The current policy set's (PolicySets: it changes when a set is published). */
  readonly decisionPoint: DecisionPoint;
  readonly signingKey: SigningKey;
  agent(id: string): DirectoryAgent | undefined;
  user(id: string): DirectoryUser | undefined;
  /** The tool version, or the latest without one: the registry's own lookup, the planner's too. */
  tool(name: string, version: string | undefined): ToolFacts | undefined;
}

/**
 * The policy sets (`policies`: the current one's decision point; undefined at the boot check,
 * which only validates the folder), the tool registry, the directory and the warrant key. Errors
 * are the loaders' WritErrors: POLICY_SET_INVALID names the file and policy (the policy folder is
 * validated even when the stream already has a set: a broken folder is a broken deployment),
 * TOOL_REGISTRY_INVALID / DIRECTORY_INVALID the field, KEY_INVALID the path. `live` is the
 * service's directory that follows its file (else the file is read once).
 */
export async function loadPdpSetup(
  config: Pick<PolicyServiceConfig, 'WRIT_POLICY_DIR' | 'WRIT_TOOLS_DIR' | 'WRIT_DIRECTORY_FILE' | 'WRIT_POLICY_SIGNING_KEY'>,
  policies?: { readonly decisionPoint: DecisionPoint },
  live?: Directory,
): Promise<PdpSetup> {
  const folder = await loadPolicySet(config.WRIT_POLICY_DIR);
  const registry = loadToolRegistry(config.WRIT_TOOLS_DIR);
  const directory = live ?? (await loadDirectory(config.WRIT_DIRECTORY_FILE));
  const signingKey = await loadSigningKey(config.WRIT_POLICY_SIGNING_KEY);
  return {
    get decisionPoint() {
      if (policies === undefined) throw new Error(`policy folder ${folder.hash} validated only: no decision point at the boot check`);
      return policies.decisionPoint;
    },
    signingKey,
    agent: (id) => directory.agent(id),
    user: (id) => directory.user(id),
    tool: (name, version) => registry.get(name, version),
  };
}
