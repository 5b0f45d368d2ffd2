// tether_event_loop_delay_seconds: how late the event loop ran a timer, as a histogram. A timer is due
// every SAMPLE_MS; each run observes how much later than due it ran, so a stall (a long synchronous
// piece of work: a big JSON text built at once, a full collection, a synchronous write into a full
// pipe) is one observation of its length, and every call that waited behind it waited that long.
// perf_hooks' monitorEventLoopDelay keeps only percentiles since its last reset; this keeps buckets, so
// Prometheus can say how many stalls passed 50 ms in any window (`increase(..._bucket[5m])`).
//
// A stall of STALL_MS or more is also told apart by its cause, from the CPU this process used
// meanwhile: `busy` (it ran: something here held the loop) or `not_scheduled` (it barely ran: the
// machine gave its CPU to other processes), counted in tether_event_loop_stalls_total{cause} and
// logged (at most one line a second) with both figures.
import { Counter, Histogram, type Registry } from 'prom-client';
import type { Logger } from 'pino';

const SAMPLE_MS = 10;
const STALL_MS = 50;
export const LOOP_DELAY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

export function eventLoopDelay(registry: Registry): { start(log?: Logger): () => void } {
  const histogram = new Histogram({
    name: 'tether_event_loop_delay_seconds',
    help: `How late the event loop ran a timer due every ${SAMPLE_MS} ms: one observation per run; a stall is one observation of its length.`,
    buckets: LOOP_DELAY_BUCKETS,
    registers: [registry],
  });
  const stalls = new Counter({
    name: 'tether_event_loop_stalls_total',
    help: `Event-loop stalls of ${STALL_MS} ms or more, by cause: busy (this process used most of that time) or not_scheduled (it barely ran: CPU taken by other processes).`,
    labelNames: ['cause'] as const,
    registers: [registry],
  });
  stalls.inc({ cause: 'busy' }, 0);
  stalls.inc({ cause: 'not_scheduled' }, 0);
  return {
    /** Starts sampling (the server does; a command does not); answers the stop. */
    start(log) {
      let last = performance.now();
      let lastCpu = process.cpuUsage();
      let loggedAt = 0;
      const timer = setInterval(() => {
        const now = performance.now();
        const cpu = process.cpuUsage();
        const delayMs = Math.max(0, now - last - SAMPLE_MS);
        histogram.observe(delayMs / 1000);
        if (delayMs >= STALL_MS) {
          const cpuMs = (cpu.user - lastCpu.user + cpu.system - lastCpu.system) / 1000;
          const cause = cpuMs >= (now - last) / 2 ? 'busy' : 'not_scheduled';
          stalls.inc({ cause });
          // A stall this process caused is a warning (at most a line a second); one where the host did not
          // run it is the host's business (counted all the same), at debug, so a loaded laptop's terminal
          // is not flooded.
          const line = `[EVENT LOOP] stalled ${Math.round(delayMs)} ms (${cause === 'busy' ? 'this process was busy' : 'this process was not running: CPU taken by other processes'})`;
          const fields = { stall_ms: Math.round(delayMs), cpu_ms: Math.round(cpuMs), cause };
          if (cause === 'not_scheduled') log?.debug(fields, line);
          else if (log && now - loggedAt >= 1000) {
            loggedAt = now;
            log.warn(fields, line);
          }
        }
        last = now;
        lastCpu = cpu;
      }, SAMPLE_MS);
      timer.unref();
      return () => clearInterval(timer);
    },
  };
}
