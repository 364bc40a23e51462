import { telemetry } from './instrumentation.ts';
import { packageVersion, runService } from '@writ/runtime';
import { BudgetModule } from './budget.module.ts';

await runService({
  name: 'budget',
  version: packageVersion(import.meta.url),
  defaultHttpPort: 38083,
  config: {},
  telemetry,
  module: BudgetModule,
});
