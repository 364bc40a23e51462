import { telemetry } from './instrumentation.ts';
import { packageVersion, runService } from '@writ/runtime';
import { ledgerConfigSpec } from './config.ts';
import { LedgerModule } from './ledger.module.ts';

await runService({
  name: 'ledger',
  version: packageVersion(import.meta.url),
  defaultHttpPort: 26085,
  config: ledgerConfigSpec,
  telemetry,
  module: LedgerModule,
});
