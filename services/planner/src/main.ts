import { telemetry } from './instrumentation.ts';
import { packageVersion, runService } from '@writ/runtime';
import { plannerConfigSpec } from './config.ts';
import { PlannerModule } from './planner.module.ts';

await runService({
  name: 'planner',
  version: packageVersion(import.meta.url),
  defaultHttpPort: 26081,
  config: plannerConfigSpec,
  telemetry,
  module: PlannerModule,
});
