// V8's own threads run below the event loop (V8_THREADS_NICE, default 19) while the loop has time to
// spare. They do the garbage collector's background work (a full collection's concurrent marking,
// sweeping, parallel scavenging) and background compilation. Where the process has fewer cores than
// runnable threads (a container limited to one CPU, the bench's pinned core), a full collection's
// marking took the core from the event loop for 50-120 ms at equal priority: calls queued, the client
// opened more connections, and the p99 of a paced `me` doubled in any bench round that held a collection.
// At nice 19 the marking runs in the loop's idle time: side by side with a full collection every few
// seconds, p99 7.1 ms against 11.5 (README Performance). With idle cores the niceness changes nothing.
//
// While the loop is saturated (busy over RESTORE_ABOVE of the last second) there is no idle time to
// mark in: the marking then falls to the main thread in small steps, takes several times longer, and
// the heap grows meanwhile (the bench's memory run: 150 MB of RSS instead of 137). So the threads go
// back to the loop's priority until it has room again (busy under LOWER_BELOW). Giving a priority back
// needs CAP_SYS_NICE (root has it) or an RLIMIT_NICE that allows it: without, the threads stay below
// the loop, and the log says so once. libuv's thread pool (password hashing, file I/O) keeps the
// loop's priority throughout.
//
// Linux only (/proc/self/task). Node starts V8's platform threads before anything else: a delayed-task
// scheduler, then `--v8-pool-size` workers (4 unless given), so they are the first threads after the
// main one; the rest (a signal watchdog, libuv's pool, a loader's worker) come later.
import { readdirSync, readFileSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';

export const V8_POOL_SIZE_DEFAULT = 4;

/** --v8-pool-size from node's command line or NODE_OPTIONS; undefined when it is 0 (V8 picks) or unreadable. */
function v8PoolSize(): number | undefined {
  const given = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)]
    .map((arg) => /^--v8[-_]pool[-_]size=(\d+)$/.exec(arg)?.[1])
    .filter((v) => v !== undefined)
    .at(-1);
  const size = given === undefined ? V8_POOL_SIZE_DEFAULT : Number(given);
  return size > 0 ? size : undefined;
}

/** This process's threads other than the main one, oldest first. */
function otherThreads(): number[] {
  const startOf = (tid: number) => Number(readFileSync(`/proc/self/task/${tid}/stat`, 'utf8').split(') ')[1].split(' ')[19]);
  return readdirSync('/proc/self/task')
    .map(Number)
    .filter((tid) => tid !== process.pid)
    .map((tid) => ({ tid, start: startOf(tid) }))
    .sort((a, b) => a.start - b.start || a.tid - b.tid)
    .map((t) => t.tid);
}

/** Event-loop utilisation over the last second above which V8's threads get the loop's priority back. */
export const RESTORE_ABOVE = 0.85;
/** ... and under which they go below it again. */
export const LOWER_BELOW = 0.7;
const FOLLOW_MS = 1000;

/** The niceness V8's threads should have: the loop's own (`base`) or `low`, by how busy the loop was. */
export function niceFor(busy: number, current: number, low: number, base: number): number {
  if (busy > RESTORE_ABOVE) return base;
  if (busy < LOWER_BELOW) return low;
  return current;
}

export type V8ThreadsOutcome = { lowered: number; nice: number } | { skipped: string };

/**
 * Sets V8's platform threads to `nice` (0: leaves them as they are), then follows the loop's load
 * once a second (an unref'd timer: it never keeps the process up).
 */
export function lowerV8Threads(nice: number, log: Pick<Logger, 'warn'>): V8ThreadsOutcome {
  if (nice === 0) return { skipped: 'V8_THREADS_NICE=0' };
  // The loop's own niceness (the main thread's: an operator may have started the process under `nice`).
  const base = getPriority();
  if (nice <= base) return { skipped: `the process already runs at nice ${base}` };
  if (process.platform !== 'linux') return { skipped: `not on Linux (${process.platform})` };
  const pool = v8PoolSize();
  if (pool === undefined) return { skipped: '--v8-pool-size=0: V8 picks its thread count, which cannot be read here' };
  let threads: number[];
  try {
    threads = otherThreads().slice(0, pool + 1);
    if (threads.length < pool + 1) return { skipped: `expected ${pool + 1} V8 threads, found ${threads.length}` };
    for (const tid of threads) setPriority(tid, nice);
  } catch (err) {
    return { skipped: (err as Error).message };
  }
  let current = nice;
  let last = performance.eventLoopUtilization();
  const follow = setInterval(() => {
    const now = performance.eventLoopUtilization();
    const wanted = niceFor(performance.eventLoopUtilization(now, last).utilization, current, nice, base);
    last = now;
    if (wanted === current) return;
    try {
      for (const tid of threads) setPriority(tid, wanted);
      current = wanted;
    } catch (err) {
      clearInterval(follow);
      log.warn({ err: (err as Error).message, nice: current }, "V8's helper threads cannot get the loop's priority back (no CAP_SYS_NICE): they stay below it, and a saturated loop's full collections take longer");
    }
  }, FOLLOW_MS);
  follow.unref();
  return { lowered: threads.length, nice };
}
