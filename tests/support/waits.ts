// Waiting for time itself to pass: a TTL, an idle timeout, a token's exp or a duration that a test must
// see run out for real. Every other wait in the suite waits for the event that proves what it waits
// for (a poll with a generous bound); in these, the passing of time is the event, so they are named for
// it and poll the clock (and, where given, the store that shows the expiry) instead of sleeping a
// guessed amount. The server counts in whole epoch seconds (last_activity, exp, the absolute end): a
// deadline D has passed once the second it reads is past D.

/** Epoch seconds, as the server counts them. */
export const nowSeconds = () => Math.floor(Date.now() / 1000);

/** The whole second `ms` (epoch milliseconds) falls in. */
export const secondOf = (ms: number) => Math.floor(ms / 1000);

const tick = () => new Promise((resolve) => setTimeout(resolve, 50));

/**
 * Waits out a real time window: until the clock's whole second is past `deadline` (epoch seconds) and,
 * when `observed` is given, until it holds too (the store saw the expiry: a cache key's TTL ran out).
 * Polls every 50 ms; throws `boundMs` after the deadline, naming `what`.
 */
export async function waitOutTtl(what: string, deadline: number, observed?: () => Promise<boolean> | boolean, boundMs = 30_000): Promise<void> {
  const giveUp = (deadline + 1) * 1000 + boundMs;
  for (;;) {
    if (nowSeconds() > deadline && (!observed || (await observed()))) return;
    if (Date.now() > giveUp) throw new Error(`${what}: not past ${new Date(deadline * 1000).toISOString()} (or not seen by the store) within ${boundMs} ms after it`);
    await tick();
  }
}

/** Waits until the clock reads a later whole second than `second`: what a second-granular timestamp needs to move. */
export const waitForSecondAfter = (what: string, second: number) => waitOutTtl(what, second);

/** Polls `check` until it holds, at most `ms`; answers whether it did. For conditions that time alone makes true. */
export async function untilTrue(ms: number, check: () => Promise<boolean> | boolean): Promise<boolean> {
  for (const until = Date.now() + ms; ; await tick()) {
    if (await check()) return true;
    if (Date.now() > until) return false;
  }
}
