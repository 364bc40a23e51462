// A policy folder read and checked on this machine, as the policy service would (shared by `writ
// policy publish`, `diff` and `backtest`): its problems and failing cases printed one per line.
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { isWritError } from '@writ/errors';
import { compilePolicySet, readPolicyCases, readPolicySetSources } from '@writ/policy-engine';
import type { LoadedPolicySet, PolicyCaseSource, PolicySetSources } from '@writ/policy-engine';
import type { CliIo } from './verify.ts';

/** The first 12 characters of a hash, or "none". */
export const short = (hash: string | null | undefined): string => (hash === null || hash === undefined ? 'none' : hash.slice(0, 12));

export interface Problem {
  readonly file?: string;
  readonly policyId?: string;
  readonly message?: string;
}

export function problemLines(problems: readonly Problem[]): string[] {
  return problems.map((p) => `  ${p.file ?? '?'}${p.policyId === undefined ? '' : ` (policy "${p.policyId}")`}: ${p.message ?? ''}`);
}

export interface FailedCase {
  readonly file?: string;
  readonly description?: string;
  readonly problems?: readonly string[];
}

export function caseLines(results: readonly FailedCase[]): string[] {
  return results.map(
    (r) => `  ${r.file ?? '?'}${r.description === undefined || r.description === '' ? '' : ` (${r.description})`}: ${(r.problems ?? []).join('; ')}`,
  );
}

/** Thrown after its lines were printed: the command failed with exit 1. */
export class Reported extends Error {}

export interface LocalPolicySet {
  readonly dir: string;
  readonly sources: PolicySetSources;
  readonly compiled: LoadedPolicySet;
}

/** Reads and compiles a policy folder; prints its problems and throws Reported when it is invalid. */
export async function readLocal(dir: string, io: CliIo, version?: string): Promise<LocalPolicySet> {
  try {
    const read = await readPolicySetSources(dir);
    const sources: PolicySetSources = version === undefined ? read : { ...read, version };
    return { dir, sources, compiled: compilePolicySet(sources) };
  } catch (error) {
    if (isWritError(error, 'POLICY_SET_INVALID')) {
      const problems = error.details?.['problems'];
      if (Array.isArray(problems)) {
        io.err(`[policy] the policy set in ${dir} is invalid:`);
        for (const line of problemLines(problems as Problem[])) io.err(line);
      } else {
        io.err(`[policy] ${error.message}${error.rule === undefined ? '' : ` (${error.rule})`}`);
      }
      throw new Reported();
    }
    throw error;
  }
}

/** The folder's cases/ (none when it has no cases folder). */
export async function readLocalCases(dir: string): Promise<PolicyCaseSource[]> {
  const casesDir = join(dir, 'cases');
  try {
    await stat(casesDir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  return readPolicyCases(casesDir);
}

/** true for a folder, false for anything else, undefined when nothing is there. */
export async function isDirectory(path: string): Promise<boolean | undefined> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return undefined;
  }
}
