// V8's own threads run below the event loop (V8_THREADS_NICE, default 19). They do the garbage
// collector's background work (a full collection's concurrent marking, sweeping, parallel scavenging)
// and background compilation. Where the process has fewer cores than runnable threads (a container
// limited to one CPU, the bench's pinned core), a full collection's marking took the core from the
// event loop for 50-120 ms at equal priority: calls queued, the client opened more connections, and
// the p99 of a paced `me` doubled in any minute that held a collection. At nice 19 the marking runs in
// the loop's idle time (V8 finishes it on the main thread when it must): side by side with a full
// collection every few seconds, p99 7.1 ms against 11.5 (README Performance). With idle cores the
// niceness changes nothing. libuv's thread pool (password hashing, file I/O) keeps its priority.
//
// Linux only (/proc/self/task). Node starts V8's platform threads before anything else: a delayed-task
// scheduler, then `--v8-pool-size` workers (4 unless given), so they are the first threads after the
// main one; the rest (a signal watchdog, libuv's pool, a loader's worker) come later.
import { readdirSync, readFileSync } from 'node:fs';
import { setPriority } from 'node:os';

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

export type V8ThreadsOutcome = { lowered: number; nice: number } | { skipped: string };

/** Sets V8's platform threads to `nice` (0: leaves them as they are). */
export function lowerV8Threads(nice: number): V8ThreadsOutcome {
  if (nice === 0) return { skipped: 'V8_THREADS_NICE=0' };
  if (process.platform !== 'linux') return { skipped: `not on Linux (${process.platform})` };
  const pool = v8PoolSize();
  if (pool === undefined) return { skipped: '--v8-pool-size=0: V8 picks its thread count, which cannot be read here' };
  try {
    const threads = otherThreads().slice(0, pool + 1);
    if (threads.length < pool + 1) return { skipped: `expected ${pool + 1} V8 threads, found ${threads.length}` };
    for (const tid of threads) setPriority(tid, nice);
    return { lowered: threads.length, nice };
  } catch (err) {
    return { skipped: (err as Error).message };
  }
}
