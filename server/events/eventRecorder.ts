// Refusals and throttles change no row, so nothing writes their events in a transaction: they are
// queued here and inserted in batches off the request path (like the audit), so PostgreSQL is never
// on a refused call's path. Ordering: a batch's ids are taken under the change log's lock, so they
// follow every event committed before the batch and precede every one after; an event's `at` is when
// it was decided, which may be up to a flush interval before its batch, so ids (the feed's order) and
// `at` can disagree by that much across events of different kinds. Events queued by one instance
// keep their order. When PostgreSQL cannot take a batch it stays queued (bounded: the oldest are
// dropped beyond MAX_QUEUED, counted and logged) and is retried.
import type { Logger } from 'pino';
import type { EventStore, NewEvent } from '../stores/eventStore.ts';
import { batchFlusher } from '../timers.ts';

const FLUSH_MS = 200;
const BATCH = 1000;
const MAX_QUEUED = 50_000;

export function eventRecorder(deps: { store: Pick<EventStore, 'insert'>; log: Logger; afterFlush: () => void; flushMs?: number }) {
  const { store, log, afterFlush } = deps;
  const flushMs = deps.flushMs ?? FLUSH_MS;
  let queue: NewEvent[] = [];
  let dropped = 0;
  let failing = false;

  async function flushNow(): Promise<void> {
    while (queue.length) {
      const batch = queue.slice(0, BATCH);
      try {
        await store.insert(batch);
      } catch (err) {
        if (!failing) log.warn({ err: (err as Error).message, queued: queue.length }, '[EVENTS] refusal and throttle events could not be written; kept and retried');
        failing = true;
        return;
      }
      if (failing) log.info({ queued: queue.length }, '[EVENTS] refusal and throttle events written again');
      failing = false;
      queue = queue.slice(batch.length);
      afterFlush();
    }
  }

  const flusher = batchFlusher(flushNow, () => queue.length > 0, () => (failing ? Math.max(flushMs, 1000) : flushMs));

  return {
    record(event: NewEvent): void {
      if (queue.length >= MAX_QUEUED) {
        queue.shift();
        if (dropped++ % 1000 === 0) log.error({ dropped }, '[EVENTS] queue full while PostgreSQL is unavailable: oldest refusal/throttle events dropped');
      }
      queue.push(event);
      flusher.schedule();
    },
    /** Writes what is queued (shutdown; tests). */
    async flush(): Promise<void> {
      await flusher.now();
      if (queue.length && !failing) await flusher.now();
    },
    depth: () => queue.length,
  };
}

export type EventRecorder = ReturnType<typeof eventRecorder>;
