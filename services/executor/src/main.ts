import { telemetry } from './instrumentation.ts';
import { packageVersion, runService } from '@writ/runtime';
import { executorConfigSpec } from './config.ts';
import { ExecutorModule } from './executor.module.ts';

await runService({
  name: 'executor',
  version: packageVersion(import.meta.url),
  defaultHttpPort: 26084,
  config: executorConfigSpec,
  telemetry,
  module: ExecutorModule,
});
