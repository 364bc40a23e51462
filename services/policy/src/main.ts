import { telemetry } from './instrumentation.ts';
import { describeError, isWritError } from '@writ/errors';
import { EXIT_CONFIG, loadServiceConfig, packageVersion, runService } from '@writ/runtime';
import { policyConfigSpec } from './config.ts';
import { PolicyModule } from './policy.module.ts';
import { loadWebhooks } from '@writ/runtime';
import { loadPdpSetup } from './setup.ts';

const DEFAULT_HTTP_PORT = 26082;

// The policy set, registry, directory and key are checked before Nest starts, so an invalid set
// stops the service with a message naming the file and policy (Nest would abort the process
// instead). A bad variable is left for runService to report with the others.
let config: ReturnType<typeof loadServiceConfig<typeof policyConfigSpec>> | undefined;
try {
  config = loadServiceConfig(DEFAULT_HTTP_PORT, policyConfigSpec);
} catch {
  config = undefined;
}
if (config !== undefined) {
  try {
    await loadPdpSetup(config);
    if (config.WRIT_POLICY_WEBHOOKS_FILE !== undefined) loadWebhooks(config.WRIT_POLICY_WEBHOOKS_FILE);
  } catch (error) {
    process.stderr.write(`[policy] ${isWritError(error) ? `${error.code}: ${error.message}` : describeError(error)}\n`);
    process.exit(EXIT_CONFIG);
  }
}

await runService({
  name: 'policy',
  version: packageVersion(import.meta.url),
  defaultHttpPort: DEFAULT_HTTP_PORT,
  config: policyConfigSpec,
  telemetry,
  module: PolicyModule,
});
