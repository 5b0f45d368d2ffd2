// One Cache contract, run against the in-process cache and against Redis (REDIS_URL when set, else a
// throwaway redis-server, so the Redis half always runs). Then, on a throwaway Redis only: the server
// is killed (commands fail at once, ping fails) and restarted (the client reconnects by itself).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import type { Cache } from '../../server/cache/cache.ts';
import { memoryCache } from '../../server/cache/memoryCache.ts';
import { redisCache } from '../../server/cache/redisCache.ts';
import { createLogger } from '../../server/log.ts';
import { startThrowawayRedis, type ThrowawayRedis } from '../support/throwaway.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The promise's outcome, or a rejection naming `what` if it takes longer than `ms` (a hang). */
function within<T>(ms: number, what: string, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    work.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms))),
  ]);
}

/** Polls `check` until it answers true, at most `ms`; answers whether it did. */
async function poll(ms: number, check: () => Promise<boolean>): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return true;
    await sleep(100);
  }
  return false;
}

type Logs = Array<{ msg?: string; level?: number }>;
function capturingLogger() {
  const logs: Logs = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) logs.push(JSON.parse(line));
      done();
    },
  });
  return { log: createLogger('info', sink), logs };
}

let throwaway: ThrowawayRedis | undefined;
async function sharedThrowaway(): Promise<ThrowawayRedis> {
  return (throwaway ??= await startThrowawayRedis());
}

// ---- the contract ----

