// The governed pipeline's cases again, with the services scaled out as far as their partitions
// permit (docs/design/pipeline.md, "Scaling out"): three gateways, two planners and two policy
// instances in their groups; one accountant, executor and ledger. The agent proposes through the
// first gateway, and approvals and kill switches go through the last.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { governedPipelineCases } from './pipeline-cases.ts';

const stack = governedPipelineCases(26880, { gateway: 3, planner: 2, policy: 2 });

/** The partitions an instance said it owned last, leaving out the empty assignment of its shutdown. */
function lastOwned(logFile: string, pattern: RegExp): number[] {
  const assignments = readFileSync(logFile, 'utf8')
    .split('\n')
    .filter((line) => pattern.test(line))
    .map((line) => {
      const list = /\\"owned\\":\[([\d,]*)\]/.exec(line)?.[1] ?? '';
      return list === '' ? [] : list.split(',').map(Number);
    });
  return assignments.filter((owned) => owned.length > 0).at(-1) ?? [];
}

describe('scaled out', () => {
  it('the planners and the policy instances split the partitions between them', () => {
    const logs = join(stack().workDir, 'logs');
    // The decider runtime logs each assignment as `<service> partitions assigned` with the partitions owned.
    for (const service of ['planner', 'policy']) {
      const owned = [join(logs, `${service}.log`), join(logs, `${service}-1.log`)].map((file) => lastOwned(file, new RegExp(`${service} partitions assigned`)));
      expect(
        owned.map((o) => o.length > 0),
        `${service}: ${JSON.stringify(owned)}`,
      ).toEqual([true, true]);
      expect(owned.flat().sort(), service).toEqual([0, 1, 2]);
    }
  });
});
