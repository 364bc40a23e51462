// Policies are data with their own tests: policies/cases/{allow,deny,approval}/*.json, each a
// request and the decision plus determining policy ids it must get from the real Cedar engine.
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describeError } from '@writ/errors';
import { createDecisionPoint } from './decision-point.ts';
import type { DecisionPoint } from './decision-point.ts';
import { loadPolicySet } from './policy-set.ts';
import type { ApprovalAuthorizationRequest, DecisionRequest, PolicyDecision } from './types.ts';

const FOLDERS: Readonly<Record<string, PolicyDecision>> = { allow: 'allow', deny: 'deny', approval: 'approval_required' };

/** The JSON shape of one case file. */
export type PolicyCase =
  | { readonly description: string; readonly action?: 'invoke'; readonly request: DecisionRequest; readonly expect: CaseExpectation }
  | { readonly description: string; readonly action: 'approve'; readonly request: ApprovalAuthorizationRequest; readonly expect: CaseExpectation };

export interface CaseExpectation {
  readonly decision: PolicyDecision;
  readonly determiningPolicies: readonly string[];
}

export interface PolicyCaseResult {
  /** Relative to the cases folder, e.g. "deny/export-1001-rows.json". */
  readonly file: string;
  readonly description: string;
  readonly action: 'invoke' | 'approve';
  readonly expected: CaseExpectation | undefined;
  readonly actual: { readonly decision: PolicyDecision; readonly determiningPolicies: readonly string[]; readonly errors: readonly string[] } | undefined;
  readonly passed: boolean;
  /** Why it failed, one line each; empty when passed. */
  readonly problems: readonly string[];
}

export interface PolicyCaseReport {
  readonly policySetHash: string;
  readonly results: readonly PolicyCaseResult[];
  readonly passed: boolean;
  /** Policies that determine no case's decision: rules without a test. */
  readonly uncoveredPolicies: readonly string[];
}

function sameIds(a: readonly string[], b: readonly string[]): boolean {
  const left = [...new Set(a)].sort();
  const right = [...new Set(b)].sort();
  return left.length === right.length && left.every((id, i) => id === right[i]);
}

function checkCase(raw: unknown, folderDecision: PolicyDecision): { value?: PolicyCase; problems: string[] } {
  const problems: string[] = [];
  if (typeof raw !== 'object' || raw === null) return { problems: ['must be a JSON object'] };
  const c = raw as Record<string, unknown>;
  if (typeof c['description'] !== 'string' || c['description'] === '') problems.push('description must be a non-empty string');
  if (c['action'] !== undefined && c['action'] !== 'invoke' && c['action'] !== 'approve') problems.push('action must be "invoke" or "approve"');
  if (typeof c['request'] !== 'object' || c['request'] === null) problems.push('request must be an object');
  const expect = c['expect'] as Record<string, unknown> | undefined;
  if (typeof expect !== 'object' || expect === null) {
    problems.push('expect must be an object');
  } else {
    if (expect['decision'] !== folderDecision) problems.push(`expect.decision must be "${folderDecision}" in this folder`);
    const ids = expect['determiningPolicies'];
    if (!Array.isArray(ids) || !ids.every((id) => typeof id === 'string')) problems.push('expect.determiningPolicies must be an array of policy ids');
  }
  if (c['action'] === 'approve' && folderDecision === 'approval_required') problems.push('an approve case is allow or deny, never approval_required');
  return problems.length > 0 ? { problems } : { value: raw as PolicyCase, problems };
}

/** One case file's text and its path relative to the cases folder ("allow/x.json"): what a publication carries. */
export interface PolicyCaseSource {
  readonly file: string;
  readonly text: string;
}

function runOne(source: PolicyCaseSource, point: DecisionPoint): PolicyCaseResult {
  const { file } = source;
  const folderDecision = FOLDERS[file.slice(0, Math.max(0, file.indexOf('/')))];
  const failed = (problems: string[]): PolicyCaseResult => ({
    file,
    description: '',
    action: 'invoke',
    expected: undefined,
    actual: undefined,
    passed: false,
    problems,
  });
  if (folderDecision === undefined || !file.endsWith('.json')) {
    return failed([`unexpected entry: cases are .json files in the folders ${Object.keys(FOLDERS).join(', ')}`]);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(source.text);
  } catch (error) {
    return failed([`not valid JSON: ${describeError(error)}`]);
  }
  const { value, problems } = checkCase(raw, folderDecision);
  if (value === undefined) return failed(problems);
  const action = value.action ?? 'invoke';
  let actual: PolicyCaseResult['actual'];
  try {
    actual = value.action === 'approve' ? point.authorizeApproval(value.request) : point.decide(value.request);
  } catch (error) {
    return { file, description: value.description, action, expected: value.expect, actual: undefined, passed: false, problems: [describeError(error)] };
  }
  if (actual.decision !== value.expect.decision) problems.push(`decision: expected ${value.expect.decision}, got ${actual.decision}`);
  if (!sameIds(actual.determiningPolicies, value.expect.determiningPolicies)) {
    problems.push(`determining policies: expected [${value.expect.determiningPolicies.join(', ')}], got [${actual.determiningPolicies.join(', ')}]`);
  }
  if (actual.errors.length > 0) problems.push(`evaluation errors: ${actual.errors.join('; ')}`);
  return { file, description: value.description, action, expected: value.expect, actual, passed: problems.length === 0, problems };
}

/**
 * Reads a cases folder: every entry of allow/, deny/ and approval/, in name order. Anything else
 * at its top is listed too (with no text), so that running the cases reports it.
 */
export async function readPolicyCases(casesDir: string): Promise<PolicyCaseSource[]> {
  const sources: PolicyCaseSource[] = [];
  for (const folder of (await readdir(casesDir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
    if (folder.name.startsWith('.')) continue;
    if (!folder.isDirectory() || FOLDERS[folder.name] === undefined) {
      sources.push({ file: folder.name, text: '' });
      continue;
    }
    const files = (await readdir(join(casesDir, folder.name))).filter((name) => name.endsWith('.json')).sort();
    for (const name of files) sources.push({ file: `${folder.name}/${name}`, text: await readFile(join(casesDir, folder.name, name), 'utf8') });
  }
  return sources;
}

/** Runs cases against a decision point; `passed` needs at least one case and every case passing. */
export function runPolicyCaseSources(sources: readonly PolicyCaseSource[], point: DecisionPoint, policyIds: readonly string[] = []): PolicyCaseReport {
  const results = sources.map((source) => runOne(source, point));
  const determining = new Set(results.flatMap((r) => r.actual?.determiningPolicies ?? []));
  return {
    policySetHash: point.policySetHash,
    results,
    passed: results.length > 0 && results.every((r) => r.passed),
    uncoveredPolicies: policyIds.filter((id) => !determining.has(id)).sort(),
  };
}

/** Runs every case under `casesDir` (allow/, deny/, approval/) against a decision point. */
export async function runPolicyCasesAgainst(casesDir: string, point: DecisionPoint, policyIds: readonly string[] = []): Promise<PolicyCaseReport> {
  return runPolicyCaseSources(await readPolicyCases(casesDir), point, policyIds);
}

/** Loads the policy folder (validating it) and runs its cases/ against it. */
export async function runPolicyCases(dir = 'policies'): Promise<PolicyCaseReport> {
  const policySet = await loadPolicySet(dir);
  return runPolicyCasesAgainst(join(dir, 'cases'), createDecisionPoint(policySet), Object.keys(policySet.policies));
}
