import { telemetry } from './instrumentation.ts';
import { packageVersion, runService } from '@writ/runtime';
import { PolicyModule } from './policy.module.ts';

await runService({
  name: 'policy',
  version: packageVersion(import.meta.url),
  defaultHttpPort: 38082,
  config: {},
  telemetry,
  module: PolicyModule,
});
