// The controls model (kill switches and safe mode) shared by the gateway that sets them, the
// planner that rejects proposals early and the executor that refuses calls: how a control is
// written on the compacted controls topic, and which actions it stops.
//
// A control belongs to a scope, its event's meta.tenant_id: one tenant, or the platform tenant
// "*" (every tenant, set by platform admins only). Within a scope it names a subject:
//   kill switch  tool_kill_switch  target "<tool>" (name, name@version or prefix "refunds.*")
//                tool_kill_switch  target "*"       (every tool: the scope's switch)
//                agent_kill_switch target "<agent id>"
//   safe mode    safe_mode         target "*"             (the scope: only reads run)
//                safe_mode         target "tool:<tool>"   (that tool's side effects stop)
//                safe_mode         target "agent:<id>"    (that agent may only read)
// Its key is `<scope>/<kind>:<target>` (e.g. `acme/tool:refunds.issue`, `*/safe_mode:*`), so
// compaction keeps one value per tenant and subject. The board identifies a control by what it
// means (scope, kind, target), never by the key it was sent with, so controls written before keys
// carried a tenant (`tool:<name>`, `safe_mode:<tenant>` with target = the tenant) are still read,
// in their own tenant only, and a release under the new key ends them.
import type { ControlChanged, ControlKind } from '@writ/contracts';
import type { ToolDefinition } from './definition.ts';
import { hasSideEffects } from './definition.ts';

/** The scope of a platform-wide control: every tenant. */
export const PLATFORM_SCOPE = '*';

export type ControlSubject = { readonly kind: 'all' } | { readonly kind: 'tool'; readonly tool: string } | { readonly kind: 'agent'; readonly agent: string };

/** What a control is, independent of how it was written on the topic. */
export interface ControlSetting {
  /** A tenant id, or "*" for every tenant. */
  readonly scope: string;
  readonly control: 'kill_switch' | 'safe_mode';
  readonly subject: ControlSubject;
}

export interface ControlRefusal {
  readonly code: 'TOOL_KILL_SWITCH' | 'AGENT_KILL_SWITCH' | 'SAFE_MODE';
  readonly message: string;
}

/** Whether a kill-switch target names this tool: "*", "refunds.issue", "refunds.issue@1.2.0" or a prefix "refunds.*". */
export function targetsTool(target: string, tool: Pick<ToolDefinition, 'name' | 'version'>): boolean {
  if (target === '*' || target === tool.name || target === `${tool.name}@${tool.version}`) return true;
  return target.endsWith('.*') && tool.name.startsWith(target.slice(0, -1));
}

/** The wire form of a control: its compacted-topic key, kind and target. */
export function encodeControl(setting: ControlSetting): { control_key: string; kind: ControlKind; target: string } {
  const { scope, subject } = setting;
  let kind: ControlKind;
  let target: string;
  if (setting.control === 'kill_switch') {
    kind = subject.kind === 'agent' ? 'agent_kill_switch' : 'tool_kill_switch';
    target = subject.kind === 'all' ? '*' : subject.kind === 'tool' ? subject.tool : subject.agent;
  } else {
    kind = 'safe_mode';
    target = subject.kind === 'all' ? '*' : subject.kind === 'tool' ? `tool:${subject.tool}` : `agent:${subject.agent}`;
  }
  const short = kind === 'tool_kill_switch' ? 'tool' : kind === 'agent_kill_switch' ? 'agent' : kind;
  return { control_key: `${scope}/${short}:${target}`, kind, target };
}

/** What a ControlChanged means, or undefined for a config control (not a switch). */
export function decodeControl(event: Pick<ControlChanged, 'meta' | 'kind' | 'target'>): ControlSetting | undefined {
  const scope = event.meta.tenant_id;
  const { target } = event;
  switch (event.kind) {
    case 'tool_kill_switch':
      return { scope, control: 'kill_switch', subject: target === '*' ? { kind: 'all' } : { kind: 'tool', tool: target } };
    case 'agent_kill_switch':
      return { scope, control: 'kill_switch', subject: target === '*' ? { kind: 'all' } : { kind: 'agent', agent: target } };
    case 'safe_mode':
      if (target.startsWith('tool:')) return { scope, control: 'safe_mode', subject: { kind: 'tool', tool: target.slice('tool:'.length) } };
      if (target.startsWith('agent:')) return { scope, control: 'safe_mode', subject: { kind: 'agent', agent: target.slice('agent:'.length) } };
      // "*", or (written before targets named the subject) the tenant itself.
      return { scope, control: 'safe_mode', subject: { kind: 'all' } };
    case 'config':
      return undefined;
    default: {
      const never: never = event.kind;
      return never;
    }
  }
}

