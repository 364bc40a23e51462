import { cp, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runPolicyCases } from './cases.ts';

const POLICIES = fileURLToPath(new URL('../../../policies', import.meta.url));

describe('policies/cases through the real Cedar engine', () => {
  it('gets the expected decision and determining policies for every case', async () => {
    const report = await runPolicyCases(POLICIES);
    const failures = report.results.filter((r) => !r.passed).map((r) => `${r.file}: ${r.problems.join('; ')}`);
    expect(failures).toEqual([]);
    expect(report.passed).toBe(true);
    for (const folder of ['allow', 'deny', 'approval']) {
      expect(report.results.filter((r) => r.file.startsWith(`${folder}/`)).length).toBeGreaterThanOrEqual(3);
    }
    expect(report.uncoveredPolicies).toEqual([]);
  });

  it('covers the boundaries: exactly $100 and exactly 1,000 rows are allowed, one more is not', async () => {
    const report = await runPolicyCases(POLICIES);
    const decisionOf = (file: string) => report.results.find((r) => r.file === file)?.actual?.decision;
    expect(decisionOf('allow/refund-exactly-100-dollars.json')).toBe('allow');
    expect(decisionOf('approval/refund-100-dollars-1-cent.json')).toBe('approval_required');
    expect(decisionOf('allow/export-exactly-1000-rows.json')).toBe('allow');
    expect(decisionOf('deny/export-1001-rows.json')).toBe('deny');
  });

  it('fails a case whose expectation the policies do not meet, and a case in the wrong folder', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'writ-cases-'));
    try {
      await cp(POLICIES, dir, { recursive: true });
      const path = join(dir, 'cases', 'allow', 'refund-exactly-100-dollars.json');
      const refundCase = JSON.parse(await readFile(path, 'utf8')) as { request: { arguments: Record<string, unknown> } };
      refundCase.request.arguments['amount_cents'] = 10_001;
      await writeFile(path, JSON.stringify(refundCase));
      const misplaced = await readFile(join(dir, 'cases', 'deny', 'delete-customer.json'), 'utf8');
      await writeFile(join(dir, 'cases', 'allow', 'misplaced.json'), misplaced);

      const report = await runPolicyCases(dir);
      expect(report.passed).toBe(false);
      const failed = Object.fromEntries(report.results.filter((r) => !r.passed).map((r) => [r.file, r.problems]));
      expect(Object.keys(failed).sort()).toEqual(['allow/misplaced.json', 'allow/refund-exactly-100-dollars.json']);
      expect(failed['allow/refund-exactly-100-dollars.json']).toEqual([
        'decision: expected allow, got approval_required',
        'determining policies: expected [refund-up-to-100-support], got [refund-over-100-needs-manager-approval]',
      ]);
      expect(failed['allow/misplaced.json']).toEqual(['expect.decision must be "allow" in this folder']);
      expect((await readdir(join(dir, 'cases'))).sort()).toEqual(['allow', 'approval', 'deny']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
