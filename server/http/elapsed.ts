// How long a request took, as the call log, the audit row (ms, two decimals) and the metrics (s) want it.
export function elapsedSince(started: bigint): { seconds: number; ms: number } {
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return { seconds, ms: Math.round(seconds * 1e5) / 100 };
}
