// `writ who-can`: questions about who may do what, answered from the policies, the tool registry and
// the directory with the real Cedar engine: "which agents can delete customers?" (`invoke
// customers.delete`), "who may approve a refund over $100 in acme?" (`approve refunds.issue --args
// '{"amount_cents":10001,...}' --tenant acme`). Each agent's request is decided as the PDP would,
// with the arguments given (rules that read other arguments see them absent) and a fresh run.
import { describeError } from '@writ/errors';
import { loadDirectory } from '@writ/directory';
import type { Agent, Directory, User } from '@writ/directory';
import { createDecisionPoint, loadPolicySet } from '@writ/policy-engine';
import type { ApprovalEscalation, Decision, DecisionPoint, ToolDescriptor } from '@writ/policy-engine';
import { loadToolRegistry } from '@writ/tools';
import { parseFlags } from './ledger-source.ts';
import type { CliIo } from './verify.ts';

export const WHO_CAN_USAGE = `usage: writ who-can invoke|approve TOOL [--args JSON] [--tenant T] [--agent A] [--version V]
                    [--policies DIR] [--tools DIR] [--directory FILE] [--json]
  invoke: for each agent (of --tenant, or every tenant), what the policies decide on TOOL with
          --args: allowed, approval needed (by whom), or denied (by which policy).
  approve: for each agent's action on TOOL that needs approval, the users of its tenant who may
          approve it (Cedar's approve action) and whether their approval counts toward it.
  Policies from --policies (default policies/, the folder: publish it to make it the running set),
  tools from --tools (default tools/), people and agents from --directory (default
  WRIT_DIRECTORY_FILE or deploy/demo/directory.json).`;

export interface InvokeAnswer {
  readonly agent: string;
  readonly tenant: string;
  readonly role: string;
  readonly decision: Decision['decision'];
  readonly determiningPolicies: readonly string[];
  readonly approval?: { readonly count: number; readonly roles: readonly string[] };
}

export interface ApproveAnswer {
  readonly agent: string;
  readonly tenant: string;
  /** The approval the action would need (undefined: it needs none, being allowed or denied outright). */
  readonly needs: { readonly count: number; readonly roles: readonly string[]; readonly policy: string; readonly escalation?: ApprovalEscalation } | undefined;
  readonly approvers: readonly {
    readonly user: string;
    readonly role: string;
    readonly counts: boolean;
    /** Counts once the request escalated (a role of @approval_escalate_to). */
    readonly countsOnceEscalated: boolean;
    readonly permittedBy: readonly string[];
  }[];
  readonly refused: readonly { readonly user: string; readonly role: string; readonly why: string }[];
}

const NO_RUN = { steps: 0, spendMicros: 0, callsInWindow: 0 };

/** What the policies decide for each agent invoking the tool with these arguments. */
export function whoCanInvoke(point: DecisionPoint, agents: readonly Agent[], tool: ToolDescriptor, args: Record<string, unknown>): InvokeAnswer[] {
  return agents.map((agent) => {
    const decision = point.decide({
      tenant: agent.tenant,
      agent: { id: agent.id, role: agent.role, owner: agent.owner },
      tool,
      arguments: args,
      runStats: NO_RUN,
    });
    return {
      agent: agent.id,
      tenant: agent.tenant,
      role: agent.role,
      decision: decision.decision,
      determiningPolicies: decision.determiningPolicies,
      ...(decision.approval === undefined ? {} : { approval: { count: decision.approval.count, roles: decision.approval.roles } }),
    };
  });
}

/**
 * For each agent: the users of its tenant the policies let approve its action, and whether their
 * approval counts toward what the action needs (their job role is one the permit asks for).
 */
export function whoCanApprove(
  point: DecisionPoint,
  agents: readonly Agent[],
  users: readonly User[],
  tool: ToolDescriptor,
  args: Record<string, unknown>,
): ApproveAnswer[] {
  return agents.map((agent) => {
    const identity = { id: agent.id, role: agent.role, owner: agent.owner };
    const decision = point.decide({ tenant: agent.tenant, agent: identity, tool, arguments: args, runStats: NO_RUN });
    const approval = decision.approval;
    const needs =
      approval === undefined
        ? undefined
        : {
            count: approval.count,
            roles: approval.roles,
            policy: approval.policyId,
            ...(approval.escalation === undefined ? {} : { escalation: approval.escalation }),
          };
    const approvers: ApproveAnswer['approvers'][number][] = [];
    const refused: ApproveAnswer['refused'][number][] = [];
    for (const user of users.filter((u) => u.tenant === agent.tenant)) {
      const answer = point.authorizeApproval({
        approver: { id: user.id, role: user.role, tenant: user.tenant },
        pendingAction: { actionId: 'who-can', tenant: agent.tenant, agent: identity, tool, arguments: args },
      });
      if (answer.decision === 'allow') {
        approvers.push({
          user: user.id,
          role: user.role,
          counts: needs !== undefined && needs.roles.includes(user.role),
          countsOnceEscalated: needs?.escalation?.roles.includes(user.role) === true && !needs.roles.includes(user.role),
          permittedBy: answer.determiningPolicies,
        });
      } else {
        refused.push({
          user: user.id,
          role: user.role,
          why: answer.determiningPolicies.length > 0 ? `forbidden by ${answer.determiningPolicies.join(', ')}` : 'no policy permits it',
        });
      }
    }
    return { agent: agent.id, tenant: agent.tenant, needs, approvers, refused };
  });
}

