// Writ's metrics: one meter (`writ`) and its instruments, each with its name (WRIT_METRIC), its kind
// and the attributes it always carries, so a service records a metric without spelling its name or
// its labels itself. Instruments are taken from the global meter provider when they are used, never
// when a module loads: one made before startTelemetry registered the provider would stay a no-op.
import { metrics } from '@opentelemetry/api';
import type { Counter, Histogram, Meter, MeterProvider, ObservableGauge, ObservableResult } from '@opentelemetry/api';
import { WRIT_METRIC, WRIT_METRIC_ATTR } from './attributes.ts';

/** The meter of every Writ metric (`otel_scope_name="writ"` on /metrics). */
export const WRIT_METER_NAME = 'writ';

export type WritMetricName = (typeof WRIT_METRIC)[keyof typeof WRIT_METRIC];
type MetricAttribute = (typeof WRIT_METRIC_ATTR)[keyof typeof WRIT_METRIC_ATTR];

/**
 * One metric: a counter (only goes up; scraped as `<name>_total`), a histogram (scraped as
 * `<name>_bucket`, `_sum` and `_count`) or a gauge (observed when collected, from the state of the
 * process; scraped as `<name>`).
 */
type MetricSpec =
  | { readonly kind: 'counter'; readonly description: string; readonly attributes: readonly MetricAttribute[] }
  | {
      readonly kind: 'histogram';
      readonly description: string;
      readonly attributes: readonly MetricAttribute[];
      readonly unit: string;
      /** Upper bounds of the buckets, ascending. */
      readonly buckets: readonly number[];
    }
  | { readonly kind: 'gauge'; readonly description: string; readonly attributes: readonly MetricAttribute[] };

const A = WRIT_METRIC_ATTR;
const M = WRIT_METRIC;

/** Bounds of a tool call's duration (seconds): from a fast read to a slow write with retries. */
const CALL_SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** Every metric Writ records: its kind, what it measures and its attributes. */
export const WRIT_METRICS = {
  [M.budgetThresholdsCrossed]: {
    kind: 'counter',
    description: 'Budget thresholds announced (BudgetThresholdCrossed published): once per threshold, budget and period',
    attributes: [A.tenant, A.scope, A.kind, A.thresholdPercent],
  },
  [M.budgetRefusals]: {
    kind: 'counter',
    description: 'Reservations refused by a budget (BudgetRefused published)',
    attributes: [A.tenant, A.scope, A.kind, A.rule],
  },
  [M.budgetReservations]: { kind: 'counter', description: 'Reservations made (BudgetReserved published)', attributes: [A.tenant, A.agent, A.tool] },
  [M.budgetReservedMicros]: {
    kind: 'counter',
    description: 'Money reserved (BudgetReserved.amount_micros), in micro-units of the currency',
    attributes: [A.tenant, A.agent, A.currency],
  },
  [M.budgetSpentMicros]: {
    kind: 'counter',
    description: 'Money charged for executions (BudgetSettled with disposition settled: actual_cost_micros), in micro-units of the currency',
    attributes: [A.tenant, A.agent, A.currency],
  },
  [M.budgetReleasedMicros]: {
    kind: 'counter',
    description: 'Money given back by a settlement, release or lapse (BudgetSettled.released_micros), in micro-units of the currency',
    attributes: [A.tenant, A.currency],
  },
  [M.budgetUsed]: {
    kind: 'gauge',
    description: 'What a configured budget has used in its current period, settled and reserved (money in micro-units, or tool calls)',
    attributes: [A.tenant, A.scope, A.subject, A.kind],
  },
  [M.budgetLimit]: {
    kind: 'gauge',
    description: 'The cap of a configured budget (money in micro-units, or tool calls)',
    attributes: [A.tenant, A.scope, A.subject, A.kind],
  },
  [M.executorCostBreaches]: {
    kind: 'counter',
    description: "Tool calls whose result broke the tool's declared cost (above cost.max_micros, or no usable cost reported)",
    attributes: [A.tenant, A.tool, A.breach],
  },
  [M.executorCostBreachExcessMicros]: {
    kind: 'counter',
    description: "Reported cost above the tool's cost.max_micros, in micro-units of the currency",
    attributes: [A.tenant, A.tool, A.currency],
  },
  [M.executorCalls]: {
    kind: 'counter',
    description: 'Tool calls made (at least one attempt went out), by outcome: succeeded, failed or unknown',
    attributes: [A.tenant, A.tool, A.outcome],
  },
  [M.executorErrors]: {
    kind: 'counter',
    description: 'Executions that failed (ActionFailed published), by error code: failed calls and requests refused before a call',
    attributes: [A.tenant, A.tool, A.errorCode],
  },
  [M.executorRetries]: { kind: 'counter', description: 'Attempts beyond the first of the tool calls made', attributes: [A.tenant, A.tool] },
  [M.executorCallDurationSeconds]: {
    kind: 'histogram',
    description: 'How long a tool call took, its attempts and backoffs included',
    attributes: [A.tenant, A.tool, A.outcome],
    unit: 's',
    buckets: CALL_SECONDS,
  },
  [M.executorBreakerState]: {
    kind: 'gauge',
    description: "Each tool's circuit breaker in this executor: 1 for its current state (closed, open, half_open), 0 for the others",
    attributes: [A.tool, A.state],
  },
  [M.gatewaySafeModeTrips]: {
    kind: 'counter',
    description: 'Agents or tenants switched to safe mode by the gateway itself (ControlChanged published)',
    attributes: [A.tenant, A.subject, A.trigger],
  },
  [M.gatewayApprovalsPending]: { kind: 'gauge', description: "Actions awaiting a person's approval", attributes: [A.tenant] },
  [M.gatewayApprovalOldestAgeSeconds]: {
    kind: 'gauge',
    description: 'How long the oldest action awaiting approval has waited since the policy asked for it, in seconds',
    attributes: [A.tenant],
  },
  [M.gatewayReconciliationPending]: {
    kind: 'gauge',
    description: 'Actions whose outcome is unknown and not reconciled yet (the reconciliation queue)',
    attributes: [A.tenant],
  },
  [M.plannerActionsCompleted]: {
    kind: 'counter',
    description: 'Actions ended (ActionCompleted published), by terminal status and reason code',
    attributes: [A.tenant, A.agent, A.tool, A.status, A.reasonCode],
  },
  [M.plannerLoopDetections]: {
    kind: 'counter',
    description: 'Proposals rejected as a loop (ActionRejected with LOOP_DETECTED published)',
    attributes: [A.tenant, A.agent, A.tool],
  },
  [M.policyDecisions]: {
    kind: 'counter',
    description: 'Decisions published (PolicyDecided), by result and the policies that determined it',
    attributes: [A.tenant, A.agent, A.tool, A.decision, A.policy],
  },
  [M.policyApprovalsRecorded]: {
    kind: 'counter',
    description: 'Approval verdicts recorded (ApprovalRecorded published), accepted or not',
    attributes: [A.tenant, A.verdict, A.accepted],
  },
  [M.ledgerEntries]: { kind: 'counter', description: 'Events chained (LedgerEntry published)', attributes: [A.tenant] },
  [M.ledgerProjectionLag]: { kind: 'gauge', description: 'Records of the committed chain not yet projected into ClickHouse', attributes: [] },
  [M.ledgerDriftDetected]: {
    kind: 'counter',
    description: "Drifts announced by the ledger's drift check (DriftDetected published): once per tenant, agent, tool and day",
    attributes: [A.tenant, A.agent, A.tool],
  },
  [M.consumerLag]: {
    kind: 'gauge',
    description: "Records a service's consumer group has not committed yet, per topic (an upper bound by the transaction markers, exact at 0)",
    attributes: [A.group, A.topic],
  },
} as const satisfies Readonly<Record<WritMetricName, MetricSpec>>;

