// node-redis behind the Cache contract. Reconnects back off (50 ms doubling to 2 s), and a command
// issued while Redis is down fails at once instead of queueing, so callers can fall back.
// The conditional writes and the validated call's lookup are Lua scripts: each one atomic step in
// Redis, sent by SHA (EVALSHA) and loaded again if Redis forgot it (a restart). The lookup reads a
// user key it computes from the session entry, so on Redis Cluster all keys would need one hash tag.
import { createHash } from 'node:crypto';
import { createClient } from 'redis';
import type { Logger } from 'pino';
import { positionKey, STALE, TOMBSTONE, type Cache } from './cache.ts';
import { storeName } from '../stores/storeName.ts';

const LIVE = `local v = redis.call('GET', KEYS[1]) if v and string.find('${TOMBSTONE}${STALE}', string.sub(v, 1, 1), 1, true) == nil then`;
const SCRIPTS = {
  setIfLive: `${LIVE} redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2]) return 1 end return 0`,
  expireIfLive: `${LIVE} redis.call('EXPIRE', KEYS[1], ARGV[1]) return 1 end return 0`,
  getAndSlide: `${LIVE} redis.call('EXPIRE', KEYS[1], ARGV[1]) end return v`,
  unhit: `local n = tonumber(redis.call('GET', KEYS[1]) or '0')
    if n and n == tonumber(ARGV[1]) then redis.call('DEL', KEYS[1]) elseif n and n > 0 then redis.call('DECR', KEYS[1]) end return 0`,
  // Over nothing, or over a stale mark '?N' with N no newer than the position the restore read at.
  restore: `local v = redis.call('GET', KEYS[1])
    if v then
      if string.sub(v, 1, 1) ~= '${STALE}' then return 0 end
      local n = tonumber(string.sub(v, 2))
      if n == nil or n > tonumber(ARGV[3]) then return 0 end
    end
    redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2]) return 1`,
  replace: `if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3]) return 1 end return 0`,
  // KEYS[1] the position key, KEYS[2..] the written keys; ARGV[1] upTo, then pos, value, ttl per write.
  applyLog: `
    local at = tonumber(redis.call('GET', KEYS[1]) or '-1') or -1
    local start = at
    for i = 2, #KEYS do
      local j = (i - 2) * 3 + 2
      local pos = tonumber(ARGV[j])
      if pos > start then
        redis.call('SET', KEYS[i], ARGV[j + 1], 'EX', ARGV[j + 2])
        if pos > at then at = pos end
      end
    end
    local upTo = tonumber(ARGV[1])
    if upTo > at then at = upTo end
    redis.call('SET', KEYS[1], tostring(at))
    return at`,
  // KEYS[1] the position key, KEYS[2] the session key ('' for none), KEYS[3..] state keys; ARGV[1]
  // idle TTL, ARGV[2] user key prefix, ARGV[3] the position the instance knows. The position comes
  // first: a cache behind it answers nothing and slides nothing. A Lua false becomes a nil reply, so
  // the array keeps its positions: {position, session, user, values...}.
  lookup: `
    local at = tonumber(redis.call('GET', KEYS[1]) or '-1') or -1
    if at < tonumber(ARGV[3]) then return {at} end
    local out = {at, false, false}
    if KEYS[2] ~= '' then
      local s = redis.call('GET', KEYS[2])
      out[2] = s
      if s and string.find('${TOMBSTONE}${STALE}', string.sub(s, 1, 1), 1, true) == nil then
        redis.call('EXPIRE', KEYS[2], ARGV[1])
        local uid = string.match(s, '"uid":(%d+)')
        if uid then out[3] = redis.call('GET', ARGV[2] .. uid) end
      end
    end
    for i = 3, #KEYS do out[i + 1] = redis.call('GET', KEYS[i]) end
    return out`,
} as const;
type Script = keyof typeof SCRIPTS;
const SHAS = Object.fromEntries(Object.entries(SCRIPTS).map(([name, src]) => [name, createHash('sha1').update(src).digest('hex')])) as Record<Script, string>;

/**
 * Start-up never hangs on an unreachable Redis (node-redis's connect() waits until it connects): at
 * most a second, then the process starts degraded, every command failing at once (sessions answered
 * from PostgreSQL, /readyz "degraded"), and the client keeps reconnecting in the background.
 */
