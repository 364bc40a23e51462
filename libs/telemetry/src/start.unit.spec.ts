import { describe, expect, it } from 'vitest';
import { isWritError } from '@writ/errors';
import { otlpMetricsUrl, startTelemetry, telemetryConfig } from './start.ts';

function configError(run: () => unknown) {
  try {
    run();
  } catch (error) {
    if (isWritError(error, 'CONFIG_INVALID')) return error;
    throw error;
  }
  throw new Error('expected CONFIG_INVALID');
}

describe('telemetryConfig', () => {
  it('has no metrics endpoint unless WRIT_METRICS_PORT is set, and listens on loopback by default', () => {
    expect(telemetryConfig({})).toMatchObject({ WRIT_METRICS_PORT: undefined, WRIT_METRICS_HOST: '127.0.0.1', OTEL_METRIC_EXPORT_INTERVAL: 60_000 });
    expect(telemetryConfig({ WRIT_METRICS_PORT: '26113', WRIT_METRICS_HOST: '0.0.0.0' })).toMatchObject({
      WRIT_METRICS_PORT: 26113,
      WRIT_METRICS_HOST: '0.0.0.0',
    });
  });

  it('refuses a bad WRIT_METRICS_PORT, naming the variable and the rule', () => {
    for (const [raw, rule] of [
      ['70000', 'must be between 1 and 65535, got 70000'],
      ['0', 'must be between 1 and 65535, got 0'],
      ['metrics', 'must be a whole number, got "metrics"'],
      ['26113.5', 'must be a whole number, got "26113.5"'],
    ] as const) {
      const error = configError(() => telemetryConfig({ WRIT_METRICS_PORT: raw }));
      expect(error.field).toBe('WRIT_METRICS_PORT');
      expect(error.rule).toBe(rule);
      expect(error.message).toContain(`WRIT_METRICS_PORT ${rule}`);
    }
  });

  it('refuses a bad port before anything starts, and lists every bad variable at once', () => {
    const error = configError(() =>
      startTelemetry('test', { WRIT_METRICS_PORT: '-1', OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: 'nope', OTEL_METRIC_EXPORT_INTERVAL: '5' }),
    );
    expect(error.message).toContain('WRIT_METRICS_PORT must be between 1 and 65535, got -1');
    expect(error.message).toContain('OTEL_EXPORTER_OTLP_METRICS_ENDPOINT must be a URL, got "nope"');
    expect(error.message).toContain('OTEL_METRIC_EXPORT_INTERVAL must be between 1000 and 86400000, got 5');
  });
});

describe('otlpMetricsUrl', () => {
  it('is the metrics endpoint as given, else v1/metrics under the common endpoint, else none', () => {
    const url = (source: Record<string, string>) => otlpMetricsUrl(telemetryConfig(source))?.href;
    expect(url({})).toBeUndefined();
    expect(url({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' })).toBe('http://collector:4318/v1/metrics');
    expect(url({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/otlp/' })).toBe('http://collector:4318/otlp/v1/metrics');
    expect(url({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/otlp' })).toBe('http://collector:4318/otlp/v1/metrics');
    expect(url({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: 'https://metrics.example/in' })).toBe(
      'https://metrics.example/in',
    );
  });
});
