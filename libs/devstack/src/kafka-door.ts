import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TopicSpec } from '@writ/bus';
import { kafkaDoorAgents, kafkaDoorNames, parseDirectory } from '@writ/directory';
import type { Directory } from '@writ/directory';
import { loadAclTable } from './acl-table.ts';
import type { AclTable, PrincipalGrants } from './acl-table.ts';

// The Kafka door on the local broker (docs/kafka-door.md): every agent of the demo directory with a
// `kafka_principal` becomes a SCRAM user that may write only its proposals topic, read only its
// outcomes topic and use only consumer groups of its own prefix; the gateway's principal reads the
// proposals topics and is the one writer of the outcomes topics. One writer per topic still holds.

/** The principal whose service is the Kafka door. */
export const KAFKA_DOOR_SERVICE_PRINCIPAL = 'writ-gateway';

/** The directory the local stacks run with (libs/devstack services.ts): it names the door's agents. */
export function demoDirectory(root: string): Directory {
  const file = join(root, 'deploy', 'demo', 'directory.json');
  return parseDirectory(JSON.parse(readFileSync(file, 'utf8')), file);
}

/** `table` plus the door's agents: their own principals, and the gateway's grants on their topics. */
export function withKafkaDoor(table: AclTable, directory: Pick<Directory, 'agents'>): AclTable {
  const agents = kafkaDoorAgents(directory);
  if (agents.length === 0) return table;
  const principals: Record<string, PrincipalGrants> = { ...table.principals };
  const gateway = principals[KAFKA_DOOR_SERVICE_PRINCIPAL];
  if (gateway === undefined) return table;
  const names = agents.map((agent) => ({ agent, names: kafkaDoorNames(agent.kafka_principal) }));
  principals[KAFKA_DOOR_SERVICE_PRINCIPAL] = {
    ...gateway,
    produce: [...gateway.produce, ...names.map((n) => n.names.outcomes)],
    consume: [...gateway.consume, ...names.map((n) => n.names.proposals)],
  };
  for (const { agent, names: topics } of names) {
    principals[agent.kafka_principal] = {
      service: `agent:${agent.tenant}/${agent.id}`,
      produce: [topics.proposals],
      consume: [topics.outcomes],
      groups: [topics.groupPrefix],
      transactionalIds: [],
    };
  }
  return { ...table, principals };
}

/** deploy/kafka/acls.json with the demo directory's door agents. */
export function loadAclTableWithKafkaDoor(root: string): AclTable {
  return withKafkaDoor(loadAclTable(root), demoDirectory(root));
}

/** The door's topics of these agents: 1 partition each (one agent's stream, in order), kept 7 days. */
export function kafkaDoorTopics(directory: Pick<Directory, 'agents'>): TopicSpec[] {
  return kafkaDoorAgents(directory).flatMap((agent) => {
    const { proposals, outcomes } = kafkaDoorNames(agent.kafka_principal);
    const spec = (name: string, description: string): TopicSpec => ({
      name,
      partitions: 1,
      replicationFactor: 1,
      configs: { 'cleanup.policy': 'delete', 'retention.ms': String(7 * 24 * 3_600_000) },
      description,
    });
    return [
      spec(proposals, `Kafka door: DoorProposal records of agent ${agent.tenant}/${agent.id}; only its principal writes it, only the gateway reads it.`),
      spec(outcomes, `Kafka door: DoorOutcome records for agent ${agent.tenant}/${agent.id}; only the gateway writes it, only its principal reads it.`),
    ];
  });
}
