// What a policy reads of context and whether its scope may match a request, from its JSON form
// (as policyToJson gives it): conservative, so anything not a plain attribute access reads more.
import { describe, expect, it } from 'vitest';
import type { PolicyJson } from './cedar.ts';
import { contextReads, contextRecordReads, readsContextAttribute, scopeMayMatchRequest } from './context-reads.ts';

const context = { Var: 'context' };
const dot = (left: unknown, attr: string) => ({ '.': { left, attr } });
const policy = (body: unknown, scope: Partial<PolicyJson> = {}): PolicyJson =>
  ({
    effect: 'permit',
    principal: { op: 'All' },
    action: { op: 'All' },
    resource: { op: 'All' },
    conditions: [{ kind: 'when', body }],
    ...scope,
  }) as PolicyJson;

describe('contextReads', () => {
  it('names the attribute paths of accesses and `has` tests (one attribute or a path)', () => {
    const body = {
      '&&': {
        left: { has: { left: context, attr: ['arguments', 'amount_cents'] } },
        right: { '>': { left: dot(dot(context, 'arguments'), 'amount_cents'), right: { Value: 1 } } },
      },
    };
    const reads = contextReads(policy({ '&&': { left: body, right: { has: { left: dot(context, 'approval'), attr: 'count' } } } }));
    expect(reads).toEqual([
      ['arguments', 'amount_cents'],
      ['arguments', 'amount_cents'],
      ['approval', 'count'],
    ]);
    expect(contextRecordReads(reads, 'arguments')).toEqual(new Set(['amount_cents']));
    expect(readsContextAttribute(reads, 'approval')).toBe(true);
    expect(readsContextAttribute(reads, 'run')).toBe(false);
  });

  it('reads a record whole when it is used as a value, and all of context when context is', () => {
    const whole = contextReads(policy({ '==': { left: dot(context, 'arguments'), right: { Record: {} } } }));
    expect(contextRecordReads(whole, 'arguments')).toBe('all');
    const all = contextReads(policy({ '==': { left: context, right: { Record: {} } } }));
    expect(all).toEqual([[]]);
    expect(contextRecordReads(all, 'arguments')).toBe('all');
    expect(readsContextAttribute(all, 'approval')).toBe(true);
  });

  it('finds nothing in a policy without conditions on context', () => {
    expect(contextReads(policy({ '==': { left: dot({ Var: 'resource' }, 'effect'), right: { Value: 1 } } }))).toEqual([]);
  });
});

describe('scopeMayMatchRequest', () => {
  const principal = { type: 'Writ::Agent', id: 'a' };
  const invoke = { type: 'Writ::Action', id: 'invoke' };
  const refunds = { type: 'Writ::Tool', id: 'refunds.issue' };
  const email = { type: 'Writ::Tool', id: 'email.send' };

  it('only an `==` on another entity cannot match', () => {
    const onRefunds = policy(true, { action: { op: '==', entity: invoke }, resource: { op: '==', entity: { __entity: refunds } } });
    expect(scopeMayMatchRequest(onRefunds, principal, invoke, refunds)).toBe(true);
    expect(scopeMayMatchRequest(onRefunds, principal, invoke, email)).toBe(false);
    expect(scopeMayMatchRequest(onRefunds, principal, { type: 'Writ::Action', id: 'approve' }, refunds)).toBe(false);
    const within = policy(true, { resource: { op: 'in', entity: refunds }, principal: { op: 'is', entity_type: 'Writ::Agent' } });
    expect(scopeMayMatchRequest(within, principal, invoke, email)).toBe(true);
    expect(scopeMayMatchRequest(policy(true), principal, invoke, email)).toBe(true);
  });
});
