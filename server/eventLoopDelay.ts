// tether_event_loop_delay_seconds: how late the event loop ran a timer, as a histogram. A timer is due
// every SAMPLE_MS; each run observes how much later than due it ran, so a stall (a long synchronous
// piece of work: a big JSON text built at once, a full collection, a synchronous write into a full
// pipe) is one observation of its length, and every call that waited behind it waited that long.
// perf_hooks' monitorEventLoopDelay keeps only percentiles since its last reset; this keeps buckets, so
// Prometheus can say how many stalls passed 50 ms in any window (`increase(..._bucket[5m])`).
import { Histogram, type Registry } from 'prom-client';

const SAMPLE_MS = 10;
export const LOOP_DELAY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

export function eventLoopDelay(registry: Registry): { start(): () => void } {
  const histogram = new Histogram({
    name: 'tether_event_loop_delay_seconds',
    help: `How late the event loop ran a timer due every ${SAMPLE_MS} ms: one observation per run; a stall is one observation of its length.`,
    buckets: LOOP_DELAY_BUCKETS,
    registers: [registry],
  });
  return {
    /** Starts sampling (the server does; a command does not); answers the stop. */
    start() {
      let last = performance.now();
      const timer = setInterval(() => {
        const now = performance.now();
        histogram.observe(Math.max(0, now - last - SAMPLE_MS) / 1000);
        last = now;
      }, SAMPLE_MS);
      timer.unref();
      return () => clearInterval(timer);
    },
  };
}
