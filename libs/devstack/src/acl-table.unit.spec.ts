import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EVENT_TOPICS, EVENT_TYPES, TOPICS } from '@writ/contracts';
import { loadTopology } from '@writ/bus';
import { aclBindings, loadAclTable, parseAclTable, principalOfService, writersByTopic } from './acl-table.ts';
import { writRoot } from './settings.ts';

const root = writRoot();
const table = loadAclTable(root);
const topics = JSON.parse(readFileSync(join(root, 'schemas', 'topics.json'), 'utf8')) as Record<string, string[]>;

describe('deploy/kafka/acls.json', () => {
  it('names one owner for every event type, and the owner may produce to its topic', () => {
    for (const type of EVENT_TYPES) {
      const owner = table.owners[type];
      expect(owner, type).toBeDefined();
      expect(table.principals[owner ?? '']?.produce, `${owner} must produce ${type}`).toContain(EVENT_TOPICS[type]);
    }
  });

  it('lets only the owners of a topic\'s events write it (plus each service its own DLQ)', async () => {
    const topology = await loadTopology();
    const declared = new Set(topology.topics.map((t) => t.name));
    for (const [topic, writers] of writersByTopic(table)) {
      expect(declared.has(topic), `${topic} is declared in deploy/kafka/topology.json`).toBe(true);
      if (topic.endsWith('.dlq')) {
        expect(writers).toHaveLength(1);
        expect(topic).toBe(`writ.${table.principals[writers[0] ?? '']?.service}.dlq`);
        continue;
      }
      const owners = new Set((topics[topic] ?? []).map((type) => table.owners[type]));
      expect([...writers].sort(), topic).toEqual([...owners].sort());
      if (writers.length > 1) expect(table.sharedTopics[topic], `why ${topic} has ${writers.join(' and ')} as writers`).toBeTruthy();
    }
  });

  it('gives the issue\'s sensitive events a single writer: gateway approvals and controls, policy decisions', () => {
    const writers = writersByTopic(table);
    expect(writers.get(TOPICS.approvals)).toEqual(['writ-gateway']);
    expect(writers.get(TOPICS.controls)).toEqual(['writ-gateway']);
    expect(writers.get(TOPICS.policy)).toEqual(['writ-policy']);
    expect(topics[TOPICS.approvals]).toEqual(['ApprovalSubmitted']);
    expect([...(writers.get(TOPICS.executions) ?? [])].sort()).toEqual(['writ-executor', 'writ-planner']);
  });

  it('has one principal per service and grants groups and transactional ids by the service\'s own prefix', () => {
    for (const service of ['gateway', 'planner', 'policy', 'budget', 'executor', 'ledger']) {
      const name = principalOfService(table, service);
      expect(name, service).toBe(`writ-${service}`);
      const grants = table.principals[name ?? ''];
      for (const prefix of [...(grants?.groups ?? []), ...(grants?.transactionalIds ?? [])]) expect(prefix).toBe(`writ.${service}`);
    }
  });

  it('turns the table into exact ACLs (no wildcard, no cluster rights)', () => {
    const bindings = aclBindings(table);
    expect(bindings.every((b) => b.name !== '*' && b.principal.startsWith('User:writ-'))).toBe(true);
    expect(bindings).toContainEqual({ principal: 'User:writ-gateway', resourceType: 'TOPIC', patternType: 'LITERAL', name: TOPICS.approvals, operation: 'WRITE' });
    expect(bindings).toContainEqual({ principal: 'User:writ-planner', resourceType: 'TRANSACTIONAL_ID', patternType: 'PREFIXED', name: 'writ.planner', operation: 'WRITE' });
    expect(bindings.filter((b) => b.principal === 'User:writ-planner' && b.name === TOPICS.approvals)).toEqual([]);
  });

  it('refuses a table that names an unknown owner or a wildcard', () => {
    const raw = JSON.parse(readFileSync(join(root, 'deploy', 'kafka', 'acls.json'), 'utf8')) as Record<string, unknown>;
    expect(() => parseAclTable({ ...raw, owners: { ApprovalSubmitted: 'writ-agent' } })).toThrow(/owners.ApprovalSubmitted must name a principal/);
    const principals = raw['principals'] as Record<string, Record<string, unknown>>;
    expect(() => parseAclTable({ ...raw, principals: { ...principals, 'writ-gateway': { ...principals['writ-gateway'], produce: ['*'] } } })).toThrow(
      /produce\[0\] must be a name/,
    );
  });
});
