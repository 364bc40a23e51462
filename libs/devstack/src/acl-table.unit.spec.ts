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

  it('gives every topic exactly one writer: the owner of all its events (plus each service its own DLQ)', async () => {
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
      expect(owners.size, `${topic}: its events have ${owners.size} owners`).toBe(1);
      expect(writers, topic).toEqual([...owners]);
    }
    // Every event topic has its writer.
    for (const topic of Object.values(TOPICS)) expect(writersByTopic(table).get(topic), topic).toHaveLength(1);
  });

  it("puts each service's events on topics of their own: proposals, outcomes, approvals, controls, policy, budget", () => {
    const writers = writersByTopic(table);
    expect(Object.fromEntries([...writers].filter(([topic]) => !topic.endsWith('.dlq')))).toEqual({
      [TOPICS.proposals]: ['writ-gateway'],
      [TOPICS.approvals]: ['writ-gateway'],
      [TOPICS.controls]: ['writ-gateway'],
      [TOPICS.actions]: ['writ-planner'],
      [TOPICS.executions]: ['writ-planner'],
      [TOPICS.policy]: ['writ-policy'],
      [TOPICS.policysets]: ['writ-policy'],
      [TOPICS.budget]: ['writ-budget'],
      [TOPICS.outcomes]: ['writ-executor'],
      [TOPICS.results]: ['writ-executor'],
      [TOPICS.ledger]: ['writ-ledger'],
    });
    // A run's start and its proposals on one topic and key: every reader meets the start first.
    expect(topics[TOPICS.proposals]).toEqual(['RunStarted', 'ActionProposed']);
    // A model call's tokens and cost (ModelUsage) come from the executor, which made the call.
    expect(topics[TOPICS.outcomes]).toEqual(['ActionExecuted', 'ActionFailed', 'ModelUsage']);
    // Tool results' bodies: the detail tier, apart from the audited outcomes that reference them.
    expect(topics[TOPICS.results]).toEqual(['ToolResultRecorded']);
    expect(topics[TOPICS.executions]).toEqual(['ExecutionRequested']);
    // Human input: approvals and operators' reconciliations of unknown outcomes, both the gateway's.
    expect(topics[TOPICS.approvals]).toEqual(['ApprovalSubmitted', 'OutcomeReconciled']);
    expect(topics[TOPICS.policysets]).toEqual(['PolicySetPublished']);
  });

  it('lets each service read exactly the topics it needs', () => {
    const consumes = (principal: string) => [...(table.principals[principal]?.consume ?? [])].sort();
    const sorted = (...names: string[]) => [...names].sort();
    // Reads its own outputs (actions, executions) only to rebuild its runs at boot.
    expect(consumes('writ-planner')).toEqual(
      sorted(TOPICS.proposals, TOPICS.actions, TOPICS.policy, TOPICS.budget, TOPICS.executions, TOPICS.outcomes, TOPICS.controls),
    );
    // The read model: runs, actions and their decisions, approvals, controls, and the executor's
    // outcomes (an unknown one's attempts and error, for the reconciliation queue); not requests.
    expect(consumes('writ-gateway')).toEqual(
      sorted(TOPICS.proposals, TOPICS.actions, TOPICS.policy, TOPICS.approvals, TOPICS.outcomes, TOPICS.results, TOPICS.controls, TOPICS.policysets),
    );
    // Proposals to decide on (with its own run statistics), ends of actions, its decisions, approvals, reservations at a budget's approval step.
    expect(consumes('writ-policy')).toEqual(sorted(TOPICS.proposals, TOPICS.actions, TOPICS.policy, TOPICS.approvals, TOPICS.budget, TOPICS.policysets));
    // Run caps and proposals to reserve for, ends of actions, its own books, outcomes to settle.
    expect(consumes('writ-budget')).toEqual(sorted(TOPICS.proposals, TOPICS.actions, TOPICS.budget, TOPICS.outcomes));
    expect(consumes('writ-executor')).toEqual(sorted(TOPICS.executions, TOPICS.controls));
    expect(consumes('writ-ledger')).toEqual(sorted(...Object.values(TOPICS)));
  });

  it("has one principal per service and grants groups and transactional ids by the service's own prefix", () => {
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
    expect(bindings).toContainEqual({
      principal: 'User:writ-gateway',
      resourceType: 'TOPIC',
      patternType: 'LITERAL',
      name: TOPICS.approvals,
      operation: 'WRITE',
    });
    expect(bindings).toContainEqual({
      principal: 'User:writ-planner',
      resourceType: 'TRANSACTIONAL_ID',
      patternType: 'PREFIXED',
      name: 'writ.planner',
      operation: 'WRITE',
    });
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

  it('refuses a table that gives a topic a second writer', () => {
    const raw = JSON.parse(readFileSync(join(root, 'deploy', 'kafka', 'acls.json'), 'utf8')) as Record<string, unknown>;
    const principals = raw['principals'] as Record<string, { produce: string[] }>;
    const planner = { ...principals['writ-planner'], produce: [...(principals['writ-planner']?.produce ?? []), TOPICS.outcomes] };
    expect(() => parseAclTable({ ...raw, principals: { ...principals, 'writ-planner': planner } })).toThrow(
      /writ-executor\.produce must not list writ\.outcomes\.v1: writ-planner writes it/,
    );
    expect(() => parseAclTable({ ...raw, sharedTopics: { [TOPICS.outcomes]: 'why not' } })).toThrow(/sharedTopics is not allowed/);
  });
});
