import { telemetry } from './instrumentation.ts';
import { readFile } from 'node:fs/promises';
import { parseBudgetsFile } from '@writ/budget-core';
import { loadSigningKey } from '@writ/crypto';
import { isWritError } from '@writ/errors';
import { EXIT_CONFIG, loadServiceConfig, loadWebhooks, packageVersion, runService } from '@writ/runtime';
import { loadToolRegistry } from '@writ/tools';
import { BudgetModule } from './budget.module.ts';
import { budgetConfigSpec } from './config.ts';

/**
 * The budgets file, the tool registry and the signing key are configuration too: a bad one stops the service at boot,
 * named, together with any other bad variable.
 */
async function preflight(): Promise<void> {
  const budgetsFile = process.env['WRIT_BUDGET_LIMITS_FILE']?.trim() || 'deploy/demo/budgets.json';
  const keyFile = process.env['WRIT_BUDGET_SIGNING_KEY']?.trim() || '.local/keys/budget/private/reservation-1.pem';
  const toolsDir = process.env['WRIT_TOOLS_DIR']?.trim() || 'tools';
  const problems: string[] = [];
  try {
    loadServiceConfig(26083, budgetConfigSpec);
  } catch (error) {
    if (!isWritError(error, 'CONFIG_INVALID')) throw error;
    problems.push(...error.message.split('\n').slice(1));
  }
  try {
    parseBudgetsFile(await readFile(budgetsFile, 'utf8'));
  } catch (error) {
    problems.push(`  WRIT_BUDGET_LIMITS_FILE (${budgetsFile}): ${error instanceof Error ? error.message : String(error)}`);
  }
  const webhooksFile = process.env['WRIT_BUDGET_WEBHOOKS_FILE']?.trim();
  if (webhooksFile !== undefined && webhooksFile !== '') {
    try {
      loadWebhooks(webhooksFile);
    } catch (error) {
      problems.push(`  WRIT_BUDGET_WEBHOOKS_FILE: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  try {
    loadToolRegistry(toolsDir);
  } catch (error) {
    problems.push(`  WRIT_TOOLS_DIR (${toolsDir}): ${error instanceof Error ? error.message : String(error)}`);
  }
  try {
    await loadSigningKey(keyFile);
  } catch (error) {
    problems.push(`  WRIT_BUDGET_SIGNING_KEY: ${error instanceof Error ? error.message : String(error)} (make dev keys: ./dev writ keys)`);
  }
  if (problems.length > 0) {
    process.stderr.write(`[budget] invalid configuration:\n${problems.join('\n')}\n`);
    process.exit(EXIT_CONFIG);
  }
}

await preflight();
await runService({
  name: 'budget',
  version: packageVersion(import.meta.url),
  defaultHttpPort: 26083,
  config: budgetConfigSpec,
  telemetry,
  module: BudgetModule,
});
