// node-redis behind the Cache contract, on one Redis (REDIS_URL) or a Redis Cluster
// (REDIS_CLUSTER_NODES), by the same code: the same commands and Lua scripts, each on keys of one
// hash slot. Reconnects back off (50 ms doubling to 2 s), and a command issued while Redis is down
// fails at once instead of queueing, so callers can fall back to PostgreSQL.
// The conditional writes and the validated call's lookup are Lua scripts: each one atomic step in
// Redis, sent by SHA (EVALSHA) and loaded again if Redis forgot it (a restart, a promoted replica).
// On a cluster, keys are placed by slot group (slotGroups.ts): a session and everything its lookup
// reads share one hash tag, and each group keeps its own change-log position.
import { createHash } from 'node:crypto';
import { createClient, createCluster } from 'redis';
import type { Logger } from 'pino';
import { positionKey, STALE, TOMBSTONE, type Cache, type LoggedWrite } from './cache.ts';
import { storeName } from '../stores/storeName.ts';
import { CLUSTER_TAGS, groupOfSession } from './slotGroups.ts';
import { CLIENT_PREFIX, TOKEN_PREFIX, USER_PREFIX, VERSION_PREFIX } from './stateCache.ts';
import { SESSION_PREFIX } from '../sessions/sessionId.ts';

const LIVE = `local v = redis.call('GET', KEYS[1]) if v and string.find('${TOMBSTONE}${STALE}', string.sub(v, 1, 1), 1, true) == nil then`;
const SCRIPTS = {
  setIfLive: `${LIVE} redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2]) return 1 end return 0`,
  expireIfLive: `${LIVE} redis.call('EXPIRE', KEYS[1], ARGV[1]) return 1 end return 0`,
  getAndSlide: `${LIVE} redis.call('EXPIRE', KEYS[1], ARGV[1]) end return v`,
  // One key, so a cluster runs it where the key lives (a MULTI would not follow a MOVED).
  hit: `local n = redis.call('INCR', KEYS[1]) redis.call('EXPIRE', KEYS[1], ARGV[1], 'NX') return {n, redis.call('TTL', KEYS[1])}`,
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
  // KEYS[1] the position key, KEYS[2..] the written keys (all of one slot group); ARGV[1] upTo, then
  // pos, value, ttl per write.
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
  // KEYS[1] the position key, then the session key when ARGV[4] is '1', then the state keys; ARGV[1]
  // idle TTL, ARGV[2] user key prefix, ARGV[3] the position the instance knows. The position comes
  // first: a cache behind it answers nothing and slides nothing. A Lua false becomes a nil reply, so
  // the array keeps its positions: {position, session, user, values...}. Every key, the user key it
  // computes included, is of one slot (one hash tag on a cluster).
  lookup: `
    local at = tonumber(redis.call('GET', KEYS[1]) or '-1') or -1
    if at < tonumber(ARGV[3]) then return {at} end
    local out = {at, false, false}
    local first = 2
    if ARGV[4] == '1' then
      first = 3
      local s = redis.call('GET', KEYS[2])
      out[2] = s
      if s and string.find('${TOMBSTONE}${STALE}', string.sub(s, 1, 1), 1, true) == nil then
        redis.call('EXPIRE', KEYS[2], ARGV[1])
        local uid = string.match(s, '"uid":(%d+)')
        if uid then out[3] = redis.call('GET', ARGV[2] .. uid) end
      end
    end
    for i = first, #KEYS do out[i - first + 4] = redis.call('GET', KEYS[i]) end
    return out`,
} as const;
type Script = keyof typeof SCRIPTS;
const SHAS = Object.fromEntries(Object.entries(SCRIPTS).map(([name, src]) => [name, createHash('sha1').update(src).digest('hex')])) as Record<Script, string>;

/** Where the cache is: one Redis by URL, or a cluster by some of its nodes (host:port). */
export type RedisTarget = string | { clusterNodes: string[] };

/** The few commands the cache sends, the same on a client and on a cluster. */
interface Commands {
  get(key: string): Promise<string | null>;
  set(key: string, value: string, options: object): Promise<string | null>;
  ttl(key: string): Promise<number>;
  del(key: string): Promise<number>;
  evalSha(sha: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
  eval(script: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
}

/** A connection: its commands, a readiness check, and its close. */
interface Connection {
  commands: Commands;
  /** Every master answers. */
  ping(): Promise<void>;
  /** A command failed: a cluster looks up its topology again (a failover moved a shard's master). */
  failed(err: unknown): void;
  close(): Promise<void>;
}

const SOCKET = { connectTimeout: 2000, reconnectStrategy: (retries: number) => Math.min(50 * 2 ** retries, 2000) };

/** Resolves within `ms` or rejects: a graceful close or a first connect never holds anything forever. */
function within<T>(ms: number, work: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms)));
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}

