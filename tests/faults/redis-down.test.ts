// Redis killed under load: calls with valid sessions keep succeeding from PostgreSQL (no 5xx, no
// spurious 401), /readyz says degraded meanwhile, reconnects are backed off (attempts counted on the
// dead port), and once Redis is back the cache fills again (the session key reappears).
// Always on throwaway servers (a redis-server and an initdb'd PostgreSQL), whatever the run's mode.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import net from 'node:net';
import { createClient } from 'redis';
import { startTestTether, type TestTether } from '../support/tether.ts';
import { startThrowawayPostgres, startThrowawayRedis, type ThrowawayPostgres, type ThrowawayRedis } from '../support/throwaway.ts';
import { loggedIn } from '../support/fixtures.ts';
import { cacheKeyOf, hashOf } from '../../server/sessions/sessionId.ts';
import { callAt, eventually, fmt, sleep, startLoad, storesEnv, tally } from './load.ts';

let pg: ThrowawayPostgres;
let redis: ThrowawayRedis;
let t: TestTether;

test.before(async () => {
  [pg, redis] = await Promise.all([startThrowawayPostgres(), startThrowawayRedis()]);
  t = await startTestTether(storesEnv(pg.url, redis.url));
});
test.after(async () => {
  await t?.close();
  await Promise.allSettled([redis?.stop(), pg?.stop()]);
});

/** A listener on the dead Redis port that counts the client's connection attempts and drops each at once. */
function countConnections(port: number): Promise<{ count: () => number; close: () => Promise<void> }> {
  let count = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    count++;
    sockets.add(socket);
    socket.on('error', () => {});
    socket.destroy();
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () =>
      resolve({
        count: () => count,
        close: () =>
          new Promise<void>((done) => {
            for (const s of sockets) s.destroy();
            server.close(() => done());
          }),
      }),
    );
  });
}

test('Redis killed under load: no 5xx, no 401, readyz degraded, backoff bounded, cache refills', async () => {
  const users = await Promise.all(Array.from({ length: 5 }, () => loggedIn(t)));
  const call = (i: number) => {
    const u = users[i % users.length];
    return callAt(t.url, 'me', { session_id: u.sessionId }, u.headers, 'redisdown');
  };
  // Warm: every session is in Redis.
  for (const u of users) assert.is((await u.call('me')).status, 200);
  const probe = createClient({ url: redis.url });
  probe.on('error', () => {});
  await probe.connect();
  assert.is(await probe.exists(cacheKeyOf(hashOf(users[0].sessionId))), 1, 'the session is cached before the fault');
  await probe.destroy();

  const load = startLoad({ workers: 20, ms: 9000, call });
  // The load is running (answers coming back) before the kill; polled, not slept.
  const running = await eventually(10_000, async () => load.outcomes.length >= 40, 20);
  assert.ok(running, 'the load never got going');
  const before = load.outcomes.length;
  const killedAt = Date.now();
  await redis.kill();

  // Meanwhile: /readyz is 503 "degraded", naming the cache.
  const ready = await fetch(t.url + '/readyz');
  const readyBody = (await ready.json()) as { status: string; cache: string; postgres: string };
  assert.is(ready.status, 503);
  assert.is(readyBody.status, 'degraded');
  assert.is(readyBody.postgres, 'ok');
  assert.ok(readyBody.cache.startsWith('unavailable: '), readyBody.cache);

  // Count reconnect attempts for 4 s: a listener on the dead port accepts and drops each one.
  const counter = await countConnections(redis.port);
  const window = 4000;
  await sleep(window);
  const attempts = counter.count();
  await counter.close();
  const duringOutage = load.outcomes.filter((o) => o.started >= killedAt).length;

  await redis.restart(); // empty, on the same port
  const restartedAt = Date.now();
  const key = cacheKeyOf(hashOf(users[0].sessionId));
  const check = createClient({ url: redis.url });
  check.on('error', () => {});
  await check.connect();
  // A call on the session refills its key (on a loaded machine the load may be over by now, so the
  // poll makes that call itself); 30 s covers the client's reconnect backoff on a busy machine.
  const refilled = await eventually(
    30_000,
    async () => {
      await users[0].call('me');
      return (await check.exists(key)) === 1;
    },
    200,
  );
  const refillMs = Date.now() - restartedAt;
  const ttl = await check.ttl(key);
  await check.destroy();
  const readyAgain = await eventually(5000, async () => (await fetch(t.url + '/readyz')).status === 200);

  load.stop();
  const outcomes = await load.done;
  const counts = tally(outcomes);
  const lines = t.logs.filter((l) => /redis (unavailable|reconnected)/.test(String(l.msg)));
  console.log(
    `[redis-down] calls: ${outcomes.length} (${before} before the kill, ${duringOutage} during the outage) -> ${fmt(counts)}; ` +
      `reconnect attempts in ${window} ms: ${attempts}; redis log lines: ${lines.length}; cache refilled ${refillMs} ms after restart, ttl ${ttl}s`,
  );

  const bad = outcomes.filter((o) => o.status !== 200);
  assert.is(bad.length, 0, `every call answered 200: ${fmt(tally(bad))}`);
  // A loaded machine makes fewer calls in the 4 s; a handful is enough to show they kept coming.
  assert.ok(duringOutage >= 20, `calls kept coming during the outage (${duringOutage})`);
  // Backed off (50 ms doubling to 2 s gives ~6 attempts in 4 s); a busy loop would make hundreds.
  assert.ok(attempts >= 1, 'the client does try to reconnect');
  assert.ok(attempts <= 15, `reconnects are backed off: ${attempts} attempts in ${window} ms`);
  assert.ok(lines.length <= 4, `a handful of redis log lines, not one per attempt: ${lines.length}`);
  assert.ok(refilled, 'the session key reappears in Redis once it is back');
  assert.ok(ttl > 0 && ttl <= t.config.sessionIdleTimeout, `restored with a TTL (${ttl})`);
  assert.ok(readyAgain, '/readyz is 200 again');
  assert.ok(t.logsMatching('redis reconnected').length >= 1, 'the reconnect is logged');
});

test.run();
