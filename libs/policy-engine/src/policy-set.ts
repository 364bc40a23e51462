import { readFile, readdir } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { canonicalJson, sha256Hex } from '@writ/crypto';
import { WritError } from '@writ/errors';
import { analysePolicySet, parseApprovalAnnotation } from './analysis.ts';
import type { AnalysedPolicy, ApprovalAnnotation, PolicyProblem } from './analysis.ts';
import { collectHistoryFacts, parseHistoryAnnotation } from './history.ts';
import type { HistoryFact } from './history.ts';
import { POLICY_MODES } from './types.ts';
import type { PolicyMode } from './types.ts';
import { checkParseSchema, describeCedarError, policySetTextToParts, policyToJson, schemaToJsonWithResolvedTypes, validate } from './cedar.ts';
import type { PolicyJson, SchemaJson } from './cedar.ts';

export const POLICY_NAMESPACE = 'Writ';
const HASH_FORMAT = 'writ.policy-set/1';
const POLICY_ID = /^[a-z0-9][a-z0-9._-]{0,127}$/;
const MAX_REASON_CHARS = 300;

/** Policy texts by id, the schema, and where they came from (for error messages). */
export interface PolicySetSources {
  readonly schemaText: string;
  /** Policy id -> the Cedar text of exactly one static policy carrying @id("<same id>"). */
  readonly policies: Readonly<Record<string, string>>;
  readonly version?: string;
  /** Policy id -> file it was read from; defaults to "<id>.cedar". */
  readonly files?: Readonly<Record<string, string>>;
  readonly schemaFile?: string;
}

export interface PolicyMetadata {
  readonly id: string;
  readonly file: string;
  readonly effect: 'permit' | 'forbid';
  readonly mode: PolicyMode;
  /** `@reason("...")`: why the policy exists, in its author's words (shown to approvers). */
  readonly reason?: string;
  /** The approval this permit asks for (from @approval_count / @approval_roles), if any. */
  readonly approval?: ApprovalAnnotation;
  /** The history facts its `@history` annotation defines (context.history.<name>). */
  readonly history?: readonly HistoryFact[];
}

/** A validated policy set: plain data, safe to record with a decision and to replay. */
export interface LoadedPolicySet {
  readonly policies: Readonly<Record<string, string>>;
  readonly schemaText: string;
  /** sha256 of the canonical JSON of {format, schema, policies}: the policy_set_hash. */
  readonly hash: string;
  /** The VERSION file's label, or "sha256:<first 12 hex of hash>" without one. */
  readonly version: string;
  readonly metadata: Readonly<Record<string, PolicyMetadata>>;
  /** Every history fact the policies define (sorted by name): what the PDP computes into context.history. */
  readonly history: readonly HistoryFact[];
}

export interface PolicySetProblem {
  readonly file: string;
  readonly policyId?: string;
  readonly message: string;
}

/** The content hash of a schema and policy set (independent of file names and order). */
export function policySetHash(schemaText: string, policies: Readonly<Record<string, string>>): string {
  return sha256Hex(canonicalJson({ format: HASH_FORMAT, schema: schemaText, policies }));
}

function invalid(problems: readonly PolicySetProblem[]): WritError {
  const lines = problems.map((p) => `  ${p.file}${p.policyId === undefined ? '' : ` (policy "${p.policyId}")`}: ${p.message}`);
  const [first] = problems;
  return new WritError('POLICY_SET_INVALID', `invalid policy set:\n${lines.join('\n')}`, {
    field: first?.file,
    rule: first?.message,
    details: { problems },
  });
}

function parseOnePolicy(id: string, text: string, file: string, problems: PolicySetProblem[]): PolicyJson | undefined {
  const parts = policySetTextToParts(text);
  if (parts.type === 'failure') {
    for (const error of parts.errors) problems.push({ file, policyId: id, message: describeCedarError(error) });
    return undefined;
  }
  if (parts.policy_templates.length > 0) {
    problems.push({ file, policyId: id, message: 'templates are not supported; write a static policy' });
    return undefined;
  }
  if (parts.policies.length !== 1) {
    problems.push({ file, policyId: id, message: `must hold exactly one policy, found ${parts.policies.length}` });
    return undefined;
  }
  const json = policyToJson(text);
  if (json.type === 'failure') {
    for (const error of json.errors) problems.push({ file, policyId: id, message: describeCedarError(error) });
    return undefined;
  }
  const annotated = json.json.annotations?.['id'];
  if (annotated !== id) {
    problems.push({
      file,
      policyId: id,
      message: annotated === undefined ? `must carry @id("${id}")` : `carries @id("${annotated}") but is registered as "${id}"`,
    });
    return undefined;
  }
  return json.json;
}

