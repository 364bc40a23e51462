import { telemetry } from './instrumentation.ts';
import { packageVersion, runService } from '@writ/runtime';
import { LedgerModule } from './ledger.module.ts';

await runService({
  name: 'ledger',
  version: packageVersion(import.meta.url),
  defaultHttpPort: 38085,
  config: {},
  telemetry,
  module: LedgerModule,
});
