// Latency at a fixed rate, with the requests spread evenly over time (open loop). autocannon's rate
// limit is per connection per second: each connection sends back to back until it has made its share
// of the second, then waits for the next second, so half of each second is full load and the other
// half idle (the Koa echo at 5,400 req/s that way: p99 123 ms). The sender (bench/pacedSender.ts) is a
// process of its own, on the load generator's core, so its CPU is read like wrk's and the bench's own
// work (reading /proc) never delays a request.
import { spawn } from 'node:child_process';
import { cpus, setPriority } from 'node:os';
import type { LatencyHistogram } from './latencyHistogram.ts';

export interface PacedLoad {
  path: string;
  body: string;
  headers: Record<string, string>;
  rate: number;
  durationSeconds: number;
}

/** What one load run measured (bench/run.ts adds the scenario's name and ratios). */
export interface LoadFigures {
  rps: number;
  p50_ms: number;
  p99_ms: number;
  errors: number;
  non2xx: number;
  requests: number;
  /** What failed, by error code (ECONNRESET, ...), when anything did. */
  error_codes?: Record<string, number>;
  /** Every call's latency (the paced sender's), for pooling rounds (bench/latencyHistogram.ts). */
  histogram?: LatencyHistogram;
}

/** Seconds the sender runs at the same rate, uncounted, before it measures (neither side's JIT cold). */
export const WARMUP_S = 1.5;

/** Runs the paced sender against baseUrl; `onStart` gets its pid (to watch its CPU). */
export async function pacedLoad(baseUrl: string, load: PacedLoad, onStart?: (pid: number) => void): Promise<LoadFigures> {
  const node = [process.execPath, '--import', 'tsx', new URL('pacedSender.ts', import.meta.url).pathname, JSON.stringify({ ...load, url: baseUrl, warmupSeconds: WARMUP_S })];
  // exec: the pid watched is node's own, not a taskset wrapper's.
  const argv = cpus().length >= 2 ? ['-c', 'exec taskset -c 1 "$@"', 'sh', ...node] : ['-c', 'exec "$@"', 'sh', ...node];
  const child = spawn('sh', argv, { stdio: ['ignore', 'pipe', 'inherit'] });
  // Ahead of the stores and the rest of the machine where allowed (root): a sender that waits for a CPU
  // sends late, and that lateness would be counted as the server's.
  try {
    setPriority(child.pid!, -5);
  } catch {
    // not allowed (not root): it runs at the default priority
  }
  onStart?.(child.pid!);
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`paced sender exited with ${code}`);
  return JSON.parse(out.trim().split('\n').at(-1)!) as LoadFigures;
}