/**
 * Validates sources into a LoadedPolicySet: every policy parses, carries its @id, and passes
 * Cedar's strict validator against the schema with no error and no warning (an impossible policy
 * is a warning there and an error here); approval annotations match what policies read; no
 * unconditional forbid shadows an action; every action has a permit. All problems are reported at
 * once in one POLICY_SET_INVALID error naming file, policy id and Cedar's message.
 */
export function compilePolicySet(sources: PolicySetSources): LoadedPolicySet {
  const schemaFile = sources.schemaFile ?? 'writ.cedarschema';
  const fileOf = (id: string): string => sources.files?.[id] ?? `${id}.cedar`;
  const problems: PolicySetProblem[] = [];

  const schemaCheck = checkParseSchema(sources.schemaText);
  if (schemaCheck.type === 'failure') {
    throw invalid(schemaCheck.errors.map((error) => ({ file: schemaFile, message: describeCedarError(error) })));
  }
  const schemaJson = schemaToJsonWithResolvedTypes(sources.schemaText);
  if (schemaJson.type === 'failure') {
    throw invalid(schemaJson.errors.map((error) => ({ file: schemaFile, message: describeCedarError(error) })));
  }
  if (schemaJson.json[POLICY_NAMESPACE] === undefined) {
    throw invalid([{ file: schemaFile, message: `must declare namespace ${POLICY_NAMESPACE}` }]);
  }

  const analysed: AnalysedPolicy[] = [];
  for (const [id, text] of Object.entries(sources.policies)) {
    if (!POLICY_ID.test(id)) {
      problems.push({ file: fileOf(id), policyId: id, message: 'policy ids are 1-128 lower-case letters, digits, ".", "_" or "-"' });
      continue;
    }
    const json = parseOnePolicy(id, text, fileOf(id), problems);
    if (json === undefined) continue;
    const annotationProblems: PolicyProblem[] = [];
    const approval = parseApprovalAnnotation(id, json, annotationProblems);
    problems.push(...annotationProblems.map((p) => ({ file: fileOf(id), policyId: id, message: p.message })));
    const mode = json.annotations?.['mode'] ?? 'enforce';
    if (!(POLICY_MODES as readonly string[]).includes(mode)) {
      problems.push({
        file: fileOf(id),
        policyId: id,
        message: `@mode("${mode}") is not a mode: use ${POLICY_MODES.map((m) => `"${m}"`).join(', ')} (default enforce)`,
      });
      continue;
    }
    const reason = json.annotations?.['reason'];
    if (reason !== undefined && (reason.trim() === '' || reason.length > MAX_REASON_CHARS)) {
      problems.push({ file: fileOf(id), policyId: id, message: `@reason must be 1 to ${MAX_REASON_CHARS} characters: it is shown to approvers` });
      continue;
    }
    const historyText = json.annotations?.['history'];
    let history: HistoryFact[] | undefined;
    if (historyText !== undefined) {
      try {
        history = parseHistoryAnnotation(historyText);
      } catch (error) {
        problems.push({ file: fileOf(id), policyId: id, message: `@history: ${(error as Error).message}` });
        continue;
      }
    }
    analysed.push({
      id,
      json,
      approval,
      mode: mode as PolicyMode,
      ...(reason === undefined ? {} : { reason: reason.trim() }),
      ...(history === undefined ? {} : { history }),
    });
  }
  if (Object.keys(sources.policies).length === 0) problems.push({ file: schemaFile, message: 'the policy set holds no policies' });
  if (problems.length > 0) throw invalid(problems);

  const validation = validate({
    schema: sources.schemaText,
    policies: { staticPolicies: { ...sources.policies } },
    validationSettings: { mode: 'strict' },
  });
  if (validation.type === 'failure') {
    throw invalid(validation.errors.map((error) => ({ file: schemaFile, message: describeCedarError(error) })));
  }
  for (const finding of [...validation.validationErrors, ...validation.validationWarnings]) {
    problems.push({ file: fileOf(finding.policyId), policyId: finding.policyId, message: describeCedarError(finding.error) });
  }
  for (const warning of validation.otherWarnings) problems.push({ file: schemaFile, message: describeCedarError(warning) });
  for (const problem of analysePolicySet(analysed, schemaJson.json as SchemaJson<string>, POLICY_NAMESPACE)) {
    const known = problem.policyId in sources.policies;
    problems.push({ file: known ? fileOf(problem.policyId) : schemaFile, ...(known ? { policyId: problem.policyId } : {}), message: problem.message });
  }
  if (problems.length > 0) throw invalid(problems);

  const hash = policySetHash(sources.schemaText, sources.policies);
  const metadata: Record<string, PolicyMetadata> = {};
  for (const { id, json, approval, mode, reason, history } of analysed) {
    metadata[id] = {
      id,
      file: fileOf(id),
      effect: json.effect,
      mode: mode ?? 'enforce',
      ...(approval === undefined ? {} : { approval }),
      ...(reason === undefined ? {} : { reason }),
      ...(history === undefined ? {} : { history }),
    };
  }
  const history = collectHistoryFacts(Object.values(metadata).map((m) => ({ policyId: m.id, facts: m.history ?? [] })));
  const version = sources.version?.trim();
  return {
    policies: { ...sources.policies },
    schemaText: sources.schemaText,
    hash,
    version: version === undefined || version === '' ? `sha256:${hash.slice(0, 12)}` : version,
    metadata,
    history,
  };
}

