// Writ's metrics: one meter (`writ`) and its counters, each with its name (WRIT_METRIC) and the
// attributes it always carries, so a service records a counter without spelling its name or its
// labels itself. Instruments are taken from the global meter provider when they are used, never
// when a module loads: one made before startTelemetry registered the provider would stay a no-op.
import { metrics } from '@opentelemetry/api';
import type { Counter, Meter, MeterProvider } from '@opentelemetry/api';
import { WRIT_METRIC, WRIT_METRIC_ATTR } from './attributes.ts';

/** The meter of every Writ metric (`otel_scope_name="writ"` on /metrics). */
export const WRIT_METER_NAME = 'writ';

export type WritMetricName = (typeof WRIT_METRIC)[keyof typeof WRIT_METRIC];
type MetricAttribute = (typeof WRIT_METRIC_ATTR)[keyof typeof WRIT_METRIC_ATTR];

interface CounterSpec {
  readonly description: string;
  readonly attributes: readonly MetricAttribute[];
}

const A = WRIT_METRIC_ATTR;

/** Every counter Writ records: what it counts and its attributes. */
export const WRIT_COUNTERS = {
  [WRIT_METRIC.budgetThresholdsCrossed]: {
    description: 'Budget thresholds announced (BudgetThresholdCrossed published): once per threshold, budget and period',
    attributes: [A.tenant, A.scope, A.kind, A.thresholdPercent],
  },
  [WRIT_METRIC.budgetRefusals]: {
    description: 'Reservations refused by a budget (BudgetRefused published)',
    attributes: [A.tenant, A.scope, A.kind, A.rule],
  },
  [WRIT_METRIC.executorCostBreaches]: {
    description: "Tool calls whose result broke the tool's declared cost (above cost.max_micros, or no usable cost reported)",
    attributes: [A.tenant, A.tool, A.breach],
  },
  [WRIT_METRIC.executorCostBreachExcessMicros]: {
    description: "Reported cost above the tool's cost.max_micros, in micro-units of the currency",
    attributes: [A.tenant, A.tool, A.currency],
  },
  [WRIT_METRIC.gatewaySafeModeTrips]: {
    description: 'Agents or tenants switched to safe mode by the gateway itself (ControlChanged published)',
    attributes: [A.tenant, A.subject, A.trigger],
  },
} as const satisfies Readonly<Record<WritMetricName, CounterSpec>>;

/** The attributes of one counter: every one it declares, each a string. */
export type WritCounterAttributes<N extends WritMetricName> = { readonly [K in (typeof WRIT_COUNTERS)[N]['attributes'][number]]: string };

export interface WritCounter<N extends WritMetricName> {
  add(value: number, attributes: WritCounterAttributes<N>): void;
}

/** The meter `writ` of the meter provider registered now (a no-op one before startTelemetry). */
export function writMeter(): Meter {
  return metrics.getMeter(WRIT_METER_NAME);
}

/** Instruments per provider: a provider registered later (startTelemetry, a test's) gets its own. */
const instruments = new WeakMap<MeterProvider, Map<WritMetricName, Counter>>();

function instrumentOf(name: WritMetricName): Counter {
  const provider = metrics.getMeterProvider();
  let counters = instruments.get(provider);
  if (counters === undefined) {
    counters = new Map();
    instruments.set(provider, counters);
  }
  let counter = counters.get(name);
  if (counter === undefined) {
    counter = provider.getMeter(WRIT_METER_NAME).createCounter(name, { description: WRIT_COUNTERS[name].description });
    counters.set(name, counter);
  }
  return counter;
}

/**
 * One of Writ's counters, e.g. `writCounter(WRIT_METRIC.budgetRefusals).add(1, { tenant, scope, kind, rule })`.
 * Each add goes to the meter provider registered at that moment.
 */
export function writCounter<N extends WritMetricName>(name: N): WritCounter<N> {
  return {
    add(value, attributes) {
      instrumentOf(name).add(value, attributes);
    },
  };
}
