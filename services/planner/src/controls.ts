// Kill switches from the compacted controls topic: read from the beginning by every instance (its
// own consumer group), the latest event per control_key wins.
import { randomUUID } from 'node:crypto';
import { EventConsumer, silentLogger } from '@writ/bus';
import type { BusLogger, DecodedEvent } from '@writ/bus';
import type { ControlChanged } from '@writ/contracts';
import { TOPICS } from '@writ/contracts';
import type { KillSwitches } from './proposals.ts';

export class ControlsView implements KillSwitches {
  readonly #controls = new Map<string, ControlChanged>();

  apply(event: DecodedEvent): void {
    if (event.type !== 'ControlChanged') return;
    const control = event.payload as ControlChanged;
    this.#controls.set(control.control_key, control);
  }

  #pulled(kind: ControlChanged['kind'], target: string): boolean {
    for (const control of this.#controls.values()) {
      if (control.kind === kind && control.enabled && (control.target === target || control.target === '*')) return true;
    }
    return false;
  }

  isToolKilled(tool: string): boolean {
    return this.#pulled('tool_kill_switch', tool);
  }

  isAgentKilled(agent: string): boolean {
    return this.#pulled('agent_kill_switch', agent);
  }
}

export async function startControlsReader(brokers: readonly string[], groupId: string, dlqTopic: string, view: ControlsView, logger: BusLogger = silentLogger): Promise<EventConsumer> {
  const consumer = new EventConsumer({
    brokers,
    groupId: `${groupId}.controls.${randomUUID()}`,
    topics: [TOPICS.controls],
    fromBeginning: true,
    dlqTopic,
    handler: (event) => view.apply(event),
    logger,
  });
  await consumer.start();
  return consumer;
}
