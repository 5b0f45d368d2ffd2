// node-redis behind the Cache contract. Reconnects back off (50 ms doubling to 2 s), and a command
// issued while Redis is down fails at once instead of queueing, so callers can fall back.
import { createClient } from 'redis';
import type { Logger } from 'pino';
import type { Cache } from './cache.ts';

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
  await client.connect();

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
