// In-process cache for the embedded defaults (and DATABASE_URL without REDIS_URL): nothing survives a
// restart. Every method finishes in one synchronous turn, which makes each of them atomic, as the
// Redis scripts are. Other processes' changes reach it through the change log (changeLog.ts).
import { isLive, STALE, uidOf, type Cache } from './cache.ts';

interface Entry {
  value: string;
  expiresAt: number;
}

export function memoryCache(now: () => number = Date.now): Cache {
  const entries = new Map<string, Entry>();
  /** The change-log position applied (the mark lives with the data, as in Redis). */
  let applied = -1;
  const live = (key: string): Entry | undefined => {
    const entry = entries.get(key);
    if (entry && entry.expiresAt <= now()) {
      entries.delete(key);
      return undefined;
    }
    return entry;
  };
  const put = (key: string, value: string, ttlSeconds: number) => void entries.set(key, { value, expiresAt: now() + ttlSeconds * 1000 });
  const slide = (key: string, ttlSeconds: number): string | null => {
    const entry = live(key);
    if (!entry) return null;
    if (isLive(entry.value)) entry.expiresAt = now() + ttlSeconds * 1000;
    return entry.value;
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
      return slide(key, ttlSeconds);
    },
    async set(key, value, ttlSeconds) {
      put(key, value, ttlSeconds);
    },
    async setIfAbsent(key, value, ttlSeconds) {
      if (live(key)) return false;
      put(key, value, ttlSeconds);
      return true;
    },
    async setIfLive(key, value, ttlSeconds) {
      if (!isLive(live(key)?.value ?? null)) return false;
      put(key, value, ttlSeconds);
      return true;
    },
    async expireIfLive(key, ttlSeconds) {
      const entry = live(key);
      if (!entry || !isLive(entry.value)) return false;
      entry.expiresAt = now() + ttlSeconds * 1000;
      return true;
    },
    async lookup(sessionKey, idleSeconds, userKeyPrefix, keys, known) {
      if (applied < known) return { behind: true, position: -1, session: null, user: null, values: keys.map(() => null) };
      const session = sessionKey === undefined ? null : slide(sessionKey, idleSeconds);
      const uid = session !== null && isLive(session) ? uidOf(session) : undefined;
      return { behind: false, position: applied, session, user: uid === undefined ? null : (live(userKeyPrefix + uid)?.value ?? null), values: keys.map((k) => live(k)?.value ?? null) };
    },
    async restore(key, value, ttlSeconds, pos) {
      const now = live(key)?.value;
      if (now !== undefined && !(now.startsWith(STALE) && Number(now.slice(1)) <= pos)) return false;
      put(key, value, ttlSeconds);
      return true;
    },
    async replace(key, expected, value, ttlSeconds) {
      if (live(key)?.value !== expected) return false;
      put(key, value, ttlSeconds);
      return true;
    },
    async position() {
      return applied;
    },
    async applyLog(writes, upTo) {
      const start = applied;
      for (const w of writes) {
        if (w.pos <= start) continue;
        put(w.key, w.value, w.ttl);
        applied = Math.max(applied, w.pos);
      }
      applied = Math.max(applied, upTo);
      return applied;
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
        put(key, '1', windowSeconds);
        return { count: 1, ttl: windowSeconds };
      }
      entry.value = String(Number(entry.value) + 1);
      return { count: Number(entry.value), ttl: Math.ceil((entry.expiresAt - now()) / 1000) };
    },
    async unhit(key, clearAt) {
      const entry = live(key);
      if (!entry) return;
      const count = Number(entry.value);
      if (count === clearAt) entries.delete(key);
      else if (count > 0) entry.value = String(count - 1);
    },
    async ping() {},
    async close() {
      clearInterval(sweeper);
      entries.clear();
      applied = -1;
    },
  };
}