async function connectOrDegrade(client: ReturnType<typeof createClient>, log: Logger, store: string): Promise<void> {
  let failed: (err: Error) => void = () => {};
  const firstError = new Promise<Error>((resolve) => (failed = resolve));
  client.once('error', failed);
  const connecting = client.connect().then(() => undefined);
  connecting.catch(() => {}); // a later failure is the 'error' handler's to report
  const timeout = new Promise<Error>((resolve) => setTimeout(() => resolve(new Error('no answer within 1 s')), 1000).unref());
  const outcome = await Promise.race([connecting, firstError, timeout]);
  client.off('error', failed);
  if (outcome) log.warn({ err: outcome.message, store }, `${store} unreachable at start: starting degraded (sessions answered from PostgreSQL); reconnecting in the background`);
}

/** `origin`: the change log's origin (cache_log_origin), which names the key of the cache's position. */
export async function redisCache(url: string, log: Logger, origin = 'default'): Promise<Cache> {
  const POSITION_KEY = positionKey(origin);
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
  await connectOrDegrade(client, log, storeName('Redis', 'REDIS_URL', url));

  async function run(script: Script, keys: string[], args: string[]): Promise<unknown> {
    try {
      return await client.evalSha(SHAS[script], { keys, arguments: args });
    } catch (err) {
      if (!String((err as Error).message).includes('NOSCRIPT')) throw err;
      return client.eval(SCRIPTS[script], { keys, arguments: args });
    }
  }
  const expiry = (ttlSeconds: number) => ({ type: 'EX', value: Math.max(1, Math.ceil(ttlSeconds)) }) as const;

  return {
    kind: 'redis',
    get: (key) => client.get(key),
    getAndSlide: async (key, ttlSeconds) => (await run('getAndSlide', [key], [String(ttlSeconds)])) as string | null,
    async set(key, value, ttlSeconds) {
      await client.set(key, value, { expiration: expiry(ttlSeconds) });
    },
    async setIfAbsent(key, value, ttlSeconds) {
      return (await client.set(key, value, { condition: 'NX', expiration: expiry(ttlSeconds) })) === 'OK';
    },
    setIfLive: async (key, value, ttlSeconds) => (await run('setIfLive', [key], [value, String(Math.max(1, Math.ceil(ttlSeconds)))])) === 1,
    expireIfLive: async (key, ttlSeconds) => (await run('expireIfLive', [key], [String(Math.max(1, Math.ceil(ttlSeconds)))])) === 1,
    async lookup(sessionKey, idleSeconds, userKeyPrefix, keys, known) {
      const reply = (await run('lookup', [POSITION_KEY, sessionKey ?? '', ...keys], [String(idleSeconds), userKeyPrefix, String(known)])) as (string | number | null)[];
      if (reply.length === 1) return { behind: true, session: null, user: null, values: keys.map(() => null) };
      const text = (i: number) => (reply[i] ?? null) as string | null;
      return { behind: false, session: text(1), user: text(2), values: keys.map((_, i) => text(i + 3)) };
    },
    restore: async (key, value, ttlSeconds, pos) => (await run('restore', [key], [value, String(Math.max(1, Math.ceil(ttlSeconds))), String(pos)])) === 1,
    replace: async (key, expected, value, ttlSeconds) => (await run('replace', [key], [expected, value, String(Math.max(1, Math.ceil(ttlSeconds)))])) === 1,
    async position() {
      const raw = await client.get(POSITION_KEY);
      const at = raw === null ? NaN : Number(raw);
      return Number.isFinite(at) ? at : -1;
    },
    async applyLog(writes, upTo) {
      const args = writes.flatMap((w) => [String(w.pos), w.value, String(Math.max(1, Math.ceil(w.ttl)))]);
      return Number(await run('applyLog', [POSITION_KEY, ...writes.map((w) => w.key)], [String(upTo), ...args]));
    },
    async del(...keys) {
      if (keys.length) await client.del(keys);
    },
    ttl: (key) => client.ttl(key),
    async hit(key, windowSeconds) {
      const [count, , ttl] = (await client.multi().incr(key).expire(key, windowSeconds, 'NX').ttl(key).exec()) as unknown as [number, number, number];
      return { count: Number(count), ttl: Number(ttl) };
    },
    async unhit(key, clearAt) {
      await run('unhit', [key], [String(clearAt ?? -1)]);
    },
    async ping() {
      await client.ping();
    },
    async close() {
      if (!client.isOpen) return;
      // A graceful close waits for every pending reply: a Redis that accepted the connection and never
      // answered (a degraded start) would hold the shutdown forever. A second at most, then the socket goes.
      const closed = client.close().then(() => true, () => false);
      const gone = await Promise.race([closed, new Promise<false>((resolve) => setTimeout(() => resolve(false), 1000).unref())]);
      if (!gone && client.isOpen) client.destroy();
    },
  };
}