function cacheContract(name: string, open: () => Promise<Cache>, kind: Cache['kind']) {
  const s = suite(`cache contract: ${name}`);
  // Unique per run: the shared Redis is used by other test runs at the same time.
  const prefix = `tether-test:cache-contract:${process.pid}:${randomUUID()}:`;
  const used = new Set<string>();
  const key = (k: string) => {
    used.add(prefix + k);
    return prefix + k;
  };
  let cache: Cache;

  s.before(async () => {
    cache = await open();
  });
  s.after(async () => {
    if (!cache) return;
    await cache.del(...used);
    await cache.close();
  });

  s('answers its kind', () => {
    assert.is(cache.kind, kind);
  });

  s('ping answers', async () => {
    await within(2000, 'ping', cache.ping());
  });

  s('get of a missing key answers null; ttl answers -2', async () => {
    assert.is(await cache.get(key('missing')), null);
    assert.is(await cache.ttl(key('missing')), -2);
  });

  s('set then get answers the value verbatim, with the TTL set', async () => {
    const value = JSON.stringify({ user: 7, note: "quote ' \" back\\slash \u00e9\u4e2d\u{1F600} \r\n\t", empty: '' });
    await cache.set(key('a'), value, 60);
    assert.is(await cache.get(key('a')), value);
    const ttl = await cache.ttl(key('a'));
    assert.ok(ttl > 0 && ttl <= 60, `ttl ${ttl} not in (0, 60]`);
  });

  s('set overwrites the value and the TTL', async () => {
    await cache.set(key('over'), 'first', 600);
    await cache.set(key('over'), 'second', 30);
    assert.is(await cache.get(key('over')), 'second');
    const ttl = await cache.ttl(key('over'));
    assert.ok(ttl > 0 && ttl <= 30, `ttl ${ttl} not in (0, 30] after the overwrite`);
  });

  s('get does not slide the TTL', async () => {
    await cache.set(key('plain'), 'v', 20);
    await cache.get(key('plain'));
    const ttl = await cache.ttl(key('plain'));
    assert.ok(ttl > 0 && ttl <= 20, `ttl ${ttl} moved on a plain get`);
  });

  s('getAndSlide answers the value and sets the TTL anew (GETEX)', async () => {
    await cache.set(key('slide'), 'session', 10);
    assert.is(await cache.getAndSlide(key('slide'), 500), 'session');
    const ttl = await cache.ttl(key('slide'));
    assert.ok(ttl > 10 && ttl <= 500, `ttl ${ttl} was not slid to 500`);
    // Sliding shortens too: it sets, it does not only extend.
    assert.is(await cache.getAndSlide(key('slide'), 5), 'session');
    const shorter = await cache.ttl(key('slide'));
    assert.ok(shorter > 0 && shorter <= 5, `ttl ${shorter} was not set to 5`);
  });

  s('getAndSlide of a missing key answers null and creates nothing', async () => {
    assert.is(await cache.getAndSlide(key('slide-missing'), 60), null);
    assert.is(await cache.get(key('slide-missing')), null);
    assert.is(await cache.ttl(key('slide-missing')), -2);
  });

  s('a key expires after its TTL; a slid key outlives its first TTL', async () => {
    await cache.set(key('short'), 'gone soon', 1);
    await cache.set(key('kept'), 'kept alive', 1);
    assert.is(await cache.get(key('short')), 'gone soon');
    assert.is(await cache.getAndSlide(key('kept'), 30), 'kept alive');
    const expired = await poll(6000, async () => (await cache.get(key('short'))) === null);
    assert.ok(expired, 'a 1 s key was still there after 6 s');
    assert.is(await cache.ttl(key('short')), -2);
    assert.is(await cache.getAndSlide(key('short'), 30), null, 'an expired key cannot be slid back to life');
    // The slid key was set with the same 1 s TTL at the same moment, and is still there.
    assert.is(await cache.get(key('kept')), 'kept alive');
  });

  s('del removes one or several keys; deleting missing keys or none is fine', async () => {
    await cache.set(key('d1'), '1', 60);
    await cache.set(key('d2'), '2', 60);
    await cache.set(key('d3'), '3', 60);
    await cache.del(key('d1'));
    assert.is(await cache.get(key('d1')), null);
    assert.is(await cache.get(key('d2')), '2');
    await cache.del(key('d2'), key('d3'), key('never-set'));
    assert.is(await cache.get(key('d2')), null);
    assert.is(await cache.get(key('d3')), null);
    assert.is(await cache.ttl(key('d3')), -2);
    await cache.del();
  });

  s('hit counts within a window that the first hit sets', async () => {
    const first = await cache.hit(key('hits'), 60);
    assert.equal(first.count, 1);
    assert.ok(first.ttl > 0 && first.ttl <= 60, `first ttl ${first.ttl}`);
    const second = await cache.hit(key('hits'), 5);
    assert.is(second.count, 2);
    assert.ok(second.ttl > 5 && second.ttl <= 60, `a later hit moved the window: ttl ${second.ttl}`);
    assert.is((await cache.hit(key('hits'), 60)).count, 3);
  });

  s('hit starts again at 1 once the window has passed', async () => {
    assert.is((await cache.hit(key('window'), 1)).count, 1);
    assert.is((await cache.hit(key('window'), 1)).count, 2);
    assert.ok(await poll(6000, async () => (await cache.ttl(key('window'))) === -2), 'a 1 s window was still open after 6 s');
    assert.is((await cache.hit(key('window'), 1)).count, 1);
  });

  s('setIfAbsent writes only where nothing is: not over a live entry, not over a tombstone', async () => {
    assert.is(await cache.setIfAbsent(key('nx'), 'first', 60), true);
    assert.is(await cache.setIfAbsent(key('nx'), 'second', 60), false);
    assert.is(await cache.get(key('nx')), 'first');
    await cache.set(key('nx-dead'), '!logout', 60);
    assert.is(await cache.setIfAbsent(key('nx-dead'), 'revived', 60), false);
    assert.is(await cache.get(key('nx-dead')), '!logout');
  });

  s('setIfLive and expireIfLive touch a live entry only: never a tombstone, never a missing key', async () => {
    await cache.set(key('live'), 'v1', 30);
    assert.is(await cache.setIfLive(key('live'), 'v2', 300), true);
    assert.is(await cache.get(key('live')), 'v2');
    assert.ok((await cache.ttl(key('live'))) > 30);
    assert.is(await cache.expireIfLive(key('live'), 5), true);
    assert.ok((await cache.ttl(key('live'))) <= 5);
    await cache.set(key('dead'), '!revoked', 30);
    assert.is(await cache.setIfLive(key('dead'), 'revived', 300), false);
    assert.is(await cache.expireIfLive(key('dead'), 300), false);
    assert.is(await cache.get(key('dead')), '!revoked');
    assert.ok((await cache.ttl(key('dead'))) <= 30, 'the tombstone keeps its own TTL');
    assert.is(await cache.setIfLive(key('absent'), 'created?', 30), false);
    assert.is(await cache.expireIfLive(key('absent'), 30), false);
    assert.is(await cache.get(key('absent')), null);
  });

  s('getAndSlide answers a tombstone without sliding it', async () => {
    await cache.set(key('dead-slide'), '!logout', 20);
    assert.is(await cache.getAndSlide(key('dead-slide'), 500), '!logout');
    assert.ok((await cache.ttl(key('dead-slide'))) <= 20);
  });

  s('lookup: the session slid, the user it names, the other keys in order; a tombstone is answered, not slid', async () => {
    const user = key('user:');
    await cache.set(key('sess'), JSON.stringify({ id: 1, uid: 42, tok: 'x' }), 10);
    await cache.set(user + '42', '{"a":true}', 60);
    await cache.set(key('k1'), 'one', 60);
    const found = await cache.lookup(key('sess'), 500, user, [key('k1'), key('k-missing')], -1);
    assert.equal(found, { behind: false, position: -1, session: JSON.stringify({ id: 1, uid: 42, tok: 'x' }), user: '{"a":true}', values: ['one', null] });
    assert.ok((await cache.ttl(key('sess'))) > 10, 'slid');
    await cache.set(key('sess-dead'), '!cap', 10);
    const dead = await cache.lookup(key('sess-dead'), 500, user, [key('k1')], -1);
    assert.equal(dead, { behind: false, position: -1, session: '!cap', user: null, values: ['one'] });
    assert.ok((await cache.ttl(key('sess-dead'))) <= 10, 'a tombstone is not slid');
    assert.equal(await cache.lookup(undefined, 500, user, [key('k-missing'), key('k1')], -1), { behind: false, position: -1, session: null, user: null, values: [null, 'one'] });
  });

  s('unhit gives one back, or clears the counter when it still stands where the caller left it', async () => {
    await cache.hit(key('slots'), 60);
    await cache.hit(key('slots'), 60);
    await cache.hit(key('slots'), 60);
    await cache.unhit(key('slots'));
    assert.is(await cache.get(key('slots')), '2');
    await cache.unhit(key('slots'), 5);
    assert.is(await cache.get(key('slots')), '1', 'not at 5: only one taken off');
    await cache.unhit(key('slots'), 1);
    assert.is(await cache.get(key('slots')), null, 'at 1: cleared');
    await cache.unhit(key('slots'));
    assert.is(await cache.get(key('slots')), null, 'never created');
  });

  s('the change log: applyLog writes only what is above the position, in order, and records it atomically', async () => {
    assert.is(await cache.position(), -1, 'a new cache records no position');
    const at = await cache.applyLog([
      { pos: 5, key: key('log-a'), value: 'five', ttl: 60 },
      { pos: 6, key: key('log-a'), value: 'six', ttl: 60 },
      { pos: 7, key: key('log-b'), value: 'seven', ttl: 60 },
    ], 9);
    assert.is(at, 9, 'upTo recorded past the last write');
    assert.is(await cache.position(), 9);
    assert.is(await cache.get(key('log-a')), 'six', 'later positions win');
    // A slower instance applying older changes after a newer one changes nothing.
    assert.is(await cache.applyLog([{ pos: 6, key: key('log-a'), value: 'stale', ttl: 60 }, { pos: 10, key: key('log-c'), value: 'ten', ttl: 60 }], 10), 10);
    assert.is(await cache.get(key('log-a')), 'six', 'a write at or below the position is skipped');
    assert.is(await cache.get(key('log-c')), 'ten');
    assert.is(await cache.applyLog([], 4), 10, 'the position never goes back');
  });

  s('lookup behind the known position: answers nothing and slides nothing', async () => {
    const pos = await cache.position();
    await cache.set(key('behind-sess'), JSON.stringify({ v: 2, uid: 7 }), 10);
    const behind = await cache.lookup(key('behind-sess'), 500, key('user:'), [key('log-c')], pos + 1);
    assert.equal(behind, { behind: true, position: -1, session: null, user: null, values: [null] });
    assert.ok((await cache.ttl(key('behind-sess'))) <= 10, 'not slid');
    const caught = await cache.lookup(key('behind-sess'), 500, key('user:'), [key('log-c')], pos);
    assert.is(caught.behind, false);
    assert.is(caught.position, pos, 'the position applied is answered: what a missing version key is filled with');
    assert.is(caught.values[0], 'ten');
  });

  s('restore fills an empty key or a stale mark no newer than its read, never a tombstone or a live entry', async () => {
    assert.is(await cache.restore(key('r-empty'), 'entry', 60, 3), true);
    await cache.set(key('r-dead'), '!logout', 60);
    assert.is(await cache.restore(key('r-dead'), 'entry', 60, 99), false);
    assert.is(await cache.get(key('r-dead')), '!logout');
    await cache.set(key('r-stale'), '?12', 60);
    assert.is(await cache.restore(key('r-stale'), 'old read', 60, 11), false, 'read before the change the mark stands for');
    assert.is(await cache.restore(key('r-stale'), 'new read', 60, 12), true, 'read at or after it');
    assert.is(await cache.get(key('r-stale')), 'new read');
    assert.is(await cache.restore(key('r-stale'), 'again', 60, 50), false, 'a live entry is not overwritten');
  });

  s('a stale mark is not live: the lookup answers it without sliding, setIfLive and expireIfLive leave it', async () => {
    await cache.set(key('m-stale'), '?4', 10);
    const found = await cache.lookup(key('m-stale'), 500, key('user:'), [], -1);
    assert.is(found.session, '?4');
    assert.ok((await cache.ttl(key('m-stale'))) <= 10);
    assert.is(await cache.setIfLive(key('m-stale'), 'x', 60), false);
    assert.is(await cache.expireIfLive(key('m-stale'), 60), false);
  });

  s('replace is a compare-and-set', async () => {
    await cache.set(key('cas'), 'garbage', 60);
    assert.is(await cache.replace(key('cas'), 'other', 'fixed', 60), false);
    assert.is(await cache.replace(key('cas'), 'garbage', 'fixed', 60), true);
    assert.is(await cache.get(key('cas')), 'fixed');
    assert.is(await cache.replace(key('cas-missing'), 'garbage', 'fixed', 60), false, 'never creates');
  });

  s.run();
}

