// Keep-alives' last_activity writes, batched off the call's path. A keep-alive falls due once per touch
// interval per session; when many sessions fall due together (100k sessions restored in one minute),
// one UPDATE per keep-alive, not awaited, queued in the pool faster than PostgreSQL took them, and the
// waiting queries grew the process by hundreds of MB (bench memory run: 537 MB). Here a due keep-alive
// is one entry in a map (a session's later time replaces its earlier one), written by one statement
// per batch (sessionStore.touchMany), one batch at a time. At most PENDING_MAX sessions wait: beyond
// that a keep-alive is dropped, counted and logged, as a failed write always was; the session's next
// keep-alive, a touch interval later, writes it (its idle deadline is ten touch intervals away).
import type { Logger } from 'pino';
import { batchFlusher } from '../timers.ts';

const FLUSH_MS = 200;
/** Sessions per statement. */
const BATCH = 5000;
export const PENDING_MAX = 50_000;

export interface ActivityWriterDeps {
  /** Writes last_activity (seconds since the epoch) for these session hashes; never moves it back. */
  write(hashes: string[], seconds: number[]): Promise<void>;
  log: Logger;
  flushMs?: number;
  pendingMax?: number;
}

export function activityWriter(deps: ActivityWriterDeps) {
  const { write, log } = deps;
  const flushMs = deps.flushMs ?? FLUSH_MS;
  const pendingMax = deps.pendingMax ?? PENDING_MAX;
  let pending = new Map<string, number>();
  const counters = { written: 0, dropped: 0, failed: 0 };

  async function flushNow(): Promise<void> {
    while (pending.size) {
      const batch = pending;
      pending = new Map();
      // One order for every batch (and every instance): two batches never wait on each other's rows.
      const hashes = [...batch.keys()].sort();
      for (let i = 0; i < hashes.length; i += BATCH) {
        const slice = hashes.slice(i, i + BATCH);
        try {
          await write(slice, slice.map((h) => batch.get(h)!));
          counters.written += slice.length;
        } catch (err) {
          counters.failed += slice.length;
          log.warn({ err: (err as Error).message, sessions: slice.length }, 'last_activity update failed');
        }
      }
    }
  }

  const flusher = batchFlusher(flushNow, () => pending.size > 0, () => flushMs);

  return {
    /** Records that the session was active at `seconds`; written within a flush interval or two. */
    touch(hash: string, seconds: number): void {
      const known = pending.get(hash);
      if (known === undefined && pending.size >= pendingMax) {
        if (counters.dropped++ % 1000 === 0) log.warn({ dropped: counters.dropped, pending: pending.size }, 'last_activity writes behind: keep-alives dropped (written at the next one)');
        return;
      }
      if (known === undefined || seconds > known) pending.set(hash, seconds);
      flusher.schedule();
    },
    /** Writes what waits (shutdown; tests). */
    async flush(): Promise<void> {
      await flusher.now();
      if (pending.size) await flusher.now();
    },
    pending: () => pending.size,
    counters,
  };
}

export type ActivityWriter = ReturnType<typeof activityWriter>;
