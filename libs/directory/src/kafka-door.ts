import type { Agent, Directory } from './directory.ts';

// The Kafka door's names (docs/kafka-door.md): each agent with a `kafka_principal` in the directory
// has two topics of its own, named after that principal, and a consumer-group prefix. The broker's
// ACLs bind the principal to them (it writes only its proposals topic and reads only its outcomes
// topic), so the topic a proposal arrives on says who sent it: the gateway takes the agent and the
// tenant from the topic's owner here, never from the record.

export interface KafkaDoorNames {
  /** The agent writes its DoorProposal records here; only the gateway reads it. */
  readonly proposals: string;
  /** The gateway writes DoorOutcome records here; only the agent reads it. */
  readonly outcomes: string;
  /** Prefix of the agent's consumer groups (e.g. `writ.door.<principal>.outcomes`). */
  readonly groupPrefix: string;
}

/** Principals hold no dot (directory rule), so the topic names of two agents never overlap. */
const PROPOSALS = /^writ\.door\.([a-z0-9][a-z0-9-]{0,99})\.proposals\.v1$/;

/** Every proposals topic (what the gateway's door subscribes to): librdkafka's regex subscription, anchored. */
export const KAFKA_DOOR_PROPOSALS_REGEX = '^writ\\.door\\.[a-z0-9][a-z0-9-]*\\.proposals\\.v1$';

export function kafkaDoorNames(principal: string): KafkaDoorNames {
  return {
    proposals: `writ.door.${principal}.proposals.v1`,
    outcomes: `writ.door.${principal}.outcomes.v1`,
    groupPrefix: `writ.door.${principal}.`,
  };
}

/** The agents that have a Kafka principal, with it. */
export function kafkaDoorAgents(directory: Pick<Directory, 'agents'>): readonly (Agent & { readonly kafka_principal: string })[] {
  return directory.agents.filter((agent): agent is Agent & { readonly kafka_principal: string } => agent.kafka_principal !== undefined);
}

/** The agent that owns a proposals topic, or undefined (not a proposals topic, or nobody's in this directory). */
export function kafkaDoorAgentOf(directory: Pick<Directory, 'agents'>, topic: string): Agent | undefined {
  const principal = PROPOSALS.exec(topic)?.[1];
  if (principal === undefined) return undefined;
  return directory.agents.find((agent) => agent.kafka_principal === principal);
}
