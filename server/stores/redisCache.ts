// node-redis behind the Cache contract. Reconnects back off (50 ms doubling to 2 s), and a command
// issued while Redis is down fails at once instead of queueing, so callers can fall back.
import { createClient } from 'redis';
import type { Logger } from 'pino';
import type { Cache } from './cache.ts';

/**
 * Start-up never hangs on an unreachable Redis (node-redis's connect() waits until it connects): at
 * most a second, then the process starts degraded, every command failing at once (sessions answered
 * from PostgreSQL, /readyz "degraded"), and the client keeps reconnecting in the background.
 */
async function connectOrDegrade(client: ReturnType<typeof createClient>, log: Logger): Promise<void> {
  let failed: (err: Error) => void = () => {};
  const firstError = new Promise<Error>((resolve) => (failed = resolve));
  client.once('error', failed);
  const connecting = client.connect().then(() => undefined);
  connecting.catch(() => {}); // a later failure is the 'error' handler's to report
  const timeout = new Promise<Error>((resolve) => setTimeout(() => resolve(new Error('no answer within 1 s')), 1000).unref());
  const outcome = await Promise.race([connecting, firstError, timeout]);
  client.off('error', failed);
  if (outcome) log.warn({ err: outcome.message }, 'redis unreachable at start: starting degraded (sessions answered from PostgreSQL); reconnecting in the background');
}

export async function redisCache(url: string, log: Logger): Promise<Cache> {
  const client = createClient({
    url,
    disableOfflineQueue: true,
    socket: { connectTimeout: 2000, reconnectStrategy: (retries) => Math.min(50 * 2 ** retries, 2000) },
  });
  let down = false;
  client.on('error', (err: Error) => {
    if (!down) log.warn({ err: err.message }, 'redis unavailable; reconnecting with backoff');
    down = true;
  });
  client.on('ready', () => {
    if (down) log.info('redis reconnected');
    down = false;
  });
  await connectOrDegrade(client, log);

  return {
    kind: 'redis',
    get: (key) => client.get(key),
    getAndSlide: (key, ttlSeconds) => client.getEx(key, { type: 'EX', value: ttlSeconds }),
    async set(key, value, ttlSeconds) {
      await client.set(key, value, { expiration: { type: 'EX', value: ttlSeconds } });
    },
    async del(...keys) {
      if (keys.length) await client.del(keys);
    },
    ttl: (key) => client.ttl(key),
    async hit(key, windowSeconds) {
      const [count, , ttl] = (await client.multi().incr(key).expire(key, windowSeconds, "NX").ttl(key).exec()) as unknown as [number, number, number];
      return { count: Number(count), ttl: Number(ttl) };
    },
    async ping() {
      await client.ping();
    },
    async close() {
      if (client.isOpen) await client.close();
    },
  };
}
