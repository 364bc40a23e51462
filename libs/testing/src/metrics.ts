// Metrics in tests: an endpoint for services run in-process (a meter provider with a Prometheus
// reader, registered as the global one, as startTelemetry registers it in a service process), and
// reading any Prometheus endpoint: the text format's samples, and the sum of one metric's series
// whose labels include the ones asked for.
import { metrics } from '@opentelemetry/api';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { freePort } from './free-port.ts';

/** One sample of the Prometheus text format: `name{label="value",...} value`. */
export interface MetricSample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

const SAMPLE = /^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\S+)?$/;
const LABEL = /([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

function unescapeLabel(value: string): string {
  return value.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
}

function parseValue(text: string): number {
  if (text === '+Inf') return Number.POSITIVE_INFINITY;
  if (text === '-Inf') return Number.NEGATIVE_INFINITY;
  return Number(text);
}

/** Every sample of a scrape (comments and blank lines skipped). */
export function parsePrometheusText(text: string): MetricSample[] {
  const samples: MetricSample[] = [];
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const match = SAMPLE.exec(trimmed);
    if (match === null) throw new Error(`not a Prometheus sample: ${trimmed}`);
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match[2] ?? '').matchAll(LABEL)) if (key !== undefined) labels[key] = unescapeLabel(value ?? '');
    samples.push({ name: match[1] ?? '', labels, value: parseValue(match[3] ?? '') });
  }
  return samples;
}

/** GETs a /metrics endpoint and parses it; throws on an answer other than 200. */
export async function scrapeMetrics(url: string): Promise<MetricSample[]> {
  const response = await fetch(url, { signal: AbortSignal.timeout(5_000) });
  const text = await response.text();
  if (response.status !== 200) throw new Error(`${url}: HTTP ${response.status}: ${text.slice(0, 200)}`);
  return parsePrometheusText(text);
}

/** The sum of the series of `name` whose labels include every one of `labels` (0 when there is none). */
export function metricValue(samples: readonly MetricSample[], name: string, labels: Readonly<Record<string, string>> = {}): number {
  return samples.filter((s) => s.name === name && Object.entries(labels).every(([key, value]) => s.labels[key] === value)).reduce((sum, s) => sum + s.value, 0);
}

export interface TestMetricsEndpoint {
  /** `http://127.0.0.1:<port>/metrics` */
  readonly url: string;
  /** Stops the endpoint and removes the global meter provider. */
  stop(): Promise<void>;
}

/**
 * Registers a meter provider whose Prometheus reader serves `/metrics` on a free loopback port, as
 * the global one (a test file's services in-process count on it). Throws if one is registered already.
 */
export async function serveTestMetrics(): Promise<TestMetricsEndpoint> {
  const port = await freePort();
  const reader = new PrometheusExporter({ host: '127.0.0.1', port, preventServerStart: true });
  const provider = new MeterProvider({ readers: [reader] });
  if (!metrics.setGlobalMeterProvider(provider)) throw new Error('a global meter provider is registered already');
  await reader.startServer();
  return {
    url: `http://127.0.0.1:${port}/metrics`,
    async stop() {
      metrics.disable();
      await provider.shutdown();
    },
  };
}
