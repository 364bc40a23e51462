import { telemetry } from './instrumentation.ts';
import { loadDirectory } from '@writ/directory';
import { readFileSync } from 'node:fs';
import { WritError, describeError, isWritError } from '@writ/errors';
import { parseSafeModeFile } from '@writ/gateway-core';
import { EXIT_CONFIG, loadWebhooks, packageVersion, runService } from '@writ/runtime';
import { loadToolRegistry } from '@writ/tools';
import { gatewayConfigSpec } from './config.ts';
import { GatewayModule } from './gateway.module.ts';

// A directory or tool registry that does not load is bad configuration: name the file and the
// field and exit 78 before anything starts (runService reports a missing variable itself).
const BAD_FILES = ['DIRECTORY_INVALID', 'DIRECTORY_UNREADABLE', 'TOOL_REGISTRY_INVALID', 'CONFIG_INVALID'];

/** The automatic safe mode's thresholds and the webhooks it tells, when set: validated whole, naming the variable, the path and the rule. */
function checkSafeModeFiles(): void {
  for (const [variable, check] of [
    ['WRIT_GATEWAY_SAFE_MODE_FILE', (file: string) => parseSafeModeFile(readFileSync(file, 'utf8'))],
    ['WRIT_GATEWAY_WEBHOOKS_FILE', (file: string) => loadWebhooks(file)],
  ] as const) {
    const file = process.env[variable]?.trim();
    if (file === undefined || file === '') continue;
    try {
      check(file);
    } catch (error) {
      if (isWritError(error))
        throw new WritError('CONFIG_INVALID', `${variable} (${file}): ${error.message}`, { field: error.field ?? variable, rule: error.rule ?? 'invalid' });
      throw new WritError('CONFIG_INVALID', `${variable} (${file}): ${describeError(error)}`, { field: variable, rule: 'must be a readable file' });
    }
  }
}
try {
  const directoryFile = process.env['WRIT_DIRECTORY_FILE']?.trim();
  if (directoryFile !== undefined && directoryFile !== '') await loadDirectory(directoryFile);
  loadToolRegistry(process.env['WRIT_TOOLS_DIR']?.trim() || 'tools');
  checkSafeModeFiles();
} catch (error) {
  if (!isWritError(error) || !BAD_FILES.includes(error.code)) throw error;
  const where = error.field === undefined ? '' : ` (${error.field}: ${error.rule ?? 'invalid'})`;
  process.stderr.write(`[gateway] ${error.code}: ${error.message}${where}\n`);
  process.exit(EXIT_CONFIG);
}

await runService({
  name: 'gateway',
  version: packageVersion(import.meta.url),
  defaultHttpPort: 26080,
  config: gatewayConfigSpec,
  telemetry,
  module: GatewayModule,
});
