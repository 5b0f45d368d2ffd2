// Timers the server's loops share; none of them keeps the process alive on its own.

/** `work`, or a rejection with `what` (code ETIMEDOUT) after `ms`. */
export const within = <T>(ms: number, work: Promise<T>, what = `no answer within ${ms} ms`): Promise<T> =>
  Promise.race([work, new Promise<T>((_, reject) => setTimeout(() => reject(Object.assign(new Error(what), { code: 'ETIMEDOUT' })), ms).unref())]);

/** Calls `tick` every `ms`, the first time after `ms`, until the returned function is called. */
export function pollEvery(ms: number, tick: () => void): () => void {
  let timer: NodeJS.Timeout;
  let stopped = false;
  const next = () => {
    timer = setTimeout(() => {
      if (stopped) return;
      tick();
      next();
    }, ms);
    timer.unref();
  };
  next();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

/**
 * A batch writer's timing (the event recorder's and the keep-alive writer's): `run` writes what waits,
 * one run at a time (a caller during a run gets that run); `schedule()` asks for a run within `delay()`
 * ms, one timer at most; a run that leaves `more()` work schedules the next. `now()` drops the timer and
 * answers the run in flight, or a new one.
 */
export function batchFlusher(run: () => Promise<void>, more: () => boolean, delay: () => number) {
  let timer: NodeJS.Timeout | undefined;
  let flushing: Promise<void> | undefined;
  const flush = (): Promise<void> =>
    (flushing ??= run().finally(() => {
      flushing = undefined;
      if (more()) schedule();
    }));
  function schedule(): void {
    if (timer) return;
    timer = setTimeout(() => {
      timer = undefined;
      void flush();
    }, delay());
    timer.unref();
  }
  return {
    schedule,
    now(): Promise<void> {
      clearTimeout(timer);
      timer = undefined;
      return flush();
    },
  };
}