cacheContract('memory', async () => memoryCache(), 'memory');
cacheContract(
  process.env.REDIS_URL ? 'redis (REDIS_URL)' : 'redis (throwaway redis-server)',
  // A position of its own (a random origin), so the shared Redis's real positions are never touched.
  async () => redisCache(process.env.REDIS_URL ?? (await sharedThrowaway()).url, capturingLogger().log, randomUUID()),
  'redis',
);

// ---- Redis going away and coming back (a throwaway server: never the shared one) ----

const faults = suite('redis cache: server killed and restarted');
let redis: ThrowawayRedis;
let cache: Cache;
let logs: Logs;

faults.before(async () => {
  redis = await sharedThrowaway();
  const logger = capturingLogger();
  logs = logger.logs;
  cache = await redisCache(redis.url, logger.log);
});
faults.after(async () => {
  await cache?.close().catch(() => {});
  await redis?.stop();
});

faults('works before the kill', async () => {
  await cache.set('faults:k', 'before', 60);
  assert.is(await cache.get('faults:k'), 'before');
  await cache.ping();
});

faults('with the server killed, every operation rejects promptly and ping fails', async () => {
  await redis.kill();
  // Whatever was in flight or is issued now must fail, not queue or hang.
  const attempts: Array<[string, () => Promise<unknown>]> = [
    ['ping', () => cache.ping()],
    ['get', () => cache.get('faults:k')],
    ['getAndSlide', () => cache.getAndSlide('faults:k', 60)],
    ['set', () => cache.set('faults:k', 'during', 60)],
    ['del', () => cache.del('faults:k')],
    ['ttl', () => cache.ttl('faults:k')],
    ['hit', () => cache.hit('faults:hits', 60)],
  ];
  for (let round = 0; round < 3; round++) {
    for (const [name, op] of attempts) {
      const outcome = await within(3000, `${name} with Redis down`, op().then(() => 'resolved', (err: Error) => err));
      assert.instance(outcome, Error, `${name} resolved with Redis down (round ${round})`);
    }
    await sleep(300); // across the reconnect backoff too, not only the first instant
  }
  assert.ok(
    logs.some((l) => l.msg?.includes('redis unavailable')),
    'the outage was not logged',
  );
});

faults('after a restart the client reconnects by itself and works again', async () => {
  await redis.restart();
  const back = await poll(10_000, async () => {
    await within(1000, 'ping', cache.ping());
    return true;
  });
  assert.ok(back, 'the cache did not answer within 10 s of Redis coming back');
  // A fresh server: what was stored before the crash is gone, new writes work.
  assert.is(await cache.get('faults:k'), null);
  await cache.set('faults:k', 'after', 60);
  assert.is(await cache.getAndSlide('faults:k', 120), 'after');
  const ttl = await cache.ttl('faults:k');
  assert.ok(ttl > 60 && ttl <= 120, `ttl ${ttl}`);
  assert.ok(
    logs.some((l) => l.msg === 'redis reconnected'),
    'the reconnect was not logged',
  );
});

faults('close() while Redis is down does not hang', async () => {
  await redis.kill();
  await within(3000, 'cache.close() with Redis down', cache.close());
  await redis.restart();
});

faults.run();