type Spec<N extends WritMetricName> = (typeof WRIT_METRICS)[N];
type NamesOfKind<K extends MetricSpec['kind']> = { [N in WritMetricName]: Spec<N>['kind'] extends K ? N : never }[WritMetricName];
export type WritCounterName = NamesOfKind<'counter'>;
export type WritHistogramName = NamesOfKind<'histogram'>;
export type WritGaugeName = NamesOfKind<'gauge'>;

/** The attributes of one metric: every one it declares, each a string. */
export type WritMetricAttributes<N extends WritMetricName> = { readonly [K in Spec<N>['attributes'][number]]: string };

export interface WritCounter<N extends WritCounterName> {
  add(value: number, attributes: WritMetricAttributes<N>): void;
}

export interface WritHistogram<N extends WritHistogramName> {
  record(value: number, attributes: WritMetricAttributes<N>): void;
}

/** What a gauge's callback reports: one value per set of attributes. */
export interface WritGaugeObserver<N extends WritGaugeName> {
  observe(value: number, attributes: WritMetricAttributes<N>): void;
}

/**
 * The names of a metric's series on a Prometheus scrape: the exporter turns each `.` into `_` and
 * adds `_total` to a counter and `_bucket`, `_sum`, `_count` to a histogram.
 */
export function scrapedNamesOf(name: WritMetricName): string[] {
  const base = name.replace(/\./g, '_');
  switch (WRIT_METRICS[name].kind) {
    case 'counter':
      return [`${base}_total`];
    case 'histogram':
      return [`${base}_bucket`, `${base}_sum`, `${base}_count`];
    case 'gauge':
      return [base];
  }
}

/** The meter `writ` of the meter provider registered now (a no-op one before startTelemetry). */
export function writMeter(): Meter {
  return metrics.getMeter(WRIT_METER_NAME);
}

