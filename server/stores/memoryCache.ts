// In-process cache for the embedded defaults: one process only, nothing survives a restart.
import type { Cache } from './cache.ts';

interface Entry {
  value: string;
  expiresAt: number;
}

export function memoryCache(now: () => number = Date.now): Cache {
  const entries = new Map<string, Entry>();
  const live = (key: string): Entry | undefined => {
    const entry = entries.get(key);
    if (entry && entry.expiresAt <= now()) {
      entries.delete(key);
      return undefined;
    }
    return entry;
  };
  // Expired entries nobody reads again are dropped in the background, so memory stays flat.
  const sweeper = setInterval(() => {
    const t = now();
    for (const [key, entry] of entries) if (entry.expiresAt <= t) entries.delete(key);
  }, 30_000);
  sweeper.unref();

  return {
    kind: 'memory',
    async get(key) {
      return live(key)?.value ?? null;
    },
    async getAndSlide(key, ttlSeconds) {
      const entry = live(key);
      if (!entry) return null;
      entry.expiresAt = now() + ttlSeconds * 1000;
      return entry.value;
    },
    async set(key, value, ttlSeconds) {
      entries.set(key, { value, expiresAt: now() + ttlSeconds * 1000 });
    },
    async del(...keys) {
      for (const key of keys) entries.delete(key);
    },
    async ttl(key) {
      const entry = live(key);
      return entry ? Math.ceil((entry.expiresAt - now()) / 1000) : -2;
    },
    async hit(key, windowSeconds) {
      const entry = live(key);
      if (!entry) {
        entries.set(key, { value: '1', expiresAt: now() + windowSeconds * 1000 });
        return { count: 1, ttl: windowSeconds };
      }
      entry.value = String(Number(entry.value) + 1);
      return { count: Number(entry.value), ttl: Math.ceil((entry.expiresAt - now()) / 1000) };
    },
    async ping() {},
    async close() {
      clearInterval(sweeper);
      entries.clear();
    },
  };
}
