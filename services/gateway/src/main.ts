import { telemetry } from './instrumentation.ts';
import { packageVersion, runService } from '@writ/runtime';
import { GatewayModule } from './gateway.module.ts';

await runService({
  name: 'gateway',
  version: packageVersion(import.meta.url),
  defaultHttpPort: 38080,
  config: {},
  telemetry,
  module: GatewayModule,
});
