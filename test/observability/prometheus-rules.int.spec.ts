// The alert rules and the scrape configuration, checked by the real promtool (Debian's prometheus
// package, unpacked by the setup into .local/prometheus): they parse, and the rules' unit tests
// (deploy/prometheus/rules/writ.rules.test.yml) pass, each alert firing on its series with its
// annotations rendered and silent on the look-alikes.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runPromtool } from '@writ/testing';
import { ROOT, RULES_DIR, RULES_FILE } from './deploy-files.ts';

describe('deploy/prometheus with promtool', () => {
  it('checks the rules and the configuration', async () => {
    const rules = await runPromtool(['check', 'rules', RULES_FILE], ROOT);
    expect(rules.output).toContain('SUCCESS: 11 rules found');
    expect(rules.code).toBe(0);
    const config = await runPromtool(['check', 'config', join(ROOT, 'deploy', 'prometheus', 'prometheus.yml')], ROOT);
    expect(config.output).toContain('is valid prometheus config file syntax');
    expect(config.code).toBe(0);
  });

  it("passes the rules' unit tests", async () => {
    const result = await runPromtool(['test', 'rules', 'writ.rules.test.yml'], RULES_DIR);
    expect(result.output).toContain('SUCCESS');
    expect(result.code).toBe(0);
  });

  it('fails a unit test whose alert does not fire as written (the tests are not vacuous)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'writ-rules-'));
    const tests = readFileSync(join(RULES_DIR, 'writ.rules.test.yml'), 'utf8');
    // The deny spike's threshold is half of the decisions: at 71 % it fires; at 90 % it must not.
    writeFileSync(join(dir, 'writ.rules.yml'), readFileSync(RULES_FILE, 'utf8').replace(') > 0.5\n', ') > 0.9\n'));
    writeFileSync(join(dir, 'writ.rules.test.yml'), tests);
    const result = await runPromtool(['test', 'rules', 'writ.rules.test.yml'], dir);
    expect(result.code).toBe(1);
    expect(result.output).toMatch(/alertname: WritDenySpike/);
  });
});
