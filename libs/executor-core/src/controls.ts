// The executor's view of the controls topic: the latest ControlChanged per control_key (the topic
// is compacted, so replaying it from the beginning rebuilds exactly this), and what it forbids.
import type { ControlChanged } from '@writ/contracts';
import type { ToolDefinition } from '@writ/tools';
import { hasSideEffects } from '@writ/tools';

export interface ControlRefusal {
  readonly code: 'TOOL_KILL_SWITCH' | 'AGENT_KILL_SWITCH' | 'SAFE_MODE';
  readonly message: string;
}

/** Whether a kill-switch target names this tool: "*", "refunds.issue", "refunds.issue@1.2.0" or a prefix "refunds.*". */
export function targetsTool(target: string, tool: Pick<ToolDefinition, 'name' | 'version'>): boolean {
  if (target === '*' || target === tool.name || target === `${tool.name}@${tool.version}`) return true;
  return target.endsWith('.*') && tool.name.startsWith(target.slice(0, -1));
}

export class ControlBoard {
  readonly #latest = new Map<string, ControlChanged>();
  #version = 0;

  /** Applies one ControlChanged; the latest per control_key wins. */
  apply(control: ControlChanged): void {
    this.#latest.set(control.control_key, control);
    this.#version += 1;
  }

  /** Grows by one with every applied control (lets callers notice a change cheaply). */
  get version(): number {
    return this.#version;
  }

  /** The controls currently switched on. */
  active(): ControlChanged[] {
    return [...this.#latest.values()].filter((control) => control.enabled);
  }

  /** Why this call may not start now, or undefined. */
  refusal(tool: Pick<ToolDefinition, 'name' | 'version' | 'effect'>, agent: string, tenant: string): ControlRefusal | undefined {
    for (const control of this.#latest.values()) {
      if (!control.enabled) continue;
      switch (control.kind) {
        case 'tool_kill_switch':
          if (targetsTool(control.target, tool)) {
            return { code: 'TOOL_KILL_SWITCH', message: `the kill switch of ${tool.name} is on (${control.control_key}, set by ${control.set_by})` };
          }
          break;
        case 'agent_kill_switch':
          if (control.target === '*' || control.target === agent) {
            return { code: 'AGENT_KILL_SWITCH', message: `the kill switch of agent ${agent} is on (${control.control_key}, set by ${control.set_by})` };
          }
          break;
        case 'safe_mode':
          if ((control.target === '*' || control.target === tenant) && hasSideEffects(tool)) {
            return { code: 'SAFE_MODE', message: `safe mode is on (${control.control_key}): ${tool.effect} tools may not run` };
          }
          break;
        case 'config':
          break;
        default: {
          const never: never = control.kind;
          void never;
        }
      }
    }
    return undefined;
  }
}
