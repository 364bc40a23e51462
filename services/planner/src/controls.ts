// Kill switches from the compacted controls topic: read from the beginning by every instance (its
// own consumer group), the latest event per control wins. A control reaches the proposals of its
// own tenant only, or of every tenant when it is platform-wide (@writ/tools' model, controls.ts).
// Safe mode is the executor's to enforce (reads still run); the planner rejects on kill switches.
import { randomUUID } from 'node:crypto';
import { EventConsumer, silentLogger } from '@writ/bus';
import type { BusLogger, DecodedEvent } from '@writ/bus';
import { TOPICS } from '@writ/contracts';
import { ControlBoard } from '@writ/tools';
import type { KillSwitches } from './proposals.ts';

export class ControlsView implements KillSwitches {
  readonly #board = new ControlBoard();

  apply(event: DecodedEvent): void {
    if (event.type === 'ControlChanged') this.#board.apply(event.payload);
  }

  isToolKilled(tenant: string, tool: { readonly name: string; readonly version: string }): boolean {
    return this.#board.isToolKilled(tenant, tool);
  }

  isAgentKilled(tenant: string, agent: string): boolean {
    return this.#board.isAgentKilled(tenant, agent);
  }
}

export async function startControlsReader(
  brokers: readonly string[],
  groupId: string,
  dlqTopic: string,
  view: ControlsView,
  logger: BusLogger = silentLogger,
): Promise<EventConsumer> {
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
