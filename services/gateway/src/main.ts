import { telemetry } from './instrumentation.ts';
import { loadDirectory } from '@writ/directory';
import { isWritError } from '@writ/errors';
import { EXIT_CONFIG, packageVersion, runService } from '@writ/runtime';
import { loadToolRegistry } from '@writ/tools';
import { gatewayConfigSpec } from './config.ts';
import { GatewayModule } from './gateway.module.ts';

// A directory or tool registry that does not load is bad configuration: name the file and the
// field and exit 78 before anything starts (runService reports a missing variable itself).
const BAD_FILES = ['DIRECTORY_INVALID', 'DIRECTORY_UNREADABLE', 'TOOL_REGISTRY_INVALID'];
try {
  const directoryFile = process.env['WRIT_DIRECTORY_FILE']?.trim();
  if (directoryFile !== undefined && directoryFile !== '') await loadDirectory(directoryFile);
  loadToolRegistry(process.env['WRIT_TOOLS_DIR']?.trim() || 'tools');
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
