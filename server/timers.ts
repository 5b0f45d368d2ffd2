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