/**
 * Start-up never hangs on an unreachable Redis (node-redis's connect() waits until it connects): at
 * most a second, then the process starts degraded, every command failing at once (sessions answered
 * from PostgreSQL, /readyz "degraded"), and the client keeps reconnecting in the background.
 */
async function connectOrDegrade(connect: () => Promise<unknown>, on: { once(e: 'error', f: (err: Error) => void): void; off(e: 'error', f: (err: Error) => void): void }, log: Logger, store: string): Promise<void> {
  let failed: (err: Error) => void = () => {};
  const firstError = new Promise<Error>((resolve) => (failed = resolve));
  on.once('error', failed);
  const connecting = connect().then(() => undefined);
  connecting.catch(() => {}); // a later failure is the 'error' handler's to report
  const timeout = new Promise<Error>((resolve) => setTimeout(() => resolve(new Error('no answer within 1 s')), 1000).unref());
  const outcome = await Promise.race([connecting, firstError, timeout]);
  on.off('error', failed);
  if (outcome) log.warn({ err: outcome.message, store }, `${store} unreachable at start: starting degraded (sessions answered from PostgreSQL); reconnecting in the background`);
}

function downLog(log: Logger) {
  let down = false;
  return {
    error(err: Error) {
      if (!down) log.warn({ err: err.message }, 'redis unavailable; reconnecting with backoff');
      down = true;
    },
    ready() {
      if (down) log.info('redis reconnected');
      down = false;
    },
  };
}

async function singleRedis(url: string, log: Logger): Promise<Connection> {
  const client = createClient({ url, disableOfflineQueue: true, socket: SOCKET });
  const state = downLog(log);
  client.on('error', (err: Error) => state.error(err));
  client.on('ready', () => state.ready());
  await connectOrDegrade(() => client.connect(), client, log, storeName('Redis', 'REDIS_URL', url));
  return {
    commands: client as unknown as Commands,
    async ping() {
      await client.ping();
    },
    failed() {},
    async close() {
      if (!client.isOpen) return;
      // A graceful close waits for every pending reply: a Redis that accepted the connection and never
      // answered (a degraded start) would hold the shutdown forever. A second at most, then the socket goes.
      const gone = await within(1000, client.close().then(() => true), 'close').catch(() => false);
      if (!gone && client.isOpen) client.destroy();
    },
  };
}

/** host:port → the socket options of a root node. */
export function parseNode(node: string): { host: string; port: number } {
  const at = node.lastIndexOf(':');
  return { host: node.slice(0, at).replace(/^\[|\]$/g, ''), port: Number(node.slice(at + 1)) };
}

async function redisCluster(nodes: string[], log: Logger): Promise<Connection> {
  const rootNodes = nodes.map((n) => ({ socket: parseNode(n) }));
  const cluster = createCluster({ rootNodes, defaults: { disableOfflineQueue: true, socket: SOCKET }, maxCommandRedirections: 16 });
  const state = downLog(log);
  cluster.on('error', (err: Error) => state.error(err));
  cluster.on('node-error', (err: Error) => state.error(err));
  cluster.on('node-ready', () => state.ready());
  let closed = false;
  let connected = false;
  // A first connect that fails (no root node answers) is tried again every second, in the background.
  const connect = async (): Promise<void> => {
    try {
      await cluster.connect();
      connected = true;
      state.ready();
    } catch (err) {
      state.error(err as Error);
      if (!closed) setTimeout(() => void connect(), 1000).unref();
    }
  };
  const where = `${parseNode(nodes[0]).host}:${parseNode(nodes[0]).port}${nodes.length > 1 ? ` +${nodes.length - 1}` : ''}`;
  await connectOrDegrade(connect, cluster, log, `Redis Cluster at REDIS_CLUSTER_NODES (${where})`);

  // node-redis follows MOVED and ASK, but not a master that stopped answering: after a failover the
  // slots stay routed to the dead node until something asks the cluster again. A failed command does
  // (one look-up at a time, at most every 200 ms), so calls reach the promoted replica once the
  // cluster has promoted it.
  let refreshing = false;
  let lastRefresh = 0;
  const slots = (cluster as unknown as { _slots: { rediscover(startWith: { options: object }): Promise<void> } })._slots;
  const failed = (err: unknown) => {
    const message = String((err as Error)?.message ?? err);
    if (closed || !connected || refreshing || Date.now() - lastRefresh < 200) return;
    if (/^(NOSCRIPT|WRONGTYPE|ERR )/.test(message)) return;
    refreshing = true;
    lastRefresh = Date.now();
    const root = rootNodes[Math.floor(Math.random() * rootNodes.length)];
    void within(3000, slots.rediscover({ options: root }), 'cluster topology')
      .catch(() => {})
      .finally(() => {
        refreshing = false;
        lastRefresh = Date.now();
      });
  };
  const unready = () => new Error('Redis Cluster unreachable (no node has answered yet)');
  // A command never waits on a node whose connection is still being made (node-redis would hold it
  // until that node answers): two seconds at most, then it fails like any unreachable Redis.
  const bounded = <T>(work: () => Promise<T>): Promise<T> => (connected ? within(2000, work(), 'redis cluster') : Promise.reject(unready()));
  const commands: Commands = {
    get: (key) => bounded(() => cluster.get(key)),
    set: (key, value, options) => bounded(() => cluster.set(key, value, options) as Promise<string | null>),
    ttl: (key) => bounded(() => cluster.ttl(key)),
    del: (key) => bounded(() => cluster.del(key)),
    evalSha: (sha, options) => bounded(() => cluster.evalSha(sha, options)),
    eval: (script, options) => bounded(() => cluster.eval(script, options)),
  };
  return {
    commands,
    async ping() {
      if (!connected) throw unready();
      await Promise.all(cluster.masters.map(async (master) => (await cluster.nodeClient(master)).ping()));
    },
    failed,
    async close() {
      closed = true;
      if (!cluster.isOpen) return;
      const gone = await within(1000, cluster.close().then(() => true), 'close').catch(() => false);
      if (!gone && cluster.isOpen) cluster.destroy();
    },
  };
}

