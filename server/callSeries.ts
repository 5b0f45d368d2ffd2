// tether_calls_total and tether_call_duration_seconds, counted in plain numbers per method and outcome
// and handed to prom-client only at scrape time. prom-client hashes the label object on every inc()
// and observe(), even through labels() children; here a call costs two Map lookups on series built
// once per method and outcome. The exposition is prom-client's own (a counter with collect(), a
// metric object whose get() has a histogram's shape), so /metrics reads as before.
import { Counter, type Registry } from 'prom-client';

const CALLS = 'tether_calls_total';
const DURATION = 'tether_call_duration_seconds';
export const DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

interface MethodSeries {
  /** Calls by outcome ('ok' or the error_code). */
  outcomes: Map<string, number>;
  /** Observations per bucket (not cumulative); the last slot is +Inf. */
  buckets: Float64Array;
  sum: number;
  count: number;
}

type Sample = { labels: Record<string, string | number>; value: number; metricName?: string };

export function callSeries(registry: Registry) {
  const byMethod = new Map<string, MethodSeries>();
  const seriesOf = (method: string): MethodSeries => {
    let series = byMethod.get(method);
    if (!series) byMethod.set(method, (series = { outcomes: new Map(), buckets: new Float64Array(DURATION_BUCKETS.length + 1), sum: 0, count: 0 }));
    return series;
  };

  new Counter({
    name: CALLS,
    help: 'Calls answered, by method and outcome (ok or the error_code).',
    labelNames: ['method', 'outcome'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const [method, series] of byMethod) for (const [outcome, n] of series.outcomes) this.inc({ method, outcome }, n);
    },
  });

  registry.registerMetric({
    name: DURATION,
    help: 'Time from reading a call to its answer, by method.',
    type: 'histogram',
    aggregator: 'sum',
    get: async () => {
      const values: Sample[] = [];
      for (const [method, s] of byMethod) {
        let cumulative = 0;
        DURATION_BUCKETS.forEach((le, i) => {
          cumulative += s.buckets[i];
          values.push({ labels: { le, method }, value: cumulative, metricName: `${DURATION}_bucket` });
        });
        values.push({ labels: { le: '+Inf', method }, value: s.count, metricName: `${DURATION}_bucket` });
        values.push({ labels: { method }, value: s.sum, metricName: `${DURATION}_sum` });
        values.push({ labels: { method }, value: s.count, metricName: `${DURATION}_count` });
      }
      return { name: DURATION, help: 'Time from reading a call to its answer, by method.', type: 'histogram', aggregator: 'sum', values };
    },
    reset: () => byMethod.clear(),
  } as never);

  return {
    /** The method's series from 0: these outcomes and its histogram, before its first call. */
    declare(method: string, outcomes: readonly string[]): void {
      const series = seriesOf(method);
      for (const outcome of outcomes) if (!series.outcomes.has(outcome)) series.outcomes.set(outcome, 0);
    },
    observe(method: string, outcome: string, seconds: number): void {
      const series = seriesOf(method);
      series.outcomes.set(outcome, (series.outcomes.get(outcome) ?? 0) + 1);
      let i = 0;
      while (i < DURATION_BUCKETS.length && seconds > DURATION_BUCKETS[i]) i++;
      series.buckets[i]++;
      series.sum += seconds;
      series.count++;
    },
  };
}