type Instrument = Counter | Histogram | ObservableGauge;

/** Instruments per provider: a provider registered later (startTelemetry, a test's) gets its own. */
const instruments = new WeakMap<MeterProvider, Map<WritMetricName, Instrument>>();

function instrumentOf(name: WritMetricName): Instrument {
  const provider = metrics.getMeterProvider();
  let made = instruments.get(provider);
  if (made === undefined) {
    made = new Map();
    instruments.set(provider, made);
  }
  let instrument = made.get(name);
  if (instrument === undefined) {
    const meter = provider.getMeter(WRIT_METER_NAME);
    const spec: MetricSpec = WRIT_METRICS[name];
    switch (spec.kind) {
      case 'counter':
        instrument = meter.createCounter(name, { description: spec.description });
        break;
      case 'histogram':
        instrument = meter.createHistogram(name, { description: spec.description, unit: spec.unit, advice: { explicitBucketBoundaries: [...spec.buckets] } });
        break;
      case 'gauge':
        instrument = meter.createObservableGauge(name, { description: spec.description });
        break;
    }
    made.set(name, instrument);
  }
  return instrument;
}

/**
 * One of Writ's counters, e.g. `writCounter(WRIT_METRIC.budgetRefusals).add(1, { tenant, scope, kind, rule })`.
 * Each add goes to the meter provider registered at that moment.
 */
export function writCounter<N extends WritCounterName>(name: N): WritCounter<N> {
  return {
    add(value, attributes) {
      (instrumentOf(name) as Counter).add(value, attributes);
    },
  };
}

/**
 * One of Writ's histograms, e.g. `writHistogram(WRIT_METRIC.executorCallDurationSeconds).record(0.12, { tenant, tool, outcome })`.
 * Each value goes to the meter provider registered at that moment.
 */
export function writHistogram<N extends WritHistogramName>(name: N): WritHistogram<N> {
  return {
    record(value, attributes) {
      (instrumentOf(name) as Histogram).record(value, attributes);
    },
  };
}

/** One set of attributes as a key (sorted, so the order they were given in does not matter). */
function attributesKey(attributes: Readonly<Record<string, string>>): string {
  return JSON.stringify(Object.entries(attributes).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/**
 * Observes one of Writ's gauges on the meter provider registered now: `callback` runs each time
 * the metrics are collected (a scrape, an OTLP export) and reports the values of the moment from
 * the process's state. Keep it cheap, or sample the costly part at most every few seconds
 * (`sampledEvery`). A series the callback reported before and not this time is reported at 0
 * (the SDK repeats a series' last value until told otherwise: a queue that emptied would stay
 * full). When the callback throws, the last values stand. Returns the function that stops observing.
 */
export function observeWritGauge<N extends WritGaugeName>(name: N, callback: (observer: WritGaugeObserver<N>) => void | Promise<void>): () => void {
  const gauge = instrumentOf(name) as ObservableGauge;
  let reported = new Map<string, Readonly<Record<string, string>>>();
  const observed = async (result: ObservableResult): Promise<void> => {
    const now = new Map<string, Readonly<Record<string, string>>>();
    const values: [number, Readonly<Record<string, string>>][] = [];
    try {
      await callback({
        observe: (value, attributes) => {
          now.set(attributesKey(attributes), attributes);
          values.push([value, attributes]);
        },
      });
    } catch {
      // Nothing new this time: a gauge never fails a collection.
      return;
    }
    for (const [key, attributes] of reported) if (!now.has(key)) result.observe(0, attributes);
    for (const [value, attributes] of values) result.observe(value, attributes);
    reported = now;
  };
  gauge.addCallback(observed);
  return () => gauge.removeCallback(observed);
}

/**
 * A costly value (a Kafka round trip, a scan of a large state) for a gauge: sampled at most every
 * `intervalMs`, however often it is collected. A read waits at most `waitMs` for a new sample and
 * gives the last one meanwhile (undefined before the first, or when the last sample failed), so a
 * slow broker never makes a scrape time out.
 */
export function sampledEvery<T>(intervalMs: number, sample: () => Promise<T>, waitMs = 500, now: () => number = Date.now): () => Promise<T | undefined> {
  let last: { readonly at: number; readonly value: T | undefined } | undefined;
  let inFlight: Promise<void> | undefined;
  const refresh = (): Promise<void> => {
    const started = now();
    inFlight ??= sample().then(
      (value) => {
        last = { at: started, value };
      },
      () => {
        last = { at: started, value: undefined };
      },
    );
    const current = inFlight;
    void current.finally(() => {
      if (inFlight === current) inFlight = undefined;
    });
    return current;
  };
  return async () => {
    if (last !== undefined && now() - last.at < intervalMs) return last.value;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([refresh(), new Promise<void>((resolve) => (timer = setTimeout(resolve, waitMs)))]);
    clearTimeout(timer);
    return last?.value;
  };
}