/** Keys that every slot group keeps a copy of: the state (and the versions) a lookup reads beside any session. */
const isReplicated = (key: string) => key.startsWith(USER_PREFIX) || key.startsWith(CLIENT_PREFIX) || key.startsWith(TOKEN_PREFIX) || key.startsWith(VERSION_PREFIX);

/**
 * `origin`: the change log's origin (cache_log_origin), which names the key of the cache's position.
 * `target`: REDIS_URL, or the cluster's nodes (REDIS_CLUSTER_NODES).
 */
export async function redisCache(target: RedisTarget, log: Logger, origin = 'default'): Promise<Cache> {
  const onCluster = typeof target !== 'string';
  const conn = onCluster ? await redisCluster(target.clusterNodes, log) : await singleRedis(target, log);
  const client = conn.commands;
  // One untagged group on a single Redis (the keys Tether always used); GROUPS tagged ones on a cluster.
  const tags: readonly string[] = onCluster ? CLUSTER_TAGS : [''];
  const positionKeys = tags.map((tag) => tag + positionKey(origin));
  const sessionGroup = (key: string) => groupOfSession(key, tags.length);
  /** The groups a key is written to: a session's one, every group for state, none (untagged) for the rest. */
  const homes = (key: string): string[] => (key.startsWith(SESSION_PREFIX) ? [tags[sessionGroup(key)] + key] : isReplicated(key) ? tags.map((tag) => tag + key) : [key]);
  /** Where a key is read: its one home (a state key's copy in the first group). */
  const home = (key: string) => homes(key)[0];
  const each = async (key: string, write: (k: string) => Promise<boolean>) => (await Promise.all(homes(key).map(write))).some(Boolean);
  /** A state key's copy in `near`'s group (the group whose lookup missed it), or every copy. */
  const nearTo = (key: string, near: string | undefined) => (near && isReplicated(key) && near.startsWith(SESSION_PREFIX) ? [tags[sessionGroup(near)] + key] : homes(key));
  const any = async (keys: string[], write: (k: string) => Promise<boolean>) => (await Promise.all(keys.map(write))).some(Boolean);

  // A failed command tells the connection (a cluster looks for a new master), and is retried once
  // when the cluster said the slot is moving or the cluster is changing: TRYAGAIN, CLUSTERDOWN, or a
  // lookup whose user key was not yet on the node importing the slot (a script may read a key it
  // did not declare only where the slot is whole).
  async function send<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (err) {
      conn.failed(err);
      if (!onCluster || !/^(TRYAGAIN|CLUSTERDOWN)|non local key/.test(String((err as Error).message))) throw err;
      await new Promise((resolve) => setTimeout(resolve, 100));
      return work();
    }
  }
  async function run(script: Script, keys: string[], args: string[]): Promise<unknown> {
    return send(async () => {
      try {
        return await client.evalSha(SHAS[script], { keys, arguments: args });
      } catch (err) {
        if (!String((err as Error).message).includes('NOSCRIPT')) throw err;
        return client.eval(SCRIPTS[script], { keys, arguments: args });
      }
    });
  }
  const seconds = (ttl: number) => String(Math.max(1, Math.ceil(ttl)));
  const expiry = (ttlSeconds: number) => ({ type: 'EX', value: Math.max(1, Math.ceil(ttlSeconds)) }) as const;
  const positionOf = async (key: string) => {
    const raw = await send(() => client.get(key));
    const at = raw === null ? NaN : Number(raw);
    return Number.isFinite(at) ? at : -1;
  };

  /** One group's share of a batch: the writes homed in it, applied with its own position. */
  const applyTo = (group: number, writes: LoggedWrite[], upTo: number) => {
    const tag = tags[group];
    const mine = writes.filter((w) => !w.key.startsWith(SESSION_PREFIX) || sessionGroup(w.key) === group);
    const args = mine.flatMap((w) => [String(w.pos), w.value, seconds(w.ttl)]);
    return run('applyLog', [positionKeys[group], ...mine.map((w) => tag + w.key)], [String(upTo), ...args]).then(Number);
  };

  return {
    kind: 'redis',
    get: (key) => send(() => client.get(home(key))),
    getAndSlide: async (key, ttlSeconds) => (await run('getAndSlide', [home(key)], [String(ttlSeconds)])) as string | null,
    async set(key, value, ttlSeconds) {
      await Promise.all(homes(key).map((k) => send(() => client.set(k, value, { expiration: expiry(ttlSeconds) }))));
    },
    setIfAbsent: (key, value, ttlSeconds, near) => any(nearTo(key, near), async (k) => (await send(() => client.set(k, value, { condition: 'NX', expiration: expiry(ttlSeconds) }))) === 'OK'),
    setIfLive: (key, value, ttlSeconds) => each(key, async (k) => (await run('setIfLive', [k], [value, seconds(ttlSeconds)])) === 1),
    expireIfLive: (key, ttlSeconds) => each(key, async (k) => (await run('expireIfLive', [k], [seconds(ttlSeconds)])) === 1),
    async lookup(sessionKey, idleSeconds, userKeyPrefix, keys, known) {
      // The session's group; a call without a session reads any group's copies (its first key's).
      const group = sessionKey ? sessionGroup(sessionKey) : keys.length ? sessionGroup(SESSION_PREFIX + createHash('sha1').update(keys[0]).digest('hex')) : 0;
      const tag = tags[group];
      const scriptKeys = [positionKeys[group], ...(sessionKey ? [tag + sessionKey] : []), ...keys.map((k) => tag + k)];
      const reply = (await run('lookup', scriptKeys, [String(idleSeconds), tag + userKeyPrefix, String(known), sessionKey ? '1' : '0'])) as (string | number | null)[];
      if (reply.length === 1) return { behind: true, position: -1, session: null, user: null, values: keys.map(() => null) };
      const text = (i: number) => (reply[i] ?? null) as string | null;
      return { behind: false, position: Number(reply[0]), session: text(1), user: text(2), values: keys.map((_, i) => text(i + 3)) };
    },
    restore: (key, value, ttlSeconds, pos) => each(key, async (k) => (await run('restore', [k], [value, seconds(ttlSeconds), String(pos)])) === 1),
    replace: (key, expected, value, ttlSeconds, near) => any(nearTo(key, near), async (k) => (await run('replace', [k], [expected, value, seconds(ttlSeconds)])) === 1),
    /** The lowest position of any group: what the follower must apply from so every group has it all. */
    async position() {
      return Math.min(...(await Promise.all(positionKeys.map(positionOf))));
    },
    /** Every group applies the batch (its share of it) and records its position, each in one script. */
    async applyLog(writes, upTo) {
      return Math.min(...(await Promise.all(tags.map((_, group) => applyTo(group, writes, upTo)))));
    },
    async del(...keys) {
      // One key per command: keys of different slots never share a command on a cluster.
      await Promise.all(keys.flatMap(homes).map((k) => send(() => client.del(k))));
    },
    ttl: (key) => send(() => client.ttl(home(key))),
    async hit(key, windowSeconds) {
      const [count, ttl] = (await run('hit', [home(key)], [String(windowSeconds)])) as [number, number];
      return { count: Number(count), ttl: Number(ttl) };
    },
    async unhit(key, clearAt) {
      await run('unhit', [home(key)], [String(clearAt ?? -1)]);
    },
    async ping() {
      try {
        await conn.ping();
      } catch (err) {
        conn.failed(err);
        throw err;
      }
    },
    close: () => conn.close(),
  };
}