function invokeLines(answers: readonly InvokeAnswer[], tool: ToolDescriptor): string[] {
  const lines = [`who can invoke ${tool.name}@${tool.version}:`];
  for (const a of answers) {
    const why =
      a.decision === 'approval_required'
        ? `needs ${a.approval?.count ?? '?'} approval(s) by ${a.approval?.roles.join(', ') ?? '?'} (${a.determiningPolicies.join(', ')})`
        : a.determiningPolicies.length > 0
          ? `${a.decision === 'allow' ? 'allowed' : 'denied'} by ${a.determiningPolicies.join(', ')}`
          : 'denied: no policy permits it';
    lines.push(`  ${a.tenant}/${a.agent} (${a.role}): ${why}`);
  }
  const allowed = answers.filter((a) => a.decision === 'allow').length;
  const held = answers.filter((a) => a.decision === 'approval_required').length;
  lines.push(`  ${allowed} allowed, ${held} with an approval, ${answers.length - allowed - held} denied, of ${answers.length} agents`);
  return lines;
}

function approveLines(answers: readonly ApproveAnswer[], tool: ToolDescriptor): string[] {
  const lines = [`who may approve ${tool.name}@${tool.version}:`];
  for (const a of answers) {
    if (a.needs === undefined) {
      lines.push(`  ${a.tenant}/${a.agent}: needs no approval with these arguments (allowed or denied outright)`);
      continue;
    }
    lines.push(`  ${a.tenant}/${a.agent}: needs ${a.needs.count} approval(s) by ${a.needs.roles.join(', ')} (${a.needs.policy})`);
    const counting = a.approvers.filter((p) => p.counts);
    lines.push(`    counts:       ${counting.length > 0 ? counting.map((p) => `${p.user} (${p.role})`).join(', ') : 'nobody'}`);
    const escalation = a.needs.escalation;
    const later = a.approvers.filter((p) => p.countsOnceEscalated);
    if (escalation !== undefined) {
      lines.push(
        `    once escalated (unanswered ${Math.round(escalation.afterMs / 60_000)} min, to ${escalation.roles.join(', ')}): ${later.length > 0 ? later.map((p) => `${p.user} (${p.role})`).join(', ') : 'nobody'}`,
      );
    }
    const other = a.approvers.filter((p) => !p.counts && !p.countsOnceEscalated);
    if (other.length > 0) lines.push(`    may approve, does not count (role): ${other.map((p) => `${p.user} (${p.role})`).join(', ')}`);
    for (const r of a.refused) lines.push(`    refused:      ${r.user} (${r.role}): ${r.why}`);
  }
  return lines;
}

function jsonObject(text: string): Record<string, unknown> {
  const value = JSON.parse(text) as unknown;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('--args must be a JSON object');
  return value as Record<string, unknown>;
}

/** Runs `writ who-can <args>`; returns the exit code. */
export async function runWhoCan(
  args: readonly string[],
  io: CliIo = { out: (l) => console.log(l), err: (l) => console.error(l) },
  env: Readonly<Record<string, string | undefined>> = process.env,
): Promise<number> {
  const [verb, toolName, ...rest] = args;
  const json = rest.includes('--json');
  let flags: Map<string, string>;
  let toolArgs: Record<string, unknown>;
  try {
    if (verb !== 'invoke' && verb !== 'approve') throw new Error('the first argument is invoke or approve');
    if (toolName === undefined || toolName.startsWith('--')) throw new Error('TOOL is required (a tool name of the registry, e.g. refunds.issue)');
    flags = parseFlags(
      rest.filter((a) => a !== '--json'),
      ['args', 'tenant', 'agent', 'version', 'policies', 'tools', 'directory'],
    );
    toolArgs = jsonObject(flags.get('args') ?? '{}');
  } catch (error) {
    io.err(describeError(error));
    io.err(WHO_CAN_USAGE);
    return 2;
  }
  try {
    const registry = loadToolRegistry(flags.get('tools') ?? 'tools');
    const definition = registry.get(toolName, flags.get('version'));
    if (definition === undefined) {
      io.err(`[who-can] no tool ${toolName}${flags.has('version') ? `@${flags.get('version') ?? ''}` : ''} in the registry`);
      return 1;
    }
    const tool: ToolDescriptor = { name: definition.name, version: definition.version, effect: definition.effect, risk: definition.risk };
    const point = createDecisionPoint(await loadPolicySet(flags.get('policies') ?? 'policies'));
    const directory: Directory = await loadDirectory(flags.get('directory') ?? env['WRIT_DIRECTORY_FILE'] ?? 'deploy/demo/directory.json');
    const tenant = flags.get('tenant');
    const agentId = flags.get('agent');
    const agents = directory.agents.filter((a) => (tenant === undefined || a.tenant === tenant) && (agentId === undefined || a.id === agentId));
    if (agents.length === 0) {
      io.err(`[who-can] no agent${agentId === undefined ? '' : ` ${agentId}`}${tenant === undefined ? '' : ` in tenant ${tenant}`} in the directory`);
      return 1;
    }
    if (verb === 'invoke') {
      const answers = whoCanInvoke(point, agents, tool, toolArgs);
      for (const line of json ? [JSON.stringify(answers)] : invokeLines(answers, tool)) io.out(line);
    } else {
      const answers = whoCanApprove(point, agents, directory.users, tool, toolArgs);
      for (const line of json ? [JSON.stringify(answers)] : approveLines(answers, tool)) io.out(line);
    }
    return 0;
  } catch (error) {
    io.err(`[who-can] ${describeError(error)}`);
    return 1;
  }
}
