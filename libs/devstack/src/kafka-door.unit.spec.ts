import { describe, expect, it } from 'vitest';
import { hashApiKey, parseDirectory } from '@writ/directory';
import { aclBindings, loadAclTable, writersByTopic } from './acl-table.ts';
import { demoDirectory, kafkaDoorTopics, withKafkaDoor } from './kafka-door.ts';
import { writRoot } from './settings.ts';

const root = writRoot();
const directory = parseDirectory({
  agents: [
    { id: 'bot', tenant: 't1', role: 'support', owner: 'olga', api_key_sha256: hashApiKey('a'), kafka_principal: 'agent-t1-bot' },
    { id: 'http-only', tenant: 't1', role: 'support', owner: 'olga', api_key_sha256: hashApiKey('b') },
  ],
  users: [{ id: 'olga', tenant: 't1', role: 'manager', roles: ['approver'], api_key_sha256: hashApiKey('c') }],
});

describe('the Kafka door on the local broker', () => {
  const table = withKafkaDoor(loadAclTable(root), directory);

  it("gives an agent's principal exactly its proposals topic to write, its outcomes topic and its groups to read", () => {
    const mine = aclBindings(table).filter((b) => b.principal === 'User:agent-t1-bot');
    expect(mine).toEqual([
      { principal: 'User:agent-t1-bot', resourceType: 'TOPIC', patternType: 'LITERAL', name: 'writ.door.agent-t1-bot.proposals.v1', operation: 'WRITE' },
      { principal: 'User:agent-t1-bot', resourceType: 'TOPIC', patternType: 'LITERAL', name: 'writ.door.agent-t1-bot.outcomes.v1', operation: 'READ' },
      { principal: 'User:agent-t1-bot', resourceType: 'GROUP', patternType: 'PREFIXED', name: 'writ.door.agent-t1-bot.', operation: 'READ' },
    ]);
    expect(Object.keys(table.principals)).not.toContain('http-only');
  });

  it('makes the gateway the reader of the proposals and the one writer of the outcomes; every topic keeps one writer', () => {
    const gateway = table.principals['writ-gateway'];
    expect(gateway?.consume).toContain('writ.door.agent-t1-bot.proposals.v1');
    expect(gateway?.produce).toContain('writ.door.agent-t1-bot.outcomes.v1');
    expect(gateway?.produce).not.toContain('writ.door.agent-t1-bot.proposals.v1');
    for (const [topic, writers] of writersByTopic(table)) expect(writers, topic).toHaveLength(1);
    expect(writersByTopic(table).get('writ.door.agent-t1-bot.proposals.v1')).toEqual(['agent-t1-bot']);
    expect(writersByTopic(table).get('writ.door.agent-t1-bot.outcomes.v1')).toEqual(['writ-gateway']);
  });

  it("creates each door agent's two topics, and the demo directory has acme's and globex's agents on the door", () => {
    expect(kafkaDoorTopics(directory).map((t) => [t.name, t.partitions])).toEqual([
      ['writ.door.agent-t1-bot.proposals.v1', 1],
      ['writ.door.agent-t1-bot.outcomes.v1', 1],
    ]);
    const demo = demoDirectory(root);
    expect(demo.agents.filter((a) => a.kafka_principal !== undefined).map((a) => [a.tenant, a.id, a.kafka_principal])).toEqual([
      ['acme', 'triage-bot', 'agent-acme-triage-bot'],
      ['globex', 'globex-bot', 'agent-globex-bot'],
    ]);
  });
});
