// Imported first by main.ts, so tracing is running before Nest or the Kafka client load.
import { startTelemetry } from '@writ/telemetry';

export const telemetry = startTelemetry('gateway');
