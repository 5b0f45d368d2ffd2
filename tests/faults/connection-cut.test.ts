// A PostgreSQL connection cut while it starts up must fail a call, never the process.
// postgres.js runs an array-types query on each new connection with a promise nobody awaits
// (porsager/postgres#1192, #1223): a connection reset during that query was an unhandled rejection,
// and the server (here: this test process) died. A TCP proxy in front of a throwaway PostgreSQL lets
// the first connection through, then resets each new connection at its first query, while parallel
// calls make the pool open connections. Afterwards the proxy passes everything again and the server
// must answer as before.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import net from 'node:net';
import { startTestTether, type TestTether } from '../support/tether.ts';
import { startThrowawayPostgres, startThrowawayRedis, type ThrowawayPostgres, type ThrowawayRedis } from '../support/throwaway.ts';
import { loggedIn, newUser } from '../support/fixtures.ts';
import { storesEnv } from './load.ts';

let pg: ThrowawayPostgres | undefined;
// With Redis (real mode), a throwaway one: two databases on one Redis db read each other's user:<id> keys.
let redis: ThrowawayRedis | undefined;
let t: TestTether | undefined;
let proxy: net.Server | undefined;
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);

test.before(() => {
  // Recorded, so the test fails with the reason instead of the runner dying.
  process.on('unhandledRejection', onUnhandled);
});
test.after(async () => {
  process.off('unhandledRejection', onUnhandled);
  await t?.close();
  proxy?.close();
  await Promise.all([pg?.stop(), redis?.stop()]);
});

/** Forwards to `port`; while `cutting()`, every connection after the first is reset when its client sends its first message after the start-up one. */
function cuttingProxy(port: number, cutting: () => boolean) {
  let connections = 0;
  let cuts = 0;
  const server = net.createServer((client) => {
    const n = ++connections;
    const upstream = net.connect(port, '127.0.0.1');
    let messages = 0;
    client.on('data', (chunk) => {
      if (n > 1 && ++messages === 2 && cutting()) {
        cuts++;
        upstream.resetAndDestroy();
        client.resetAndDestroy();
        return;
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk) => client.write(chunk));
    for (const [a, b] of [[client, upstream], [upstream, client]] as const) {
      a.on('error', () => b.destroy());
      a.on('close', () => b.destroy());
    }
  });
  return { server, cuts: () => cuts };
}

test('connections reset during their start-up: calls fail or succeed, the process lives and recovers', async () => {
  pg = await startThrowawayPostgres();
  let cutting = false;
  const cutter = cuttingProxy(pg.port, () => cutting);
  proxy = cutter.server;
  await new Promise<void>((resolve) => proxy!.listen(0, '127.0.0.1', resolve));
  const port = (proxy.address() as net.AddressInfo).port;
  if (process.env.REDIS_URL) redis = await startThrowawayRedis();
  t = await startTestTether(storesEnv(`postgres://postgres@127.0.0.1:${port}/postgres`, redis?.url));
  const session = await loggedIn(t);
  const user = await newUser(t);

  cutting = true;
  for (let round = 0; round < 20 && cutter.cuts() < 5; round++) {
    // Parallel logins hold several pooled connections at once, so the pool opens new ones.
    const answers = await Promise.all(Array.from({ length: 8 }, () => t!.rpc('users.login', { login: user.login, password: user.password }, session.headers)));
    for (const a of answers) assert.ok(a.status === 200 || a.status === 503, `login answered ${a.status}: ${a.text}`);
  }
  cutting = false;
  assert.ok(cutter.cuts() >= 1, 'the proxy cut no connection: the pool never opened one');
  assert.equal(unhandled.map(String), [], 'no unhandled rejection');

  const after = await t.rpc('users.login', { login: user.login, password: user.password }, session.headers);
  assert.is(after.status, 200, after.text);
  assert.ok((await session.call('me')).body.result, 'the earlier session still works');
});

test.run();