/** Whether a control of `scope` reaches an action of `tenant`: the same tenant, or a platform-wide control. */
export function scopeCovers(scope: string, tenant: string): boolean {
  return scope === PLATFORM_SCOPE || scope === tenant;
}

function subjectCovers(subject: ControlSubject, agent: string | undefined, tool: Pick<ToolDefinition, 'name' | 'version'> | undefined): boolean {
  switch (subject.kind) {
    case 'all':
      return true;
    case 'tool':
      return tool !== undefined && targetsTool(subject.tool, tool);
    case 'agent':
      return agent !== undefined && subject.agent === agent;
  }
}

function where(scope: string): string {
  return scope === PLATFORM_SCOPE ? 'platform-wide' : `in tenant ${scope}`;
}

function refusalOf(setting: ControlSetting, control: ControlChanged, tool: Pick<ToolDefinition, 'name' | 'effect'>, agent: string): ControlRefusal {
  const by = `(${control.control_key}, set by ${control.set_by})`;
  if (setting.control === 'safe_mode') {
    const what =
      setting.subject.kind === 'all'
        ? 'safe mode is on'
        : `safe mode is on for ${setting.subject.kind} ${setting.subject.kind === 'tool' ? setting.subject.tool : setting.subject.agent}`;
    return { code: 'SAFE_MODE', message: `${what} ${where(setting.scope)} ${by}: ${tool.effect} tools may not run` };
  }
  switch (setting.subject.kind) {
    case 'agent':
      return { code: 'AGENT_KILL_SWITCH', message: `the kill switch of agent ${agent} is on ${where(setting.scope)} ${by}` };
    case 'tool':
      return { code: 'TOOL_KILL_SWITCH', message: `the kill switch of ${tool.name} is on ${where(setting.scope)} ${by}` };
    case 'all':
      return { code: 'TOOL_KILL_SWITCH', message: `the kill switch of every tool is on ${where(setting.scope)} ${by}` };
  }
}

interface Entry {
  readonly setting: ControlSetting;
  readonly event: ControlChanged;
}

/**
 * The controls topic as one service sees it: the latest ControlChanged per control (the topic is
 * compacted, so replaying it from the beginning rebuilds exactly this), and what it forbids.
 */
export class ControlBoard {
  readonly #latest = new Map<string, Entry>();
  #version = 0;

  /** Applies one ControlChanged; the latest per control (scope, kind, target) wins. Config controls are ignored. */
  apply(control: ControlChanged): void {
    const setting = decodeControl(control);
    if (setting === undefined) return;
    this.#latest.set(encodeControl(setting).control_key, { setting, event: control });
    this.#version += 1;
  }

  /** Grows by one with every applied control (lets callers notice a change cheaply). */
  get version(): number {
    return this.#version;
  }

  /** The controls currently switched on, each under its canonical key. */
  active(): ControlChanged[] {
    return [...this.#latest.entries()].filter(([, entry]) => entry.event.enabled).map(([key, entry]) => ({ ...entry.event, control_key: key }));
  }

  /** The switched-on controls that reach `tenant`: its own and the platform-wide ones. */
  activeFor(tenant: string): ControlChanged[] {
    return this.active().filter((control) => scopeCovers(control.meta.tenant_id, tenant));
  }

  /** Why this call may not start now, or undefined. */
  refusal(tool: Pick<ToolDefinition, 'name' | 'version' | 'effect'>, agent: string, tenant: string): ControlRefusal | undefined {
    for (const { setting, event } of this.#latest.values()) {
      if (!event.enabled || !scopeCovers(setting.scope, tenant) || !subjectCovers(setting.subject, agent, tool)) continue;
      if (setting.control === 'safe_mode' && !hasSideEffects(tool)) continue;
      return refusalOf(setting, event, tool, agent);
    }
    return undefined;
  }

  /** Whether a kill switch stops every action of this agent in this tenant (its own switch, not a tool's). */
  isAgentKilled(tenant: string, agent: string): boolean {
    return this.#killed(tenant, (subject) => subject.kind === 'agent' && subject.agent === agent);
  }

  /** Whether a kill switch stops this tool in this tenant (the tool's switch, or the tenant's or platform's switch of every tool). */
  isToolKilled(tenant: string, tool: Pick<ToolDefinition, 'name' | 'version'>): boolean {
    return this.#killed(tenant, (subject) => subject.kind !== 'agent' && subjectCovers(subject, undefined, tool));
  }

  #killed(tenant: string, covers: (subject: ControlSubject) => boolean): boolean {
    for (const { setting, event } of this.#latest.values()) {
      if (event.enabled && setting.control === 'kill_switch' && scopeCovers(setting.scope, tenant) && covers(setting.subject)) return true;
    }
    return false;
  }
}
