import { describe, expect, it } from 'vitest';
import { newMetadata } from '@writ/contracts';
import type { PolicySetPublished } from '@writ/contracts';
import { currentSet, emptyPolicyStream, foldPublication, publicationOf } from './policy-stream.ts';

const hash = (n: number) => n.toString(16).padStart(64, '0');

function published(stream: string, sequence: number, policySet: number, previous: number | null): PolicySetPublished {
  return {
    meta: newMetadata({ tenant_id: '*', run_id: `policy-set:${stream}`, producer: 'policy@0.1.0', occurred_at: 1_000 + sequence }),
    stream,
    sequence,
    policy_set_hash: hash(policySet),
    previous_hash: previous === null ? null : hash(previous),
    version: `v${policySet}`,
    origin: 'publish',
    author: 'root',
    message: 'm',
    schema_text: 'namespace Writ {}',
    policies: [],
    cases_json: '[]',
  };
}

describe('a policy stream folded from the log', () => {
  it('applies a chain of publications in order; the last is current, and an earlier hash is found again', () => {
    const state = emptyPolicyStream('main');
    expect(currentSet(state)).toBeUndefined();
    expect(foldPublication(state, published('main', 1, 1, null))).toEqual({ applied: true });
    expect(foldPublication(state, published('main', 2, 2, 1))).toEqual({ applied: true });
    expect(foldPublication(state, published('main', 3, 1, 2))).toEqual({ applied: true }); // a rollback to set 1
    expect(currentSet(state)?.sequence).toBe(3);
    expect(publicationOf(state, hash(1))?.sequence).toBe(3);
    expect(publicationOf(state, hash(2))?.sequence).toBe(2);
    expect(publicationOf(state, hash(9))).toBeUndefined();
  });

  it('two publications from the same head: the first on the log applies, the second is a conflict and changes nothing', () => {
    const state = emptyPolicyStream('main');
    foldPublication(state, published('main', 1, 1, null));
    expect(foldPublication(state, published('main', 2, 2, 1))).toEqual({ applied: true });
    const second = foldPublication(state, published('main', 2, 3, 1));
    expect(second.applied).toBe(false);
    expect(second.applied ? '' : second.reason).toContain('published meanwhile');
    expect(currentSet(state)?.policy_set_hash).toBe(hash(2));
    expect(state.applied).toHaveLength(2);
  });

  it('refuses a second first set, a wrong sequence, and ignores other streams', () => {
    const state = emptyPolicyStream('main');
    foldPublication(state, published('main', 1, 1, null));
    expect(foldPublication(state, published('main', 1, 5, null)).applied).toBe(false);
    expect(foldPublication(state, published('main', 7, 2, 1))).toMatchObject({ applied: false, reason: expect.stringContaining('sequence is 7') });
    expect(foldPublication(state, published('staging', 2, 2, 1))).toMatchObject({ applied: false, reason: expect.stringContaining('staging') });
    expect(state.applied.map((p) => p.sequence)).toEqual([1]);
  });

  it('the same log folded twice gives the same stream (every instance agrees)', () => {
    const log = [
      published('main', 1, 1, null),
      published('main', 2, 2, 1),
      published('main', 2, 3, 1),
      published('other', 1, 4, null),
      published('main', 3, 3, 2),
    ];
    const fold = () => {
      const state = emptyPolicyStream('main');
      for (const event of log) foldPublication(state, event);
      return state.applied.map((p) => p.policy_set_hash);
    };
    expect(fold()).toEqual([hash(1), hash(2), hash(3)]);
    expect(fold()).toEqual(fold());
  });
});
