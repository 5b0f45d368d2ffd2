// Latencies as a histogram the paced sender prints and the bench merges: rounds of the same scenario
// pooled into one distribution, so a pooled p99 is read from every call of every round rather than
// averaged from each round's own. 0.1 ms buckets below 100 ms, 1 ms buckets above, the last at 60 s.
const FINE_MS = 100;

/** [bucket, count] pairs, the buckets ascending. */
export type LatencyHistogram = [number, number][];

const bucketOf = (ms: number) => (ms < FINE_MS ? Math.floor(ms * 10) : FINE_MS * 10 + Math.min(60_000, Math.floor(ms)) - FINE_MS);
/** The upper bound of a bucket, ms. */
const upperOf = (bucket: number) => (bucket < FINE_MS * 10 ? (bucket + 1) / 10 : bucket - FINE_MS * 10 + FINE_MS + 1);

export function histogramOf(latenciesMs: ArrayLike<number>): LatencyHistogram {
  const counts = new Map<number, number>();
  for (let i = 0; i < latenciesMs.length; i++) {
    const b = bucketOf(latenciesMs[i]);
    counts.set(b, (counts.get(b) ?? 0) + 1);
  }
  return [...counts].sort((a, b) => a[0] - b[0]);
}

export function merged(histograms: LatencyHistogram[]): LatencyHistogram {
  const counts = new Map<number, number>();
  for (const h of histograms) for (const [b, n] of h) counts.set(b, (counts.get(b) ?? 0) + n);
  return [...counts].sort((a, b) => a[0] - b[0]);
}

/** The latency p percent of calls stayed under, at the histogram's resolution (ms, 2 decimals). */
export function percentileOf(histogram: LatencyHistogram, p: number): number {
  const total = histogram.reduce((n, [, c]) => n + c, 0);
  let seen = 0;
  for (const [b, c] of histogram) {
    seen += c;
    if (seen > (p / 100) * total) return Math.round(upperOf(b) * 100) / 100;
  }
  return 0;
}
