// The in-process feed of session events: subscribers get the events after a given id from the store,
// then every new one as it commits, in id (commit) order, each once. One reader per instance serves
// every subscriber: it is woken by the triggers' notification on tether_events (whichever instance
// or psql session committed), by this instance's own batches, on a LISTEN reconnect, and by a poll
// that finds what a lost notification did not announce.
import type { Logger } from 'pino';
import type { EventStore } from '../stores/eventStore.ts';
import { eventOf, type SessionEvent } from './sessionEvent.ts';
import { pollEvery } from '../timers.ts';

export const EVENTS_CHANNEL = 'tether_events';
const BATCH = 500;

export type Unsubscribe = () => void;

export interface EventFeed {
  /**
   * Replays the events after `afterId` (undefined: from now on, nothing replayed), then each new one.
   * `onEvent` is called in id order, never twice for an id; it must not throw (a throw unsubscribes).
   */
  subscribe(afterId: string | undefined, onEvent: (e: SessionEvent) => void): Unsubscribe;
  /** Reads the store now (after this instance recorded events, or on a notification). */
  wake(): void;
  /** The highest id read so far. */
  head(): string;
  stop(): void;
}

interface Subscriber {
  /** The last id handed to it; undefined until the feed knows the head (a subscribe before start). */
  cursor: bigint | undefined;
  onEvent: (e: SessionEvent) => void;
}

export function eventFeed(deps: { store: Pick<EventStore, 'after' | 'head'>; log: Logger; pollMs?: number }): EventFeed & {
  /** Learns the head, then follows: notifications and reconnects wake the reader, and the poll. */
  follow(listen: (channel: string, onPayload: () => void, onListen: () => void) => Promise<void>): Promise<void>;
} {
  const { store, log } = deps;
  const pollMs = deps.pollMs ?? 1000;
  const subscribers = new Set<Subscriber>();
  let head: bigint | undefined;
  let stopPolling = () => {};
  let stopped = false;
  let failing = false;

  const deliver = (sub: Subscriber, e: SessionEvent) => {
    try {
      sub.onEvent(e);
    } catch (err) {
      subscribers.delete(sub);
      log.warn({ err: (err as Error).message }, 'an event subscriber failed: unsubscribed');
    }
  };

  /** Reads from the lowest cursor of any subscriber up to the head, handing each subscriber what is past its own. */
  async function read(): Promise<void> {
    if (head === undefined) head = BigInt(await store.head());
    for (const sub of subscribers) sub.cursor ??= head;
    for (;;) {
      let from = head;
      for (const sub of subscribers) if (sub.cursor !== undefined && sub.cursor < from) from = sub.cursor;
      // Only subscribers this read covers from their cursor on: one that joins during the read, further
      // back, would otherwise jump past the events between its cursor and `from` (the next read has it).
      const covered = [...subscribers].filter((sub) => sub.cursor !== undefined && sub.cursor >= from);
      const rows = await store.after(String(from), BATCH);
      for (const row of rows) {
        const id = BigInt(row.id);
        const event = eventOf(row);
        for (const sub of covered) {
          if (subscribers.has(sub) && id > sub.cursor!) {
            sub.cursor = id;
            deliver(sub, event);
          }
        }
        if (id > head) head = id;
      }
      if (rows.length < BATCH) break;
    }
  }

  // Single flight: a wake during a read gets one more read after it.
  let running: Promise<void> | undefined;
  let again = false;
  function wake(): void {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    running = read()
      .then(() => {
        if (failing) log.info('[EVENTS] the event feed reads the store again');
        failing = false;
      })
      .catch((err: Error) => {
        if (!failing) log.warn({ err: err.message }, '[EVENTS] the event feed could not read the store; retrying');
        failing = true;
      })
      .finally(() => {
        running = undefined;
        if (again) {
          again = false;
          wake();
        }
      });
  }

  return {
    subscribe(afterId, onEvent) {
      const sub: Subscriber = { cursor: afterId === undefined ? head : BigInt(afterId), onEvent };
      subscribers.add(sub);
      if (afterId !== undefined || head === undefined) wake();
      return () => void subscribers.delete(sub);
    },
    wake,
    head: () => String(head ?? 0n),
    async follow(listen) {
      head ??= BigInt(await store.head());
      await listen(EVENTS_CHANNEL, wake, wake);
      if (!stopped) stopPolling = pollEvery(pollMs, wake);
    },
    stop() {
      stopped = true;
      stopPolling();
      subscribers.clear();
    },
  };
}
