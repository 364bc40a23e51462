import { describe, expect, it } from 'vitest';
import { isWritError } from '@writ/errors';
import { KAFKA_DOOR_PROPOSALS_REGEX, hashApiKey, kafkaDoorAgentOf, kafkaDoorAgents, kafkaDoorNames, parseDirectory } from './index.ts';

function directory(agents: Record<string, unknown>[]) {
  return parseDirectory({
    agents,
    users: [
      { id: 'olga', tenant: 't1', role: 'manager', roles: ['approver'], api_key_sha256: hashApiKey('olga-key') },
      { id: 'ivan', tenant: 't2', role: 'manager', roles: ['approver'], api_key_sha256: hashApiKey('ivan-key') },
    ],
  });
}

const agent = (id: string, tenant: string, extra: Record<string, unknown> = {}) => ({
  id,
  tenant,
  role: 'support',
  owner: tenant === 't1' ? 'olga' : 'ivan',
  api_key_sha256: hashApiKey(`${id}-key`),
  ...extra,
});

function refusal(run: () => unknown): { field?: string; rule?: string } {
  try {
    run();
  } catch (error) {
    expect(isWritError(error, 'DIRECTORY_INVALID')).toBe(true);
    return error as { field?: string; rule?: string };
  }
  throw new Error('expected DIRECTORY_INVALID');
}

describe('the Kafka door in the directory', () => {
  it('names each agent with a kafka_principal its two topics and group prefix, and finds the agent of a proposals topic', () => {
    const dir = directory([
      agent('bot', 't1', { kafka_principal: 'agent-t1-bot' }),
      agent('other', 't2', { kafka_principal: 'agent-t2-other' }),
      agent('http', 't1'),
    ]);
    expect(kafkaDoorAgents(dir).map((a) => a.id)).toEqual(['bot', 'other']);
    expect(kafkaDoorNames('agent-t1-bot')).toEqual({
      proposals: 'writ.door.agent-t1-bot.proposals.v1',
      outcomes: 'writ.door.agent-t1-bot.outcomes.v1',
      groupPrefix: 'writ.door.agent-t1-bot.',
    });
    expect(kafkaDoorAgentOf(dir, 'writ.door.agent-t1-bot.proposals.v1')).toMatchObject({ id: 'bot', tenant: 't1' });
    expect(kafkaDoorAgentOf(dir, 'writ.door.agent-t2-other.proposals.v1')).toMatchObject({ id: 'other', tenant: 't2' });
    // Not a proposals topic, or nobody's: no agent.
    expect(kafkaDoorAgentOf(dir, 'writ.door.agent-t1-bot.outcomes.v1')).toBeUndefined();
    expect(kafkaDoorAgentOf(dir, 'writ.door.agent-t9-gone.proposals.v1')).toBeUndefined();
    expect(kafkaDoorAgentOf(dir, 'writ.proposals.v1')).toBeUndefined();
    const regex = new RegExp(KAFKA_DOOR_PROPOSALS_REGEX);
    expect(regex.test('writ.door.agent-t1-bot.proposals.v1')).toBe(true);
    expect(regex.test('writ.door.agent-t1-bot.outcomes.v1')).toBe(false);
    expect(regex.test('writ.door.a.b.proposals.v1')).toBe(false);
  });

  it('refuses a principal that is not one topic segment, a service principal, or one shared by two agents', () => {
    for (const bad of ['Agent', 'a.b', 'writ-gateway', '', 'a_b', 'x'.repeat(101), 7]) {
      expect(refusal(() => directory([agent('bot', 't1', { kafka_principal: bad })]))).toMatchObject({ field: 'agents[0].kafka_principal' });
    }
    const twice = refusal(() => directory([agent('bot', 't1', { kafka_principal: 'agent-x' }), agent('bot2', 't2', { kafka_principal: 'agent-x' })]));
    expect(twice).toMatchObject({ field: 'agents[1].kafka_principal', rule: 'must be unique: one Kafka principal per agent' });
  });
});