async function listPolicyFiles(root: string, dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.name.startsWith('.')) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      // cases/ holds decision tests, not policies.
      if (!(dir === root && entry.name === 'cases')) found.push(...(await listPolicyFiles(root, path)));
    } else if (entry.name.endsWith('.cedar')) {
      found.push(path);
    }
  }
  return found.sort();
}

function extractId(text: string): string | undefined {
  return /@id\(\s*"([^"]*)"\s*\)/.exec(text)?.[1];
}

/**
 * Reads a policy folder: one "*.cedarschema" at its top, every "*.cedar" below it (except under
 * cases/), one policy per file named "<id>.cedar", and an optional VERSION file. Validates it with
 * compilePolicySet. A missing or unreadable folder is POLICY_SET_INVALID too.
 */
export async function loadPolicySet(dir = 'policies'): Promise<LoadedPolicySet> {
  return compilePolicySet(await readPolicySetSources(dir));
}

/** Reads a policy folder as loadPolicySet does, without validating its policies: what `writ policy publish` sends. */
export async function readPolicySetSources(dir = 'policies'): Promise<PolicySetSources> {
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch (cause) {
    throw new WritError('POLICY_SET_INVALID', `cannot read the policy folder ${dir}`, {
      field: dir,
      rule: 'must be a readable folder of .cedar files and one .cedarschema',
      cause,
    });
  }
  const schemaFiles = entries.filter((name) => name.endsWith('.cedarschema'));
  if (schemaFiles.length !== 1) {
    throw invalid([{ file: dir, message: `must hold exactly one .cedarschema file, found ${schemaFiles.length}` }]);
  }
  const schemaFile = schemaFiles[0] ?? '';
  const schemaText = await readFile(join(dir, schemaFile), 'utf8');
  const version = entries.includes('VERSION') ? await readFile(join(dir, 'VERSION'), 'utf8') : undefined;

  const problems: PolicySetProblem[] = [];
  const policies: Record<string, string> = {};
  const files: Record<string, string> = {};
  for (const path of await listPolicyFiles(dir, dir)) {
    const file = relative(dir, path).split(sep).join('/');
    const text = await readFile(path, 'utf8');
    const id = extractId(text);
    const expected = file.slice(file.lastIndexOf('/') + 1, -'.cedar'.length);
    if (id === undefined) {
      problems.push({ file, message: `must start with @id("${expected}")` });
    } else if (id !== expected) {
      problems.push({ file, policyId: id, message: `file name must be the policy id: rename it to ${id}.cedar or use @id("${expected}")` });
    } else if (id in policies) {
      problems.push({ file, policyId: id, message: `policy id "${id}" is also used by ${files[id] ?? '?'}` });
    } else {
      policies[id] = text;
      files[id] = file;
    }
  }
  if (problems.length > 0) throw invalid(problems);
  return { schemaText, policies, files, schemaFile, ...(version === undefined ? {} : { version }) };
}
